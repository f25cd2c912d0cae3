"""Tasks run by real Celery worker processes: on Redis and on the embedded broker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from relationships.models import Job, Rapport
from relationships.platforms import records as r
from relationships.services.intake import jobs, runs
from relationships.services.intake.ingest import ingest
from tests.workers import WorkerProcess, sending_to, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True)]


def _alice_with_friends(alice, make_source):
    source = make_source(alice)
    when = timezone.now() - dt.timedelta(days=3)
    ingest(
        alice,
        source,
        [
            r.InteractionRecord(
                platform=r.MASTODON, external_id=f"https://a.example/s/{i}", identity_id=f"https://a.example/users/u{i % 3}",
                kind=r.REPLY, direction=r.INBOUND if i % 2 else r.OUTBOUND, occurred_at=when - dt.timedelta(days=i),
            )
            for i in range(12)
        ],
    )


def _finished(job_id):
    job = Job.objects.get(pk=job_id)
    return job if job.is_finished else None


@pytest.mark.services
def test_a_recompute_job_is_executed_by_a_real_worker_over_redis(alice, make_source, redis_url):
    _alice_with_friends(alice, make_source)
    worker = WorkerProcess(worker_env(REDIS_URL=redis_url)).start()
    try:
        with sending_to(redis_url, {"visibility_timeout": 3600}):
            job = runs.queue_recompute(alice)
            done = wait_for(lambda: _finished(job.pk), timeout=60, message=f"job {job.pk}\n{worker.log()[-3000:]}")
    finally:
        worker.stop()
    assert done.state == Job.State.DONE, done.error
    assert done.attempts == 1
    assert Rapport.objects.filter(user=alice).count() == 3
    assert "relationships.recompute" in worker.log()


def test_a_recompute_job_is_executed_by_a_real_worker_on_the_embedded_broker(alice, make_source):
    _alice_with_friends(alice, make_source)
    worker = WorkerProcess(worker_env()).start()
    try:
        job = runs.queue_recompute(alice)
        done = wait_for(lambda: _finished(job.pk), timeout=60, message=f"job {job.pk}\n{worker.log()[-3000:]}")
    finally:
        worker.stop()
    assert done.state == Job.State.DONE, done.error
    assert Rapport.objects.filter(user=alice).count() == 3


def test_a_job_whose_worker_died_is_queued_again_by_the_sweep_and_then_completes(alice, make_source):
    _alice_with_friends(alice, make_source)
    # A job that a dead worker left "running": its heartbeat stopped long ago.
    job = Job.objects.create(
        user=alice, kind="recompute", task_name="relationships.recompute", state=Job.State.RUNNING, attempts=1,
        heartbeat_at=timezone.now() - dt.timedelta(hours=1),
    )
    job.task_kwargs = {"job_id": job.pk}
    job.save(update_fields=["task_kwargs"])
    worker = WorkerProcess(worker_env()).start()
    try:
        from config.celery_app import app

        app.send_task("relationships.sweep_stale_jobs")
        done = wait_for(lambda: _finished(job.pk), timeout=60, message=f"job {job.pk}\n{worker.log()[-3000:]}")
    finally:
        worker.stop()
    assert done.state == Job.State.DONE
    assert done.attempts == 2


def test_a_job_that_keeps_dying_is_marked_failed_not_left_running(alice, settings):
    job = Job.objects.create(
        user=alice, kind="recompute", task_name="relationships.recompute", state=Job.State.RUNNING,
        attempts=settings.RAPPORT_JOB_MAX_ATTEMPTS, heartbeat_at=timezone.now() - dt.timedelta(hours=1),
    )
    summary = jobs.sweep_stale()
    job.refresh_from_db()
    assert summary == {"requeued": 0, "failed": 1}
    assert job.state == Job.State.FAILED and "worker stopped" in job.error


def test_a_job_created_in_a_transaction_that_rolls_back_is_never_sent(alice, monkeypatch):
    from django.db import transaction

    sent = []
    from config.celery_app import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: sent.append(a))
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            runs.queue_recompute(alice)
            raise RuntimeError("boom")
    assert sent == []
    runs.queue_recompute(alice)
    assert len(sent) == 1


def test_a_second_delivery_of_a_finished_job_does_nothing(alice, make_source):
    _alice_with_friends(alice, make_source)
    job = Job.objects.create(user=alice, kind="recompute", task_name="relationships.recompute", state=Job.State.DONE)
    outcome = jobs.execute(job.pk, lambda job, progress: pytest.fail("must not run twice"))
    assert outcome.state == "duplicate"


def test_a_delivery_while_another_worker_holds_the_job_is_retried_later(alice):
    job = Job.objects.create(
        user=alice, kind="recompute", task_name="relationships.recompute", state=Job.State.RUNNING,
        heartbeat_at=timezone.now(),
    )
    outcome = jobs.execute(job.pk, lambda job, progress: pytest.fail("must not run concurrently"))
    assert outcome.state == "busy" and outcome.retry_in > 0


def test_a_real_worker_and_a_real_beat_report_as_soon_as_they_are_up(tmp_path):
    """Each reports on its own (beat without a worker, so no sweep can run), so
    the banner never calls a just-started background "paused"."""
    import subprocess
    import sys

    from relationships.models import Heartbeat
    from tests.workers import ROOT

    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "celerybeat-schedule")],
        cwd=ROOT, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: Heartbeat.objects.filter(name="beat").exists(), timeout=60, message="the beat's heartbeat")
    finally:
        beat.terminate()
        output = beat.communicate(timeout=20)[0]
    assert not Heartbeat.objects.filter(name="worker").exists(), output[-2000:]

    worker = WorkerProcess(worker_env()).start()
    try:
        wait_for(lambda: Heartbeat.objects.filter(name="worker").exists(), timeout=30, message="the worker's heartbeat")
    finally:
        worker.stop()
    assert not Job.objects.exists()  # reported at start, not by running a job
