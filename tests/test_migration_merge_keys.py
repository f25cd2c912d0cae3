"""Migration 0020: identities stored before it get their name and handle keys, so suggestions work at once."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from relationships.services import merge_suggestions
from tests.migrating import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)


def test_identities_stored_before_get_their_keys_and_are_suggested_without_a_sync():
    old = migrate_to([("relationships", "0019_follow_review")])
    User = old.get_model("auth", "User")
    Person, Identity = old.get_model("relationships", "Person"), old.get_model("relationships", "Identity")
    alice = User.objects.create(username="alice")
    for platform, ext, handle, name in (
        ("mastodon", "https://fedi.example/users/chloe", "chloe@fedi.example", "Chloé Moreau"),
        ("bluesky", "did:plc:chloe", "cmoreau.bsky.social", "chloe moreau ✨"),
        ("x", "42", "Dmitri_K", "DK"),
        ("mastodon", "https://toot.example/users/dmitrik", "dmitrik@toot.example", "Dmitri"),
    ):
        person = Person.objects.create(user=alice, name=name)
        Identity.objects.create(user=alice, person=person, platform=platform, external_id=ext, handle=handle,
                                display_name=name)

    migrate_to_latest()

    from relationships.models import Identity as NewIdentity

    keys = dict(NewIdentity.objects.values_list("handle", "name_key"))
    assert keys["chloe@fedi.example"] == keys["cmoreau.bsky.social"] == "chloe moreau"
    assert NewIdentity.objects.get(handle="Dmitri_K").handle_key == "dmitrik"
    assert NewIdentity.objects.get(handle="chloe@fedi.example").profile_links == []
    found = merge_suggestions.for_user(get_user_model().objects.get(username="alice"))
    # The person known longest is the one kept: Chloé on Mastodon, DK on X.
    assert sorted((s.rule, s.person.name, s.other.name) for s in found) == [
        ("handle", "DK", "Dmitri"), ("name", "Chloé Moreau", "chloe moreau ✨")]
