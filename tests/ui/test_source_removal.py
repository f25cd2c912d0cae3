"""Removing a source in a real browser: the question first, with what goes and what stays, then the answer.

alice's Mastodon account is connected and synced, and her Mastodon archive
holds the same posts plus four the sync never saw.
"""

from __future__ import annotations

import pytest

from relationships.models import Interaction, Source
from relationships.platforms.archives import open_archive
from relationships.services.intake import imports
from relationships.services.intake.connect import connect_mastodon_token
from relationships.services.intake.ingest import ingest
from tests.fakes.fixtures import clock, fake_mastodon  # noqa: F401
from tests.sources.test_removal import mastodon_archive_of
from tests.sync.conftest import _fake_time_for_platform_sessions  # noqa: F401
from tests.sync.helpers import run_sync, talks
from tests.ui.browser import PHONE, axe, no_overflow, screenshot

pytestmark = [pytest.mark.services, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_removing_an_archive_asks_first_and_keeps_what_the_sync_also_saw(
    open_page, alice_pw, heartbeats, live, fake_mastodon, tmp_path
):
    ana = fake_mastodon.add_account("ana", "remote.example", display_name="Ana")
    account = connect_mastodon_token(alice_pw, fake_mastodon.url, fake_mastodon.token)
    statuses = talks(fake_mastodon, fake_mastodon.me, ana, days=6)
    run_sync(account)
    extra = [fake_mastodon.add_status(fake_mastodon.me, f"old {n}", mentions=[ana], notify=False) for n in range(4)]
    path = mastodon_archive_of(fake_mastodon, tmp_path / "archive.zip", statuses + extra)
    with open_archive(path) as importer:
        archive = imports.create_source(alice_pw, path, importer.kind, filename="archive.zip")
        ingest(alice_pw, archive, importer)
    assert Interaction.objects.filter(user=alice_pw).count() == 16

    page = open_page(alice_pw, "/sources/", viewport=PHONE)
    page.get_by_role("link", name=f"Remove {archive}").click()
    page.wait_for_url(f"**/sources/{archive.pk}/remove/")
    question = page.locator("#remove-source").inner_text()
    assert "4 interactions only this source saw; 6 also seen by other sources stay." in question
    no_overflow(page)
    axe(page, "remove-source")
    screenshot(page, "flow-remove-source-question")

    page.get_by_role("button", name=f"Remove {archive}").click()
    page.wait_for_url("**/sources/")
    assert "the 4 interactions only it had seen; 6 also seen by other sources stay" in page.inner_text("body")
    assert not Source.objects.filter(pk=archive.pk).exists()
    assert Interaction.objects.filter(user=alice_pw).count() == 12
    assert "12 interactions" in page.locator("ul.sources").inner_text()
    assert not page.errors
