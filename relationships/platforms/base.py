"""The connector interface of live platforms, and the registry keyed by platform.

A connector talks to one account on one platform through the project's HTTP
seam (:mod:`relationships.platforms.http`) and yields the normalized records
of :mod:`relationships.platforms.records`. It never touches the database: the
sync service stores what it yields, the cursors it checkpoints and the
credentials it refreshed.

A platform's package declares its connector (``CONNECTOR``, see
:mod:`relationships.platforms`); the platforms without one have archives only.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from relationships.platforms import connectors, load
from relationships.platforms.http import PER_ADDRESS, SafeSession, make_session
from relationships.platforms.records import IdentityRecord, Record

FOLLOWING = "following"
REQUESTED = "requested"
FAILED = "failed"
FOLLOW_STATES = (FOLLOWING, REQUESTED, FAILED)
LISTED = "listed"


@dataclass(frozen=True, slots=True)
class FollowOutcome:
    """What a follow request achieved.

    ``state`` is ``following``, ``requested`` (the account approves followers
    by hand) or ``failed``; ``reason`` is a sentence a person reads;
    ``record_uri`` is the platform record that now holds the follow, when
    there is one (the Bluesky follow record, needed to unfollow).
    """

    state: str
    reason: str = ""
    record_uri: str | None = None


@dataclass(frozen=True, slots=True)
class PlatformList:
    """One of the user's lists on the platform.

    ``id`` is what :meth:`Connector.add_to_list` takes: a Mastodon list id,
    a Bluesky list record's AT-URI. ``exclusive`` (Mastodon 4.2+): the
    members' posts stay out of the home feed.
    """

    id: str
    name: str
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class ListOutcome:
    """What adding an account to a list achieved.

    ``state`` is ``listed``, ``requested`` (Mastodon: listed, and the follow
    a list needs waits for the account's approval) or ``failed``;
    ``record_uri`` is the Bluesky list item record (to take it back);
    ``followed`` says Rapport followed the account first because the
    platform's lists hold only followed accounts.
    """

    state: str
    reason: str = ""
    record_uri: str | None = None
    followed: bool = False


class Connector(ABC):
    """Base of the live connectors.

    Subclasses set ``platform`` and implement :meth:`verify`, :meth:`fetch`,
    :meth:`follow` and :meth:`unfollow`. Every call may raise a
    :class:`~relationships.platforms.errors.PlatformError`:
    ``AuthError`` (the source needs re-authorisation), ``RateLimited``
    (retry at ``reset_at``), ``TransientError`` (retry later),
    ``MalformedResponse`` / ``UnsafeURL`` (permanent for this run).
    """

    platform: ClassVar[str]
    #: The streams :meth:`fetch` checkpoints, in the order it reads them.
    streams: ClassVar[tuple[str, ...]] = ()
    #: Whom the platform's rate limits count: the client address (a Bluesky
    #: PDS: every account an install syncs there shares one budget) or each token.
    rate_limit_scope: ClassVar[str] = PER_ADDRESS
    #: Whether the platform keeps a private note on an account that the user's other apps show.
    supports_notes: ClassVar[bool] = False
    #: Whether the user can keep following an account without its boosts.
    supports_quieter: ClassVar[bool] = False
    #: Whether a list holds only followed accounts, so listing someone follows them first.
    lists_need_follow: ClassVar[bool] = False

    def __init__(
        self,
        base_url: str,
        credentials: dict[str, Any],
        *,
        allow_private_hosts: bool = False,
        session: SafeSession | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        """``session`` (tests, or a shared pool) wins over ``sleep`` / ``clock``,
        which otherwise configure a new :func:`~relationships.platforms.http.make_session`."""
        if session is None:
            options: dict[str, Any] = {}
            if sleep is not None:
                options["sleep"] = sleep
            if clock is not None:
                options["clock"] = clock
            session = make_session(allow_private_hosts, **options)
        self.http = session
        self.base_url = session.validate_base_url(base_url)
        self.credentials = dict(credentials)

    @abstractmethod
    def verify(self) -> IdentityRecord:
        """Check the credentials and return the user's own account (``is_self=True``).

        Raises ``AuthError`` when the credentials are not (or no longer) valid.
        """

    @abstractmethod
    def fetch(self, cursors: dict[str, str], backfill_since: dt.datetime | None) -> Iterator[Record]:
        """Yield what happened since the last sync.

        ``cursors`` maps stream names to the cursors of earlier
        ``CheckpointRecord``\\ s (empty on the first sync, which backfills
        down to ``backfill_since``). After each page the connector yields a
        ``CheckpointRecord(stream, cursor)``: the caller flushes what came
        before it, then stores the cursor. A run that stopped with an
        exception resumes from the last stored cursors. With nothing new, a
        sync makes at most one request per stream. Records may repeat across
        runs (ingest is idempotent); nothing between checkpoints is lost.
        """

    def following(self) -> Iterator[Record]:
        """Every account the user follows, page by page: its ``IdentityRecord`` and a
        ``FollowRecord(i_follow=True)``, then, after the last page, one
        :class:`~relationships.platforms.records.FollowingListRecord` naming them all.

        A page that cannot be read raises its ``PlatformError`` before that
        record: a list read in part never says it is whole. There is no
        cursor; a failed read starts again from the first page.
        """
        raise NotImplementedError(f"{self.platform} cannot list whom the user follows")

    @abstractmethod
    def follow(self, external_id: str, handle: str | None) -> FollowOutcome:
        """Follow the account ``external_id`` (``handle`` helps to find it); safe to repeat."""

    @abstractmethod
    def unfollow(self, external_id: str, handle: str | None, record_uri: str | None = None) -> None:
        """Stop following ``external_id`` (or withdraw a pending follow request); safe to repeat.

        ``record_uri`` is the :attr:`FollowOutcome.record_uri` the follow
        returned, when there was one. Returning means the user no longer
        follows the account, including when they did not follow it before.
        Raises a :class:`~relationships.platforms.errors.PlatformError` when
        the platform refused or could not be asked (``permanent`` says
        whether trying again can help).
        """

    #: Re-reads the credentials stored for this account, set by the services
    #: for a stored account: another process may have renewed a session
    #: since this connector read it (Bluesky refresh tokens work once).
    stored_credentials: Callable[[], dict[str, Any] | None] | None = None

    def lists(self) -> list[PlatformList]:
        """The user's own lists that accounts can be added to."""
        raise NotImplementedError(f"{self.platform} has no lists")

    def create_list(self, name: str, *, exclusive: bool = False) -> PlatformList:
        """A new list named ``name`` (the existing one, when the user already has a list of that name)."""
        raise NotImplementedError(f"{self.platform} has no lists")

    def add_to_list(self, list_id: str, external_id: str, handle: str | None) -> ListOutcome:
        """Put the account in the list :attr:`PlatformList.id`; safe to repeat.

        Where :attr:`lists_need_follow`, the account is followed first. A
        refusal the user can act on (list full, account gone) comes back as
        ``state == "failed"`` with a sentence; the rest raises a
        :class:`~relationships.platforms.errors.PlatformError`.
        """
        raise NotImplementedError(f"{self.platform} has no lists")

    def remove_from_list(self, list_id: str, external_id: str, handle: str | None, item_uri: str | None = None) -> None:
        """Take the account out of the list (Undo of an Add to a list); safe to repeat.

        ``item_uri`` is the :attr:`ListOutcome.record_uri` the add returned,
        when there was one. Returning means the account is not in the list,
        including when the list is gone. It does not unfollow.
        """
        raise NotImplementedError(f"{self.platform} has no lists")

    def follow_quietly(self, external_id: str, handle: str | None) -> FollowOutcome:
        """Follow (or keep following) the account without its boosts; only where :attr:`supports_quieter`."""
        raise NotImplementedError(f"{self.platform} cannot hide an account's boosts")

    def set_note(self, external_id: str, handle: str | None, text: str) -> None:
        """Write the user's private note on the account; only where :attr:`supports_notes`."""
        raise NotImplementedError(f"{self.platform} has no private notes")

    def known_followers(self, external_id: str, handle: str | None) -> list[IdentityRecord]:
        """Accounts the user follows that follow this account: who they are, never how many."""
        raise NotImplementedError(f"{self.platform} cannot say who follows an account")

    @property
    def updated_credentials(self) -> dict[str, Any] | None:
        """Credentials to store because the connector refreshed them, else None.

        Read it after every call, also after one that raised: a refresh
        rotates the stored secret, and the old one soon stops working.
        """
        return None


def get_connector(platform: str) -> type[Connector]:
    """The connector class of ``platform``; ``KeyError`` if the platform has no live connector."""
    try:
        path = connectors()[platform]
    except KeyError:
        raise KeyError(f"no live connector for platform {platform!r}") from None
    return load(platform, path)


def live_platforms() -> tuple[str, ...]:
    """Platforms that can be synced live (X has archives only)."""
    return tuple(connectors())
