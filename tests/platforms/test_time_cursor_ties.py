"""Paging a stream whose cursor is a bare time, as the AppView pages listNotifications.

The AppView's next page holds the items strictly older than the cursor (the
time of the page's last item), so items sharing that time beyond a page
boundary are skipped: seen on a real local network (tests/bluesky_network).
"""

from __future__ import annotations

import datetime as dt

from relationships.platforms.cursors import newest_first, past_time_ties, time_key

START = dt.datetime(2026, 8, 1, 12, tzinfo=dt.UTC)


def at(seconds: float) -> str:
    moment = START + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TimeCursorServer:
    def __init__(self, times: list[float]):
        items = [{"id": f"n{n}", "t": at(t)} for n, t in enumerate(times)]
        self.items = sorted(items, key=lambda i: i["t"], reverse=True)
        self.asked: list[str | None] = []

    def fetch(self, limit: int):
        def fetch(cursor):
            self.asked.append(cursor)
            rows = [i for i in self.items if cursor is None or i["t"] < cursor][:limit]
            return rows, (rows[-1]["t"] if rows else None)

        return fetch


def key(item) -> str:
    return time_key(item["t"])


def ident(item) -> str:
    return item["id"]


def read(server: TimeCursorServer, limit: int, cursor: str | None = None, wrap: bool = True):
    fetch = server.fetch(limit)
    if wrap:
        fetch = past_time_ties(fetch, limit=limit, key=key, item_id=ident)
    pages = list(newest_first(fetch, key=key, item_id=ident, cursor=cursor, since_key=None))
    return [i["id"] for p in pages for i in p.items], pages[-1].cursor


def test_plain_paging_skips_items_tied_across_a_page_boundary():
    server = TimeCursorServer([3, 2, 2, 2, 1])
    ids, _ = read(server, limit=2, wrap=False)
    assert len(ids) == 3  # [t3, t2] then strictly below t2: [t1]


def test_items_tied_across_a_page_boundary_are_each_read_once():
    server = TimeCursorServer([5, 4, 2, 2, 2, 1, 0])
    ids, _ = read(server, limit=3)
    assert sorted(ids) == sorted(i["id"] for i in server.items) and len(ids) == len(set(ids))


def test_a_short_last_page_is_not_asked_again():
    server = TimeCursorServer([3, 2, 1])
    read(server, limit=100)
    assert server.asked == [None, at(1)]  # as without the wrapper: the last page, then nothing


def test_a_whole_page_at_one_time_still_ends(caplog):
    server = TimeCursorServer([9] + [5] * 6 + [1])
    ids, _ = read(server, limit=3)
    assert "n0" in ids and "n7" in ids and len(ids) == len(set(ids))
    assert "may be missed" in caplog.text


def test_an_incremental_read_with_nothing_new_makes_one_request():
    server = TimeCursorServer([4, 3, 3, 2, 1])
    _, cursor = read(server, limit=2)
    server.asked.clear()
    ids, _ = read(server, limit=2, cursor=cursor)
    assert ids == [] and len(server.asked) == 1
