"""A platform that drops connections, fails, rate-limits or revokes access, met by a real worker.

tests/sync proves each rule in-process on a fake clock; here a worker in its
own process, on real time, goes through the same faults end to end.
"""

from __future__ import annotations

import re
import time

import pytest

from relationships.models import Job, Source
from relationships.services.intake import connect, sync
from relationships.services.intake.sync import _backoff
from tests.fakes.fixtures import clock  # noqa: F401 - fixture
from tests.faults.conftest import fault_worker_env, sending, workers
from tests.faults.helpers import wait_finished
from tests.faults.platforms import flaky_mastodon  # noqa: F401 - fixture
from tests.sync.helpers import interaction_keys, run_sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]

NOTIFICATIONS = "/api/v1/notifications"
RETRY_LINE = re.compile(r"transient error \((?P<why>.*)\), retry (?P<n>\d+) in (?P<delay>[\d.]+)s")


def people_talk(server, n: int = 120):
    ana = server.add_account("ana", "remote.example", display_name="Ana")
    for i in range(n):
        server.add_status(ana, f"hi {i}", mentions=[server.me])
    return ana


def undisturbed_keys(django_user_model, server) -> set:
    carol = django_user_model.objects.create_user("carol")
    job = run_sync(connect.connect_mastodon_token(carol, server.url, server.token))
    assert job.state == Job.State.DONE, job.error
    return interaction_keys(carol)


def sync_in_worker(worker, redis, source) -> Job:
    with sending(redis):
        job, created = sync.queue_sync(source)
    assert created
    return wait_finished(job.pk, [worker])


def test_a_dropped_connection_then_a_503_are_retried_with_growing_jittered_waits_then_the_sync_succeeds(
    alice, bob, django_user_model, own_redis, flaky_mastodon
):
    people_talk(flaky_mastodon)
    expected = undisturbed_keys(django_user_model, flaky_mastodon)
    runs = []
    with workers(fault_worker_env(own_redis)) as (worker,):
        for user in (alice, bob):
            # A dropped connection and two 503s use the session's three retries; the fourth call answers.
            flaky_mastodon.drop_next(NOTIFICATIONS)
            flaky_mastodon.fail_next(503, times=2, path=NOTIFICATIONS)
            mark = len(flaky_mastodon.timeline)
            lines = len(worker.log().splitlines())
            done = sync_in_worker(worker, own_redis, connect.connect_mastodon_token(user, flaky_mastodon.url,
                                                                                    flaky_mastodon.token))
            assert done.state == Job.State.DONE, done.error
            assert done.attempts == 1  # retried inside the session, the job never failed
            assert interaction_keys(user) == expected
            calls = [(at, status) for at, path, status in flaky_mastodon.timeline[mark:] if path == NOTIFICATIONS]
            retries = [m.groupdict() for line in worker.log().splitlines()[lines:] if (m := RETRY_LINE.search(line))]
            runs.append((calls, retries))

    for calls, retries in runs:
        assert [status for _, status in calls[:4]] == [0, 503, 503, 200]
        assert "ConnectionError" in retries[0]["why"] and "503" in retries[1]["why"]
        delays = [float(r["delay"]) for r in retries[:3]]
        # Full jitter under a ceiling that doubles: 0.5 s, 1 s, 2 s.
        for n, delay in enumerate(delays):
            assert 0 <= delay <= 0.5 * 2**n
        # The server saw the waits the worker announced.
        gaps = [later - earlier for (earlier, _), (later, _) in zip(calls, calls[1:4])]
        for gap, delay in zip(gaps, delays):
            assert delay - 0.05 <= gap <= delay + 1.0
    # Jittered: two runs of the same faults did not wait the same.
    first, second = ([float(r["delay"]) for r in retries[:3]] for _, retries in runs)
    assert first != second


def test_the_job_level_backoff_grows_and_is_jittered():
    """When the session gives up, the job is retried later: about 30 s, 60 s, 120 s, each jittered."""
    for attempt in (1, 2, 3):
        ceiling = 30.0 * 2 ** (attempt - 1)
        waits = {_backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert len(waits) > 40


def test_a_429_mid_backfill_waits_for_the_reset_then_ends_with_the_same_ids_as_an_undisturbed_run(
    alice, django_user_model, own_redis, flaky_mastodon
):
    people_talk(flaky_mastodon, n=200)
    expected = undisturbed_keys(django_user_model, flaky_mastodon)
    reset = 3
    flaky_mastodon.fail_next(429, after=1, path=NOTIFICATIONS, reset_in=reset)

    with workers(fault_worker_env(own_redis)) as (worker,):
        mark = len(flaky_mastodon.timeline)
        done = sync_in_worker(worker, own_redis, connect.connect_mastodon_token(alice, flaky_mastodon.url,
                                                                                flaky_mastodon.token))

    assert done.state == Job.State.DONE, done.error
    assert done.attempts == 1
    assert interaction_keys(alice) == expected and len(expected) == 200
    calls = [(at, status) for at, path, status in flaky_mastodon.timeline[mark:] if path == NOTIFICATIONS]
    limited = next(i for i, (_, status) in enumerate(calls) if status == 429)
    assert limited == 1  # mid-backfill: after the first page
    waited = calls[limited + 1][0] - calls[limited][0]
    assert reset <= waited <= reset + 3, waited  # until the announced reset (and its one-second margin), no longer
    assert [status for _, status in calls[limited + 1 :]] == [200] * (len(calls) - limited - 1)


def test_revoked_credentials_stop_the_sync_at_once_and_it_is_not_retried(alice, own_redis, flaky_mastodon):
    people_talk(flaky_mastodon)
    flaky_mastodon.fail_next(401, after=1, path=NOTIFICATIONS, body={"error": "The access token was revoked"})
    source = connect.connect_mastodon_token(alice, flaky_mastodon.url, flaky_mastodon.token)

    with workers(fault_worker_env(own_redis)) as (worker,):
        mark = len(flaky_mastodon.timeline)
        done = sync_in_worker(worker, own_redis, source)
        time.sleep(3)  # a retry, had one been planned, would have come by now (heartbeat 1 s)
        after = flaky_mastodon.timeline[mark:]

    assert done.state == Job.State.FAILED and "reconnect" in done.error
    assert done.attempts == 1
    source.refresh_from_db()
    assert source.state == Source.State.NEEDS_REAUTH
    refused = next(i for i, (_, _, status) in enumerate(after) if status == 401)
    assert len(after) - refused - 1 <= 1, after[refused:]
    assert Job.objects.filter(source=source).count() == 1
