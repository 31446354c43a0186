"""Streaming reader for STIX files: bundles, TAXII envelopes, JSON arrays, single objects.

Objects are decoded one at a time (ijson, C backend), so a file larger than
memory imports in constant space.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import ijson
import orjson


class StixFileError(ValueError):
    """The file is not STIX JSON; the message says where and why."""


_WHITESPACE = b" \t\r\n"
_SINGLE_OBJECT_LIMIT = 64 * 1024 * 1024


def _first_byte(stream: IO[bytes]) -> bytes:
    while True:
        byte = stream.read(1)
        if not byte:
            return b""
        if byte == b"\xef":  # UTF-8 byte-order mark
            if stream.read(2) != b"\xbb\xbf":
                raise StixFileError("the file is not UTF-8 JSON")
            continue
        if byte not in _WHITESPACE:
            return byte


def iter_stix(stream: IO[bytes]) -> Iterator[object]:
    """Every STIX object in ``stream`` (seekable binary file), in file order."""
    start = stream.tell()
    first = _first_byte(stream)
    if first == b"":
        raise StixFileError("the file is empty")
    if first not in (b"{", b"["):
        raise StixFileError("the file is not JSON: it must start with '{' or '['")
    stream.seek(start)
    prefix = "item" if first == b"[" else "objects.item"
    found = 0
    try:
        for item in ijson.items(stream, prefix, use_float=True):
            found += 1
            yield item
    except ijson.JSONError as exc:
        raise StixFileError(f"malformed JSON after object {found}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise StixFileError(f"the file is not valid UTF-8 ({exc.reason})") from None
    if found == 0 and first == b"{":
        stream.seek(start)
        data = stream.read(_SINGLE_OBJECT_LIMIT + 1)
        if len(data) > _SINGLE_OBJECT_LIMIT:
            raise StixFileError("a single JSON object this large must be a bundle with 'objects'")
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise StixFileError(f"malformed JSON: {exc}") from None
        if isinstance(document, dict) and document.get("type") not in (None, "bundle"):
            yield document
        elif isinstance(document, dict) and "objects" not in document:
            raise StixFileError("a JSON object without 'objects' is neither a bundle nor STIX")
