"""Mastodon: the whole list of accounts the user follows (``GET /api/v1/accounts/:id/following``).

The list pages by the ids of follow rows, which the Account entities do not
show, so the only way on is the ``Link: rel="next"`` header (PLATFORMS.md
1.5); its URL must stay on the user's server, as every Link the connector
follows. 80 accounts a page, Mastodon's maximum.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from relationships.platforms.errors import MalformedResponse
from relationships.platforms.mastodon import classify as mc
from relationships.platforms.records import MASTODON, FollowingListRecord, FollowRecord, Record

if TYPE_CHECKING:
    from relationships.platforms.mastodon.connector import MastodonConnector

PAGE = 80


def following(c: MastodonConnector) -> Iterator[Record]:
    """See :meth:`~relationships.platforms.base.Connector.following`."""
    url: str | None = f"{c.base_url}/api/v1/accounts/{c.ctx.me_id}/following"
    params: dict | None = {"limit": str(PAGE)}
    ids: set[str] = set()
    handles: set[str] = set()
    asked: set[str] = set()
    while url:
        asked.add(url)
        accounts, links = c._page(url, params)
        for account in accounts:
            record = mc.identity(account, c.local_domain)
            ids.add(record.external_id)
            if record.handle:
                handles.add(record.handle.lower())
            yield record
            yield FollowRecord(platform=MASTODON, identity_id=record.external_id, i_follow=True)
        url, params = (links.next_url if accounts else None), None
        if url in asked:
            raise MalformedResponse("the list of accounts you follow pages back to a page already read")
    yield FollowingListRecord(MASTODON, frozenset(ids), frozenset(handles))
