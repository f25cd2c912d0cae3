"""Real Bluesky repository exports (CAR v1) for tests.

Written independently of the importer (and of the demo writer) so a mistake
in one is not mirrored in the other. Blocks are DAG-CBOR encoded with
libipld; CID links are raw CIDv1 bytes (dag-cbor, sha2-256), which libipld
encodes as tag-42 links. The Merkle Search Tree follows atproto's rules:
keys sorted, a key's layer is the number of leading zero bits of
sha256(key) counted in 2-bit chunks, entries prefix-compressed against the
previous key of the same node, lower layers hung under ``l`` and ``t``.

    car = build_bluesky_car(path, records={
        tid_key(POST, 1): post("hi @bob", mentions=[BOB]),
        tid_key(LIKE, 2): like(post_uri(BOB, "3jui7kd54zh2y")),
    })
    car.depth  # how many MST levels were written
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import libipld

ME = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"
PROFILE = "app.bsky.actor.profile"
BASE_TIME = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def layer_of(key: bytes) -> int:
    digest = hashlib.sha256(key).digest()
    layer = 0
    for byte in digest:
        for shift in (6, 4, 2, 0):
            if (byte >> shift) & 0b11:
                return layer
            layer += 1
    return layer


def cid_for(block: bytes) -> bytes:
    return bytes([0x01, 0x71, 0x12, 0x20]) + hashlib.sha256(block).digest()


def tid(n: int, at: dt.datetime = BASE_TIME) -> str:
    micros = int(at.timestamp() * 1_000_000) + n
    value = micros << 10
    return "".join(_B32[(value >> (60 - 5 * i)) & 31] for i in range(13))


def tid_key(collection: str, n: int) -> str:
    return f"{collection}/{tid(n)}"


def post_uri(did: str, rkey: str = "3jui7kd54zh2y") -> str:
    return f"at://{did}/{POST}/{rkey}"


def stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def post(text: str = "hello", *, at: dt.datetime = BASE_TIME, reply_parent: str | None = None,
         reply_root: str | None = None, mentions: list[str] = (), quote: str | None = None,
         quote_with_media: bool = False) -> dict:
    record: dict = {"$type": POST, "text": text, "createdAt": stamp(at), "langs": ["en"]}
    if reply_parent:
        record["reply"] = {"root": {"uri": reply_root or reply_parent, "cid": "bafyreiroot"},
                           "parent": {"uri": reply_parent, "cid": "bafyreiparent"}}
    if mentions:
        record["facets"] = [
            {"$type": "app.bsky.richtext.facet", "index": {"byteStart": 0, "byteEnd": 4},
             "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]}
            for did in mentions
        ] + [{"index": {"byteStart": 5, "byteEnd": 9},
              "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"}]}]
    if quote:
        ref = {"uri": quote, "cid": "bafyreiquoted"}
        if quote_with_media:
            record["embed"] = {"$type": "app.bsky.embed.recordWithMedia",
                               "record": {"$type": "app.bsky.embed.record", "record": ref},
                               "media": {"$type": "app.bsky.embed.images", "images": []}}
        else:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": ref}
    return record


def like(subject: str, *, at: dt.datetime = BASE_TIME) -> dict:
    return {"$type": LIKE, "subject": {"uri": subject, "cid": "bafyreisubject"}, "createdAt": stamp(at)}


def repost(subject: str, *, at: dt.datetime = BASE_TIME) -> dict:
    return {"$type": REPOST, "subject": {"uri": subject, "cid": "bafyreisubject"}, "createdAt": stamp(at)}


def follow(did: str, *, at: dt.datetime = BASE_TIME) -> dict:
    return {"$type": FOLLOW, "subject": did, "createdAt": stamp(at)}


def profile(display_name: str) -> dict:
    return {"$type": PROFILE, "displayName": display_name, "description": "potter"}


@dataclass
class BuiltCar:
    path: Path
    did: str
    keys: list[str]
    depth: int = 0
    node_cids: list[bytes] = field(default_factory=list)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class _Tree:
    def __init__(self) -> None:
        self.blocks: dict[bytes, bytes] = {}
        self.depth = 0
        self.nodes: list[bytes] = []

    def build(self, entries: list[tuple[bytes, bytes]], layer: int, level: int = 1) -> bytes | None:
        if not entries:
            return None
        self.depth = max(self.depth, level)
        # Split the sorted keys at the ones that live on this layer.
        groups: list[list[tuple[bytes, bytes]]] = [[]]
        here: list[tuple[bytes, bytes]] = []
        for key, value in entries:
            if layer_of(key) == layer:
                here.append((key, value))
                groups.append([])
            else:
                groups[-1].append((key, value))
        node_entries = []
        last = b""
        for index, (key, value) in enumerate(here):
            prefix = 0
            while prefix < min(len(last), len(key)) and last[prefix] == key[prefix]:
                prefix += 1
            node_entries.append({"p": prefix, "k": key[prefix:], "v": value,
                                 "t": self.build(groups[index + 1], layer - 1, level + 1)})
            last = key
        node = {"l": self.build(groups[0], layer - 1, level + 1), "e": node_entries}
        block = libipld.encode_dag_cbor(node)
        cid = cid_for(block)
        self.blocks[cid] = block
        self.nodes.append(cid)
        return cid


def build_bluesky_car(
    path: str | Path,
    *,
    did: str = ME,
    records: dict[str, dict],
    drop_records: list[str] = (),
    drop_subtree: bool = False,
    extra_blocks: list[bytes] = (),
) -> BuiltCar:
    """Write a repository CAR. ``drop_records`` leaves those records' blocks
    out (a partial export); ``drop_subtree`` leaves out one non-root MST node."""
    path = Path(path)
    tree = _Tree()
    entries = []
    record_blocks: dict[bytes, bytes] = {}
    for key in sorted(records):
        block = libipld.encode_dag_cbor(records[key])
        cid = cid_for(block)
        if key not in drop_records:
            record_blocks[cid] = block
        entries.append((key.encode(), cid))
    top = max((layer_of(k) for k, _ in entries), default=0)
    root = tree.build(entries, top)
    if root is None:
        block = libipld.encode_dag_cbor({"l": None, "e": []})
        root = cid_for(block)
        tree.blocks[root] = block
    blocks = dict(tree.blocks)
    if drop_subtree:
        victim = next(c for c in tree.nodes if c != root)
        del blocks[victim]
    commit = libipld.encode_dag_cbor({"did": did, "version": 3, "data": root, "rev": "3l3qo2vuowo2b",
                                      "prev": None, "sig": b"\x00" * 64})
    commit_cid = cid_for(commit)
    header = libipld.encode_dag_cbor({"version": 1, "roots": [commit_cid]})
    out = bytearray(_varint(len(header)) + header)
    for cid, block in [(commit_cid, commit), *blocks.items(), *record_blocks.items()]:
        out += _varint(len(cid) + len(block)) + cid + block
    for block in extra_blocks:
        out += _varint(len(cid_for(block)) + len(block)) + cid_for(block) + block
    path.write_bytes(bytes(out))
    return BuiltCar(path=path, did=did, keys=sorted(records), depth=tree.depth, node_cids=list(tree.nodes))


def build_tiny_block_car(path: str | Path, *, blocks: int, records: dict[str, dict] | None = None) -> BuiltCar:
    """A real repository followed by ``blocks`` blocks of a few bytes each.

    No PDS writes such a file: every block of a repository is its commit, an
    MST node or a record, and each record also costs an MST entry. It is the
    cheapest way to put the most blocks in the fewest bytes (each about 40
    bytes, almost all of it the CID), which is what a reader must survive.
    """
    built = build_bluesky_car(path, records=records or {tid_key(LIKE, 1): like(post_uri("did:plc:ana"))})
    with open(built.path, "ab") as out:
        chunk = bytearray()
        for n in range(blocks):
            block = libipld.encode_dag_cbor(n)  # a CBOR integer: 1 to 5 bytes, each block its own CID
            cid = cid_for(block)
            chunk += _varint(len(cid) + len(block)) + cid + block
            if len(chunk) > 1 << 20:
                out.write(chunk)
                chunk.clear()
        out.write(chunk)
    return built
