"""At 375 px, measured in a real browser: chart text legible, month names apart, the people filters folded
behind one control, "Log out" on one line beside the brand; sign-up's password errors beside the password.

The fixtures (open_page, alice_pw, heartbeats) are in tests/ui/conftest.py, the helpers in tests/ui/browser.py.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from relationships.models import Person
from relationships.platforms import records as r
from relationships.services.scoring import community as dashboard
from relationships.services.scoring import rapport
from tests.rapport.stories import Story
from tests.ui.browser import DESKTOP, PHONE, axe, no_overflow

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

#: Phones from the smallest still sold to a large one, and a small tablet: the chart's CSS steps between them.
WIDTHS = (320, 375, 414, 600)
#: The smallest text a chart may draw, in CSS pixels as rendered.
MIN_TEXT_PX = 10
#: The least room between two month names.
MIN_GAP_PX = 4

_CHART_TEXT = """(selector) => {
    const svg = document.querySelector(selector);
    const scale = svg.getScreenCTM().a;  // user units -> CSS px: the chart is drawn 640 units wide
    return [...svg.querySelectorAll('text')].filter(t => getComputedStyle(t).display !== 'none').map(t => {
        const box = t.getBoundingClientRect();
        return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
                month: t.getAttribute('text-anchor') === 'middle', left: box.left, right: box.right};
    });
}"""


def _talked_over_a_year(user, make_source) -> Person:
    """Ana and alice talked every month of the past year: twelve months of bars and a community to chart."""
    story = Story(user, make_source(user, platform=r.MASTODON))
    story.someone("Ana")
    for month in range(12):
        when = timezone.now() - dt.timedelta(days=30 * month + 1)
        story.said("Ana", r.REPLY, when=when).answered("Ana", r.REPLY, when=when)
    story.save()
    rapport.recompute(user)
    dashboard.store_community(user)
    return story.person("Ana")


def _assert_legible(page, selector: str, label: str) -> None:
    texts = page.evaluate(_CHART_TEXT, selector)
    small = [(t["text"], round(t["px"], 1)) for t in texts if t["px"] < MIN_TEXT_PX]
    assert not small, f"{label}: text under {MIN_TEXT_PX} px: {small}"
    months = sorted((t for t in texts if t["month"]), key=lambda t: t["left"])
    assert len(months) >= 6, f"{label}: {len(months)} month names shown"
    touching = [(a["text"], b["text"], round(b["left"] - a["right"], 1))
                for a, b in zip(months, months[1:]) if b["left"] - a["right"] < MIN_GAP_PX]
    assert not touching, f"{label}: month names closer than {MIN_GAP_PX} px: {touching}"


def test_chart_text_is_legible_and_month_names_do_not_touch_on_a_phone(open_page, alice_pw, heartbeats, make_source):
    ana = _talked_over_a_year(alice_pw, make_source)
    page = open_page(alice_pw, f"/people/{ana.pk}/", viewport=PHONE)
    axe(page, "person (375 px)")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 812})
        _assert_legible(page, ".chart-svg", f"person chart at {width} px")
        no_overflow(page)
    # The newest month is always named; the table under the chart still names all twelve.
    page.set_viewport_size(PHONE)
    last = page.locator(".chart-svg text[text-anchor=middle]").last
    assert last.is_visible()
    assert page.locator(".chart-data tbody tr").count() == 12

    page.goto(page.url.replace(f"/people/{ana.pk}/", "/"))
    _assert_legible(page, ".chart-svg", "dashboard chart at 375 px")
    axe(page, "dashboard (375 px)")


def test_on_a_phone_the_people_filters_fold_behind_one_control_and_log_out_stays_on_one_line(
        open_page, alice_pw, heartbeats, make_source):
    _talked_over_a_year(alice_pw, make_source)
    page = open_page(alice_pw, "/people/", viewport=PHONE)

    # "Log out": one line (its height is one line of text), on the brand's row, not alone on a row below.
    logout = page.get_by_role("button", name="Log out")
    box, brand = logout.bounding_box(), page.locator(".brand").bounding_box()
    line = float(logout.evaluate("b => getComputedStyle(b).lineHeight").removesuffix("px"))
    assert box["height"] <= line + 3, (box, line)
    assert brand["y"] <= box["y"] + box["height"] / 2 <= brand["y"] + brand["height"], (box, brand)

    # The search stays; the other filters are folded behind "Filters and sort".
    assert page.get_by_label("Name, handle or tag").is_visible()
    fold = page.locator("summary", has_text="Filters and sort")
    assert fold.is_visible()
    for name in ("Platform", "Tier", "Following", "Sort by"):
        assert page.get_by_role("combobox", name=name).count() == 0, name  # folded: not even to a screen reader
    no_overflow(page)
    axe(page, "people, filters folded (375 px)")
    fold.click()
    page.get_by_label("Tier").select_option("regular")
    page.wait_for_url("**tier=regular**")  # the filter works from the fold as from the open form
    axe(page, "people, filters open (375 px)")

    # With room for them, the filters are open and the fold's control is gone.
    page.set_viewport_size(DESKTOP)
    assert page.get_by_role("combobox", name="Platform").is_visible() and not fold.is_visible()
    box, brand = logout.bounding_box(), page.locator(".brand").bounding_box()
    assert brand["y"] <= box["y"] + box["height"] / 2 <= brand["y"] + brand["height"]

    # Settings lead to changing the password; that page passes axe too.
    page.goto(page.url.split("/people/")[0] + "/settings/")
    page.get_by_role("link", name="Change your password").click()
    page.get_by_role("heading", name="Change your password").wait_for()
    axe(page, "password change (1280 px)")
    assert not page.errors


def test_sign_up_shows_a_weak_passwords_errors_beside_the_password(open_page, live, settings):
    settings.RAPPORT_OPEN_SIGNUP = True
    page = open_page(None, "/accounts/signup/", viewport=PHONE)
    page.get_by_label("Username").fill("dave")
    page.get_by_label(re.compile(r"^Password:?$")).fill("12345678")
    page.get_by_label("Password confirmation").fill("12345678")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_text("This password is too common.").wait_for()

    password = page.get_by_label(re.compile(r"^Password:?$"))
    errors = page.locator("#" + password.get_attribute("aria-describedby").split()[-1])
    assert "This password is entirely numeric." in errors.inner_text()
    assert password.get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Password confirmation").get_attribute("aria-invalid") is None
    # Beside the password: nearer its box than the confirmation's.
    at = errors.bounding_box()["y"]
    assert abs(at - password.bounding_box()["y"]) < abs(at - page.get_by_label("Password confirmation").bounding_box()["y"])
    no_overflow(page)
    axe(page, "sign-up with errors (375 px)")
