"""Rate-limit pacing from the servers' own headers.

Mastodon sends ``X-RateLimit-Limit / -Remaining / -Reset`` (reset as an
ISO-8601 time); Bluesky sends ``RateLimit-Limit / -Remaining / -Reset`` (reset
as epoch seconds); the IETF draft uses delta seconds. The reset is a server
time: it is moved onto the local clock with the ``Date`` header, so a skewed
clock neither waits too little nor too long.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
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
#: Two announced resets this close (seconds) name the same window.
SAME_WINDOW = 2.0
#: The share of a window's limit held back when an answer opens it (see merge_observed).
IN_FLIGHT_SHARE = 0.01
# Times a request goes back to the budget after waiting for a reset or a pause.
_TAKES = 4
#: Seconds the other senders wait for the answer to a request sent to find an unknown bucket
#: out, before one of them sends the next such request (the first may have failed or hung).
PROBE_WAIT = 5.0
# How often a sender waiting for that answer looks again.
_PROBE_POLL = 0.05
#: Paths whose answers announce a limit of their own, counted per account, not the host's
#: budget (a PDS limits createSession to 30 / 5 min per account and address, PLATFORMS.md
#: 2.6): reading their headers into the host's bucket would stop every account's sync
#: after 30 logins. They are paced only by their own 429s.
OWN_LIMIT_PATHS = frozenset({"/xrpc/com.atproto.server.createSession"})


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


@dataclass
class Budget:
    """What is known of one rate-limit bucket, on the local clock (epoch seconds)."""

    remaining: int | None = None
    limit: int | None = None
    reset: float | None = None
    paused_until: float | None = None
    #: Set only while no answer has been heard: until when one request, sent to find the
    #: bucket out, is awaited by the other senders.
    probe_until: float | None = None


class LocalBudgets:
    """Budgets kept in this process: one session's own, or every session's of an
    install without Redis (``relationships.services.intake.connect``).

    :class:`relationships.platforms.shared_budget.RedisBudgets` keeps the same
    three operations atomic across processes and machines; both follow
    :func:`merge_observed` for what a new answer changes.
    """

    def __init__(self):
        self._budgets: dict[str, Budget] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> Budget | None:
        """The bucket as it was, spending one request of it when one is known to be left.

        A bucket no answer has told of (new, or lost with a restarted Redis)
        lets one request go and returns None for it; the other senders get its
        ``probe_until`` and wait for the answer, which tells what is left with
        no request of this install in flight. Once the reset has passed, the
        new window is counted down from the limit until an answer tells its
        reset: every request sent holds a place, so requests still in flight
        stay counted (see :func:`merge_observed`).
        """
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None or budget.probe_until is not None:
                if budget is not None and budget.probe_until > now:
                    return Budget(probe_until=budget.probe_until)
                self._budgets[key] = Budget(probe_until=now + PROBE_WAIT)
                return None
            seen = Budget(budget.remaining, budget.limit, budget.reset, budget.paused_until)
            if (seen.paused_until or 0) > now:
                pass
            elif budget.reset is not None and budget.reset <= now:
                budget.remaining = budget.limit - 1 if budget.limit else None
                budget.reset = None
            elif budget.remaining is not None and budget.remaining > 0:
                budget.remaining -= 1
            return seen

    def observe(self, key: str, remaining: int | None, limit: int | None, reset: float | None, now: float) -> None:
        with self._lock:
            budget = self._budgets.setdefault(key, Budget())
            budget.limit = limit or budget.limit
            budget.remaining, budget.reset = merge_observed(
                budget.remaining, budget.reset, remaining, reset, now, budget.limit)
            budget.probe_until = None

    def pause(self, key: str, until: float, now: float) -> None:
        with self._lock:
            budget = self._budgets.setdefault(key, Budget())
            budget.paused_until = max(budget.paused_until or 0.0, until)
            budget.remaining = None
            budget.probe_until = None

    def peek(self, key: str) -> Budget | None:
        with self._lock:
            return self._budgets.get(key)

    def clear(self) -> None:
        with self._lock:
            self._budgets.clear()


def merge_observed(
    remaining: int | None, reset: float | None, seen_remaining: int | None, seen_reset: float | None, now: float,
    limit: int | None = None,
) -> tuple[int | None, float | None]:
    """The bucket's (remaining, reset) after an answer announced ``seen_*``.

    Answers to several workers arrive out of order: one announcing a later
    reset opens a new window; one from the same window (resets within
    ``SAME_WINDOW`` seconds, the servers round them) can only lower what is
    left; one from an earlier window is stale and changes nothing. While a
    window's reset is unknown, ``remaining`` counts down from the limit what
    was sent in it (:meth:`LocalBudgets.take`), answered or not, so an answer
    can only lower it too. An answer that announces nothing changes nothing.
    A window that ended with no request taken since is a new window counted
    from its limit, even when the answer is from the old one: a count dropped
    there would let every sender go uncounted until an answer dated the next.

    An answer that opens a new window before this install's count has
    passed the old one's reset (which is known only to the second) tells
    what is left without the requests still in flight: each was taken from
    the old window's count, and the server counts it in the new one. Every
    sender may have one, so a share of the limit (``IN_FLIGHT_SHARE``, at
    least one request) is held back for them. (Run 3 of the scale test, six
    429s in a burst, was read this way: docs/SCALING.md.)
    """
    if seen_remaining is None and seen_reset is None:
        return remaining, reset
    if reset is not None and reset <= now:
        # The window turned with no request taken since (LocalBudgets.take): its count starts at the limit.
        remaining, reset = limit, None
    if seen_reset is None:
        return (seen_remaining if reset is None else _lowest(remaining, seen_remaining)), reset
    if seen_reset <= now:
        return remaining, reset  # its window is over: this one's count stands
    if reset is None:
        return _lowest(remaining, seen_remaining), seen_reset
    if seen_reset > reset + SAME_WINDOW:
        return _held_back(seen_remaining, limit), seen_reset
    if seen_reset < reset - SAME_WINDOW:
        return remaining, reset
    return _lowest(remaining, seen_remaining), max(reset, seen_reset)


def in_flight_reserve(limit: int | None) -> int:
    """Requests held back, in a window an answer opened, for those still in flight."""
    return max(1, math.ceil((limit or 0) * IN_FLIGHT_SHARE))


def _held_back(remaining: int | None, limit: int | None) -> int | None:
    return None if remaining is None else max(0, remaining - in_flight_reserve(limit))


def _spent_before_told(budget: Budget) -> bool:
    """Whether the limit has been taken from a window whose reset no answer has told yet."""
    return budget.reset is None and budget.remaining is not None and budget.remaining <= 0


def _lowest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


class RatePacer:
    """Spaces requests to stay inside each rate-limit bucket, however many workers share it.

    A bucket is a platform host and a client: the connector's token where the
    platform counts per token (Mastodon), else this install's address (a
    Bluesky PDS counts per client address). Its budget lives in ``budgets``:
    this process's (:class:`LocalBudgets`) or every worker's
    (:class:`~relationships.platforms.shared_budget.RedisBudgets`).

    ``before(url)`` takes one request from the budget, sleeping when it is
    low (spreading what is left evenly until the reset) and waiting for the
    reset when it is spent. ``wait_after_429`` pauses the bucket for every
    worker until the reset, and waits for it. Any wait longer than
    ``max_wait`` raises :class:`~relationships.platforms.http.RateLimited`
    instead, so a Celery task can retry with a countdown.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        max_wait: float,
        budgets: LocalBudgets | None = None,
        low_fraction: float = 0.1,
        low_floor: int = 5,
    ):
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait
        self.budgets = budgets if budgets is not None else LocalBudgets()
        self.low_fraction = low_fraction
        self.low_floor = low_floor
        self.slept: float = 0.0

    @staticmethod
    def key(url: str, token: str | None = None) -> str:
        """The bucket of a request: its host, and the client the server counts (a digest, never the token)."""
        parts = urlsplit(url)
        client = "token:" + hashlib.sha256(token.encode()).hexdigest()[:32] if token else "address"
        own = f" {parts.path}" if parts.path in OWN_LIMIT_PATHS else ""
        return f"{parts.scheme}://{parts.netloc}".lower() + " " + client + own

    def before(self, url: str, token: str | None = None) -> None:
        key = self.key(url, token)
        takes = 0
        told_by = None
        while takes < _TAKES:
            now = self._clock()
            budget = self.budgets.take(key, now)
            if budget is None:
                return
            if budget.probe_until is not None and budget.probe_until > now:
                # Another sender's request is finding the bucket out: its answer is awaited.
                self._pause(min(_PROBE_POLL, budget.probe_until - now))
                continue
            if _spent_before_told(budget):
                # Every place of a window that no answer has dated yet is taken: the first
                # answer tells its reset (then wait for it). A host whose answers stopped
                # announcing limits is waited for only a while.
                told_by = told_by if told_by is not None else now + PROBE_WAIT
                if now < told_by:
                    self._pause(min(_PROBE_POLL, told_by - now))
                    continue
                return
            takes += 1
            if budget.paused_until is not None and budget.paused_until > now:
                self._wait_until(budget.paused_until, now)
                continue  # and take a place in the window that follows, as every sender does
            if budget.remaining is None or budget.reset is None or budget.reset <= now:
                return
            if budget.remaining <= 0:
                self._wait_until(budget.reset, now)
                continue
            self._pace(key, budget, now)
            return

    def _pace(self, key: str, budget: Budget, now: float) -> None:
        """Spread a low budget's last requests until a little before the reset.

        The reset is known only to the second, and late rather than early: a
        request paced right up to it could land in the next window, which the
        place it holds here does not count.
        """
        low = max(self.low_floor, (budget.limit or 0) * self.low_fraction)
        if budget.remaining > low:
            return
        delay = max(0.0, budget.reset - _RESET_MARGIN - now) / budget.remaining
        # A delay beyond max_wait would idle the worker: spend the budget
        # instead, and let the empty budget raise RateLimited.
        if delay <= self.max_wait:
            log.debug("pacing %s: %d left, sleeping %.2fs", key, budget.remaining, delay)
            self._pause(delay)

    def observe(self, url: str, response, token: str | None = None) -> None:
        """Read the budget a response announces (not a route's own limit: see OWN_LIMIT_PATHS).

        An answer announcing nothing is still heard: the bucket is no longer unknown.
        """
        key = self.key(url, token)
        headers = response.headers
        remaining = _int(_header(headers, "X-RateLimit-Remaining", "RateLimit-Remaining"))
        reset_value = _header(headers, "X-RateLimit-Reset", "RateLimit-Reset")
        if urlsplit(url).path in OWN_LIMIT_PATHS or (remaining is None and reset_value is None):
            self.budgets.observe(key, None, None, None, self._clock())
            return
        limit = _int(_header(headers, "X-RateLimit-Limit", "RateLimit-Limit"))
        self.budgets.observe(key, remaining, limit, self._local_reset(reset_value, headers), self._clock())

    def wait_after_429(self, url: str, response, token: str | None = None) -> None:
        """Pause the bucket for everyone until the refused request may be sent again; sleep until then, or raise RateLimited."""
        key = self.key(url, token)
        now = self._clock()
        budget = self.budgets.peek(key)
        reset = budget.reset if budget and budget.reset and budget.reset > now else None
        if reset is None:
            retry_after = _header(response.headers, "Retry-After")
            reset = self._local_reset(retry_after, response.headers, delta_only=True) if retry_after else None
        if reset is None or reset <= now:
            reset = now + _UNKNOWN_RESET_WAIT
        self.budgets.pause(key, reset + _RESET_MARGIN, now)
        self._wait_until(reset + _RESET_MARGIN, now)

    def reset_at(self, url: str, token: str | None = None) -> dt.datetime:
        budget = self.budgets.peek(self.key(url, token))
        known = [t for t in (budget.reset, budget.paused_until) if t] if budget else []
        reset = max(known) if known else self._clock() + _UNKNOWN_RESET_WAIT
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
