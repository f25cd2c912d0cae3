"""Two syncs of one source at once, on two real workers, and beat firing while one runs: one sync runs.

(A task queued inside a transaction that rolls back is never sent:
tests/test_celery_workers.py.)
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from relationships.models import Heartbeat, Interaction, Job
from relationships.services.intake import connect, sync
from tests.fakes.fixtures import clock, fake_mastodon  # noqa: F401 - fixtures
from tests.faults.conftest import fault_worker_env, sending, workers
from tests.faults.helpers import duplicate_links, wait_finished
from tests.sync.helpers import interaction_keys, run_sync
from tests.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.postgres_only]

VERIFY = "/api/v1/accounts/verify_credentials"


@pytest.fixture
def talking(fake_mastodon, django_user_model):
    """120 posts to sync, and what an undisturbed sync of them stores."""
    ana = fake_mastodon.add_account("ana", "remote.example", display_name="Ana")
    for n in range(120):
        fake_mastodon.add_status(ana, f"hi {n}", mentions=[fake_mastodon.me])
    carol = django_user_model.objects.create_user("carol")
    assert run_sync(connect.connect_mastodon_token(carol, fake_mastodon.url, fake_mastodon.token)).state == "done"
    return interaction_keys(carol)


def test_two_syncs_of_one_source_sent_to_two_workers_at_once_run_once(alice, own_redis, fake_mastodon, talking):
    source = connect.connect_mastodon_token(alice, fake_mastodon.url, fake_mastodon.token)
    fake_mastodon.delay = 0.1  # long enough for the two to overlap
    env = fault_worker_env(own_redis)
    with workers(env, env) as pair:
        mark = len(fake_mastodon.requests)
        # Two jobs, as "Sync now" and `manage.py sync` (which does not ask the
        # queue) would each hold one: only the claim on the source can stop the second.
        jobs_ = [Job.objects.create(user=alice, source=source, kind=sync.KIND, task_name=sync.TASK_NAME)
                 for _ in range(2)]
        with sending(own_redis) as app:
            for job in jobs_:
                job.task_kwargs = {"job_id": job.pk}
                job.save(update_fields=["task_kwargs"])
                app.send_task(sync.TASK_NAME, kwargs=job.task_kwargs)
        done = [wait_finished(job.pk, pair) for job in jobs_]

    assert all(job.state == Job.State.DONE for job in done), [job.error for job in done]
    assert sorted("already running" in job.summary for job in done) == [False, True], [j.summary for j in done]
    assert all(w.log().count("relationships.sync_source") >= 1 for w in pair), "each worker took one"
    assert [s.path for s in fake_mastodon.requests[mark:]].count(VERIFY) == 1
    assert interaction_keys(alice) == talking
    assert duplicate_links(alice) == 0


def test_two_queue_requests_at_the_same_moment_queue_one_sync(alice, own_redis, fake_mastodon, talking):
    source = connect.connect_mastodon_token(alice, fake_mastodon.url, fake_mastodon.token)
    start = threading.Barrier(2)
    results = []

    def click():
        try:
            start.wait()
            results.append(sync.queue_sync(source))
        finally:
            connection.close()

    with workers(fault_worker_env(own_redis)) as (worker,):
        with sending(own_redis):
            threads = [threading.Thread(target=click) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        assert sorted(created for _, created in results) == [False, True]
        assert results[0][0].pk == results[1][0].pk
        done = wait_finished(results[0][0].pk, [worker])

    assert done.state == Job.State.DONE, done.error
    assert Job.objects.filter(source=source, kind=sync.KIND).count() == 1
    assert interaction_keys(alice) == talking


def test_beat_firing_while_a_sync_runs_queues_nothing(alice, own_redis, fake_mastodon, talking):
    source = connect.connect_mastodon_token(alice, fake_mastodon.url, fake_mastodon.token)
    fake_mastodon.delay = 0.1
    env = fault_worker_env(own_redis)
    with workers(env, env) as pair:
        with sending(own_redis) as app:
            job, _ = sync.queue_sync(source)
            wait_for(lambda: Interaction.objects.filter(user=alice).exists(), timeout=60, interval=0.02,
                     message="the sync to be under way")
            before = Heartbeat.objects.filter(name="beat").values_list("seen_at", flat=True).first()
            for _ in range(2):  # beat's schedule firing, twice, while the sync still runs
                app.send_task("relationships.sync_due_sources")
            wait_for(lambda: Heartbeat.objects.filter(name="beat").exclude(seen_at=before).exists(),
                     timeout=30, message="the beat task to run")
            assert not Job.objects.get(pk=job.pk).is_finished, "the beat ran while the sync was running"
        done = wait_finished(job.pk, pair)
        log = "".join(w.log() for w in pair)

    assert done.state == Job.State.DONE, done.error
    assert Job.objects.filter(source=source, kind=sync.KIND).count() == 1
    assert log.count("relationships.sync_due_sources") >= 2 and "'queued': 1" not in log
    assert interaction_keys(alice) == talking
