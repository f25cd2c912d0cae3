"""Migration 0015: every connected account synced before gets its next sync one interval after its last.

The database is built at the previous migration with the historical models
(accounts synced, never synced, archives), then migrated forward.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.migrating import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("relationships", "0014_one_way_tier_label")
AFTER = ("relationships", "0015_source_next_sync")
SYNCED = dt.datetime(2026, 11, 30, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def at_previous_migration():
    apps = migrate_to([BEFORE])
    yield apps
    migrate_to_latest()


def test_synced_accounts_are_due_one_interval_after_their_last_sync_and_the_rest_stay_unscheduled(
    at_previous_migration, settings
):
    settings.RAPPORT_SYNC_INTERVAL_MINUTES = 20
    apps = at_previous_migration
    alice = apps.get_model("auth", "User").objects.create(username="alice")
    Source = apps.get_model("relationships", "Source")
    synced = Source.objects.create(user=alice, platform="mastodon", kind="account", last_synced_at=SYNCED)
    never = Source.objects.create(user=alice, platform="bluesky", kind="account")
    archive = Source.objects.create(user=alice, platform="x", kind="archive", last_synced_at=SYNCED)

    Source = migrate_to([AFTER]).get_model("relationships", "Source")

    after = {s.pk: s for s in Source.objects.all()}
    assert after[synced.pk].next_sync_at == SYNCED + dt.timedelta(minutes=20)
    assert after[never.pk].next_sync_at is None and after[archive.pk].next_sync_at is None
    assert {s.quiet_syncs for s in after.values()} == {0}
    assert after[synced.pk].last_synced_at == SYNCED
