"""Celery tasks of live sync: thin wrappers, ids in, one service call.

Imported by ``relationships.tasks`` so Celery's autodiscovery registers them.
A sync task receives only its Job id; the source, and the credentials, are
read from the database by the service, never passed through the broker.
"""

from celery import shared_task

__all__ = ["sync_due_sources", "sync_source"]


@shared_task(bind=True, name="relationships.sync_source", max_retries=None)
def sync_source(self, job_id: int, **_):
    # Imported here: relationships.tasks imports this module at its end.
    from .services import sync
    from .tasks import _run

    return _run(self, job_id, sync.run_sync)


@shared_task(name="relationships.sync_due_sources")
def sync_due_sources():
    from .services import sync

    return sync.sync_due_sources()
