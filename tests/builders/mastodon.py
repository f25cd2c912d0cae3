"""Realistic Mastodon exports: the account archive (zip or older tar.gz) and
the following_accounts.csv.

    bob = Account("https://social.lol/users/mcg", "@mcg@social.lol")
    build_mastodon_archive(path, posts=[
        note(1, "hi", mentions=[bob], in_reply_to=bob.status(1090)),
        note(2, "psst", mentions=[bob], visibility="direct"),
        boost(3, bob.status(77), author=bob),
    ], likes=4, fmt="tar.gz")

Addressing follows Mastodon's ActivityPub serializer: public posts go to
``as:Public`` with the followers collection in ``cc``, unlisted the other way
round, followers-only posts only to the followers collection, direct posts
only to the mentioned accounts. ``outbox.json`` repeats the ``orderedItems``
key (the first one empty), as real archives do.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
HOST = "inst.example"
ME_URI = f"https://{HOST}/users/alice"
FOLLOWERS = f"{ME_URI}/followers"
BASE_TIME = dt.datetime(2022, 11, 8, 16, 33, 11, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Account:
    uri: str
    name: str  # as in a Mention tag: "@user@domain", or "@user" when local

    def status(self, number: int | str) -> str:
        return f"{self.uri}/statuses/{number}"

    @classmethod
    def numeric(cls, host: str, account_id: str) -> Account:
        """An account of a newer Mastodon server (4.6 answers so), whose actor URI names its id, not its username."""
        return cls(f"https://{host}/ap/users/{account_id}", "")


ME = Account(ME_URI, "@alice")


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def note(
    number: int,
    text: str = "hello",
    *,
    mentions: list[Account] = (),
    in_reply_to: str | None = None,
    visibility: str = "public",
    at: dt.datetime = BASE_TIME,
    quote: str | None = None,
    extra_cc: list[str] = (),
    actor: str = ME_URI,
) -> dict:
    """A ``Create`` of a ``Note`` by the archive's owner."""
    followers = f"{actor}/followers"
    mentioned = [m.uri for m in mentions]
    to, cc = {
        "public": ([PUBLIC], [followers, *mentioned]),
        "unlisted": ([followers], [PUBLIC, *mentioned]),
        "private": ([followers], mentioned),
        "direct": (mentioned, []),
    }[visibility]
    cc = [*cc, *extra_cc]
    status = f"{actor}/statuses/{number}"
    obj = {
        "id": status,
        "type": "Note",
        "summary": None,
        "inReplyTo": in_reply_to,
        "published": _stamp(at),
        "url": status.replace("/users/", "/@").replace("/statuses", ""),
        "attributedTo": actor,
        "to": to,
        "cc": cc,
        "sensitive": False,
        "atomUri": status,
        "inReplyToAtomUri": in_reply_to,
        "conversation": f"tag:{HOST},2022-11-08:objectId={number}:objectType=Conversation",
        "content": "<p>" + " ".join(
            f'<span class="h-card"><a href="{m.uri}" class="u-url mention">'
            f'@<span>{m.name.split("@")[1]}</span></a></span>'
            for m in mentions
        ) + f" {text}</p>",
        "contentMap": {"en": f"<p>{text}</p>"},
        "attachment": [],
        "tag": [{"type": "Mention", "href": m.uri, "name": m.name} for m in mentions]
        + [{"type": "Hashtag", "href": f"https://{HOST}/tags/caterday", "name": "#caterday"}],
        "replies": {"id": f"{status}/replies", "type": "Collection",
                    "first": {"type": "CollectionPage", "next": f"{status}/replies?only_other_accounts=true&page=true",
                              "partOf": f"{status}/replies", "items": []}},
    }
    if quote:
        obj["quote"] = obj["_misskey_quote"] = obj["quoteUri"] = quote
    return {"id": f"{status}/activity", "type": "Create", "actor": actor, "published": _stamp(at),
            "to": to, "cc": cc, "object": obj}


def boost(number: int, original: str, *, author: Account | None, at: dt.datetime = BASE_TIME,
          actor: str = ME_URI) -> dict:
    """An ``Announce``: the original author is the first ``cc`` entry, as observed."""
    cc = [author.uri, f"{actor}/followers"] if author else [f"{actor}/followers"]
    return {"id": f"{actor}/statuses/{number}/activity", "type": "Announce", "actor": actor,
            "published": _stamp(at), "to": [PUBLIC], "cc": cc, "object": original}


def actor_document(uri: str = ME_URI, username: str = "alice", name: str = "Alice") -> dict:
    host = uri.split("/")[2]
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": uri, "type": "Person", "following": f"{uri}/following", "followers": f"{uri}/followers",
        "inbox": f"{uri}/inbox", "outbox": "outbox.json", "featured": f"{uri}/collections/featured",
        "preferredUsername": username, "name": name, "summary": "<p>Potter</p>", "url": f"https://{host}/@{username}",
        "manuallyApprovesFollowers": False, "discoverable": True, "published": "2022-11-01T00:00:00Z",
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": "-----BEGIN PUBLIC KEY-----\n..."},
        "icon": {"type": "Image", "mediaType": "image/png", "url": "avatar.png"},
        "image": {"type": "Image", "mediaType": "image/jpeg", "url": "header.jpg"},
        "likes": "likes.json", "bookmarks": "bookmarks.json",
    }


def outbox_json(posts: list[dict], *, duplicate_ordered_items: bool = True) -> str:
    head = {"@context": "https://www.w3.org/ns/activitystreams", "id": "outbox.json",
            "type": "OrderedCollection", "totalItems": len(posts) + 3}
    items = json.dumps(posts)
    prefix = json.dumps(head)[:-1]
    if duplicate_ordered_items:
        return f'{prefix},"orderedItems":[],"orderedItems":{items}}}'
    return f'{prefix},"orderedItems":{items}}}'


def build_mastodon_archive(
    path: str | Path,
    *,
    posts: list[dict] = (),
    likes: int = 0,
    fmt: str = "zip",
    actor: dict | None = None,
    include_actor: bool = True,
    duplicate_ordered_items: bool = True,
    root: str = "",
    extra: dict[str, str | bytes | None] | None = None,
) -> Path:
    """Write an archive; ``fmt`` is "zip" (Mastodon >= 4.2) or "tar.gz" (older)."""
    path = Path(path)
    files: dict[str, str | bytes] = {
        "outbox.json": outbox_json(list(posts), duplicate_ordered_items=duplicate_ordered_items),
        "likes.json": json.dumps({"@context": "https://www.w3.org/ns/activitystreams", "id": "likes.json",
                                  "type": "OrderedCollection",
                                  "orderedItems": [f"https://mastodon.social/users/x/statuses/{10**17 + n}"
                                                   for n in range(likes)]}),
        "bookmarks.json": json.dumps({"id": "bookmarks.json", "type": "OrderedCollection", "orderedItems": []}),
        "avatar.png": b"\x89PNG\r\n\x1a\nfake",
        "media_attachments/files/109/305/976/original/x.jpeg": b"\xff\xd8\xff\xe0fake",
    }
    if include_actor:
        files["actor.json"] = json.dumps(actor or actor_document())
    for name, content in (extra or {}).items():
        if content is None:
            files.pop(name, None)
        else:
            files[name] = content
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in files.items():
                zf.writestr(root + name, content)
    elif fmt in ("tar.gz", "tar"):
        with tarfile.open(path, "w:gz" if fmt == "tar.gz" else "w") as tar:
            for name, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(root + name)
                info.size = len(data)
                info.mtime = 1667925191
                tar.addfile(info, io.BytesIO(data))
    else:
        raise ValueError(fmt)
    return path


FOLLOWING_HEADER = "Account address,Show boosts,Notify on new posts,Languages"


def build_following_csv(path: str | Path, rows: list[str], *, header: str = FOLLOWING_HEADER,
                        bom: bool = False) -> Path:
    """``rows`` are raw CSV lines after the header, e.g. "ana@example.social,true,false,"."""
    path = Path(path)
    text = "\n".join([header, *rows]) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path
