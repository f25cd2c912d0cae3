"""Mastodon API entities (statuses, notifications, conversations) to records.

Pure functions over the JSON the API returns (Mastodon.py's dict subclasses
work too). :func:`post_seen` says what a status did (direct visibility, its
parent's and its quoted status' authors, its mentions); the kinds come from
:class:`~relationships.platforms.records.Post`.

``in_reply_to_account_id`` is not the parent's author in a self-reply chain
(Mastodon carries the thread starter's id down the chain), so the parent's
author comes from :attr:`MastodonContext.status_authors`, filled by the
connector from the statuses it saw or looked up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from relationships.platforms.cursors import parse_time
from relationships.platforms.errors import MalformedResponse
from relationships.platforms.records import (
    DM,
    INBOUND,
    LIKE,
    MASTODON,
    OUTBOUND,
    REPOST,
    ProfileLink,
    FollowRecord,
    IdentityRecord,
    InteractionRecord,
    Post,
    Record,
    SkipRecord,
)

EXCERPT_LENGTH = 200


@dataclass
class MastodonContext:
    """What classification needs to know beyond one entity."""

    me_id: str
    local_domain: str
    #: Full accounts by local id: mentions carry no actor URI.
    accounts: dict[str, dict] = field(default_factory=dict)
    #: Local account id by actor URI, to ask for relationships.
    ids_by_uri: dict[str, str] = field(default_factory=dict)
    #: Author account id by status id, for reply parents and shallow quotes.
    status_authors: dict[str, str] = field(default_factory=dict)

    def add_account(self, account: dict) -> None:
        if account and account.get("id"):
            self.accounts[str(account["id"])] = account
            self.ids_by_uri[actor_uri(account, self.local_domain)[0]] = str(account["id"])

    def remember(self, status: dict | None) -> None:
        """Learn the author (and account) of a status and of what it embeds."""
        if not status:
            return
        account = status.get("account") or {}
        if status.get("id") and account.get("id"):
            self.status_authors[str(status["id"])] = str(account["id"])
            self.add_account(account)
        self.remember(status.get("reblog"))
        quoted = (status.get("quote") or {}).get("quoted_status")
        if isinstance(quoted, dict):
            self.remember(quoted)


# ---------------------------------------------------------------- identities


def actor_uri(account: dict, local_domain: str) -> tuple[str, bool]:
    """The account's ActivityPub URI, and whether it had to be guessed.

    The guess (``https://host/users/name``) is only for servers older than
    4.2 that send no ``uri``; ingest corrects it when the real one shows up.
    """
    if account.get("uri"):
        return str(account["uri"]), False
    username, _, domain = str(account.get("acct") or account.get("username") or "").partition("@")
    host = domain or urlsplit(str(account.get("url") or "")).netloc or local_domain
    return f"https://{host}/users/{username}", True


def handle_of(account: dict, local_domain: str) -> str | None:
    acct = str(account.get("acct") or "").lstrip("@")
    if not acct:
        return None
    # Local accounts' acct has no domain. The API does not tell the local
    # domain apart from the web domain, so the server's host stands in.
    return acct if "@" in acct else f"{acct}@{local_domain}"


def identity(account: dict, local_domain: str, *, is_self: bool = False) -> IdentityRecord:
    uri, provisional = actor_uri(account, local_domain)
    return IdentityRecord(
        platform=MASTODON,
        external_id=uri,
        handle=handle_of(account, local_domain),
        display_name=str(account.get("display_name") or ""),
        avatar_url=str(account.get("avatar") or ""),
        profile_url=str(account.get("url") or account.get("uri") or ""),
        is_bot=account.get("bot") if isinstance(account.get("bot"), bool) else None,
        discoverable=account.get("discoverable") if isinstance(account.get("discoverable"), bool) else None,
        is_self=is_self,
        provisional=provisional,
        profile_links=profile_links(account),
    )


class _Link(HTMLParser):
    """The first link's address and the text of a profile field's value (HTML, as the API sends it)."""

    def __init__(self) -> None:
        super().__init__()
        self.href = ""
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and not self.href:
            self.href = dict(attrs).get("href") or ""

    def handle_data(self, data):
        self.parts.append(data)


def profile_links(account: dict) -> tuple[ProfileLink, ...] | None:
    """The account's profile fields that hold a web address, with Mastodon's rel=me verification time.

    None when the entity carries no ``fields`` (a mention, an old server): not
    known, so what an earlier sync stored stays.
    """
    fields = account.get("fields")
    if not isinstance(fields, list):
        return None
    links = []
    for item in fields[:16]:
        if not isinstance(item, dict):
            continue
        parser = _Link()
        parser.feed(str(item.get("value") or ""))
        text = "".join(parser.parts).strip()
        url = parser.href or (text if text.startswith(("https://", "http://")) else "")
        if url.startswith(("https://", "http://")):
            name = " ".join(str(item.get("name") or "").split())[:100]
            links.append(ProfileLink(name=name, url=url[:1024], verified_at=str(item.get("verified_at") or "")))
    return tuple(links)


def mention_account(mention: dict, ctx: MastodonContext) -> dict:
    """The full account of a mention when known, else the mention itself (no URI: guessed)."""
    return ctx.accounts.get(str(mention.get("id")), mention)


# ---------------------------------------------------------------- text


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "p"):
            self.parts.append(" ")

    def handle_data(self, data):
        self.parts.append(data)


def excerpt(html: str | None, length: int = EXCERPT_LENGTH) -> str:
    """Plain text of a status' HTML content, cut to ``length`` characters."""
    if not html:
        return ""
    parser = _Text()
    parser.feed(str(html))
    text = " ".join("".join(parser.parts).split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def created_at(entity: dict) -> dt.datetime:
    moment = parse_time(entity.get("created_at"))
    if moment is None:
        raise MalformedResponse(f"entity {entity.get('id')!r} has no readable created_at")
    return moment


# ---------------------------------------------------------------- statuses


def parent_author(status: dict, ctx: MastodonContext) -> str | None:
    parent = status.get("in_reply_to_id")
    known = ctx.status_authors.get(str(parent)) if parent else None
    if known:
        return known
    # The parent could not be fetched (hidden), or is gone: deleting a status
    # nulls its replies' in_reply_to_id (a foreign key ON DELETE SET NULL)
    # but keeps in_reply_to_account_id, so a reply to a deleted post is
    # still a reply to that account, never a mere mention.
    fallback = status.get("in_reply_to_account_id")
    return str(fallback) if fallback else None


def quoted_author(status: dict, ctx: MastodonContext) -> str | None:
    quote = status.get("quote")
    if not isinstance(quote, dict) or quote.get("state", "accepted") != "accepted":
        return None
    quoted = quote.get("quoted_status")
    if isinstance(quoted, dict):
        return str((quoted.get("account") or {}).get("id") or "") or None
    quoted_id = quote.get("quoted_status_id")
    return ctx.status_authors.get(str(quoted_id)) if quoted_id else None


def statuses_to_look_up(status: dict, ctx: MastodonContext) -> set[str]:
    """Status ids whose author classification needs and the context lacks."""
    wanted = set()
    if status.get("in_reply_to_id") and str(status["in_reply_to_id"]) not in ctx.status_authors:
        wanted.add(str(status["in_reply_to_id"]))
    quote = status.get("quote")
    if isinstance(quote, dict) and quote.get("quoted_status_id") and not quote.get("quoted_status"):
        if str(quote["quoted_status_id"]) not in ctx.status_authors:
            wanted.add(str(quote["quoted_status_id"]))
    return wanted


def accounts_to_look_up(status: dict, ctx: MastodonContext) -> set[str]:
    """Ids of people the status concerns whose full account (their URI) the context lacks."""
    wanted = {str(m["id"]) for m in status.get("mentions") or () if m.get("id")}
    wanted.update(i for i in (parent_author(status, ctx), quoted_author(status, ctx)) if i)
    return {i for i in wanted if i not in ctx.accounts and i != ctx.me_id}


def post_seen(status: dict, ctx: MastodonContext) -> Post:
    """What a status did, by local account id: a direct message to everyone it names, else
    a reply to its parent's author, a quote of the quoted status' author, mentions."""
    parent, quoted = parent_author(status, ctx), quoted_author(status, ctx)
    return Post(
        reply_to=parent or "",
        quotes=(quoted,) if quoted else (),
        mentions=tuple(str(m.get("id")) for m in status.get("mentions") or ()),
        dm=status.get("visibility") == "direct",
    )


def _interaction(status: dict, other: dict, kind: str, direction: str, ctx: MastodonContext, **extra: Any):
    return InteractionRecord(
        platform=MASTODON,
        external_id=str(status.get("uri") or status.get("url")),
        identity_id=actor_uri(other, ctx.local_domain)[0],
        kind=kind,
        direction=direction,
        occurred_at=created_at(status),
        permalink=str(status.get("url") or status.get("uri") or ""),
        excerpt=excerpt(status.get("content")),
        **extra,
    )


def own_status(status: dict, ctx: MastodonContext) -> list[Record]:
    """Outbound interactions of one of the user's own statuses."""
    reblog = status.get("reblog")
    if isinstance(reblog, dict):
        target = reblog.get("account") or {}
        if str(target.get("id")) == ctx.me_id:
            return [SkipRecord("boost of your own post", str(status.get("uri", "")))]
        record = _interaction(status, target, REPOST, OUTBOUND, ctx)
        record = replace(record, permalink=str(reblog.get("url") or reblog.get("uri") or ""), excerpt=excerpt(reblog.get("content")))
        return [identity(target, ctx.local_domain), record]

    others: dict[str, dict] = {}
    for mention in status.get("mentions") or ():
        if mention.get("id"):
            others[str(mention["id"])] = mention_account(mention, ctx)
    for other_id in (parent_author(status, ctx), quoted_author(status, ctx)):
        if other_id and other_id not in others:
            account = ctx.accounts.get(other_id)
            if account:
                others[other_id] = account
    others.pop(ctx.me_id, None)
    out: list[Record] = []
    seen = post_seen(status, ctx)
    named = seen.named_count(ctx.me_id)
    for other_id, account in others.items():
        kind = seen.kind_towards(other_id)
        if kind is None:
            continue
        out.append(identity(account, ctx.local_domain))
        out.append(_interaction(status, account, kind, OUTBOUND, ctx, named_count=named))
    return out


def inbound_status(status: dict, ctx: MastodonContext) -> list[Record]:
    """The interaction a status written by someone else has with the user, if any."""
    author = status.get("account") or {}
    if str(author.get("id")) == ctx.me_id:
        return []
    seen = post_seen(status, ctx)
    kind = seen.kind_towards(ctx.me_id)
    if kind is None:
        return [SkipRecord("post does not address you", str(status.get("uri", "")))]
    named = seen.named_count(str(author.get("id")))
    return [identity(author, ctx.local_domain), _interaction(status, author, kind, INBOUND, ctx, named_count=named)]


def favourite(status: dict, ctx: MastodonContext) -> list[Record]:
    """One of the user's own likes. Mastodon does not say when it was made:
    the post's time is the earliest it can have been."""
    author = status.get("account") or {}
    if str(author.get("id")) == ctx.me_id:
        return [SkipRecord("like of your own post", str(status.get("uri", "")))]
    return [identity(author, ctx.local_domain), _interaction(status, author, LIKE, OUTBOUND, ctx)]


def conversation(conv: dict, ctx: MastodonContext) -> list[Record]:
    """A DM conversation's last message, as a ``dm`` in the right direction.

    The record equals the one the statuses or notifications stream makes of
    the same message, so seeing it twice changes nothing."""
    last = conv.get("last_status")
    if not isinstance(last, dict):
        return [SkipRecord("conversation without a message", str(conv.get("id", "")))]
    author = last.get("account") or {}
    participants = [a for a in conv.get("accounts") or () if str(a.get("id")) != ctx.me_id]
    if str(author.get("id")) != ctx.me_id:
        return [
            identity(author, ctx.local_domain),
            _interaction(last, author, DM, INBOUND, ctx, named_count=max(1, len(participants))),
        ]
    out: list[Record] = []
    for account in participants:
        out.append(identity(account, ctx.local_domain))
        out.append(_interaction(last, account, DM, OUTBOUND, ctx, named_count=max(1, len(participants))))
    return out


# ---------------------------------------------------------------- notifications


def notification(note: dict, ctx: MastodonContext) -> list[Record]:
    """Records of one notification; ``type`` is an open set, unknown ones are skipped."""
    kind = str(note.get("type") or "")
    account = note.get("account") or {}
    status = note.get("status") if isinstance(note.get("status"), dict) else None
    if kind in ("mention", "quote") and status:
        return inbound_status(status, ctx)
    if kind in ("favourite", "reblog") and status:
        other = identity(account, ctx.local_domain)
        return [
            other,
            InteractionRecord(
                platform=MASTODON,
                external_id=str(status.get("uri") or status.get("url")),
                identity_id=other.external_id,
                kind=LIKE if kind == "favourite" else REPOST,
                direction=INBOUND,
                occurred_at=created_at(note),
                permalink=str(status.get("url") or status.get("uri") or ""),
                excerpt=excerpt(status.get("content")),
            ),
        ]
    if kind == "follow":
        other = identity(account, ctx.local_domain)
        return [other, FollowRecord(platform=MASTODON, identity_id=other.external_id, follows_me=True, since=created_at(note))]
    return [SkipRecord(f"Mastodon notification of type {kind or 'unknown'!r} is not an interaction", str(note.get("id", "")))]


def relationship(rel: dict, uri: str) -> FollowRecord:
    return FollowRecord(
        platform=MASTODON,
        identity_id=uri,
        i_follow=bool(rel.get("following")),
        follows_me=bool(rel.get("followed_by")),
        blocked=bool(rel.get("blocking")),
        muted=bool(rel.get("muting")),
    )

