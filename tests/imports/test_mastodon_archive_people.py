"""People a Mastodon archive knows only by actor URI are shown by handle, never by the raw URI.

alice boosted Cat's post and answered another without naming Cat: her
archive holds Cat's actor URI and nothing else about Cat.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from relationships.models import Identity, Interaction, Person
from tests.builders import mastodon as mb
from tests.imports.test_import_service import run

pytestmark = pytest.mark.django_db

CAT = mb.Account("https://mastodon.social/users/s0mmer", "@s0mmer@mastodon.social")


def shown_text(page: str) -> str:
    """The page as read: tags and their attributes (links, form values) left out."""
    return re.sub(r"<[^>]*>", " ", page)


def test_someone_known_only_by_actor_uri_is_named_and_shown_by_handle(alice, alice_client, tmp_path):
    path = mb.build_mastodon_archive(tmp_path / "archive.zip", posts=[
        mb.boost(1, CAT.status(109440048909776763), author=CAT),
        mb.note(2, "agreed", in_reply_to=CAT.status(109440048909776999)),
    ])
    run(alice, path)
    run(alice, path)  # the same archive again: still one person

    [cat] = Identity.objects.filter(user=alice)
    assert (cat.external_id, cat.handle) == (CAT.uri, "s0mmer@mastodon.social")
    assert Person.objects.get(user=alice).name == "s0mmer@mastodon.social"
    assert sorted(Interaction.objects.filter(user=alice).values_list("kind", flat=True)) == ["reply", "repost"]
    for page in (reverse("people"), reverse("person", args=[cat.person_id])):
        text = shown_text(alice_client.get(page).content.decode())
        assert "s0mmer@mastodon.social" in text
        assert CAT.uri not in text
    # The person page lists the account as Mastodon writes it.
    assert "@s0mmer@mastodon.social" in shown_text(alice_client.get(reverse("person", args=[cat.person_id])).content.decode())
