"""Queues by kind of work: every task is routed, every queue is consumed, and a waiting recompute absorbs repeats."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from config.celery_app import app
from relationships import tasks
from relationships.models import Job, Person
from relationships.services.intake import runs

ROOT = Path(__file__).resolve().parent.parent
QUEUES = {"sync", "import", "recompute", "mail"}
EXPECTED = {
    "relationships.sync_source": "sync",
    "relationships.sync_due_sources": "sync",
    "relationships.import_archive": "import",
    "relationships.seed_demo": "import",
    "relationships.recompute": "recompute",
    "relationships.nightly_refresh": "recompute",
    "relationships.send_digests": "mail",
}


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_each_kind_of_work_goes_to_its_own_queue_and_every_task_has_one():
    assert set(settings.RAPPORT_QUEUES) == QUEUES
    assert {name: queue_of(name) for name in EXPECTED} == EXPECTED
    ours = {name for name in app.tasks if name.startswith("relationships.")}
    assert ours >= set(EXPECTED)
    assert {queue_of(name) for name in ours} <= QUEUES
    assert ours <= set(settings.CELERY_TASK_ROUTES), ours - set(settings.CELERY_TASK_ROUTES)


def test_a_worker_started_without_queues_and_make_runs_worker_consume_every_queue():
    assert {queue.name for queue in app.conf.task_queues} == QUEUES
    run = (ROOT / "scripts" / "run.py").read_text()
    consumed = re.search(r'"--queues", "([^"]+)"', run).group(1)
    assert set(consumed.split(",")) == QUEUES


def test_the_readmes_production_section_starts_a_worker_for_each_queue():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Production", 1)[1].split("\n## ", 1)[0]
    started = set()
    for line in section.splitlines():
        if line.startswith("celery -A config worker"):
            started.update(re.search(r"-Q (\S+)", line).group(1).split(","))
    assert started == QUEUES


@pytest.fixture
def sent(monkeypatch):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(app, "send_task", lambda name, *a, **kw: sent.append((name, kw.get("kwargs") or {})))
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_recompute_asked_for_many_times_while_one_waits_runs_once_for_everyone_asked(alice, bob, sent, monkeypatch):
    ana, ben, cy = (Person.objects.create(user=alice, name=name) for name in ("Ana", "Ben", "Cy"))
    ran = []
    monkeypatch.setattr(runs, "recompute", lambda job, progress, person_ids: ran.append(person_ids) or "done")

    first = runs.queue_recompute(alice, [ana.pk])
    again = [runs.queue_recompute(alice, ids) for ids in ([ben.pk], [ana.pk, cy.pk], [ben.pk])]
    bobs = runs.queue_recompute(bob, [])

    assert {job.pk for job in again} == {first.pk} and bobs.pk != first.pk
    assert [name for name, _ in sent] == ["relationships.recompute"] * 2
    tasks.recompute.run(**sent[0][1])  # the message sent first names ana only
    assert ran == [sorted([ana.pk, ben.pk, cy.pk])]
    assert Job.objects.get(pk=first.pk).state == Job.State.DONE
    assert Job.objects.filter(user=alice, kind="recompute").count() == 1

    later = runs.queue_recompute(alice, [ben.pk])  # the first one ran: a new one waits
    assert later.pk != first.pk and later.task_kwargs == {"job_id": later.pk, "person_ids": [ben.pk]}


@pytest.mark.django_db
def test_a_recompute_of_everyone_absorbs_every_narrower_one_and_stays_everyone(alice, sent):
    ana = Person.objects.create(user=alice, name="Ana")

    first = runs.queue_recompute(alice, [ana.pk])
    everyone = runs.queue_recompute(alice)
    narrower = runs.queue_recompute(alice, [ana.pk])

    assert first.pk == everyone.pk == narrower.pk
    assert Job.objects.get(pk=first.pk).task_kwargs == {"job_id": first.pk}
