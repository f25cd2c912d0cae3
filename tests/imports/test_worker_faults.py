"""A worker killed in the middle of an import: the task comes back and the result is whole."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from relationships.models import Interaction, Job
from relationships.services.intake import imports, jobs
from tests.builders import x as xb
from tests.workers import WorkerProcess, sending_to, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]

PEOPLE = [xb.XUser(str(2000 + i), f"friend{i}", f"Friend {i}") for i in range(40)]


def big_x_archive(path, n=6000):
    tweets = [
        xb.tweet(f"19{i:07d}", text=f"hello @{PEOPLE[i % 40].screen}", mentions=[PEOPLE[i % 40]])
        for i in range(n)
    ]
    return xb.build_x_archive(path, tweets=tweets)


def rows(user):
    return sorted(
        Interaction.objects.filter(user=user).values_list("platform", "external_id", "identity__external_id", "kind", "direction")
    )


def test_sigkill_of_the_pool_process_mid_import_redelivers_and_ends_with_the_same_rows(alice, bob, tmp_path, redis_url, settings):
    settings.RAPPORT_INGEST_BATCH_SIZE = 200
    path = big_x_archive(tmp_path / "x.zip")
    # The undisturbed reference, in this process.
    ref_source = imports.create_source(bob, path, "x")
    ref_job = imports.queue_import(bob, ref_source, send_task=False)
    jobs.execute(ref_job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    ref_job.refresh_from_db()

    worker = WorkerProcess(
        worker_env(REDIS_URL=redis_url, RAPPORT_INGEST_BATCH_SIZE="200", RAPPORT_JOB_HEARTBEAT_SECONDS="1")
    ).start()
    try:
        with sending_to(redis_url, {"visibility_timeout": 3600}):
            source = imports.create_source(alice, path, "x")
            job = imports.queue_import(alice, source)
            # Wait until some batches are committed, then kill the pool process running the task.
            wait_for(
                lambda: Job.objects.get(pk=job.pk).checkpoint.get("position", 0) > 0,
                timeout=60, interval=0.05, message="the first committed batch",
            )
            children = psutil.Process(worker.proc.pid).children()
            assert children, "the prefork pool has a child process"
            for child in children:
                os.kill(child.pid, signal.SIGKILL)
            done = wait_for(
                lambda: (j := Job.objects.get(pk=job.pk)).is_finished and j,
                timeout=120, message=f"the redelivered import\n{worker.log()[-4000:]}",
            )
    finally:
        worker.stop()
    assert done.state == Job.State.DONE, done.error
    assert done.attempts >= 2, "the task ran again after the kill"
    assert "WorkerLostError" in worker.log() or "Process" in worker.log()
    strip = lambda rs: [(p, e, i, k, d) for p, e, i, k, d in rs]  # noqa: E731
    assert strip(rows(alice)) == strip(rows(bob))
    assert done.counts["new"] == ref_job.counts["new"] == 6000
