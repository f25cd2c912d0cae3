"""X (Twitter) data archive importer.

Reads the ``data/*.js`` members of an X archive zip (``window.YTD.<name>.partN
= [...]``), or of the archive X gave until 2018 ("Grailbird": one
``data/js/tweets/YYYY_MM.js`` per month, ``Grailbird.data.tweets_YYYY_MM =
[...]``, the owner in ``data/js/user_details.js``; tweets only, so its
direct-message, like and follow items are empty; ``tweets.csv`` repeats the
tweets without the mentions' ids and is not read), as JSON after the first
``=`` -- the JavaScript is never evaluated -- and streams every array element
by element (conversations with ijson, message by message), so a member of
any size is never held in memory. Memory stays flat: besides the current item only a map of the people named
in the user's tweets (id -> screen name) is kept.

Items, in this order (the resume ``position`` counts them, see archive_base):

1. the account (``account.js``; ``manifest.js`` userInfo as a fallback;
   Grailbird: ``user_details.js``);
2. every tweet of ``tweets.js`` / ``tweet.js`` / ``tweets-partN.js`` (all parts
   listed by ``manifest.js`` or present), in part order (Grailbird: every
   month's file, oldest month first), those set aside
   (see below) last, then one item of names learned late;
3. every element of every conversation of ``direct-messages.js``, then of
   ``direct-messages-group.js``;
4. the likes, as one item (one ``CountRecord("likes_without_author", n)``);
5. every follower, then every followed account.

The tweets are read once, through ``x_tweets.TweetReader``. Each one first
teaches who the user named (ids and screen names from mentions and reply
targets); a tweet that names an account only by a screen name not yet tied
to an id of that time (a quote link
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

from relationships.platforms.archives.base import ArchiveError, ArchiveImporter, excerpt, parse_iso
from relationships.platforms.archives.reading import (
    Container,
    ijson_backend,
    json_array_items,
    json_stream,
    loads_member,
    translate_error,
)
from relationships.platforms.records import (
    DM,
    INBOUND,
    OUTBOUND,
    CountRecord,
    FollowRecord,
    IdentityRecord,
    InteractionRecord,
    Record,
    SkipRecord,
    X,
)
from relationships.platforms.x.tweets import TweetReader, as_dict, snowflake_time, str_id, unwrap

_DATA_JS = re.compile(r"^(?P<root>(?:[^/]+/)?)data/(?P<base>[a-z0-9-]+?)(?:-part(?P<part>\d+))?\.js$")
_MARKERS = {"manifest", "account", "tweets", "tweet"}
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


# The archive X gave until 2018 ("Grailbird", after the global its files assign).
_GRAILBIRD_JS = re.compile(
    r"^(?P<root>(?:[^/]+/)?)data/js/(?:(?P<base>user_details|tweet_index)|tweets/(?P<month>\d{4}_\d{2}))\.js$"
)


def _roots(names: list[str]) -> tuple[set[str], set[str]]:
    """The folders holding a 2019+ ``data/``, and those holding a Grailbird ``data/js/``."""
    current, grailbird = set(), set()
    for name in names:
        match = _DATA_JS.match(name)
        if match and match["base"] in _MARKERS:
            current.add(match["root"])
        match = _GRAILBIRD_JS.match(name)
        if match:
            grailbird.add(match["root"])
    return current, grailbird


def find_root(names: list[str]) -> str | None:
    """The folder the archive's ``data/`` sits in ("" at the top), or None.

    A re-zipped download often gains one top folder, so one level is allowed.
    """
    roots = set.union(*_roots(names))
    return min(roots, key=len) if roots else None


def recognises(names: list[str]) -> bool:
    """Whether a zip's or tar's member names are an X archive's (either layout)."""
    return find_root(names) is not None


class XArchiveImporter(TweetReader, ArchiveImporter):
    """Records of an X archive; owns (and closes) the container it is given."""

    kind = "x"
    unit = "bytes"

    def __init__(self, container: Container, *, skip: int = 0) -> None:
        super().__init__(skip=skip)
        self._container = container
        self._member = ""
        root = find_root(container.names())
        if root is None:
            raise ArchiveError(
                "This is not an X archive: it has no data/tweets.js, data/account.js or data/js/tweets/"
            )
        self._root = root
        self._notes: list[SkipRecord] = []
        if root in _roots(container.names())[0]:
            manifest = self._load_manifest()
            self._files = {base: self._parts(base, manifest) for base in _MANIFEST_KEYS}
            self._files["tweets"] = self._files.pop("tweets") + self._files.pop("tweet")
            self._load_account(manifest)
        else:
            # A Grailbird archive holds tweets only: no DMs, likes or follows.
            self._files = {base: [] for base in _MANIFEST_KEYS if base != "tweet"}
            self._files["tweets"] = self._grailbird_months()
            self._load_user_details()
        self._init_people()
        self._participants: dict[tuple[str, int], set[str]] = {}
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
        listed = as_dict(as_dict(manifest.get("dataTypes")).get(_MANIFEST_KEYS[base])).get("files")
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
            first = as_dict(data[0]) if isinstance(data, list) and data else {}
            account = as_dict(first.get("account", first))
        info = as_dict(manifest.get("userInfo"))
        self._set_owner(
            account.get("accountId") or info.get("accountId"),
            account.get("username") or info.get("userName"),
            account.get("accountDisplayName") or info.get("displayName"),
            "data/account.js",
        )

    def _grailbird_months(self) -> list[str]:
        """``data/js/tweets/YYYY_MM.js``, oldest month first; what ``tweet_index.js`` lists but lacks is reported."""
        months = sorted(
            name for name in self._container.names()
            if (match := _GRAILBIRD_JS.match(name)) and match["root"] == self._root and match["month"]
        )
        index = f"{self._root}data/js/tweet_index.js"
        if index in self._container:
            self._member = index
            listed = loads_member(self._container, index, assignment=True)
            for entry in listed if isinstance(listed, list) else []:
                file_name = as_dict(entry).get("file_name")
                if isinstance(file_name, str) and self._root + file_name not in self._container:
                    self._notes.append(SkipRecord("file listed by the tweet index is missing from the archive",
                                                  detail=self._root + file_name))
        return months

    def _load_user_details(self) -> None:
        name = f"{self._root}data/js/user_details.js"
        details: dict = {}
        if name in self._container:
            self._member = name
            details = as_dict(loads_member(self._container, name, assignment=True))
        self._set_owner(details.get("id"), details.get("screen_name"), details.get("full_name"),
                        "data/js/user_details.js")

    def _set_owner(self, user_id: object, handle: object, name: object, file_name: str) -> None:
        self.self_id = str_id(user_id)
        if not self.self_id:
            raise ArchiveError(f"The X archive has no {file_name}, so it cannot tell which account is yours")
        self.self_handle: str | None = handle if isinstance(handle, str) and handle else None
        self.self_name: str = name if isinstance(name, str) else ""

    def _account_records(self, _raw: object) -> list[Record]:
        handle = self.self_handle
        profile = f"https://x.com/{handle}" if handle else f"https://x.com/i/user/{self.self_id}"
        me = IdentityRecord(
            platform=X, external_id=self.self_id, handle=handle, display_name=self.self_name,
            profile_url=profile, is_self=True,
        )
        return [me, *self._notes]

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
        yield from self._tweet_items()
        yield from self._message_items()
        likes = sum(1 for name in self._files["like"] for _ in self._stream(name))
        yield self._likes, likes, "likes"
        for name in self._files["follower"]:
            for raw in self._stream(name):
                yield self._follow, (raw, "follower"), "follower"
        for name in self._files["following"]:
            for raw in self._stream(name):
                yield self._follow, (raw, "following"), "followed account"

    def _tweet_items(self):
        """Every tweet, those set aside last, then the names learned late; a damaged tweets file after them."""
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

    def _message_items(self):
        """Every direct message, then every group message once each conversation's participants are known."""
        for name in self._files["direct-messages"]:
            for conversation, _index, message in self._conversations(name):
                yield self._direct_message, (conversation, message), "direct message"
        for name in self._files["direct-messages-group"]:
            for _conversation, index, message in self._conversations(name):
                self._learn_participants((name, index), message)
        for name in self._files["direct-messages-group"]:
            for conversation, index, message in self._conversations(name):
                yield self._group_message, (conversation, (name, index), message), "group message"

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
                    state["conversation"] = str_id(value)
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
                if str_id(event.get(field)):
                    people.add(str_id(event[field]))
            for field in ("userIds", "participantsSnapshot"):
                values = event.get(field)
                if isinstance(values, list):
                    people.update(str_id(v) for v in values if str_id(v))

    def _message(self, conversation: str, message: dict, other: str, direction: str, named: int) -> list[Record]:
        return [
            *self._identity(other),
            InteractionRecord(
                platform=X,
                external_id=str_id(message["id"]),
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
        when = parse_iso(message.get("createdAt")) or snowflake_time(str_id(message.get("id")))
        if when is None:
            raise ValueError("message without a readable date")
        return when

    def _direct_message(self, item: tuple[str, object]) -> list[Record]:
        conversation, element = item
        message = element.get("messageCreate") if isinstance(element, dict) else None
        if not isinstance(message, dict):
            return []  # reactions and other events carry no message
        me = self.self_id
        sender, recipient = str_id(message.get("senderId")), str_id(message.get("recipientId"))
        if not recipient:
            others = [p for p in conversation.split("-") if p and p != sender]
            recipient = others[0] if others else ""
        if sender == me and recipient and recipient != me:
            return self._message(conversation, message, recipient, OUTBOUND, 1)
        if sender and sender != me and recipient in (me, ""):
            return self._message(conversation, message, sender, INBOUND, 1)
        if sender == me:
            return []  # a note to oneself
        return [SkipRecord("direct message between two other accounts", detail=str_id(message.get("id")))]

    def _group_message(self, item: tuple[str, tuple[str, int], object]) -> list[Record]:
        conversation, key, element = item
        message = element.get("messageCreate") if isinstance(element, dict) else None
        if not isinstance(message, dict):
            return []
        me = self.self_id
        sender = str_id(message.get("senderId"))
        if not sender:
            return [SkipRecord("group message without a sender", detail=str_id(message.get("id")))]
        if sender != me:
            return self._message(conversation, message, sender, INBOUND, 1)
        others = sorted(self._participants.get(key, set()) - {me})
        if not others:
            return [SkipRecord("group message whose other participants are unknown", detail=str_id(message.get("id")))]
        records: list[Record] = []
        for other in others:
            records += self._message(conversation, message, other, OUTBOUND, len(others))
        return records

    # -- likes and follows ----------------------------------------------------------
    def _likes(self, count: object) -> list[Record]:
        return [CountRecord("likes_without_author", count)] if count else []

    def _follow(self, item: tuple[object, str]) -> list[Record]:
        raw, key = item
        entry = unwrap(raw, key)
        user_id = str_id(entry.get("accountId"))
        if not user_id:
            return [SkipRecord(f"{key} entry without an account id")]
        if user_id == self.self_id:
            return []
        state = {"follows_me": True} if key == "follower" else {"i_follow": True}
        return [*self._identity(user_id), FollowRecord(platform=X, identity_id=user_id, **state)]

