"""When each account is next synced, and how due accounts are claimed by any number of sweeps at once.

The concurrent tests run real threads, each on its own database connection,
against the test database (SQLite's file or PostgreSQL): no claim may be
taken twice, however the statements interleave.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.utils import timezone

from relationships.models import Job, Source
from relationships.services.intake import sync
from tests.sync.helpers import run_sync, talks

pytestmark = [pytest.mark.django_db]
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def accounts(make_source):
    """``n`` connected accounts of ``user``, with credentials: due now unless given a next sync time."""

    def make(user, n=1, **fields):
        made = []
        for _ in range(n):
            source = make_source(user, kind=Source.Kind.ACCOUNT, base_url="https://m.example", **fields)
            source.set_credentials({"access_token": "secret-token"})
            source.save()
            made.append(source)
        return made

    return make


def at_once(count: int, work) -> list:
    """Run ``work()`` in ``count`` threads released together; return what each returned."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(i):
        try:
            barrier.wait()
            results[i] = work()
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


# ---------------------------------------------------------------- the interval


def test_an_active_account_syncs_at_the_shortest_interval_and_a_quiet_one_doubles_up_to_the_longest(settings):
    settings.RAPPORT_SYNC_INTERVAL_MINUTES = 10
    settings.RAPPORT_SYNC_MAX_INTERVAL_MINUTES = 60

    assert [sync.interval(quiet) for quiet in range(5)] == [10 * MINUTE, 20 * MINUTE, 40 * MINUTE, 60 * MINUTE, 60 * MINUTE]
    assert sync.interval(10_000) == 60 * MINUTE


def test_rescheduling_resets_on_activity_counts_quiet_syncs_and_stays_within_the_bounds(alice, accounts, settings):
    settings.RAPPORT_SYNC_INTERVAL_MINUTES = 10
    settings.RAPPORT_SYNC_MAX_INTERVAL_MINUTES = 30
    (source,) = accounts(alice)
    now = timezone.now()

    waits = []
    for active in (False, False, False, False, True):
        waits.append((sync.reschedule(source, active=active, now=now) - now, source.quiet_syncs))

    assert [quiet for _, quiet in waits] == [1, 2, 3, 4, 0]
    assert 20 * MINUTE <= waits[0][0] <= 22 * MINUTE
    assert all(wait <= 30 * MINUTE for wait, _ in waits) and waits[2][0] == waits[3][0] == 30 * MINUTE
    assert 10 * MINUTE <= waits[4][0] <= 11 * MINUTE
    source.refresh_from_db()
    assert source.quiet_syncs == 0 and source.next_sync_at == now + waits[4][0]


def test_a_quiet_account_is_not_due_before_its_time_and_is_due_after(alice, accounts):
    now = timezone.now()
    (later,) = accounts(alice, next_sync_at=now + 30 * MINUTE, last_synced_at=now - 5 * 60 * MINUTE)
    (now_due,) = accounts(alice, next_sync_at=now - MINUTE, last_synced_at=now)

    assert list(sync.due_sources(now)) == [now_due]
    assert set(sync.due_sources(now + 31 * MINUTE)) == {later, now_due}


@pytest.mark.services
def test_a_sync_that_found_something_comes_back_soon_and_one_that_found_nothing_later(
    alice, fake_mastodon, ana, mastodon_source, settings
):
    settings.RAPPORT_SYNC_INTERVAL_MINUTES = 15
    settings.RAPPORT_SYNC_MAX_INTERVAL_MINUTES = 120
    talks(fake_mastodon, fake_mastodon.me, ana, days=2)

    assert run_sync(mastodon_source).state == Job.State.DONE
    mastodon_source.refresh_from_db()
    first = mastodon_source.next_sync_at - mastodon_source.last_synced_at
    assert mastodon_source.quiet_syncs == 0 and 15 * MINUTE <= first <= 17 * MINUTE

    assert run_sync(mastodon_source).state == Job.State.DONE
    mastodon_source.refresh_from_db()
    second = mastodon_source.next_sync_at - mastodon_source.last_synced_at
    assert mastodon_source.quiet_syncs == 1 and 30 * MINUTE <= second <= 34 * MINUTE


# ---------------------------------------------------------------- claiming


def test_a_claim_moves_the_sources_next_sync_one_lease_on_so_a_second_claim_takes_none(alice, accounts):
    due = accounts(alice, n=3)
    now = timezone.now()

    first = sync.claim_due(now)
    second = sync.claim_due(now)

    assert first == sorted(s.pk for s in due) and second == []
    assert set(Source.objects.values_list("next_sync_at", flat=True)) == {now + sync.lease()}
    assert sync.claim_due(now + sync.lease() + MINUTE) == first  # never queued: due again after the lease


def test_a_claim_takes_at_most_its_batch_most_overdue_first(alice, accounts):
    now = timezone.now()
    newest = accounts(alice, next_sync_at=now - MINUTE)
    oldest = accounts(alice, next_sync_at=now - 60 * MINUTE)
    never = accounts(alice)

    assert sync.claim_due(now, limit=2) == sorted(s.pk for s in never + oldest)
    assert sync.claim_due(now, limit=2) == [newest[0].pk]


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_take_one_source_twice(alice, accounts):
    due = {s.pk for s in accounts(alice, n=60)}
    now = timezone.now()

    def claim_until_none():
        taken = []
        while batch := sync.claim_due(now, limit=7):
            taken.extend(batch)
        return taken

    results = at_once(6, claim_until_none)

    counted = Counter(pk for taken in results for pk in taken)
    assert set(counted) == due and set(counted.values()) == {1}, f"on {connection.vendor}"
    assert sum(1 for taken in results if taken) >= 1


@pytest.mark.django_db(transaction=True)
def test_two_beats_sweeping_at_once_queue_one_sync_per_due_source(alice, bob, accounts, sent_tasks):
    due = {s.pk for s in accounts(alice, n=20) + accounts(bob, n=20)}
    accounts(alice, next_sync_at=timezone.now() + 60 * MINUTE)  # not due

    summaries = at_once(2, sync.sync_due_sources)

    queued = Counter(Job.objects.filter(kind=sync.KIND).values_list("source_id", flat=True))
    assert set(queued) == due and set(queued.values()) == {1}
    assert sum(s["queued"] for s in summaries) == len(due) and not any(s["failed"] for s in summaries)
    assert len(sent_tasks) == len(due)
    assert sync.sync_due_sources() == {"queued": 0, "already_queued": 0, "failed": 0}
