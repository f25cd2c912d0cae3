"""In a real browser: a nudge acted on with "Add to a list" at 375 px, a new list named, with axe on the page;
and the same card at desktop width, its form open, for the README's screenshot.
Fixtures: tests/ui/conftest.py (browser, live, open_page, alice_pw, heartbeats) and test_browser_flows.py's
ana_on_mastodon (alice's Mastodon account connected and synced, a follow nudge for Ana open)."""

from __future__ import annotations

import pytest

from relationships.models import FollowAttempt, Nudge
from tests.fakes.fixtures import clock, fake_mastodon  # noqa: F401
from tests.ui.browser import DESKTOP, PHONE, SHOTS, axe, no_overflow, screenshot
from tests.ui.test_browser_flows import ana_on_mastodon, errors_besides_fake_images  # noqa: F401

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_a_nudge_acted_on_with_add_to_a_list_at_phone_width(open_page, alice_pw, heartbeats, live, fake_mastodon,
                                                               ana_on_mastodon):
    ana, nudge = ana_on_mastodon
    fake_mastodon.add_list("Friends")
    page = open_page(alice_pw, "/", viewport=PHONE)
    page.evaluate("() => { window.stillHere = true; }")
    card = page.locator(f"#nudge-{nudge.pk}")

    card.get_by_role("link", name="Add to a list (Ana)").click()
    card.get_by_role("group", name="Follow Ana into a list").wait_for()
    # Alice's lists, read from her Mastodon server, and a new one to name.
    assert card.get_by_label("One of your lists").locator("option").all_inner_texts() == [
        "A new list (name it below)", "Friends"]
    no_overflow(page)
    axe(page, "dashboard with the Add to a list form open at 375 px")
    card.get_by_label("Or a new list named").fill("Sketching friends")
    card.get_by_label("Keep their posts out of my home feed (an exclusive list; for a new list)").check()
    card.get_by_role("button", name="Follow into the list Ana").click()

    card.get_by_text("Ana is in your list “Sketching friends” now.").wait_for()
    assert card.get_by_role("button", name="Undo for Ana").is_visible()
    assert page.evaluate("() => window.stillHere") is True  # swapped in place, no reload
    no_overflow(page)
    axe(page, "dashboard after Add to a list at 375 px")
    screenshot(page, "flow-nudge-listed-phone", full_page=False)
    made = [item for item in fake_mastodon.lists.values() if item["title"] == "Sketching friends"]
    assert len(made) == 1 and made[0]["exclusive"] is True
    assert fake_mastodon.list_members[made[0]["id"]] == [ana["id"]]
    nudge.refresh_from_db()
    assert (nudge.state, nudge.outcome) == (Nudge.State.ACTED, "listed")
    assert FollowAttempt.objects.get().list_name == "Sketching friends"
    assert not errors_besides_fake_images(page, fake_mastodon)


def test_the_add_to_a_list_form_at_desktop_width_for_the_readme(open_page, alice_pw, heartbeats, live, fake_mastodon,
                                                                 ana_on_mastodon):
    _, nudge = ana_on_mastodon
    fake_mastodon.add_list("Friends")
    fake_mastodon.add_list("Quiet ones", exclusive=True)
    page = open_page(alice_pw, "/", viewport=DESKTOP)
    card = page.locator(f"#nudge-{nudge.pk}")
    card.get_by_role("link", name="Add to a list (Ana)").click()
    card.get_by_label("Or a new list named").wait_for()
    card.get_by_label("Or a new list named").fill("Sketching friends")
    card.scroll_into_view_if_needed()
    axe(page, "dashboard with the Add to a list form open")
    SHOTS.mkdir(exist_ok=True)
    card.screenshot(path=str(SHOTS / "lists-desktop-light.png"))  # the card alone: README, "Lists instead of follows"
    assert not errors_besides_fake_images(page, fake_mastodon)



def test_followed_by_the_people_alice_talks_with_appears_on_the_card_and_the_person_page(
        open_page, alice_pw, heartbeats, live, fake_mastodon, ana_on_mastodon):
    import datetime as dt

    from django.utils import timezone

    from relationships.models import Source
    from tests.sync.helpers import run_sync, talks

    ana, nudge = ana_on_mastodon
    # Cleo talks with Alice both ways, Gus only mentioned her once: both follow Ana, only Cleo is named.
    later = timezone.now() - dt.timedelta(days=2)
    cleo = fake_mastodon.add_account("cleo", "remote.example", display_name="Cleo")
    gus = fake_mastodon.add_account("gus", "remote.example", display_name="Gus")
    talks(fake_mastodon, fake_mastodon.me, cleo, days=3, start=later - dt.timedelta(days=3))
    fake_mastodon.add_status(gus, "hi alice", mentions=[fake_mastodon.me], created_at=later)
    assert run_sync(Source.objects.get(user=alice_pw, kind=Source.Kind.ACCOUNT)).state == "done"
    for follower in (cleo, gus):  # Alice follows both (familiar followers are people she follows)
        fake_mastodon.follows(follower, ana)
        fake_mastodon.relationship(follower)["following"] = True

    page = open_page(alice_pw, "/", viewport=PHONE)
    card = page.locator(f"#nudge-{nudge.pk}")
    card.scroll_into_view_if_needed()  # below the fold at 375 px
    # Fetched when the card comes into view, from Mastodon's familiar followers: names, never a count.
    card.get_by_text("Followed by Cleo, whom you talk with.").wait_for()
    assert "Gus" not in card.inner_text()
    page.goto(f"{live}/people/{nudge.person_id}/")
    page.get_by_text("Followed by Cleo, whom you talk with.").wait_for()
    assert "Gus" not in page.locator("main").inner_text()
    no_overflow(page)
    axe(page, "person page with followed by … whom you talk with (375 px)")
    assert not errors_besides_fake_images(page, fake_mastodon)
