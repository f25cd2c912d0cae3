"""Rate-limit pacing from the servers' own headers.

Mastodon sends ``X-RateLimit-Limit / -Remaining / -Reset`` (reset as an
ISO-8601 time); Bluesky sends ``RateLimit-Limit / -Remaining / -Reset`` (reset
as epoch seconds); the IETF draft uses delta seconds. The reset is a server
time: it is moved onto the local clock with the ``Date`` header, so a skewed
clock neither waits too little nor too long.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from relationships.platforms.errors import RateLimited

log = logging.getLogger(__name__)

# A numeric reset below this is a delay in seconds, above it an epoch time.
_EPOCH_THRESHOLD = 10**9
# Reset headers are rounded; a little extra makes the retried call land after the reset.
_RESET_MARGIN = 1.0
# When a 429 says nothing about its reset.
_UNKNOWN_RESET_WAIT = 60.0


@dataclass
class _Budget:
    remaining: int | None = None
    limit: int | None = None
    reset: float | None = None  # local epoch seconds


def _header(headers, *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value not in (None, ""):
            return str(value).strip()
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _server_time(value: str | None) -> float | None:
    """Epoch seconds of an HTTP date, an ISO-8601 time or an epoch number."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    for parse in (parsedate_to_datetime, lambda v: dt.datetime.fromisoformat(v.replace("Z", "+00:00"))):
        try:
            moment = parse(value)
        except (TypeError, ValueError, IndexError):
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return None


class RatePacer:
    """Tracks each host's rate-limit budget and spaces requests to stay inside it.

    ``before(url)`` sleeps when the budget is low, spreading what is left
    evenly until the reset, and waits for the reset when it is spent.
    ``wait_after_429`` waits for the reset after a refusal. Any wait longer
    than ``max_wait`` raises :class:`~relationships.platforms.http.RateLimited`
    instead, so a Celery task can retry with a countdown.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        max_wait: float,
        low_fraction: float = 0.1,
        low_floor: int = 5,
    ):
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait
        self.low_fraction = low_fraction
        self.low_floor = low_floor
        self._budgets: dict[str, _Budget] = {}
        self.slept: float = 0.0

    @staticmethod
    def _key(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    def before(self, url: str) -> None:
        budget = self._budgets.get(self._key(url))
        if budget is None or budget.remaining is None or budget.reset is None:
            return
        now = self._clock()
        if budget.reset <= now:
            budget.remaining = None
            return
        if budget.remaining <= 0:
            self._wait_until(budget.reset, now)
            budget.remaining = None
            return
        low = max(self.low_floor, (budget.limit or 0) * self.low_fraction)
        if budget.remaining <= low:
            delay = (budget.reset - now) / budget.remaining
            # A delay beyond max_wait would idle the worker: spend the budget
            # instead, and let the empty budget raise RateLimited.
            if delay <= self.max_wait:
                log.debug("pacing %s: %d left, sleeping %.2fs", self._key(url), budget.remaining, delay)
                self._pause(delay)
        budget.remaining -= 1

    def observe(self, url: str, response) -> None:
        """Read the budget a response announces."""
        headers = response.headers
        remaining = _int(_header(headers, "X-RateLimit-Remaining", "RateLimit-Remaining"))
        reset_value = _header(headers, "X-RateLimit-Reset", "RateLimit-Reset")
        if remaining is None and reset_value is None:
            return
        budget = self._budgets.setdefault(self._key(url), _Budget())
        budget.remaining = remaining
        budget.limit = _int(_header(headers, "X-RateLimit-Limit", "RateLimit-Limit")) or budget.limit
        reset = self._local_reset(reset_value, headers)
        if reset is not None:
            budget.reset = reset

    def wait_after_429(self, url: str, response) -> None:
        """Sleep until the refused request may be sent again, or raise RateLimited."""
        now = self._clock()
        budget = self._budgets.get(self._key(url))
        reset = budget.reset if budget and budget.reset and budget.reset > now else None
        if reset is None:
            retry_after = _header(response.headers, "Retry-After")
            reset = self._local_reset(retry_after, response.headers, delta_only=True) if retry_after else None
        if reset is None or reset <= now:
            reset = now + _UNKNOWN_RESET_WAIT
        self._wait_until(reset + _RESET_MARGIN, now)
        if budget is not None:
            budget.remaining = None

    def reset_at(self, url: str) -> dt.datetime:
        budget = self._budgets.get(self._key(url))
        reset = budget.reset if budget and budget.reset else self._clock() + _UNKNOWN_RESET_WAIT
        return dt.datetime.fromtimestamp(reset, dt.UTC)

    def _wait_until(self, reset: float, now: float) -> None:
        wait = reset - now
        if wait > self.max_wait:
            raise RateLimited(dt.datetime.fromtimestamp(reset, dt.UTC))
        log.info("rate limited: waiting %.1fs for the reset", wait)
        self._pause(wait)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            self._sleep(seconds)

    def _local_reset(self, value: str | None, headers, delta_only: bool = False) -> float | None:
        if value is None:
            return None
        now = self._clock()
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and (delta_only or number < _EPOCH_THRESHOLD):
            return now + max(0.0, number)
        server_reset = _server_time(value)
        if server_reset is None:
            return None
        server_now = _server_time(_header(headers, "Date"))
        if server_now is None:
            return server_reset
        return now + (server_reset - server_now)
