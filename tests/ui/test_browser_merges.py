"""In a real browser at 375 px: a suggested merge confirmed from the people page, then a tag clicked to its list.

The fixtures (open_page, alice_pw, heartbeats) are in tests/ui/conftest.py, the helpers in tests/ui/browser.py.
"""

from __future__ import annotations

import pytest

from relationships.models import Identity, Person
from relationships.platforms import records as r
from relationships.services import people as people_service
from tests.test_merge_suggestions import VERIFIED, account, seen
from tests.ui.browser import PHONE, axe, no_overflow

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_on_a_phone_a_suggested_merge_is_confirmed_and_a_clicked_tag_filters_the_list(
        open_page, alice_pw, heartbeats, make_source):
    seen(alice_pw, make_source,
         account(r.MASTODON, "hiro@fedi.example", "Hiro", links=[("Website", "https://hiro-ito.example", VERIFIED)]),
         account(r.BLUESKY, "hiro-ito.example", "Hiro I."),
         account(r.MASTODON, "lena@social.example", "Lena Berg"), account(r.BLUESKY, "lenab.bsky.social", "Lena Berg"),
         account(r.MASTODON, "ana@fedi.example", "Ana Castro"))
    hiro = Identity.objects.get(user=alice_pw, handle="hiro@fedi.example").person
    people_service.save_notes(hiro, "", ["podcast"])
    people_service.save_notes(Person.objects.get(user=alice_pw, name="Ana Castro"), "", ["podcast", "Lisbon"])

    page = open_page(alice_pw, "/people/", viewport=PHONE)
    section = page.get_by_role("region", name="Suggested merges")
    assert section.get_by_text("Mastodon verified the link").is_visible()
    no_overflow(page)
    axe(page, "people with suggested merges (375 px)")

    # Merge the strongest suggestion (Hiro's verified link); window.confirm is accepted.
    page.once("dialog", lambda dialog: dialog.accept())
    section.locator(".merge-suggestion").first.get_by_role("button", name="Merge").click()
    page.get_by_text("Merged ").first.wait_for()
    assert "/people/merges/" in page.url
    assert Identity.objects.filter(user=alice_pw, handle__in=["hiro@fedi.example", "hiro-ito.example"]) \
        .values("person").distinct().count() == 1
    assert page.locator(".merge-suggestion").count() == 1  # Lena's is left
    no_overflow(page)
    axe(page, "suggested merges after a merge (375 px)")

    # Back on the people list, a row's tag leads to everyone with that tag.
    page.goto(page.url.split("/people/")[0] + "/people/")
    page.locator(".person-row", has_text="Ana Castro").get_by_role("link", name="Lisbon").click()
    page.wait_for_url("**tag=Lisbon**")
    names = page.locator(".pr-name").all_inner_texts()
    assert names == ["Ana Castro"]
    page.locator(".person-row", has_text="Ana Castro").get_by_role("link", name="podcast").click()
    page.wait_for_url("**tag=podcast**")
    kept = Identity.objects.get(user=alice_pw, handle="hiro@fedi.example").person  # tags united by the merge
    assert "podcast" in kept.tags
    assert sorted(page.locator(".pr-name").all_inner_texts()) == sorted(["Ana Castro", kept.display_name])
    no_overflow(page)
    axe(page, "people filtered by a tag (375 px)")
    assert not page.errors
