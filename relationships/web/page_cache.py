"""Per-user caching of the pages people look at most: dashboard, people list, person.

A page is cached whole, for one user, under a key made of:

* the user's **data version**, a random token in the cache that every change
  to the user's data replaces (see below), so a change shows at once;
* the request as the view reads it: path and query, and the htmx headers
  that pick a partial;
* the session's CSRF secret, because the page's forms carry a token masked
  from it (a new login rotates it, and gets fresh pages);
* the text of the "background work is paused" banner, and the day.

What replaces the version (:func:`bump`):

* any POST (PUT, PATCH, DELETE) by a signed-in user, in
  ``PageCacheMiddleware``: every action in the product is one;
* the services' announcement ``services.changes.user_data_changed``, sent
  once a write commits: ingest's batches, rapport recomputes, nudge
  generation and state changes, the community figures, and a Job starting
  or ending. :func:`data_changed` receives it (connected when the app is
  ready, ``relationships/apps.py``), in the web process and in workers alike.

Nothing else does: a write that is neither (an admin's edit, a ``manage.py
shell`` update) shows once the entries expire, after
``RAPPORT_PAGE_CACHE_SECONDS`` (default 300); 0 turns caching off.
A response is only stored when it is a plain 200 page that sets no cookie and
no flash message is waiting to be shown.

Versions live in the ``default`` cache, which every process shares; pages in
the ``pages`` cache: Redis with Redis, else each web process's own memory
(a page is only ever found under the current version, wherever it is kept).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache, caches
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils import timezone

from relationships.services import changes

log = logging.getLogger(__name__)

_VERSION = "rapport:pages:version:{}"
_PAGE = "rapport:pages:{}:{}"
_HTMX_HEADERS = ("HX-Request", "HX-Target", "HX-Trigger", "HX-Trigger-Name", "HX-Boosted", "HX-History-Restore-Request")
_KEPT_HEADERS = ("Content-Type", "Vary", "Content-Language")


def bump(user_id: int | None) -> None:
    """The user's data changed: every cached page of theirs is out of date.

    Never fails the work that changed the data: with the cache unreachable
    (Redis restarting) the change is logged, and pages the cache still holds
    expire within RAPPORT_PAGE_CACHE_SECONDS (a restarted Redis holds none).
    """
    if user_id is None or not settings.RAPPORT_PAGE_CACHE_SECONDS:
        return
    try:
        cache.set(_VERSION.format(user_id), uuid.uuid4().hex, None)
    except Exception as exc:  # noqa: BLE001 - any cache backend's connection error
        log.warning("Could not mark user %s's cached pages out of date (%s: %s)", user_id, type(exc).__name__, exc)


@receiver(changes.user_data_changed)
def data_changed(sender, user_id: int, **kwargs) -> None:
    """A service announced a committed change to the user's data."""
    bump(user_id)


def version(user_id: int) -> str:
    key = _VERSION.format(user_id)
    current = cache.get(key)
    if current is None:
        cache.add(key, uuid.uuid4().hex, None)  # another process may win the race: read back
        current = cache.get(key) or ""
    return current


def _key(request, warning) -> str | None:
    secret = request.META.get("CSRF_COOKIE")
    if not secret:
        return None  # the page would create the secret: nothing to key on yet
    parts = [
        request.get_full_path(),
        *(request.headers.get(name, "") for name in _HTMX_HEADERS),
        secret,
        str(warning or ""),
        timezone.now().date().isoformat(),
    ]
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return _PAGE.format(request.user.pk, f"{version(request.user.pk)}:{digest}")


def per_user(view):
    """Serve ``view``'s GET pages from the cache while the user's data is unchanged."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        seconds = settings.RAPPORT_PAGE_CACHE_SECONDS
        user = getattr(request, "user", None)
        if (
            not seconds
            or request.method not in ("GET", "HEAD")
            or user is None
            or not user.is_authenticated
            or len(messages.get_messages(request))  # shown once: never cached, never hidden
        ):
            return view(request, *args, **kwargs)
        from relationships.web.context_processors import background_warning

        warning = background_warning(user)
        # The page's own render reads the banner once more; hand it the answer.
        request.rapport_background_warning = warning
        try:
            key = _key(request, warning)
            hit = caches["pages"].get(key) if key is not None else None
        except Exception as exc:  # noqa: BLE001 - the cache is down: render as if it were off
            log.warning("Page cache unavailable (%s: %s)", type(exc).__name__, exc)
            return view(request, *args, **kwargs)
        if key is None:
            return view(request, *args, **kwargs)
        if hit is not None:
            content, headers = hit
            response = HttpResponse(content)
            for name, value in headers:
                response[name] = value
            return response
        response = view(request, *args, **kwargs)
        if (
            response.status_code == 200
            and not getattr(response, "streaming", False)
            and not response.cookies
            and not len(messages.get_messages(request))
        ):
            headers = [(name, response[name]) for name in _KEPT_HEADERS if name in response]
            try:
                caches["pages"].set(key, (response.content, headers), seconds)
            except Exception as exc:  # noqa: BLE001
                log.warning("Page cache unavailable (%s: %s)", type(exc).__name__, exc)
        return response

    return wrapped
