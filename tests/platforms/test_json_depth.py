"""The JSON depth guard every streamed archive member passes through (archive_io.JsonDepth).

It works on raw byte chunks, so it must never under-count (a deep document
must be refused however it is cut and whatever its strings hold) and must
never refuse a real export for brackets, quotes or escapes inside strings.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relationships.platforms.archives.base import ArchiveError
from relationships.platforms.archives.reading import JsonDepth

# Strings made of what could fool a byte-level scanner.
tricky_text = st.text(alphabet=list('[]{}"\\/bnu:,x é'), max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=25,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def feed(data: bytes, limit: int, size: int) -> JsonDepth:
    guard = JsonDepth("data/tweets.js", limit)
    for start in range(0, len(data), size):
        guard.feed(data[start : start + size])
    return guard


@settings(max_examples=300, deadline=None)
@given(values, st.booleans(), st.integers(min_value=1, max_value=9))
def test_the_guard_never_undercounts_and_ignores_what_strings_hold(value, ascii_only, size):
    data = json.dumps(value, ensure_ascii=ascii_only).encode()
    true = depth(value)
    if true:
        with pytest.raises(ArchiveError, match="levels deep"):
            feed(data, true - 1, size)
    guard = feed(data, 2 * true + 1, size)
    assert guard.depth == 0  # exact once the document is closed


@pytest.mark.parametrize("opening", ["[", '{"a":', '{"a":["]]]]",'])
def test_a_hundred_thousand_levels_are_refused_in_the_first_chunks(opening):
    deep = (opening * 100_000).encode()
    with pytest.raises(ArchiveError, match="more than 512 levels deep"):
        feed(deep, 512, 64 * 1024)
