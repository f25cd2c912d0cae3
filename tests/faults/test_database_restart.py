"""PostgreSQL restarted under a running import: the batch in flight rolls back whole, the job retries and completes.

This runs on a cluster of its own (tests/faults/services.py), never on the
shared server: the worker, the set-up and every read of the results connect
to it; the test's own Django connection (pytest-django's database on the
shared server) is not used at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from tests.faults.conftest import fault_worker_env
from tests.faults.helpers import x_archive
from tests.workers import ROOT, WorkerProcess, wait_for

pytestmark = [pytest.mark.services, pytest.mark.postgres_only]

BATCH = 100


@pytest.fixture(scope="module")
def own_database(own_postgres):
    url = own_postgres.create_database("rapport_own")
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"], cwd=ROOT, env=_env(url),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return url


def _env(database_url: str, **extra: str) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update({"DATABASE_URL": database_url, "RAPPORT_INGEST_BATCH_SIZE": str(BATCH), **extra})
    return env


def django(database_url: str, code: str, **extra: str):
    """Run ``code`` in a Django shell on the own cluster; it prints one JSON value, returned here."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=ROOT,
        env=_env(database_url, **extra), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


SET_UP = """
import json, sys
from django.contrib.auth import get_user_model
from relationships.services.intake import imports, jobs
User = get_user_model()
user = User.objects.create_user({name!r})
source = imports.create_source(user, {path!r}, "x")
job = imports.queue_import(user, source, send_task={send!r})
if not {send!r}:
    jobs.execute(job.pk, lambda job, progress: imports.run_import(job, progress, followups=False))
print(json.dumps({{"user": user.pk, "job": job.pk}}))
"""


def rows(postgres, user_id: int) -> list[tuple]:
    with postgres.connect("rapport_own") as conn:
        return conn.execute(
            "SELECT i.platform, i.external_id, d.external_id, i.kind, i.direction, i.occurred_at"
            " FROM relationships_interaction i JOIN relationships_identity d ON d.id = i.identity_id"
            " WHERE i.user_id = %s ORDER BY 1, 2, 3, 4, 5", [user_id]
        ).fetchall()


def job_row(postgres, job_id: int) -> dict:
    with postgres.connect("rapport_own") as conn:
        state, attempts, counts, checkpoint, error = conn.execute(
            "SELECT state, attempts, counts, checkpoint, error FROM relationships_job WHERE id = %s", [job_id]
        ).fetchone()
    return {"state": state, "attempts": attempts, "counts": counts, "checkpoint": checkpoint, "error": error}


class Watcher(threading.Thread):
    """Snapshots, in one transaction each, the stored rows against the counts their batch committed.

    A batch and its progress (``counts.new``, the checkpoint) commit in one
    transaction, so at every moment the two agree, before, during and after
    the restart: a half-written batch would show more rows than counted.
    """

    def __init__(self, postgres, user_id: int, job_id: int):
        super().__init__(daemon=True)
        self.postgres, self.user_id, self.job_id = postgres, user_id, job_id
        self.snapshots: list[tuple[int, int]] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        while not self.stop.is_set():
            try:
                with self.postgres.connect("rapport_own", connect_timeout=1) as conn:
                    with conn.transaction():
                        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        stored = conn.execute(
                            "SELECT count(*) FROM relationships_interaction WHERE user_id = %s", [self.user_id]
                        ).fetchone()[0]
                        counts = conn.execute(
                            "SELECT counts FROM relationships_job WHERE id = %s", [self.job_id]
                        ).fetchone()[0]
                self.snapshots.append((stored, int((counts or {}).get("new", 0))))
            except psycopg.OperationalError:
                self.failures += 1  # the server is restarting
            time.sleep(0.02)


def test_postgres_restarted_during_an_import_rolls_the_batch_back_retries_and_completes(
    own_postgres, own_database, own_redis, tmp_path
):
    path = str(x_archive(tmp_path / "x.zip", n=6000))
    reference = django(own_database, SET_UP.format(name="bob", path=path, send=False))
    env = fault_worker_env(own_redis, DATABASE_URL=own_database, RAPPORT_INGEST_BATCH_SIZE=str(BATCH))

    worker = WorkerProcess(env).start()
    try:
        alice = django(own_database, SET_UP.format(name="alice", path=path, send=True), REDIS_URL=own_redis.url)
        watcher = Watcher(own_postgres, alice["user"], alice["job"])
        watcher.start()
        wait_for(lambda: job_row(own_postgres, alice["job"])["checkpoint"].get("position", 0) > 0,
                 timeout=60, interval=0.02, message=f"the first committed batch\n{worker.log()[-3000:]}")
        own_postgres.restart(down_for=1.0)
        done = wait_for(
            lambda: (row := job_row(own_postgres, alice["job"]))["state"] in ("done", "failed") and row,
            timeout=90, interval=0.2, message=f"the import to finish\n{worker.log()[-4000:]}",
        )
        watcher.stop.set()
        watcher.join(5)
    finally:
        worker.stop()

    assert done["state"] == "done", (done["error"], worker.log()[-4000:])
    assert done["attempts"] >= 2, "the attempt the restart broke was retried"
    assert "lost its database connection" in worker.log() or "OperationalError" in worker.log()
    assert watcher.failures > 0, "the watcher saw the server go away"
    assert watcher.snapshots and all(stored == counted for stored, counted in watcher.snapshots), [
        s for s in watcher.snapshots if s[0] != s[1]
    ][:5]
    mine, theirs = rows(own_postgres, alice["user"]), rows(own_postgres, reference["user"])
    assert mine == theirs
    assert len(mine) == 6000 and done["counts"]["new"] == 6000
