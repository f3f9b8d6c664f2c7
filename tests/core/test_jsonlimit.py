"""The bounded JSON reader: size, nesting and number length refused with a message, never a RecursionError."""
from __future__ import annotations

import pytest

from streamer.core import jsonlimit


def test_plain_documents_read_as_json_does():
    assert jsonlimit.loads(b'{"a": [1, 2.5, "x[{"], "b": null}', what="t") == {"a": [1, 2.5, "x[{"], "b": None}
    assert jsonlimit.depth(b'{"a": [[1]], "s": "[[[[[["}') == 3  # brackets inside strings do not count
    assert jsonlimit.depth(b'"\\"[[["') == 0


@pytest.mark.parametrize("data, message", [
    (b"[" * 100_000 + b"]" * 100_000, "nested 100000 deep, over the limit of 32"),
    (b"[1" + b"0" * 400 + b"]", "a number of 401 digits"),
    (b"[1e400]", "out of range"),
    (b"x" * 100, "100 bytes of JSON, over the limit of 50"),
    (b'{"a": ', "not valid JSON"),
    (b"\xff\xfe", "not"),
])
def test_hostile_documents_are_refused_by_name(data, message):
    with pytest.raises(ValueError, match=message) as info:
        jsonlimit.loads(data, what="the file", max_bytes=50 if len(data) == 100 else 1 << 20)
    assert str(info.value).startswith("the file: ")
