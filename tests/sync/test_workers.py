"""Syncs run by real Celery worker processes against the fake servers: on the embedded broker and on Redis."""

from __future__ import annotations

import pytest

from relationships.models import Interaction, Job, Nudge, Source
from relationships.services.intake import sync
from tests.sync.helpers import talks
from tests.workers import WorkerProcess, sending_to, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]


def finished(job_id: int):
    job = Job.objects.get(pk=job_id)
    return job if job.is_finished else None


def newest_sync(source: Source) -> Job:
    return Job.objects.filter(source=source, kind="sync").latest("pk")


def test_a_sync_job_runs_in_a_real_worker_on_the_embedded_broker(alice, fake_mastodon, ana, mastodon_source):
    talks(fake_mastodon, fake_mastodon.me, ana, days=5)
    worker = WorkerProcess(worker_env()).start()
    try:
        job, _ = sync.queue_sync(mastodon_source)
        done = wait_for(lambda: finished(job.pk), timeout=90, message=f"sync job\n{worker.log()[-3000:]}")
    finally:
        worker.stop()

    assert done.state == Job.State.DONE, done.error
    assert "10 new interactions" in done.summary
    assert Nudge.objects.filter(user=alice, kind=Nudge.Kind.FOLLOW).count() == 1
    assert "relationships.sync_source" in worker.log()


def test_connect_backfill_incremental_and_a_rate_limit_through_a_worker_on_redis(
    alice, alice_client, fake_mastodon, ana, redis_url
):
    for n in range(120):
        fake_mastodon.add_status(ana, f"hi {n}", mentions=[fake_mastodon.me])
    # A short limit in the middle of the backfill: the worker waits for the reset and goes on.
    fake_mastodon.fail_next(429, after=1, path="/api/v1/notifications", reset_in=2)
    worker = WorkerProcess(worker_env(REDIS_URL=redis_url)).start()
    try:
        with sending_to(redis_url, {"visibility_timeout": 3600}):
            # Connect through the OAuth round trip; connecting queues the first sync.
            import requests

            location = alice_client.post("/connect/mastodon/", {"instance": fake_mastodon.url})["Location"]
            back = requests.get(location, allow_redirects=False, timeout=5).headers["Location"]
            assert alice_client.get(back).status_code == 302
            source = Source.objects.get(user=alice)
            first = wait_for(lambda: finished(newest_sync(source).pk), timeout=90,
                             message=f"backfill\n{worker.log()[-3000:]}")
            assert first.state == Job.State.DONE, first.error
            assert Interaction.objects.filter(user=alice).count() == 120

            fake_mastodon.add_status(ana, "and one more", mentions=[fake_mastodon.me])
            mark = len(fake_mastodon.requests)
            alice_client.post(f"/sources/{source.pk}/sync/")
            second = wait_for(lambda: finished(newest_sync(source).pk) if newest_sync(source).pk != first.pk else None,
                              timeout=90, message=f"incremental\n{worker.log()[-3000:]}")
    finally:
        worker.stop()

    assert second.state == Job.State.DONE, second.error
    assert "1 new interaction" in second.summary
    assert Interaction.objects.filter(user=alice).count() == 121
    notifications = [s for s in fake_mastodon.requests[mark:] if s.path == "/api/v1/notifications"]
    assert len(notifications) == 1  # one page of what is new, nothing re-read
