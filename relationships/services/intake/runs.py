"""The work behind each Job kind: what a task's single service call runs.

Each function takes the claimed Job and a Progress reporter and returns the
summary sentence the user reads.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from relationships.models import Job
from relationships.services.intake import jobs
from relationships.services.intake.rescore import rescore


def recompute(job: Job, progress: jobs.Progress, person_ids: list[int] | None) -> str:
    return str(rescore(job.user, person_ids, progress=progress))


def queue_recompute(user, person_ids=None, description="Recompute rapport") -> Job:
    """Queue a recompute of ``person_ids`` (None: everyone) for ``user``.

    A recompute of this user's that is queued and not started yet takes these
    people too instead, so one asked for many times while it waits (an import
    and the syncs after it, a nightly refresh) runs once. Its worker reads
    whom to recompute from the job row, not from the message sent first.
    """
    wanted = None if person_ids is None else sorted(set(person_ids))
    with transaction.atomic():
        waiting = (
            Job.objects.select_for_update()
            .filter(user=user, kind="recompute", state=Job.State.QUEUED, started_at__isnull=True)
            .order_by("pk")
            .first()
        )
        if waiting is not None:
            had = waiting.task_kwargs.get("person_ids")
            merged = None if had is None or wanted is None else sorted(set(had) | set(wanted))
            waiting.task_kwargs = {"job_id": waiting.pk, **({} if merged is None else {"person_ids": merged})}
            # Conditional: a worker that took the job meanwhile has read it; then queue another.
            if Job.objects.filter(pk=waiting.pk, state=Job.State.QUEUED).update(task_kwargs=waiting.task_kwargs):
                return waiting
        kwargs = {} if wanted is None else {"person_ids": wanted}
        return jobs.create(user, kind="recompute", task_name="relationships.recompute", description=description, **kwargs)


def seed_demo(job: Job, progress: jobs.Progress) -> str:
    from relationships.services.demo import seed_history

    return seed_history(job.user, progress)


def queue_nightly_refresh() -> int:
    """Decay depends on today's date: refresh every user's scores and nudges."""
    users = get_user_model().objects.filter(is_active=True, people__isnull=False).distinct()
    count = 0
    for user in users:
        queue_recompute(user, description="Nightly refresh")
        count += 1
    return count
