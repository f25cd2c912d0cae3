"""Bluesky views and records (as camelCase JSON) to records.

Classification follows the *record*, not the notification reason: the
AppView sends one notification per post and recipient (mention > quote >
reply) and notifies reply ancestors up to five levels up. So a post whose
``reply.parent`` is the user's is a reply even when it arrives as
``mention``, and a ``reply`` notification whose parent belongs to someone
else (the user is only an ancestor) is no interaction at all.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from relationships.platforms.cursors import parse_time
from relationships.platforms.errors import MalformedResponse
from relationships.platforms.records import (
    BLUESKY,
    DM,
    INBOUND,
    LIKE,
    OUTBOUND,
    REPOST,
    FollowRecord,
    IdentityRecord,
    InteractionRecord,
    Post,
    Record,
    SkipRecord,
    post_records,
)

EXCERPT_LENGTH = 200
_S32 = "234567abcdefghijklmnopqrstuvwxyz"
ANCESTOR_ONLY = "reply further down a thread you started, not to you"
CHAT_NOT_ALLOWED = "Bluesky chat is not allowed for this app password"
CHAT_UNREACHABLE = "Bluesky chat did not answer"


def dump(model: Any) -> dict:
    """An answer of the atproto SDK (a pydantic model) as the plain JSON dict the classifiers read."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def did_of(uri: object) -> str:
    """The repository DID of an AT-URI (``at://did:plc:x/collection/rkey``); "" when it names none."""
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return ""
    authority = uri[5:].split("/", 1)[0]
    return authority if authority.startswith("did:") else ""


def record_path(uri: str) -> tuple[str, str]:
    """The collection and record key of an AT-URI ``at://<did>/<collection>/<rkey>``; ("", "") without them."""
    parts = uri[5:].split("/")
    return (parts[1], parts[2]) if len(parts) >= 3 else ("", "")


def rkey_of(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def tid_time(tid: str) -> dt.datetime | None:
    """The creation time a TID record key encodes (microseconds since the epoch, shifted by 10 bits)."""
    if len(tid) != 13 or any(c not in _S32 for c in tid):
        return None
    value = 0
    for char in tid:
        value = value * 32 + _S32.index(char)
    return dt.datetime.fromtimestamp((value >> 10) / 1_000_000, dt.UTC)


def post_url(uri: str, handle: str | None = None) -> str:
    actor = handle or did_of(uri) or ""
    return f"https://bsky.app/profile/{actor}/post/{rkey_of(uri)}"


def profile_url(profile: dict) -> str:
    return f"https://bsky.app/profile/{_handle(profile) or profile.get('did')}"


def _handle(profile: dict) -> str | None:
    handle = profile.get("handle")
    return None if not handle or handle == "handle.invalid" else str(handle)


def identity(profile: dict, *, is_self: bool = False) -> IdentityRecord:
    """An identity from any profile view; a bare ``{"did": ...}`` gives one with the DID only."""
    labels = profile.get("labels")
    is_bot = True if any((label or {}).get("val") == "bot" for label in labels or ()) else None
    return IdentityRecord(
        platform=BLUESKY,
        external_id=str(profile["did"]),
        handle=_handle(profile),
        display_name=str(profile.get("displayName") or ""),
        avatar_url=str(profile.get("avatar") or ""),
        profile_url=profile_url(profile) if _handle(profile) else "",
        is_bot=is_bot,
        is_self=is_self,
    )


def follow_state(profile: dict) -> FollowRecord | None:
    """Relationship state from a profile view's ``viewer``, when the view has one."""
    viewer = profile.get("viewer")
    if not isinstance(viewer, dict):
        return None
    return FollowRecord(
        platform=BLUESKY,
        identity_id=str(profile["did"]),
        i_follow=bool(viewer.get("following")),
        follows_me=bool(viewer.get("followedBy")),
        blocked=bool(viewer.get("blocking")),
        muted=bool(viewer.get("muted")),
    )


def excerpt(text: str | None, length: int = EXCERPT_LENGTH) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def occurred(record: dict, indexed_at: str | None) -> dt.datetime:
    """When a record was made: its ``createdAt``, unless that claims to be later than the indexing."""
    created, indexed = parse_time(record.get("createdAt")), parse_time(indexed_at)
    if created and indexed:
        return min(created, indexed)
    moment = created or indexed
    if moment is None:
        raise MalformedResponse("record without a readable time")
    return moment


# ---------------------------------------------------------------- post records


def _object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def mentioned(record: dict) -> list[str]:
    """DIDs a post's facets mention, in order, without repeats."""
    dids = []
    for facet in record.get("facets") or []:
        for feature in _object(facet).get("features") or []:
            feature = _object(feature)
            did = _text(feature.get("did"))
            if feature.get("$type") == "app.bsky.richtext.facet#mention" and did.startswith("did:"):
                dids.append(did)
    return list(dict.fromkeys(dids))


def parent_uri(record: dict) -> str:
    return _text(_object(_object(record.get("reply")).get("parent")).get("uri"))


def root_uri(record: dict) -> str:
    return _text(_object(_object(record.get("reply")).get("root")).get("uri"))


def quoted_uri(record: dict) -> str:
    """The AT-URI of the record an ``app.bsky.embed.record`` (or ``recordWithMedia``) embed quotes."""
    embed = _object(record.get("embed"))
    quoted = _object(embed.get("record"))
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        quoted = _object(quoted.get("record"))
    elif embed.get("$type") != "app.bsky.embed.record":
        return ""
    return _text(quoted.get("uri"))


def post_seen(record: dict, *, quoting: str | None = None) -> Post:
    """What a post record did: whom it replies to, whose record it quotes, whom it mentions.

    ``quoting`` narrows the quotes to records of that collection (the
    repository importer counts quoted posts only; the AppView's views also
    count a quoted feed or list).
    """
    quoted = quoted_uri(record)
    if quoting is not None and record_path(quoted)[0] != quoting:
        quoted = ""
    quotes = (did_of(quoted),) if did_of(quoted) else ()
    return Post(reply_to=did_of(parent_uri(record)), quotes=quotes, mentions=tuple(mentioned(record)))


def _interaction(uri: str, other: str, kind: str, direction: str, when: dt.datetime, **extra: Any) -> InteractionRecord:
    return InteractionRecord(
        platform=BLUESKY, external_id=uri, identity_id=other, kind=kind, direction=direction, occurred_at=when, **extra
    )


# ---------------------------------------------------------------- streams


def notification(note: dict, me: str) -> tuple[list[Record], dict[str, dict]]:
    """Records of one notification and the profile views it carries (by DID)."""
    reason = str(note.get("reason") or "")
    author = note.get("author") or {}
    did = str(author.get("did") or "")
    record = note.get("record") or {}
    uri = str(note.get("uri") or "")
    views = {did: author} if did else {}
    if not did or did == me:
        return [SkipRecord("notification without another author", uri)], {}
    when = occurred(record, note.get("indexedAt"))
    if reason in ("like", "repost"):
        subject = note.get("reasonSubject") or ((record.get("subject") or {}).get("uri"))
        kind = LIKE if reason == "like" else REPOST
        link = post_url(subject) if subject else ""
        return [_interaction(uri, did, kind, INBOUND, when, permalink=link)], views
    if reason == "follow":
        return [FollowRecord(platform=BLUESKY, identity_id=did, follows_me=True, since=when)], views
    if reason in ("reply", "mention", "quote"):
        seen = post_seen(record)
        kind = seen.kind_towards(me)
        if kind is None:
            if reason == "reply":
                return [SkipRecord(ANCESTOR_ONLY, uri)], {}
            return [SkipRecord(f"Bluesky {reason} that does not address you", uri)], {}
        return [
            _interaction(
                uri, did, kind, INBOUND, when,
                permalink=post_url(uri, _handle(author)),
                excerpt=excerpt(record.get("text")),
                thread_id=root_uri(record) or uri,
                named_count=seen.named_count(did),
            )
        ], views
    return [SkipRecord(f"Bluesky notification of type {reason or 'unknown'!r} is not an interaction", uri)], {}


def own_feed_item(item: dict, me: str) -> tuple[list[Record], dict[str, dict]]:
    """Outbound interactions of one item of the user's author feed (a post or a repost)."""
    post = item.get("post") or {}
    author = post.get("author") or {}
    uri = str(post.get("uri") or "")
    if (item.get("reason") or {}).get("$type") == "app.bsky.feed.defs#reasonRepost":
        return _own_repost(item, me)
    if author.get("did") != me:
        return [SkipRecord("post by someone else in your feed", uri)], {}
    record = post.get("record") or {}
    fields = dict(
        platform=BLUESKY,
        external_id=uri,
        direction=OUTBOUND,
        occurred_at=occurred(record, post.get("indexedAt")),
        permalink=post_url(uri, _handle(author)),
        excerpt=excerpt(record.get("text")),
        thread_id=root_uri(record) or uri,
    )
    return post_records(post_seen(record), me, lambda _did: [], **fields), _named_views(item)


def _own_repost(item: dict, me: str) -> tuple[list[Record], dict[str, dict]]:
    post = item.get("post") or {}
    author = post.get("author") or {}
    reason = item.get("reason") or {}
    uri = str(post.get("uri") or "")
    did = str(author.get("did") or "")
    if did == me:
        return [SkipRecord("repost of your own post", uri)], {}
    when = parse_time(reason.get("indexedAt")) or occurred(post.get("record") or {}, post.get("indexedAt"))
    return [
        _interaction(str(reason.get("uri") or uri), did, REPOST, OUTBOUND, when,
                     permalink=post_url(uri, _handle(author)), excerpt=excerpt((post.get("record") or {}).get("text")))
    ], {did: author}


def _named_views(item: dict) -> dict[str, dict]:
    """The profile views an own post's item carries of its parent's and its quoted post's authors."""
    views: dict[str, dict] = {}
    parent_view = ((item.get("reply") or {}).get("parent") or {}).get("author")
    if isinstance(parent_view, dict) and parent_view.get("did"):
        views[str(parent_view["did"])] = parent_view
    quoted_view = _quoted_view((item.get("post") or {}).get("embed") or {})
    if quoted_view and isinstance(quoted_view.get("author"), dict):
        views[str(quoted_view["author"].get("did"))] = quoted_view["author"]
    return views


def _quoted_view(embed: dict) -> dict | None:
    """The hydrated quoted post (``viewRecord``) of a post view's embed."""
    kind = embed.get("$type")
    if kind == "app.bsky.embed.record#view":
        view = embed.get("record")
    elif kind == "app.bsky.embed.recordWithMedia#view":
        view = (embed.get("record") or {}).get("record")
    else:
        return None
    return view if isinstance(view, dict) else None


def liked_item(item: dict, me: str) -> tuple[list[Record], dict[str, dict]]:
    """One of the user's likes (``getActorLikes``): the like record is ``viewer.like``."""
    post = item.get("post") or {}
    author = post.get("author") or {}
    did = str(author.get("did") or "")
    like_uri = (post.get("viewer") or {}).get("like")
    if not like_uri:
        return [SkipRecord("liked post without your like record", str(post.get("uri") or ""))], {}
    if did == me:
        return [SkipRecord("like of your own post", str(like_uri))], {}
    when = tid_time(rkey_of(like_uri)) or occurred(post.get("record") or {}, post.get("indexedAt"))
    return [
        _interaction(str(like_uri), did, LIKE, OUTBOUND, when, permalink=post_url(str(post.get("uri")), _handle(author)),
                     excerpt=excerpt((post.get("record") or {}).get("text")))
    ], {did: author}


def like_key(item: dict) -> str:
    """Sort key of a liked item: the like's own time, from its TID record key."""
    like_uri = ((item.get("post") or {}).get("viewer") or {}).get("like") or ""
    moment = tid_time(rkey_of(like_uri)) if like_uri else None
    return (moment or dt.datetime.min.replace(tzinfo=dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message(msg: dict, convo: dict, me: str) -> tuple[list[Record], dict[str, dict]]:
    """One chat message as a ``dm`` in the right direction (one per other member when outbound)."""
    if msg.get("$type", "chat.bsky.convo.defs#messageView") != "chat.bsky.convo.defs#messageView":
        return [], {}
    sender = str((msg.get("sender") or {}).get("did") or "")
    members = {str(m.get("did")): m for m in convo.get("members") or () if m.get("did")}
    others = [d for d in members if d != me]
    when = parse_time(msg.get("sentAt"))
    if when is None:
        return [SkipRecord("chat message without a time", str(msg.get("id")))], {}
    external = f"chat:{convo.get('id')}/{msg.get('id')}"
    common = {"excerpt": excerpt(msg.get("text")), "thread_id": f"chat:{convo.get('id')}", "named_count": max(1, len(others))}
    if sender == me:
        return [_interaction(external, o, DM, OUTBOUND, when, **common) for o in others], {o: members[o] for o in others}
    return [_interaction(external, sender, DM, INBOUND, when, **common)], ({sender: members[sender]} if sender in members else {})
