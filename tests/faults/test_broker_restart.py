"""Redis restarted under a running import and a running sync: the worker reconnects, the job completes once."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from relationships.models import Interaction, Job
from relationships.services.intake import connect, imports, jobs, runs, sync
from tests.fakes.fixtures import clock, fake_mastodon  # noqa: F401 - fixtures
from tests.faults.conftest import fault_worker_env, sending, workers
from tests.faults.helpers import (
    duplicate_links,
    identities,
    interactions,
    reference_import,
    wait_committed_batches,
    wait_finished,
    x_archive,
)
from tests.sync.helpers import interaction_keys, run_sync
from tests.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]


def reconnected(worker) -> bool:
    log = worker.log()
    return "Connection to broker lost" in log or "Cannot connect to redis" in log or "Trying to re-establish" in log


def assert_takes_new_work(alice, worker, redis) -> None:
    """A job queued after the restart runs: the worker consumes from the new Redis."""
    with sending(redis):
        job = runs.queue_recompute(alice)
        done = wait_finished(job.pk, [worker], timeout=60)
    assert done.state == Job.State.DONE, done.error


def test_redis_restarted_during_an_import(alice, bob, tmp_path, own_redis, fast_settings):
    fast_settings.RAPPORT_INGEST_BATCH_SIZE = 100
    path = x_archive(tmp_path / "x.zip", n=6000)
    reference_import(bob, path)

    with workers(fault_worker_env(own_redis, RAPPORT_INGEST_BATCH_SIZE="100")) as (worker,):
        with sending(own_redis):
            job = imports.queue_import(alice, imports.create_source(alice, path, "x"))
        wait_committed_batches(job.pk)
        own_redis.stop()
        assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING  # the outage hits a running import
        time.sleep(1.0)
        own_redis.start()
        done = wait_finished(job.pk, [worker])
        wait_for(lambda: reconnected(worker), timeout=30, message=f"the worker to notice\n{worker.log()[-2000:]}")
        assert_takes_new_work(alice, worker, own_redis)
        # The rapport recompute the import queues as it ends may have met Redis
        # down: then it waits, queued, and the stale-job sweep sends it.
        followup = Job.objects.get(user=alice, kind="recompute", description__contains="after the import")
        assert followup.state in (Job.State.QUEUED, Job.State.DONE), followup.error
        with sending(own_redis):
            jobs.sweep_stale(now=timezone.now() + dt.timedelta(minutes=fast_settings.RAPPORT_STALE_JOB_MINUTES + 1))
        assert wait_finished(followup.pk, [worker]).state == Job.State.DONE

    assert done.state == Job.State.DONE, done.error
    assert done.attempts == 1
    assert interactions(alice) == interactions(bob) and len(interactions(alice)) == 6000
    assert identities(alice) == identities(bob)
    assert duplicate_links(alice) == 0
    assert Job.objects.filter(source__user=alice, kind="import").count() == 1


def test_redis_restarted_during_a_sync(alice, django_user_model, own_redis, fake_mastodon, settings):
    ana = fake_mastodon.add_account("ana", "remote.example", display_name="Ana")
    for n in range(300):
        fake_mastodon.add_status(ana, f"hi {n}", mentions=[fake_mastodon.me])
    carol = django_user_model.objects.create_user("carol")
    undisturbed = run_sync(connect.connect_mastodon_token(carol, fake_mastodon.url, fake_mastodon.token))
    assert undisturbed.state == Job.State.DONE, undisturbed.error
    source = connect.connect_mastodon_token(alice, fake_mastodon.url, fake_mastodon.token)
    fake_mastodon.delay = 0.15  # a sync of some seconds, so the restart lands in the middle
    mark = len(fake_mastodon.requests)

    with workers(fault_worker_env(own_redis)) as (worker,):
        with sending(own_redis):
            job, _ = sync.queue_sync(source)
        wait_for(lambda: Interaction.objects.filter(user=alice).exists(), timeout=60, interval=0.02,
                 message=f"the first synced batch\n{worker.log()[-2000:]}")
        own_redis.stop()
        assert not Job.objects.get(pk=job.pk).is_finished  # the outage hits a running sync
        time.sleep(1.0)
        own_redis.start()
        done = wait_finished(job.pk, [worker])
        wait_for(lambda: reconnected(worker), timeout=30, message=f"the worker to notice\n{worker.log()[-2000:]}")
        assert_takes_new_work(alice, worker, own_redis)

    assert done.state == Job.State.DONE, done.error
    assert done.attempts == 1
    assert interaction_keys(alice) == interaction_keys(carol) and len(interaction_keys(alice)) == 300
    assert duplicate_links(alice) == 0
    verified = [s for s in fake_mastodon.requests[mark:] if s.path == "/api/v1/accounts/verify_credentials"]
    assert len(verified) == 1  # one sync ran, once
