"""Fixtures of the fault tests: their own Redis and PostgreSQL, and workers with short timings.

Timings are shortened through the same environment variables production
reads, so a worker here runs exactly the code a deployed worker runs:

* the Redis visibility timeout (RAPPORT_VISIBILITY_TIMEOUT) is 8 s, and the
  transport scans for unacknowledged tasks every second
  (RAPPORT_REDIS_UNACKED_RESTORE_SECONDS) instead of about every 100 s;
* task time limits stay below the visibility timeout, as the startup check demands;
* a job's heartbeat is 1 s, so a dead worker's job can be taken over after 3 s.
"""

from __future__ import annotations

import contextlib

import pytest

from tests.conftest import need_service
from tests.workers import WorkerProcess, sending_to, worker_env

from tests.faults.services import OwnPostgres, OwnRedis

VISIBILITY_TIMEOUT = 8
RESTORE_SECONDS = 1
SOFT_TIME_LIMIT = 6
TIME_LIMIT = 7
HEARTBEAT_SECONDS = 1

FAST = {
    "RAPPORT_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    "RAPPORT_REDIS_UNACKED_RESTORE_SECONDS": str(RESTORE_SECONDS),
    "CELERY_TASK_SOFT_TIME_LIMIT": str(SOFT_TIME_LIMIT),
    "CELERY_TASK_TIME_LIMIT": str(TIME_LIMIT),
    "RAPPORT_JOB_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
}


def transport_options() -> dict:
    """What config/settings.py builds from FAST, for this process's producer."""
    return {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": RESTORE_SECONDS,
        "unacked_restore_throttle": 1,
    }


@pytest.fixture
def own_redis():
    need_service(OwnRedis.available(), "redis-server is not installed")
    server = OwnRedis().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def own_postgres():
    problem = OwnPostgres.problem()
    need_service(problem is None, problem or "")
    server = OwnPostgres().init().start()
    yield server
    server.close()


@pytest.fixture
def fast_settings(settings):
    """This process's settings matching the workers' (the in-process reference runs)."""
    settings.RAPPORT_JOB_HEARTBEAT_SECONDS = HEARTBEAT_SECONDS
    return settings


def fault_worker_env(redis: OwnRedis, **overrides: str) -> dict[str, str]:
    """A worker on the test database and on ``redis``, with the short timings."""
    return worker_env(REDIS_URL=redis.url, **{**FAST, **overrides})


@contextlib.contextmanager
def workers(*envs: dict[str, str], concurrency: int = 1):
    """Start one worker per env; stop them all at the end, whatever happened."""
    started: list[WorkerProcess] = []
    try:
        for env in envs:
            started.append(WorkerProcess(env, concurrency=concurrency).start())
        yield started
    finally:
        for worker in started:
            worker.stop()


@contextlib.contextmanager
def sending(redis: OwnRedis):
    """Tasks this process sends go to ``redis``."""
    with sending_to(redis.url, transport_options()) as app:
        yield app
