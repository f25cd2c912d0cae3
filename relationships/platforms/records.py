"""The normalized records every connector and importer yields.

This module is the contract between the platform side (``relationships/platforms/``)
and the database side (``relationships/services/intake/ingest.py``). Connectors and
importers build these plain, frozen values and never touch the ORM; ingest only
ever sees these values and never parses a platform format.

Conventions
-----------
* ``platform`` is one of :data:`PLATFORMS` (the packages of ``relationships/platforms/``).
* ``external_id`` of an identity is the platform's stable account id: the
  Mastodon account's ActivityPub actor URI, the Bluesky DID, the X numeric user
  id (as a string: X ids exceed 2**53).
* ``external_id`` of an interaction is the id of the post or record that carries
  it: the Mastodon status URI, the Bluesky record AT-URI, the X tweet / DM id.
  The same post yields one :class:`InteractionRecord` per person it concerns.
* Times are timezone-aware datetimes (UTC preferred).
* ``handle`` is written without a leading ``@``: ``user@host`` on Mastodon, the
  domain handle on Bluesky, the screen name on X; ``None`` when unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from relationships.platforms import PLATFORMS  # noqa: F401  (the contract names them: records.PLATFORMS)

MASTODON = "mastodon"
BLUESKY = "bluesky"
X = "x"

# Interaction kinds. One post gives one *direct* interaction per person, the
# first that applies in this order: dm > reply > quote > mention (see Post).
DM = "dm"
REPLY = "reply"
QUOTE = "quote"
MENTION = "mention"
REPOST = "repost"
LIKE = "like"
KINDS = (REPLY, MENTION, QUOTE, DM, REPOST, LIKE)
DIRECT_KINDS = (DM, REPLY, QUOTE, MENTION)


@dataclass(frozen=True)
class KindWords:
    """What a kind of interaction is called on screen: labels, sentences and lines all take it from here.

    ``one`` / ``many`` are the noun. ``did`` is one of them done to someone,
    ``did_many`` several: ``{who}`` is "you", "Ana" or "them", ``{whose}``
    "your", "Ana's" or "their", ``{n}`` how many as the sentence counts them
    ("6 times", "on 5 different days"; for likes and shares a number of posts).
    """

    one: str
    many: str
    did: str
    did_many: str


KIND_WORDS = {
    REPLY: KindWords("reply", "replies", "replied to {who}", "replied to {who} {n}"),
    MENTION: KindWords("mention", "mentions", "mentioned {who}", "mentioned {who} {n}"),
    QUOTE: KindWords("quote", "quotes", "quoted {who}", "quoted {who} {n}"),
    DM: KindWords("DM", "DMs", "sent {who} a DM", "sent {who} DMs {n}"),
    REPOST: KindWords("share", "shares", "shared {whose} post", "shared {n} of {whose} posts"),
    LIKE: KindWords("like", "likes", "liked {whose} post", "liked {n} of {whose} posts"),
}

INBOUND = "in"  # the other person did it to the user
OUTBOUND = "out"  # the user did it to the other person
DIRECTIONS = (INBOUND, OUTBOUND)


@dataclass(frozen=True, slots=True)
class ProfileLink:
    """One link of a profile (a Mastodon profile field): its label, its address, and when the
    platform verified it (Mastodon: the page links back with rel="me"), as ISO text or ""."""

    name: str
    url: str
    verified_at: str = ""


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """A platform account as seen by a source.

    ``is_self`` marks one of the user's own accounts: ingest remembers it on
    the source and never makes it a Person.

    ``provisional`` marks a key that was guessed, not seen: a Mastodon account
    known only as ``user@host`` (from a following CSV) is keyed by the
    conventional actor URI ``https://host/users/user``. When a later record
    shows the real URI for the same handle, ingest corrects the key in place.

    Empty strings and ``None`` mean "not known by this source": they never
    overwrite a value another source already stored. ``profile_links`` is
    ``None`` when the source did not see the profile's fields, and an empty
    tuple when it saw a profile with none.
    """

    platform: str
    external_id: str
    handle: str | None = None
    display_name: str = ""
    avatar_url: str = ""
    profile_url: str = ""
    is_bot: bool | None = None
    discoverable: bool | None = None
    is_self: bool = False
    provisional: bool = False
    profile_links: tuple[ProfileLink, ...] | None = None


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """One event between the user and one other account.

    ``identity_id`` is the ``external_id`` of the other account on
    ``platform``. ``named_count`` is how many people the post named (mentions
    plus the reply target), so scoring can discount mass mentions.
    """

    platform: str
    external_id: str
    identity_id: str
    kind: str
    direction: str
    occurred_at: dt.datetime
    permalink: str = ""
    excerpt: str = ""
    thread_id: str = ""
    named_count: int = 1


@dataclass(frozen=True, slots=True)
class FollowRecord:
    """Relationship state between the user and one account, as last seen.

    ``None`` means the source does not know (an X follower list says nothing
    about who the user follows). ``blocked`` / ``muted`` are the user's own
    blocks and mutes, when the source reports them.
    """

    platform: str
    identity_id: str
    i_follow: bool | None = None
    follows_me: bool | None = None
    blocked: bool | None = None
    muted: bool | None = None
    since: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FollowingListRecord:
    """The whole list of accounts the user follows on ``platform``, read to its last page just now.

    A connector yields it after the :class:`IdentityRecord` and
    :class:`FollowRecord` of every account in the list, and only when every
    page was read: ingest then clears ``i_follow`` of the user's other
    accounts on ``platform``. ``identity_ids`` are the accounts' external
    ids; ``handles`` their handles, lower-cased, so an account named by a
    guessed key (a Mastodon server older than 4.2) still matches the
    identity stored under its real one.
    """

    platform: str
    identity_ids: frozenset[str]
    handles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CountRecord:
    """Something counted on the source, not attached to any person.

    X and Mastodon archives list the user's likes without the liked post's
    author: they are counted (``name="likes_without_author"``), never turned
    into interactions.
    """

    name: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class SkipRecord:
    """An input item the importer could not use, with a reason a person reads."""

    reason: str
    detail: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """Everything before this record has been yielded: a safe place to resume.

    Connectors yield it after each page; the sync service flushes the pending
    batch, then stores ``cursor`` under ``stream`` in the source's cursors, so a
    restarted sync continues from here. ``None`` removes the stream's cursor.
    Ingest ignores it.
    """

    stream: str
    cursor: str | None


Record = (
    IdentityRecord | InteractionRecord | FollowRecord | FollowingListRecord | CountRecord | SkipRecord | CheckpointRecord
)


class Post(NamedTuple):
    """What one post did, as its platform saw it: the accounts it concerns, and how.

    A platform only says what it saw, with the account ids its records use:
    whom the post replies to (``reply_to``), whose posts it quotes
    (``quotes``), whom it mentions (``mentions``), and whether it is a direct
    message (``dm``) sent to ``recipients``. This class alone turns that into
    kinds: one direct interaction per account, the first that applies, ``dm``
    > ``reply`` > ``quote`` > ``mention``. (A named tuple, not a dataclass:
    an import makes one per post, and a frozen dataclass is slower to build.)
    """

    reply_to: str = ""
    quotes: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    dm: bool = False
    recipients: tuple[str, ...] = ()

    def kinds(self, author: str) -> dict[str, str]:
        """Each account the post concerns but its author, with its kind.

        A direct message concerns its recipients; any other post the account
        it replies to, those it quotes, then those it mentions, in that order.
        """
        if self.dm:
            return {account: DM for account in self.recipients if account and account != author}
        kinds: dict[str, str] = {}
        for kind, accounts in ((REPLY, (self.reply_to,)), (QUOTE, self.quotes), (MENTION, self.mentions)):
            for account in accounts:
                if account and account != author:
                    kinds.setdefault(account, kind)
        return kinds

    def kind_towards(self, account: str) -> str | None:
        """How the post addresses ``account``, or None when it does not.

        A direct message is a ``dm`` to everyone it concerns, whichever way it names them.
        """
        return DM if self.dm else self.kinds("").get(account)

    def named_count(self, author: str) -> int:
        """How many people the post names besides its author: the mentions and the reply target."""
        return max(1, len({*self.mentions, self.reply_to} - {author, ""}))


def post_records(post: Post, author: str, identity: Callable[[str], list[Record]], **fields) -> list[Record]:
    """The records of one post: for each account it concerns, ``identity(account)``, then its interaction.

    ``fields`` are the post's :class:`InteractionRecord` fields other than
    ``identity_id``, ``kind`` and ``named_count`` (the same for every account).
    """
    kinds = post.kinds(author)
    named = post.named_count(author)
    records: list[Record] = []
    for account, kind in kinds.items():
        records.extend(identity(account))
        records.append(InteractionRecord(identity_id=account, kind=kind, named_count=named, **fields))
    return records
