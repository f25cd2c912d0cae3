"""The weekly digest e-mail: a user's open nudges, sent through Django's mail.

The beat task ``relationships.send_digests`` (relationships/tasks.py)
calls :func:`send_digests` once a day; each opted-in user gets at most one
digest every DIGEST_EVERY, and none when no nudge is open.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from relationships.models import Nudge, Preferences
from relationships.services.scoring.nudges import serve_order

log = logging.getLogger(__name__)

DIGEST_EVERY = dt.timedelta(days=7)
# A little under a week, so a daily beat that runs a few minutes early still sends weekly.
_DUE_AFTER = DIGEST_EVERY - dt.timedelta(hours=1)
MAX_NUDGES = 10


def _site_url() -> str:
    # Absolute links in mail need the public address; RAPPORT_SITE_URL is
    # optional, and without it the digest names the path alone.
    return (getattr(settings, "RAPPORT_SITE_URL", "") or "").rstrip("/")


def due(now: dt.datetime):
    """Preferences of opted-in, active users with an address whose last digest is a week old."""
    return (
        Preferences.objects.filter(digest_opt_in=True, user__is_active=True)
        .exclude(user__email="")
        .filter(Q(digest_sent_at__isnull=True) | Q(digest_sent_at__lte=now - _DUE_AFTER))
        .select_related("user")
        .order_by("pk")
    )


def compose(user, nudges: list[Nudge]) -> tuple[str, str]:
    """(subject, plain-text body) of one user's digest."""
    count = len(nudges)
    subject = f"Rapport: {count} {'person' if count == 1 else 'people'} to reach out to this week"
    body = render_to_string(
        "relationships/email/digest.txt",
        {"user": user, "nudges": nudges, "dashboard_url": _site_url() + reverse("dashboard"),
         "settings_url": _site_url() + reverse("settings")},
    )
    return subject, body


def send_digest(prefs: Preferences, now: dt.datetime) -> str:
    """Send one user's digest; returns "sent", "empty" (no open nudge) or "taken" (another worker has it).

    Claimed with a conditional UPDATE of digest_sent_at before sending, so two
    workers (or a retried beat) never send the same week's digest twice; on a
    mail error the claim is undone and the error raised.
    """
    user = prefs.user
    nudges = list(
        Nudge.objects.filter(user=user, state=Nudge.State.OPEN, person__hidden=False)
        .select_related("person")
        # As the dashboard lists them: follow nudges first, then shows_up, then reconnect.
        .order_by(*serve_order())[:MAX_NUDGES]
    )
    if not nudges:
        return "empty"
    previous = prefs.digest_sent_at
    claimed = Preferences.objects.filter(pk=prefs.pk, digest_sent_at=previous).update(digest_sent_at=now)
    if not claimed:
        return "taken"
    subject, body = compose(user, nudges)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except Exception:
        Preferences.objects.filter(pk=prefs.pk, digest_sent_at=now).update(digest_sent_at=previous)
        raise
    return "sent"


def send_digests(now: dt.datetime | None = None) -> dict[str, int]:
    """Send every due digest; one user's failure never stops the others. Returns counts by outcome."""
    now = now or timezone.now()
    summary = {"sent": 0, "empty": 0, "taken": 0, "failed": 0}
    for prefs in due(now):
        try:
            summary[send_digest(prefs, now)] += 1
        except Exception:
            log.exception("Digest for user %s failed", prefs.user_id)
            summary["failed"] += 1
    return summary
