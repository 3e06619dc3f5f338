"""Batch mode: vectors streamed from standard input, one per line.

Lines are separated by spaces, tabs or commas; blank lines and lines starting with `#` are
skipped; a second operand may follow a `;` (`2 1 0.1 ; 0`). CRLF endings and a UTF-8 byte-order
mark are accepted as if absent.

The input is read in chunks of whatever the pipe has ready (up to `CHUNK_BYTES`), so memory
stays bounded however long the input is, and output starts as soon as the first lines arrive.
Each chunk's good lines are grouped by shape so that the caller makes one vectorised NumPy call
per group instead of one per line; bad lines become `BadLine`s with their line numbers and the
other lines go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

import numpy as np

from dlcalc.errors import DlcalcError
from dlcalc.vectors import parse_number, split_vector_text

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 4 << 20


@dataclass
class BadLine:
    number: int
    message: str


@dataclass
class Group:
    """Lines of one chunk with the same vector length (and operand length): one NumPy call."""

    numbers: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    operands: list[np.ndarray] = field(default_factory=list)

    def matrix(self) -> np.ndarray:
        return np.stack(self.vectors)

    def operand_matrix(self) -> np.ndarray | None:
        return np.stack(self.operands) if self.operands else None


@dataclass
class Chunk:
    """The lines of one read: groups of good lines, and the bad lines with their messages."""

    groups: list[Group]
    bad: list[BadLine]


def read_lines(stream: BinaryIO) -> Iterator[list[tuple[int, bytes | None]]]:
    """Yield lists of (line number, raw line) as input arrives; None marks an over-long line."""
    read = getattr(stream, "read1", stream.read)
    pending = b""
    skipping = False  # inside a line longer than MAX_LINE_BYTES, discarding it
    number = 0
    first = True
    while True:
        data = read(CHUNK_BYTES)
        if first and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        first = False
        if not data:
            break
        lines = (pending + data).split(b"\n")
        pending = lines.pop()
        out: list[tuple[int, bytes | None]] = []
        for line in lines:
            number += 1
            if skipping:
                out.append((number, None))
                skipping = False
            else:
                out.append((number, line))
        if len(pending) > MAX_LINE_BYTES and not skipping:
            skipping, pending = True, b""
        elif skipping:
            pending = b""
        if out:
            yield out
    if pending or skipping:
        number += 1
        yield [(number, None if skipping else pending)]


def parse_line(raw: bytes) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The vector (and operand after `;`) of one line; None for a blank or comment line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DlcalcError(f"not valid UTF-8 text (byte {err.start + 1})") from None
    text = text.rstrip("\r").strip()
    if not text or text.startswith("#"):
        return None
    main, sep, rest = text.partition(";")
    vector = _numbers(main, "vector")
    operand = _numbers(rest, "operand after ';'") if sep else None
    return vector, operand


def _numbers(text: str, what: str) -> np.ndarray:
    words = split_vector_text(text)
    if not words:
        raise DlcalcError(f"empty {what}")
    return np.array([parse_number(word) for word in words], dtype=np.float64)


def parse_chunk(lines: list[tuple[int, bytes | None]]) -> Chunk:
    """Parse one chunk of lines and group the good ones by shape."""
    groups: dict[tuple[int, int | None], Group] = {}
    bad: list[BadLine] = []
    for number, raw in lines:
        if raw is None:
            bad.append(BadLine(number, f"line longer than {MAX_LINE_BYTES >> 20} MiB"))
            continue
        try:
            parsed = parse_line(raw)
        except DlcalcError as err:
            bad.append(BadLine(number, str(err)))
            continue
        if parsed is None:
            continue
        vector, operand = parsed
        key = (vector.size, None if operand is None else operand.size)
        group = groups.setdefault(key, Group())
        group.numbers.append(number)
        group.vectors.append(vector)
        if operand is not None:
            group.operands.append(operand)
    return Chunk(list(groups.values()), bad)
