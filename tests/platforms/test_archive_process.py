"""archive_process.ArchiveReader: an archive parsed in a child process, records read back here.

The reader must be indistinguishable from iterating the importer in this
process (same records, same resume positions, same refusals), must stop its
child when the consumer stops, and must never run code a frame names.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import time

import pytest

from relationships.platforms.archives import open_archive
from relationships.platforms.archives import process as ap
from relationships.platforms.archives.base import ArchiveError
from relationships.platforms.archives.synthetic import write_synthetic_archive
from tests.builders import x as xb


def in_process(path, kind, skip=0):
    with open_archive(path, kind=kind, skip=skip) as importer:
        return [(record, importer.position) for record in importer]


def through_child(path, kind, skip=0):
    with ap.ArchiveReader(path, kind, skip=skip, position=skip) as reader:
        return [(record, reader.position) for record in reader]


@pytest.mark.parametrize("kind, name", [
    ("x", "x.zip"), ("mastodon", "mastodon.zip"), ("mastodon-following", "following.csv"), ("bluesky", "repo.car"),
])
def test_the_child_gives_the_records_and_positions_the_importer_gives(tmp_path, kind, name):
    path = write_synthetic_archive(kind, 3000, tmp_path / name)
    expected = in_process(path, kind)
    assert len(expected) > ap.CHUNK  # more than one frame
    assert through_child(path, kind) == expected


def test_a_resumed_read_skips_the_same_items(tmp_path):
    path = write_synthetic_archive("x", 500, tmp_path / "x.zip")
    assert through_child(path, "x", skip=123) == in_process(path, "x", skip=123)


def test_the_odd_corners_of_an_x_archive_come_through_unchanged(tmp_path):
    ana, ben = xb.XUser("700", "ana", "Ana"), xb.XUser("701", "ben", "Ben")
    path = xb.build_x_archive(
        tmp_path / "x.zip",
        tweets=[xb.reply("10", to=ana), xb.retweet("11", of=ben, with_mention=False), xb.quote("12", of=ana),
                xb.tweet("13", "hi @ben", mentions=[ben]), {"tweet": {"id_str": "14", "created_at": "never"}}],
        dms=[xb.conversation(xb.dm("20", sender=ana, recipient=xb.ME), xb.dm("21", sender=xb.ME, recipient=ana))],
        likes=5, followers=[ana], following=[ben],
    )
    assert through_child(path, "x") == in_process(path, "x")


def read_until_refused(records):
    taken = []
    with pytest.raises(ArchiveError) as refusal:
        for item in records:
            taken.append(item)
    return taken, str(refusal.value)


def test_what_comes_before_damage_comes_through_before_the_same_refusal(tmp_path):
    good = [xb.tweet(f"17{n:05d}", text=f"hi @ana {n}", mentions=[xb.XUser("700", "ana", "Ana")]) for n in range(2500)]
    text = "window.YTD.tweets.part0 = " + json.dumps(good)[:-1] + ', {"tweet": {"id_str": "9", "full_text": "cut'
    path = xb.build_x_archive(tmp_path / "x.zip", extra={"data/tweets.js": text})

    def here():
        with open_archive(path, kind="x") as importer:
            for record in importer:
                yield record, importer.position

    def there():
        with ap.ArchiveReader(path, "x") as reader:
            for record in reader:
                yield record, reader.position

    expected = read_until_refused(here())
    assert len(expected[0]) > ap.CHUNK  # a full frame and a partial one come before the damage
    assert read_until_refused(there()) == expected


def test_a_refusal_in_the_child_is_the_same_archive_error_here(tmp_path):
    path = xb.build_x_archive(tmp_path / "x.zip", extra={"data/tweets.js": 'window.YTD.tweets.part0 = [{"tweet": {'})
    with pytest.raises(ArchiveError) as here:
        in_process(path, "x")
    with pytest.raises(ArchiveError) as there:
        through_child(path, "x")
    assert str(there.value) == str(here.value)
    assert "data/tweets.js is not valid JSON" in str(there.value)


def test_an_unexpected_failure_in_the_child_is_reported_with_its_traceback(tmp_path):
    path = write_synthetic_archive("x", 10, tmp_path / "x.zip")
    with pytest.raises(ap.ReaderCrashed, match="unknown archive kind 'nonsense'"):
        through_child(path, "nonsense")


def test_a_child_that_dies_is_an_error_not_a_short_archive(tmp_path, monkeypatch):
    # With one frame held here, the child cannot have finished 20,000 tweets when it is killed.
    monkeypatch.setattr(ap, "DEPTH", 1)
    path = write_synthetic_archive("x", 20_000, tmp_path / "x.zip")
    reader = ap.ArchiveReader(path, "x")
    records = iter(reader)
    next(records)
    reader._proc.kill()
    with pytest.raises(ap.ReaderCrashed, match="stopped without finishing"):
        for _ in records:
            pass
    reader.close()


def test_a_consumer_that_stops_early_stops_the_child(tmp_path):
    path = write_synthetic_archive("x", 20_000, tmp_path / "x.zip")
    with ap.ArchiveReader(path, "x") as reader:
        records = iter(reader)
        next(records)
        pid = reader._proc.pid
    assert reader._proc is None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the child {pid} still runs")


def test_a_frame_naming_any_other_global_is_refused():
    class Sneaky:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="reference to (posix|os).system"):
        ap._PlainUnpickler(io.BytesIO(pickle.dumps(("records", [Sneaky()], (0, 0))))).load()


def test_records_survive_the_wire_with_their_times():
    import datetime as dt

    from relationships.platforms import records as r

    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    originals = [
        r.InteractionRecord(platform="x", external_id="1", identity_id="2", kind="dm", direction="in", occurred_at=when),
        r.FollowRecord(platform="bluesky", identity_id="did:plc:a", i_follow=True, since=when),
        r.IdentityRecord(platform="mastodon", external_id="https://h/users/a", handle=None, is_bot=None),
        r.CountRecord("likes_without_author", 3),
        r.SkipRecord("tweet without an id", detail="d"),
        r.CheckpointRecord(stream="s", cursor=None),
    ]
    wire = pickle.dumps([ap.encode(x) for x in originals])
    back = [ap.decode(x) for x in ap._PlainUnpickler(io.BytesIO(wire)).load()]
    assert back == originals
    assert back[0].occurred_at.utcoffset() == dt.timedelta(hours=2)


def test_open_refuses_a_wrong_file_before_any_record_and_then_knows_the_size(tmp_path):
    wrong = write_synthetic_archive("mastodon", 10, tmp_path / "mastodon.zip")
    reader = ap.ArchiveReader(wrong, "x")
    with pytest.raises(ArchiveError, match="This looks like a Mastodon archive, not an X archive"):
        reader.open()
    reader.close()

    path = write_synthetic_archive("x", 100, tmp_path / "x.zip")
    with open_archive(path, kind="x") as importer:
        total = importer.total
    with ap.ArchiveReader(path, "x") as reader:
        reader.open()
        assert reader.progress[1] == total and reader.position == 0
        assert len(list(reader)) == len(in_process(path, "x"))


def test_records_read_before_a_failure_of_the_reader_itself_go_ahead_of_its_report(tmp_path, monkeypatch):
    # A bug (not damage) stops the reader after 2,500 records: a full frame
    # and a partial one were read, and both reach the parent before the crash.
    from relationships.platforms import archives

    path = write_synthetic_archive("x", 3000, tmp_path / "x.zip")
    expected = in_process(path, "x")[:2500]
    real_open = archives.open_archive

    class FailsAfter2500:
        def __init__(self, importer):
            self.importer = importer

        def __getattr__(self, name):
            return getattr(self.importer, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.importer.close()

        def __iter__(self):
            for n, record in enumerate(self.importer):
                if n == 2500:
                    raise RuntimeError("a bug in the reader")
                yield record

    monkeypatch.setattr(archives, "open_archive", lambda *a, **kw: FailsAfter2500(real_open(*a, **kw)))
    out = io.BytesIO()
    monkeypatch.setattr("sys.stdout", type("Stdout", (), {"buffer": out})())
    ap.child_main([json.dumps({"path": str(path), "kind": "x", "skip": 0})])

    frames, wire = [], io.BytesIO(out.getvalue())
    while header := wire.read(ap._HEADER):
        frames.append(ap._PlainUnpickler(io.BytesIO(wire.read(int.from_bytes(header, "little")))).load())
    sent = [(ap.decode(item), position) for frame in frames if frame[0] == "records" for item, position in frame[1]]
    assert sent == expected
    assert frames[-1][0] == "crash" and "a bug in the reader" in frames[-1][1]
