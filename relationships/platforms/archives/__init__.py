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

The kinds, how each is recognised and which importer reads it are what the
platforms' packages declare (:class:`relationships.platforms.ArchiveKind`);
this module knows only the forms: zip, tar(.gz), CSV and CAR.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib

from relationships.platforms import CAR, CONTAINER, CSV, ArchiveKind, archive_kinds, load
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

# The kinds the import service treats apart.
X = "x"
MASTODON = "mastodon"
MASTODON_FOLLOWING = "mastodon-following"
BLUESKY = "bluesky"

#: Every kind of export, declared by the platforms' packages (see ``relationships.platforms``).
ARCHIVE_KINDS: dict[str, ArchiveKind] = {kind.kind: kind for kind in archive_kinds()}
KINDS = tuple(ARCHIVE_KINDS)

_NOT_AN_ARCHIVE = "This is not a zip, tar.gz, CSV or CAR file"


# ---------------------------------------------------------------------------
# Byte-level sniffing.

def _sniff(path: str | os.PathLike) -> str:
    """'zip', 'gzip', 'tar', CAR or CSV from the first bytes."""
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
        return CAR
    if _csv_header(head) is not None:
        return CSV
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
# Kind-level detection, by what the platforms' packages declare.

def _open_container(path: str | os.PathLike, sniffed: str, limits: ArchiveLimits) -> Container:
    if sniffed == "zip":
        return ZipContainer(path, limits)
    return TarContainer(path, limits, gzipped=sniffed == "gzip")


def _neither(refusals: list[str]) -> str:
    """The refusals joined: not A; neither A nor B; neither A, B nor C."""
    if len(refusals) == 1:
        return f"not {refusals[0]}"
    return f"neither {', '.join(refusals[:-1])} nor {refusals[-1]}"


def _recognised(form: str, evidence: object) -> list[ArchiveKind]:
    kinds = [kind for kind in ARCHIVE_KINDS.values() if kind.form == form]
    return [kind for kind in kinds if not kind.recognises or load(kind.platform, kind.recognises)(evidence)]


def _refused(form: str, what: str) -> ArchiveError:
    refusals = [kind.refusal for kind in ARCHIVE_KINDS.values() if kind.form == form]
    if not refusals:
        return ArchiveError(_NOT_AN_ARCHIVE)
    return ArchiveError(f"This {what} is {_neither(refusals)}")


def _container_kind(container: Container) -> ArchiveKind:
    names = container.names()
    if not names:
        raise ArchiveError("The archive is empty")
    found = _recognised(CONTAINER, names)
    if len(found) > 1:
        raise ArchiveError(
            f"This archive holds both {' and '.join(kind.name for kind in found)}; upload them one at a time"
        )
    if not found:
        raise _refused(CONTAINER, "archive")
    return found[0]


def _file_kind(path: str | os.PathLike, sniffed: str) -> ArchiveKind:
    """The kind of a file that is no container: a CAR, or a CSV told apart by its header row."""
    if sniffed == CAR:
        found = _recognised(CAR, None)
    else:
        with open(path, "rb") as handle:
            found = _recognised(CSV, _csv_header(handle.read(64 * 1024)) or [])
    if not found:
        raise _refused(sniffed, "CSV" if sniffed == CSV else "CAR file")
    return found[0]


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
    if sniffed in (CAR, CSV):
        return _file_kind(path, sniffed).kind
    if quick and sniffed in ("gzip", "tar"):
        _check_tar_head(path, sniffed)
        return None
    container = _open_container(path, sniffed, limits)
    try:
        return _container_kind(container).kind
    finally:
        container.close()


def _check_forced(kind: str | None, found: ArchiveKind) -> None:
    if kind is None or kind == found.kind:
        return
    raise ArchiveError(f"This looks like {found.name}, not {ARCHIVE_KINDS[kind].name}")


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
    if sniffed == CAR:
        found = _file_kind(path, sniffed)
        _check_forced(kind, found)
        return load(found.platform, found.importer)(path, skip=skip, limits=limits)
    if sniffed == CSV:
        found = _file_kind(path, sniffed)
        _check_forced(kind, found)
        return load(found.platform, found.importer)(path, skip=skip)
    container = _open_container(path, sniffed, limits)
    try:
        found = _container_kind(container)
        _check_forced(kind, found)
        return load(found.platform, found.importer)(container, skip=skip)
    except BaseException:
        container.close()
        raise
