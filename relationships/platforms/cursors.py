"""Resumable cursors for streams a server pages newest-first only.

Bluesky's ``listNotifications``, ``getAuthorFeed``, ``getActorLikes`` and
``listConvos`` have an opaque "older" cursor and no "newer than" parameter. A
sync reads a *pass* from the newest item down to a floor: the ``head`` (the
newest item of the last finished pass) or, on the first sync, the backfill
date. The newest item of a pass only becomes the head once the pass has
reached its floor; until then the state keeps the pass's ``top`` and the
server cursor to continue from, so an interrupted pass resumes where it
stopped and then a new pass picks up whatever arrived meanwhile.

State, as stored in ``CheckpointRecord.cursor`` (compact JSON)::

    {"head": {"at": KEY, "ids": [...]}, "top": {...}, "next": "server cursor"}

``at`` is a sortable key (a UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``);
``ids`` are the items sitting exactly at ``at``, so a tie on the key is
neither skipped nor delivered twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Fetch = Callable[[str | None], tuple[list[Any], str | None]]

log = logging.getLogger(__name__)


def time_key(value: str | dt.datetime | None) -> str | None:
    """A time as a fixed-width UTC string, so keys compare as strings."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, dt.datetime) else parse_time(value)
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | dt.datetime | None) -> dt.datetime | None:
    """Parse an ISO-8601 time (``Z`` or offset, any fraction) to an aware UTC datetime."""
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # fromisoformat wants 0, 3 or 6 fraction digits before 3.11's relaxations; be explicit.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tail = rest[len(digits):]
        text = f"{head}.{(digits + '000000')[:6]}{tail}"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Mark:
    """A position in a newest-first stream: a key and the item ids exactly at it."""

    at: str
    ids: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"at": self.at, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, data: Any) -> Mark | None:
        if not isinstance(data, dict) or not isinstance(data.get("at"), str):
            return None
        return cls(data["at"], tuple(str(i) for i in data.get("ids") or ()))


@dataclass
class PassState:
    """Where a newest-first stream stands; see the module docstring."""

    head: Mark | None = None
    top: Mark | None = None
    next: str | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {}
        if self.head:
            data["head"] = self.head.to_json()
        if self.top:
            data["top"] = self.top.to_json()
            data["next"] = self.next
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> PassState:
        """Parse a stored state; anything unreadable starts the stream afresh."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        state = cls(head=Mark.from_json(data.get("head")), top=Mark.from_json(data.get("top")))
        if state.top is not None:
            state.next = data.get("next") if isinstance(data.get("next"), str) else None
            if state.next is None:
                state.top = None
        return state


@dataclass
class Page:
    """New items of one server page (newest first) and the state to store after handling them."""

    items: list[Any]
    cursor: str
    floor: str | None = field(default=None)


def newest_first(
    fetch: Fetch,
    *,
    key: Callable[[Any], str],
    item_id: Callable[[Any], str],
    cursor: str | None,
    since_key: str | None,
) -> Iterator[Page]:
    """Read what is new in a newest-first stream, one server page at a time.

    ``fetch(server_cursor)`` returns a page of items, newest first, and the
    cursor of the next (older) page or None. Each yielded :class:`Page` holds
    the items not delivered before; store ``page.cursor`` only after they are
    handled. With nothing new this makes exactly one request.
    """
    state = PassState.decode(cursor)
    if state.top is not None:
        yield from _read_pass(fetch, state, state.next, key, item_id, since_key)
    yield from _read_pass(fetch, state, None, key, item_id, since_key)


def _read_pass(fetch: Fetch, state: PassState, start: str | None, key, item_id, since_key) -> Iterator[Page]:
    floor = state.head
    floor_key = floor.at if floor else since_key
    new_pass = start is None
    server_cursor = start
    while True:
        items, next_cursor = fetch(server_cursor)
        fresh, reached = _above_floor(items, floor, since_key, key, item_id)
        if new_pass:
            new_pass = False
            if fresh:
                state.top = _top_mark(fresh, floor, key, item_id)
        done = reached or not items or not next_cursor
        if done:
            if state.top is not None:
                state.head = state.top
            state.top, state.next = None, None
        else:
            state.next = next_cursor
        yield Page(fresh, state.encode(), floor_key)
        if done:
            return
        server_cursor = next_cursor


def _above_floor(items: list[Any], floor: Mark | None, since_key, key, item_id) -> tuple[list[Any], bool]:
    """The items of a page above the floor, and whether the page reached it."""
    fresh = []
    for item in items:
        item_key, ident = key(item), item_id(item)
        if floor is not None:
            if item_key < floor.at:
                return fresh, True
            if item_key == floor.at and ident in floor.ids:
                continue
        elif since_key is not None and item_key < since_key:
            return fresh, True
        fresh.append(item)
    return fresh, False


def _top_mark(fresh: list[Any], floor: Mark | None, key, item_id) -> Mark:
    """The newest key of a new pass and every item at it (those of the floor at the same key too)."""
    top_at = key(fresh[0])
    ids = [item_id(i) for i in fresh if key(i) == top_at]
    if floor is not None and floor.at == top_at:
        ids.extend(floor.ids)
    return Mark(top_at, tuple(dict.fromkeys(ids)))


def past_time_ties(fetch: Fetch, *, limit: int, key: Callable[[Any], str], item_id: Callable[[Any], str]) -> Fetch:
    """Wrap a ``fetch`` whose server cursor is the bare sort time of the page's last item.

    The AppView pages ``listNotifications`` that way and asks the next page
    for items strictly older than the cursor, so items sharing the last
    item's time beyond the page boundary are never returned (measured on a
    real network: 100 of 103 notifications came back). When the cursor is
    that time, the next page is asked from one millisecond later instead, so
    it starts with every item at that time; the ones this page already had
    are dropped. A page shorter than ``limit`` was the last one: nothing lies
    beyond it. Should a whole page sit at one time (more items tied than a
    page holds), the server cannot page through them: the plain cursor is
    used, so the stream still ends.
    """
    previous: dict[str, Any] = {"asked": None, "at": None, "ids": frozenset()}

    def step(cursor: str | None) -> tuple[list[Any], list[Any], str | None]:
        raw, next_cursor = fetch(cursor)
        items = raw
        if cursor is not None and cursor == previous["asked"]:
            items = [i for i in raw if not (key(i) == previous["at"] and item_id(i) in previous["ids"])]
        moment = parse_time(next_cursor) if next_cursor else None
        last = key(raw[-1]) if raw else None
        if moment is None or last is None or len(raw) < limit or time_key(moment) != last:
            previous.update(asked=None, at=None, ids=frozenset())
            return raw, items, next_cursor
        later = (moment + dt.timedelta(milliseconds=1)).astimezone(dt.UTC)
        asked = later.strftime("%Y-%m-%dT%H:%M:%S.") + f"{later.microsecond // 1000:03d}Z"
        if asked == cursor:
            log.warning("a whole page shares the time %s: items beyond it at that time may be missed", last)
            previous.update(asked=None, at=None, ids=frozenset())
            return raw, items, next_cursor
        tied = {item_id(i) for i in raw if key(i) == last}
        if previous["at"] == last:
            tied |= previous["ids"]
        previous.update(asked=asked, at=last, ids=frozenset(tied))
        return raw, items, asked

    def wrapped(cursor: str | None) -> tuple[list[Any], str | None]:
        while True:
            raw, items, next_cursor = step(cursor)
            # A page of nothing but repeats would read as the end of the stream: read on.
            if items or not raw or not next_cursor:
                return items, next_cursor
            cursor = next_cursor

    return wrapped
