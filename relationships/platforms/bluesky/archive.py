"""Bluesky repository export (.car) importer.

The CAR is read whole into memory (``ArchiveLimits.max_car_size``, default
512 MB, larger files are refused), its blocks indexed by CID and decoded with
libipld (the decoder atproto's ``CAR`` uses) only when needed; a block no
repository can hold (a CID other than a SHA-256 CIDv1, over 2 MB) refuses
the file, so reading any CAR takes a small multiple of its size. The
repository's Merkle Search Tree is walked here, in key order: every node's
left subtree ``l``, then each entry followed by its right subtree ``t``. A
missing node or record block (a partial export) becomes a SkipRecord; a node
seen twice (a hostile loop) is not walked again. A file cut short (a download
that stopped) gives the records of its whole blocks, then is refused.

Items, in this order (the resume ``position`` counts them, see archive_base):
the commit (the user's own identity, keyed by the commit's DID), then every
MST entry in key order (``<collection>/<rkey>``; the record's URI is
``at://<did>/<key>``). Progress is counted in MST entries (``unit =
"records"``).

* ``app.bsky.feed.post``: read as the live sync reads a post record
  (``classify.post_seen``): a ``reply`` to the author of ``reply.parent.uri``
  (the DID is the URI's host) unless it is the user; a ``quote`` of the author
  of an ``app.bsky.embed.record`` / ``recordWithMedia`` embed of a post (here
  of a post only); a ``mention`` of every ``app.bsky.richtext.facet#mention``
  DID. One interaction per person: reply > quote > mention (``records.Post``).
* ``app.bsky.feed.like`` / ``app.bsky.feed.repost``: a ``like`` / ``repost``
  of the subject's author (the author is known here, unlike in X/Mastodon).
* ``app.bsky.graph.follow``: ``FollowRecord(i_follow=True, since=createdAt)``.
* ``app.bsky.actor.profile/self``: the user's display name.

Handles are not in a CAR: identities carry ``handle=None``.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator

import libipld

from relationships.platforms.archives.base import (
    ArchiveError,
    ArchiveImporter,
    ArchiveLimits,
    excerpt,
    human_size,
    parse_iso,
)
from relationships.platforms.bluesky.classify import did_of, post_seen, record_path, root_uri
from relationships.platforms.records import (
    BLUESKY,
    LIKE,
    OUTBOUND,
    REPOST,
    FollowRecord,
    IdentityRecord,
    InteractionRecord,
    Record,
    SkipRecord,
    post_records,
)

POST = "app.bsky.feed.post"


def _web_url(at_uri: str) -> str:
    did = did_of(at_uri)
    collection, rkey = record_path(at_uri)
    if collection == POST:
        return f"https://bsky.app/profile/{did}/post/{rkey}"
    if collection == "app.bsky.feed.generator":
        return f"https://bsky.app/profile/{did}/feed/{rkey}"
    if collection == "app.bsky.graph.list":
        return f"https://bsky.app/profile/{did}/lists/{rkey}"
    return ""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the unsigned LEB128 varint at ``pos``."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ArchiveError("The CAR file is truncated or damaged (bad length prefix)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


# Every CID in a repository is a CIDv1 with a SHA-256 digest: dag-cbor for
# the commit, the MST nodes and the records (raw is for blobs, which a
# repository export only links to). atproto's data model allows no other.
_CID_PREFIXES = (b"\x01\x71\x12\x20", b"\x01\x55\x12\x20")
CID_LENGTH = 36
# The largest block the atproto CAR tools accept (iroh-car, used by
# repo-stream, and indigo alike); a record or an MST node is kilobytes. Decoding
# one block builds Python objects of many times its size, so this bounds that.
MAX_BLOCK = 2 * 1024 * 1024
# The walk holds the entries and subtrees of every node on the path from the
# root to the node it is in, some 250 bytes each. A key's MST layer comes
# from its hash (a quarter of keys climb each layer), so a real repository
# of ten million records is about twelve layers deep with a few dozen
# entries a node: hundreds waiting. A file built to hold millions waiting
# (wide nodes chained under each other) would take many times its size.
MAX_WAITING = 100_000


class CarBlocks:
    """The blocks of a CAR v1 file, indexed by CID, decoded on demand.

    atproto's ``CAR.from_bytes`` decodes every block up front, which takes
    about eight times the file's size in memory (a 42 MB repository needs
    300 MB); indexing the framing and decoding each block when the walk
    reaches it keeps the peak near the file's own size.

    The index is an open-addressing hash table of block offsets in two
    arrays, not a dict: a dict costs some 250 bytes a block, and a block can
    be as small as 38 bytes (its length, a 36-byte CID, one byte of data),
    which made a file of tiny blocks take eight times its size. The table
    takes 16 to 32 bytes a block whatever the blocks hold. Python's per-process
    randomized ``hash`` picks the slot, so no file can be built to make its
    CIDs collide. A block whose CID is not a repository's (CIDv1, SHA-256)
    or that is larger than any repository block is refused: no PDS writes
    one, and it is the one way to make blocks smaller still.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        length, pos = _varint(data, 0)
        try:
            header = libipld.decode_dag_cbor(data[pos : pos + length])
        except Exception as exc:
            raise ArchiveError(f"The CAR file is truncated or damaged (bad header: {exc})") from exc
        header = header if isinstance(header, dict) else {}
        roots = header.get("roots")
        if header.get("version") != 1 or not isinstance(roots, list) or not roots or not isinstance(roots[0], bytes):
            raise ArchiveError("The CAR file has no root; is it a Bluesky repository export?")
        self.root: bytes = roots[0]
        # Offsets fit in 4 bytes below 4 GB, far above the size cap.
        offset = "I" if len(data) < 2**32 else "Q"
        cids, ends, self.cut = self._frame(data, pos + length, offset)
        # Twice as many slots as blocks at least: a lookup probes about 1.5.
        size = 1 << max(3, (2 * len(cids) - 1).bit_length())
        self._mask = size - 1
        # Slot -> where the block's CID starts + 1 (0: an empty slot), and where the block ends.
        self._cids = array(offset, [0]) * size
        self._ends = array(offset, [0]) * size
        self._count = 0
        for at, end in zip(cids, ends):
            slot = self._probe(data[at : at + CID_LENGTH])
            if not self._cids[slot]:  # a block repeated in the file keeps its first copy
                self._cids[slot] = at + 1
                self._ends[slot] = end
                self._count += 1

    @staticmethod
    def _frame(data: bytes, pos: int, offset: str) -> tuple[array, array, int | None]:
        """Where each block's CID starts and where the block ends, the framing checked.

        The third value is where a file cut short (a download that stopped)
        ends its last whole block, else None: the blocks before are indexed,
        so the records they hold can still be read.
        """
        cids, ends = array(offset), array(offset)
        end_of_data = len(data)
        while pos < end_of_data:
            if end_of_data - pos < 10 and all(byte & 0x80 for byte in data[pos:]):
                return cids, ends, pos  # cut inside a length prefix
            start = pos
            length, pos = _varint(data, pos)
            end = pos + length
            if end > end_of_data:
                return cids, ends, start
            if length < CID_LENGTH or data[pos : pos + 4] not in _CID_PREFIXES:
                raise ArchiveError(
                    f"The CAR file holds a block whose CID is not a SHA-256 CIDv1 (at byte {pos:,}); "
                    "a Bluesky repository has none, so this is not one"
                )
            if length - CID_LENGTH > MAX_BLOCK:
                raise ArchiveError(
                    f"The CAR file holds a block of {human_size(length - CID_LENGTH)} (at byte {pos:,}), over the "
                    f"{human_size(MAX_BLOCK)} no Bluesky repository block reaches"
                )
            cids.append(pos)
            ends.append(end)
            pos = end
        return cids, ends, None

    def _probe(self, cid: bytes) -> int:
        """The slot that holds ``cid``'s block, else the empty one where it would go."""
        data, cids, mask = self._data, self._cids, self._mask
        slot = hash(cid) & mask
        while held := cids[slot]:
            if data[held - 1 : held - 1 + CID_LENGTH] == cid:
                break
            slot = (slot + 1) & mask
        return slot

    def __len__(self) -> int:
        return self._count

    @property
    def slots(self) -> int:
        """How many numbers :meth:`find` can answer: all are below this."""
        return len(self._cids)

    def find(self, cid: object) -> int:
        """A number that stands for ``cid``'s block (below :attr:`slots`), or -1 if the file lacks it."""
        if not isinstance(cid, bytes) or len(cid) != CID_LENGTH:
            return -1
        slot = self._probe(cid)
        return slot if self._cids[slot] else -1

    def decode(self, found: int) -> tuple[str, object]:
        """("ok", block), ("missing", None) or ("damaged", None) for what :meth:`find` answered."""
        if found < 0:
            return "missing", None
        try:
            return "ok", libipld.decode_dag_cbor(self._data[self._cids[found] - 1 + CID_LENGTH : self._ends[found]])
        except Exception:
            # Any decoding failure (bad CBOR, too deep, bad UTF-8) is a damaged block.
            return "damaged", None

    def get(self, cid: object) -> tuple[str, object]:
        """("ok", block), ("missing", None) or ("damaged", None)."""
        return self.decode(self.find(cid))


def cid_text(cid: object) -> str:
    try:
        return libipld.encode_cid(cid)
    except Exception:
        return bytes(cid).hex() if isinstance(cid, bytes) else repr(cid)


class BlueskyCarImporter(ArchiveImporter):
    kind = "bluesky"
    unit = "records"

    def __init__(self, path: str | os.PathLike, *, skip: int = 0, limits: ArchiveLimits | None = None) -> None:
        super().__init__(skip=skip)
        limit = (limits or ArchiveLimits()).max_car_size
        size = os.path.getsize(path)
        if size > limit:
            raise ArchiveError(
                f"The CAR file is {human_size(size)}, over the {human_size(limit)} limit for a Bluesky repository"
            )
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise ArchiveError(f"The CAR file is over the {human_size(limit)} limit for a Bluesky repository")
        self._blocks: CarBlocks | None = CarBlocks(data)
        self._size = len(data)
        _status, commit = self._blocks.get(self._blocks.root)
        if not isinstance(commit, dict) or not isinstance(commit.get("did"), str) or "data" not in commit:
            if self._blocks.cut is not None:
                raise self._truncated()
            raise ArchiveError("The CAR file has no repository commit; is it a Bluesky repository export?")
        self.did: str = commit["did"]
        self._root = commit["data"]
        self._entries_walked = 0
        self.total = sum(1 for step in self._walk() if step[0] == "entry")

    # -- the MST ----------------------------------------------------------------------
    def _walk(self) -> Iterator[tuple[str, object, object]]:
        """In-order steps: ("entry", key, record link) or ("problem", reason, detail)."""
        stack: list[tuple[str, object]] = [("node", self._root)]
        # One byte per slot of the block index, not a set of CIDs: a tree of
        # millions of nodes would make the set several times the file's size.
        visited = bytearray(self._blocks.slots)
        while stack:
            step, value = stack.pop()
            if step == "entry":
                yield "entry", *value
                continue
            found = self._blocks.find(value)
            if found < 0:
                yield "problem", "repository tree node missing from the CAR (partial export?)", cid_text(value)
                continue
            if visited[found]:
                yield "problem", "repository tree node visited twice (damaged tree)", cid_text(value)
                continue
            visited[found] = 1
            status, node = self._blocks.decode(found)
            try:
                if status != "ok":
                    raise ValueError("undecodable block")
                children = self._children(node)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                yield "problem", "damaged repository tree node", f"{cid_text(value)}: {exc}"
                continue
            stack.extend(reversed(children))
            if len(stack) > MAX_WAITING:
                raise ArchiveError(
                    f"The CAR file's repository tree keeps more than {MAX_WAITING:,} entries waiting on one path "
                    "from its root; a real repository's keeps a few hundred, so this is not one"
                )

    @staticmethod
    def _children(node: dict) -> list[tuple[str, object]]:
        children: list[tuple[str, object]] = []
        if node.get("l"):
            children.append(("node", node["l"]))
        previous = b""
        for entry in node["e"]:
            key = previous[: entry["p"]] + entry["k"]
            previous = key
            children.append(("entry", (key.decode("utf-8"), entry["v"])))
            if entry.get("t"):
                children.append(("node", entry["t"]))
        return children

    # -- importer hooks ---------------------------------------------------------------
    def _done(self) -> int:
        return self._entries_walked

    def close(self) -> None:
        self._blocks = None

    def _items(self):
        yield self._self_records, None, "repository"
        for step, first, second in self._walk():
            if step == "problem":
                yield (lambda item: [SkipRecord(item[0], detail=item[1])]), (first, second), "tree node"
            else:
                self._entries_walked += 1
                yield self._entry, (first, second), "repository record"
        if self._blocks.cut is not None:
            # Every record whose blocks came before the cut was handed out
            # (the rest were skipped as missing): now the file is refused.
            raise self._truncated()

    def _truncated(self) -> ArchiveError:
        return ArchiveError(
            f"The CAR file is truncated or damaged (it ends inside a block at byte {self._blocks.cut:,} of "
            f"{self._size:,}; download the repository again)"
        )

    # -- records ------------------------------------------------------------------------
    def _self_records(self, _raw: object, display_name: str = "") -> list[Record]:
        return [
            IdentityRecord(
                platform=BLUESKY,
                external_id=self.did,
                display_name=display_name,
                profile_url=f"https://bsky.app/profile/{self.did}",
                is_self=True,
            )
        ]

    def _identity(self, did: str) -> list[IdentityRecord]:
        return self._announce(
            IdentityRecord(platform=BLUESKY, external_id=did, profile_url=f"https://bsky.app/profile/{did}")
        )

    def _entry(self, item: tuple[str, object]) -> list[Record]:
        key, link = item
        status, record = self._blocks.get(link)
        if status == "missing":
            return [SkipRecord("record missing from the CAR (partial export?)", detail=key)]
        if status == "damaged":
            return [SkipRecord("damaged record block", detail=key)]
        if not isinstance(record, dict):
            return [SkipRecord("record that is not an object", detail=key)]
        collection, _, rkey = key.partition("/")
        uri = f"at://{self.did}/{key}"
        if collection == POST:
            return self._post(uri, rkey, record)
        if collection in ("app.bsky.feed.like", "app.bsky.feed.repost"):
            return self._subject(uri, LIKE if collection.endswith("like") else REPOST, record)
        if collection == "app.bsky.graph.follow":
            return self._follow(uri, record)
        if collection == "app.bsky.actor.profile" and rkey == "self":
            name = record.get("displayName")
            return self._self_records(None, name if isinstance(name, str) else "")
        return []

    def _when(self, uri: str, record: dict) -> object:
        when = parse_iso(record.get("createdAt"))
        return when if when is not None else SkipRecord("record without a readable createdAt", detail=uri)

    def _post(self, uri: str, rkey: str, record: dict) -> list[Record]:
        when = self._when(uri, record)
        if isinstance(when, SkipRecord):
            return [when]
        fields = dict(
            platform=BLUESKY,
            external_id=uri,
            direction=OUTBOUND,
            occurred_at=when,
            permalink=f"https://bsky.app/profile/{self.did}/post/{rkey}",
            excerpt=excerpt(record.get("text") if isinstance(record.get("text"), str) else ""),
            thread_id=root_uri(record) or uri,
        )
        return post_records(post_seen(record, quoting=POST), self.did, self._identity, **fields)

    def _subject(self, uri: str, kind: str, record: dict) -> list[Record]:
        when = self._when(uri, record)
        if isinstance(when, SkipRecord):
            return [when]
        subject = record.get("subject")
        subject_uri = subject.get("uri") if isinstance(subject, dict) else None
        author = did_of(subject_uri)
        if not author:
            return [SkipRecord(f"{kind} without a subject post", detail=uri)]
        if author == self.did:
            return []
        return [
            *self._identity(author),
            InteractionRecord(
                platform=BLUESKY,
                external_id=uri,
                identity_id=author,
                kind=kind,
                direction=OUTBOUND,
                occurred_at=when,
                permalink=_web_url(subject_uri),
                thread_id=subject_uri,
            ),
        ]

    def _follow(self, uri: str, record: dict) -> list[Record]:
        subject = record.get("subject")
        if not isinstance(subject, str) or not subject.startswith("did:"):
            return [SkipRecord("follow without a subject DID", detail=uri)]
        if subject == self.did:
            return []
        return [
            *self._identity(subject),
            FollowRecord(
                platform=BLUESKY, identity_id=subject, i_follow=True, since=parse_iso(record.get("createdAt"))
            ),
        ]
