"""Synthetic exports for demos and benchmarks (backs ``make_demo_archive``).

``write_synthetic_archive(kind, size, out_path, seed=0) -> str`` writes an
export of ``kind`` ("x", "mastodon", "mastodon-following" or "bluesky") with
``size`` posts (rows for the following list), each carrying exactly one
interaction with someone from a fixed pool of people, and returns the path.
The same ``seed`` gives the same file.

The X and Mastodon writers stream their big member straight into the zip, so
a 1,000,000-tweet archive needs no more memory than a 10-tweet one. The CAR
is built in memory (a Bluesky repository export is one in-memory blob anyway).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import zipfile

import libipld

KINDS = ("x", "mastodon", "mastodon-following", "bluesky")
_WORDS = (
    "coffee shop launch week thanks great idea workshop pottery garden bread sourdough newsletter "
    "community meetup podcast episode design feedback release notes bike repair market stall "
    "photo walk tomorrow tonight absolutely agree question about pricing shipping order glaze"
).split()
_START = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
_TWITTER_EPOCH_MS = 1288834974657


def _pool_size(size: int) -> int:
    # A real account talks with thousands of people, not with one per post;
    # a bounded pool also keeps the importer's people map realistic.
    return max(10, min(5000, size // 10))


def _text(rng: random.Random, words: int = 12) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, words)))


def _times(rng: random.Random, size: int = 1):
    """Increasing times from _START, spread so that ``size`` of them end before
    today: a million posts must not reach into the future, where ingest
    rightly refuses them."""
    span = (dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) - _START).total_seconds()
    step = max(1.0, span / max(1, size))
    moment = _START
    while True:
        moment += dt.timedelta(seconds=rng.uniform(0.5 * step, 1.5 * step))
        yield moment


def write_synthetic_archive(kind: str, size: int, out_path: str | os.PathLike, seed: int = 0) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if size < 0:
        raise ValueError("size must be >= 0")
    writer = {
        "x": _write_x,
        "mastodon": _write_mastodon,
        "mastodon-following": _write_following,
        "bluesky": _write_bluesky,
    }[kind]
    writer(size, os.fspath(out_path), random.Random(seed))
    return os.fspath(out_path)


# -- X -----------------------------------------------------------------------------

def _js(global_name: str, value: object) -> str:
    return f"window.{global_name} = {json.dumps(value, indent=2)}"


def _x_tweet(i: int, when: dt.datetime, rng: random.Random, people: list[dict], me: dict, seen: list[int]) -> dict:
    ms = int(when.timestamp() * 1000)
    tweet_id = str(((ms - _TWITTER_EPOCH_MS) << 22) + i % (1 << 22))
    slot = i % 10
    if slot == 9 and seen:
        index = rng.choice(seen)
    else:
        index = rng.randrange(len(people))
        if len(seen) < len(people):
            seen.append(index)
    person = people[index]
    text = _text(rng)
    mention = {"name": person["name"], "screen_name": person["screen"], "indices": ["0", "0"],
               "id_str": person["id"], "id": person["id"]}
    tweet = {
        "edit_info": {"initial": {"editTweetIds": [tweet_id], "editableUntil": when.isoformat(),
                                  "editsRemaining": "5", "isEditEligible": True}},
        "retweeted": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
        "display_text_range": ["0", str(len(text))],
        "favorite_count": str(rng.randint(0, 40)),
        "id_str": tweet_id,
        "truncated": False,
        "retweet_count": str(rng.randint(0, 5)),
        "id": tweet_id,
        "created_at": when.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "favorited": False,
        "full_text": text,
        "lang": "en",
    }
    if slot < 4:
        tweet["full_text"] = f"@{person['screen']} {text}"
        tweet["entities"]["user_mentions"] = [mention]
        tweet["in_reply_to_status_id_str"] = tweet["in_reply_to_status_id"] = str(int(tweet_id) - 7919)
        tweet["in_reply_to_user_id_str"] = tweet["in_reply_to_user_id"] = person["id"]
        tweet["in_reply_to_screen_name"] = person["screen"]
    elif slot < 8:
        tweet["full_text"] = f"{text} with @{person['screen']}"
        tweet["entities"]["user_mentions"] = [mention]
    elif slot == 8:
        tweet["full_text"] = f"RT @{person['screen']}: {text}"[:140]
        tweet["entities"]["user_mentions"] = [mention]
    else:
        url = f"https://twitter.com/{person['screen']}/status/{int(tweet_id) - 104729}"
        tweet["full_text"] = f"{text} https://t.co/{i:x}"
        tweet["entities"]["urls"] = [{"url": f"https://t.co/{i:x}", "expanded_url": url,
                                      "display_url": url[8:40], "indices": ["0", "0"]}]
    return {"tweet": tweet}


def _write_x(size: int, out_path: str, rng: random.Random) -> None:
    me = {"id": "1234567890", "screen": "demo_maker", "name": "Demo Maker"}
    people = [
        {"id": str(10**17 + k * 7919), "screen": f"pal_{k}", "name": f"Pal {k}"} for k in range(_pool_size(size))
    ]
    manifest = {
        "userInfo": {"accountId": me["id"], "userName": me["screen"], "displayName": me["name"]},
        "archiveInfo": {"generationDate": "2024-01-01T00:00:00.000Z", "isPartialArchive": False},
        "dataTypes": {
            "account": {"files": [{"fileName": "data/account.js", "globalName": "YTD.account.part0", "count": "1"}]},
            "tweets": {"files": [{"fileName": "data/tweets.js", "globalName": "YTD.tweets.part0", "count": str(size)}]},
        },
    }
    account = [{"account": {"email": "demo@example.com", "createdVia": "web", "username": me["screen"],
                            "accountId": me["id"], "createdAt": "2014-04-14T22:50:27.601Z",
                            "accountDisplayName": me["name"]}}]
    followers = [{"follower": {"accountId": p["id"], "userLink": f"https://twitter.com/intent/user?user_id={p['id']}"}}
                 for p in people[: len(people) // 3]]
    following = [{"following": {"accountId": p["id"], "userLink": f"https://twitter.com/intent/user?user_id={p['id']}"}}
                 for p in people[len(people) // 4 : len(people) // 2]]
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        zf.writestr("Your archive.html", "<html><body>Your archive</body></html>")
        zf.writestr("data/manifest.js", "window.__THAR_CONFIG = " + json.dumps(manifest, indent=2))
        zf.writestr("data/account.js", _js("YTD.account.part0", account))
        zf.writestr("data/follower.js", _js("YTD.follower.part0", followers))
        zf.writestr("data/following.js", _js("YTD.following.part0", following))
        zf.writestr("data/like.js", _js("YTD.like.part0", [
            {"like": {"tweetId": str(10**18 + n), "fullText": _text(rng),
                      "expandedUrl": f"https://twitter.com/i/web/status/{10**18 + n}"}}
            for n in range(min(size // 4, 20_000))
        ]))
        with zf.open("data/tweets.js", "w", force_zip64=True) as member:
            member.write(b"window.YTD.tweets.part0 = [")
            times = _times(rng, size)
            seen: list[int] = []
            for i in range(size):
                item = json.dumps(_x_tweet(i, next(times), rng, people, me, seen), indent=2)
                member.write(((",\n" if i else "\n") + item).encode())
            member.write(b"\n]")


# -- Mastodon ---------------------------------------------------------------------------

_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def _write_mastodon(size: int, out_path: str, rng: random.Random) -> None:
    host = "demo.social"
    actor = f"https://{host}/users/demo"
    followers = f"{actor}/followers"
    hosts = ("mastodon.social", "hachyderm.io", "demo.social", "fosstodon.org")
    people = []
    for k in range(_pool_size(size)):
        person_host = hosts[k % len(hosts)]
        name = f"@pal{k}" if person_host == host else f"@pal{k}@{person_host}"
        people.append({"uri": f"https://{person_host}/users/pal{k}", "name": name})
    actor_doc = {"id": actor, "type": "Person", "preferredUsername": "demo", "name": "Demo",
                 "url": f"https://{host}/@demo", "followers": followers, "outbox": "outbox.json"}
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        zf.writestr("actor.json", json.dumps(actor_doc))
        zf.writestr("likes.json", json.dumps({"id": "likes.json", "type": "OrderedCollection", "orderedItems": [
            f"https://mastodon.social/users/x/statuses/{10**17 + n}" for n in range(min(size // 4, 20_000))
        ]}))
        with zf.open("outbox.json", "w", force_zip64=True) as member:
            head = json.dumps({"id": "outbox.json", "type": "OrderedCollection", "totalItems": size})
            member.write(head[:-1].encode())
            member.write(b',"orderedItems":[],"orderedItems":[')
            times = _times(rng, size)
            for i in range(size):
                person = rng.choice(people)
                when = next(times).strftime("%Y-%m-%dT%H:%M:%SZ")
                member.write(((",\n" if i else "") + json.dumps(
                    _masto_activity(i, when, rng, actor, followers, person)
                )).encode())
            member.write(b"]}")


def _masto_activity(i: int, when: str, rng: random.Random, actor: str, followers: str, person: dict) -> dict:
    status = f"{actor}/statuses/{10**17 + i}"
    slot = i % 10
    if slot == 9:
        return {"id": f"{status}/activity", "type": "Announce", "actor": actor, "published": when,
                "to": [_PUBLIC], "cc": [person["uri"], followers], "object": f"{person['uri']}/statuses/{i}"}
    to, cc = ([person["uri"]], []) if slot == 8 else ([_PUBLIC], [followers, person["uri"]])
    note = {"id": status, "type": "Note", "url": status.replace("/users/", "/@").replace("/statuses", ""),
            "attributedTo": actor, "published": when, "to": to, "cc": cc,
            "content": f"<p><span class=\"h-card\">{person['name']}</span> {_text(rng)}</p>",
            "tag": [{"type": "Mention", "href": person["uri"], "name": person["name"]}]}
    if slot < 4:
        note["inReplyTo"] = f"{person['uri']}/statuses/{i}"
    return {"id": f"{status}/activity", "type": "Create", "actor": actor, "published": when,
            "to": to, "cc": cc, "object": note}


def _write_following(size: int, out_path: str, rng: random.Random) -> None:
    hosts = ("mastodon.social", "hachyderm.io", "fosstodon.org")
    with open(out_path, "w", encoding="utf-8", newline="") as handle:
        handle.write("Account address,Show boosts,Notify on new posts,Languages\n")
        for k in range(size):
            handle.write(f"pal{k}@{hosts[k % len(hosts)]},true,false,\n")


# -- Bluesky -------------------------------------------------------------------------------

def _cid(block: bytes) -> bytes:
    return b"\x01\x71\x12\x20" + hashlib.sha256(block).digest()


def mst_layer(key: bytes) -> int:
    """atproto's MST height of a key: leading zero bits of sha256(key) / 2."""
    zeros = 0
    for byte in hashlib.sha256(key).digest():
        if byte == 0:
            zeros += 4
            continue
        zeros += (8 - byte.bit_length()) // 2
        break
    return zeros


def _mst(items: list[tuple[bytes, bytes]], layer: int, blocks: dict[bytes, bytes]) -> bytes | None:
    if not items:
        return None
    node: dict = {"l": None, "e": []}
    pending: list[tuple[bytes, bytes]] = []
    previous = b""
    for key, value in items:
        if mst_layer(key) < layer:
            pending.append((key, value))
            continue
        subtree = _mst(pending, layer - 1, blocks)
        if node["e"]:
            node["e"][-1]["t"] = subtree
        else:
            node["l"] = subtree
        pending = []
        shared = len(os.path.commonprefix([previous, key]))
        node["e"].append({"p": shared, "k": key[shared:], "v": value, "t": None})
        previous = key
    subtree = _mst(pending, layer - 1, blocks)
    if node["e"]:
        node["e"][-1]["t"] = subtree
    else:
        node["l"] = subtree
    block = libipld.encode_dag_cbor(node)
    cid = _cid(block)
    blocks[cid] = block
    return cid


def write_car(path: str, did: str, records: dict[str, dict]) -> None:
    """A CAR holding a signed-looking commit, an MST over ``records`` and the records."""
    blocks: dict[bytes, bytes] = {}
    items = []
    for key in sorted(records):
        block = libipld.encode_dag_cbor(records[key])
        blocks[_cid(block)] = block
        items.append((key.encode(), _cid(block)))
    top = max((mst_layer(k) for k, _ in items), default=0)
    root = _mst(items, top, blocks)
    if root is None:
        empty = libipld.encode_dag_cbor({"l": None, "e": []})
        root = _cid(empty)
        blocks[root] = empty
    commit = libipld.encode_dag_cbor({"did": did, "version": 3, "data": root, "rev": "3kabcdefghij2",
                                      "prev": None, "sig": bytes(64)})
    commit_cid = _cid(commit)
    header = libipld.encode_dag_cbor({"version": 1, "roots": [commit_cid]})
    with open(path, "wb") as handle:
        handle.write(_varint(len(header)) + header)
        for cid, block in [(commit_cid, commit), *blocks.items()]:
            handle.write(_varint(len(cid) + len(block)) + cid + block)


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _tid(moment: dt.datetime, counter: int) -> str:
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (int(moment.timestamp() * 1_000_000) << 10) | (counter & 0x3FF)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def _write_bluesky(size: int, out_path: str, rng: random.Random) -> None:
    me = "did:plc:demomaker0000000000000"
    people = [f"did:plc:pal{k:022d}" for k in range(_pool_size(size))]
    records: dict[str, dict] = {"app.bsky.actor.profile/self": {"$type": "app.bsky.actor.profile",
                                                                "displayName": "Demo Maker"}}
    times = _times(rng, size)
    for i in range(size):
        when = next(times)
        person = rng.choice(people)
        their_post = f"at://{person}/app.bsky.feed.post/{_tid(when - dt.timedelta(hours=1), i)}"
        text = _text(rng)
        record: dict = {"$type": "app.bsky.feed.post", "text": text, "langs": ["en"],
                        "createdAt": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        slot = i % 3
        if slot == 0:
            ref = {"uri": their_post, "cid": "bafyreid"}
            record["reply"] = {"root": ref, "parent": ref}
        elif slot == 1:
            record["text"] = f"@pal {text}"
            record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 4},
                                 "features": [{"$type": "app.bsky.richtext.facet#mention", "did": person}]}]
        else:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": {"uri": their_post, "cid": "bafyreid"}}
        records[f"app.bsky.feed.post/{_tid(when, i)}"] = record
    write_car(out_path, me, records)
