"""Jobs: every background run, claimed, tracked, and never left "running" forever.

A Celery task receives a job id and calls :func:`execute` with the service
that does the work. The job row holds the task name and its (id-only)
arguments, so the stale-job sweep can queue the work again after a worker died
— on the embedded filesystem broker that is the only redelivery there is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from relationships.models import Heartbeat, Job
from relationships.services import changes

log = logging.getLogger(__name__)


def heartbeat_seconds() -> int:
    return settings.RAPPORT_JOB_HEARTBEAT_SECONDS


def counted(n: int, singular: str, plural: str | None = None, *, none: str = "") -> str:
    """'1 person', '1,208 people', '17,999 records' (or ``none`` for 0): how every summary counts."""
    if n == 0 and none:
        return none
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


class PermanentJobError(Exception):
    """The work cannot succeed as asked: the message is shown to the user, no retry."""


class TransientJobError(Exception):
    """The work may succeed later: the task is retried with a growing delay."""

    def __init__(self, message: str, retry_in: float | None = None):
        super().__init__(message)
        self.retry_in = retry_in


#: The database went away under the work (a restart, a failover, a dropped
#: connection; also a deadlock or a cancelled statement): the same work on a
#: new connection may succeed, so it is retried like a TransientJobError.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def drop_broken_connection() -> None:
    """Close this thread's database connection if an error left it unusable.

    The next query then connects afresh instead of failing on the dead socket.
    """
    try:
        close_old_connections()
    except DATABASE_UNAVAILABLE:
        pass


class JobBusy(Exception):
    """Another worker holds this job right now (a duplicate or early redelivery)."""


@dataclass
class Outcome:
    state: str
    retry_in: float | None = None


class Progress:
    """Handed to a service: reports progress, counts and checkpoints, and beats."""

    def __init__(self, job: Job):
        self.job = job

    def update(self, done=None, total=None, counts=None, checkpoint=None) -> None:
        fields = {"heartbeat_at": timezone.now()}
        if done is not None:
            fields["progress_done"] = self.job.progress_done = done
        if total is not None:
            fields["progress_total"] = self.job.progress_total = total
        if counts is not None:
            fields["counts"] = self.job.counts = counts
        if checkpoint is not None:
            fields["checkpoint"] = self.job.checkpoint = checkpoint
        Job.objects.filter(pk=self.job.pk).update(**fields)


def create(
    user, *, kind: str, task_name: str, source=None, description: str = "", send_task: bool = True, **task_kwargs
) -> Job:
    """Create a queued Job and send its task once the surrounding transaction commits.

    ``send_task=False`` is for work run in the foreground (management commands):
    the Job still records it, but no worker is asked to run it.
    """
    job = Job.objects.create(
        user=user, source=source, kind=kind, task_name=task_name, description=description, task_kwargs=task_kwargs
    )
    job.task_kwargs = {"job_id": job.pk, **task_kwargs}
    Job.objects.filter(pk=job.pk).update(task_kwargs=job.task_kwargs)
    if send_task:
        send(job)
    return job


def send(job: Job) -> None:
    kwargs = dict(job.task_kwargs)

    def publish() -> None:
        try:
            current_app.send_task(job.task_name, kwargs=kwargs)
        except BrokerUnavailable as exc:
            # The broker is down or restarting. The caller's work is done and
            # committed (an import whose follow-up could not be queued must
            # not turn into a failed import); the job row stays queued and the
            # stale-job sweep sends it once the broker is back.
            log.warning("Job %s (%s) could not be sent now (%s); the sweep sends it later.", job.pk, job.kind, exc)

    # on_commit: a job created inside a transaction that rolls back is never sent,
    # and the worker never looks for a row that is not committed yet.
    transaction.on_commit(publish)


def claim(job_id: int) -> Job | None:
    """Take the job for this worker with one conditional UPDATE.

    Returns None when the job is finished (a duplicate delivery: nothing to
    do); raises JobBusy when another live worker holds it.
    """
    now = timezone.now()
    stale = now - dt.timedelta(seconds=3 * heartbeat_seconds())
    taken = Job.objects.filter(
        Q(state=Job.State.QUEUED) | Q(state=Job.State.RUNNING, heartbeat_at__lt=stale) | Q(
            state=Job.State.RUNNING, heartbeat_at__isnull=True
        ),
        pk=job_id,
    ).update(state=Job.State.RUNNING, heartbeat_at=now, attempts=F("attempts") + 1)
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return None
    if not taken:
        raise JobBusy(f"Job {job_id} is held by another worker")
    if job.started_at is None:
        Job.objects.filter(pk=job_id).update(started_at=now)
        job.started_at = now
    changes.announce(job.user_id)  # the dashboard says what is running
    return job


def execute(job_id: int, work: Callable[[Job, Progress], str]) -> Outcome:
    """Run ``work(job, progress)`` for a claimed job and record how it ended.

    ``work`` returns the summary a person reads. It raises PermanentJobError
    for a clear refusal, TransientJobError to be retried.
    """
    beat("worker")
    try:
        job = claim(job_id)
    except JobBusy:
        return Outcome("busy", retry_in=heartbeat_seconds())
    if job is None:
        return Outcome("duplicate")
    progress = Progress(job)
    try:
        summary = work(job, progress)
    except PermanentJobError as exc:
        finish(job, Job.State.FAILED, error=str(exc))
        return Outcome(Job.State.FAILED)
    except TransientJobError as exc:
        return _retry_later(job, exc)
    except DATABASE_UNAVAILABLE as exc:
        # The batch being written rolled back whole (its transaction never
        # committed), and the checkpoint still names the last committed batch,
        # so the retry resumes exactly there. If the database is still away,
        # recording the retry raises too and the task wrapper asks again later.
        log.warning("Job %s (%s) lost its database connection: %s", job.pk, job.kind, exc)
        drop_broken_connection()
        return _retry_later(
            job,
            TransientJobError(
                f"The database connection was lost ({type(exc).__name__}); trying again.",
                retry_in=heartbeat_seconds() * job.attempts,
            ),
        )
    except Exception as exc:  # a bug: record it on the job, keep the worker alive
        log.exception("Job %s (%s) failed", job.pk, job.kind)
        finish(job, Job.State.FAILED, error=f"Unexpected error ({type(exc).__name__}). The details are in the worker log.")
        return Outcome(Job.State.FAILED)
    finish(job, Job.State.DONE, summary=summary or "")
    return Outcome(Job.State.DONE)


def _retry_later(job: Job, exc: TransientJobError) -> Outcome:
    if job.attempts >= settings.RAPPORT_JOB_MAX_ATTEMPTS:
        finish(job, Job.State.FAILED, error=f"Gave up after {job.attempts} attempts: {exc}")
        return Outcome(Job.State.FAILED)
    delay = exc.retry_in if exc.retry_in is not None else min(600, 10 * 2 ** job.attempts)
    # The heartbeat points at the planned retry, so the stale-job sweep
    # does not send the job again while it waits its turn.
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.QUEUED, error=str(exc), heartbeat_at=timezone.now() + dt.timedelta(seconds=delay)
    )
    return Outcome("retry", retry_in=delay)


def finish(job: Job, state: str, *, summary: str = "", error: str = "") -> None:
    Job.objects.filter(pk=job.pk).update(
        state=state, summary=summary, error=error, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    changes.announce(job.user_id)


def beat(name: str) -> None:
    """Record that a worker or the beat scheduler is alive (the UI warns when not)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


def sweep_stale(now: dt.datetime | None = None) -> dict[str, int]:
    """Re-queue jobs whose worker died, or fail them after too many attempts.

    A running job is dead when its heartbeat is older than
    RAPPORT_STALE_JOB_MINUTES; a queued job is lost when nothing picked it up
    in that time (the embedded broker drops a message whose worker died).
    Returns a readable summary of what it did.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(minutes=settings.RAPPORT_STALE_JOB_MINUTES)
    summary = {"requeued": 0, "failed": 0}
    stale = Job.objects.filter(
        Q(state=Job.State.RUNNING, heartbeat_at__lt=cutoff)
        | Q(state=Job.State.QUEUED, heartbeat_at__isnull=True, created_at__lt=cutoff)
        | Q(state=Job.State.QUEUED, heartbeat_at__lt=cutoff)
    )
    for job in stale:
        if job.attempts >= settings.RAPPORT_JOB_MAX_ATTEMPTS:
            # Conditional on the state we saw, so a job that just finished keeps its result.
            done = Job.objects.filter(pk=job.pk, state=job.state).update(
                state=Job.State.FAILED,
                finished_at=now,
                error=job.error or f"The worker stopped while running this job ({job.attempts} attempts).",
            )
            summary["failed"] += done
            if done:
                changes.announce(job.user_id)
        else:
            moved = Job.objects.filter(pk=job.pk, state=job.state, heartbeat_at=job.heartbeat_at).update(
                state=Job.State.QUEUED, heartbeat_at=now
            )
            if moved:
                current_app.send_task(job.task_name, kwargs=job.task_kwargs)
                summary["requeued"] += 1
    return summary
