"""Turn an uploaded file into a stream of decoded JSON records, each with where it was.

Accepted containers, told apart by the first non-blank line: JSON Lines (one value per
line), a JSON array of records (streamed, so memory stays flat), or a single JSON object.
Gzip is recognised by its magic bytes, whatever the file is called. UTF-8, with or without
a BOM; LF or CRLF.
"""

import gzip
import itertools
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

import ijson
import orjson

from annotation.importers.records import Problem

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
# A whole-file JSON object is read into memory at once; a bigger file is read as JSON Lines.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


class Where(NamedTuple):
    """A record's place: its line in a JSON Lines file, or its index in a JSON array."""

    line: int | None = None
    record: int | None = None

    def problem(self, message: str) -> Problem:
        return Problem(line=self.line, record=self.record, message=message)


def open_stream(fileobj: IO[bytes]) -> IO[bytes]:
    """Return a binary stream of the file's content, decompressing gzip transparently."""
    head = fileobj.read(2)
    fileobj.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fileobj, mode="rb")
    return fileobj


class _Rewound:
    """A stream with bytes already read put back in front of it (for ijson)."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head = head
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data


def _json_problem(where: Where, exc: orjson.JSONDecodeError, raw: bytes) -> Problem:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        return where.problem(f"not valid UTF-8 (byte {decode_error.start + 1} of the line)")
    return where.problem(f"invalid JSON: {exc.msg} (column {exc.colno})")


def _looks_like_csv(line: bytes) -> bool:
    return b"," in line and not line.lstrip().startswith((b"{", b"[", b'"'))


def read_records(stream: IO[bytes]) -> Iterator[tuple[Where, Any]]:
    """Yield (where, decoded JSON value) per record; a record that cannot be read is a Problem."""
    # readline, not iteration: Django's File iterates in chunks it buffers (and rewinds),
    # which would lose what it read ahead once we switch to read().
    lines = iter(stream.readline, b"")
    seen: list[bytes] = []
    first = b""
    number = 0
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        seen.append(raw)
        if raw.strip():
            first = raw.strip()
            break
    if not first:
        return

    if first.startswith(b"["):
        yield from _read_array(_Rewound(b"".join(seen), stream))
        return
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        if first.startswith(b"{"):
            # Either one pretty-printed JSON object, or JSON Lines with a broken first line.
            data = b"".join(seen) + stream.read(MAX_DOCUMENT_BYTES + 1)
            if len(data) <= MAX_DOCUMENT_BYTES:
                try:
                    document = orjson.loads(data)
                except orjson.JSONDecodeError:
                    pass
                else:
                    yield Where(record=0), document
                    return
            yield from _read_lines(itertools.chain(data.splitlines(keepends=True), lines), 1)
            return
        if _looks_like_csv(first):
            where = Where(line=number)
            message = (
                "this looks like CSV; import JSON Lines or JSON (the README lists the formats)"
            )
            yield where, where.problem(message)
            return
        yield Where(line=number), _json_problem(Where(line=number), exc, first)
    else:
        yield Where(line=number), value
    yield from _read_lines(lines, start=number + 1)


def _read_lines(lines: Iterator[bytes], start: int) -> Iterator[tuple[Where, Any]]:
    for number, raw in enumerate(lines, start=start):
        line = raw.strip()
        if not line:
            continue
        where = Where(line=number)
        try:
            yield where, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield where, _json_problem(where, exc, line)


def _read_array(stream: _Rewound) -> Iterator[tuple[Where, Any]]:
    index = -1
    try:
        for index, item in enumerate(ijson.items(stream, "item", use_float=True)):
            yield Where(record=index), item
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        where = Where(record=index + 1)
        yield where, where.problem(f"invalid JSON in the array, reading stopped here: {exc}")
