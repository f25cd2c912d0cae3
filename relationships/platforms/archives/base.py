"""Shared pieces of the archive importers: the error, the limits, the importer
protocol (progress and resume) and small text/time helpers.

This module imports nothing from Django and nothing from the other importer
modules, so every importer can build on it without import cycles.

Importer protocol
-----------------
Every importer is an iterator of records (see ``records.py``) with:

``total`` / ``unit``
    An estimate of the work, known as soon as the importer is created
    (``unit`` is ``"bytes"`` for zip/tar archives, ``"records"`` for a CAR,
    ``"rows"`` for a CSV). It never changes during the run.
``done`` / ``progress``
    Work done so far in the same unit; ``progress`` is ``(done, total)`` with
    ``done <= total``, and ``done == total`` once the iterator is exhausted.
``position``
    The number of input *items* (a tweet, a DM, an outbox activity, a CSV row,
    a repo record, ...) whose records have all been handed out. It is updated
    just before the last record of an item is yielded, so after the caller has
    handled a record, ``position`` items are fully delivered.
``skip``
    Resume: an importer created with ``skip=N`` walks the same items in the
    same order (the order is deterministic for a given file) and yields
    nothing for the first ``N``. Save ``position`` with each committed batch;
    after a restart pass it back as ``skip`` and nothing is lost or repeated.
    An identity may be announced again after a resume; ingest upserts it.

An :class:`ArchiveError` can be raised at any point of the iteration (an
archive can be damaged half-way through); records yielded before it are valid.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from relationships.platforms.records import IdentityRecord, Record, SkipRecord

MB = 1024 * 1024
GB = 1024 * MB


def human_size(size: int) -> str:
    """2147483648 -> "2 GB"; for the limits quoted in messages."""
    for unit, factor in (("GB", GB), ("MB", MB), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


class ArchiveError(Exception):
    """The file cannot be imported; the message is written for the user."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Safety limits for untrusted uploads; the defaults suit real exports."""

    max_member_size: int = 2 * GB
    # Real exports compress far less than this; a bomb compresses far more.
    max_ratio: int = 100
    # Tiny members can have absurd ratios (a file of spaces) without harm.
    ratio_min_size: int = 1 * MB
    max_members: int = 10_000
    max_name_length: int = 1024
    # The whole decompressed stream of a tar.gz (media included).
    max_tar_size: int = 16 * GB
    max_car_size: int = 512 * MB
    # Members read whole with json.loads (manifest, account, actor).
    max_small_member: int = 64 * MB
    # Real exports nest JSON about ten levels deep. ijson keeps a path string
    # per open level, so memory grows with the square of the depth: 100,000
    # levels in a 200 KB member would take tens of GB and get the worker killed.
    max_json_depth: int = 512
    # One element of a streamed top-level array (a tweet, a follower) is held
    # whole while it is decoded; real ones are a few kilobytes.
    max_json_item: int = 64 * MB


# Per-item processing may meet shapes a real export never had (a string where
# an object belongs); those items become SkipRecords instead of aborting.
# OverflowError: a number too large for a date or an int conversion (an id of
# thousands of digits read as a timestamp).
ITEM_ERRORS = (KeyError, TypeError, AttributeError, ValueError, IndexError, OverflowError)


class ArchiveImporter:
    """Base of every importer: drives items, progress and resume.

    Subclasses implement :meth:`_items`, yielding ``(handler, raw, what)``
    triples in a deterministic order; ``handler(raw)`` returns the records of
    that item. ``what`` names the item in a skip reason ("tweet").
    """

    kind = ""
    unit = "bytes"

    def __init__(self, *, skip: int = 0) -> None:
        if skip < 0:
            raise ValueError("skip must be >= 0")
        self.skip = skip
        self.position = 0
        self.total = 0
        self._finished = False
        self._gen: Iterator[Record] | None = None
        self._announced: dict[str, str | None] = {}

    # -- iterator protocol -------------------------------------------------
    def __iter__(self) -> ArchiveImporter:
        return self

    def __next__(self) -> Record:
        if self._gen is None:
            self._gen = self._run()
        try:
            return next(self._gen)
        except StopIteration:
            self._finished = True
            self.close()
            raise
        except ArchiveError:
            self.close()
            raise
        except Exception as exc:
            translated = self._translate_error(exc)
            self.close()
            if translated is None:
                raise
            raise translated from exc

    def __enter__(self) -> ArchiveImporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release open files; safe to call more than once."""

    # -- progress ------------------------------------------------------------
    @property
    def done(self) -> int:
        return self.total if self._finished else min(self._done(), self.total)

    @property
    def progress(self) -> tuple[int, int]:
        return self.done, self.total

    def _done(self) -> int:
        return 0

    # -- subclass hooks --------------------------------------------------------
    def _items(self) -> Iterator[tuple[Callable[[object], Iterable[Record]], object, str]]:
        """Yield ``(handler, raw, what)`` for each input item, in a deterministic order.

        Every importer overrides this; the base importer has no items.
        """
        return iter(())

    def _translate_error(self, exc: Exception) -> ArchiveError | None:
        """Turn a library error into an ArchiveError, or None to re-raise."""
        return None

    # -- engine -----------------------------------------------------------------
    def _run(self) -> Iterator[Record]:
        index = 0
        for handler, raw, what in self._items():
            index += 1
            if index <= self.skip:
                self.position = index
                continue
            try:
                records = list(handler(raw))
            except ITEM_ERRORS as exc:
                records = [SkipRecord(f"unreadable {what}", detail=f"{type(exc).__name__}: {exc}")]
            if not records:
                self.position = index
                continue
            last = len(records) - 1
            for i, record in enumerate(records):
                if i == last:
                    self.position = index
                yield record

    def _announce(self, record: IdentityRecord) -> list[IdentityRecord]:
        """Yield each identity once per run, again only when its handle became known."""
        key = record.external_id
        if key in self._announced and (record.handle is None or self._announced[key] == record.handle):
            return []
        self._announced[key] = record.handle
        return [record]


# ---------------------------------------------------------------------------
# Helpers shared by the importers.



def excerpt(text: str | None, limit: int = 200) -> str:
    if not text:
        return ""
    text = " ".join(text.split())  # runs of whitespace become one space
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "\u2026"


def html_to_text(markup: str | None) -> str:
    """Mastodon content is sanitized HTML; keep the words, drop the tags."""
    if not markup:
        return ""
    text = re.sub(r"(?i)<br\s*/?>|</p>\s*<p[^>]*>", " ", markup)
    text = re.sub(r"<[^>]*>", "", text)
    return html.unescape(text)


def parse_iso(value: object) -> dt.datetime | None:
    """Parse an ISO-8601 time; naive values are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        # Python 3.11 wants 3 or 6 fractional digits; Bluesky clients send others.
        match = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
        if not match:
            return None
        frac = (match.group(2) + "000000")[:6]
        try:
            parsed = dt.datetime.fromisoformat(f"{match.group(1)}.{frac}{match.group(3)}")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)
