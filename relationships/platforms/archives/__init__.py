"""Entry point of the archive importers: detect what a file is, open it safely.

Public API
----------
``detect_kind(path, *, limits=None, quick=False) -> str | None``
    One of :data:`KINDS`, decided from the file's contents (zip members, tar
    members, CSV header row, CAR header), never from its name. Raises
    :class:`ArchiveError` with a message for the user when the file is not an
    importable export. ``quick`` (the web request) never reads a tar through:
    None means "a tar, to be read by the importer".

``open_archive(path, kind=None, *, skip=0, limits=None, max_car_size=None) -> ArchiveImporter``
    An iterator of normalized records (``records.py``). With ``kind`` given,
    a file of another kind is refused ("This looks like a Mastodon archive,
    not an X archive"). The importer object also carries the progress and
    resume protocol described in ``archive_base``: ``total``/``unit`` (known
    at once), ``done``/``progress`` (while iterating), ``position`` (items
    fully delivered) and ``skip`` (resume after ``position`` items). Close it
    (or use it as a context manager) if you stop before the end.

``ArchiveError``
    The only exception raised for bad input; its text is shown to the user.

``ArchiveLimits``
    The safety limits (member size, compression ratio, member count, name
    length, CAR size); pass your own to tighten or relax them.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib

from relationships.platforms.archives.base import ArchiveError, ArchiveImporter, ArchiveLimits
from relationships.platforms.archives.containers import Container, TarContainer, ZipContainer

__all__ = [
    "KINDS",
    "ArchiveError",
    "ArchiveImporter",
    "ArchiveLimits",
    "detect_kind",
    "open_archive",
]

X = "x"
MASTODON = "mastodon"
MASTODON_FOLLOWING = "mastodon-following"
BLUESKY = "bluesky"
KINDS = (X, MASTODON, MASTODON_FOLLOWING, BLUESKY)

_KIND_NAMES = {
    X: "an X archive",
    MASTODON: "a Mastodon archive",
    MASTODON_FOLLOWING: "a Mastodon following list (CSV)",
    BLUESKY: "a Bluesky repository (CAR)",
}

FOLLOWING_HEADER = ["account address", "show boosts", "notify on new posts", "languages"]
_OTHER_MASTODON_CSV = {
    "account address,hide notifications": "muted accounts",
}

_NOT_AN_ARCHIVE = "This is not a zip, tar.gz, CSV or CAR file"


# ---------------------------------------------------------------------------
# Byte-level sniffing.

def _sniff(path: str | os.PathLike) -> str:
    """'zip', 'gzip', 'tar', 'car' or 'csv' from the first bytes."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(64 * 1024)
    except OSError as exc:
        raise ArchiveError(f"The file cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise ArchiveError("The file is empty (0 bytes)")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[257:262] == b"ustar":
        return "tar"
    if _looks_like_car(head):
        return "car"
    if _csv_header(head) is not None:
        return "csv"
    raise ArchiveError(_NOT_AN_ARCHIVE)


def _read_varint(data: bytes) -> tuple[int, int] | None:
    value = shift = 0
    for index, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    return None


def _looks_like_car(head: bytes) -> bool:
    varint = _read_varint(head)
    if varint is None:
        return False
    length, start = varint
    if not 0 < length <= len(head) - start:
        return False
    try:
        import libipld

        header = libipld.decode_dag_cbor(head[start : start + length])
    except Exception:
        # Any decoding failure just means "not a CAR"; the caller says so.
        return False
    return isinstance(header, dict) and header.get("version") == 1 and isinstance(header.get("roots"), list)


def _csv_header(head: bytes) -> list[str] | None:
    """The first CSV row as lower-cased cells, or None if this is not text."""
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A 64 KB window can cut a multi-byte character at its very end.
        if exc.start < len(head) - 4:
            return None
        text = head[: exc.start].decode("utf-8-sig")
    first = text.splitlines()[0] if text.strip() else ""
    if "," not in first:
        return None
    return [cell.strip().strip('"').lower() for cell in first.split(",")]


# ---------------------------------------------------------------------------
# Container-level detection.

def _open_container(path: str | os.PathLike, sniffed: str, limits: ArchiveLimits) -> Container:
    if sniffed == "zip":
        return ZipContainer(path, limits)
    return TarContainer(path, limits, gzipped=sniffed == "gzip")


def _container_kind(container: Container) -> str:
    from relationships.platforms.mastodon import archive as mastodon_archive
    from relationships.platforms.x import archive as x_archive

    names = container.names()
    if not names:
        raise ArchiveError("The archive is empty")
    is_x = x_archive.find_root(names) is not None
    is_mastodon = mastodon_archive.find_root(names) is not None
    if is_x and is_mastodon:
        raise ArchiveError("This archive holds both an X and a Mastodon export; upload them one at a time")
    if is_x:
        return X
    if is_mastodon:
        return MASTODON
    raise ArchiveError(
        "This archive is neither an X archive (no data/tweets.js, data/account.js or data/js/tweets/) "
        "nor a Mastodon archive (no outbox.json)"
    )


def _following_or_error(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        header = _csv_header(handle.read(64 * 1024)) or []
    if header[: len(FOLLOWING_HEADER)] == FOLLOWING_HEADER:
        return MASTODON_FOLLOWING
    other = _OTHER_MASTODON_CSV.get(",".join(header))
    if other:
        raise ArchiveError(
            f"This is Mastodon's {other} CSV, not the list of accounts you follow (following_accounts.csv)"
        )
    raise ArchiveError(
        "This CSV is not a Mastodon following list: its first row should be "
        "'Account address,Show boosts,Notify on new posts,Languages'"
    )


def _check_tar_head(path: str | os.PathLike, sniffed: str) -> None:
    """Refuse a file whose first block is no tar header, reading only that block."""
    what = "tar.gz" if sniffed == "gzip" else "tar"
    try:
        with (gzip.open(path, "rb") if sniffed == "gzip" else open(path, "rb")) as stream:
            block = stream.read(tarfile.BLOCKSIZE)
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except (OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"The {what} is truncated or damaged") from exc
    except tarfile.HeaderError as exc:
        if sniffed == "gzip":
            raise ArchiveError("This .gz file holds no tar archive; exports come as .zip or .tar.gz") from exc
        raise ArchiveError(f"The {what} is truncated or damaged") from exc


def detect_kind(path: str | os.PathLike, *, limits: ArchiveLimits | None = None, quick: bool = False) -> str | None:
    """What export this file is, from its contents. See the module docstring.

    ``quick`` reads only what is cheap: the first bytes, a zip's central
    directory, a CSV's header row. A tar lists its members only along the
    whole (decompressed) stream, so for a tar or tar.gz it checks the first
    header and returns None: the importer's own full read decides later.
    """
    limits = limits or ArchiveLimits()
    sniffed = _sniff(path)
    if sniffed == "car":
        return BLUESKY
    if sniffed == "csv":
        return _following_or_error(path)
    if quick and sniffed in ("gzip", "tar"):
        _check_tar_head(path, sniffed)
        return None
    container = _open_container(path, sniffed, limits)
    try:
        return _container_kind(container)
    finally:
        container.close()


def _check_forced(kind: str | None, found: str) -> None:
    if kind is None or kind == found:
        return
    raise ArchiveError(f"This looks like {_KIND_NAMES[found]}, not {_KIND_NAMES[kind]}")


def open_archive(
    path: str | os.PathLike,
    kind: str | None = None,
    *,
    skip: int = 0,
    limits: ArchiveLimits | None = None,
    max_car_size: int | None = None,
) -> ArchiveImporter:
    """An importer over the file; see the module docstring for the protocol."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown archive kind {kind!r}; expected one of {KINDS}")
    limits = limits or ArchiveLimits()
    if max_car_size is not None:
        limits = ArchiveLimits(**{**limits.__dict__, "max_car_size": max_car_size})
    sniffed = _sniff(path)
    if sniffed == "car":
        _check_forced(kind, BLUESKY)
        from relationships.platforms.bluesky.archive import BlueskyCarImporter

        return BlueskyCarImporter(path, skip=skip, limits=limits)
    if sniffed == "csv":
        _check_forced(kind, _following_or_error(path))
        from relationships.platforms.mastodon.following import MastodonFollowingImporter

        return MastodonFollowingImporter(path, skip=skip)
    container = _open_container(path, sniffed, limits)
    try:
        found = _container_kind(container)
        _check_forced(kind, found)
        if found == X:
            from relationships.platforms.x.archive import XArchiveImporter

            return XArchiveImporter(container, skip=skip)
        from relationships.platforms.mastodon.archive import MastodonArchiveImporter

        return MastodonArchiveImporter(container, skip=skip)
    except BaseException:
        container.close()
        raise
