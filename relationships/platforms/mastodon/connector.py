"""Mastodon: OAuth helpers and the live connector.

Streams (each checkpointed under its name):

* ``statuses`` — the user's own posts: outbound replies, mentions, quotes,
  boosts and DMs;
* ``notifications`` — inbound mentions/replies/quotes/DMs, likes, boosts and
  follows, asked for with ``include_filtered=true`` so the user's
  notification policy does not hide people they talk with;
* ``favourites`` — the user's own likes;
* ``conversations`` — DM conversations (their last message).

Cursor of a stream: ``{"head": ID, "next": ID}`` as compact JSON. ``head`` is
the ``min_id`` of the newest page seen (from the ``Link: rel="prev"``
header, because favourites and conversations page by ids the entities do
not show); ``next`` is the ``max_id`` a backfill continues from. A first
sync reads newest-first down to ``backfill_since`` and fixes ``head`` from
its first page; an interrupted backfill continues at ``next``, then reads
forward from ``head``. Later syncs read forward from ``head`` with
``min_id`` (oldest new page first), so each checkpoint only ever moves
``head`` past items already yielded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from relationships.platforms.base import (
    FAILED,
    FOLLOWING,
    REQUESTED,
    Connector,
    FollowOutcome,
    ListOutcome,
    PlatformList,
)
from relationships.platforms.errors import (
    AuthError,
    MalformedResponse,
    NotFound,
    PlatformError,
    RateLimited,
    TransientError,
)
from relationships.platforms.http import PER_TOKEN, USER_AGENT, json_body, raise_for_status
from relationships.platforms.mastodon import classify as mc
from relationships.platforms.mastodon import curation, follows
from relationships.platforms.mastodon.oauth import SCOPES, authorize_url, exchange_code, origin, register_app
from relationships.platforms.records import MASTODON, CheckpointRecord, FollowRecord, IdentityRecord, Record

# The OAuth helpers live in mastodon_oauth; this is where callers look for them.
__all__ = ["SCOPES", "MastodonConnector", "authorize_url", "exchange_code", "register_app"]

_LOOKUP_BATCH = 40


# ---------------------------------------------------------------- cursors


@dataclass
class _LinkCursor:
    head: str | None = None
    next: str | None = None

    def encode(self) -> str:
        data = {k: v for k, v in (("head", self.head), ("next", self.next)) if v}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> _LinkCursor:
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            return cls()
        return cls(head=_str(data.get("head")), next=_str(data.get("next")))


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and str(value) else None


@dataclass
class _Stream:
    name: str
    path: str
    limit: int
    handle: Callable[[list[dict]], Iterable[Record]]
    time_of: Callable[[dict], dt.datetime]
    #: Whether the entities' own ids are the paging ids (not for favourites / conversations).
    entity_ids: bool
    extra: dict[str, str] | None = None


@dataclass
class _Links:
    next_url: str | None = None
    max_id: str | None = None
    prev_url: str | None = None
    min_id: str | None = None


# ---------------------------------------------------------------- errors


@contextmanager
def _translated():
    """Mastodon.py's exceptions as the project's; ours pass through its wrapping."""
    try:
        yield
    except MastodonNetworkError as e:
        # Mastodon.py wraps whatever the session raised: UnsafeURL, RateLimited, TransientError...
        if isinstance(e.__context__, PlatformError):
            raise e.__context__ from None
        raise TransientError(str(e)) from e
    except MastodonUnauthorizedError as e:
        raise AuthError(_api_message(e, "the access token is invalid or revoked"), status=401) from e
    except MastodonNotFoundError as e:
        raise NotFound(_api_message(e, "not found"), status=404) from e
    except MastodonRatelimitError as e:
        # Only if a 429 ever got past the session, which waits or raises on its own.
        raise RateLimited(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)) from e
    except MastodonServerError as e:
        raise TransientError(_api_message(e, "server error"), status=_api_status(e)) from e
    except MastodonAPIError as e:
        status = _api_status(e)
        if status is None:
            raise MalformedResponse(f"unreadable answer: {str(e)[:200]}") from e
        raise PlatformError(_api_message(e, "refused"), status=status, permanent=True) from e
    except MastodonError as e:
        raise PlatformError(str(e)[:300], permanent=True) from e


def _api_status(error: Exception) -> int | None:
    args = getattr(error, "args", ())
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _api_message(error: Exception, default: str) -> str:
    args = getattr(error, "args", ())
    return str(args[3]) if len(args) > 3 and args[3] else default


# ---------------------------------------------------------------- connector


class MastodonConnector(Connector):
    """One Mastodon account. ``credentials``: ``{"access_token": ...}``
    (``client_id`` / ``client_secret`` may ride along and are ignored)."""

    platform = MASTODON
    streams = ("statuses", "notifications", "favourites", "conversations")
    # Mastodon counts authenticated calls per access token (300 per 5 minutes).
    rate_limit_scope = PER_TOKEN

    def __init__(self, base_url: str, credentials: dict[str, Any], **options: Any):
        super().__init__(base_url, credentials, **options)
        token = self.credentials.get("access_token")
        if not token:
            raise AuthError("no Mastodon access token stored")
        self._auth = {"Authorization": f"Bearer {token}"}
        self.local_domain = urlsplit(self.base_url).netloc
        self.api = Mastodon(
            access_token=token,
            api_base_url=self.base_url,
            session=self.http,
            # The session waits for or raises on 429s; Mastodon.py must never sleep by itself.
            ratelimit_method="throw",
            request_timeout=self.http.timeout,
            version_check_mode="none",
            # A stated version stops Mastodon.py from probing /api/v1/instance before some calls.
            mastodon_version="4.3.0",
            user_agent=USER_AGENT,
        )
        self._me: dict | None = None
        self._ctx: mc.MastodonContext | None = None
        self._yielded: dict[str, IdentityRecord] = {}
        self._relationships_done: set[str] = set()

    # -------------------------------------------------------- account

    def verify(self) -> IdentityRecord:
        with _translated():
            me = self.api.account_verify_credentials()
        self._me = dict(me)
        return mc.identity(self._me, self.local_domain, is_self=True)

    @property
    def ctx(self) -> mc.MastodonContext:
        if self._ctx is None:
            if self._me is None:
                self.verify()
            assert self._me is not None
            self._ctx = mc.MastodonContext(me_id=str(self._me["id"]), local_domain=self.local_domain)
            self._ctx.add_account(self._me)
        return self._ctx

    # -------------------------------------------------------- sync

    def fetch(self, cursors: dict[str, str], backfill_since: dt.datetime | None) -> Iterator[Record]:
        me = self.verify() if self._me is None else mc.identity(self._me, self.local_domain, is_self=True)
        yield me
        ctx = self.ctx
        for stream in (
            _Stream("statuses", f"/api/v1/accounts/{ctx.me_id}/statuses", 40, self._statuses_page, mc.created_at, True),
            _Stream("notifications", "/api/v1/notifications", 80, self._notifications_page, mc.created_at, True,
                    {"include_filtered": "true"}),
            _Stream("favourites", "/api/v1/favourites", 40, self._favourites_page, mc.created_at, False),
            _Stream("conversations", "/api/v1/conversations", 40, self._conversations_page, _conversation_time, False),
        ):
            yield from self._read(stream, cursors.get(stream.name), backfill_since)

    def _read(self, stream: _Stream, cursor: str | None, since: dt.datetime | None) -> Iterator[Record]:
        state = _LinkCursor.decode(cursor)
        fresh = state.head is None and state.next is None
        if fresh or state.next:
            yield from self._backfill(stream, state, since)
        if not fresh and state.head:
            yield from self._forward(stream, state)

    def _backfill(self, stream: _Stream, state: _LinkCursor, since: dt.datetime | None) -> Iterator[Record]:
        url, params = self.base_url + stream.path, self._params(stream, max_id=state.next)
        while True:
            items, links = self._page(url, params)
            if state.head is None:
                state.head = links.min_id or (str(items[0]["id"]) if items and stream.entity_ids else None)
            kept = [item for item in items if since is None or stream.time_of(item) >= since]
            yield from self._emit(stream.handle(kept))
            more = bool(links.next_url and items and len(kept) == len(items))
            state.next = (links.max_id or (str(items[-1]["id"]) if stream.entity_ids else None)) if more else None
            yield CheckpointRecord(stream.name, state.encode())
            if not more or not state.next:
                return
            url, params = links.next_url, None

    def _forward(self, stream: _Stream, state: _LinkCursor) -> Iterator[Record]:
        url, params = self.base_url + stream.path, self._params(stream, min_id=state.head)
        while True:
            items, links = self._page(url, params)
            if not items:
                return
            yield from self._emit(stream.handle(items))
            newest = links.min_id or (str(items[0]["id"]) if stream.entity_ids else None)
            if newest is None:
                # Without a cursor to move to, re-reading this page next time beats losing it.
                return
            state.head = newest
            yield CheckpointRecord(stream.name, state.encode())
            # A short page is the end: min_id pages hold the items right after head.
            if len(items) < stream.limit or not links.prev_url:
                return
            url, params = links.prev_url, None

    @staticmethod
    def _params(stream: _Stream, **cursor: str | None) -> dict[str, str]:
        params = {"limit": str(stream.limit), **(stream.extra or {})}
        params.update({k: v for k, v in cursor.items() if v})
        return params

    def _page(self, url: str, params: dict | None) -> tuple[list[dict], _Links]:
        response = self.http.get(url, params=params, headers=self._auth)
        raise_for_status(response)
        items = json_body(response, list)
        if not all(isinstance(i, dict) and i.get("id") is not None for i in items):
            raise MalformedResponse(f"{urlsplit(url).path} answered items without ids")
        return items, self._links(response)

    def _links(self, response) -> _Links:
        links = _Links()
        for rel, (url_attr, id_attr, param) in {"next": ("next_url", "max_id", "max_id"),
                                                "prev": ("prev_url", "min_id", "min_id")}.items():
            url = (response.links.get(rel) or {}).get("url")
            if not url:
                continue
            if origin(url).lower() != self.base_url.lower():
                # Following it would hand the bearer token to another host.
                raise MalformedResponse(f"pagination link points outside {self.base_url}")
            query = parse_qs(urlsplit(url).query)
            # Servers before Mastodon 2.6 (and some forks) page "prev" with since_id.
            value = (query.get(param) or query.get("since_id" if rel == "prev" else param) or [None])[0]
            setattr(links, url_attr, url)
            setattr(links, id_attr, value)
        return links

    def _emit(self, records: Iterable[Record]) -> Iterator[Record]:
        """Pass records on, dropping identities already yielded unchanged this run."""
        for record in records:
            if isinstance(record, IdentityRecord):
                if self._yielded.get(record.external_id) == record:
                    continue
                self._yielded[record.external_id] = record
            yield record

    # -------------------------------------------------------- pages

    def _statuses_page(self, statuses: list[dict]) -> Iterator[Record]:
        self._prepare(statuses)
        records = [r for s in statuses for r in mc.own_status(s, self.ctx)]
        yield from records
        yield from self._relationships(records)

    def _notifications_page(self, notes: list[dict]) -> Iterator[Record]:
        self._prepare([n["status"] for n in notes if isinstance(n.get("status"), dict)])
        for note in notes:
            self.ctx.add_account(note.get("account") or {})
        records = [r for n in notes for r in mc.notification(n, self.ctx)]
        yield from records
        yield from self._relationships(records)

    def _favourites_page(self, statuses: list[dict]) -> Iterator[Record]:
        for status in statuses:
            self.ctx.remember(status)
        records = [r for s in statuses for r in mc.favourite(s, self.ctx)]
        yield from records
        yield from self._relationships(records)

    def _conversations_page(self, conversations: list[dict]) -> Iterator[Record]:
        for conv in conversations:
            self.ctx.remember(conv.get("last_status"))
            for account in conv.get("accounts") or ():
                self.ctx.add_account(account)
        records = [r for c in conversations for r in mc.conversation(c, self.ctx)]
        yield from records
        yield from self._relationships(records)

    def _prepare(self, statuses: list[dict]) -> None:
        """Fetch what classification needs: reply parents, then unknown accounts."""
        ctx = self.ctx
        for status in statuses:
            ctx.remember(status)
        wanted = set().union(*(mc.statuses_to_look_up(s, ctx) for s in statuses)) if statuses else set()
        for status in self._lookup(sorted(wanted), self.api.statuses, self.api.status):
            ctx.remember(status)
        wanted = set().union(*(mc.accounts_to_look_up(s, ctx) for s in statuses)) if statuses else set()
        for account in self._lookup(sorted(wanted), self.api.accounts, self.api.account):
            ctx.add_account(dict(account))

    def _lookup(self, ids: list[str], many: Callable, one: Callable) -> Iterator[dict]:
        """Fetch entities by id in batches; servers before 4.3 lack the batch endpoints."""
        for start in range(0, len(ids), _LOOKUP_BATCH):
            chunk = ids[start : start + _LOOKUP_BATCH]
            try:
                with _translated():
                    yield from (dict(e) for e in many(chunk))
                continue
            except NotFound:
                pass
            for entity_id in chunk:
                try:
                    with _translated():
                        yield dict(one(entity_id))
                except NotFound:
                    continue

    def _relationships(self, records: list[Record]) -> Iterator[FollowRecord]:
        ctx = self.ctx
        ids = []
        for record in records:
            if isinstance(record, IdentityRecord) and not record.is_self:
                local_id = ctx.ids_by_uri.get(record.external_id)
                if local_id and local_id not in self._relationships_done:
                    self._relationships_done.add(local_id)
                    ids.append(local_id)
        for start in range(0, len(ids), _LOOKUP_BATCH):
            with _translated():
                found = self.api.account_relationships(ids[start : start + _LOOKUP_BATCH])
            for rel in found:
                account = ctx.accounts.get(str(rel.get("id")))
                if account:
                    yield mc.relationship(rel, mc.actor_uri(account, self.local_domain)[0])

    # -------------------------------------------------------- follow

    def follow(self, external_id: str, handle: str | None) -> FollowOutcome:
        account = self._resolve(external_id, handle)
        if account is None:
            return FollowOutcome(FAILED, "This account could not be found from your Mastodon server.")
        if str(account.get("id")) == self.ctx.me_id:
            return FollowOutcome(FAILED, "This is your own account.")
        return self._follow_account(account)

    def _follow_account(self, account: dict, **options: Any) -> FollowOutcome:
        """Follow an account found on the user's instance; ``options`` such as ``reblogs=False``."""

        def call():
            with _translated():
                return self.api.account_follow(account["id"], **options)

        try:
            rel = self.http.retry(call)
        except PlatformError as e:
            if e.status in (403, 422):
                return FollowOutcome(FAILED, f"Mastodon refused the follow: {e}")
            raise
        if rel.get("following"):
            return FollowOutcome(FOLLOWING, "Followed.")
        if rel.get("requested"):
            return FollowOutcome(REQUESTED, "This account approves followers by hand: the request is waiting.")
        return FollowOutcome(FAILED, "The server did not confirm the follow.")

    def unfollow(self, external_id: str, handle: str | None, record_uri: str | None = None) -> None:
        # The id in the URL is the account's id on the user's own server, found as follow finds it.
        account = self._resolve(external_id, handle)
        if account is None:
            raise NotFound("This account could not be found from your Mastodon server.")

        def call():
            with _translated():
                return self.api.account_unfollow(account["id"])

        # Mastodon answers 200 also when the user did not follow (or only asked to): repeating is safe.
        try:
            rel = self.http.retry(call)
        except PlatformError as e:
            if e.status == 403 and curation.SCOPE_REFUSED in str(e):
                raise curation.missing_scope("write:follows") from e
            raise
        if rel.get("following") or rel.get("requested"):
            raise PlatformError("The server did not confirm the unfollow.", permanent=False)

    # -------------------------------------------------------- lists, quieter, notes, familiar followers, follows

    supports_notes = supports_quieter = lists_need_follow = True

    def lists(self) -> list[PlatformList]:
        return curation.lists(self)

    def create_list(self, name: str, *, exclusive: bool = False) -> PlatformList:
        return curation.create_list(self, name, exclusive)

    def add_to_list(self, list_id: str, external_id: str, handle: str | None) -> ListOutcome:
        return curation.add_to_list(self, list_id, external_id, handle)

    def remove_from_list(self, list_id: str, external_id: str, handle: str | None, item_uri: str | None = None) -> None:
        curation.remove_from_list(self, list_id, external_id, handle)

    def follow_quietly(self, external_id: str, handle: str | None) -> FollowOutcome:
        return curation.follow_quietly(self, external_id, handle)

    def set_note(self, external_id: str, handle: str | None, text: str) -> None:
        curation.set_note(self, external_id, handle, text)

    def known_followers(self, external_id: str, handle: str | None) -> list[IdentityRecord]:
        return curation.known_followers(self, external_id, handle)

    def following(self) -> Iterator[Record]:
        return follows.following(self)

    def _resolve(self, external_id: str, handle: str | None) -> dict | None:
        """Find the account on the user's own instance, resolving it there if unknown."""
        wanted_handle = (handle or "").lstrip("@").lower()
        for query in dict.fromkeys(q for q in (external_id, wanted_handle) if q):
            with _translated():
                found = self.api.search_v2(query, resolve=True, result_type="accounts")
            for account in found.get("accounts") or ():
                account = dict(account)
                if mc.actor_uri(account, self.local_domain)[0] == external_id:
                    return account
                if wanted_handle and (mc.handle_of(account, self.local_domain) or "").lower() == wanted_handle:
                    return account
        return None


def _conversation_time(conv: dict) -> dt.datetime:
    last = conv.get("last_status")
    if isinstance(last, dict):
        return mc.created_at(last)
    return dt.datetime.max.replace(tzinfo=dt.UTC)
