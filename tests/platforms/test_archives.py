"""Detection, safety limits, progress and resume of the archive importers.

Every bad input must end in an ArchiveError whose message a person can read,
never in some other exception.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import zipfile
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relationships.platforms import records as r
from relationships.platforms.archives import ArchiveError, ArchiveLimits, detect_kind, open_archive
from relationships.platforms.archives.synthetic import write_synthetic_archive
from tests.builders.bluesky import LIKE, build_bluesky_car, like, post_uri, tid_key
from tests.builders.mastodon import Account, boost, build_following_csv, build_mastodon_archive, note
from tests.builders.x import XUser, build_x_archive, conversation, dm, js, reply, tweet

ANA = XUser("732980797985148928", "empathy2000", "Ana")
BOB = Account("https://social.lol/users/mcg", "@mcg@social.lol")
ME_X = XUser("2444552670", "Jack_L_Lance", "Jack Lance")


def x_zip(path, **kw):
    kw.setdefault("tweets", [reply(str(10 + n), to=ANA) for n in range(6)])
    kw.setdefault("dms", [conversation(dm("500", sender=ANA, recipient=ME_X), dm("499", sender=ME_X, recipient=ANA))])
    kw.setdefault("likes", 3)
    kw.setdefault("followers", [ANA])
    return build_x_archive(path, **kw)


def masto(path, **kw):
    kw.setdefault("posts", [note(n, mentions=[BOB], in_reply_to=BOB.status(n)) for n in range(5)]
                  + [boost(9, BOB.status(3), author=BOB)])
    kw.setdefault("likes", 2)
    return build_mastodon_archive(path, **kw)


def car(path):
    return build_bluesky_car(path, records={tid_key(LIKE, n): like(post_uri("did:plc:ana", f"3k{n}"))
                                            for n in range(40)}).path


def following(path):
    return build_following_csv(path, [f"u{n}@example.social,true,false," for n in range(6)])


BUILDERS = {"x": x_zip, "mastodon": masto, "bluesky": car, "mastodon-following": following}


def raises(path, match, **kw):
    with pytest.raises(ArchiveError, match=match):
        list(open_archive(path, **kw))


# -- detection -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(BUILDERS))
def test_the_kind_is_detected_from_contents_whatever_the_file_name(tmp_path, kind):
    path = BUILDERS[kind](tmp_path / "upload")
    misleading = path.rename(tmp_path / "definitely-a-bluesky-export.car.csv.zip")
    assert detect_kind(misleading) == kind
    assert open_archive(misleading).kind == kind


def test_a_mastodon_tar_gz_is_detected(tmp_path):
    assert detect_kind(masto(tmp_path / "a.tar.gz", fmt="tar.gz")) == "mastodon"


def test_a_forced_kind_that_does_not_match_is_refused_clearly(tmp_path):
    raises(masto(tmp_path / "a.zip"), "This looks like a Mastodon archive, not an X archive", kind="x")
    raises(x_zip(tmp_path / "b.zip"), "This looks like an X archive, not a Mastodon archive", kind="mastodon")
    raises(car(tmp_path / "c.car"), "This looks like a Bluesky repository", kind="mastodon-following")
    raises(following(tmp_path / "d.csv"), "Mastodon following list .* not a Bluesky", kind="bluesky")


def test_a_matching_forced_kind_is_accepted(tmp_path):
    assert open_archive(x_zip(tmp_path / "a.zip"), kind="x").kind == "x"


# -- not an archive ----------------------------------------------------------------------

def test_a_zero_byte_file_is_refused(tmp_path):
    (tmp_path / "empty.zip").write_bytes(b"")
    raises(tmp_path / "empty.zip", r"The file is empty \(0 bytes\)")


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, b"hello world this is a note\n",
                                     b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"])
def test_a_file_that_is_no_export_at_all_is_refused(tmp_path, content):
    (tmp_path / "file").write_bytes(content)
    raises(tmp_path / "file", "This is not a zip, tar.gz, CSV or CAR file")
    with pytest.raises(ArchiveError, match="not a zip"):
        detect_kind(tmp_path / "file")


def test_a_missing_file_is_an_archive_error(tmp_path):
    raises(tmp_path / "nope.zip", "cannot be read")


def test_another_mastodon_csv_is_named_for_what_it_is(tmp_path):
    path = build_following_csv(tmp_path / "m.csv", ["troll@example.com,true"],
                               header="Account address,Hide notifications")
    raises(path, "muted accounts CSV, not the list of accounts you follow")


def test_a_csv_with_another_header_is_refused(tmp_path):
    path = build_following_csv(tmp_path / "m.csv", ["1,2"], header="name,email")
    raises(path, "not a Mastodon following list")


def test_an_empty_zip_is_refused(tmp_path):
    zipfile.ZipFile(tmp_path / "e.zip", "w").close()
    raises(tmp_path / "e.zip", "The archive is empty")


def test_a_zip_of_something_else_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "o.zip", "w") as zf:
        zf.writestr("photos/cat.jpg", b"\xff\xd8")
    raises(tmp_path / "o.zip", "neither an X archive .* nor a Mastodon archive")


def test_a_truncated_zip_is_refused(tmp_path):
    data = x_zip(tmp_path / "a.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    raises(tmp_path / "cut.zip", "The zip is truncated or damaged")


def test_a_truncated_tar_gz_is_refused(tmp_path):
    data = masto(tmp_path / "a.tar.gz", fmt="tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    raises(tmp_path / "cut.tar.gz", "truncated or damaged")


def test_a_gzip_that_is_not_a_tar_is_refused(tmp_path):
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"just some text, not a tar" * 40))
    raises(tmp_path / "x.gz", "truncated or damaged")


# -- hostile archives ---------------------------------------------------------------------

def test_a_member_with_a_parent_path_is_refused_and_nothing_is_extracted(tmp_path):
    x_zip(tmp_path / "a.zip", extra={"../../evil.js": "window.x = []"})
    raises(tmp_path / "a.zip", "unsafe path")
    assert not (tmp_path.parent / "evil.js").exists()


@pytest.mark.parametrize("name", ["/etc/passwd", "C:/windows/evil.js", "data\\..\\..\\evil.js"])
def test_absolute_and_backslash_member_names_are_refused(tmp_path, name):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("outbox.json", "{}")
        zf.writestr(name, "x")
    raises(tmp_path / "a.zip", "unsafe path")


def test_a_tar_member_with_a_parent_path_is_refused(tmp_path):
    masto(tmp_path / "a.tar.gz", fmt="tar.gz", extra={"../evil.sh": "rm -rf"})
    raises(tmp_path / "a.tar.gz", "unsafe path")


def test_tar_links_are_never_followed(tmp_path):
    path = tmp_path / "a.tar.gz"
    masto(path, fmt="tar.gz", extra={"actor.json": None})
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
        link = tarfile.TarInfo("actor.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    records = list(open_archive(path))
    assert records[0].external_id == "https://inst.example/users/alice"  # from the outbox, not the link


def test_too_many_members_are_refused(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("outbox.json", "{}")
        for n in range(10_000):
            zf.writestr(f"media_attachments/{n}.jpg", b"")
    raises(path, "10001 members, more than the 10000")


def test_an_overlong_member_name_is_refused(tmp_path):
    x_zip(tmp_path / "a.zip", extra={"data/" + "a" * 2000 + ".js": "window.x = []"})
    raises(tmp_path / "a.zip", "characters long")


def test_a_member_declared_past_the_size_limit_is_refused(tmp_path):
    big = js("YTD.tweets.part0", [tweet(str(n), "hello " * 50) for n in range(3000)])
    path = x_zip(tmp_path / "a.zip", extra={"data/tweets.js": big})
    raises(path, r"expands past the 97.7 KB limit \(zip bomb\?\)", limits=ArchiveLimits(max_member_size=100_000))


def test_a_zip_bomb_member_is_refused_by_its_ratio(tmp_path):
    bomb = "window.YTD.tweets.part0 = [" + " " * 20_000_000 + "]"
    path = x_zip(tmp_path / "bomb.zip", extra={"data/tweets.js": bomb})
    raises(path, r"compression ratio over 100:1 \(zip bomb\?\)")


def test_a_member_whose_header_lies_about_its_size_is_refused(tmp_path):
    path = x_zip(tmp_path / "a.zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("data/tweets.js")
    # Shrink the declared size in the central directory (the one zipfile trusts).
    central = data.rfind(b"PK\x01\x02", 0, data.find(b"data/tweets.js", data.find(b"PK\x01\x02")) + 1)
    data[central + 24 : central + 28] = (info.file_size // 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    raises(path, "data/tweets.js")


def test_a_gzip_bomb_is_refused_while_streaming(tmp_path):
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        outbox = b'{"orderedItems":[]}'
        info = tarfile.TarInfo("outbox.json")
        info.size = len(outbox)
        tar.addfile(info, io.BytesIO(outbox))
        zeros = tarfile.TarInfo("media_attachments/zeros.bin")
        zeros.size = 50_000_000
        tar.addfile(zeros, io.BytesIO(bytes(zeros.size)))
    raises(path, r"ratio over 100:1 \(gzip bomb\?\)")


def test_an_unsupported_compression_method_is_refused(tmp_path):
    path = x_zip(tmp_path / "a.zip")
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content, compress_type=zipfile.ZIP_BZIP2 if name == "data/tweets.js" else None)
    raises(path, "unsupported compression method")


# -- malformed contents -----------------------------------------------------------------------

def test_malformed_json_in_a_member_names_the_member(tmp_path):
    path = x_zip(tmp_path / "a.zip", extra={"data/tweets.js": 'window.YTD.tweets.part0 = [{"tweet": {"id_str": "1",'})
    raises(path, r"data/tweets.js is not valid JSON")


def test_a_member_without_the_ytd_assignment_is_refused(tmp_path):
    path = x_zip(tmp_path / "a.zip", extra={"data/tweets.js": '[{"tweet": {}}]'})
    raises(path, r"data/tweets.js does not start with 'window.YTD")


def test_javascript_before_the_assignment_is_never_run_and_refused(tmp_path):
    path = x_zip(tmp_path / "a.zip", extra={"data/tweets.js": 'alert(1); window.YTD.tweets.part0 = []'})
    raises(path, "plain 'window.YTD.<name> = ' assignment")


def test_a_broken_manifest_or_account_is_refused(tmp_path):
    raises(x_zip(tmp_path / "a.zip", extra={"data/manifest.js": "window.__THAR_CONFIG = {oops"}),
           "data/manifest.js is not valid JSON")
    raises(x_zip(tmp_path / "b.zip", extra={"data/account.js": "no assignment here"}), "data/account.js does not start")


def test_malformed_mastodon_json_is_refused(tmp_path):
    raises(masto(tmp_path / "a.zip", extra={"outbox.json": '{"orderedItems": [{"type": "Create",'}),
           "outbox.json is not valid JSON")
    raises(masto(tmp_path / "b.zip", extra={"actor.json": "<html>"}), "actor.json is not valid JSON")


def test_invalid_utf8_is_refused(tmp_path):
    content = b'window.YTD.tweets.part0 = [{"tweet": {"full_text": "\xff\xfe"}}]'
    path = x_zip(tmp_path / "a.zip", extra={"data/tweets.js": content})
    raises(path, "data/tweets.js is not valid JSON")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["x", "mastodon", "bluesky", "mastodon-tar"]), seed=st.integers(0, 2**32 - 1),
       mode=st.sampled_from(["truncate", "flip", "splice"]))
def test_any_damage_ends_in_records_or_an_archive_error(tmp_path_factory, kind, seed, mode):
    directory = tmp_path_factory.mktemp("fuzz")
    builder = {"x": x_zip, "mastodon": masto, "bluesky": car,
               "mastodon-tar": lambda p: masto(p, fmt="tar.gz")}[kind]
    data = bytearray(builder(directory / "good").read_bytes())
    rng = random.Random(seed)
    if mode == "truncate":
        data = data[: rng.randrange(1, len(data))]
    elif mode == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    else:
        start = rng.randrange(len(data))
        data[start : start + rng.randint(1, 64)] = rng.randbytes(rng.randint(0, 64))
    path = directory / "bad"
    path.write_bytes(bytes(data))
    try:
        for record in open_archive(path):
            assert isinstance(record, (r.IdentityRecord, r.InteractionRecord, r.FollowRecord, r.CountRecord,
                                       r.SkipRecord))
    except ArchiveError as exc:
        assert str(exc)


# -- progress and resume ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(BUILDERS))
def test_progress_is_known_up_front_and_reaches_the_total(tmp_path, kind):
    importer = open_archive(BUILDERS[kind](tmp_path / "upload"))
    total = importer.total
    assert total > 0 and importer.unit in ("bytes", "records", "rows")
    seen = []
    for _ in importer:
        seen.append(importer.done)
        assert importer.total == total
    assert seen == sorted(seen)
    assert importer.progress == (total, total)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_resuming_from_any_saved_position_loses_and_repeats_nothing(tmp_path, kind):
    path = BUILDERS[kind](tmp_path / "upload")
    importer = open_archive(path)
    full, positions = [], []
    for record in importer:
        full.append(record)
        positions.append(importer.position)
    assert importer.position == positions[-1]
    # The item each record belongs to: position moves on only with an item's
    # last record, so an item of several records (a followed account and its
    # count) is delivered whole or, after a resume, given again whole.
    items = [p if p != (positions[i - 1] if i else 0) else p + 1 for i, p in enumerate(positions)]
    for index in range(len(full)):
        rest = list(open_archive(path, skip=positions[index]))
        not_identity = [x for x in rest if not isinstance(x, r.IdentityRecord)]
        expected = [x for x, item in zip(full, items) if item > positions[index] and not isinstance(x, r.IdentityRecord)]
        assert not_identity == expected, (kind, index)


def test_the_order_is_the_same_on_every_run(tmp_path):
    path = x_zip(tmp_path / "a.zip", multipart=2)
    assert list(open_archive(path)) == list(open_archive(path))


def test_an_importer_closes_its_file_when_stopped_early(tmp_path):
    with open_archive(x_zip(tmp_path / "a.zip")) as importer:
        next(importer)
    assert importer._container._zip.fp is None


# -- synthetic archives -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["x", "mastodon", "bluesky"])
def test_a_synthetic_archive_has_one_interaction_per_post(tmp_path, kind):
    path = write_synthetic_archive(kind, 120, tmp_path / f"demo-{kind}", seed=3)
    records = list(open_archive(path))
    found = [x for x in records if isinstance(x, r.InteractionRecord)]
    assert len(found) == 120
    assert len({x.external_id for x in found}) == 120
    assert not [x for x in records if isinstance(x, r.SkipRecord)]
    assert len(Counter(x.kind for x in found)) >= 3


def test_a_synthetic_following_list_has_one_follow_per_row(tmp_path):
    path = write_synthetic_archive("mastodon-following", 25, tmp_path / "following.csv")
    assert sum(isinstance(x, r.FollowRecord) for x in open_archive(path)) == 25


def test_the_same_seed_writes_the_same_archive(tmp_path):
    a = write_synthetic_archive("x", 50, tmp_path / "a.zip", seed=7)
    b = write_synthetic_archive("x", 50, tmp_path / "b.zip", seed=7)
    assert list(open_archive(a)) == list(open_archive(b))


def test_the_streaming_guard_stops_a_member_that_inflates_past_its_declared_size(tmp_path, monkeypatch):
    # zipfile itself stops at the declared size today; the guard must not rely on it.
    path = x_zip(tmp_path / "a.zip")
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *a, **k: io.BytesIO(b" " * 3_000_000))
    raises(path, "expands past the size its header declares")


def test_the_streaming_guard_stops_a_member_that_inflates_past_the_ratio():
    from relationships.platforms.archives.containers import Container, _Guarded

    # 2 MB out of a member that declared 10 KB compressed: 200:1 while streaming.
    class Empty(Container):
        def names(self):
            return []

        def size(self, name):
            return 0

        def open(self, name):
            return io.BytesIO()

        def close(self):
            pass

    guard = _Guarded(io.BytesIO(b" " * 2_000_000), "data/tweets.js", 10**9, 10_000, Empty(ArchiveLimits()))
    with pytest.raises(ArchiveError, match=r"compression ratio over 100:1 \(zip bomb\?\)"):
        while guard.read(65536):
            pass


def test_an_encrypted_member_is_refused(tmp_path):
    path = x_zip(tmp_path / "a.zip")
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02", 0, data.find(b"data/tweets.js", data.find(b"PK\x01\x02")) + 1)
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    raises(path, "data/tweets.js' is encrypted")


def test_a_csv_with_an_absurd_field_is_refused(tmp_path):
    path = build_following_csv(tmp_path / "f.csv", ["ana@example.social,true,false,", '"' + "x" * 300_000 + '",1,1,'])
    raises(path, "not a readable CSV")
