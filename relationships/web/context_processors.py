import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

# The beat's sweep task runs every 60 s on a worker and records "beat": a few
# missed sweeps mean the scheduler (or every worker) is down.
BEAT_SILENT_AFTER = dt.timedelta(minutes=5)
# The worker beats on each job; silence matters only when work is waiting.
WORKER_SILENT_AFTER = dt.timedelta(minutes=5)
# How long after this process started a component never heard from since is
# "starting" rather than "paused". The worker and beat report as soon as they
# are up (config/celery_app.py), so this only covers their boot.
STARTING_GRACE = dt.timedelta(minutes=3)
PROCESS_STARTED = timezone.now()


def rapport(request):
    context = {"open_signup": settings.RAPPORT_OPEN_SIGNUP}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # A callable: the template calls it once ({% with %} in base.html), and
        # responses that never render base.html (partials) cost no query.
        if hasattr(request, "rapport_background_warning"):  # read already by page_cache
            known = request.rapport_background_warning
            context["background_warning"] = lambda: known
        else:
            context["background_warning"] = lambda: background_warning(user)
    return context


@dataclass(frozen=True)
class BackgroundNotice:
    """The banner over every page: ``lead`` in bold, then ``text``."""

    lead: str
    text: str
    starting: bool = False

    def __str__(self) -> str:
        return f"{self.lead} {self.text}"


def background_warning(user, now: dt.datetime | None = None) -> BackgroundNotice | None:
    """What the banner says about the worker and the beat, or None when all is well.

    A component that has not reported since this web process started is
    *starting* for its first few minutes, not paused: `make run` starts the web
    server, the worker and the beat together, and the worker takes a few
    seconds to boot (a false alarm on every start taught users to ignore the
    banner). Past that grace, silence is a real problem and says so.
    """
    from relationships.models import Heartbeat, Job

    now = now or timezone.now()
    seen = dict(Heartbeat.objects.filter(name__in=["worker", "beat"]).values_list("name", "seen_at"))
    beat = seen.get("beat")
    if beat is None or now - beat > BEAT_SILENT_AFTER:
        if (beat is None or beat < PROCESS_STARTED) and now - PROCESS_STARTED <= STARTING_GRACE:
            return BackgroundNotice(
                "Background work is starting.",
                "The Celery worker and beat have not reported since this server started; imports and syncs "
                "begin as soon as they do, usually within a minute.",
                starting=True,
            )
        since = f"since {timezone.localtime(beat):%Y-%m-%d %H:%M %Z}" if beat else "yet"
        return BackgroundNotice(
            "Background work is paused.",
            f"The background scheduler has not been heard from {since}: syncs, the nightly refresh and the digest "
            "are paused until the Celery worker and beat are running again.",
        )
    worker = seen.get("worker")
    if worker is None or now - worker > WORKER_SILENT_AFTER:
        waiting = Job.objects.filter(
            user=user, state=Job.State.QUEUED, created_at__lt=now - WORKER_SILENT_AFTER
        ).exists()
        if waiting:
            return BackgroundNotice(
                "Background work is paused.",
                "No worker has picked up your queued work for a while: imports and syncs are waiting for a Celery worker.",
            )
    return None
