"""Bluesky: curated lists and known followers.

What :class:`~relationships.platforms.bluesky.connector.BlueskyConnector`
does beyond syncing and following, one function per connector method, each
taking the connector.

A curated list is an ``app.bsky.graph.list`` record (``purpose``
``app.bsky.graph.defs#curatelist``) in the user's repository; a member is an
``app.bsky.graph.listitem`` record naming the list and the DID. Following is
not needed. The user's lists and list items are read from the repository
itself (``listRecords``), which is current at once, where the AppView
(``getLists``, ``getList``) indexes a write a moment later. Moderation lists
(mute or block lists) are never offered: adding someone there is not
following on purpose.

Bluesky has no private notes on accounts (``supports_notes`` stays False).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from atproto import AtUri, models

from relationships.platforms.base import FAILED, LISTED, ListOutcome, PlatformList
from relationships.platforms.bluesky import classify as bc
from relationships.platforms.errors import AuthError, PlatformError
from relationships.platforms.records import IdentityRecord

if TYPE_CHECKING:
    from relationships.platforms.bluesky.connector import BlueskyConnector

LIST = "app.bsky.graph.list"
LISTITEM = "app.bsky.graph.listitem"
CURATELIST = "app.bsky.graph.defs#curatelist"
#: The lexicon's maxGraphemes for a list name (counted here in code points, a little stricter).
NAME_LIMIT = 64
_PAGE = 100
#: How many pages of the user's list items are searched for one already written.
_ITEM_PAGES = 20
NOT_FOUND = "This Bluesky account could not be found."


def _records(c: BlueskyConnector, collection: str, pages: int) -> Iterator[dict]:
    """The user's records of ``collection``, newest first, at most ``pages`` pages."""
    cursor = None
    for _ in range(pages):
        page = bc.dump(c._call(lambda: c._client.com.atproto.repo.list_records(
            params={"repo": c.me, "collection": collection, "limit": _PAGE, "cursor": cursor})))
        yield from page.get("records") or ()
        cursor = page.get("cursor")
        if not cursor or not page.get("records"):
            return


def lists(c: BlueskyConnector) -> list[PlatformList]:
    return [
        PlatformList(id=str(r["uri"]), name=str(r["value"].get("name") or ""))
        for r in _records(c, LIST, pages=10)
        if (r.get("value") or {}).get("purpose") == CURATELIST
    ]


def create_list(c: BlueskyConnector, name: str) -> PlatformList:
    """The curated list ``name``; an existing curated list of that name (any case) is reused.

    There is no ``exclusive``: a Bluesky list is a feed of its own and hides
    nothing from the home feed, so :attr:`PlatformList.exclusive` is False.
    """
    name = " ".join(name.split())
    if not name:
        raise PlatformError("A list needs a name.", permanent=True)
    if len(name) > NAME_LIMIT:
        raise PlatformError(f"Bluesky list names are at most {NAME_LIMIT} characters.", permanent=True)
    for existing in lists(c):
        if existing.name.casefold() == name.casefold():
            return existing
    record = models.AppBskyGraphList.Record(name=name, purpose=CURATELIST, created_at=c._client.get_current_time_iso())
    created = c._call(lambda: c._client.app.bsky.graph.list.create(c.me, record))
    return PlatformList(id=str(created.uri), name=name)


def _own_list(c: BlueskyConnector, list_uri: str) -> AtUri:
    try:
        at_uri = AtUri.from_str(list_uri)
    except Exception as e:  # the SDK raises its own errors for a malformed URI
        raise PlatformError(f"Not a Bluesky list: {list_uri[:200]}", permanent=True) from e
    if at_uri.host != c.me or at_uri.collection != LIST:
        raise PlatformError("This list is not one of the connected Bluesky account's.", permanent=True)
    return at_uri


def add_to_list(c: BlueskyConnector, list_uri: str, did: str) -> ListOutcome:
    _own_list(c, list_uri)
    try:
        profile = bc.dump(c._call(lambda: c._client.get_profile(did)))
    except PlatformError as e:
        # The AppView answers 400 "Profile not found" for an unknown actor.
        if isinstance(e, AuthError) or not e.permanent:
            raise
        return ListOutcome(FAILED, NOT_FOUND)
    did = str(profile["did"])
    if did == c.me:
        return ListOutcome(FAILED, "This is your own account.")
    if not any(r["value"].get("purpose") == CURATELIST and r["uri"] == list_uri for r in _records(c, LIST, pages=10)):
        return ListOutcome(FAILED, "This list is not in your Bluesky account any more.")
    # createRecord is not idempotent: a second click would write a second item.
    for item in _records(c, LISTITEM, pages=_ITEM_PAGES):
        value = item.get("value") or {}
        if value.get("list") == list_uri and value.get("subject") == did:
            return ListOutcome(LISTED, "Already in this list.", str(item["uri"]))
    record = models.AppBskyGraphListitem.Record(list=list_uri, subject=did, created_at=c._client.get_current_time_iso())
    created = c._call(lambda: c._client.app.bsky.graph.listitem.create(c.me, record))
    return ListOutcome(LISTED, "Listed.", str(created.uri))


def remove_from_list(
    c: BlueskyConnector, list_uri: str, did: str, handle: str | None = None, item_uri: str | None = None
) -> None:
    """Delete the list item records that put ``did`` in the list (``item_uri`` and any other found).

    Deleting a record that is gone succeeds on the PDS: a second Undo, or a
    list deleted meanwhile, is no error.
    """
    _own_list(c, list_uri)
    uris = {item_uri} if item_uri else set()
    for item in _records(c, LISTITEM, pages=_ITEM_PAGES):
        value = item.get("value") or {}
        if value.get("list") == list_uri and value.get("subject") == did:
            uris.add(str(item["uri"]))
    for uri in sorted(uris):
        at_uri = AtUri.from_str(uri)
        if at_uri.host != c.me or at_uri.collection != LISTITEM:
            raise PlatformError("This list item is not one of the connected Bluesky account's.", permanent=True)
        c._call(lambda at_uri=at_uri: c._client.com.atproto.repo.delete_record(
            data={"repo": c.me, "collection": LISTITEM, "rkey": at_uri.rkey}))


def known_followers(c: BlueskyConnector, did: str, handle: str | None = None) -> list[IdentityRecord]:
    """Accounts the user follows that follow ``did`` (getKnownFollowers: the first 100)."""
    page = bc.dump(c._call(lambda: c._client.app.bsky.graph.get_known_followers(params={"actor": did, "limit": _PAGE})))
    return [bc.identity(p) for p in page.get("followers") or () if isinstance(p, dict) and p.get("did")]
