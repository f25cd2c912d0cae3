"""X (Twitter) data archive importer.

Reads the ``data/*.js`` members of an X archive zip (``window.YTD.<name>.partN
= [...]``) as JSON after the first ``=`` -- the JavaScript is never evaluated
-- and streams every array element by element (conversations with ijson,
message by message), so a member of any size is never held in memory.
Memory stays flat: besides the current item only a map of the people named
in the user's tweets (id -> screen name) is kept.

Items, in this order (the resume ``position`` counts them, see archive_base):

1. the account (``account.js``; ``manifest.js`` userInfo as a fallback);
2. every tweet of ``tweets.js`` / ``tweet.js`` / ``tweets-partN.js`` (all parts
   listed by ``manifest.js`` or present), in part order, those set aside
   (see below) last, then one item of names learned late;
3. every element of every conversation of ``direct-messages.js``, then of
   ``direct-messages-group.js``;
4. the likes, as one item (one ``CountRecord("likes_without_author", n)``);
5. every follower, then every followed account.

The tweets are read once. Each one first teaches who the user named (ids
and screen names from mentions and reply targets); a tweet that names an
account only by a screen name not yet tied to an id (a quote link
``x.com/<screen>/status/<id>``, a retweet without mentions) is set aside in
a temporary file and handled after the last tweet, and the names learned
after an account was first announced follow as one last item, so a reply
without ``in_reply_to_screen_name`` still gets a handle. The group DM
file is read twice too: the first pass learns each conversation's
participants, because a group message has no ``recipientId`` and the join
events come after the messages (the file is newest first).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import tempfile
from collections.abc import Iterator

from .archive_base import ArchiveError, ArchiveImporter, excerpt, parse_iso
from .archive_io import Container, ijson_backend, json_array_items, json_stream, loads_member, translate_error
from .records import (
    DM,
    INBOUND,
    MENTION,
    OUTBOUND,
    QUOTE,
    REPLY,
    REPOST,
    X,
    CountRecord,
    FollowRecord,
    IdentityRecord,
    InteractionRecord,
    Record,
    SkipRecord,
)

_DATA_JS = re.compile(r"^(?P<root>(?:[^/]+/)?)data/(?P<base>[a-z0-9-]+?)(?:-part(?P<part>\d+))?\.js$")
_MARKERS = {"manifest", "account", "tweets", "tweet"}
_STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?P<screen>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<id>\d+)",
)
_RT_PREFIX = re.compile(r"^RT @(?P<screen>[A-Za-z0-9_]{1,15})")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_TWITTER_EPOCH_MS = 1288834974657
# The manifest names data types in camelCase; files use hyphens.
_MANIFEST_KEYS = {
    "tweets": "tweets",
    "tweet": "tweet",
    "like": "like",
    "follower": "follower",
    "following": "following",
    "direct-messages": "directMessages",
    "direct-messages-group": "directMessagesGroup",
}


def find_root(names: list[str]) -> str | None:
    """The folder the archive's ``data/`` sits in ("" at the top), or None.

    A re-zipped download often gains one top folder, so one level is allowed.
    """
    roots = set()
    for name in names:
        match = _DATA_JS.match(name)
        if match and match["base"] in _MARKERS:
            roots.add(match["root"])
    return min(roots, key=len) if roots else None


def parse_created_at(value: object) -> dt.datetime | None:
    """``Sat Feb 18 12:33:11 +0000 2023``; parsed by hand, strptime is locale-bound."""
    if not isinstance(value, str):
        return None
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


def _unwrap(raw: object, key: str) -> dict:
    if isinstance(raw, dict) and isinstance(raw.get(key), dict):
        return raw[key]
    if isinstance(raw, dict):
        return raw
    raise TypeError(f"expected an object, got {type(raw).__name__}")


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _id(value: object) -> str:
    if value is None or value == "" or isinstance(value, bool):
        return ""
    return str(value)


class XArchiveImporter(ArchiveImporter):
    """Records of an X archive; owns (and closes) the container it is given."""

    kind = "x"
    unit = "bytes"

    def __init__(self, container: Container, *, skip: int = 0) -> None:
        super().__init__(skip=skip)
        self._container = container
        self._member = ""
        root = find_root(container.names())
        if root is None:
            raise ArchiveError("This is not an X archive: it has no data/tweets.js or data/account.js")
        self._root = root
        self._notes: list[SkipRecord] = []
        manifest = self._load_manifest()
        self._files = {base: self._parts(base, manifest) for base in _MANIFEST_KEYS}
        self._files["tweets"] = self._files.pop("tweets") + self._files.pop("tweet")
        self._load_account(manifest)
        # id -> (screen name, display name); screen name (lower) -> id.
        self._people: dict[str, tuple[str, str]] = {}
        self._by_screen: dict[str, str] = {}
        self._participants: dict[tuple[str, int], set[str]] = {}
        # id -> the (screen name, display name) last announced for it.
        self._sent: dict[str, tuple[str | None, str]] = {}
        size = container.size
        twice = ("direct-messages-group",)
        self.total = container.bytes_read + sum(
            size(name) * (2 if base in twice else 1) for base, names in self._files.items() for name in names
        )

    # -- setup ----------------------------------------------------------------
    def _load_manifest(self) -> dict:
        name = f"{self._root}data/manifest.js"
        if name not in self._container:
            return {}
        self._member = name
        manifest = loads_member(self._container, name, assignment=True)
        return manifest if isinstance(manifest, dict) else {}

    def _parts(self, base: str, manifest: dict) -> list[str]:
        found: dict[str, int] = {}
        for name in self._container.names():
            match = _DATA_JS.match(name)
            if match and match["root"] == self._root and match["base"] == base:
                found[name] = int(match["part"] or 0)
        listed = _dict(_dict(manifest.get("dataTypes")).get(_MANIFEST_KEYS[base])).get("files")
        for entry in listed if isinstance(listed, list) else []:
            file_name = entry.get("fileName") if isinstance(entry, dict) else None
            if not isinstance(file_name, str):
                continue
            name = self._root + file_name.removeprefix("./")
            if name in self._container:
                found.setdefault(name, len(found) + 1000)
            else:
                self._notes.append(SkipRecord("file listed by the manifest is missing from the archive", detail=name))
        return sorted(found, key=lambda n: (found[n], n))

    def _load_account(self, manifest: dict) -> None:
        name = f"{self._root}data/account.js"
        account: dict = {}
        if name in self._container:
            self._member = name
            data = loads_member(self._container, name, assignment=True)
            first = _dict(data[0]) if isinstance(data, list) and data else {}
            account = _dict(first.get("account", first))
        info = _dict(manifest.get("userInfo"))
        self.self_id = _id(account.get("accountId") or info.get("accountId"))
        if not self.self_id:
            raise ArchiveError("The X archive has no data/account.js, so it cannot tell which account is yours")
        handle = account.get("username") or info.get("userName")
        name_ = account.get("accountDisplayName") or info.get("displayName")
        self.self_handle: str | None = handle if isinstance(handle, str) and handle else None
        self.self_name: str = name_ if isinstance(name_, str) else ""

    # -- importer hooks ----------------------------------------------------------
    def _done(self) -> int:
        return self._container.bytes_read

    def close(self) -> None:
        self._container.close()

    def _translate_error(self, exc: Exception) -> ArchiveError | None:
        return translate_error(exc, self._member)

    def _stream(self, name: str) -> Iterator[object]:
        """The elements of a data file's array (a tweet, a follower), one at a time."""
        self._member = name
        with json_stream(self._container, name, assignment=True) as stream:
            yield from json_array_items(stream, name, self._container.limits.max_json_item)

    def _items(self):
        yield self._account_records, None, "account"
        damage: ArchiveError | None = None
        with tempfile.TemporaryFile() as later:
            deferred = 0
            try:
                for name in self._files["tweets"]:
                    for raw in self._stream(name):
                        self._learn(raw)
                        if self._needs_later(raw):
                            later.write(json.dumps(raw).encode() + b"\n")
                            deferred += 1
                        else:
                            yield self._tweet, raw, "tweet"
            except Exception as exc:  # noqa: BLE001 - a damaged tweets file, raised once the tweets set aside are out
                damage = exc if isinstance(exc, ArchiveError) else self._translate_error(exc)
                if damage is None:
                    raise
            # The tweets set aside were read before any damage that follows
            # them: they are handed out before the refusal, like the others.
            if deferred:
                later.seek(0)
                for line in later:
                    yield self._tweet, json.loads(line), "tweet"
        yield self._late_identities, None, "people"
        if damage is not None:
            raise damage
        for name in self._files["direct-messages"]:
            for conversation, _index, message in self._conversations(name):
                yield self._direct_message, (conversation, message), "direct message"
        for name in self._files["direct-messages-group"]:
            for _conversation, index, message in self._conversations(name):
                self._learn_participants((name, index), message)
        for name in self._files["direct-messages-group"]:
            for conversation, index, message in self._conversations(name):
                yield self._group_message, (conversation, (name, index), message), "group message"
        likes = sum(1 for name in self._files["like"] for _ in self._stream(name))
        yield self._likes, likes, "likes"
        for name in self._files["follower"]:
            for raw in self._stream(name):
                yield self._follow, (raw, "follower"), "follower"
        for name in self._files["following"]:
            for raw in self._stream(name):
                yield self._follow, (raw, "following"), "followed account"

    # -- people ---------------------------------------------------------------------
    def _learn(self, raw: object) -> None:
        try:
            tweet = _unwrap(raw, "tweet")
            named = [(m.get("id_str") or m.get("id"), m.get("screen_name"), m.get("name")) for m in _mentions(tweet)]
            named.append((tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id"),
                          tweet.get("in_reply_to_screen_name"), None))
        except (TypeError, AttributeError):
            return  # the second pass reports the unreadable tweet
        for user_id, screen, name in named:
            user_id = _id(user_id)
            if not user_id or not isinstance(screen, str) or not screen:
                continue
            if user_id not in self._people or not self._people[user_id][1]:
                self._people[user_id] = (screen, name if isinstance(name, str) else "")
            self._by_screen.setdefault(screen.lower(), user_id)

    def _needs_later(self, raw: object) -> bool:
        """Whether a tweet names an account by a screen name no tweet so far has tied to an id.

        A quote link (``x.com/<screen>/status/<id>``) or a retweet without
        mentions only gives a screen name; such a tweet waits until every
        tweet has been read, so one later in the archive can still tell
        whose it was.
        """
        try:
            tweet = _unwrap(raw, "tweet")
            text = tweet.get("full_text") or tweet.get("text") or ""
            if isinstance(text, str) and text.startswith("RT @") and not _mentions(tweet):
                match = _RT_PREFIX.match(text)
                if match and match["screen"].lower() not in self._by_screen:
                    return True
            own = self.self_handle.lower() if self.self_handle else None
            for url in _urls(tweet):
                match = _STATUS_URL.match(url) if isinstance(url, str) else None
                if match and match["screen"].lower() not in self._by_screen and match["screen"].lower() != own:
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

    def _account_records(self, _raw: object) -> list[Record]:
        handle = self.self_handle
        profile = f"https://x.com/{handle}" if handle else f"https://x.com/i/user/{self.self_id}"
        me = IdentityRecord(
            platform=X, external_id=self.self_id, handle=handle, display_name=self.self_name,
            profile_url=profile, is_self=True,
        )
        return [me, *self._notes]

    # -- tweets ---------------------------------------------------------------------
    def _tweet(self, raw: object) -> list[Record]:
        tweet = _unwrap(raw, "tweet")
        tweet_id = _id(tweet.get("id_str") or tweet.get("id"))
        if not tweet_id:
            return [SkipRecord("tweet without an id")]
        when = parse_created_at(tweet.get("created_at")) or snowflake_time(tweet_id)
        if when is None:
            return [SkipRecord("tweet without a readable date", detail=tweet_id)]
        text = html.unescape(tweet.get("full_text") or tweet.get("text") or "")
        me = self.self_id
        reply_to = _id(tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id"))
        base = dict(
            platform=X,
            external_id=tweet_id,
            direction=OUTBOUND,
            occurred_at=when,
            permalink=f"https://x.com/{self.self_handle or 'i'}/status/{tweet_id}",
            excerpt=excerpt(text),
            thread_id=_id(tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id")) or tweet_id,
        )
        mentioned = [_id(m.get("id_str") or m.get("id")) for m in _mentions(tweet)]
        if text.startswith("RT @"):
            return self._retweet(text, mentioned, base)
        records: list[Record] = []
        targets: dict[str, str] = {}
        if reply_to and reply_to != me:
            targets[reply_to] = REPLY
        for url in _urls(tweet):
            match = _STATUS_URL.match(url)
            if not match:
                continue
            screen = match["screen"].lower()
            if self.self_handle and screen == self.self_handle.lower():
                continue
            quoted = self._by_screen.get(screen)
            if quoted is None:
                records.append(SkipRecord("quote of an account the archive never names", detail=url))
            elif quoted != me:
                targets.setdefault(quoted, QUOTE)
        for user_id in mentioned:
            if user_id and user_id != me:
                targets.setdefault(user_id, MENTION)
        named = {u for u in mentioned if u and u != me}
        if reply_to and reply_to != me:
            named.add(reply_to)
        for user_id, kind in targets.items():
            records += self._identity(user_id)
            records.append(InteractionRecord(identity_id=user_id, kind=kind, named_count=max(len(named), 1), **base))
        return records

    def _retweet(self, text: str, mentioned: list[str], base: dict) -> list[Record]:
        # The archive keeps no retweeted_status: the original author is the
        # first mention, or failing that the "RT @name" of the (truncated) text.
        author = mentioned[0] if mentioned and mentioned[0] else None
        if author is None:
            match = _RT_PREFIX.match(text)
            author = self._by_screen.get(match["screen"].lower()) if match else None
        if author is None:
            return [SkipRecord("retweet of an account the archive never names", detail=base["external_id"])]
        if author == self.self_id:
            return []
        return [*self._identity(author), InteractionRecord(identity_id=author, kind=REPOST, named_count=1, **base)]

    # -- direct messages ------------------------------------------------------------
    def _conversations(self, name: str) -> Iterator[tuple[str, int, object]]:
        """(conversation id, conversation index, element) for every message element."""
        self._member = name
        state = {"index": -1, "conversation": ""}

        def tap(events):
            for prefix, event, value in events:
                if prefix == "item" and event == "start_map":
                    state["index"] += 1
                    state["conversation"] = ""
                elif prefix == "item.dmConversation.conversationId":
                    state["conversation"] = _id(value)
                yield prefix, event, value

        with json_stream(self._container, name, assignment=True) as stream:
            events = tap(ijson_backend.parse(stream, use_float=True))
            for element in ijson_backend.items(events, "item.dmConversation.messages.item"):
                yield state["conversation"], state["index"], element

    def _learn_participants(self, key: tuple[str, int], element: object) -> None:
        if not isinstance(element, dict):
            return
        people = self._participants.setdefault(key, set())
        for event in element.values():
            if not isinstance(event, dict):
                continue
            for field in ("senderId", "recipientId", "initiatingUserId"):
                if _id(event.get(field)):
                    people.add(_id(event[field]))
            for field in ("userIds", "participantsSnapshot"):
                values = event.get(field)
                if isinstance(values, list):
                    people.update(_id(v) for v in values if _id(v))

    def _message(self, conversation: str, message: dict, other: str, direction: str, named: int) -> list[Record]:
        return [
            *self._identity(other),
            InteractionRecord(
                platform=X,
                external_id=_id(message["id"]),
                identity_id=other,
                kind=DM,
                direction=direction,
                occurred_at=self._message_time(message),
                permalink=f"https://x.com/messages/{conversation}" if conversation else "",
                excerpt=excerpt(html.unescape(message.get("text") or "")),
                thread_id=conversation,
                named_count=named,
            ),
        ]

    @staticmethod
    def _message_time(message: dict) -> dt.datetime:
        when = parse_iso(message.get("createdAt")) or snowflake_time(_id(message.get("id")))
        if when is None:
            raise ValueError("message without a readable date")
        return when

    def _direct_message(self, item: tuple[str, object]) -> list[Record]:
        conversation, element = item
        message = element.get("messageCreate") if isinstance(element, dict) else None
        if not isinstance(message, dict):
            return []  # reactions and other events carry no message
        me = self.self_id
        sender, recipient = _id(message.get("senderId")), _id(message.get("recipientId"))
        if not recipient:
            others = [p for p in conversation.split("-") if p and p != sender]
            recipient = others[0] if others else ""
        if sender == me and recipient and recipient != me:
            return self._message(conversation, message, recipient, OUTBOUND, 1)
        if sender and sender != me and recipient in (me, ""):
            return self._message(conversation, message, sender, INBOUND, 1)
        if sender == me:
            return []  # a note to oneself
        return [SkipRecord("direct message between two other accounts", detail=_id(message.get("id")))]

    def _group_message(self, item: tuple[str, tuple[str, int], object]) -> list[Record]:
        conversation, key, element = item
        message = element.get("messageCreate") if isinstance(element, dict) else None
        if not isinstance(message, dict):
            return []
        me = self.self_id
        sender = _id(message.get("senderId"))
        if not sender:
            return [SkipRecord("group message without a sender", detail=_id(message.get("id")))]
        if sender != me:
            return self._message(conversation, message, sender, INBOUND, 1)
        others = sorted(self._participants.get(key, set()) - {me})
        if not others:
            return [SkipRecord("group message whose other participants are unknown", detail=_id(message.get("id")))]
        records: list[Record] = []
        for other in others:
            records += self._message(conversation, message, other, OUTBOUND, len(others))
        return records

    # -- likes and follows ----------------------------------------------------------
    def _likes(self, count: object) -> list[Record]:
        return [CountRecord("likes_without_author", count)] if count else []

    def _follow(self, item: tuple[object, str]) -> list[Record]:
        raw, key = item
        entry = _unwrap(raw, key)
        user_id = _id(entry.get("accountId"))
        if not user_id:
            return [SkipRecord(f"{key} entry without an account id")]
        if user_id == self.self_id:
            return []
        state = {"follows_me": True} if key == "follower" else {"i_follow": True}
        return [*self._identity(user_id), FollowRecord(platform=X, identity_id=user_id, **state)]


def _mentions(tweet: dict) -> list[dict]:
    mentions = (tweet.get("entities") or {}).get("user_mentions") or []
    return [m for m in mentions if isinstance(m, dict)]


def _urls(tweet: dict) -> list[str]:
    urls = (tweet.get("entities") or {}).get("urls") or []
    return [u.get("expanded_url") or "" for u in urls if isinstance(u, dict)]
