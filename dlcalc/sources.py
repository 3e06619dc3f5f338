"""Where a batch of vectors comes from: standard input or a FILE, as lines of numbers or as CSV.

The rule that tells a FILE from numbers: the vector is a single argument that is not a vector
of numbers (`logits.txt`, `data/batch.csv`, `./2` for a file named like a number). `-` is
standard input. Anything else is numbers, as before.

A file is read exactly as standard input is (`dlcalc.batch.read_blocks` on the open binary
file, in blocks of whole lines, in bounded memory), with the same line-numbered errors.

CSV: a `.csv` file, or any input read with a header or with named columns, is read as CSV:
fields are separated by commas and may be quoted (`"0.5"`). `header=True` skips the first line
that is neither blank nor a comment and takes the column names from it; `columns` chooses the
vector's columns by name, `operand_columns` the second operand's (the target of `ce`, the Q of
`kl`), as if each line were written `VECTOR ; OPERAND`. Naming columns implies a header. Each
selected field holds exactly one number; an empty field is an error on its line.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator, NamedTuple

from dlcalc.errors import DlcalcError
from dlcalc.vectors import parse_number, split_vector_text

if TYPE_CHECKING:
    from dlcalc.batch import Block

# One number per field: nothing that would split it into two.
_NOT_ONE_NUMBER = re.compile(r"[\s,;\[\]]")
# A token that looks like a file name rather than a mistyped number: a folder or an extension.
_LOOKS_LIKE_PATH = re.compile(r".*(/|\\|\.[A-Za-z][A-Za-z0-9]*$).*", re.DOTALL)


class Csv(NamedTuple):
    """How to read CSV: a header line, and the columns of the vector and of the operand."""

    header: bool = False
    columns: list[str] | None = None
    operand_columns: list[str] | None = None


def names(text: str | None, what: str) -> list[str] | None:
    """Column names from `a,b,c` (None when the option is absent)."""
    if text is None:
        return None
    found = [name.strip() for name in text.split(",")]
    if not all(found):
        raise DlcalcError(f"{what} takes column names separated by commas, for example "
                          f"{what} label; got {text!r}")
    return found


def is_file_argument(tokens: list[str] | None) -> bool:
    """Whether the vector's tokens name a FILE: one token, not `-`, not a vector of numbers."""
    if not tokens or len(tokens) != 1 or tokens[0] == "-":
        return False
    try:
        _read_numbers(tokens[0])
    except DlcalcError:
        return True
    return False


def _read_numbers(token: str) -> None:
    """Raise the DlcalcError that reading `token` as numbers gives ("[]" is an empty vector:
    numbers, none of them)."""
    for word in split_vector_text(token):
        parse_number(word)


def open_file(path: str) -> BinaryIO:
    """The file opened for reading, or a DlcalcError naming it."""
    if not os.path.exists(path) and not _LOOKS_LIKE_PATH.fullmatch(path):
        # not a file and not shaped like one: most likely a mistyped number
        try:
            _read_numbers(path)
        except DlcalcError as error:
            raise DlcalcError(f"{error} (and there is no file {path!r})") from None
    try:
        if os.path.isdir(path):
            raise DlcalcError(f"{path!r} is a folder; give a FILE of numbers, one vector per line")
        return open(path, "rb")
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise DlcalcError(f"cannot open {path!r}: {reason}") from None


@contextmanager
def vector_input(tokens: list[str] | None, stdin: Any, csv_options: Csv | None = None, *,
                 operand_given: bool = False,
                 operand_option: str = "the operand's option") -> Iterator[tuple[Any, Any]]:
    """(tokens, stdin) for `runner.run_vector_command`: a FILE argument becomes `-` and a
    stream over the file; CSV options wrap the stream that will be read. The file is closed at
    the end."""
    options = csv_options or Csv()
    wants_csv = options.header or options.columns is not None or options.operand_columns is not None
    if options.operand_columns is not None and operand_given:
        raise DlcalcError(f"{operand_option} takes the second operand from a column, and the "
                          "command line gives one too; give it in one place")
    if is_file_argument(tokens):
        path = tokens[0]  # type: ignore[index]
        stream = open_file(path)
        try:
            csv_mode = wants_csv or path.lower().endswith(".csv")
            yield ["-"], Source(stream, repr(path), options if csv_mode else None)
        finally:
            stream.close()
        return
    if not wants_csv:
        yield tokens, stdin
        return
    if tokens and tokens != ["-"]:
        raise DlcalcError("a header and named columns apply to a FILE or to standard input, "
                          "not to numbers on the command line")
    yield tokens, Source(getattr(stdin, "buffer", stdin), "standard input", options, text=stdin)


class Source:
    """A stream of blocks of lines for `dlcalc.batch.read_blocks` (which asks for `blocks()`),
    rewritten from CSV to `VECTOR ; OPERAND` lines when `csv_options` is given. Line numbers
    are those of the file."""

    def __init__(self, stream: BinaryIO, description: str, csv_options: Csv | None,
                 text: Any = None):
        self.stream = stream
        self.description = description  # for "no numbers in ..." messages
        self.options = csv_options
        self.text = text  # the text stream wrapping `stream`, if any (for isatty)
        self.names: list[str] | None = None  # the header's column names, once read
        self.vector_at: list[int] | None = None
        self.operand_at: list[int] | None = None

    def isatty(self) -> bool:
        try:
            return bool((self.text or self.stream).isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def blocks(self) -> Iterator[Block]:
        from dlcalc.batch import Block, read_blocks  # only a batch needs them: start-up time

        waiting_for_header = self.options is not None and (
            self.options.header or self.options.columns is not None
            or self.options.operand_columns is not None)
        for block in read_blocks(self.stream):
            if self.options is None or (not waiting_for_header and self.vector_at is None
                                        and b'"' not in block.text):
                yield block  # plain lines: the fast parser reads them as they are
                continue
            lines: list[bytes] = []
            bad: dict[int, str] = {}
            for number, raw in block.lines():
                if raw is None:  # over-long: batch reports it
                    lines.append(block.text.split(b"\n", 1)[0])
                    continue
                stripped = raw.strip()
                if not stripped or stripped.startswith(b"#"):
                    lines.append(raw)
                    continue
                if waiting_for_header:
                    self._read_header(raw)
                    waiting_for_header = False
                    lines.append(b"")  # skipped, still counted
                    continue
                try:
                    lines.append(self._rewrite(raw))
                except DlcalcError as error:
                    bad[number] = str(error)
                    lines.append(b"")
            yield Block(block.first, b"\n".join(lines), block.count, block.overlong_first, bad)

    def _fields(self, raw: bytes) -> list[str]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DlcalcError(f"not valid UTF-8 text (byte {err.start + 1})") from None
        if text.endswith("\r"):
            text = text[:-1]
        import csv

        try:
            return next(csv.reader([text], skipinitialspace=True, strict=True))
        except csv.Error as error:
            raise DlcalcError(f"not a CSV line ({error}); quote a field as \"0.5\"") from None

    def _read_header(self, raw: bytes) -> None:
        assert self.options is not None
        names_ = [name.strip() for name in self._fields(raw)]
        self.names = names_

        def where(name: str) -> int:
            found = [i for i, n in enumerate(names_) if n == name]
            if not found:
                raise DlcalcError(f"no column {name!r} in {self.description}; its columns are "
                                  f"{', '.join(names_)}")
            if len(found) > 1:
                raise DlcalcError(f"column {name!r} appears {len(found)} times in the header of "
                                  f"{self.description}; rename one")
            return found[0]

        operand = [where(n) for n in self.options.operand_columns or []]
        if self.options.columns is not None:
            vector = [where(n) for n in self.options.columns]
        else:
            vector = [i for i in range(len(names_)) if i not in operand]
        if not vector:
            raise DlcalcError(f"no columns left for the vector in {self.description}: "
                              f"its columns are {', '.join(names_)}")
        self.vector_at, self.operand_at = vector, operand

    def _rewrite(self, raw: bytes) -> bytes:
        """One CSV line as `VECTOR ; OPERAND` text for the batch parsers."""
        fields = self._fields(raw)
        if self.names is not None and len(fields) != len(self.names):
            count = f"{len(fields)} field{'' if len(fields) == 1 else 's'}"
            raise DlcalcError(f"{count}, but the header names {len(self.names)} columns")
        vector_at = self.vector_at if self.vector_at is not None else range(len(fields))
        vector = " ".join(self._number(fields, i) for i in vector_at)
        if self.operand_at:
            return (vector + " ; " + " ".join(self._number(fields, i) for i in self.operand_at)).encode()
        return vector.encode()

    def _number(self, fields: list[str], index: int) -> str:
        value = fields[index].strip()
        column = repr(self.names[index]) if self.names is not None else str(index + 1)
        if not value:
            raise DlcalcError(f"empty field in column {column}")
        if _NOT_ONE_NUMBER.search(value):
            raise DlcalcError(f"column {column} holds {value!r}; give one number per field")
        return value
