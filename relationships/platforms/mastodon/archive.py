"""Mastodon account archive importer (.zip, and .tar.gz from older servers).

Items, in this order (the resume ``position`` counts them, see archive_base):

1. the user's own account (``actor.json``; failing that, the ``actor`` of the
   first outbox activity);
2. every activity of ``outbox.json``, streamed with ijson from every
   ``orderedItems`` array (real files hold the key twice, the first one empty:
   ``"orderedItems":[],"orderedItems":[...]``);
3. the likes, as one item (``likes.json`` holds status URIs only, so they are
   counted, never turned into interactions).

Rules for an own post (``Create`` of a ``Note``):

* Addressed to neither ``as:Public`` nor the user's followers collection (in
  ``to``/``cc``) -> a direct message: one ``dm`` to each recipient (mentioned
  or addressed account).
* ``inReplyTo`` -> a ``reply`` to the parent's author. The archive holds only
  the parent's *status* URI, so its author is resolved, first match wins:
  (1) the URI lies under the user's own actor URI -> a reply to oneself, not
  an interaction; (2) it lies under a mentioned or addressed actor URI
  (Mastodon's ``https://host/users/name/statuses/id`` sits under
  ``https://host/users/name``); (3) the URI follows Mastodon's own
  convention, ``<actor URI>/statuses/<id>`` with an actor URI of
  ``https://host/users/name`` (or ``https://host/ap/users/<id>``, as a
  Mastodon 4.6 server writes them), so its author is that actor even when the reply names nobody: the
  same URI a live sync keys the account by; (4) exactly one mentioned account
  lives on the parent's host; (5) the post mentions exactly one account
  (servers prefix replies with the parent author's mention). Otherwise a
  SkipRecord. The profile-URL form ``https://host/@name/<id>`` is never an
  ``inReplyTo`` (Mastodon writes the parent's URI there), so it is not read.
* ``Mention`` tags -> a ``mention`` of everyone else named. Quote posts
  (``quote`` / ``quoteUri`` / ``_misskey_quote``) become a ``quote`` when the
  quoted post's author resolves the same way.
* ``Announce`` (a boost) -> a ``repost`` of the original author: the
  object's ``attributedTo`` when embedded, else the first ``cc`` entry that is
  neither the user's followers collection nor the public address.

Identities are keyed by actor URI; handles come from Mention names
(``@user@domain``, or ``@user`` for the user's own server). An account never
mentioned in the archive (a boost's author, a reply's parent named only by
its URI) gets ``name@host`` from an actor URI ``https://host/users/name``,
never the raw URI; a Mention name seen anywhere in the run wins over it, as
the account's domain can differ from its server's host.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from relationships.platforms.archives.base import ArchiveImporter, excerpt, html_to_text, parse_iso
from relationships.platforms.archives.reading import (
    Container,
    ijson_backend,
    json_stream,
    loads_member,
    translate_error,
)
from relationships.platforms.records import (
    MASTODON,
    OUTBOUND,
    REPOST,
    CountRecord,
    IdentityRecord,
    InteractionRecord,
    Post,
    Record,
    SkipRecord,
    post_records,
)

PUBLIC = frozenset({"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"})
_QUOTE_FIELDS = ("quote", "quoteUri", "_misskey_quote", "quoteUrl")
# Mastodon's URIs: actors at /users/<name> (or /ap/users/<id> on newer servers),
# their statuses under them at /statuses/<id>.
_STATUS_URI = re.compile(r"^(?P<actor>https?://[^/?#@]+(?:/ap)?/users/[^/?#]+)/statuses/[^/?#]+$")
_ACTOR_URI = re.compile(r"^https?://(?P<host>[^/?#@]+)/users/(?P<name>[\w.-]+)$")


def find_root(names: list[str]) -> str | None:
    """The folder holding ``outbox.json`` ("" at the top, or one folder deep)."""
    roots = [name[: -len("outbox.json")] for name in names if name.endswith("outbox.json")]
    roots = [r for r in roots if r == "" or (r.endswith("/") and r.count("/") == 1)]
    return min(roots, key=len) if roots else None


def recognises(names: list[str]) -> bool:
    """Whether a zip's or tar's member names are a Mastodon archive's."""
    return find_root(names) is not None


def _list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _uri(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return ""


def _under(uri: str, actor: str) -> bool:
    return bool(actor) and uri.startswith(actor.rstrip("/") + "/")


def status_author(uri: str) -> str | None:
    """The actor URI a Mastodon status URI sits under, when it follows the convention."""
    match = _STATUS_URI.match(uri)
    return match["actor"] if match else None


def handle_from_actor(uri: str) -> str | None:
    """``name@host`` of an actor URI ``https://host/users/name``; None for any other shape."""
    match = _ACTOR_URI.match(uri)
    return f"{match['name']}@{match['host'].lower()}" if match else None


def _host(uri: str) -> str:
    try:
        return (urlsplit(uri).hostname or "").lower()
    except ValueError:
        return ""


class MastodonArchiveImporter(ArchiveImporter):
    """Records of a Mastodon archive; owns (and closes) the container it is given."""

    kind = "mastodon"
    unit = "bytes"

    def __init__(self, container: Container, *, skip: int = 0) -> None:
        super().__init__(skip=skip)
        self._container = container
        root = find_root(container.names()) or ""
        self._outbox = root + "outbox.json"
        self._likes = root + "likes.json"
        self._member = root + "actor.json"
        actor = loads_member(container, self._member, assignment=False) if self._member in container else {}
        if not isinstance(actor, dict):
            actor = {}
        self.self_uri = _uri(actor.get("id")) or self._first_actor()
        self._actor = actor
        self._host = _host(self.self_uri)
        self._followers = {self.self_uri + "/followers"} | set(_list(actor.get("followers")))
        # Handles from Mention names, by actor URI: better than one read off the URI.
        self._mentioned: dict[str, str] = {}
        self.total = container.bytes_read + sum(
            container.size(name) for name in (self._outbox, self._likes) if name in container
        )

    def _first_actor(self) -> str:
        """Without actor.json, the user is the actor of their own activities."""
        if self._outbox not in self._container:
            return ""
        activities = self._stream(self._outbox, "orderedItems.item")
        try:
            for activity in activities:
                if isinstance(activity, dict) and _uri(activity.get("actor")):
                    return _uri(activity["actor"])
        except Exception as exc:
            raise translate_error(exc, self._outbox) or exc
        finally:
            activities.close()
        return ""

    # -- importer hooks ---------------------------------------------------------------
    def _done(self) -> int:
        return self._container.bytes_read

    def close(self) -> None:
        self._container.close()

    def _translate_error(self, exc: Exception):
        return translate_error(exc, self._member)

    def _stream(self, name: str, prefix: str) -> Iterator[object]:
        self._member = name
        with json_stream(self._container, name, assignment=False) as stream:
            yield from ijson_backend.items(stream, prefix, use_float=True)

    def _items(self):
        yield self._self_records, None, "account"
        if self._outbox in self._container:
            for activity in self._stream(self._outbox, "orderedItems.item"):
                yield self._activity, activity, "outbox activity"
        if self._likes in self._container:
            likes = sum(1 for _ in self._stream(self._likes, "orderedItems.item"))
            yield self._like_count, likes, "likes"

    # -- records ------------------------------------------------------------------------
    def _self_records(self, _raw: object) -> list[Record]:
        if not self.self_uri:
            return [SkipRecord("the archive does not say whose it is (no actor.json, empty outbox)")]
        actor = self._actor
        username = actor.get("preferredUsername")
        url = actor.get("url")
        return [
            IdentityRecord(
                platform=MASTODON,
                external_id=self.self_uri,
                handle=f"{username}@{self._host}" if isinstance(username, str) and username else None,
                display_name=actor.get("name") if isinstance(actor.get("name"), str) else "",
                profile_url=url if isinstance(url, str) else "",
                is_self=True,
            )
        ]

    def _like_count(self, count: object) -> list[Record]:
        return [CountRecord("likes_without_author", count)] if count else []

    def _handle(self, name: object) -> str | None:
        if not isinstance(name, str) or not name.startswith("@") or len(name) < 2:
            return None
        handle = name[1:]
        if "@" not in handle:
            if not self._host:
                return None
            handle = f"{handle}@{self._host}"
        return handle

    def _identity(self, actor: str) -> IdentityRecord:
        return IdentityRecord(
            platform=MASTODON, external_id=actor, handle=self._mentioned.get(actor) or handle_from_actor(actor)
        )

    def _identity_once(self, actor: str) -> list[IdentityRecord]:
        return self._announce(self._identity(actor))

    def _activity(self, activity: object) -> list[Record]:
        if not isinstance(activity, dict):
            return [SkipRecord("outbox item that is not an activity")]
        kind = activity.get("type")
        if kind == "Create":
            note = activity.get("object")
            if not isinstance(note, dict):
                return [SkipRecord("post without its content", detail=_uri(activity.get("id")))]
            return self._note(activity, note)
        if kind == "Announce":
            return self._boost(activity)
        # Mastodon's outbox holds only the two; anything else is counted, not guessed at.
        return [SkipRecord("outbox activity of an unknown type", detail=str(kind)[:100])]

    def _author_of(self, status: str, mentions: dict[str, str | None], addressed: list[str]) -> str | None:
        if _under(status, self.self_uri):
            return self.self_uri
        for actor in [*mentions, *addressed]:
            if _under(status, actor):
                return actor
        by_convention = status_author(status)
        if by_convention:
            return by_convention
        same_host = [m for m in mentions if _host(m) == _host(status)]
        if len(same_host) == 1:
            return same_host[0]
        if len(mentions) == 1:
            return next(iter(mentions))
        return None

    def _note(self, activity: dict, note: dict) -> list[Record]:
        status = _uri(note.get("id")) or _uri(activity.get("id"))
        when = parse_iso(note.get("published")) or parse_iso(activity.get("published"))
        if not status or when is None:
            return [SkipRecord("post without an id or a date", detail=status)]
        addressed = _list(note.get("to")) + _list(note.get("cc"))
        if not addressed:
            addressed = _list(activity.get("to")) + _list(activity.get("cc"))
        records, seen = self._post_seen(note, addressed, self._mentions(note))
        fields = self._note_fields(note, status, when)
        return records + post_records(seen, self.self_uri, self._identity_once, **fields)

    def _mentions(self, note: dict) -> dict[str, str | None]:
        """The actors a note's Mention tags name, with their handles (remembered for the run)."""
        mentions: dict[str, str | None] = {}
        for tag in _list_of_dicts(note.get("tag")):
            href = tag.get("href")
            if tag.get("type") == "Mention" and isinstance(href, str) and href:
                mentions.setdefault(href, self._handle(tag.get("name")))
                if mentions[href]:
                    self._mentioned[href] = mentions[href]
        return mentions

    def _post_seen(
        self, note: dict, addressed: list[str], mentions: dict[str, str | None]
    ) -> tuple[list[Record], Post]:
        """What an own note did (see the module docstring), and a skip for each author it leaves unknown."""
        public = [a for a in addressed if a in PUBLIC or a in self._followers]
        actors = [a for a in addressed if a not in public and a != self.self_uri]
        if addressed and not public:
            recipients = tuple(a for a in [*mentions, *actors] if not a.endswith("/followers"))
            return [], Post(mentions=tuple(mentions), dm=True, recipients=recipients)
        skips: list[Record] = []
        reply_to = ""
        parent = _uri(note.get("inReplyTo"))
        if parent:
            reply_to = self._author_of(parent, mentions, actors) or ""
            if not reply_to:
                skips.append(SkipRecord("reply to a post whose author the archive does not name", detail=parent))
        quotes: tuple[str, ...] = ()
        quoted = next((_uri(note.get(f)) for f in _QUOTE_FIELDS if _uri(note.get(f))), "")
        if quoted and not _under(quoted, self.self_uri):
            author = self._author_of(quoted, mentions, actors)
            if author is None:
                skips.append(SkipRecord("quote of a post whose author the archive does not name", detail=quoted))
            else:
                quotes = (author,)
        return skips, Post(reply_to=reply_to, quotes=quotes, mentions=tuple(mentions))

    @staticmethod
    def _note_fields(note: dict, status: str, when: dt.datetime) -> dict:
        """The interaction fields a note gives every account it concerns."""
        url = note.get("url")
        content = note.get("content")
        if not isinstance(content, str):
            content_map = note.get("contentMap")
            content = next(iter(content_map.values()), "") if isinstance(content_map, dict) and content_map else ""
        conversation = note.get("conversation")
        parent = _uri(note.get("inReplyTo"))
        return dict(
            platform=MASTODON,
            external_id=status,
            direction=OUTBOUND,
            occurred_at=when,
            permalink=url if isinstance(url, str) and url else status,
            excerpt=excerpt(html_to_text(content)),
            thread_id=conversation if isinstance(conversation, str) and conversation else (parent or status),
        )

    def _boost(self, activity: dict) -> list[Record]:
        boost_id = _uri(activity.get("id"))
        original = activity.get("object")
        original_uri = _uri(original)
        when = parse_iso(activity.get("published"))
        if not boost_id or not original_uri or when is None:
            return [SkipRecord("boost without an id, a post or a date", detail=boost_id)]
        author = _uri(original.get("attributedTo")) if isinstance(original, dict) else ""
        if not author:
            author = next(
                (a for a in _list(activity.get("cc")) if a not in self._followers and a not in PUBLIC), ""
            )
        if not author:
            # The boosted post's URI names its author by Mastodon's convention, as for replies.
            author = status_author(original_uri) or ""
        if not author:
            return [SkipRecord("boost of a post whose author the archive does not name", detail=original_uri)]
        if author == self.self_uri or _under(original_uri, self.self_uri):
            return []
        return [
            *self._identity_once(author),
            InteractionRecord(
                platform=MASTODON,
                external_id=boost_id,
                identity_id=author,
                kind=REPOST,
                direction=OUTBOUND,
                occurred_at=when,
                permalink=original_uri,
                thread_id=original_uri,
            ),
        ]


def _list_of_dicts(value: object) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []
