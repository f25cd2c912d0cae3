"""System checks that refuse configurations which would lose or duplicate work."""

from django.conf import settings
from django.core import checks


def celery_time_limit_problems() -> list[str]:
    """A task that outlives the broker's visibility timeout is delivered twice."""
    problems = []
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
        for name in ("CELERY_TASK_SOFT_TIME_LIMIT", "CELERY_TASK_TIME_LIMIT"):
            limit = getattr(settings, name)
            if limit >= visibility:
                problems.append(
                    f"{name} ({limit}s) must be below the Redis visibility timeout "
                    f"RAPPORT_VISIBILITY_TIMEOUT ({visibility}s), or a long task would run twice."
                )
    if settings.CELERY_TASK_SOFT_TIME_LIMIT >= settings.CELERY_TASK_TIME_LIMIT:
        problems.append("CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT.")
    return problems


@checks.register()
def check_celery_limits(app_configs, **kwargs):
    return [checks.Error(problem, id="rapport.E001") for problem in celery_time_limit_problems()]


@checks.register(checks.Tags.security, deploy=True)
def check_encryption_keys(app_configs, **kwargs):
    if not settings.RAPPORT_ENCRYPTION_KEYS:
        return [
            checks.Error(
                "RAPPORT_ENCRYPTION_KEYS is not set: connected accounts cannot be stored.",
                id="rapport.E002",
            )
        ]
    return []
