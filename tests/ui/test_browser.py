"""The pages in a real browser: Playwright driving Debian's chromium against pytest-django's live server.

The fixtures (browser, live, open_page, alice_pw, heartbeats) are in tests/ui/conftest.py and the helpers in
tests/ui/browser.py; the end-to-end flows (sign up, connect and sync, follow, upload) are in test_browser_flows.py.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from relationships.models import Nudge, Person
from relationships.platforms import records as r
from relationships.services import demo
from relationships.services.scoring import community as dashboard
from relationships.services.scoring import nudges, rapport
from tests.rapport.stories import Story, issue_community
from tests.ui.browser import DESKTOP, PASSWORD, PHONE, SHOTS, axe, no_overflow, session_cookie

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _community(user, make_source):
    """Ana and Ben talk with the user (follow nudges); Ana is also on Bluesky, as another person, and her
    Mastodon profile links there (verified), so Rapport suggests merging the two."""
    story = Story(user, make_source(user, platform=r.MASTODON))
    bluesky_profile = (r.ProfileLink(name="Bluesky", url="https://bsky.app/profile/ana", verified_at="2026-01-05T10:00:00+00:00"),)
    for name, days in (("Ana", range(1, 7)), ("Ben", range(2, 9)), ("Cleo", range(1, 3)), ("Dan", range(5, 6))):
        story.someone(name, **({"profile_links": bluesky_profile} if name == "Ana" else {}))
        for day in days:
            story.said(name, r.REPLY, day, when=timezone.now() - timezone.timedelta(days=day))
            story.answered(name, r.REPLY, day, when=timezone.now() - timezone.timedelta(days=day))
    story.save()
    bluesky = Story(user, make_source(user, platform=r.BLUESKY), platform=r.BLUESKY)
    bluesky.someone("ana").said("ana", r.REPLY, when=timezone.now() - timezone.timedelta(days=3))
    bluesky.save()
    rapport.recompute(user)
    nudges.generate(user)
    dashboard.store_community(user)


def _wait_for_names(page, expected: list[str], ordered: bool = True) -> None:
    """Wait until the people list shows exactly ``expected`` (htmx swaps it in a moment later)."""
    page.wait_for_function(
        """([expected, ordered]) => {
            const seen = [...document.querySelectorAll('.pr-name')].map(a => a.innerText.trim());
            const a = ordered ? seen : [...seen].sort(), b = ordered ? expected : [...expected].sort();
            return a.length === b.length && a.every((x, i) => x === b[i]);
        }""",
        arg=[expected, ordered],
    )


# -- Stories --------------------------------------------------------------------------------------------

def test_logging_in_with_the_form_lands_on_the_dashboard(open_page, alice_pw, heartbeats, live):
    page = open_page(None, "/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live + "/")
    assert page.get_by_role("heading", name="Your community").is_visible()
    # A new user is shown where to start.
    assert page.get_by_role("link", name="Connect your Mastodon or Bluesky account").is_visible()


def test_filtering_and_searching_the_people_list_updates_it_in_place(open_page, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    page = open_page(alice_pw, "/people/")
    rows = page.locator(".pr-name")
    assert rows.count() == 5
    page.evaluate("() => { window.stillHere = true; }")
    page.get_by_label("Name, handle or tag").fill("ben")
    _wait_for_names(page, ["Ben"])
    assert "q=ben" in page.url  # pushed, so the filtered list has a real address
    page.get_by_label("Name, handle or tag").fill("")
    page.get_by_label("Platform").select_option(r.BLUESKY)
    _wait_for_names(page, ["ana"])
    page.get_by_label("Platform").select_option("")
    page.get_by_label("Tier").select_option("regular")
    _wait_for_names(page, ["Ana", "Ben"], ordered=False)
    assert page.evaluate("() => window.stillHere") is True  # no page reload
    assert not page.errors


def test_a_search_then_a_click_elsewhere_leaves_one_history_entry(open_page, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    page = open_page(alice_pw, "/people/", viewport=PHONE)
    entries = page.evaluate("() => history.length")
    page.get_by_label("Name, handle or tag").fill("ben")
    _wait_for_names(page, ["Ben"])
    # Leaving the field fires its "change" (the same query): on a phone, opening "Filters and sort" does.
    with page.expect_response(lambda answer: "q=ben" in answer.url):
        page.get_by_text("Filters and sort").click()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => history.length") == entries + 1
    page.go_back()
    page.wait_for_url(re.compile(r"/people/$"))
    _wait_for_names(page, ["Ana", "Ben", "Cleo", "Dan", "ana"], ordered=False)
    assert not page.errors


def test_after_back_the_filters_show_what_the_address_says_with_javascript_off(
        browser, live, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    context = browser.new_context(java_script_enabled=False)
    context.add_cookies([session_cookie(alice_pw, live)])
    page = context.new_page()
    page.goto(f"{live}/people/")
    page.get_by_label("Tier").select_option("close")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"tier=close"))
    page.go_back()
    page.wait_for_url(re.compile(r"/people/$"))
    # The browser restored the form as it was left ("close") over an unfiltered list and address.
    assert page.get_by_label("Tier").input_value() == ""
    assert page.locator(".pr-name").count() == 5
    context.close()


def test_editing_a_note_in_place(open_page, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    ana = Person.objects.get(user=alice_pw, name="Ana")
    page = open_page(alice_pw, f"/people/{ana.pk}/")
    page.evaluate("() => { window.stillHere = true; }")
    page.get_by_role("link", name="Edit notes and tags").click()
    page.get_by_role("textbox", name="Private notes").fill("Met at the <b>meetup</b>")
    page.get_by_role("textbox", name="Tags").fill("meetup, design")
    page.get_by_role("button", name="Save").click()
    page.locator("#about .notes").wait_for()
    assert page.locator("#about .notes").inner_text() == "Met at the <b>meetup</b>"  # text, not markup
    assert page.locator("#about .tag").all_inner_texts() == ["meetup", "design"]
    assert page.evaluate("() => window.stillHere") is True
    ana.refresh_from_db()
    assert ana.notes == "Met at the <b>meetup</b>" and ana.tags == ["meetup", "design"]


def test_merging_two_people_from_a_suggestion(open_page, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    ana = Person.objects.get(user=alice_pw, name="Ana")
    bluesky_ana = Person.objects.get(user=alice_pw, name="ana")
    page = open_page(alice_pw, f"/people/{ana.pk}/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Merge ana (ana) into Ana").click()
    page.get_by_text("Merged ana (ana) into Ana (@ana@fedi.example).").wait_for()
    # The question names both people with their accounts: two people of one name are told apart.
    assert asked == ["Merge ana (ana) into Ana (@ana@fedi.example)?"]
    assert page.locator(".accounts > li").count() == 2
    assert Person.objects.filter(user=alice_pw).count() == 4
    # The merged-away person's address, bookmarked before, opens the person kept.
    page.goto(page.url.replace(f"/people/{ana.pk}/", f"/people/{bluesky_ana.pk}/"))
    assert page.url.endswith(f"/people/{ana.pk}/")
    assert page.locator("h1").inner_text() == "Ana"


def test_merging_with_javascript_off_asks_on_a_page_naming_both_before_merging(
        browser, live, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    ana = Person.objects.get(user=alice_pw, name="Ana")
    context = browser.new_context(java_script_enabled=False)
    context.add_cookies([session_cookie(alice_pw, live)])
    page = context.new_page()
    page.goto(f"{live}/people/{ana.pk}/")
    page.get_by_role("button", name="Merge ana (ana) into Ana").click()
    # No window.confirm() without JavaScript: a page asks, naming both with their accounts, and nothing merged yet.
    assert page.locator("h1").inner_text() == "Merge ana (ana) into Ana (@ana@fedi.example)?"
    assert Person.objects.filter(user=alice_pw, name="ana").exists()
    page.get_by_role("button", name="Merge ana into Ana").click()
    page.get_by_text("Merged ana (ana) into Ana (@ana@fedi.example).").wait_for()
    assert not Person.objects.filter(user=alice_pw, name="ana").exists()
    context.close()


def test_merging_from_a_search(open_page, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    ben = Person.objects.get(user=alice_pw, name="Ben")
    page = open_page(alice_pw, f"/people/{ben.pk}/")
    page.get_by_label("Find the other person by name or handle").fill("cleo")
    button = page.get_by_role("button", name="Merge Cleo (@cleo@fedi.example) into Ben")
    button.wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    page.get_by_text("Merged Cleo (@cleo@fedi.example) into Ben (@ben@fedi.example)").wait_for()
    assert not Person.objects.filter(user=alice_pw, name="Cleo").exists()


def test_not_now_and_never_take_the_cards_away_and_update_the_counts(open_page, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    ana = Nudge.objects.get(user=alice_pw, person__name="Ana")
    ben = Nudge.objects.get(user=alice_pw, person__name="Ben")
    page = open_page(alice_pw, "/")
    page.evaluate("() => { window.stillHere = true; }")
    counts = page.locator("#nudge-counts")
    assert "2 open" in counts.inner_text()

    page.locator(f"#nudge-{ana.pk}").get_by_role("button", name="Not now").click()
    page.locator(f"#nudge-{ana.pk}").get_by_role("button", name=re.compile("Not now|Snooze")).wait_for(state="detached")
    page.wait_for_function("() => document.querySelector('#nudge-counts').innerText.includes('1 snoozed')")
    assert "1 open" in counts.inner_text()

    page.locator(f"#nudge-{ben.pk}").get_by_role("button", name="Never").click()
    page.locator(f"#nudge-{ben.pk}").get_by_role("button", name=re.compile("Never|Dismiss")).wait_for(state="detached")
    page.wait_for_function("() => document.querySelector('#nudge-counts').innerText.includes('0 open')")
    assert page.evaluate("() => window.stillHere") is True
    ana.refresh_from_db()
    ben.refresh_from_db()
    assert (ana.state, ben.state) == (Nudge.State.SNOOZED, Nudge.State.DISMISSED)
    assert not page.errors


def test_the_settings_preview_appears_in_place_without_saving(open_page, alice_pw, heartbeats, make_source):
    _community(alice_pw, make_source)
    page = open_page(alice_pw, "/settings/")
    page.evaluate("() => { window.stillHere = true; }")
    page.get_by_label("A like").fill("10")
    page.get_by_role("button", name="Preview changes").click()
    page.locator("#preview .preview-list li").first.wait_for()
    assert "nothing is saved yet" in page.locator("#preview").inner_text()
    assert page.evaluate("() => window.stillHere") is True
    from relationships.models import Preferences

    assert Preferences.for_user(alice_pw).weights.get("like", 0.5) == 0.5


# -- Every main page: phone width, axe-core, screenshots ------------------------------------------------------

def test_main_pages_fit_a_phone_pass_axe_and_are_photographed(open_page, alice_pw, heartbeats):
    demo.seed_records(alice_pw)
    rapport.recompute(alice_pw)
    nudges.generate(alice_pw)
    dashboard.store_community(alice_pw)
    person = Person.objects.filter(user=alice_pw, rapport__tier="close").order_by("-rapport__score").first()
    pages = {
        "dashboard": "/",
        "people": "/people/",
        "person": f"/people/{person.pk}/",
        "sources": "/sources/",
        "settings": "/settings/",
    }
    SHOTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        for name, path in pages.items():
            for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                page = open_page(alice_pw, path, viewport=viewport, scheme=scheme)
                label = f"{name} ({size}, {scheme})"
                if size == "phone":
                    no_overflow(page)
                axe(page, label)
                page.screenshot(path=str(SHOTS / f"{name}-{size}-{scheme}.png"), full_page=True)
                page.screenshot(path=str(SHOTS / f"fold-{name}-{size}-{scheme}.png"))
                assert not [e for e in page.errors if "Content Security Policy" in e], label
                page.context.close()


def test_the_people_list_says_why_each_row_stands_there_with_a_tier_legend_on_a_phone(
    open_page, alice_pw, heartbeats, make_source
):
    issue_community(Story(alice_pw, make_source(alice_pw, platform=r.MASTODON))).save()
    rapport.recompute(alice_pw)
    for viewport in (PHONE, DESKTOP):
        page = open_page(alice_pw, "/people/", viewport=viewport)
        _wait_for_names(page, ["Reggie", "Faye", "Pal"])
        reasons = page.locator(".pr-why").all_inner_texts()
        assert reasons[0].startswith("Two-way: both of you take part") and reasons[1].startswith("One-sided, from them: 60 likes")
        legend = page.locator(".rank-legend")
        legend.locator("summary").click()
        assert legend.get_by_text("Only they reach out").is_visible()
        assert "come first" in legend.inner_text()
        no_overflow(page)
        axe(page, f"people with the legend open ({viewport['width']} px)")


def test_a_missing_page_is_styled_with_the_navigation_and_passes_axe(open_page, alice_pw, heartbeats):
    # The live fixture runs with DEBUG off: Django's own 404 was a bare page with no landmark and no way back.
    page = open_page(alice_pw, "/people/999999/")
    assert page.locator("h1").inner_text() == "This page does not exist"
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="People").is_visible()
    assert page.evaluate("() => getComputedStyle(document.querySelector('.card')).borderStyle") == "solid"
    axe(page, "404")
    page.get_by_role("link", name="Go to your dashboard").click()
    page.wait_for_url("**/")
    # The one console error is the browser logging the 404 answer itself.
    assert [e for e in page.errors if "status of 404" not in e] == []
