"""In a real browser (DEBUG off, as in production): a refused upload shows its message in place; Back and
Forward after filtering the people list bring whole pages back; a Follow without a connected account keeps
the card whole; acting on a card moves focus on, updates the counts together and can be undone; a failure
htmx leaves unswapped is said next to the button.
Fixtures: tests/ui/conftest.py (browser, live, open_page, community, pals); the answers themselves are
checked without a browser in test_htmx_answers.py and test_nudge_cards.py."""

from __future__ import annotations

import pytest

from relationships.models import Nudge, Source
from tests.imports.test_import_service import x_archive
from tests.ui.browser import axe

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _whole_page(page) -> None:
    """The page is still itself: navigation, heading and styles, not a fragment in place of the document."""
    assert page.locator('nav[aria-label="Main"]').is_visible()
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != "rgba(0, 0, 0, 0)"


def _errors(page) -> list[str]:
    """The page's errors, less Ana's avatar: it lives on fedi.example, which does not resolve here."""
    return [e for e in page.errors if "ERR_NAME_NOT_RESOLVED" not in e]


def _focused(page) -> str:
    return page.evaluate("() => document.activeElement.textContent.replace(/\\s+/g, ' ').trim()")


def test_refused_uploads_show_their_message_in_place(open_page, alice, heartbeats, live, settings, tmp_path):
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    whole = x_archive(tmp_path / "x.zip").read_bytes()
    truncated = tmp_path / "twitter-archive.zip"
    truncated.write_bytes(whole[: len(whole) // 2])

    page = open_page(alice, "/sources/")
    # No file chosen: the browser says so and takes the user to the field, as without htmx (not silence).
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'id_archive'")
    assert page.get_by_label("Archive file").evaluate("input => input.validationMessage")
    for path, expected in ((png, "Nothing was stored"), (empty, "empty"), (truncated, "Nothing was stored")):
        page.get_by_label("Archive file").set_input_files(str(path))
        page.get_by_role("button", name="Upload and import").click()
        message = page.locator("#upload .errorlist")
        message.get_by_text(expected).wait_for()
        _whole_page(page)
        assert page.locator("#upload").count() == 1
    axe(page, "sources with a refused upload")
    # Too large (413), refused while it streams in: said in place too.
    settings.RAPPORT_UPLOAD_MAX_BYTES = 1000
    page.get_by_label("Archive file").set_input_files(str(png))
    page.get_by_role("button", name="Upload and import").click()
    page.locator("#upload .errorlist").get_by_text("larger than this server accepts").wait_for()
    _whole_page(page)
    settings.RAPPORT_UPLOAD_MAX_BYTES = 1 << 30

    # With DEBUG on too: django-htmx's helper used to put the bare answer in place of the whole document.
    settings.DEBUG = True
    page.reload()
    page.get_by_label("Archive file").set_input_files(str(png))
    page.get_by_role("button", name="Upload and import").click()
    page.locator("#upload .errorlist").get_by_text("Nothing was stored").wait_for()
    _whole_page(page)
    assert not Source.objects.filter(user=alice).exists()  # nothing of any refused upload was kept
    # The browser logs each 400 and 413 it receives; nothing else may go wrong.
    assert not [e for e in page.errors if "status of 400" not in e and "status of 413" not in e]


def test_back_and_forward_after_filtering_the_people_list_bring_whole_pages(open_page, alice, community, heartbeats, live):
    page = open_page(alice, "/people/")
    everyone = page.locator(".pr-name").count()
    page.get_by_label("Name, handle or tag").fill("ben")
    page.wait_for_function("() => document.querySelectorAll('.pr-name').length === 1")
    filtered = page.url
    assert filtered.startswith(live + "/people/?q=ben")

    page.go_back()
    page.wait_for_url(live + "/people/")
    page.wait_for_function(f"() => document.querySelectorAll('.pr-name').length === {everyone}")
    _whole_page(page)
    assert page.get_by_role("search", name="Filter people").is_visible()

    page.go_forward()
    page.wait_for_url(filtered)
    page.wait_for_function("() => document.querySelectorAll('.pr-name').length === 1")
    _whole_page(page)
    assert page.get_by_role("search", name="Filter people").is_visible()
    assert page.get_by_label("Name, handle or tag").input_value() == "ben"
    axe(page, "people list after Forward")
    assert not _errors(page)


def test_follow_without_a_connected_account_keeps_the_card_and_offers_to_connect(open_page, alice, community, heartbeats):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    page = open_page(alice, "/")
    card = page.locator(f"#nudge-{nudge.pk}")
    card.get_by_role("button", name="Follow Ana").click()

    connect = card.get_by_role("link", name="Connect your Mastodon account to follow in one click")
    connect.wait_for()
    assert connect.get_attribute("href") == "/connect/mastodon/"
    assert card.get_by_role("link", name="Ana", exact=True).is_visible()
    assert card.locator(".recent li").count() == 3
    for name in ("Follow Ana", "Not now for Ana", "Never for Ana", "I followed them"):
        assert card.get_by_role("button", name=name).is_visible(), name
    # Focus lands in the card's notice, on what to do next: open the profile.
    assert _focused(page) == "Open Ana’s profile on Mastodon"
    axe(page, "dashboard after a Follow without an account")
    assert not _errors(page)


def _no_js_page(browser, live, user, path: str = "/"):
    from tests.ui.browser import session_cookie

    context = browser.new_context(java_script_enabled=False)
    context.add_cookies([session_cookie(user, live)])
    page = context.new_page()
    page.goto(live + path)
    return context, page


def test_follow_without_an_account_and_javascript_off_shows_the_whole_card_whose_never_works(
        browser, live, alice, community, heartbeats):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    context, page = _no_js_page(browser, live, alice)
    page.locator(f"#nudge-{nudge.pk}").get_by_role("button", name="Follow Ana").click()
    page.wait_for_url(f"**/nudges/{nudge.pk}/follow/")
    assert page.locator("h1").inner_text() == "Follow Ana"
    card = page.locator(f"#nudge-{nudge.pk}")
    assert card.get_by_role("link", name="Ana", exact=True).is_visible()
    assert card.locator(".recent li").count() == 3  # the evidence
    assert card.get_by_role("link", name="Connect your Mastodon account to follow in one click").is_visible()
    assert card.get_by_role("link", name="Open Ana’s profile on Mastodon").is_visible()
    for name in ("Follow Ana", "Not now for Ana", "Never for Ana", "I followed them"):
        assert card.get_by_role("button", name=name).is_visible(), name
    assert page.get_by_role("link", name="Back").get_attribute("href") == "/"
    _whole_page(page)
    # Never is a real form: it dismisses, and says so on the card with its Undo.
    card.get_by_role("button", name="Never for Ana").click()
    page.get_by_text("Never: you will not see this suggestion again.").wait_for()
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.DISMISSED
    assert page.get_by_role("button", name="Undo for Ana").is_visible()
    context.close()


def test_not_now_then_undo_with_javascript_off_opens_the_nudge_again(browser, live, alice, community, heartbeats):
    nudge = Nudge.objects.get(user=alice, person__name="Ana")
    context, page = _no_js_page(browser, live, alice)
    page.locator(f"#nudge-{nudge.pk}").get_by_role("button", name="Not now for Ana").click()
    # The card says what was done, naming Ana, with the Undo the README promises for a minute.
    assert page.locator("h1").inner_text() == "Not now: Ana"
    assert "Not now: Ana comes back on" in page.locator(f"#nudge-{nudge.pk}").inner_text()
    nudge.refresh_from_db()
    assert nudge.state == Nudge.State.SNOOZED
    page.get_by_role("button", name="Undo for Ana").click()
    page.get_by_text("Undone: Ana is back among your nudges.").wait_for()
    assert page.url == live + "/"
    nudge.refresh_from_db()
    assert (nudge.state, nudge.snoozed_until) == (Nudge.State.OPEN, None)
    assert page.locator(f"#nudge-{nudge.pk}").get_by_role("button", name="Not now for Ana").is_visible()
    context.close()


def test_acting_on_a_card_moves_focus_on_updates_the_counts_together_and_can_be_undone(open_page, alice, pals, heartbeats):
    page = open_page(alice, "/")
    counts, more = page.locator("#nudge-counts"), page.locator("#nudges-more")
    assert "8 open" in counts.inner_text() and more.inner_text() == "Show all 8 open nudges"
    cards = page.locator("[data-nudge-open]")
    first, second = cards.nth(0), cards.nth(1)
    first_name = first.locator(".nudge-name").inner_text()
    second_name = second.locator(".nudge-name").inner_text()

    first.get_by_role("button", name=f"Not now for {first_name}").click()
    done = page.locator(".nudge-done")
    done.get_by_text(f"Not now: {first_name} comes back on").wait_for()
    page.wait_for_function("() => document.querySelector('#nudge-counts').innerText.includes('7 open · 1 snoozed')")
    assert more.inner_text() == "Show all 7 open nudges"
    assert _focused(page) == f"Follow {second_name}"  # the next card's first button, not its name
    axe(page, "dashboard after Not now")

    done.get_by_role("button", name=f"Undo for {first_name}").click()
    page.locator(".nudge-done").wait_for(state="detached")
    page.wait_for_function("() => document.querySelector('#nudge-counts').innerText.trim() === '8 open'")
    assert more.inner_text() == "Show all 8 open nudges"
    assert _focused(page) == f"Follow {first_name}"
    assert not Nudge.objects.filter(user=alice).exclude(state=Nudge.State.OPEN).exists()
    assert not page.errors


def test_a_failure_htmx_does_not_swap_is_said_next_to_the_button(open_page, alice, community, heartbeats):
    nudge = Nudge.objects.get(user=alice, person__name="Ben")
    page = open_page(alice, "/")
    card = page.locator(f"#nudge-{nudge.pk}")
    card.wait_for()
    nudge.delete()  # gone meanwhile (a merge, another tab): the button's answer is a 404

    card.get_by_role("button", name="Never for Ben").click()
    alert = card.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "This is no longer here. Reload the page to see what changed."
    _whole_page(page)
