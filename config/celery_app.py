import os

from celery import Celery
from celery.signals import celeryd_init

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
