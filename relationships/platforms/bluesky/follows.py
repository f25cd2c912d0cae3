"""Bluesky: the whole list of accounts the user follows (``app.bsky.graph.getFollows``).

The AppView answers 100 profiles a page at most and a ``cursor`` while
there are more; a page without one is the last. The AppView indexes a
follow a moment after the PDS wrote it, so a follow made seconds ago may
be missing: the sync service never clears an account followed through
Rapport while the list was read (ingest's ``followed_since`` guard).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from relationships.platforms.bluesky import classify as bc
from relationships.platforms.errors import MalformedResponse
from relationships.platforms.records import BLUESKY, FollowingListRecord, FollowRecord, Record

if TYPE_CHECKING:
    from relationships.platforms.bluesky.connector import BlueskyConnector

PAGE = 100


def following(c: BlueskyConnector) -> Iterator[Record]:
    """See :meth:`~relationships.platforms.base.Connector.following`."""
    me = c.me
    ids: set[str] = set()
    handles: set[str] = set()
    cursor: str | None = None
    asked: set[str] = set()
    while True:
        page = bc.dump(c._call(lambda: c._client.app.bsky.graph.get_follows(
            params={"actor": me, "limit": PAGE, "cursor": cursor})))
        for profile in page.get("follows") or ():
            if profile.get("did") == me:
                continue
            record = bc.identity(profile)
            ids.add(record.external_id)
            if record.handle:
                handles.add(record.handle.lower())
            yield record
            yield FollowRecord(platform=BLUESKY, identity_id=record.external_id, i_follow=True)
        cursor = page.get("cursor")
        if not cursor or not page.get("follows"):
            break
        if cursor in asked:
            raise MalformedResponse("the list of accounts you follow pages back to a page already read")
        asked.add(cursor)
    yield FollowingListRecord(BLUESKY, frozenset(ids), frozenset(handles))
