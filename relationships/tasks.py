"""Celery tasks: thin wrappers. Ids in, one service call, a retry decision.

Every task takes a Job id (never a secret, never a user-supplied path beyond
what the Job row holds) and re-reads ownership from the database.
"""

from celery import shared_task

from relationships.services import digest
from relationships.services.intake import jobs, runs, sync


def _run(task, job_id: int, work):
    try:
        outcome = jobs.execute(job_id, work)
    except jobs.DATABASE_UNAVAILABLE:
        # Not even the job row could be read or written: the database is away
        # (restarting). Ask again shortly, backing off; the job row, once it
        # can be read, says what is left to do.
        jobs.drop_broken_connection()
        raise task.retry(countdown=min(300, jobs.heartbeat_seconds() * 2 ** min(task.request.retries, 8))) from None
    if outcome.retry_in is not None:
        raise task.retry(countdown=outcome.retry_in)
    return outcome.state


@shared_task(bind=True, name="relationships.recompute", max_retries=None)
def recompute(self, job_id: int, **_):
    # Whom to recompute is read from the job row: requests made while it waited were merged there.
    return _run(self, job_id, lambda job, progress: runs.recompute(job, progress, job.task_kwargs.get("person_ids")))


@shared_task(bind=True, name="relationships.seed_demo", max_retries=None)
def seed_demo(self, job_id: int, **_):
    return _run(self, job_id, runs.seed_demo)


@shared_task(name="relationships.sweep_stale_jobs")
def sweep_stale_jobs():
    jobs.beat("beat")
    return jobs.sweep_stale()


@shared_task(name="relationships.nightly_refresh")
def nightly_refresh():
    return runs.queue_nightly_refresh()


@shared_task(bind=True, name="relationships.import_archive", max_retries=None)
def import_archive(self, job_id: int, **_):
    from relationships.services.intake import imports

    state = _run(self, job_id, imports.run_import)  # a retry raises here, keeping the file
    imports.discard_upload(job_id)
    return state


# Live sync. A sync task receives only its Job id; the source, and the
# credentials, are read from the database by the service, never passed
# through the broker.
@shared_task(bind=True, name="relationships.sync_source", max_retries=None)
def sync_source(self, job_id: int, **_):
    return _run(self, job_id, sync.run_sync)


@shared_task(name="relationships.sync_due_sources")
def sync_due_sources():
    return sync.sync_due_sources()


@shared_task(name="relationships.send_digests")
def send_digests():
    """Daily: send each opted-in user's digest once a week (services/digest.py decides who is due)."""
    return digest.send_digests()
