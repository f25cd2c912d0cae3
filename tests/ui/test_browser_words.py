"""The words of issue "Trust II" in a real browser: an X archive alone, on a phone and a desktop."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from relationships.models import Preferences
from relationships.services.scoring.rapport import local_today
from tests.ui.browser import DESKTOP, PHONE, axe, no_overflow, screenshot
from tests.ui.test_words import x_archive

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_an_x_archive_alone_is_explained_on_the_dashboard_and_sources_on_any_screen(
    open_page, alice_pw, heartbeats, live, tmp_path
):
    archive = x_archive(tmp_path / "twitter.zip", local_today(Preferences.for_user(alice_pw)))
    call_command("import_archive", str(archive), "--user", "alice", stdout=io.StringIO(), stderr=io.StringIO())
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = open_page(alice_pw, "/", viewport=viewport)
        section = page.locator("#x-archive-only")
        assert "an X archive holds only what you did" in section.inner_text()
        items = section.get_by_role("listitem")
        assert [items.nth(i).get_by_role("link").inner_text() for i in range(items.count())] == ["Ana", "Cara", "Ben"]
        axe(page, f"dashboard, X archive alone ({size})")
        screenshot(page, f"words-x-only-dashboard-{size}")
        if size == "phone":
            no_overflow(page)
        for path in ("/sources/", "/people/"):
            page.goto(live + path)
            if size == "phone":
                no_overflow(page)
            axe(page, f"{path}, X archive alone ({size})")
        assert not page.errors
        page.context.close()
