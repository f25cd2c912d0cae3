"""Bluesky repository CAR importer, on real CARs with multi-level MSTs (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from relationships.platforms import records as r
from relationships.platforms.archives import ArchiveError, open_archive
from relationships.platforms.bluesky.archive import BlueskyCarImporter
from tests.builders.bluesky import (
    FOLLOW,
    LIKE,
    ME,
    POST,
    PROFILE,
    REPOST,
    build_bluesky_car,
    follow,
    layer_of,
    like,
    post,
    post_uri,
    profile,
    repost,
    stamp,
    tid_key,
)

ANA = "did:plc:ana4rsxpdq5ahl3nhq2ej7gr"
BOB = "did:plc:bobxk6bqk2s4nvd4cm3kmmk3"
UTC = dt.timezone.utc
AT = dt.datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def read(path, **kw):
    return list(open_archive(path, **kw))


def interactions(records):
    return [x for x in records if isinstance(x, r.InteractionRecord)]


def found(records):
    return [(i.identity_id, i.kind) for i in interactions(records)]


def skips(records):
    return [x.reason for x in records if isinstance(x, r.SkipRecord)]


@pytest.fixture
def car(tmp_path):
    def build(records, **kw):
        return build_bluesky_car(tmp_path / "repo.car", records=records, **kw)

    return build


def test_the_builder_agrees_with_atprotos_published_mst_layers():
    # Test vectors from the atproto repository spec.
    assert [layer_of(k) for k in (b"2653ae71", b"blue", b"app.bsky.feed.post/454397e440ec",
                                   b"app.bsky.feed.post/9adeb165882c")] == [0, 1, 4, 8]


def test_every_record_of_a_multi_level_tree_is_found_in_key_order(car):
    records = {tid_key(LIKE, n): like(post_uri(ANA, f"3k{n:011d}")) for n in range(300)}
    built = car(records)
    assert built.depth >= 3
    found_ids = [i.external_id for i in interactions(read(built.path))]
    assert found_ids == [f"at://{ME}/{key}" for key in sorted(records)]


def test_the_commit_did_is_the_users_own_identity_and_the_profile_names_it(car):
    out = read(car({f"{PROFILE}/self": profile("Me Myself")}).path)
    assert out == [
        r.IdentityRecord(platform="bluesky", external_id=ME, profile_url=f"https://bsky.app/profile/{ME}",
                         is_self=True),
        r.IdentityRecord(platform="bluesky", external_id=ME, display_name="Me Myself",
                         profile_url=f"https://bsky.app/profile/{ME}", is_self=True),
    ]


def test_a_reply_to_someone_elses_post_is_a_reply_to_the_parent_did(car):
    key = tid_key(POST, 1)
    out = read(car({key: post("so true", at=AT, reply_parent=post_uri(ANA, "3kaaa"),
                              reply_root=post_uri(BOB, "3kroot"))}).path)
    assert interactions(out) == [r.InteractionRecord(
        platform="bluesky", external_id=f"at://{ME}/{key}", identity_id=ANA, kind="reply", direction="out",
        occurred_at=AT, permalink=f"https://bsky.app/profile/{ME}/post/{key.split('/')[1]}", excerpt="so true",
        thread_id=post_uri(BOB, "3kroot"), named_count=1,
    )]
    ana = [x for x in out if isinstance(x, r.IdentityRecord) and x.external_id == ANA]
    assert ana == [r.IdentityRecord(platform="bluesky", external_id=ANA, profile_url=f"https://bsky.app/profile/{ANA}")]


def test_a_reply_to_ones_own_post_is_not_an_interaction(car):
    assert interactions(read(car({tid_key(POST, 1): post("2/", reply_parent=post_uri(ME, "3kself"))}).path)) == []


def test_a_reply_that_also_mentions_its_target_is_one_reply(car):
    out = read(car({tid_key(POST, 1): post("@ana yes", reply_parent=post_uri(ANA), mentions=[ANA])}).path)
    assert found(out) == [(ANA, "reply")]


def test_mentions_are_one_per_person_and_count_everyone_named(car):
    out = read(car({tid_key(POST, 1): post("@ana @bob @me", reply_parent=post_uri(ANA), mentions=[ANA, BOB, ME])}).path)
    assert found(out) == [(ANA, "reply"), (BOB, "mention")]
    assert {i.named_count for i in interactions(out)} == {2}


@pytest.mark.parametrize("with_media", [False, True])
def test_a_record_embed_of_a_post_is_a_quote(car, with_media):
    out = read(car({tid_key(POST, 1): post("look", quote=post_uri(ANA), quote_with_media=with_media)}).path)
    assert found(out) == [(ANA, "quote")]


def test_quote_beats_mention_and_reply_beats_quote(car):
    out = read(car({
        tid_key(POST, 1): post("@ana look", quote=post_uri(ANA), mentions=[ANA]),
        tid_key(POST, 2): post("@bob", reply_parent=post_uri(BOB), quote=post_uri(BOB)),
    }).path)
    assert found(out) == [(ANA, "quote"), (BOB, "reply")]


def test_embedding_a_feed_or_ones_own_post_is_not_a_quote(car):
    feed = f"at://{ANA}/app.bsky.feed.generator/cats"
    out = read(car({tid_key(POST, 1): post("feed", quote=feed), tid_key(POST, 2): post("me", quote=post_uri(ME))}).path)
    assert interactions(out) == []


def test_likes_and_reposts_of_others_are_interactions_with_the_author(car):
    like_key, repost_key = tid_key(LIKE, 1), tid_key(REPOST, 2)
    out = read(car({like_key: like(post_uri(ANA, "3kpost"), at=AT),
                    repost_key: repost(post_uri(BOB, "3kp2"), at=AT)}).path)
    assert [(i.identity_id, i.kind, i.direction, i.external_id, i.permalink) for i in interactions(out)] == [
        (ANA, "like", "out", f"at://{ME}/{like_key}", f"https://bsky.app/profile/{ANA}/post/3kpost"),
        (BOB, "repost", "out", f"at://{ME}/{repost_key}", f"https://bsky.app/profile/{BOB}/post/3kp2"),
    ]


def test_liking_ones_own_post_is_not_an_interaction(car):
    assert interactions(read(car({tid_key(LIKE, 1): like(post_uri(ME))}).path)) == []


def test_follows_give_follow_state_with_their_date(car):
    out = read(car({tid_key(FOLLOW, 1): follow(ANA, at=AT)}).path)
    assert [x for x in out if isinstance(x, r.FollowRecord)] == [
        r.FollowRecord(platform="bluesky", identity_id=ANA, i_follow=True, since=AT)]


def test_other_collections_are_ignored(car):
    out = read(car({"app.bsky.graph.block/3kblock": {"$type": "app.bsky.graph.block", "subject": ANA,
                                                      "createdAt": stamp(AT)}}).path)
    assert out[1:] == []


def test_a_missing_record_block_is_skipped_and_the_rest_imported(car):
    records = {tid_key(LIKE, n): like(post_uri(ANA, f"3kpost{n}")) for n in range(5)}
    out = read(car(records, drop_records=[tid_key(LIKE, 2)]).path)
    assert len(interactions(out)) == 4
    assert skips(out) == ["record missing from the CAR (partial export?)"]


def test_a_missing_tree_node_is_skipped_and_the_rest_imported(car):
    records = {tid_key(LIKE, n): like(post_uri(ANA)) for n in range(200)}
    built = car(records, drop_subtree=True)
    out = read(built.path)
    assert skips(out) == ["repository tree node missing from the CAR (partial export?)"]
    assert 0 < len(interactions(out)) < 200


def test_a_post_with_a_bad_date_is_skipped(car):
    bad = post("hi", mentions=[ANA])
    bad["createdAt"] = "yesterday"
    assert skips(read(car({tid_key(POST, 1): bad}).path)) == ["record without a readable createdAt"]


def test_odd_fractional_seconds_in_dates_are_read(car):
    odd = post("hi", mentions=[ANA])
    odd["createdAt"] = "2024-03-01T09:00:00.1Z"
    assert interactions(read(car({tid_key(POST, 1): odd}).path))[0].occurred_at == AT + dt.timedelta(milliseconds=100)


def test_an_empty_repository_gives_only_the_users_identity(car):
    out = read(car({}).path)
    assert [type(x).__name__ for x in out] == ["IdentityRecord"]


def test_progress_counts_records_and_resume_skips_exactly(car):
    records = {tid_key(LIKE, n): like(post_uri(ANA if n % 2 else BOB)) for n in range(50)}
    path = car(records).path
    importer = BlueskyCarImporter(path)
    assert importer.unit == "records" and importer.progress == (0, 50)
    full = []
    positions = []
    for record in importer:
        full.append(record)
        positions.append(importer.position)
    assert importer.progress == (50, 50)
    cut = positions[20]
    rest = list(open_archive(path, skip=cut))
    assert interactions(rest) == interactions(full[21:])
    # Identities may be announced again after a resume, always before use.
    assert {x.external_id for x in rest if isinstance(x, r.IdentityRecord)} == {ANA, BOB}
    assert isinstance(rest[0], r.IdentityRecord)


def test_a_car_over_the_size_cap_is_refused(car):
    path = car({tid_key(LIKE, n): like(post_uri(ANA)) for n in range(50)}).path
    with pytest.raises(ArchiveError, match=r"The CAR file is [\d.]+ KB, over the 1000 bytes limit for a Bluesky"):
        open_archive(path, max_car_size=1000)


def test_a_truncated_car_is_refused(car, tmp_path):
    data = car({tid_key(LIKE, n): like(post_uri(ANA)) for n in range(50)}).path.read_bytes()
    cut = tmp_path / "cut.car"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="truncated or damaged"):
        read(cut)


@pytest.mark.parametrize("where", ["inside the commit", "inside the next block's length prefix"])
def test_a_car_cut_short_early_is_refused_as_truncated(car, tmp_path, where):
    data = car({tid_key(LIKE, n): like(post_uri(ANA)) for n in range(5)}).path.read_bytes()
    cut = tmp_path / "cut.car"
    cut.write_bytes(data[:60] if where == "inside the commit" else data[: _after_commit(data)] + b"\x81")
    with pytest.raises(ArchiveError, match=r"truncated or damaged \(it ends inside a block at byte [\d,]+ of"):
        read(cut)


def _after_commit(data: bytes) -> int:
    from relationships.platforms.bluesky.archive import _varint

    length, pos = _varint(data, 0)
    length, pos = _varint(data, pos + length)
    return pos + length


def test_a_car_without_a_repository_commit_is_refused(tmp_path):
    import hashlib

    import libipld

    block = libipld.encode_dag_cbor({"hello": "world"})
    cid = bytes([1, 0x71, 0x12, 0x20]) + hashlib.sha256(block).digest()
    header = libipld.encode_dag_cbor({"version": 1, "roots": [cid]})
    path = tmp_path / "not-a-repo.car"
    path.write_bytes(bytes([len(header)]) + header + bytes([len(cid) + len(block)]) + cid + block)
    with pytest.raises(ArchiveError, match="no repository commit"):
        read(path)


def test_the_block_index_agrees_with_atprotos_car_decoder(car):
    from atproto import CAR

    from relationships.platforms.bluesky.archive import CarBlocks

    records = {tid_key(LIKE, n): like(post_uri(ANA, f"3k{n}")) for n in range(120)}
    records[tid_key(POST, 1)] = post("hi", mentions=[ANA], quote=post_uri(BOB))
    data = car(records).path.read_bytes()
    theirs = CAR.from_bytes(data)
    ours = CarBlocks(data)
    assert ours.root.hex() == cid_hex(theirs.root)
    assert len(ours) == len(theirs.blocks)
    for cid, block in theirs.blocks.items():
        raw = bytes.fromhex(cid_hex(cid))
        assert ours.get(raw) == ("ok", block)


def cid_hex(cid) -> str:
    """Raw CIDv1 bytes (hex) of an atproto CID, rebuilt from its parts."""
    import libipld

    decoded = libipld.decode_cid(str(cid))
    digest = decoded["hash"]["digest"]
    return bytes([decoded["version"], decoded["codec"], decoded["hash"]["code"], len(digest)]).hex() + digest.hex()


def test_a_damaged_record_block_is_skipped(car, tmp_path):
    records = {tid_key(POST, 1): post("unique text to find", mentions=[ANA]),
               tid_key(LIKE, 2): like(post_uri(ANA))}
    data = bytearray(car(records).path.read_bytes())
    at = data.find(b"unique text to find")
    data[at - 1] = 0xFF  # the text's CBOR header: no longer valid DAG-CBOR
    damaged = tmp_path / "damaged.car"
    damaged.write_bytes(bytes(data))
    out = read(damaged)
    assert skips(out) == ["damaged record block"]
    assert found(out) == [(ANA, "like")]


# --- Memory: a CAR of millions of tiny blocks --------------------------------------------

# The peak RSS in kB from VmHWM: getrusage's ru_maxrss would also count the
# test process this one was forked from.
READ_AND_MEASURE = """
import re, sys
from relationships.platforms.bluesky.archive import BlueskyCarImporter
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())[1])
before = peak()
with BlueskyCarImporter(sys.argv[1]) as importer:
    records = sum(1 for _ in importer)
print(before, peak(), records)
"""


def test_reading_a_car_of_tiny_blocks_holds_memory_within_a_small_multiple_of_its_size(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from tests.builders.bluesky import build_tiny_block_car

    # 400,000 blocks of about 40 bytes after a real repository: some 16 MB.
    path = build_tiny_block_car(tmp_path / "tiny.car", blocks=400_000).path
    size = path.stat().st_size
    # Its own process, so the peak is the reader's alone.
    out = subprocess.run([sys.executable, "-c", READ_AND_MEASURE, str(path)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout.split()
    before_kb, peak_kb, records = (int(x) for x in out)
    assert records == 3  # the repository's own records still read: the user, the like and its author
    assert (peak_kb - before_kb) * 1024 <= 3 * size, f"{(peak_kb - before_kb) / 1024:.0f} MB for {size / 2**20:.0f} MB"


def car_with_extra_block(car, cid: bytes, block: bytes) -> bytes:
    from tests.builders.bluesky import _varint

    data = car({tid_key(LIKE, 1): like(post_uri(ANA))}).path.read_bytes()
    return data + _varint(len(cid) + len(block)) + cid + block


@pytest.mark.parametrize("cid, why", [
    (b"\x01\x71\x00\x00", "an identity hash of nothing: a 4-byte CID"),
    (b"\x12\x20" + b"\x07" * 32, "a CIDv0"),
    (b"\x01\x71\x13\x40" + b"\x07" * 64, "SHA-512"),
])
def test_a_block_no_repository_can_hold_is_refused_with_a_clear_message(car, tmp_path, cid, why):
    path = tmp_path / "odd.car"
    path.write_bytes(car_with_extra_block(car, cid, b"\xa0"))
    with pytest.raises(ArchiveError, match=r"block whose CID is not a SHA-256 CIDv1 \(at byte [\d,]+\); a Bluesky"):
        read(path)


def test_a_block_larger_than_any_repository_block_is_refused(car, tmp_path):
    import hashlib

    import libipld

    block = libipld.encode_dag_cbor({"$type": LIKE, "pad": "x" * (3 * 1024 * 1024)})
    path = tmp_path / "huge.car"
    path.write_bytes(car_with_extra_block(car, b"\x01\x71\x12\x20" + hashlib.sha256(block).digest(), block))
    with pytest.raises(ArchiveError, match=r"holds a block of 3 MB \(at byte [\d,]+\), over the 2 MB no Bluesky"):
        read(path)


def car_of(path, root: bytes, blocks: list[tuple[bytes, bytes]]):
    """A CAR whose commit names ``root`` as its tree, with ``blocks`` (CID, bytes) after it."""
    import libipld

    from tests.builders.bluesky import _varint, cid_for

    commit = libipld.encode_dag_cbor({"did": ME, "version": 3, "data": root, "rev": "3l3qo2vuowo2b", "prev": None,
                                      "sig": b"\x00" * 64})
    header = libipld.encode_dag_cbor({"version": 1, "roots": [cid_for(commit)]})
    blocks = [(cid_for(commit), commit), *blocks]
    path.write_bytes(_varint(len(header)) + header + b"".join(_varint(len(c) + len(b)) + c + b for c, b in blocks))
    return path


def test_a_tree_node_that_links_to_itself_is_walked_once(tmp_path):
    import libipld

    from tests.builders.bluesky import cid_for

    record = libipld.encode_dag_cbor(like(post_uri(ANA)))
    looped = b"\x01\x71\x12\x20" + b"\x42" * 32  # a made-up digest: the node names itself as its left subtree
    node = libipld.encode_dag_cbor({"l": looped, "e": [{"p": 0, "k": tid_key(LIKE, 1).encode(), "v": cid_for(record),
                                                         "t": None}]})
    out = read(car_of(tmp_path / "loop.car", looped, [(looped, node), (cid_for(record), record)]))
    assert skips(out) == ["repository tree node visited twice (damaged tree)"]
    assert found(out) == [(ANA, "like")]


def test_a_tree_of_wide_nodes_chained_under_each_other_is_refused_before_any_record(tmp_path):
    # Six nodes of 20,000 entries (1.6 MB each), each the left subtree of
    # the one above: the walk would hold 120,000 entries at once.
    import libipld

    from tests.builders.bluesky import cid_for

    record = libipld.encode_dag_cbor(like(post_uri(ANA)))
    blocks, below = [(cid_for(record), record)], None
    for level in range(6):
        keys = [f"{LIKE}/{level:03d}{n:09d}".encode() for n in range(20_000)]
        node = libipld.encode_dag_cbor({"l": below, "e": [{"p": 0, "k": key, "v": cid_for(record), "t": None}
                                                          for key in keys]})
        below = cid_for(node)
        blocks.append((below, node))
    path = car_of(tmp_path / "wide.car", below, blocks)
    with pytest.raises(ArchiveError, match="keeps more than 100,000 entries waiting on one path from its root"):
        BlueskyCarImporter(path)
