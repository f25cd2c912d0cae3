"""Bluesky: the live connector, on the atproto SDK.

Credentials: ``{"handle", "app_password", "session"}``. The app password is
used once, to create a session (``createSession`` is limited to 30 per
5 minutes and 300 a day per account); the exported session string is what
later syncs reuse, and :attr:`BlueskyConnector.updated_credentials` hands
back a new one whenever the SDK created or refreshed it (refresh tokens
rotate: the old string stops working). An expired access token (400
``ExpiredToken``) is refreshed once. A refused refresh most often means
another process (a sync, a follow) refreshed first: the session it stored
(:attr:`~relationships.platforms.base.Connector.stored_credentials`) is
taken. Only when the refresh token is gone is a session created again, with
the app password, once; without one,
:class:`~relationships.platforms.errors.AuthError` is raised.

Streams (checkpointed under their names; cursor semantics in
:mod:`relationships.platforms.cursors`): ``notifications``
(listNotifications), ``posts`` (the user's author feed: outbound replies,
mentions, quotes, reposts), ``likes`` (getActorLikes) and ``chats``
(chat.bsky.convo, which needs an app password allowed to use chat).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from atproto import AtUri, Client, SessionEvent, models
from atproto_client import exceptions as at_exc
from atproto_client.client.session import Session
from atproto_core.exceptions import AtProtocolError
from atproto_server.exceptions import InvalidTokenError

from relationships.platforms.base import FAILED, FOLLOWING, Connector, FollowOutcome, ListOutcome, PlatformList
from relationships.platforms.bluesky import classify as bc
from relationships.platforms.bluesky import curation, follows
from relationships.platforms.bluesky.atproto_bridge import SessionRequest
from relationships.platforms.cursors import Page, newest_first, past_time_ties, time_key
from relationships.platforms.errors import AuthError, MalformedResponse, NotFound, PlatformError, TransientError
from relationships.platforms.records import BLUESKY, CheckpointRecord, IdentityRecord, Record, SkipRecord

DEFAULT_BASE_URL = "https://bsky.social"
_PAGE = 100
_PROFILES_BATCH = 25
_FOLLOW = "app.bsky.graph.follow"
_SESSION_ERRORS = {"ExpiredToken", "InvalidToken", "AuthenticationRequired"}


class _SessionExpired(AuthError):
    """The access token was refused; a refresh may fix it."""


class _ChatRefused(PlatformError):
    """The chat service refused this app password."""


class BlueskyConnector(Connector):
    """One Bluesky account, reached through its PDS (``base_url``, default bsky.social)."""

    platform = BLUESKY
    streams = ("notifications", "posts", "likes", "chats")

    def __init__(self, base_url: str | None, credentials: dict[str, Any], **options: Any):
        super().__init__(base_url or DEFAULT_BASE_URL, credentials, **options)
        self._client = Client(base_url=self.base_url, request=SessionRequest(self.http))
        self._client.on_session_change(self._session_changed)
        self._session: str | None = None
        self._changed = False
        self._logged_in = False
        self._created = False
        self._me: str | None = None
        self._profiles: dict[str, dict] = {}
        self._yielded: dict[str, IdentityRecord] = {}
        self._follow_done: set[str] = set()

    # -------------------------------------------------------- session

    @property
    def updated_credentials(self) -> dict[str, Any] | None:
        if not self._changed or not self._session:
            return None
        return {**self.credentials, "session": self._session}

    def _session_changed(self, event: SessionEvent, session: Session) -> None:
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._remember(session)

    def _remember(self, session: Session) -> None:
        self._session = session.export()
        self._me = session.did
        self._changed = True

    def _login(self) -> None:
        if self._logged_in:
            return
        stored = self.credentials.get("session")
        session = None
        if stored:
            try:
                session = Session.decode(stored)
            except ValueError:
                session = None
        if session is None:
            self._create_session()
        else:
            # The PDS comes from a DID document: check it before the SDK uses it.
            session.pds_endpoint = self.http.validate_base_url(session.pds_endpoint or self.base_url)
            with self._sdk():
                self._client.login(session_string=session.export(), fetch_bsky_profile=False)
            self._session, self._me = session.export(), session.did
        self._logged_in = True

    def _create_session(self) -> None:
        handle, password = self.credentials.get("handle"), self.credentials.get("app_password")
        if not handle or not password:
            raise AuthError("no Bluesky session or app password stored; reconnect the account")
        self._created = True
        try:
            with self._sdk():
                self._client.login(handle, password, fetch_bsky_profile=False)
        except PlatformError as e:
            if isinstance(e, AuthError) or (e.permanent and e.status in (400, 401, 403)):
                raise AuthError(f"Bluesky refused the handle and app password: {e}") from e
            raise
        session = Session.decode(self._client.export_session_string())
        try:
            checked = self.http.validate_base_url(session.pds_endpoint or self.base_url)
        except PlatformError:
            # Never hand back a session that points at a PDS we refuse to contact.
            self._session, self._changed = None, False
            raise
        if checked != session.pds_endpoint:
            session.pds_endpoint = checked
            self._client.login(session_string=session.export(), fetch_bsky_profile=False)
            self._remember(session)

    def _refresh(self) -> None:
        """Refresh the session once; a refused refresh takes a newer stored session, or
        when there is none (the refresh token is gone) falls back to the app password, once."""
        problem: Exception | None = None
        current = None
        try:
            current = Session.decode(self._client.export_session_string())
            with self._sdk():
                fresh = self._client.com.atproto.server.refresh_session(
                    headers={"Authorization": f"Bearer {current.refresh_jwt}"}, ignore_session_check=True
                )
        except (AuthError, at_exc.LoginRequiredError, ValueError) as e:
            problem = e
        else:
            renewed = Session(fresh.handle, fresh.did, fresh.access_jwt, fresh.refresh_jwt, current.pds_endpoint)
            self._client.login(session_string=renewed.export(), fetch_bsky_profile=False)
            self._remember(renewed)
            return
        if self._adopt_stored_session(current):
            return
        if self.credentials.get("app_password") and not self._created:
            self._create_session()
            return
        raise AuthError(f"the Bluesky session expired and could not be refreshed: {problem}") from problem

    def _adopt_stored_session(self, refused: Session | None) -> bool:
        """Log in with the session stored since this connector read its own, if there is a newer one."""
        if self.stored_credentials is None:
            return False
        try:
            stored = Session.decode((self.stored_credentials() or {}).get("session") or "")
        except Exception:  # unreadable, missing, or not to be had: there is no newer session to take
            return False
        if refused is not None and stored.refresh_jwt == refused.refresh_jwt:
            return False
        stored.pds_endpoint = self.http.validate_base_url(stored.pds_endpoint or self.base_url)
        with self._sdk():
            self._client.login(session_string=stored.export(), fetch_bsky_profile=False)
        self._session, self._me = stored.export(), stored.did
        return True

    @contextmanager
    def _sdk(self, chat: bool = False):
        """The SDK's exceptions as the project's."""
        try:
            yield
        except PlatformError:
            raise
        except (at_exc.BadRequestError, at_exc.UnauthorizedError) as e:
            error = getattr(getattr(e.response, "content", None), "error", None)
            message = getattr(getattr(e.response, "content", None), "message", None) or ""
            # A non-privileged app password gets 400 InvalidToken "Bad token method" from chat.
            if chat and (isinstance(e, at_exc.UnauthorizedError) or error in ("InvalidToken", "AuthenticationRequired")):
                raise _ChatRefused(f"{error}: {message}") from e
            if isinstance(e, at_exc.UnauthorizedError) or error in _SESSION_ERRORS:
                raise _SessionExpired(f"{error or 'Unauthorized'}: {message}", status=e.response.status_code) from e
            raise PlatformError(f"{error}: {message}", status=400, permanent=True) from e
        except at_exc.RequestException as e:
            status = e.response.status_code if e.response else None
            if status == 404:
                raise NotFound("not found", status=404) from e
            raise PlatformError(f"Bluesky answered {status}", status=status, permanent=True) from e
        except at_exc.NetworkError as e:
            raise TransientError(f"Bluesky network error: {e}") from e
        except at_exc.ModelError as e:
            raise MalformedResponse(f"unexpected Bluesky answer: {str(e)[:200]}") from e
        except (at_exc.LoginRequiredError, InvalidTokenError) as e:
            # The stored access token is missing or unreadable: a refresh may still work.
            raise _SessionExpired(f"Bluesky session unusable: {e}") from e
        except AtProtocolError as e:
            raise PlatformError(f"Bluesky error: {str(e)[:200]}", permanent=True) from e

    def _call(self, fn: Callable[[], Any], chat: bool = False) -> Any:
        """Call the SDK, refreshing the session once if the access token is refused."""
        self._login()
        try:
            with self._sdk(chat):
                return fn()
        except _SessionExpired:
            self._refresh()
        try:
            with self._sdk(chat):
                return fn()
        except _SessionExpired as e:
            raise AuthError(f"Bluesky still refuses the refreshed session: {e}") from e

    @property
    def me(self) -> str:
        self._login()
        assert self._me is not None
        return self._me

    # -------------------------------------------------------- account

    def verify(self) -> IdentityRecord:
        try:
            profile = bc.dump(self._call(lambda: self._client.get_profile(self.me)))
        except PlatformError as e:
            # 400 "Profile not found": the AppView has not indexed the account yet (created a
            # moment ago, or on a PDS it has not crawled). The session says who it is.
            if isinstance(e, AuthError) or not e.permanent or e.status != 400:
                raise
            session = Session.decode(self._client.export_session_string())
            return bc.identity({"did": self.me, "handle": session.handle}, is_self=True)
        self._profiles[self.me] = profile
        return bc.identity(profile, is_self=True)

    # -------------------------------------------------------- sync

    def fetch(self, cursors: dict[str, str], backfill_since: dt.datetime | None) -> Iterator[Record]:
        yield self.verify()
        since = time_key(backfill_since)
        me = self.me

        def notifications(cursor):
            page = bc.dump(self._call(lambda: self._client.app.bsky.notification.list_notifications(
                params={"limit": _PAGE, "cursor": cursor})))
            return page.get("notifications") or [], page.get("cursor")

        def notification_id(note):
            return f"{note.get('uri')}#{note.get('reason')}"

        def posts(cursor):
            page = bc.dump(self._call(lambda: self._client.get_author_feed(
                me, cursor=cursor, filter="posts_with_replies", limit=_PAGE)))
            return page.get("feed") or [], page.get("cursor")

        def likes(cursor):
            page = bc.dump(self._call(lambda: self._client.app.bsky.feed.get_actor_likes(
                params={"actor": me, "limit": _PAGE, "cursor": cursor})))
            return page.get("feed") or [], page.get("cursor")

        # The notification cursor is a bare sort time: see cursors.past_time_ties.
        notifications = past_time_ties(notifications, limit=_PAGE, key=_notification_key, item_id=notification_id)
        yield from self._stream("notifications", notifications, _notification_key, notification_id,
                                cursors, since, lambda n: bc.notification(n, me))
        yield from self._stream("posts", posts, _feed_key, _feed_id, cursors, since, lambda i: bc.own_feed_item(i, me))
        yield from self._stream("likes", likes, bc.like_key,
                                lambda i: str(((i.get("post") or {}).get("viewer") or {}).get("like") or ""),
                                cursors, since, lambda i: bc.liked_item(i, me))
        yield from self._chats(cursors, since)

    def _stream(self, name, fetch, key, item_id, cursors, since, classify) -> Iterator[Record]:
        for page in newest_first(fetch, key=key, item_id=item_id, cursor=cursors.get(name), since_key=since):
            yield from self._page_records(page.items, classify)
            yield CheckpointRecord(name, page.cursor)

    def _page_records(self, items: Iterable[dict], classify) -> Iterator[Record]:
        records: list[Record] = []
        for item in items:
            found, views = classify(item)
            records.extend(found)
            for did, view in views.items():
                if did and (did not in self._profiles or "viewer" not in self._profiles[did]):
                    self._profiles[did] = view
        people = list(dict.fromkeys(r.identity_id for r in records if hasattr(r, "identity_id")))
        self._load_profiles([d for d in people if "viewer" not in self._profiles.get(d, {})])
        for did in people:
            profile = self._profiles.get(did) or {"did": did}
            yield from self._emit_identity(bc.identity(profile))
        yield from records
        for did in people:
            state = bc.follow_state(self._profiles.get(did) or {"did": did})
            if state is not None and did not in self._follow_done:
                self._follow_done.add(did)
                yield state

    def _load_profiles(self, dids: list[str]) -> None:
        for start in range(0, len(dids), _PROFILES_BATCH):
            chunk = dids[start : start + _PROFILES_BATCH]
            found = bc.dump(self._call(lambda: self._client.get_profiles(chunk)))
            for profile in found.get("profiles") or ():
                self._profiles[str(profile["did"])] = profile

    def _emit_identity(self, record: IdentityRecord) -> Iterator[IdentityRecord]:
        if self._yielded.get(record.external_id) != record:
            self._yielded[record.external_id] = record
            yield record

    def _chats(self, cursors: dict[str, str], since: str | None) -> Iterator[Record]:
        chat = self._client.with_bsky_chat_proxy()
        me = self.me

        def convos(cursor):
            page = bc.dump(self._call(lambda: chat.chat.bsky.convo.list_convos(
                params={"limit": _PAGE, "cursor": cursor}), chat=True))
            return page.get("convos") or [], page.get("cursor")

        def messages(convo_id: str, floor: str | None) -> Iterator[dict]:
            cursor = None
            while True:
                page = bc.dump(self._call(lambda: chat.chat.bsky.convo.get_messages(
                    params={"convoId": convo_id, "limit": _PAGE, "cursor": cursor}), chat=True))
                for msg in page.get("messages") or ():
                    if floor is not None and (time_key(msg.get("sentAt")) or "") <= floor:
                        return
                    yield msg
                cursor = page.get("cursor")
                if not cursor or not page.get("messages"):
                    return

        pages = newest_first(convos, key=_convo_key, item_id=_convo_id, cursor=cursors.get("chats"), since_key=since)
        try:
            for page in pages:
                yield from self._convo_page(page, me, messages)
                yield CheckpointRecord("chats", page.cursor)
        except _ChatRefused as e:
            yield SkipRecord(bc.CHAT_NOT_ALLOWED, str(e))
        except PlatformError as e:
            # A PDS without a chat service behind it (self-hosted, test networks): the reference
            # PDS answers 400 "could not resolve proxy did[ service url]" when the chat service's
            # DID document cannot be had or names no chat endpoint.
            if e.status in (404, 501) or (e.status == 400 and "could not resolve proxy did" in str(e)):
                yield SkipRecord("Bluesky chat is not available on this server", str(e))
            elif isinstance(e, TransientError):
                # Direct messages are one optional stream: a chat service that keeps failing (a
                # PDS that cannot reach one answers 500 to every proxied chat call) must not fail
                # the whole sync, retried forever. The chat cursor stays: the next sync reads on.
                yield SkipRecord(bc.CHAT_UNREACHABLE, str(e))
            else:
                raise

    def _convo_page(self, page: Page, me: str, messages) -> Iterator[Record]:
        items = [(msg, convo) for convo in page.items for msg in messages(str(convo["id"]), page.floor)]
        yield from self._page_records(items, lambda pair: bc.message(pair[0], pair[1], me))

    # -------------------------------------------------------- follow

    def follow(self, external_id: str, handle: str | None) -> FollowOutcome:
        try:
            profile = bc.dump(self._call(lambda: self._client.get_profile(external_id)))
        except PlatformError as e:
            # The AppView answers 400 "Profile not found" for an unknown actor.
            if isinstance(e, AuthError) or not e.permanent:
                raise
            return FollowOutcome(FAILED, "This Bluesky account could not be found.")
        if str(profile.get("did")) == self.me:
            return FollowOutcome(FAILED, "This is your own account.")
        viewer = profile.get("viewer") or {}
        # createRecord is not idempotent: a second follow record would be written. The AppView
        # lags behind an unfollow (Undo) too: its viewer.following may name a deleted record.
        if viewer.get("following") and self._follow_record_exists(str(viewer["following"])):
            return FollowOutcome(FOLLOWING, "Already following.", str(viewer["following"]))
        if viewer.get("blocking") or viewer.get("blockedBy"):
            return FollowOutcome(FAILED, "One of you blocks the other on Bluesky.")
        written = self._recent_follow_record(str(profile["did"]))
        if written:
            return FollowOutcome(FOLLOWING, "Already following.", written)
        record = models.AppBskyGraphFollow.Record(subject=str(profile["did"]), created_at=self._client.get_current_time_iso())
        created = self._call(lambda: self._client.app.bsky.graph.follow.create(self.me, record))
        return FollowOutcome(FOLLOWING, "Followed.", str(created.uri))

    def unfollow(self, external_id: str, handle: str | None, record_uri: str | None = None) -> None:
        # The recorded URI may be stale (a second follow record replaced it, see
        # _recent_follow_record) and the AppView's viewer.following lags behind
        # writes: the repository's newest page is asked as well.
        uris = [u for u in dict.fromkeys((record_uri, self._recent_follow_record(external_id))) if u]
        if not uris:
            # A follow older than the newest page: the AppView knows its record.
            try:
                profile = bc.dump(self._call(lambda: self._client.get_profile(external_id)))
            except PlatformError as e:
                if isinstance(e, AuthError) or not e.permanent:
                    raise
                return  # no such account any more: nothing is followed
            following = (profile.get("viewer") or {}).get("following")
            uris = [str(following)] if following else []
        for uri in uris:
            self._delete_follow(uri)

    def _delete_follow(self, uri: str) -> None:
        """Delete one follow record of the user's repo; deleting a record that is gone already succeeds."""
        at_uri = _follow_uri(uri, self.me)
        self._call(lambda: self._client.com.atproto.repo.delete_record(
            data={"repo": self.me, "collection": _FOLLOW, "rkey": at_uri.rkey}))

    def _follow_record_exists(self, uri: str) -> bool:
        """Whether the user's repository still holds the record ``uri``."""
        at_uri = _follow_uri(uri, self.me)
        try:
            self._call(lambda: self._client.com.atproto.repo.get_record(
                params={"repo": self.me, "collection": _FOLLOW, "rkey": at_uri.rkey}))
        except PlatformError as e:
            if e.status == 400 and "RecordNotFound" in str(e):
                return False
            raise
        return True

    def _recent_follow_record(self, subject: str) -> str | None:
        """The URI of a follow of ``subject`` among the user's newest follow records, if any.

        ``viewer.following`` comes from the AppView, which indexes a follow a
        moment after the PDS wrote it: a second click within that moment sees
        no follow and would write another record (the reference PDS then
        replaces the first one, so the URI Rapport recorded points at nothing).
        The repository itself is up to date; its newest page (listRecords is
        newest first) holds any follow written that recently.
        """
        page = bc.dump(self._call(lambda: self._client.com.atproto.repo.list_records(
            params={"repo": self.me, "collection": _FOLLOW, "limit": _PAGE})))
        for item in page.get("records") or ():
            if (item.get("value") or {}).get("subject") == subject:
                return str(item["uri"])
        return None

    # -------------------------------------------------------- lists, known followers, follows
    # curation's and follows' functions take the connector first: assigned here, they are its methods.
    lists = curation.lists
    remove_from_list = curation.remove_from_list
    known_followers = curation.known_followers
    following = follows.following

    def create_list(self, name: str, *, exclusive: bool = False) -> PlatformList:
        return curation.create_list(self, name)

    def add_to_list(self, list_id: str, external_id: str, handle: str | None) -> ListOutcome:
        return curation.add_to_list(self, list_id, external_id)


def _follow_uri(uri: str, me: str) -> AtUri:
    """``uri`` parsed, if it names a follow record in ``me``'s repository; else a permanent PlatformError."""
    try:
        at_uri = AtUri.from_str(uri)
    except Exception as e:  # the SDK raises its own errors for a malformed URI
        raise MalformedResponse(f"not a follow record URI: {uri[:200]}") from e
    if at_uri.host != me or at_uri.collection != _FOLLOW or not at_uri.rkey:
        # Another account's record: the follow was made by another connected account.
        raise PlatformError("This follow was not made by the connected Bluesky account.", permanent=True)
    return at_uri


def _notification_key(note: dict) -> str:
    return time_key(note.get("indexedAt")) or ""


def _feed_key(item: dict) -> str:
    """The author feed's sort time: a repost's own time, else the post's (as the AppView's sortAt)."""
    reason = item.get("reason") or {}
    if reason.get("indexedAt"):
        return time_key(reason["indexedAt"]) or ""
    post = item.get("post") or {}
    return time_key(bc.occurred(post.get("record") or {}, post.get("indexedAt"))) or ""


def _feed_id(item: dict) -> str:
    reason = item.get("reason") or {}
    post_uri = str((item.get("post") or {}).get("uri") or "")
    return str(reason.get("uri") or f"repost:{post_uri}") if reason.get("indexedAt") else post_uri


def _convo_key(convo: dict) -> str:
    return time_key((convo.get("lastMessage") or {}).get("sentAt")) or ""


def _convo_id(convo: dict) -> str:
    return f"{convo.get('id')}:{(convo.get('lastMessage') or {}).get('id')}"

