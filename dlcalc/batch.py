"""Batch mode: vectors streamed from standard input, one per line.

Lines are separated by spaces, tabs or commas; blank lines and lines starting with `#` are
skipped, whatever bytes follow the `#`; a second operand may follow a `;` (`2 1 0.1 ; 0`). CRLF
endings and a UTF-8 byte-order mark are accepted as if absent; any other line break inside a
line (a lone CR, U+2028...) is an error on that line, never two vectors read as one. An empty
field (`,1`, `1,,2`, `1,`) is an error wherever it is. A FILE argument and CSV are read through
the same blocks (`dlcalc.sources`).

The input is read in blocks of whole lines (up to about `CHUNK_BYTES`, taking whatever the pipe
has ready without waiting for more), so memory stays bounded however long the input is, and
output starts as soon as the first lines arrive. Each block's good lines are grouped by shape so
that the caller makes one vectorised NumPy call per group instead of one per line; bad lines
become `BadLine`s with their line numbers and the other lines go on.

Two parsers, one result:

- `parse_fast(block)` handles the common case at C speed: a block made only of digits, signs,
  `.eE`, single separators and `;` is rewritten into JSON and read by orjson in one call (an
  exact, correctly rounded float parser), then turned into matrices with one NumPy call. It
  gives up (returns None) on anything unusual — comments, `inf`/`nan`, brackets, unusual
  spacing, `-0`, an empty vector, a bad number, a line too long, no orjson — and never guesses;
- `parse_chunk(lines)` is the line-by-line parser (`dlcalc.vectors` rules) used for every block
  the fast one declines, with the line-numbered errors.

Whenever `parse_fast` accepts a block, its groups equal those of `parse_chunk` (tests/
test_batch_fast.py checks this, number for number, bit for bit).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

import numpy as np

from dlcalc.errors import DlcalcError
from dlcalc.vectors import parse_number, split_vector_text

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 4 << 20

_BOM = b"\xef\xbb\xbf"

# What str.splitlines() also takes for a line end, besides \n (\r\n is a line end: the \r goes).
_LINE_BREAK = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass
class BadLine:
    number: int
    message: str


@dataclass
class Group:
    """Lines of one chunk with the same vector length (and operand length): one NumPy call.

    `vectors` and `operands` are lists of rows (line-by-line parser) or ready (rows, n)
    matrices (fast parser); `operands` is empty when the lines carry none.
    """

    numbers: list[int] = field(default_factory=list)
    vectors: Any = field(default_factory=list)
    operands: Any = field(default_factory=list)

    def matrix(self) -> np.ndarray:
        if isinstance(self.vectors, np.ndarray):
            return self.vectors
        return np.stack(self.vectors)

    def operand_matrix(self) -> np.ndarray | None:
        if isinstance(self.operands, np.ndarray):
            return self.operands
        return np.stack(self.operands) if self.operands else None

    def select(self, indices: list[int]) -> "Group":
        """The group of some of these lines (indices into this group, in order)."""
        pick = np.asarray(indices, dtype=np.intp)
        vectors = self.matrix()[pick]
        operands = self.operand_matrix()
        return Group([self.numbers[i] for i in indices], vectors,
                     operands[pick] if operands is not None else [])

    def slice(self, start: int, stop: int) -> "Group":
        """The group of lines start to stop (indices into this group)."""
        has_operands = len(self.operands) > 0
        return Group(self.numbers[start:stop], self.vectors[start:stop],
                     self.operands[start:stop] if has_operands else [])


@dataclass
class Chunk:
    """The lines of one read: groups of good lines, and the bad lines with their messages."""

    groups: list[Group]
    bad: list[BadLine]


@dataclass
class Block:
    """Whole lines of input: lines `first` .. `first + count - 1`, joined by newlines in `text`.

    `overlong_first`: the first line was longer than MAX_LINE_BYTES; it was not kept (what is
    left of it in `text` is its tail) and is reported as an error.
    `bad`: lines already found bad by whoever made the block (line number -> message); what
    `text` holds for them is ignored.
    """

    first: int
    text: bytes
    count: int
    overlong_first: bool = False
    bad: dict[int, str] = field(default_factory=dict)

    def lines(self) -> list[tuple[int, bytes | None]]:
        """(line number, raw line) for each line; None marks an over-long line."""
        raw: list[bytes | None] = list(self.text.split(b"\n"))
        if self.overlong_first:
            raw[0] = None
        return list(zip(range(self.first, self.first + len(raw)), raw))


def _reader(stream: BinaryIO):
    """A function returning the next bytes of `stream` (b"" at the end) without waiting for
    more than one read: after a read, it takes what else is ready at once, up to CHUNK_BYTES, so
    a fast producer gives large blocks and a slow one is answered line by line."""
    read = getattr(stream, "read1", stream.read)
    try:
        fd = stream.fileno()
        import select
    except (AttributeError, OSError, ValueError, ImportError):
        fd = None

    def ready() -> bool:
        try:
            return bool(select.select([fd], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def read_some() -> bytes:
        limit = CHUNK_BYTES
        data = read(limit)
        if fd is None or not data or len(data) >= limit:
            return data
        parts, size = [data], len(data)
        while size < limit and ready():
            more = read(limit - size)
            if not more:
                break
            parts.append(more)
            size += len(more)
        return b"".join(parts) if len(parts) > 1 else data

    return read_some


def read_blocks(stream: BinaryIO) -> Iterator[Block]:
    """Yield the input as blocks of whole lines, as it arrives. A stream that makes its own
    blocks (`dlcalc.sources.Source`, for CSV) is asked for them."""
    own_blocks = getattr(stream, "blocks", None)
    if own_blocks is not None:
        yield from own_blocks()
        return
    read = _reader(stream)
    pending = b""
    skipping = False  # inside a line longer than MAX_LINE_BYTES, discarding it
    number = 0
    first = True
    while True:
        data = read()
        if first and data.startswith(_BOM):
            data = data[3:]
        first = False
        if not data:
            break
        buffer = pending + data if pending else data
        end = buffer.rfind(b"\n")
        if end >= 0:
            text, pending = buffer[:end], buffer[end + 1:]
            count = text.count(b"\n") + 1
            yield Block(number + 1, text, count, skipping)
            number += count
            skipping = False
        else:
            pending = b"" if skipping else buffer
        if len(pending) > MAX_LINE_BYTES and not skipping:
            skipping, pending = True, b""
    if pending or skipping:
        yield Block(number + 1, pending, 1, skipping)


def read_lines(stream: BinaryIO) -> Iterator[list[tuple[int, bytes | None]]]:
    """Yield lists of (line number, raw line) as input arrives; None marks an over-long line."""
    for block in read_blocks(stream):
        yield block.lines()


# ---------------------------------------------------------------- the line-by-line parser


def parse_line(raw: bytes) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The vector (and operand after `;`) of one line; None for a blank or comment line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        if raw.decode("utf-8", "replace").strip().startswith("#"):
            return None  # a comment is skipped whatever its bytes
        raise DlcalcError(f"not valid UTF-8 text (byte {err.start + 1})") from None
    if text.endswith("\r"):
        text = text[:-1]  # CRLF
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    breaks = _LINE_BREAK.search(text)
    if breaks:  # "1 2\r3 4" (old Mac endings), U+2028: two lines that must not become one vector
        raise DlcalcError(f"a line break U+{ord(breaks.group()):04X} inside the line; "
                          "end each line with \\n (or \\r\\n), one vector per line")
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


def parse_block(block: Block, fast: bool = True) -> Chunk:
    """A block's groups and bad lines: the fast parser when it accepts the block, else line by
    line; a block the fast parser declines is cut into parts it may accept (`_parse_parts`), so
    a few unusual lines (a bad number, a comment, nan) do not send every line to the slow parser."""
    groups = parse_fast(block) if fast and not block.bad else None
    if groups is not None:
        return Chunk(groups, [])
    if not block.bad:
        if fast and block.count >= 2 * _MIN_FAST_PART and not block.overlong_first:
            return _parse_parts(block)
        return parse_chunk(block.lines())
    chunk = parse_chunk([(number, raw) for number, raw in block.lines() if number not in block.bad])
    chunk.bad = sorted(chunk.bad + [BadLine(n, m) for n, m in block.bad.items()], key=lambda b: b.number)
    return chunk


# Below this many lines, a part the fast parser declines is parsed line by line.
_MIN_FAST_PART = 32


def _parse_parts(block: Block) -> Chunk:
    """The lines of a block the fast parser declined: the lines with a byte outside its
    alphabet go to the line-by-line parser; the others, joined, to the fast one, halved while
    it declines them (down to `_MIN_FAST_PART` lines, then line by line). The groups are those
    of `parse_chunk` for the same lines, merged by shape."""
    raw = block.text.split(b"\n")
    codes = np.frombuffer(block.text, dtype=np.uint8)
    line_of = np.searchsorted(np.flatnonzero(codes == 10), np.flatnonzero(_UNUSUAL[codes]))
    is_slow = np.zeros(len(raw), dtype=bool)
    is_slow[line_of] = True
    slow: list[int] = np.flatnonzero(is_slow).tolist()
    usual: list[int] = np.flatnonzero(~is_slow).tolist()
    parts: list[list[Group]] = []
    runs = [(0, len(usual))]  # [start, stop) into `usual`
    while runs:
        start, stop = runs.pop()
        if stop - start < _MIN_FAST_PART:
            slow.extend(usual[start:stop])
            continue
        picked = usual[start:stop]
        groups = parse_fast(Block(0, b"\n".join(raw[i] for i in picked), len(picked)))
        if groups is None:
            middle = (start + stop) // 2
            runs += [(middle, stop), (start, middle)]
            continue
        for group in groups:  # line numbers: index into `picked`, then into the block
            group.numbers = [block.first + picked[i] for i in group.numbers]
        parts.append(groups)
    chunk = parse_chunk([(block.first + i, raw[i]) for i in sorted(slow)])
    parts.append(chunk.groups)
    return Chunk(_merge(parts), chunk.bad)


def _merge(parts: list[list[Group]]) -> list[Group]:
    """Groups of the same shape (vector length, operand length) made one, lines in order."""
    by_shape: dict[tuple[int, int | None], list[Group]] = {}
    for groups in parts:
        for group in groups:
            operands = group.operand_matrix()
            key = (group.matrix().shape[1], None if operands is None else operands.shape[1])
            by_shape.setdefault(key, []).append(group)
    merged = []
    for same in by_shape.values():
        numbers = np.concatenate([np.asarray(g.numbers, dtype=np.int64) for g in same])
        order = np.argsort(numbers, kind="stable")
        vectors = np.concatenate([g.matrix() for g in same])[order]
        operand_list = [g.operand_matrix() for g in same]
        operands = np.concatenate(operand_list)[order] if operand_list[0] is not None else []
        merged.append(Group(numbers[order].tolist(), vectors, operands))
    return merged


# ---------------------------------------------------------------- the fast parser

# Every byte a block may hold for the fast parser: anything else (letters of inf/nan, '#',
# brackets, quotes, non-ASCII...) sends the block to the line-by-line parser. Inside this
# alphabet JSON can only express numbers, and JSON's number grammar is a strict subset of
# `dlcalc.vectors` numbers, so a block JSON accepts means the same to both parsers.
_FAST_ALPHABET = b"0123456789.eE+- \t\r\n,;"

_loads: Any = None

# the bytes outside _FAST_ALPHABET, as a lookup table (the newline is a line's end, not unusual)
_UNUSUAL = np.ones(256, dtype=bool)
_UNUSUAL[np.frombuffer(_FAST_ALPHABET, dtype=np.uint8)] = False


def _json_loads() -> Any:
    global _loads
    if _loads is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - orjson is a dependency; without it, line by line
            _loads = False
        else:
            _loads = orjson.loads
    return _loads


def parse_fast(block: Block) -> list[Group] | None:
    """The groups of a block of plainly written lines, parsed at C speed; None to decline."""
    text = block.text
    if block.overlong_first or not text or text.translate(None, _FAST_ALPHABET):
        return None
    loads = _json_loads()
    if not loads:
        return None
    if b"\r" in text:  # CRLF endings; a carriage return anywhere else is left to the slow path
        text = text.replace(b"\r\n", b"\n")
        if text.endswith(b"\r"):
            text = text[:-1]
        if b"\r" in text:
            return None
    if b"\t" in text:
        text = text.replace(b"\t", b" ")
    # one space on either side of ';' goes; then each separator (one space, one comma or ", ")
    # becomes one comma; any other spacing, and any empty field, makes ",,", ";," or a leading
    # or trailing comma, which JSON refuses
    with_operands = b";" in text
    if with_operands:
        text = text.replace(b" ;", b";").replace(b"; ", b";")
    if b"," in text:
        text = text.replace(b", ", b",")
    text = text.replace(b" ", b",")
    if with_operands:
        if text.count(b";") != block.count:  # exactly one ';' per line
            return None
        source = b"[[[" + text.replace(b";", b"],[").replace(b"\n", b"]],[[") + b"]]]"
    else:
        source = b"[[" + text.replace(b"\n", b"],[") + b"]]"
    try:
        rows = loads(source)
    except ValueError:  # not plain JSON numbers: overflow to inf, a stray sign, ",,", ...
        return None
    try:
        groups = _groups_with_operands(rows, block.first) if with_operands else _groups(rows, block.first)
    except (ValueError, OverflowError, TypeError):
        return None
    if groups and _has_zero(groups) and (b"-0," in source or b"-0]" in source):
        return None  # JSON reads "-0" as the integer 0, which would lose the sign of -0.0
    return groups


def _has_zero(groups: list[Group]) -> bool:
    return any(not group.vectors.all() or (isinstance(group.operands, np.ndarray)
                                           and not group.operands.all()) for group in groups)


def _groups(rows: list[list[float]], first: int) -> list[Group] | None:
    matrix = _matrix(rows)
    if matrix is not None:
        if matrix.shape[1] == 0:  # only blank lines
            return []
        return [Group(list(range(first, first + len(rows))), matrix, [])]
    by_length: dict[int, list[int]] = {}
    for index, row in enumerate(rows):
        by_length.setdefault(len(row), []).append(index)
    return [Group([first + i for i in indices], _matrix([rows[i] for i in indices]), [])
            for length, indices in by_length.items() if length]


def _groups_with_operands(rows: list[list[list[float]]], first: int) -> list[Group] | None:
    if any(len(parts) != 2 for parts in rows):
        return None
    vectors = [parts[0] for parts in rows]
    operands = [parts[1] for parts in rows]
    if not all(vectors) or not all(operands):  # an empty vector or operand is an error
        return None
    matrix, operand_matrix = _matrix(vectors), _matrix(operands)
    if matrix is not None and operand_matrix is not None:
        return [Group(list(range(first, first + len(rows))), matrix, operand_matrix)]
    by_shape: dict[tuple[int, int], list[int]] = {}
    for index, (vector, operand) in enumerate(zip(vectors, operands)):
        by_shape.setdefault((len(vector), len(operand)), []).append(index)
    return [Group([first + i for i in indices], _matrix([vectors[i] for i in indices]),
                  _matrix([operands[i] for i in indices]))
            for indices in by_shape.values()]


def _matrix(rows: list[list[float]]) -> np.ndarray | None:
    """The rows as a float64 matrix; None when they differ in length. (One pass over the
    numbers, np.fromiter: a third faster than np.array's shape discovery.) A row that is not a
    list of numbers raises TypeError or ValueError."""
    lengths = set(map(len, rows))
    if len(lengths) > 1:
        return None
    n = lengths.pop() if lengths else 0
    values = itertools.chain.from_iterable(rows)
    return np.fromiter(values, dtype=np.float64, count=len(rows) * n).reshape(len(rows), n)
