"""Story helpers of the live-sync tests: build conversations, run syncs as a worker would."""

from __future__ import annotations

import datetime as dt

from relationships.models import Interaction, Job, Nudge, Source
from relationships.services.intake import jobs, sync
from tests.imports.test_import_service import run as run_import

DAY = dt.timedelta(days=1)


def talks(server, me, other, days: int, start: dt.datetime | None = None) -> list[dict]:
    """``days`` days on which ``other`` and alice mention each other (Mastodon): talks, both ways."""
    start = start or dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
    statuses = []
    for n in range(days):
        when = start + n * DAY
        statuses.append(server.add_status(other, f"hi alice {n}", mentions=[me], created_at=when))
        statuses.append(server.add_status(me, f"hi ana {n}", mentions=[other], created_at=when + dt.timedelta(hours=1)))
    return statuses


def run_sync(source: Source, *, send_task: bool = False, **options) -> Job:
    """Queue a sync of ``source`` and run it here, as a worker would; return the finished (or re-queued) job."""
    job, _ = sync.queue_sync(source, send_task=send_task)
    jobs.execute(job.pk, lambda job, progress: sync.run_sync(job, progress, **options))
    job.refresh_from_db()
    return job


def rerun(job: Job, **options) -> Job:
    """Run a re-queued job again (its retry), as Celery would after the countdown."""
    jobs.execute(job.pk, lambda job, progress: sync.run_sync(job, progress, **options))
    job.refresh_from_db()
    return job


def import_and_sync(user, path, source: Source, *, archive_first: bool) -> tuple[Job, Job]:
    """Import the archive at ``path`` and sync ``source``, in the order asked; return (import job, sync job)."""
    if archive_first:
        imported, _ = run_import(user, path)
        return imported, run_sync(source)
    synced = run_sync(source)
    imported, _ = run_import(user, path)
    return imported, synced


def interaction_keys(user) -> set[tuple]:
    return set(Interaction.objects.filter(user=user).values_list("external_id", "identity__external_id", "kind", "direction"))


def follow_nudge(user, identity, kind=Nudge.Kind.FOLLOW) -> Nudge:
    return Nudge.objects.create(
        user=user, person=identity.person, kind=kind, reason=f"You've talked with {identity.person} 5 times — follow them?"
    )
