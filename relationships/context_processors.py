import datetime as dt

from django.conf import settings
from django.utils import timezone

# The beat's sweep task runs every 60 s on a worker and records "beat": a few
# missed sweeps mean the scheduler (or every worker) is down.
BEAT_SILENT_AFTER = dt.timedelta(minutes=5)
# The worker beats on each job; silence matters only when work is waiting.
WORKER_SILENT_AFTER = dt.timedelta(minutes=5)


def rapport(request):
    context = {"open_signup": settings.RAPPORT_OPEN_SIGNUP}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # A callable: the template calls it once ({% with %} in base.html), and
        # responses that never render base.html (partials) cost no query.
        known = getattr(request, "rapport_background_warning", None)  # read already by page_cache
        context["background_warning"] = (lambda: known) if known is not None else (lambda: background_warning(user))
    return context


def background_warning(user, now: dt.datetime | None = None) -> str:
    """The banner text when the worker or the beat has not been heard from for a while, else ""."""
    from .models import Heartbeat, Job

    now = now or timezone.now()
    seen = dict(Heartbeat.objects.filter(name__in=["worker", "beat"]).values_list("name", "seen_at"))
    beat = seen.get("beat")
    if beat is None or now - beat > BEAT_SILENT_AFTER:
        since = f"since {timezone.localtime(beat):%Y-%m-%d %H:%M %Z}" if beat else "yet"
        return (
            f"The background scheduler has not been heard from {since}: syncs, the nightly refresh and the digest "
            "are paused until the Celery worker and beat are running again."
        )
    worker = seen.get("worker")
    if worker is None or now - worker > WORKER_SILENT_AFTER:
        waiting = Job.objects.filter(
            user=user, state=Job.State.QUEUED, created_at__lt=now - WORKER_SILENT_AFTER
        ).exists()
        if waiting:
            return "No worker has picked up your queued work for a while: imports and syncs are waiting for a Celery worker."
    return ""
