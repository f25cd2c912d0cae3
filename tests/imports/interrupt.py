"""A worker killed in the middle of an import, after a given number of committed batches."""

from __future__ import annotations

import pytest

from relationships.models import Job
from relationships.services.intake import imports, jobs


def kill_after_batches(job: Job, batches: int) -> Job:
    """Run the claimed ``job`` until ``batches`` batches are committed, then die.

    Returns the job queued again, as the stale-job sweep leaves it.
    """
    flushed = []

    def dies(done, total, result):
        flushed.append(done)
        if len(flushed) == batches:
            raise KeyboardInterrupt("worker killed")

    with pytest.raises(KeyboardInterrupt):
        imports.run_import(job, jobs.Progress(job), on_progress=dies, followups=False)
    Job.objects.filter(pk=job.pk).update(state=Job.State.QUEUED, heartbeat_at=None)
    job.refresh_from_db()
    return job
