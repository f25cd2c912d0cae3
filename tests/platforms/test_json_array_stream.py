"""archive_io.json_array_items: the elements of a member's top-level array, one at a time.

It decodes with the standard library as soon as an element is whole in its
buffer, so it must give exactly json.loads' answer however the bytes are cut
into chunks, and refuse everything json.loads refuses with a message that
names the member.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relationships.platforms.archives.base import ArchiveError
from relationships.platforms.archives.reading import json_array_items

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=list('ab "\\/[]{},:é🙂\n'), max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)


def read(data: bytes, chunk: int = 1024, max_item: int = 1 << 20) -> list:
    return list(json_array_items(io.BytesIO(data), "data/tweets.js", max_item, chunk_size=chunk))


@settings(max_examples=200, deadline=None)
@given(st.lists(values, max_size=6), st.integers(min_value=1, max_value=40), st.sampled_from([None, 0, 2]),
       st.booleans(), st.booleans())
def test_gives_what_json_loads_gives_however_the_bytes_are_cut(items, chunk, indent, ascii_only, bom):
    data = json.dumps(items, indent=indent, ensure_ascii=ascii_only).encode()
    if bom:
        data = b"\xef\xbb\xbf" + data
    assert read(data, chunk) == json.loads(data.decode("utf-8-sig"))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1024])
def test_a_number_cut_by_a_chunk_is_read_whole(chunk):
    assert read(b"[1, 22, 333, -4.5e3, 6E-2, true, null]", chunk) == [1, 22, 333, -4500.0, 0.06, True, None]


@pytest.mark.parametrize("data, message", [
    (b"", "the file ends before its array does"),
    (b"   ", "the file ends before its array does"),
    (b"[1, 2", "the file ends before its array does"),
    (b'[{"a": 1', "Expecting ',' delimiter at character 8; the file ends early"),
    (b'["abc', "Unterminated string starting at character 1; the file ends early"),
    (b"{}", "expected an array at character 0"),
    (b"[1 2]", "expected ',' or ']' at character 3"),
    (b"[1,]", "Expecting value at character 3"),
    (b"[tru]", "Expecting value at character 1"),
    (b"[1] x", "text after the end of the array at character 4"),
    (b'["\xff"]', "can't decode byte 0xff"),
    (b"[" + b"7" * 5000 + b"]", "a number longer than 4,300 digits"),
])
@pytest.mark.parametrize("chunk", [1, 4, 1 << 20])
def test_anything_json_loads_refuses_is_refused_naming_the_member(data, message, chunk):
    with pytest.raises(ArchiveError) as caught:
        read(data, chunk)
    assert str(caught.value).startswith("data/tweets.js is not valid JSON (")
    assert message in str(caught.value)


def test_an_element_past_the_size_limit_is_refused_without_reading_the_rest():
    class Endless(io.RawIOBase):
        served = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            head = b'[["' if not self.served else b""
            data = head + b"x" * (len(buffer) - len(head))
            buffer[: len(data)] = data
            self.served += len(data)
            return len(data)

    stream = Endless()
    with pytest.raises(ArchiveError, match="holds an entry larger than 1 MB"):
        list(json_array_items(stream, "data/tweets.js", 1 << 20, chunk_size=64 * 1024))
    assert stream.served < 4 << 20


def test_elements_come_one_at_a_time_without_reading_the_whole_member():
    class Counting(io.BytesIO):
        def read(self, size=-1):
            assert size is not None and size > 0, "the member must never be read whole"
            return super().read(size)

    data = json.dumps([{"tweet": {"id_str": str(n), "full_text": "x" * 100}} for n in range(5000)]).encode()
    stream = Counting(data)
    items = json_array_items(stream, "data/tweets.js", 1 << 20, chunk_size=4096)
    assert next(items)["tweet"]["id_str"] == "0"
    assert stream.tell() <= 8192
