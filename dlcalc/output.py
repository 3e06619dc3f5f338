"""Output formats: a `Report` rendered as table, plain, csv, json, markdown or latex.

Every format renders every part of the report (columns, scalars, matrices, derivation steps);
numbers become text only through `dlcalc.number_text`. The layouts:

- plain, for pipelines (numbers by the shortest text that reads back exactly, single spaces):
  the derivation steps first, when asked for, one per line; then the primary result on one
  line (entries one per line for expressions and names); then the scalar extras a flag asked
  for on one line (`--symmetric`: D_KL(Q‖P) JS; `--check`: the largest relative difference);
  then each matrix, one row per line (expressions: one entry per line, row after row); then
  the extra vector lines (`--check`: the finite differences).
- csv: one flat table: the element-wise columns, each scalar as a column repeated on every row,
  each matrix row as columns of its row (`j0..jn-1` of a Jacobian, `hessian_<v>`); ASCII
  snake_case headers; expressions as `grad` reads them back; batch mode adds `line` first.
- json: strict RFC 8259, non-finite numbers as the strings "inf", "-inf", "nan".
- table, markdown, latex: for people, `precision` significant digits; every column, scalar,
  matrix and step. LaTeX is ASCII (symbols as LaTeX commands), ready for pdflatex.
"""

from __future__ import annotations

import re

import codecs
import io
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from dlcalc.number_text import (  # noqa: F401 - the output layer's public number functions
    dumps_json,
    json_ready,
    latex_number, latex_text,
    people_number,
    plain_lines,
    plain_number,
)
from dlcalc.reports import Matrix, Report, Scalar  # noqa: F401

if TYPE_CHECKING:  # annotations only: dlcalc.steps is imported by the commands that explain
    from dlcalc.steps import Step

FORMATS = ("table", "plain", "csv", "json", "markdown", "latex")


# ---------------------------------------------------------------- one entry point


def render(report: Report, fmt: str, *, precision: int = 6, dtype: str = "float64",
           color: bool = False, width: int | None = None) -> str:
    """The whole text for one report (no trailing newline). `width`: the terminal's, for tables."""
    if fmt == "plain":
        return render_plain(report, dtype)
    if fmt == "json":
        return dumps_json(json_object(report), dtype)
    if fmt == "csv":
        return render_csv(report, dtype)
    if fmt == "markdown":
        return render_markdown(report, precision)
    if fmt == "latex":
        return render_latex(report, precision)
    return render_table(report, precision, color, width)


def render_batch(report: Report, number: int, fmt: str, *, precision: int = 6,
                 dtype: str = "float64", color: bool = False, width: int | None = None) -> str:
    """One input line's block in batch mode: plain as alone (its block of lines), json one
    object with its `line`, csv rows with a `line` column (no header: `csv_header` once), and
    for people the line's number as a heading over its report."""
    if fmt == "json":
        return dumps_json({"line": number, **json_object(report)}, dtype)
    if fmt == "csv":
        return render_csv(report, dtype, header=False, prefix=[("line", number)])
    if fmt == "plain":
        return render_plain(report, dtype)
    heading = {"table": f"line {number}:", "latex": f"% line {number}"}.get(fmt, f"**line {number}**")
    return heading + "\n" + render(report, fmt, precision=precision, dtype=dtype, color=color,
                                   width=width) + "\n"


# ---------------------------------------------------------------- plain


def render_plain(report: Report, dtype: str = "float64") -> str:
    lines: list[str] = [("  " * step.depth) + step.text for step in report.steps]
    if report.plain_one_per_line:
        lines += [plain_number(value, dtype) for value in report.plain]
    else:
        lines.append(" ".join(plain_number(value, dtype) for value in report.plain))
    extras = [scalar.value for scalar in report.scalars if scalar.extra]
    if extras:
        lines.append(" ".join(plain_number(value, dtype) for value in extras))
    for matrix in report.matrices:
        rows = np.atleast_2d(np.asarray(matrix.machine(), dtype=object))
        if any(isinstance(value, str) for row in rows for value in row):
            lines += [value for row in rows for value in row]  # expressions: one per line
        else:
            lines += [" ".join(plain_number(value, dtype) for value in row) for row in rows]
    for key in report.plain_extra_columns:
        lines.append(" ".join(plain_number(value, dtype) for value in report.columns[key]))
    return "\n".join(lines)


# ---------------------------------------------------------------- json


def json_object(report: Report) -> dict[str, Any]:
    """The report's JSON object (before `dumps_json`): its data, and its steps if any."""
    data = dict(report.data)
    if report.steps and "steps" not in data:
        data["steps"] = [step.as_dict() for step in report.steps]
    return data


def json_lines(reports: list[Report], numbers: list[int]) -> bytes | None:
    """The JSON lines of a group in batch mode, float64, at C speed: byte for byte what
    `render_batch(report, number, "json")` writes for each, or None to decline.

    orjson writes every object; its layout then becomes `json.dumps`'s: ", " and ": " between
    items (safe because no string may hold a comma, colon, closing bracket or backslash — else this
    declines),
    and the numbers repr writes in exponent form (below 1e-4 or from 1e16 in magnitude) in
    repr's form. It declines anything json_ready would change: non-finite numbers (orjson
    writes null), objects orjson cannot write (steps, ...).
    """
    dumps = _orjson()
    if not dumps:
        return None
    try:
        parts = [dumps({"line": number, **json_object(report)}) for number, report in zip(numbers, reports)]
    except (TypeError, ValueError):
        return None
    text = b"\n".join(parts)
    if b"null" in text or b"\\" in text:
        return None
    if b'"' in text:
        strings = b"".join(_JSON_STRING.findall(text))
        if any(mark in strings for mark in (b",", b":", b"]", b"}")):
            return None
    text = text.replace(b",", b", ").replace(b":", b": ")
    if b"e" in text or b"0.0000" in text:
        text = _REPR_NUMBER.sub(_number_as_repr, text)
    return text + b"\n"


def json_batch_lines(fields: Sequence[tuple[str, Any]], numbers: Sequence[int], start: int,
                     stop: int, dtype: str = "float64") -> bytes | None:
    """The JSON lines of rows `start` to `stop` of a batch group (`numbers`: their line
    numbers), from a command's `json_rows` fields (`dlcalc.reports.Rows` for what each row has
    of its own, a dict for an object holding some, else the value every row shares) without a
    Report per line: byte for byte `render_batch(report, number, "json")` of each row's
    report, a newline after each; None to decline (a value it cannot write at C speed, text
    that is not ASCII).

    Each field is written once for all rows (`json_number_rows`), each shared value once; the
    lines are then the fixed text between the fields (keys, brackets, shared values) and the
    fields' texts, interleaved with slice assignments and joined once.
    """
    rows = stop - start
    if rows <= 0:
        return b""
    between: list[str] = []  # the fixed text before each field's values (and after the last)
    values: list[list[bytes]] = []
    texts = _json_number_rows(np.asarray(numbers, dtype=np.int64), "float64")
    if texts is None or len(texts) != rows:
        return None
    between.append('{"line": ')
    values.append(texts)
    pending = _json_fields(fields, start, stop, dtype, between, values, ", ")
    if pending is None:
        return None
    between.append(pending + "}")
    if not all(text.isascii() for text in between):
        return None  # written through the text layer, as the per-line path does
    fixed = [text.encode() for text in between]
    width = 2 * len(values)
    joined: list[bytes] = [b""] * (rows * width)
    for index, texts in enumerate(values):
        joined[2 * index::width] = texts
    for index in range(1, len(values)):
        joined[2 * index - 1::width] = [fixed[index]] * rows
    joined[width - 1::width] = [fixed[-1] + b"\n" + fixed[0]] * rows
    joined[-1] = fixed[-1] + b"\n"
    return fixed[0] + b"".join(joined)


def _json_number_rows(values: np.ndarray, dtype: str) -> list[bytes] | None:
    from dlcalc.number_text import json_number_rows

    return json_number_rows(values, dtype)


def _json_fields(fields: Any, start: int, stop: int, dtype: str, between: list[str],
                 values: list[list[bytes]], pending: str) -> str | None:
    """Add the fields' texts to `values` and the fixed text before each to `between`; return
    the fixed text after the last (None to decline). `pending`: the text before the first key."""
    import json

    from dlcalc.reports import Rows

    for index, (key, value) in enumerate(fields):
        pending += ("" if index == 0 else ", ") + json.dumps(str(key), ensure_ascii=False) + ": "
        if isinstance(value, Rows):
            array = value.values[start:stop]
            texts = _json_number_rows(array, dtype)
            if texts is None or len(texts) != stop - start:
                return None
            vector = array.ndim == 2
            between.append(pending + ("[" if vector else ""))
            values.append(texts)
            pending = "]" if vector else ""
        elif isinstance(value, dict) and any(isinstance(v, (Rows, dict)) for v in value.values()):
            inner = _json_fields(list(value.items()), start, stop, dtype, between, values,
                                pending + "{")
            if inner is None:
                return None
            pending = inner + "}"
        else:
            pending += dumps_json_value(value, dtype)
    return pending


def dumps_json_value(value: Any, dtype: str = "float64") -> str:
    """One JSON value as `dumps_json` writes it inside an object."""
    import json

    return json.dumps(json_ready(value, dtype), allow_nan=False, ensure_ascii=False)


_JSON_STRING = re.compile(rb'"[^"]*"')
# a number json.dumps (repr) writes differently from orjson: exponent form, or positional below 1e-4
_REPR_NUMBER = re.compile(rb"(?<=[\[ ])-?(?:[0-9.]+e[-+]?[0-9]+|0\.0000[0-9]*)(?=[,\]}])")
_dumps: Any = None


def _number_as_repr(match: "re.Match[bytes]") -> bytes:
    return repr(float(match.group())).encode()


def _orjson() -> Any:
    global _dumps
    if _dumps is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - orjson is a dependency; without it, json.dumps
            _dumps = False
        else:
            option = orjson.OPT_SERIALIZE_NUMPY

            def _dumps(data: Any) -> bytes:
                return orjson.dumps(data, option=option)
    return _dumps


# ---------------------------------------------------------------- csv


def _csv_layout(report: Report) -> tuple[list[str], list[list[Any]]]:
    names = list(report.columns) + list(report.csv_columns)
    columns = [list(values) for values in [*report.columns.values(), *report.csv_columns.values()]]
    rows = max([len(c) for c in columns] + [np.atleast_2d(np.asarray(m.machine(), dtype=object)).shape[0]
                                            for m in report.matrices] + [1])
    for scalar in report.scalars:
        names.append(scalar.key)
        columns.append([scalar.value] * rows)
    for matrix in report.matrices:
        values = np.atleast_2d(np.asarray(matrix.machine(), dtype=object))
        names += matrix.csv_columns()
        columns += [list(values[:, j]) for j in range(values.shape[1])]
    return names, [[column[r] if r < len(column) else "" for column in columns] for r in range(rows)]


def render_csv(report: Report, dtype: str = "float64", *, header: bool = True,
               prefix: Sequence[tuple[str, Any]] = ()) -> str:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names, rows = _csv_layout(report)
    if header:
        writer.writerow([name for name, _ in prefix] + names)
    for row in rows:
        writer.writerow([plain_number(value, dtype) for _, value in prefix]
                        + [plain_number(value, dtype) for value in row])
    return buffer.getvalue().rstrip("\n")


def csv_header(report: Report, prefix: Sequence[str] = ()) -> str:
    return ",".join(list(prefix) + _csv_layout(report)[0])


# ---------------------------------------------------------------- table


def _bold(text: str, color: bool) -> str:
    return f"\033[1m{text}\033[0m" if color else text


def _aligned(rows: list[list[str]], numeric: list[bool], color: bool, header: bool = True,
             width: int | None = None) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if width is not None:
        widths = _fit(widths, numeric, width)
        rows = [[_abbreviate(cell, w) for cell, w in zip(row, widths)] for row in rows]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(w) if is_number else cell.ljust(w)
                 for cell, w, is_number in zip(row, widths, numeric)]
        line = "  ".join(cells).rstrip()
        if header and index == 0:
            lines.append(_bold(line, color))
            lines.append("  ".join("─" * w for w in widths))
        else:
            lines.append(line)
    return lines


def _fit(widths: list[int], numeric: list[bool], width: int) -> list[int]:
    """Narrow the widest text columns (never below 8 characters, never numbers) until a line of
    the table fits in `width` characters, or nothing more can give."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > width:
        text = [i for i, w in enumerate(widths) if not numeric[i] and w > 8]
        if not text:
            break
        widest = max(text, key=lambda i: widths[i])
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        widths[widest] = max(8, widths[widest] - excess)
    return widths


def _abbreviate(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[:width - 1] + "…"


def render_steps_text(steps: Sequence[Step], width: int | None = None) -> list[str]:
    """Each step on its own line, indented by depth, its rule in brackets on the right; with a
    `width`, long steps wrap onto indented continuation lines."""
    import textwrap

    bodies = [("  " * step.depth) + step.text for step in steps]
    column = min(max((len(body) for body in bodies), default=0), 72)
    lines = []
    for body, step in zip(bodies, steps):
        if step.rule and not step.text.lower().startswith(step.rule.lower()):
            line = f"{body.ljust(column)}   [{step.rule}]"
            if width is not None and len(line) > width:
                line = f"{body}   [{step.rule}]"
        else:
            line = body
        if width is not None and len(line) > width:
            indent = " " * (2 * step.depth + 4)
            lines += textwrap.wrap(line, width=max(width, 20), subsequent_indent=indent,
                                   break_long_words=True, break_on_hyphens=False)
        else:
            lines.append(line)
    return lines


def render_table(report: Report, precision: int = 6, color: bool = False,
                 width: int | None = None) -> str:
    if report.text is not None:
        return report.text
    lines: list[str] = render_steps_text(report.steps, width)
    if lines:
        lines.append("")
    if report.columns:
        keys = list(report.columns)
        columns = [report.people_columns.get(key, report.columns[key]) for key in keys]
        numeric = [all(not isinstance(value, str) for value in column) for column in columns]
        rows = [[report.labels.get(key, key) for key in keys]] + [
            [people_number(column[row], precision) for column in columns]
            for row in range(len(columns[0]))]
        lines += _aligned(rows, numeric, color, width=width)
    for scalar in report.scalars:
        lines.append(f"{scalar.label}: {people_number(scalar.value, precision)}")
    for matrix in report.matrices:
        lines.append("")
        lines.append(_bold(matrix.title, color))
        lines += _matrix_lines(matrix.values, matrix.labels, precision)
    return "\n".join(lines)


# Rows and columns of a matrix written out by table, markdown and LaTeX: the first and last
# MATRIX_SHOWN // 2 of each beyond this (a 2,000-logit Jacobian has 4 million entries, which no
# one reads in a table and which took 25 s and 490 MB to lay out). plain, csv and json print
# every entry.
MATRIX_SHOWN = 20


def _shown(n: int) -> list[int | None]:
    """The indices of a matrix dimension of size n that are shown; None marks the gap."""
    if n <= MATRIX_SHOWN:
        return list(range(n))
    half = MATRIX_SHOWN // 2
    return list(range(half)) + [None] + list(range(n - half, n))


def matrix_note(shape: tuple[int, ...]) -> str | None:
    """The note under an abbreviated matrix, or None when it is shown whole."""
    rows, columns = (shape + (1, 1))[:2] if len(shape) >= 2 else (1, shape[0] if shape else 1)
    if rows <= MATRIX_SHOWN and columns <= MATRIX_SHOWN:
        return None
    return (f"({rows:,} × {columns:,}: the first and last {MATRIX_SHOWN // 2} rows and columns "
            "are shown; plain, csv and json print every entry)")


def _matrix_cells(rows: Any, shape: tuple[int, int], cell: Any, gap_row: str, gap_column: str,
                  gap_both: str) -> list[list[str]]:
    """The shown cells of a matrix: `cell(rows[i][j])` or the gap marks."""
    out = []
    for i in _shown(shape[0]):
        line = []
        for j in _shown(shape[1]):
            if i is None:
                line.append(gap_both if j is None else gap_row)
            elif j is None:
                line.append(gap_column)
            else:
                line.append(cell(rows[i][j]))
        out.append(line)
    return out


def _matrix_lines(matrix: np.ndarray, labels: Sequence[str] | None, precision: int) -> list[str]:
    values = np.atleast_2d(matrix)
    cells = _matrix_cells(values, values.shape[:2], lambda v: people_number(v, precision),
                          "⋮", "…", "⋱")
    if labels:
        row_labels = ["⋮" if i is None else labels[i] for i in _shown(values.shape[0])]
        column_labels = ["…" if j is None else labels[j] for j in _shown(values.shape[1])]
        cells = [[""] + column_labels] + [[label] + row for label, row in zip(row_labels, cells)]
    numeric = [True] * len(cells[0])
    lines = _aligned(cells, numeric, False, header=False)
    note = matrix_note(values.shape)
    return lines + [note] if note else lines


# ---------------------------------------------------------------- markdown


def render_markdown(report: Report, precision: int = 6) -> str:
    blocks: list[str] = []
    if report.steps:
        blocks.append("\n".join(
            f"{'  ' * step.depth}- " + (f"${step.latex}$" if step.latex else step.text)
            + (f" *({step.rule})*" if step.rule else "")
            for step in report.steps))
    if report.markdown_columns is not None:
        table = report.markdown_columns
    else:
        table = {report.labels.get(key, key): report.people_columns.get(key, values)
                 for key, values in report.columns.items()}
    if table:
        names = list(table)
        columns = list(table.values())
        rows = ["| " + " | ".join(names) + " |",
                "|" + "|".join("---:" if all(not isinstance(v, str) for v in column) else ":---"
                               for column in columns) + "|"]
        for row in range(len(columns[0])):
            rows.append("| " + " | ".join(_markdown_cell(column[row], precision)
                                          for column in columns) + " |")
        blocks.append("\n".join(rows))
    if report.scalars:
        blocks.append("\n".join(f"**{scalar.label}**: {people_number(scalar.value, precision)}  "
                                for scalar in report.scalars).rstrip())
    for matrix in report.matrices:
        blocks.append(f"**{matrix.title}**\n\n$$\n{latex_matrix(matrix, precision)}\n$$")
        note = matrix_note(_matrix_shape(matrix))
        if note:
            blocks.append(f"*{note}*")
    if report.latex and not report.steps:
        blocks.append(f"$$\n{report.latex}\n$$")
    return "\n\n".join(blocks)


def _markdown_cell(value: Any, precision: int) -> str:
    if isinstance(value, str):
        return value.replace("|", "\\|")
    return people_number(value, precision)


# ---------------------------------------------------------------- latex


def _matrix_shape(matrix: Matrix) -> tuple[int, int]:
    if matrix.latex is not None:
        return (len(matrix.latex), len(matrix.latex[0]) if matrix.latex else 0)
    return np.atleast_2d(matrix.values).shape[:2]


def latex_matrix(matrix: Matrix, precision: int) -> str:
    """The matrix in LaTeX (abbreviated beyond MATRIX_SHOWN rows or columns, with a comment)."""
    if matrix.latex is not None:
        rows = _matrix_cells(matrix.latex, _matrix_shape(matrix), str, r"\vdots", r"\cdots",
                             r"\ddots")
    else:
        values = np.atleast_2d(matrix.values)
        rows = _matrix_cells(values, values.shape[:2], lambda v: latex_number(v, precision),
                             r"\vdots", r"\cdots", r"\ddots")
    body = r" \\ ".join(" & ".join(row) for row in rows)
    note = matrix_note(_matrix_shape(matrix))
    comment = "" if note is None else f"% {latex_ascii(note.replace('×', 'x'))}\n"
    return rf"{comment}\begin{{bmatrix}} {body} \end{{bmatrix}}"


def _latex_text(text: str) -> str:
    return latex_text(text)


def render_latex(report: Report, precision: int = 6) -> str:
    """Blocks of math-mode LaTeX separated by blank lines (each fits in `\\[ ... \\]`): the
    derivation, the result table (or the result's own LaTeX and its numeric columns), the named
    scalars, the matrices. Pure ASCII: every symbol is a LaTeX command."""
    parts: list[str] = []
    if report.steps:
        body = " \\\\\n".join(f"  & {step.latex or _latex_text(step.text)}" for step in report.steps)
        parts.append("\\begin{aligned}\n" + body + "\n\\end{aligned}")
    if report.latex:
        parts.append(report.latex)
    keys = list(report.columns)
    if report.latex:  # the result is written out: add its numbers, by the first (label) column
        keys = keys[:1] + [k for k in keys[1:] if all(not isinstance(v, str) for v in report.columns[k])]
        if len(keys) < 2:
            keys = []
    if keys:
        head = " & ".join(report.latex_labels.get(key) or _latex_text(report.labels.get(key, key))
                          for key in keys)
        cells = [report.latex_columns[key] if report.latex_columns and key in report.latex_columns
                 else [latex_number(v, precision) if not isinstance(v, str) else _latex_text(v)
                       for v in report.columns[key]] for key in keys]
        rows = [" & ".join(column[row] for column in cells) for row in range(len(cells[0]))]
        parts.append("\\begin{array}{" + "r" * len(keys) + "}\n" + head + r" \\ \hline" + "\n"
                     + " \\\\\n".join(rows) + "\n\\end{array}")
    if report.scalars:
        parts.append("\\begin{aligned}\n" + " \\\\\n".join(
            f"  {scalar.latex or _latex_text(scalar.label)} &= {latex_number(scalar.value, precision)}"
            for scalar in report.scalars) + "\n\\end{aligned}")
    for matrix in report.matrices:
        parts.append(latex_matrix(matrix, precision))
    return latex_ascii("\n\n".join(parts))


# Unicode a derivation or a label may hold, as LaTeX commands that work in math and text mode.
_LATEX_SYMBOLS = {
    "∂": r"\partial", "σ": r"\sigma", "Σ": r"\Sigma", "ŷ": r"\hat{y}", "ℓ": r"\ell", "‖": r"\|",
    "·": r"\cdot", "×": r"\times", "−": "-", "∞": r"\infty", "≈": r"\approx", "≤": r"\le",
    "≥": r"\ge", "…": r"\ldots", "⋮": r"\vdots", "⋱": r"\ddots",
    "→": r"\to", "²": "^{2}", "³": "^{3}", "√": r"\surd", "α": r"\alpha",
    "β": r"\beta", "λ": r"\lambda", "μ": r"\mu", "π": r"\pi", "φ": r"\varphi", "Φ": r"\Phi",
    "ε": r"\varepsilon", "θ": r"\theta", "τ": r"\tau", "∑": r"\sum", "∏": r"\prod", "≠": r"\ne",
    "⋅": r"\cdot", "–": "-", "—": "-", "’": "'", "ᵢ": "_{i}", "ⱼ": "_{j}", "∈": r"\in",
    "∘": r"\circ", "⊙": r"\odot"
}


def latex_ascii(text: str) -> str:
    """LaTeX with every non-ASCII character replaced by its command (`\\ensuremath`, so it works
    inside `\\text{}` too), or `?` when it has none."""
    if text.isascii():
        return text
    return "".join(c if c.isascii() else
                   (r"\ensuremath{" + _LATEX_SYMBOLS[c] + "}" if c in _LATEX_SYMBOLS else "?")
                   for c in text)


# ---------------------------------------------------------------- a stream that cannot say it


# What a terminal without Unicode (PYTHONIOENCODING=ascii, cp1252) gets instead.
_ASCII = {
    "─": "-", "∂": "d", "ŷ": "y^", "‖": "||", "σ": "sigma", "Σ": "sum", "·": "*", "×": "x",
    "−": "-", "∞": "inf", "≈": "~", "≤": "<=", "≥": ">=", "…": "...", "→": "->", "²": "^2",
    "⋮": ":", "⋱": "\\", "³": "^3", "ℓ": "l", "α": "alpha", "β": "beta", "λ": "lambda",
    "μ": "mu", "π": "pi",
    "φ": "phi", "Φ": "Phi", "ε": "eps", "θ": "theta", "τ": "tau", "√": "sqrt", "≠": "!=",
    "–": "-", "—": "-", "’": "'", "∑": "sum", "⋅": "*", "∈": "in", "ᵢ": "_i", "ⱼ": "_j",
    '━': '-', '│': '|', '┃': '|', '┼': '+', '←': '<-', '⁻': '^-', '¹': '1', '‘': "'",
    '“': '"', '”': '"', '±': '+/-', '⊙': '*', '∇': 'grad ',
}


def _ascii_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(_ASCII.get(c, "?") for c in bad), error.end


codecs.register_error("dlcalc-ascii", _ascii_fallback)


def ascii_fallback(stream: Any) -> None:
    """Make `stream` write what its encoding cannot hold in ASCII (`∂` as `d`, `‖` as `||`)
    instead of failing, when its encoding cannot write dlcalc's Unicode."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "─∂ŷ‖σ·−∞".encode(encoding)
        return
    except (UnicodeEncodeError, LookupError):
        pass
    try:
        stream.reconfigure(errors="dlcalc-ascii")
    except (AttributeError, ValueError, io.UnsupportedOperation):
        pass
