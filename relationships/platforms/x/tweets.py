"""How the tweets of an X archive become records, whatever the archive's layout.

The 2019+ archive (``data/tweets.js``) and the older "Grailbird" archive
(``data/js/tweets/YYYY_MM.js``) hold tweets of the same API shape; both
importers read them through :class:`TweetReader`, which keeps the only state
the tweets need: who the user named (id -> screen name, screen name -> ids)
and which identities were announced already.

No interaction goes to an account made after it happened: X writes a
mention's account as it is when the archive is made, found by screen name,
and screen names are given up and taken again. X ids are snowflakes that tell
when they were made (``(id >> 22) + 1288834974657`` ms); ids from before
November 2010 are sequential and tell nothing, so they are never judged.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from typing import NamedTuple

from relationships.platforms.archives.base import excerpt
from relationships.platforms.records import (
    OUTBOUND,
    REPOST,
    IdentityRecord,
    InteractionRecord,
    Post,
    Record,
    SkipRecord,
    X,
    post_records,
)

STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?P<screen>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<id>\d+)",
)
_RT_PREFIX = re.compile(r"^RT @(?P<screen>[A-Za-z0-9_]{1,15})")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_TWITTER_EPOCH_MS = 1288834974657

MENTION_OF_LATER_ACCOUNT = "mention resolved to an account created after the tweet (a screen name taken later)"
SCREEN_NAME_OF_LATER_ACCOUNT = "screen name known only as an account created after the tweet"
MENTION_OF_NO_ACCOUNT = "mention of a suspended or deleted account (id -1)"
REPLY_TO_NO_ACCOUNT = "reply to a suspended or deleted account (id -1)"


def parse_created_at(value: object) -> dt.datetime | None:
    """``Sat Feb 18 12:33:11 +0000 2023``, or Grailbird's ``2015-03-04 12:34:56 +0000``."""
    if not isinstance(value, str):
        return None
    if value[4:5] == "-":
        try:
            # Numbers only: strptime's locale cannot change how this reads.
            return dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S %z").astimezone(dt.timezone.utc)
        except ValueError:
            return None
    # Month names are parsed by hand: strptime's %b follows the locale.
    if len(value) == 30 and value[19:26] == " +0000 " and value[13] == value[16] == ":":
        # The one shape every archive writes, read by position.
        month = _MONTHS.get(value[4:7])
        if month is not None:
            try:
                return dt.datetime(int(value[26:]), month, int(value[8:10]), int(value[11:13]), int(value[14:16]),
                                   int(value[17:19]), tzinfo=dt.timezone.utc)
            except ValueError:
                pass  # read field by field below, which says no as well
    parts = value.split()
    if len(parts) != 6 or parts[1] not in _MONTHS:
        return None
    try:
        hour, minute, second = (int(p) for p in parts[3].split(":"))
        offset = parts[4]
        sign = -1 if offset.startswith("-") else 1
        delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * sign
        local = dt.datetime(int(parts[5]), _MONTHS[parts[1]], int(parts[2]), hour, minute, second)
    except (ValueError, IndexError):
        return None
    return (local - delta).replace(tzinfo=dt.timezone.utc)


def snowflake_time(tweet_id: str) -> dt.datetime | None:
    try:
        number = int(tweet_id)
    except ValueError:
        return None
    # Ids before November 2010 were sequential, not snowflakes.
    if number < 2**40:
        return None
    try:
        return dt.datetime.fromtimestamp(((number >> 22) + _TWITTER_EPOCH_MS) / 1000, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None  # an id far past any real snowflake: no date to read from it


def _tweet_time(tweet: dict, tweet_id: str) -> dt.datetime | None:
    return parse_created_at(tweet.get("created_at")) or snowflake_time(tweet_id)


@functools.lru_cache(maxsize=65536)  # the same few hundred people are named again and again
def account_made_ms(user_id: str) -> int | None:
    """When an account was made (ms since 1970) by its snowflake id; None for older or odd ids."""
    if len(user_id) > 20 or not (user_id.isascii() and user_id.isdecimal()):
        return None
    number = int(user_id)
    # Ids before November 2010 were sequential, not snowflakes.
    return (number >> 22) + _TWITTER_EPOCH_MS if number >= 2**40 else None


def made_after(user_id: str, when: dt.datetime | None) -> bool:
    """Whether an account's snowflake id says it was made after ``when``; older ids carry no time."""
    made = account_made_ms(user_id)
    # created_at has whole seconds, a snowflake milliseconds: one second of slack.
    return made is not None and when is not None and made > when.timestamp() * 1000 + 1000


def unwrap(raw: object, key: str) -> dict:
    if isinstance(raw, dict) and isinstance(raw.get(key), dict):
        return raw[key]
    if isinstance(raw, dict):
        return raw
    raise TypeError(f"expected an object, got {type(raw).__name__}")


def as_dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def str_id(value: object) -> str:
    if value is None or value == "" or isinstance(value, bool):
        return ""
    return str(value)


class _Reading(NamedTuple):
    tweet_id: str
    when: dt.datetime | None
    trusted: tuple[tuple[str, object, object], ...]  # (id, screen name, name) of the believed mentions
    dropped: tuple[SkipRecord, ...]
    # (id, screen name, name) of whom a Grailbird retweet repeats, fixed by
    # id in the original it embeds; ("", None, None) for other tweets.
    original: tuple[str, object, object]


class TweetReader:
    """The tweet half of an X importer (mixed into an ArchiveImporter).

    The importer sets ``self_id`` / ``self_handle`` before the first tweet,
    calls :meth:`_learn` on every tweet as it streams past, sets aside those
    :meth:`_needs_later` says so, and yields :meth:`_tweet` for each, then
    :meth:`_late_identities` once.
    """

    self_id: str
    self_handle: str | None

    def _init_people(self) -> None:
        # id -> (screen name, display name).
        self._people: dict[str, tuple[str, str]] = {}
        # Screen names are given up and taken again: every id seen with one, in order.
        self._by_screen: dict[str, list[str]] = {}
        # id -> the (screen name, display name) last announced for it.
        self._sent: dict[str, tuple[str | None, str]] = {}
        self._last_reading: tuple[dict, _Reading] | None = None

    def _reading(self, tweet: dict) -> _Reading:
        """The tweet's id, time and believed mentions, worked out once for the passes over it.

        ``_learn``, ``_needs_later`` and ``_tweet`` meet the same tweet object
        one after another (unless it is set aside), so the last reading is kept.
        """
        if self._last_reading is not None and self._last_reading[0] is tweet:
            return self._last_reading[1]
        tweet_id = str_id(tweet.get("id_str") or tweet.get("id"))
        when = _tweet_time(tweet, tweet_id)
        trusted, dropped = self._trusted_mentions(tweet, tweet_id, when)
        author = as_dict(as_dict(tweet.get("retweeted_status")).get("user"))
        original = (str_id(author.get("id_str") or author.get("id")), author.get("screen_name"), author.get("name"))
        reading = _Reading(tweet_id, when, tuple(trusted), tuple(dropped), original)
        self._last_reading = (tweet, reading)
        return reading

    # -- people ---------------------------------------------------------------------
    def _learn(self, raw: object) -> None:
        try:
            tweet = unwrap(raw, "tweet")
            reading = self._reading(tweet)
            named = [
                *reading.trusted,
                (str_id(tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id")),
                 tweet.get("in_reply_to_screen_name"), None),
                reading.original,
            ]
        except (TypeError, AttributeError):
            return  # the second pass reports the unreadable tweet
        for user_id, screen, name in named:
            if not user_id or user_id.startswith("-") or not isinstance(screen, str) or not screen:
                continue
            if user_id not in self._people or not self._people[user_id][1]:
                self._people[user_id] = (screen, name if isinstance(name, str) else "")
            ids = self._by_screen.setdefault(screen.lower(), [])
            if user_id not in ids:
                ids.append(user_id)

    @staticmethod
    def _trusted_mentions(
        tweet: dict, tweet_id: str, when: dt.datetime | None,
    ) -> tuple[list[tuple[str, object, object]], list[SkipRecord]]:
        """The ``(id, screen name, name)`` of the mentions that can be believed, and a skip for each other.

        X fills in a mention's account when the archive is made, by its
        screen name: a name given up and taken by a newer account points at
        that newcomer, who cannot have been talked to before they existed. A
        suspended or deleted account comes as id ``-1``.
        """
        trusted: list[tuple[str, object, object]] = []
        dropped: list[SkipRecord] = []
        for mention in mentions_of(tweet):
            user_id = str_id(mention.get("id_str") or mention.get("id"))
            screen = mention.get("screen_name")
            if user_id.startswith("-") or made_after(user_id, when):
                reason = MENTION_OF_NO_ACCOUNT if user_id.startswith("-") else MENTION_OF_LATER_ACCOUNT
                dropped.append(SkipRecord(reason, detail=f"@{screen} ({user_id}) in tweet {tweet_id}"))
                continue
            trusted.append((user_id, screen, mention.get("name")))
        return trusted, dropped

    def _owner(self, screen: str, when: dt.datetime) -> str | None:
        """Who had the screen name (lower case) at ``when``: the first account seen with it that existed then.

        "" when every account seen with it was made later, None when no tweet named it.
        """
        ids = self._by_screen.get(screen)
        if ids is None:
            return None
        return next((user_id for user_id in ids if not made_after(user_id, when)), "")

    def _needs_later(self, raw: object) -> bool:
        """Whether a tweet names an account by a screen name no tweet so far has tied to an id of then.

        A quote link (``x.com/<screen>/status/<id>``) or a retweet without
        a usable mention only gives a screen name; such a tweet waits until
        every tweet has been read, so one later in the archive can still
        tell whose it was.
        """
        try:
            tweet = unwrap(raw, "tweet")
            reading = self._reading(tweet)
            when = reading.when
            if when is None:
                return False  # skipped when its turn comes
            text = tweet.get("full_text") or tweet.get("text") or ""
            if isinstance(text, str) and text.startswith("RT @"):
                match = _RT_PREFIX.match(text)
                if match and not retweet_author(tweet, reading):
                    return not self._owner(match["screen"].lower(), when)
            own = self.self_handle.lower() if self.self_handle else None
            for url in urls_of(tweet):
                match = STATUS_URL.match(url) if isinstance(url, str) else None
                if match and match["screen"].lower() != own and not self._owner(match["screen"].lower(), when):
                    return True
        except (TypeError, AttributeError):
            return False  # unreadable: reported when its turn comes
        return False

    def _identity(self, user_id: str) -> list[IdentityRecord]:
        known = self._people.get(user_id, (None, ""))
        if self._sent.get(user_id) == known:
            return []  # announced already, with these names
        self._sent[user_id] = known
        screen, name = known
        profile = f"https://x.com/{screen}" if screen else f"https://x.com/i/user/{user_id}"
        return self._announce(
            IdentityRecord(platform=X, external_id=user_id, handle=screen, display_name=name, profile_url=profile)
        )

    def _late_identities(self, _raw: object) -> list[Record]:
        """The names learned after an account was first announced (tweets are read once)."""
        records: list[Record] = []
        for user_id, sent in self._sent.items():
            known = self._people.get(user_id)
            if known is not None and known != sent:
                screen, name = known
                records.append(IdentityRecord(platform=X, external_id=user_id, handle=screen, display_name=name,
                                              profile_url=f"https://x.com/{screen}"))
        return records

    # -- tweets ---------------------------------------------------------------------
    def _tweet(self, raw: object) -> list[Record]:
        tweet = unwrap(raw, "tweet")
        reading = self._reading(tweet)
        tweet_id, when, trusted, dropped, original = reading
        if not tweet_id:
            return [SkipRecord("tweet without an id")]
        if when is None:
            return [SkipRecord("tweet without a readable date", detail=tweet_id)]
        text = html.unescape(tweet.get("full_text") or tweet.get("text") or "")
        base = dict(
            platform=X,
            external_id=tweet_id,
            direction=OUTBOUND,
            occurred_at=when,
            permalink=f"https://x.com/{self.self_handle or 'i'}/status/{tweet_id}",
            excerpt=excerpt(text),
            thread_id=str_id(tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id")) or tweet_id,
        )
        records: list[Record] = list(dropped)
        if text.startswith("RT @") or original[0]:
            return records + self._retweet(text, retweet_author(tweet, reading), base)
        reply_to = str_id(tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id"))
        if reply_to.startswith("-"):
            records.append(SkipRecord(REPLY_TO_NO_ACCOUNT, detail=tweet_id))
            reply_to = ""
        # A reply's target counts also where a dropped mention named it: the
        # target's id was stored with the tweet, so it is the right one.
        seen = Post(
            reply_to=reply_to,
            quotes=tuple(self._quoted(tweet, when, records)),
            mentions=tuple([mention[0] for mention in trusted]),
        )
        return records + post_records(seen, self.self_id, self._identity, **base)

    def _quoted(self, tweet: dict, when: dt.datetime, skips: list[Record]) -> list[str]:
        """Whose tweets the tweet's status links quote, by who had the screen name then; a skip for each unknown."""
        quoted = []
        for url in urls_of(tweet):
            match = STATUS_URL.match(url)
            if not match:
                continue
            screen = match["screen"].lower()
            if self.self_handle and screen == self.self_handle.lower():
                continue
            owner = self._owner(screen, when)
            if owner is None:
                skips.append(SkipRecord("quote of an account the archive never names", detail=url))
            elif not owner:
                skips.append(SkipRecord(SCREEN_NAME_OF_LATER_ACCOUNT, detail=url))
            else:
                quoted.append(owner)
        return quoted

    def _retweet(self, text: str, author: str, base: dict) -> list[Record]:
        # A 2019+ archive keeps no retweeted_status: the original author is
        # the first mention, or failing that the "RT @name" of the (truncated) text.
        if not author:
            match = _RT_PREFIX.match(text)
            owner = self._owner(match["screen"].lower(), base["occurred_at"]) if match else None
            if owner is None:
                return [SkipRecord("retweet of an account the archive never names", detail=base["external_id"])]
            if not owner:
                return [SkipRecord(SCREEN_NAME_OF_LATER_ACCOUNT, detail=base["external_id"])]
            author = owner
        if author == self.self_id:
            return []
        return [*self._identity(author), InteractionRecord(identity_id=author, kind=REPOST, named_count=1, **base)]


def retweet_author(tweet: dict, reading: _Reading) -> str:
    """Whose tweet a retweet repeats, if the tweet says: the embedded original's author, else the
    leading mention unless it was dropped (see ``_trusted_mentions``); "" otherwise."""
    if reading.original[0]:
        return reading.original[0]
    leading = [str_id(m.get("id_str") or m.get("id")) for m in mentions_of(tweet)[:1]]
    believed = {user_id for user_id, _screen, _name in reading.trusted}
    return "".join(u for u in leading if u in believed)


def mentions_of(tweet: dict) -> list[dict]:
    mentions = (tweet.get("entities") or {}).get("user_mentions") or []
    return [m for m in mentions if isinstance(m, dict)]


def urls_of(tweet: dict) -> list[str]:
    urls = (tweet.get("entities") or {}).get("urls") or []
    return [u.get("expanded_url") or "" for u in urls if isinstance(u, dict)]
