"""Running a vector command: one vector from the command line, or a batch from stdin.

A vector command is two functions:

- `compute(vectors, operands)` — vectorised over rows: `vectors` is (rows, n) in the chosen
  dtype, `operands` the second operand per row, shape (rows, m), or None;
- `present(result, row)` — the `Report` for one row of that result.

and optionally

- `plain(result)` — the plain output of every row at once, a (rows, k) float64 array.

This module owns what is the same for every such command: where the input comes from, one
NumPy call per group of equal-length lines, the line-numbered errors of batch mode, warnings
on stderr (each said once), the output format, and the exit code.

Batch mode has a fast path and a simple one, which print the same bytes (tests/
test_batch_fast.py): blocks of ordinary lines are parsed at C speed (`batch.parse_fast`), and
plain float64 output of finite numbers is formatted at C speed from `plain(result)`
(`output.plain_lines`); anything else (comments, inf/nan, bad lines, other formats, float32)
takes the line-by-line parser and one `Report` per line.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TextIO

import numpy as np

from dlcalc import output
from dlcalc.errors import DlcalcError, NumericWarning
from dlcalc.output import Report
from dlcalc.vectors import in_dtype, parse_vector

if TYPE_CHECKING:
    from dlcalc.batch import Group

Compute = Callable[[np.ndarray, "np.ndarray | None"], Any]
Present = Callable[[Any, int], Report]
PlainRows = Callable[[Any], np.ndarray]

# The fast batch path: blocks parsed at C speed and plain float64 output formatted at C speed
# (see dlcalc.batch.parse_fast and dlcalc.output.plain_lines). Tests turn it off to check that
# both paths print the same bytes.
FAST = True


@dataclass
class Style:
    """How to print: the format, digits for people, the dtype, colour."""

    fmt: str = "plain"
    precision: int = 6
    dtype: str = "float64"
    color: bool = False


class Warnings:
    """Collects NumericWarnings from the core and prints each distinct message once."""

    def __init__(self, err: TextIO):
        self.err = err
        self.said: set[str] = set()

    def say(self, message: str) -> None:
        if message not in self.said:
            self.said.add(message)
            print(f"warning: {message}", file=self.err)

    def run(self, function: Callable[[], Any], lines: list[int] | None = None) -> tuple[Any, Explained]:
        """Call `function`, reporting its NumericWarnings (with the line number of the row they
        name, in batch mode); also tell which rows they explained."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function()
        explained = Explained()
        for warning in caught:
            if not issubclass(warning.category, NumericWarning):
                continue
            row = getattr(warning.message, "row", None)
            explained.add(row)
            if lines is not None and row is not None and 0 <= row < len(lines):
                self.say(f"line {lines[row]}: {warning.message}")
            else:
                self.say(str(warning.message))
        return result, explained

    def check_finite(self, report: Report, explained: bool, source: np.ndarray,
                     line: int | None = None) -> None:
        """A generic explanation for a NaN or infinite result the core did not explain."""
        if explained:
            return
        values = [v for v in report.plain if isinstance(v, (float, np.floating))]
        if not values or np.all(np.isfinite(values)):
            return
        kind = "nan" if np.any(np.isnan(values)) else "infinite values"
        cause = ""
        if not np.all(np.isfinite(source)):
            has = [name for name, found in (("inf", np.isinf(source).any()), ("nan", np.isnan(source).any()))
                   if found]
            cause = f" because the input has {' and '.join(has)}"
        where = f"line {line}: " if line is not None else ""
        self.say(f"{where}the result contains {kind}{cause}")


class Explained:
    """The rows a core warning explained (a warning without a row explains them all)."""

    def __init__(self) -> None:
        self.rows: set[int] = set()
        self.all = False

    def add(self, row: int | None) -> None:
        if row is None:
            self.all = True
        else:
            self.rows.add(row)

    def __contains__(self, row: int) -> bool:
        return self.all or row in self.rows


def wants_stdin(tokens: list[str] | None, stdin: TextIO) -> bool:
    """Read stdin when the vector is `-`, or absent and stdin is not a terminal."""
    if tokens == ["-"]:
        return True
    return not tokens and not is_terminal(stdin)


def is_terminal(stream: Any) -> bool:
    """Whether a stream is a terminal (False for anything that cannot tell)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def run_vector_command(tokens: list[str] | None, compute: Compute, present: Present, style: Style,
                       *, operand: np.ndarray | None = None, what: str = "vector",
                       plain: PlainRows | None = None, stdin: TextIO | None = None,
                       out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a vector command on argv tokens or on stdin; returns the exit code.

    `plain(result)`, when given, is the plain output of every row of a computed group at once:
    a (rows, k) float64 array equal, row by row, to `present(result, row).plain`. Batch mode
    then prints plain float64 output without building a Report per line.
    """
    stdin = stdin if stdin is not None else sys.stdin
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    said = Warnings(err)
    if not wants_stdin(tokens, stdin):
        if not tokens:
            raise DlcalcError(f"no {what} given: type the numbers (for example 2 1 0.1) "
                              "or pipe them on standard input")
        vector = in_dtype(parse_vector(tokens, what), style.dtype)[np.newaxis, :]
        operands = None if operand is None else in_dtype(operand, style.dtype)[np.newaxis, :]
        result, explained = said.run(lambda: compute(vector, operands))
        report = present(result, 0)
        said.check_finite(report, 0 in explained, vector)
        text = output.render(report, style.fmt, precision=style.precision, dtype=style.dtype,
                             color=style.color)
        if text:
            print(text, file=out)
        return 0
    fast_plain = plain if FAST and style.fmt == "plain" and style.dtype == "float64" else None
    return _run_batch(compute, present, style, operand, what, stdin, out, err, said, fast_plain)


def _run_batch(compute: Compute, present: Present, style: Style, operand: np.ndarray | None,
               what: str, stdin: Any, out: TextIO, err: TextIO, said: Warnings,
               plain: PlainRows | None) -> int:
    from dlcalc.batch import parse_block, read_blocks

    stream = getattr(stdin, "buffer", stdin)
    seen_any = failed = False
    csv_header_done = False
    for block in read_blocks(stream):
        chunk = parse_block(block, fast=FAST)
        reports: dict[int, Report] = {}
        texts: list[tuple[list[int], bytes]] = []
        errors: dict[int, str] = {bad.number: bad.message for bad in chunk.bad}
        for group in chunk.groups:
            _present_group(group, compute, present, style, operand, said, errors, plain,
                           reports, texts)
        seen_any = seen_any or bool(reports) or bool(errors) or bool(texts)
        if len(texts) == 1 and not reports and not errors:
            _write_bytes(out, texts[0][1])  # the common case: the block's lines, in order
            continue
        lines: dict[int, str] = {}
        for numbers, text in texts:
            lines.update(zip(numbers, text.decode("ascii").split("\n")))
        for number in sorted(reports.keys() | errors.keys() | lines.keys()):
            if number in errors:
                failed = True
                out.flush()
                print(f"error: line {number}: {errors[number]}", file=err)
                continue
            if number in lines:
                print(lines[number], file=out)
                continue
            if style.fmt == "csv" and not csv_header_done:
                print(output.csv_header(reports[number], ["line"]), file=out)
                csv_header_done = True
            print(_render_batch(reports[number], number, style), file=out)
        out.flush()
    if not seen_any:
        raise DlcalcError(f"no {what} given: {getattr(stdin, 'description', 'standard input')} "
                          "had no numbers")
    return 2 if failed else 0


def _write_bytes(out: Any, data: bytes) -> None:
    """Write ASCII output as bytes when the stream has a binary layer (one copy, no decoding)."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(data.decode("ascii"))
        out.flush()
        return
    out.flush()
    view = memoryview(data)
    while view:  # a raw (unbuffered) stream may take only part of it, e.g. when a signal arrives
        written = buffer.write(view)
        view = view[written if written is not None else len(view):]
    buffer.flush()


def _present_group(group: Group, compute: Compute, present: Present, style: Style,
                   cli_operand: np.ndarray | None, said: Warnings, errors: dict[int, str],
                   plain: PlainRows | None, reports: dict[int, Report],
                   texts: list[tuple[list[int], bytes]]) -> None:
    """Present a group of lines with one vectorised call: its plain output as one block of
    bytes in `texts` when `plain` can give it (every value finite), else one Report per line
    in `reports`; a line the core refuses goes to `errors` with its message.

    When the call fails, the lines the core names as failing the same check (`.rows`) are
    set aside, each tried alone for its own message, and the rest is tried again with one
    call; without such a list the group is halved. So the good lines stay vectorised however
    many lines are bad.
    """
    pending = [group]
    while pending:
        part = pending.pop()
        size = len(part.numbers)
        try:
            _present_part(part, compute, present, style, cli_operand, said, plain, reports, texts)
        except DlcalcError as error:
            if size == 1:
                errors[part.numbers[0]] = str(error)
                continue
            rows = getattr(error, "rows", None)
            if rows is not None and 0 < len(rows) < size and all(0 <= r < size for r in rows):
                failing = set(int(r) for r in rows)
                pending.append(part.select([i for i in range(size) if i not in failing]))
                pending += [part.slice(i, i + 1) for i in sorted(failing, reverse=True)]
            else:
                pending += [part.slice(size // 2, size), part.slice(0, size // 2)]


def _present_part(group: Group, compute: Compute, present: Present, style: Style,
                  cli_operand: np.ndarray | None, said: Warnings, plain: PlainRows | None,
                  reports: dict[int, Report], texts: list[tuple[list[int], bytes]]) -> None:
    """One vectorised call for a group of lines (DlcalcError if the core refuses one)."""
    vectors = in_dtype(group.matrix(), style.dtype)
    operands = group.operand_matrix()
    if operands is not None and cli_operand is not None:
        line, command_line = (" ".join(map(output.plain_number, o)) for o in (operands[0], cli_operand))
        raise DlcalcError(f"the line gives {line} after ';' and the command line gives "
                          f"{command_line}: give the second operand in one place")
    if operands is None and cli_operand is not None:
        operands = np.broadcast_to(cli_operand, (len(group.numbers), cli_operand.size))
    if operands is not None:
        operands = in_dtype(operands, style.dtype, "operand")
    result, explained = said.run(lambda: compute(vectors, operands), group.numbers)
    if plain is not None:
        # all finite (else None): check_finite would have nothing to say about any row
        matrix = plain(result)
        if isinstance(matrix, np.ndarray) and matrix.shape[:1] == (len(group.numbers),):
            text = output.plain_lines(matrix)
            if text is not None:
                texts.append((group.numbers, text))
                return
    for row, number in enumerate(group.numbers):
        reports[number] = present(result, row)
        said.check_finite(reports[number], row in explained, vectors[row], number)


def _render_batch(report: Report, number: int, style: Style) -> str:
    if style.fmt == "json":
        return output.dumps_json({"line": number, **output._json_object(report)}, style.dtype)
    if style.fmt == "csv":
        return output.render_csv(report, style.dtype, header=False, prefix=[("line", number)])
    if style.fmt == "plain":
        return output.render_plain(report, style.dtype)
    heading = f"line {number}:" if style.fmt == "table" else f"**line {number}**"
    if style.fmt == "latex":
        heading = f"% line {number}"
    return heading + "\n" + output.render(report, style.fmt, precision=style.precision,
                                          dtype=style.dtype, color=style.color) + "\n"
