"""The errors every connector raises, with whether retrying can help.

``permanent`` is True when repeating the same call cannot succeed without a
change (new credentials, another URL): the sync service marks the source
(``needs_reauth`` for :class:`AuthError`) instead of retrying.
:class:`RateLimited` carries the time to retry at.
"""

from __future__ import annotations

import datetime as dt


class PlatformError(Exception):
    """Base of every error a connector raises.

    ``permanent`` is True when repeating the same call cannot succeed without
    a change (new credentials, another URL); ``status`` is the HTTP status
    when there was one.
    """

    permanent = False

    def __init__(self, message: str = "", *, status: int | None = None, permanent: bool | None = None):
        super().__init__(message)
        self.status = status
        if permanent is not None:
            self.permanent = permanent


class UnsafeURL(PlatformError):
    """The URL is not https, or its host is or resolves to a non-public address."""

    permanent = True


class AuthError(PlatformError):
    """The credentials are invalid, expired beyond refresh, or revoked: the source needs re-authorisation."""

    permanent = True


class RateLimited(PlatformError):
    """The server's rate limit resets too far in the future to wait in-process.

    ``reset_at`` is a UTC datetime on the local clock: retry the task then.
    """

    def __init__(self, reset_at: dt.datetime, message: str = ""):
        super().__init__(message or f"rate limited until {reset_at.isoformat()}", status=429)
        self.reset_at = reset_at

    def retry_after(self, now: dt.datetime | None = None) -> float:
        """Seconds to wait from ``now`` (default: the current time) until the reset."""
        now = now or dt.datetime.now(dt.UTC)
        return max(0.0, (self.reset_at - now).total_seconds())


class TransientError(PlatformError):
    """A 5xx answer, a timeout or a connection error: retrying later may succeed."""


class MalformedResponse(PlatformError):
    """The server answered something that cannot be parsed; retrying this run will not help."""

    permanent = True


class NotFound(PlatformError):
    """The requested object does not exist (404)."""

    permanent = True


class MissingScope(PlatformError):
    """The token works but was not granted the permission this action needs.

    Mastodon answers 403 ``This action is outside the authorized scopes`` to
    a token from before Rapport asked for lists and notes. Not an
    :class:`AuthError`: syncing goes on with the token; only the feature
    that needs ``scope`` asks the user to re-authorize.
    """

    permanent = True

    def __init__(self, message: str = "", *, scope: str = "", status: int | None = 403):
        super().__init__(message, status=status)
        self.scope = scope
