"""Suggested merges on the person page, the people page and their own page: Merge or Not the same, for the owner only."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from relationships.models import Identity, NotSamePerson, Person
from relationships.platforms import records as r
from tests.test_merge_suggestions import VERIFIED, account, seen

pytestmark = pytest.mark.django_db


def words(html: str) -> str:
    """The page's text as read, without tags."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


@pytest.fixture
def twins(alice, make_source):
    """Lena Berg on Mastodon and Bluesky (one human), Hiro with a verified link to his Bluesky domain, two Anas."""
    seen(alice, make_source,
         account(r.MASTODON, "lena@social.example", "Lena Berg"), account(r.BLUESKY, "lenab.bsky.social", "Lena Berg"),
         account(r.MASTODON, "hiro@fedi.example", "Hiro", links=[("Website", "https://hiro-ito.example", VERIFIED)]),
         account(r.BLUESKY, "hiro-ito.example", "Hiro I."),
         account(r.MASTODON, "ana@fedi.example", "Ana"), account(r.BLUESKY, "ana.bsky.social", "Ana"))

    def of(handle):
        return Identity.objects.get(user=alice, handle=handle).person

    return of


def test_the_person_page_asks_whether_this_is_also_the_other_account(alice_client, twins):
    html = alice_client.get(reverse("person", args=[twins("lena@social.example").pk])).content.decode()
    assert "Is this also lenab.bsky.social on Bluesky?" in words(html)
    assert "The same name, “Lena Berg”, on Mastodon (@lena@social.example) and Bluesky (lenab.bsky.social)." in html
    assert f'action="{reverse("person_not_same", args=[twins("lena@social.example").pk])}"' in html
    ana = alice_client.get(reverse("person", args=[twins("ana@fedi.example").pk])).content.decode()
    assert "Is this also" not in ana


def test_not_the_same_is_remembered_and_the_question_is_gone(alice_client, alice, twins):
    lena, lena_bsky = twins("lena@social.example"), twins("lenab.bsky.social")
    response = alice_client.post(reverse("person_not_same", args=[lena.pk]), {"other": lena_bsky.pk}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("person", args=[lena.pk])
    assert ("Noted: Lena Berg (lenab.bsky.social) is not Lena Berg (@lena@social.example). "
            "Rapport will not suggest them as one again.") in html
    assert "Is this also" not in html
    assert NotSamePerson.objects.filter(user=alice).count() == 1
    people = alice_client.get(reverse("people")).content.decode()
    assert "Suggested merges" in people and "hiro-ito.example" in people and "lenab.bsky.social" not in people.split(
        "Suggested merges")[1].split("</section>")[0]


def test_merging_from_the_list_of_suggestions_comes_back_to_it_without_the_pair(alice_client, alice, twins):
    hiro, hiro_bsky = twins("hiro@fedi.example"), twins("hiro-ito.example")
    listing = alice_client.get(reverse("merge_suggestions")).content.decode()
    assert re.search(r"Are (Hiro and Hiro I\.|Hiro I\. and Hiro) one person\?", words(listing)) and "Mastodon verified the link" in listing
    assert listing.count('class="merge-suggestion"') == 2
    response = alice_client.post(reverse("person_merge", args=[hiro.pk]),
                                 {"other": hiro_bsky.pk, "confirmed": "1", "back": "merges"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("merge_suggestions")
    html = response.content.decode()
    assert "Merged Hiro I. (hiro-ito.example) into Hiro (@hiro@fedi.example)." in html
    assert html.count('class="merge-suggestion"') == 1 and "hiro-ito.example" not in html.split("</h1>")[1]
    assert not Person.objects.filter(pk=hiro_bsky.pk).exists()


def test_without_javascript_a_suggested_merge_asks_first_and_keeps_where_to_come_back(alice_client, twins):
    lena, lena_bsky = twins("lena@social.example"), twins("lenab.bsky.social")
    asked = alice_client.post(reverse("person_merge", args=[lena.pk]),
                              {"other": lena_bsky.pk, "confirmed": "", "back": "merges"}).content.decode()
    assert '<input type="hidden" name="back" value="merges">' in asked
    assert f'<a href="{reverse("merge_suggestions")}">Cancel</a>' in asked
    assert Person.objects.filter(pk=lena_bsky.pk).exists()


def test_bobs_ids_are_404_both_ways_and_change_nothing(client, alice, bob, make_source, twins):
    lena, lena_bsky = twins("lena@social.example"), twins("lenab.bsky.social")
    seen(bob, make_source, account(r.MASTODON, "lena@bob.example", "Lena Berg"))
    bobs_lena = Identity.objects.get(user=bob, handle="lena@bob.example").person
    client.force_login(bob)
    assert client.post(reverse("person_not_same", args=[lena.pk]), {"other": lena_bsky.pk}).status_code == 404
    assert client.post(reverse("person_not_same", args=[bobs_lena.pk]), {"other": lena.pk}).status_code == 404
    assert "lenab.bsky.social" not in client.get(reverse("merge_suggestions")).content.decode()
    client.force_login(alice)
    assert client.post(reverse("person_not_same", args=[lena.pk]), {"other": bobs_lena.pk}).status_code == 404
    assert client.post(reverse("person_not_same", args=[lena.pk]), {"other": lena.pk}).status_code == 404
    assert client.get(reverse("person_not_same", args=[lena.pk])).status_code == 405
    assert not NotSamePerson.objects.exists()


def test_not_the_same_needs_the_csrf_token_and_a_signed_in_user(alice, twins):
    lena, lena_bsky = twins("lena@social.example"), twins("lenab.bsky.social")
    anonymous = Client(enforce_csrf_checks=True)
    response = anonymous.post(reverse("person_not_same", args=[lena.pk]), {"other": lena_bsky.pk})
    assert response.status_code in (302, 403)
    assert Client().get(reverse("merge_suggestions")).status_code == 302
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(alice)
    assert forged.post(reverse("person_not_same", args=[lena.pk]), {"other": lena_bsky.pk}).status_code == 403
    assert not NotSamePerson.objects.exists()
