"""Shared pieces of the fault tests: archives, row snapshots, waiting for jobs."""

from __future__ import annotations

import os
import signal
import time

from relationships.models import Identity, Interaction, InteractionSource, Job
from relationships.services.intake import imports, jobs
from tests.builders import x as xb
from tests.workers import wait_for

PEOPLE = [xb.XUser(str(2000 + i), f"friend{i}", f"Friend {i}") for i in range(40)]


def x_archive(path, n: int = 3000, people=PEOPLE):
    """``n`` tweets, each mentioning one of ``people``: one interaction per tweet."""
    tweets = [
        xb.tweet(f"19{i:07d}", text=f"hello @{people[i % len(people)].screen}", mentions=[people[i % len(people)]])
        for i in range(n)
    ]
    return xb.build_x_archive(path, tweets=tweets)


def reference_import(user, path, kind: str = "x") -> Job:
    """The undisturbed run, in this process: what every disturbed run must end equal to."""
    source = imports.create_source(user, path, kind)
    job = imports.queue_import(user, source, send_task=False)
    jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error
    return job


def interactions(user) -> list[tuple]:
    """The user's interactions by their natural key (ids differ between users)."""
    return sorted(
        Interaction.objects.filter(user=user).values_list(
            "platform", "external_id", "identity__external_id", "kind", "direction", "occurred_at"
        )
    )


def identities(user) -> list[tuple]:
    return sorted(Identity.objects.filter(user=user).values_list("platform", "external_id", "handle"))


def duplicate_links(user) -> int:
    """Interaction-source links beyond one per (interaction, source): must be 0."""
    links = InteractionSource.objects.filter(interaction__user=user)
    return links.count() - links.values("interaction_id", "source_id").distinct().count()


def finished(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.is_finished else None


def wait_finished(job_id: int, worker_logs=(), timeout: float = 90) -> Job:
    def log_tail() -> str:
        return "\n".join(w.log()[-3000:] for w in worker_logs)

    return wait_for(lambda: finished(job_id), timeout=timeout, interval=0.1, message=f"job {job_id} to finish\n{log_tail()}")


def wait_committed_batches(job_id: int, timeout: float = 60) -> None:
    wait_for(
        lambda: Job.objects.get(pk=job_id).checkpoint.get("position", 0) > 0,
        timeout=timeout, interval=0.02, message="the first committed batch",
    )


def kill_worker(worker) -> float:
    """SIGKILL the worker's whole process group (main process and pool) at once; return when it was."""
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(10)
    return time.monotonic()
