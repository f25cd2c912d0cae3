"""The work behind each Job kind: what a task's single service call runs.

Each function takes the claimed Job and a Progress reporter and returns the
summary sentence the user reads.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from relationships.models import Job
from relationships.services.intake import jobs
from relationships.services.intake.rescore import rescore


def recompute(job: Job, progress: jobs.Progress, person_ids: list[int] | None) -> str:
    return str(rescore(job.user, person_ids, progress=progress))


def queue_recompute(user, person_ids=None, description="Recompute rapport") -> Job:
    kwargs = {} if person_ids is None else {"person_ids": sorted(person_ids)}
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
