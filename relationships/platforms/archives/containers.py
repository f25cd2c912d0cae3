"""Reading members of untrusted zip and tar archives without extracting them.

Nothing here ever writes to disk: members are read as streams straight out of
the archive, so hostile member names (``../x``, ``/etc/x``) cannot escape
anywhere; they are still refused, because no real export contains them.

Limits (see :class:`ArchiveLimits`) are checked twice: on the sizes the
archive declares, and again on the bytes actually produced while streaming,
because declared sizes are written by whoever built the file.
"""

from __future__ import annotations

import abc
import gzip
import io
import os
import re
import tarfile
import zipfile
import zlib
from typing import BinaryIO

from relationships.platforms.archives.base import ArchiveError, ArchiveLimits, human_size

# zipfile decompresses bzip2/lzma members in unbounded steps, so a bomb would
# expand in memory before any guard saw it; real exports only use these two.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

STREAM_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile)


def _check_name(raw_name: str, limits: ArchiveLimits) -> str:
    if len(raw_name) > limits.max_name_length:
        raise ArchiveError(
            f"Member name {raw_name[:60]!r}... is {len(raw_name)} characters long "
            f"(limit {limits.max_name_length}); refusing the archive"
        )
    name = raw_name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    parts = name.split("/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        raise ArchiveError(f"Member {raw_name!r} has an unsafe path (absolute or with '..'); refusing the archive")
    return name


class WrappedStream(io.RawIOBase):
    """A readable stream over ``self._inner``; subclasses define ``read``."""

    _inner: BinaryIO

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class _Guarded(WrappedStream):
    """Counts the bytes a member really produces and stops a lying bomb."""

    def __init__(self, inner: BinaryIO, name: str, limit: int, compressed: int, container: Container) -> None:
        super().__init__()
        self._inner = inner
        self._name = name
        self._limit = limit
        self._compressed = compressed
        self._container = container
        self._limits = container.limits
        self.produced = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1024 * 1024
        try:
            data = self._inner.read(size)
        except STREAM_ERRORS as exc:
            raise ArchiveError(f"Member '{self._name}' is truncated or damaged ({exc})") from exc
        self.produced += len(data)
        self._container.bytes_read += len(data)
        limits = self._limits
        if self.produced > self._limit:
            raise ArchiveError(f"Member '{self._name}' expands past the size its header declares (zip bomb?)")
        if (
            self._compressed is not None
            and self.produced > limits.ratio_min_size
            and self.produced > limits.max_ratio * max(self._compressed, 1)
        ):
            raise ArchiveError(
                f"Member '{self._name}' has a compression ratio over {limits.max_ratio}:1 (zip bomb?)"
            )
        return data


class Container(abc.ABC):
    """The readable regular-file members of an archive, by normalized name."""

    _index: dict  # normalized name -> the archive library's member info

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        # Decompressed member bytes handed out so far: the importers' progress.
        self.bytes_read = 0

    def names(self) -> list[str]:
        """Member names, normalized."""
        return list(self._index)

    @abc.abstractmethod
    def size(self, name: str) -> int:
        """Uncompressed size of a member."""

    @abc.abstractmethod
    def open(self, name: str) -> BinaryIO:
        """A binary stream of a member, decompressed on the fly."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the underlying file."""

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def read_small(self, name: str) -> bytes:
        """Read a member that must be small (manifest, account, actor)."""
        if self.size(name) > self.limits.max_small_member:
            raise ArchiveError(f"Member '{name}' is {human_size(self.size(name))}, far larger than such a file can be")
        with self.open(name) as stream:
            chunks = []
            total = 0
            while chunk := stream.read(1024 * 1024):
                total += len(chunk)
                if total > self.limits.max_small_member:
                    raise ArchiveError(f"Member '{name}' is far larger than such a file can be")
                chunks.append(chunk)
        return b"".join(chunks)


class ZipContainer(Container):
    def __init__(self, path: str | os.PathLike, limits: ArchiveLimits) -> None:
        super().__init__(limits)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, ValueError) as exc:
            raise ArchiveError("The zip is truncated or damaged") from exc
        try:
            infos = self._zip.infolist()
            if len(infos) > limits.max_members:
                raise ArchiveError(
                    f"The zip has {len(infos)} members, more than the {limits.max_members} an export can have"
                )
            self._index: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                name = _check_name(info.filename, limits)
                if not info.is_dir():
                    self._index[name] = info
        except BaseException:
            self._zip.close()
            raise

    def size(self, name: str) -> int:
        return self._index[name].file_size

    def open(self, name: str) -> BinaryIO:
        info = self._index[name]
        limits = self.limits
        if info.flag_bits & 0x1:
            raise ArchiveError(f"Member '{name}' is encrypted; export the archive again without a password")
        if info.compress_type not in _ZIP_METHODS:
            raise ArchiveError(f"Member '{name}' uses an unsupported compression method ({info.compress_type})")
        if info.file_size > limits.max_member_size:
            limit = human_size(limits.max_member_size)
            raise ArchiveError(f"Member '{name}' expands past the {limit} limit (zip bomb?)")
        if info.file_size > limits.ratio_min_size and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ArchiveError(f"Member '{name}' has a compression ratio over {limits.max_ratio}:1 (zip bomb?)")
        try:
            inner = self._zip.open(info)
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            raise ArchiveError(f"Member '{name}' is truncated or damaged ({exc})") from exc
        return _Guarded(inner, name, info.file_size, info.compress_size, self)  # type: ignore[return-value]

    def close(self) -> None:
        self._zip.close()


class _GzipRatioGuard(WrappedStream):
    """Seekable view of a gzip stream that refuses to inflate like a bomb."""

    def __init__(self, raw: BinaryIO, limits: ArchiveLimits) -> None:
        super().__init__()
        self._raw = raw
        self._inner = gzip.GzipFile(fileobj=raw, mode="rb")
        self._limits = limits

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._inner.seek(offset, whence)
        self._check()
        return position

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1024 * 1024
        data = self._inner.read(size)
        self._check()
        return data

    def _check(self) -> None:
        inflated = self._inner.tell()
        limits = self._limits
        if inflated > limits.max_tar_size:
            raise ArchiveError(f"The tar.gz expands past the {human_size(limits.max_tar_size)} limit (gzip bomb?)")
        if inflated > limits.ratio_min_size and inflated > limits.max_ratio * max(self._raw.tell(), 1):
            raise ArchiveError(f"The tar.gz has a compression ratio over {limits.max_ratio}:1 (gzip bomb?)")


class TarContainer(Container):
    def __init__(self, path: str | os.PathLike, limits: ArchiveLimits, *, gzipped: bool) -> None:
        super().__init__(limits)
        self._file = open(path, "rb")
        self._stream: BinaryIO = self._file
        if gzipped:
            self._stream = _GzipRatioGuard(self._file, limits)  # type: ignore[assignment]
        self._index: dict[str, tarfile.TarInfo] = {}
        what = "tar.gz" if gzipped else "tar"
        try:
            self._tar = tarfile.open(fileobj=self._stream, mode="r:")
            count = 0
            while (member := self._tar.next()) is not None:
                count += 1
                if count > limits.max_members:
                    raise ArchiveError(
                        f"The {what} has more than the {limits.max_members} members an export can have"
                    )
                name = _check_name(member.name, limits)
                # Links and devices are never followed: only plain files are data.
                if member.isreg():
                    if member.size > limits.max_member_size:
                        raise ArchiveError(
                            f"Member '{name}' expands past the {human_size(limits.max_member_size)} limit"
                        )
                    self._index[name] = member
            # Drop the list tarfile keeps of every member; our index is enough.
            self._tar.members = []
        except ArchiveError:
            self.close()
            raise
        except (*STREAM_ERRORS, OSError) as exc:
            self.close()
            raise ArchiveError(f"The {what} is truncated or damaged") from exc

    def size(self, name: str) -> int:
        return self._index[name].size

    def open(self, name: str) -> BinaryIO:
        member = self._index[name]
        try:
            inner = self._tar.extractfile(member)
        except (*STREAM_ERRORS, OSError) as exc:
            raise ArchiveError(f"Member '{name}' is truncated or damaged ({exc})") from exc
        if inner is None:  # pragma: no cover - only regular files are indexed
            raise ArchiveError(f"Member '{name}' is not a regular file")
        return _Guarded(inner, name, member.size, None, self)  # type: ignore[arg-type,return-value]

    def close(self) -> None:
        tar = getattr(self, "_tar", None)
        if tar is not None:
            tar.close()
        if self._stream is not self._file:
            self._stream.close()
        self._file.close()

