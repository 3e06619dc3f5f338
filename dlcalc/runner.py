"""Running a command: one vector from the command line, or a batch from stdin.

A vector command (see `dlcalc.reports`: `SoftmaxCommand`, ...) is an object with

- `compute(vectors, operands)` — vectorised over rows: `vectors` is (rows, n) in the chosen
  dtype, `operands` the second operand per row, shape (rows, m), or None;
- `report(result, row)` — the `Report` for one row of that result;
- `plain_rows(result)` — the plain output of every row at once, a (rows, k) float64 array, or
  None when the plain output holds more than the primary result;
- `json_rows(result)` (optional) — the JSON of every row at once (`dlcalc.reports.JsonRows`),
  or None when it holds more than that (steps, a Jacobian);
- `what` — what its vectors are, for messages ("logits").

This module owns what is the same for every command: where the input comes from, one NumPy
call per group of equal-length lines, the line-numbered errors of batch mode, warnings on
stderr (each said once, after the result they are about), the output format, the exit code.

Batch mode has a fast path and a simple one, which print the same bytes (tests/
test_batch_fast.py): blocks of ordinary lines are parsed at C speed (`batch.parse_fast`), and
plain float64 output of finite numbers is formatted at C speed from `plain_rows(result)`
(`output.plain_lines`), and JSON output in either dtype from `json_rows(result)`
(`output.json_batch_lines`, tests/test_batch_json.py); anything else (comments, inf/nan, bad
lines, other formats) takes the line-by-line parser and one `Report` per line.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, TextIO

import numpy as np

from dlcalc import output
from dlcalc.errors import DlcalcError, NumericWarning, PathWarning
from dlcalc.reports import Report
from dlcalc.vectors import in_dtype, parse_vector

if TYPE_CHECKING:
    from dlcalc.batch import Group


class VectorCommand(Protocol):
    what: str

    def compute(self, vectors: np.ndarray, operands: np.ndarray | None) -> Any: ...

    def report(self, result: Any, row: int) -> Report: ...

    def plain_rows(self, result: Any) -> np.ndarray | None: ...


# The fast batch path: blocks parsed at C speed and plain float64 output formatted at C speed
# (see dlcalc.batch.parse_fast and dlcalc.output.plain_lines). Tests turn it off to check that
# both paths print the same bytes.
FAST = True

# JSON batch output is built this many lines at a time (bounded memory).
JSON_ROWS = 4096

# JSON batch output without a Report per line, from the command's `json_rows` (with FAST). Tests
# turn it off to check that both print the same bytes.
JSON_FAST = True


@dataclass
class Style:
    """How to print: the format, digits for people, the dtype, colour, the terminal's width
    (None when not a terminal: full width), and hints the command line adds to warnings of
    a given kind (its own options, which the core does not know); `quiet`: no warnings;
    `keep_lines`: in batch mode, one output line per input line (empty for a bad or blank one)."""

    fmt: str = "plain"
    precision: int = 6
    dtype: str = "float64"
    color: bool = False
    width: int | None = None
    hints: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    keep_lines: bool = False


class Warnings:
    """Collects NumericWarnings from the core and prints them after the output they are about
    (`release`), so that with `2>&1` a result precedes its warning.

    An exact repeat is said once. In batch mode the same warning on many lines is said for the
    first `SHOWN` lines, then held: `finish` says the next one with the count of the rest
    ("(and 999,990 more lines like it)"). What is kept is bounded whatever the number of
    warnings: a count per kind of message (its text with the numbers taken out), at most
    `KINDS` kinds, and the first few messages of each. `quiet` says nothing at all.
    """

    SHOWN = 5
    KINDS = 64
    _NUMBERS = re.compile(r"[-+]?(?:\d[\d_,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|\binf\b|\bnan\b")

    def __init__(self, err: TextIO, hints: dict[str, str] | None = None, quiet: bool = False,
                 progress: Progress | None = None):
        self.err = err
        self.hints = hints or {}
        self.quiet = quiet
        self.progress = progress
        self.said: set[str] = set()  # messages said, each kind's first SHOWN at most
        self.kinds: dict[str, _Kind] = {}
        self.pending: list[str] = []

    def say(self, message: str, line: int | None = None) -> None:
        if self.quiet:
            return
        text = message if line is None else f"line {line}: {message}"
        if text in self.said:
            return
        key = self._NUMBERS.sub("#", message)
        kind = self.kinds.get(key)
        if kind is None:
            if len(self.kinds) >= self.KINDS:
                key = ""  # every further kind shares one count
                kind = self.kinds.get(key)
            if kind is None:
                kind = self.kinds[key] = _Kind()
        kind.count += 1
        if kind.count <= self.SHOWN:
            self.said.add(text)
            self.pending.append(f"warning: {text}")
        elif kind.count == self.SHOWN + 1:
            kind.held = text
        # beyond: only counted

    def finish(self, out: TextIO | None = None) -> None:
        """Say the held warnings, each with the number of further lines like it."""
        for kind in self.kinds.values():
            if kind.held is None:
                continue
            more = kind.count - self.SHOWN - 1
            tail = f" (and {more:,} more line{'s' if more != 1 else ''} like it)" if more else ""
            self.pending.append(f"warning: {kind.held}{tail}")
            kind.held = None
        self.release(out)

    def release(self, out: TextIO | None = None) -> None:
        """Print the warnings said so far, after flushing `out`."""
        if not self.pending:
            return
        if out is not None:
            out.flush()
        if self.progress is not None:
            self.progress.clear()
        for line in self.pending:
            print(line, file=self.err)
        self.pending.clear()
        self.err.flush()

    def run(self, function: Callable[..., Any], *args: Any, lines: list[int] | None = None,
            **kwargs: Any) -> tuple[Any, Explained]:
        """Call `function(*args, **kwargs)`, collecting its NumericWarnings (with the line number
        of the row they name, in batch mode); also tell which rows they explained."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function(*args, **kwargs)
        explained = Explained()
        for warning in caught:
            if not issubclass(warning.category, (NumericWarning, PathWarning)):
                continue
            row = getattr(warning.message, "row", None)
            kind = getattr(warning.message, "kind", "")
            if not kind:  # a hint about the input, not an explanation of a NaN or inf
                explained.add(row)
            message = str(warning.message)
            hint = self.hints.get(kind)
            if hint:
                message = f"{message}; {hint}"
            if lines is not None and row is not None and 0 <= row < len(lines):
                self.say(message, lines[row])
            else:
                self.say(message)
        return result, explained

    def check_float32(self, report: Report) -> None:
        """Results computed in float64 and shown in float32: say which leave float32's range
        (inf when rounded) or underflow to 0."""
        big = float(np.finfo(np.float32).max)
        tiny = float(np.finfo(np.float32).smallest_subnormal) / 2
        for value in _numbers_of(report):
            if not np.isfinite(value):
                continue
            text = output.plain_number(value)
            if abs(value) > big:  # the exact rounding limit is 2^128 - 2^103: close enough to say
                with np.errstate(over="ignore"):
                    rounded = np.float32(value)
                if np.isinf(rounded):
                    self.say(f"{text} is beyond float32's range (about ±3.4e38): it is "
                             f"{output.plain_number(float(rounded))} in float32 (computed in float64)")
            elif value != 0 and abs(value) <= tiny:
                self.say(f"{text} is below float32's smallest number (about 1.4e-45): it is 0 in "
                         "float32 (computed in float64)")

    def check_finite(self, report: Report, explained: bool, source: np.ndarray,
                     line: int | None = None) -> None:
        """A generic explanation for a NaN or infinite result the core did not explain."""
        if explained:
            return
        values = [v for v in report.plain if isinstance(v, (float, np.floating))]
        self.check_finite_values(values, explained, source, line)

    def check_finite_values(self, values: Any, explained: bool, source: np.ndarray,
                            line: int | None = None) -> None:
        """`check_finite` of a report whose primary result has these float `values`."""
        if explained:
            return
        if len(values) == 0 or np.all(np.isfinite(values)):
            return
        kind = "nan" if np.any(np.isnan(values)) else "infinite values"
        cause = ""
        if not np.all(np.isfinite(source)):
            has = [name for name, found in (("inf", np.isinf(source).any()), ("nan", np.isnan(source).any()))
                   if found]
            cause = f" because the input has {' and '.join(has)}"
        self.say(f"the result contains {kind}{cause}", line)


class _Kind:
    """How often a kind of warning was said, and the last one held back (a plain class: a
    dataclass costs a millisecond of every command's start-up)."""

    __slots__ = ("count", "held")

    def __init__(self) -> None:
        self.count = 0
        self.held: str | None = None


class Progress:
    """A progress line on a terminal stderr for a long batch: lines done, rate, elapsed time.

    Nothing is shown in the first `DELAY` seconds (a short batch shows nothing), then one line
    redrawn in place (`\\r`) at most every `EVERY` seconds, and erased before anything else is
    printed on stderr and at the end, so it never stays in the output.
    """

    DELAY = 1.0
    EVERY = 0.2

    def __init__(self, err: TextIO, clock: Callable[[], float] | None = None):
        import time

        self.err = err
        self.clock = clock or time.monotonic
        self.start = self.clock()
        self.next = self.start + self.DELAY
        self.shown = False

    def update(self, lines: int) -> None:
        now = self.clock()
        if now < self.next:
            return
        self.next = now + self.EVERY
        elapsed = now - self.start
        rate = lines / elapsed if elapsed > 0 else 0.0
        try:
            self.err.write(f"\r{lines:,} lines, {rate:,.0f} lines/s, {elapsed:.1f} s\x1b[K")
            self.err.flush()
        except (OSError, ValueError):
            return
        self.shown = True

    def clear(self) -> None:
        if not self.shown:
            return
        self.shown = False
        try:
            self.err.write("\r\x1b[K")
            self.err.flush()
        except (OSError, ValueError):
            pass


def _numbers_of(report: Report) -> Any:
    """Every float a report shows (its primary result, columns, scalars and matrices)."""
    pools: list[Any] = [report.plain, *report.columns.values(), [s.value for s in report.scalars]]
    for matrix in report.matrices:
        try:
            pools.append(np.ravel(np.asarray(matrix.machine(), dtype=object)))
        except (TypeError, ValueError, AttributeError):
            pass
    for pool in pools:
        if isinstance(pool, str):
            continue
        try:
            values = list(np.ravel(np.asarray(pool, dtype=object)))
        except (TypeError, ValueError):
            continue
        for value in values:
            if isinstance(value, (float, np.floating)) and not isinstance(value, np.float32):
                yield float(value)


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


def write(text: str, style: Style, out: TextIO | None = None) -> None:
    if text:
        print(text, file=out if out is not None else sys.stdout)


def run_report(style: Style, function: Callable[..., Report], *args: Any,
               out: TextIO | None = None, err: TextIO | None = None, **kwargs: Any) -> int:
    """Print the Report `function(*args, **kwargs)` returns, then the warnings it gave."""
    out = out if out is not None else sys.stdout
    said = Warnings(err if err is not None else sys.stderr, style.hints, style.quiet)
    report, _ = said.run(function, *args, **kwargs)
    if style.dtype == "float32":
        said.check_float32(report)
    with np.errstate(over="ignore", under="ignore"):  # said above, in the user's words
        text = output.render(report, style.fmt, precision=style.precision, dtype=style.dtype,
                             color=style.color, width=style.width)
    write(text, style, out)
    said.release(out)
    return 0


def run_vector_command(tokens: list[str] | None, command: VectorCommand, style: Style, *,
                       operand: np.ndarray | None = None, stdin: TextIO | None = None,
                       out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a vector command on argv tokens or on stdin; returns the exit code.

    `command.plain_rows(result)`, when not None, is the plain output of every row of a computed
    group at once: a (rows, k) float64 array equal, row by row, to the plain output of
    `command.report(result, row)`. Batch mode then prints plain float64 output without
    building a Report per line.
    """
    stdin = stdin if stdin is not None else sys.stdin
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    said = Warnings(err, style.hints, style.quiet)
    if not wants_stdin(tokens, stdin):
        if not tokens:
            raise DlcalcError(f"no {command.what} given: type the numbers (for example 2 1 0.1) "
                              "or pipe them on standard input")
        vector = in_dtype(parse_vector(tokens, command.what), style.dtype)[np.newaxis, :]
        operands = None if operand is None else in_dtype(operand, style.dtype)[np.newaxis, :]
        result, explained = said.run(command.compute, vector, operands)
        report = command.report(result, 0)
        said.check_finite(report, 0 in explained, vector)
        write(output.render(report, style.fmt, precision=style.precision, dtype=style.dtype,
                            color=style.color, width=style.width), style, out)
        said.release(out)
        return 0
    fast = FAST and style.fmt == "plain" and style.dtype == "float64"
    return _run_batch(command, style, operand, stdin, out, err, said, fast)


def _run_batch(command: VectorCommand, style: Style, operand: np.ndarray | None,
               stdin: Any, out: TextIO, err: TextIO, said: Warnings, fast: bool) -> int:
    from dlcalc.batch import parse_block, read_blocks

    stream = getattr(stdin, "buffer", stdin)
    seen_any = failed = False
    csv_header_done = False
    keep = style.keep_lines
    progress = Progress(err) if not style.quiet and is_terminal(err) else None
    said.progress = progress
    apart = _apart(out, err)
    done = 0
    for block in read_blocks(stream):
        chunk = parse_block(block, fast=FAST)
        reports: dict[int, Report] = {}
        texts: list[tuple[list[int], bytes]] = []
        errors: dict[int, str] = {bad.number: bad.message for bad in chunk.bad}
        for group in chunk.groups:
            _present_group(group, command, style, operand, said, errors, fast, reports, texts)
        seen_any = seen_any or bool(reports) or bool(errors) or bool(texts)
        done = block.first + block.count - 1
        if (texts and not reports and not errors and _in_order(texts)
                and (not keep or sum(len(numbers) for numbers, _ in texts) == block.count)):
            for _, text in texts:  # the common case: the block's lines, in order
                _write_bytes(out, text)
            said.release(out)
            if progress is not None:
                progress.update(done)
            continue
        lines: dict[int, str] = {}
        for numbers, text in texts:
            lines.update(zip(numbers, text.decode("ascii").split("\n")))
        numbers = (range(block.first, block.first + block.count) if keep
                   else sorted(reports.keys() | errors.keys() | lines.keys()))
        ready: list[str] = []  # output lines not yet written: one write per run between errors
        held: list[str] = []  # error lines not yet written, when stdout and stderr are apart
        for number in numbers:
            if number in errors:
                failed = True
                if apart:
                    held.append(f"error: line {number}: {errors[number]}\n")
                else:  # one place: each error right after the results before it
                    if ready:
                        out.write("\n".join(ready) + "\n")
                        ready.clear()
                    out.flush()
                    if progress is not None:
                        progress.clear()
                    print(f"error: line {number}: {errors[number]}", file=err)
                if keep:
                    ready.append("")
                continue
            if number in lines:
                ready.append(lines[number])
                continue
            if number not in reports:  # a blank or comment line, kept in place
                ready.append("")
                continue
            if style.fmt == "csv" and not csv_header_done:
                ready.append(output.csv_header(reports[number], ["line"]))
                csv_header_done = True
            ready.append(output.render_batch(reports[number], number, style.fmt, precision=style.precision,
                                             dtype=style.dtype, color=style.color, width=style.width))
        if ready:
            out.write("\n".join(ready) + "\n")
        out.flush()
        if held:
            if progress is not None:
                progress.clear()
            err.write("".join(held))
            err.flush()
        said.release(out)
        if progress is not None:
            progress.update(done)
    said.finish(out)
    if progress is not None:
        progress.clear()
    if not seen_any:
        raise DlcalcError(f"no {command.what} given: "
                          f"{getattr(stdin, 'description', 'standard input')} had no numbers")
    return 2 if failed else 0


def _apart(out: Any, err: Any) -> bool:
    """Whether stdout and stderr lead to different places (files, pipes, terminals). Then no one
    sees the order between them, and a block's error lines are written together after its
    results; in one place (a terminal, `2>&1`) each error follows the results before it."""
    try:
        a, b = os.fstat(out.fileno()), os.fstat(err.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False
    return (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino)


def _in_order(texts: list[tuple[list[int], bytes]]) -> bool:
    """Whether the texts' lines follow each other in input order."""
    last = 0
    for numbers, _ in texts:
        if not numbers or numbers[0] <= last or numbers[-1] < numbers[0]:
            return False
        last = numbers[-1]
    return True


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


def _present_group(group: Group, command: VectorCommand, style: Style,
                   cli_operand: np.ndarray | None, said: Warnings, errors: dict[int, str],
                   fast: bool, reports: dict[int, Report],
                   texts: list[tuple[list[int], bytes]]) -> None:
    """Present a group of lines with one vectorised call: its plain output as one block of
    bytes in `texts` when `plain_rows` can give it (every value finite), else one Report per
    line in `reports`; a line the core refuses goes to `errors` with its message.

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
            _present_part(part, command, style, cli_operand, said, fast, reports, texts)
        except DlcalcError as error:
            if size == 1:
                errors[part.numbers[0]] = str(error)
                continue
            rows = getattr(error, "rows", None)
            if rows is not None and 0 < len(rows) <= size and all(0 <= r < size for r in rows):
                failing = set(int(r) for r in rows)
                if len(failing) < size:
                    pending.append(part.select([i for i in range(size) if i not in failing]))
                # the core's message for each failing row (the first check a row fails is the
                # same alone as in the group: every earlier check passed for the whole group)
                messages = getattr(error, "messages", None) or {}
                for i in sorted(failing, reverse=True):
                    if i in messages:
                        errors[part.numbers[i]] = messages[i]
                    elif len(failing) < size:
                        pending.append(part.slice(i, i + 1))
                    else:
                        break
                else:
                    continue
                pending += [part.slice(size // 2, size), part.slice(0, size // 2)]
            else:
                pending += [part.slice(size // 2, size), part.slice(0, size // 2)]


def _present_part(group: Group, command: VectorCommand, style: Style,
                  cli_operand: np.ndarray | None, said: Warnings, fast: bool,
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
    result, explained = said.run(command.compute, vectors, operands, lines=group.numbers)
    if fast:
        # all finite (else None): check_finite would have nothing to say about any row
        matrix = command.plain_rows(result)
        if isinstance(matrix, np.ndarray) and matrix.shape[:1] == (len(group.numbers),):
            text = output.plain_lines(matrix)
            if text is not None:
                texts.append((group.numbers, text))
                return
    if style.fmt == "json" and FAST:
        _present_json(group, command, style, result, explained, vectors, said, reports, texts)
        return
    for row, number in enumerate(group.numbers):
        reports[number] = command.report(result, row)
        said.check_finite(reports[number], row in explained, vectors[row], number)


def _present_json(group: Group, command: VectorCommand, style: Style, result: Any,
                  explained: Explained, vectors: np.ndarray, said: Warnings,
                  reports: dict[int, Report], texts: list[tuple[list[int], bytes]]) -> None:
    """The JSON lines of a computed group, `JSON_ROWS` lines at a time (bounded memory).

    With the command's `json_rows` (and `JSON_FAST`), each part is written without a Report per
    line (`output.json_batch_lines`), and only the lines whose primary result is not finite
    are looked at one by one, for `check_finite`'s warning. The first line of each part is also
    rendered from its Report: a part whose first line differs (a command whose `json_rows`
    fell out of step with its `report`) is written from Reports. Without `json_rows`, float64
    Reports go through orjson (`output.json_lines`), the rest through `render_batch`.
    """
    size = len(group.numbers)
    layout = getattr(command, "json_rows", None) if JSON_FAST else None
    found = layout(result) if layout is not None else None
    for start in range(0, size, JSON_ROWS):
        stop = min(start + JSON_ROWS, size)
        numbers = group.numbers[start:stop]
        if found is not None:
            fields, plain = found
            text = output.json_batch_lines(fields, numbers, start, stop, style.dtype)
            if text is not None and _first_line_agrees(text, command, result, start, numbers[0],
                                                       style.dtype):
                texts.append((numbers, text))
                values = np.asarray(plain[start:stop])
                if values.dtype.kind == "f":
                    for index in np.flatnonzero(~np.isfinite(values.reshape(stop - start, -1)).all(axis=1)):
                        row = start + int(index)
                        said.check_finite_values(values[index].ravel(), row in explained, vectors[row],
                                                 numbers[index])
                continue
        built = [command.report(result, row) for row in range(start, stop)]
        if style.dtype == "float64":
            text = output.json_lines(built, numbers)
            if text is not None:  # every number finite: check_finite has nothing to say
                texts.append((numbers, text))
                continue
        for row, number, report in zip(range(start, stop), numbers, built):
            reports[number] = report
            said.check_finite(report, row in explained, vectors[row], number)


def _first_line_agrees(text: bytes, command: VectorCommand, result: Any, row: int, number: int,
                       dtype: str) -> bool:
    """Whether `text` starts with the JSON line the Report of `row` gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said already, or said by the per-line path
        report = command.report(result, row)
    line = output.render_batch(report, number, "json", dtype=dtype)
    return text.startswith(line.encode("utf-8") + b"\n")
