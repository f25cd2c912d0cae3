import os

from celery import Celery
from celery.signals import beat_init, celeryd_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rapport")
# All Celery settings live in config/settings.py under the CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def refuse_limits_that_would_run_a_task_twice(**_):
    """The worker checks what `manage.py check` checks, before it takes any task.

    A worker started without `check` (a process manager, a container) would
    otherwise run with a time limit at or above the Redis visibility timeout,
    and every long task would be delivered a second time while it still runs.
    SystemExit, not an exception: Celery's signal dispatch logs and swallows
    exceptions raised by receivers, and the worker would start anyway.
    """
    from relationships.checks import celery_time_limit_problems

    problems = celery_time_limit_problems()
    if problems:
        raise SystemExit("Rapport refuses to start the worker:\n" + "\n".join(f"  - {p}" for p in problems))



def report_alive(name: str) -> None:
    """A worker or the beat says it is up as soon as it is, not at its first task.

    The page banner calls background work "paused" when these have not been
    heard from; without this, every start showed that alarm until the first
    sweep ran. The sweep records "beat" again every minute and the worker
    "worker" at every job, so a silence that follows is still caught.
    """
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from relationships.services.intake import jobs

    jobs.beat(name)


@worker_ready.connect
def worker_is_up(**_):
    report_alive("worker")


@beat_init.connect
def beat_is_up(**_):
    report_alive("beat")
