"""Review your follows in a real browser: walked with the keyboard at 375 px and on a desktop, axe on each
state, and the page without JavaScript. alice's follows are tests/ui/conftest.py's ``follows``."""

from __future__ import annotations

import pytest

from relationships.models import FollowReview
from tests.ui.browser import DESKTOP, PHONE, axe, no_overflow, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_review_is_walked_with_the_keyboard(open_page, alice, follows, heartbeats, viewport):
    page = open_page(alice, "/review/", viewport=viewport)
    card = page.locator("#review-card")
    assert card.locator("#review-name").inner_text() == "Dan"
    assert page.locator("#review-progress").inner_text() == "0 of 5 reviewed"
    assert "K keep · Q quieter · U unfollow · J or → next" in card.inner_text()
    axe(page, "review, first card")
    no_overflow(page)

    page.keyboard.press("k")  # Keep Dan
    page.locator("#review-name", has_text="Ben").wait_for()
    assert "Kept Dan: not shown again before" in page.locator("[data-review-notice]").inner_text()
    assert page.locator("#review-progress").inner_text() == "1 of 5 reviewed"
    # The stories are told on a fixed day; the live page counts from today.
    assert "No conversation in " in card.inner_text() and "months; you liked 3 of Ben's posts." in card.inner_text()
    if viewport == DESKTOP:
        screenshot(page, "review-desktop-light")
    axe(page, "review after Keep")

    page.keyboard.press("ArrowRight")  # Next: Ben to the end
    page.locator("#review-name", has_text="Cleo").wait_for()
    page.keyboard.press("u")  # Unfollow asks first
    page.get_by_text("Unfollow Cleo on Mastodon? You can undo it for a few seconds.").wait_for()
    assert page.url.endswith("/review/")  # swapped in place, not a full page
    axe(page, "review asking to unfollow")
    no_overflow(page)
    page.keyboard.press("Escape")  # Cancel: the same card, nothing done
    page.locator("[data-key=k]").wait_for()
    assert card.locator("#review-name").inner_text() == "Cleo"
    page.keyboard.press("q")  # Quieter needs a connected account: said on the card
    page.get_by_text("Quieter needs a connected Mastodon or Bluesky account that follows Cleo.").wait_for()
    page.keyboard.press("j")
    page.locator("#review-name", has_text="Eve").wait_for()

    decisions = dict(FollowReview.objects.values_list("person__name", "decision"))
    assert decisions == {"Dan": "kept", "Ben": "skipped", "Cleo": "skipped"}
    assert page.errors == []

    # Stop and resume later: a new visit starts where the review stopped.
    again = open_page(alice, "/review/", viewport=viewport)
    assert again.locator("#review-name").inner_text() == "Eve"
    assert again.locator("#review-progress").inner_text() == "1 of 5 reviewed"


def test_without_javascript_keep_and_next_work_as_forms(browser, live, alice, follows, heartbeats):
    from tests.ui.browser import session_cookie

    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    context.add_cookies([session_cookie(alice, live)])
    page = context.new_page()
    page.goto(f"{live}/review/")
    page.get_by_role("button", name="Keep").click()
    assert page.locator("#review-name").inner_text() == "Ben"
    assert "Kept Dan" in page.locator(".messages").inner_text()
    page.get_by_role("button", name="Unfollow").click()
    assert "Unfollow Ben on Mastodon?" in page.locator("#review-card").inner_text()
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("button", name="Next").click()
    assert page.locator("#review-name").inner_text() == "Cleo"
    context.close()
