"""The whole worker killed mid-import, and a worker refusing limits that would run a task twice."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.utils import timezone

from relationships.models import Job
from relationships.services.intake import imports
from tests.faults.conftest import RESTORE_SECONDS, VISIBILITY_TIMEOUT, fault_worker_env, sending
from tests.faults.helpers import (
    duplicate_links,
    identities,
    interactions,
    kill_worker,
    reference_import,
    wait_committed_batches,
    wait_finished,
    x_archive,
)
from tests.workers import ROOT, WorkerProcess, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]

BATCH = "100"


def test_sigkill_of_the_whole_worker_returns_the_task_within_the_visibility_timeout_and_the_rows_equal_a_clean_run(
    alice, bob, tmp_path, own_redis, fast_settings
):
    fast_settings.RAPPORT_INGEST_BATCH_SIZE = int(BATCH)
    path = x_archive(tmp_path / "x.zip", n=3000)
    reference = reference_import(bob, path)
    env = fault_worker_env(own_redis, RAPPORT_INGEST_BATCH_SIZE=BATCH)

    first = WorkerProcess(env).start()
    second = None
    try:
        with sending(own_redis):
            job = imports.queue_import(alice, imports.create_source(alice, path, "x"))
            wait_committed_batches(job.pk)
            killed_at = kill_worker(first)
            delivered = Job.objects.get(pk=job.pk).started_at
            assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING  # the kill left it half done

            second = WorkerProcess(env).start()
            ready_at = time.monotonic()
            wait_for(lambda: Job.objects.get(pk=job.pk).attempts >= 2, timeout=60, interval=0.05,
                     message=f"the task to come back\n{second.log()[-3000:]}")
            back_at = time.monotonic()
            done = wait_finished(job.pk, [second])
    finally:
        first.stop()
        if second:
            second.stop()

    # The broker gave the task back by itself (no stale-job sweep runs here):
    # not before it was unacknowledged for the visibility timeout (no double
    # delivery of a live task), and at the first restore scan after that.
    age_when_back = (timezone.now() - delivered).total_seconds() - (time.monotonic() - back_at)
    delivered_at = back_at - age_when_back
    assert age_when_back >= VISIBILITY_TIMEOUT - 0.5
    late = back_at - max(delivered_at + VISIBILITY_TIMEOUT, ready_at)
    assert late <= RESTORE_SECONDS + 2, (
        f"back {age_when_back:.1f}s after delivery, {back_at - ready_at:.1f}s after the new worker was ready, "
        f"{back_at - killed_at:.1f}s after the kill"
    )
    assert done.state == Job.State.DONE, done.error
    assert done.attempts == 2
    assert interactions(alice) == interactions(bob) and len(interactions(alice)) == 3000
    assert identities(alice) == identities(bob)
    assert duplicate_links(alice) == 0
    assert done.counts["new"] == reference.counts["new"] == 3000


@pytest.mark.parametrize("limit", ["CELERY_TASK_TIME_LIMIT", "CELERY_TASK_SOFT_TIME_LIMIT"])
def test_a_worker_refuses_to_start_with_a_time_limit_not_below_the_visibility_timeout(own_redis, limit):
    env = fault_worker_env(own_redis, RAPPORT_VISIBILITY_TIMEOUT="600", CELERY_TASK_SOFT_TIME_LIMIT="500",
                           CELERY_TASK_TIME_LIMIT="550")
    env[limit] = "600"  # equal is already too long: the task would be handed out again as it ends
    if limit == "CELERY_TASK_SOFT_TIME_LIMIT":
        env["CELERY_TASK_TIME_LIMIT"] = "700"

    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--pool", "solo",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )

    assert result.returncode != 0
    assert "Rapport refuses to start the worker" in result.stderr
    assert f"{limit} (600s) must be below the Redis visibility timeout RAPPORT_VISIBILITY_TIMEOUT (600s)" in result.stderr
    assert " ready." not in result.stdout + result.stderr
    assert own_redis.client().llen("celery") == 0  # it never connected to take work


def test_a_worker_with_limits_below_the_visibility_timeout_starts(own_redis):
    worker = WorkerProcess(fault_worker_env(own_redis)).start()
    try:
        assert worker.proc.poll() is None
    finally:
        worker.stop()
