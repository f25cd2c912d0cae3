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
import codecs
import gzip
import io
import json
import os
import re
import sys
import tarfile
import zipfile
import zlib
from typing import BinaryIO

import ijson

from relationships.platforms.archives.base import ArchiveError, ArchiveLimits, human_size

try:
    # The C parser is ~10x faster than the pure-Python fallback on big members.
    ijson_backend = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - the wheel ships the C backend
    ijson_backend = ijson

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


class _WrappedStream(io.RawIOBase):
    """A readable stream over ``self._inner``; subclasses define ``read``."""

    _inner: BinaryIO

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class _Guarded(_WrappedStream):
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

    def readable(self) -> bool:
        return True

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

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        # Decompressed member bytes handed out so far: the importers' progress.
        self.bytes_read = 0

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Member names, normalized."""

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

    def names(self) -> list[str]:
        return list(self._index)

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


class _GzipRatioGuard(io.RawIOBase):
    """Seekable view of a gzip stream that refuses to inflate like a bomb."""

    def __init__(self, raw: BinaryIO, limits: ArchiveLimits) -> None:
        super().__init__()
        self._raw = raw
        self._gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self._limits = limits

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._gz.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._gz.seek(offset, whence)
        self._check()
        return position

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1024 * 1024
        data = self._gz.read(size)
        self._check()
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _check(self) -> None:
        inflated = self._gz.tell()
        limits = self._limits
        if inflated > limits.max_tar_size:
            raise ArchiveError(f"The tar.gz expands past the {human_size(limits.max_tar_size)} limit (gzip bomb?)")
        if inflated > limits.ratio_min_size and inflated > limits.max_ratio * max(self._raw.tell(), 1):
            raise ArchiveError(f"The tar.gz has a compression ratio over {limits.max_ratio}:1 (gzip bomb?)")

    def close(self) -> None:
        try:
            self._gz.close()
        finally:
            super().close()


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

    def names(self) -> list[str]:
        return list(self._index)

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


# ---------------------------------------------------------------------------
# X's data/*.js members: `window.YTD.tweets.part0 = [ ... ]`.

# ``window.YTD.tweets.part0``, and Grailbird's ``var user_details`` and ``Grailbird.data.tweets_2015_03``.
_JS_TARGET = re.compile(
    r"^\s*(?:var\s+)?[A-Za-z_$][\w$]*(\s*\.\s*[A-Za-z_$][\w$]*|\s*\[\s*(\d+|\"[^\"]*\"|'[^']*')\s*\])*\s*$"
)
_MAX_PREFIX = 4096
_TRAILING = b" \t\r\n;"


class AssignmentStream(_WrappedStream):
    """Binary stream of the JSON on the right of the first ``=`` of a JS file.

    The JavaScript is never evaluated: the left side must look like a plain
    assignment target and is thrown away; a trailing ``;`` is dropped so a
    strict JSON parser sees one value.
    """

    def __init__(self, inner: BinaryIO, name: str) -> None:
        super().__init__()
        self._inner = inner
        self._name = name
        self._started = False
        self._pending = b""
        self._held = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def _start(self) -> None:
        head = b""
        while b"=" not in head and len(head) < _MAX_PREFIX:
            chunk = self._inner.read(_MAX_PREFIX)
            if not chunk:
                break
            head += chunk
        index = head.find(b"=")
        if index < 0 or index > _MAX_PREFIX:
            raise ArchiveError(f"{self._name} does not start with 'window.YTD.<name> = '; it is not an X data file")
        target = head[:index].decode("utf-8", "replace").lstrip("\ufeff")
        if not _JS_TARGET.match(target):
            raise ArchiveError(f"{self._name} does not start with a plain 'window.YTD.<name> = ' assignment")
        self._pending = head[index + 1 :]
        self._started = True

    def read(self, size: int = -1) -> bytes:
        if not self._started:
            self._start()
        if size == 0:
            return b""
        if size is None or size < 0:
            size = 1024 * 1024
        while True:
            if self._pending:
                data, self._pending = self._pending[:size], self._pending[size:]
            elif self._eof:
                return b""
            else:
                data = self._inner.read(size)
                if not data:
                    self._eof = True
                    self._held = b""
                    return b""
            data = self._held + data
            body = data.rstrip(_TRAILING)
            self._held = data[len(body) :]
            if body:
                return body


# ---------------------------------------------------------------------------
# Nesting depth, checked on the raw bytes before a parser sees them.

# Brackets become "(" / ")", quotes stay, every other byte is dropped.
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
# JSON escapes are a backslash and one of these: "\/bfnrtu.
_NOT_ESCAPE = bytes(b for b in range(256) if b not in b'[]{}"\\/bfnrtu')


class JsonDepth:
    """Tracks the nesting depth of a JSON text fed in chunks; raises ArchiveError past ``limit``.

    Only C-speed bytes operations per chunk (a per-event check in Python made
    the import three times slower): escapes are removed (``\\\\`` pairs, then
    ``\\"``), the chunk is reduced to its quotes and brackets, adjacent quote
    pairs are dropped (that keeps every bracket on the same side of a string
    boundary), the brackets inside strings are dropped, and matched ``()``
    pairs are removed one nesting level per pass. The result is an upper
    bound of the depth, exact at chunk ends, never more than one chunk's
    local nesting above the truth.
    """

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.depth = 0
        self._in_string = False
        self._backslash = False  # the chunk ended inside an escape

    def feed(self, chunk: bytes) -> None:
        text = b"\\" + chunk if self._backslash else chunk
        if b"\\" in text:
            # Keep what an escape can be made of, so a backslash stays next to
            # the byte it escapes while the rest of the text is dropped.
            text = text.translate(None, _NOT_ESCAPE).replace(b"\\\\", b"")
            self._backslash = text.endswith(b"\\")
            if self._backslash:
                text = text[:-1]
            text = text.replace(b'\\"', b"")
        shape = text.translate(_BRACKETS, _NOT_STRUCTURE)
        if self._in_string:
            shape = b'"' + shape
        while b'""' in shape:
            shape = shape.replace(b'""', b"")
        if b'"' in shape:
            parts = shape.split(b'"')
            self._in_string = len(parts) % 2 == 0
            shape = b"".join(parts[0::2])
        else:
            self._in_string = False
        nested = 0
        while b"()" in shape:
            nested += 1
            if nested > self.limit:
                self._refuse()
            shape = shape.replace(b"()", b"")
        closing = shape.count(b")")
        after = max(0, self.depth - closing + (len(shape) - closing))
        if max(self.depth, after) + nested > self.limit:
            self._refuse()
        self.depth = after

    def _refuse(self) -> None:
        raise ArchiveError(f"{self.name} nests its JSON more than {self.limit} levels deep; no export does that")


class DepthGuarded(_WrappedStream):
    """A JSON byte stream that stops with an ArchiveError once it nests too deep."""

    def __init__(self, inner: BinaryIO, name: str, limit: int) -> None:
        super().__init__()
        self._inner = inner
        self._depth = JsonDepth(name, limit)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if data:
            self._depth.feed(data)
        return data


def json_stream(container: Container, name: str, *, assignment: bool) -> BinaryIO:
    """A member as a depth-checked JSON byte stream (after the ``=`` of an X .js file)."""
    stream: BinaryIO = container.open(name)
    if assignment:
        stream = AssignmentStream(stream, name)  # type: ignore[assignment]
    return DepthGuarded(stream, name, container.limits.max_json_depth)  # type: ignore[return-value]


def _value_error(exc: ValueError) -> str:
    """A decoder's ValueError in the user's words."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "integer string conversion" in text:
        # Python converts integers of at most sys.get_int_max_str_digits() digits.
        return f"a number longer than {sys.get_int_max_str_digits():,} digits"
    return text[:200]


class _NeedMore(Exception):
    """The buffer ends inside the element being decoded."""


def json_array_items(stream: BinaryIO, name: str, max_item: int, chunk_size: int = 1024 * 1024):
    """The elements of a top-level JSON array, decoded one at a time.

    The array is read in chunks; each element is decoded by the standard
    library's C decoder (``raw_decode``) as soon as it is whole in the
    buffer, which is several times faster than building it from ijson's
    events. Only the unread rest of the current chunk and the element being
    decoded are held, and an element past ``max_item`` characters is refused.
    The stream is expected to be depth-checked (see :func:`json_stream`), so
    the recursive decoder never meets deep nesting. Anything but an array
    (or text after its end) is an ArchiveError naming the member.
    """
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8-sig")()
    buffer = ""
    pos = 0
    eof = False
    offset = 0  # characters dropped from the front of the buffer

    def fill() -> None:
        nonlocal buffer, pos, eof, offset
        if eof:
            raise _NeedMore
        if pos > len(buffer) // 2:
            offset += pos
            buffer, pos = buffer[pos:], 0
        if len(buffer) - pos > max_item:
            raise ArchiveError(
                f"{name} holds an entry larger than {human_size(max_item)} (or is not valid JSON near "
                f"character {offset + pos:,}); no export does that"
            )
        data = stream.read(max(chunk_size, len(buffer) - pos))
        try:
            buffer += text.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise ArchiveError(f"{name} is not valid JSON ({exc})") from None
        eof = not data

    def skip_space() -> str:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(buffer):
                return buffer[pos]
            fill()

    def refuse(what: str) -> ArchiveError:
        return ArchiveError(f"{name} is not valid JSON ({what} at character {offset + pos:,})")

    closed = False
    try:
        if skip_space() != "[":
            raise refuse("expected an array")
        pos += 1
        first = True
        while True:
            char = skip_space()
            if char == "]":
                pos += 1
                closed = True
                break
            if not first:
                if char != ",":
                    raise refuse("expected ',' or ']'")
                pos += 1
                skip_space()
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, pos)
                except json.JSONDecodeError as exc:
                    # Cut short by the chunk's end (an unterminated string is
                    # reported where it starts), or broken for good.
                    if exc.pos >= len(buffer) - 8 or exc.msg.startswith("Unterminated string"):
                        try:
                            fill()
                            continue
                        except _NeedMore:
                            pass
                    where = f"{exc.msg.removesuffix(' at')} at character {offset + exc.pos:,}"
                    if eof and (exc.pos >= len(buffer) or exc.msg.startswith("Unterminated string")):
                        where += "; the file ends early"
                    raise ArchiveError(f"{name} is not valid JSON ({where})") from None
                except ValueError as exc:  # an integer of more digits than Python converts
                    raise ArchiveError(f"{name} is not valid JSON ({_value_error(exc)})") from None
                if len(buffer) - end < 32 and not eof:
                    # A number cut by the chunk's end ("-4." of "-4.5e3") decodes
                    # as a shorter one: decode it again with the next chunk.
                    try:
                        fill()
                    except _NeedMore:  # pragma: no cover - eof is set by the fill that reads nothing
                        pass
                    continue
                break
            pos = end
            first = False
            yield value
        while True:
            if pos < len(buffer):
                rest = buffer[pos:]
                if rest.strip(" \t\r\n"):
                    pos += len(rest) - len(rest.lstrip(" \t\r\n"))
                    raise refuse("text after the end of the array")
                pos = len(buffer)
            fill()
    except _NeedMore:
        if not closed:
            raise ArchiveError(f"{name} is not valid JSON (the file ends before its array does)") from None


def loads_member(container: Container, name: str, *, assignment: bool) -> object:
    """json.loads of a small member, after the ``=`` when it is an X .js file."""
    data = container.read_small(name)
    if assignment:
        stream = AssignmentStream(io.BytesIO(data), name)
        data = b"".join(iter(lambda: stream.read(1024 * 1024), b""))
    # Checked first: json.loads recurses per level and would end in a RecursionError.
    JsonDepth(name, container.limits.max_json_depth).feed(data)
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{name} is not valid JSON ({exc})") from exc
    except ValueError as exc:
        # JSONDecodeError, and an integer of more digits than Python converts (4,300).
        raise ArchiveError(f"{name} is not valid JSON ({_value_error(exc)})") from exc
    except RecursionError as exc:  # pragma: no cover - the depth check comes first
        raise ArchiveError(f"{name} nests its JSON too deeply") from exc


def translate_error(exc: Exception, member: str) -> ArchiveError | None:
    """The user-facing ArchiveError for a parser or stream failure, else None."""
    if isinstance(exc, (ijson.JSONError, UnicodeDecodeError)):
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        return ArchiveError(f"{member} is not valid JSON ({reason})")
    if isinstance(exc, (*STREAM_ERRORS, OSError)):
        return ArchiveError(f"Member '{member}' is truncated or damaged ({exc})")
    return None
