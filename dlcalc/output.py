"""Output formats: one `Report` per input vector, rendered as table, plain, csv, json,
markdown or latex.

A command builds a `Report` (columns for the element-wise table, the primary result for
pipelines, a JSON object, footer lines, a derivation, matrices) and never formats anything
itself. Rules shared by every command:

- plain prints the shortest repr that round-trips exactly in the computing dtype, numbers
  separated by single spaces, so a pipeline `dlcalc ... | dlcalc ... -` loses nothing;
- json is strict RFC 8259: non-finite numbers become the strings "inf", "-inf", "nan";
- table is for people: aligned columns, `precision` significant digits, colour only on a
  terminal and never when NO_COLOR is set.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from dlcalc.steps import Step

FORMATS = ("table", "plain", "csv", "json", "markdown", "latex")


@dataclass
class Matrix:
    """A matrix to show under the table: a Jacobian, a Hessian (numbers or expressions)."""

    title: str
    values: Any  # 2-D: numbers, or expression text for people
    labels: Sequence[str] | None = None  # row and column labels
    latex: Sequence[Sequence[str]] | None = None  # the entries as LaTeX, when they are expressions


@dataclass
class Report:
    """What a command has to say about one input vector, independent of the format."""

    columns: dict[str, Sequence[Any]]
    plain: Sequence[Any]
    data: dict[str, Any]
    footer: list[tuple[str, Any]] = field(default_factory=list)
    steps: Sequence[Step] = ()
    matrices: list[Matrix] = field(default_factory=list)
    latex: str | None = None
    plain_one_per_line: bool = False
    markdown_columns: dict[str, Sequence[Any]] | None = None  # columns with $LaTeX$, if different


# ---------------------------------------------------------------- numbers


def _not_a_float(value: Any, yes: str, no: str) -> str | None:
    """The text of anything but a finite float (strings, booleans, integers, inf, nan)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return yes if value else no
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return None


def plain_number(value: Any, dtype: str = "float64") -> str:
    """Shortest text that reads back as exactly `value` in `dtype`; integers without `.0`."""
    special = _not_a_float(value, "true", "false")
    if special is not None:
        return special
    number = float(value)
    text = _float32_repr(number) if dtype == "float32" else repr(number)
    return text[:-2] if text.endswith(".0") else text


def plain_lines(matrix: np.ndarray) -> bytes | None:
    """Each row of a float64 matrix as one line of plain output, at C speed; None to decline.

    The bytes are exactly what `render_plain` gives for each row (numbers by `plain_number`,
    single spaces, a newline after every row). orjson writes each float with the shortest
    digits that round-trip, as repr does, and positionally from 1e-4 up to 1e16 as repr does;
    only the layout differs, and is fixed here: the numbers repr writes in exponent form
    (nonzero below 1e-4 in magnitude, or from 1e16 on: `1e-05`, `1e+16`) are written by repr
    itself, spliced in where orjson wrote a placeholder (`null`, for NaN), and a trailing `.0`
    is dropped as `plain_number` does. Declines non-finite values (JSON has no inf or nan) and
    matrices that are not 2-D float64.
    """
    dumps = _orjson_dumps()
    if not dumps or not isinstance(matrix, np.ndarray) or matrix.dtype != np.float64 \
            or matrix.ndim != 2 or matrix.shape[1] == 0:
        return None
    if matrix.shape[0] == 0:
        return b""
    if not np.isfinite(matrix).all():
        return None
    size = np.abs(matrix)
    exponent_form = ((size < 1e-4) & (size > 0)) | (size >= 1e16)
    spliced = bool(exponent_form.any())
    text = dumps(np.where(exponent_form, np.nan, matrix) if spliced else np.ascontiguousarray(matrix),
                 option=_OPT_SERIALIZE_NUMPY)
    if b"e" in text:  # not expected (orjson's positional range covers repr's): fix it anyway
        text = _EXPONENT.sub(_as_repr, text)
    if spliced:
        pieces = text.split(b"null")
        joined: list[bytes] = [b""] * (2 * len(pieces) - 1)
        joined[0::2] = pieces
        joined[1::2] = " ".join(map(repr, matrix[exponent_form].tolist())).encode().split(b" ")
        text = b"".join(joined)
    if np.any((matrix == np.floor(matrix)) & ~exponent_form):  # orjson writes 2.0, we write 2
        text = text.replace(b".0,", b",").replace(b".0]", b"]")
    return b"\n".join(text[2:-2].split(b"],[")).replace(b",", b" ") + b"\n"


# a number in exponent form in orjson's output (1e16, 2.5e-7; repr writes 1e+16, 2.5e-07)
_EXPONENT = re.compile(rb"(?<=[\[,])-?[0-9.]+e[-+]?[0-9]+(?=[,\]])")
_OPT_SERIALIZE_NUMPY = 0
_dumps: Any = None


def _as_repr(match: "re.Match[bytes]") -> bytes:
    return repr(float(match.group())).encode()


def _orjson_dumps() -> Any:
    global _dumps, _OPT_SERIALIZE_NUMPY
    if _dumps is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - orjson is a dependency; without it, repr
            _dumps = False
        else:
            _dumps, _OPT_SERIALIZE_NUMPY = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    return _dumps


def _float32_repr(number: float) -> str:
    """Like Python's repr, with the fewest digits that identify the float32 value."""
    value = np.float32(number)
    if value == 0 or 1e-4 <= abs(value) < 1e16:
        return np.format_float_positional(value, unique=True, trim="-")
    return np.format_float_scientific(value, unique=True, trim="-", exp_digits=2)


def people_number(value: Any, precision: int) -> str:
    """`precision` significant digits, for tables, Markdown and derivations."""
    special = _not_a_float(value, "yes", "no")
    return special if special is not None else f"{float(value):.{precision}g}"


def json_ready(value: Any, dtype: str = "float64") -> Any:
    """Plain Python data that `json.dumps(allow_nan=False)` accepts, numbers exact."""
    if isinstance(value, dict):
        return {str(key): json_ready(item, dtype) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item, dtype) for item in value]
    if isinstance(value, np.ndarray):
        if not value.ndim:
            return json_ready(value.item(), dtype)
        if dtype == "float64" and value.dtype.kind in "iu" or (
                value.dtype == np.float64 and dtype == "float64" and np.isfinite(value).all()):
            return value.tolist()  # already exact JSON numbers: no walk over every element
        return [json_ready(item, dtype) for item in value.tolist()]
    if isinstance(value, Step):
        return value.as_dict()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")
        return float(_float32_repr(number)) if dtype == "float32" else number
    if value is None or isinstance(value, str):
        return value
    return str(value)


def dumps_json(data: dict[str, Any], dtype: str = "float64") -> str:
    import json  # here, not at the top: only the json format needs it

    return json.dumps(json_ready(data, dtype), allow_nan=False, ensure_ascii=False)


# ---------------------------------------------------------------- renderers


def render(report: Report, fmt: str, *, precision: int = 6, dtype: str = "float64",
           color: bool = False) -> str:
    """The whole text for one report (no trailing newline)."""
    if fmt == "plain":
        return render_plain(report, dtype)
    if fmt == "json":
        return dumps_json(_json_object(report), dtype)
    if fmt == "csv":
        return render_csv(report, dtype)
    if fmt == "markdown":
        return render_markdown(report, precision)
    if fmt == "latex":
        return render_latex(report, precision)
    return render_table(report, precision, color)


def render_plain(report: Report, dtype: str = "float64") -> str:
    separator = "\n" if report.plain_one_per_line else " "
    return separator.join(plain_number(value, dtype) for value in report.plain)


def _json_object(report: Report) -> dict[str, Any]:
    data = dict(report.data)
    if report.steps and "steps" not in data:
        data["steps"] = [step.as_dict() for step in report.steps]
    return data


def render_csv(report: Report, dtype: str = "float64", *, header: bool = True,
               prefix: Sequence[tuple[str, Any]] = ()) -> str:
    buffer = io.StringIO()
    import csv

    writer = csv.writer(buffer, lineterminator="\n")
    names = [name for name, _ in prefix] + list(report.columns)
    if header:
        writer.writerow(names)
    columns = list(report.columns.values())
    for row in range(len(columns[0]) if columns else 0):
        writer.writerow([plain_number(value, dtype) for _, value in prefix]
                        + [plain_number(column[row], dtype) for column in columns])
    return buffer.getvalue().rstrip("\n")


def csv_header(report: Report, prefix: Sequence[str] = ()) -> str:
    return ",".join(list(prefix) + list(report.columns))


def _bold(text: str, color: bool) -> str:
    return f"\033[1m{text}\033[0m" if color else text


def _aligned(rows: list[list[str]], numeric: list[bool], color: bool, header: bool = True) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(width) if is_number else cell.ljust(width)
                 for cell, width, is_number in zip(row, widths, numeric)]
        line = "  ".join(cells).rstrip()
        if header and index == 0:
            lines.append(_bold(line, color))
            lines.append("  ".join("─" * width for width in widths))
        else:
            lines.append(line)
    return lines


def render_steps_text(steps: Sequence[Step]) -> list[str]:
    """Each step on its own line, indented by depth, its rule in brackets on the right."""
    bodies = [("  " * step.depth) + step.text for step in steps]
    width = min(max((len(body) for body in bodies), default=0), 72)
    lines = []
    for body, step in zip(bodies, steps):
        if step.rule and not step.text.lower().startswith(step.rule.lower()):
            lines.append(f"{body.ljust(width)}   [{step.rule}]")
        else:
            lines.append(body)
    return lines


def render_table(report: Report, precision: int = 6, color: bool = False) -> str:
    lines: list[str] = render_steps_text(report.steps)
    if lines:
        lines.append("")
    if report.columns:
        names = list(report.columns)
        columns = list(report.columns.values())
        numeric = [all(not isinstance(value, str) for value in column) for column in columns]
        rows = [names] + [[people_number(column[row], precision) for column in columns]
                          for row in range(len(columns[0]))]
        lines += _aligned(rows, numeric, color)
    for label, value in report.footer:
        lines.append(f"{label}: {people_number(value, precision)}")
    for matrix in report.matrices:
        lines.append("")
        lines.append(_bold(matrix.title, color))
        lines += _matrix_lines(matrix.values, matrix.labels, precision)
    return "\n".join(lines)


def _matrix_lines(matrix: np.ndarray, labels: Sequence[str] | None, precision: int) -> list[str]:
    cells = [[people_number(value, precision) for value in row] for row in np.atleast_2d(matrix)]
    if labels:
        cells = [[""] + list(labels)] + [[label] + row for label, row in zip(labels, cells)]
    numeric = [True] * len(cells[0])
    return _aligned(cells, numeric, False, header=False)


def render_markdown(report: Report, precision: int = 6) -> str:
    blocks: list[str] = []
    if report.steps:
        blocks.append("\n".join(
            f"{'  ' * step.depth}- " + (f"${step.latex}$" if step.latex else step.text)
            + (f" *({step.rule})*" if step.rule else "")
            for step in report.steps))
    table = report.markdown_columns or report.columns
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
    if report.footer:
        blocks.append("\n".join(f"**{label}**: {people_number(value, precision)}  "
                                for label, value in report.footer).rstrip())
    for matrix in report.matrices:
        blocks.append(f"**{matrix.title}**\n\n$$\n{latex_matrix(matrix, precision)}\n$$")
    if report.latex and not report.steps:
        blocks.append(f"$$\n{report.latex}\n$$")
    return "\n\n".join(blocks)


def _markdown_cell(value: Any, precision: int) -> str:
    if isinstance(value, str):
        return value.replace("|", "\\|")
    return people_number(value, precision)


def latex_number(value: Any, precision: int) -> str:
    text = people_number(value, precision)
    if text in ("inf", "-inf"):
        return text.replace("inf", r"\infty")
    if text == "nan":
        return r"\mathrm{NaN}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def latex_matrix(matrix: Matrix, precision: int) -> str:
    rows = matrix.latex if matrix.latex is not None else [
        [latex_number(v, precision) for v in row] for row in np.atleast_2d(matrix.values)]
    body = r" \\ ".join(" & ".join(row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def render_latex(report: Report, precision: int = 6) -> str:
    parts: list[str] = []
    if report.steps:
        body = " \\\\\n".join(f"  & {step.latex or step.text}" for step in report.steps)
        parts.append("\\begin{aligned}\n" + body + "\n\\end{aligned}")
    if report.latex:
        parts.append(report.latex)
    elif report.columns:
        names = list(report.columns)
        columns = list(report.columns.values())
        escaped = [name.replace("_", r"\_") for name in names]
        head = " & ".join(rf"\text{{{name}}}" for name in escaped)
        rows = [" & ".join(latex_number(column[row], precision) if not isinstance(column[row], str)
                           else rf"\text{{{column[row]}}}" for column in columns)
                for row in range(len(columns[0]))]
        parts.append("\\begin{array}{" + "r" * len(names) + "}\n" + head + r" \\ \hline" + "\n"
                     + " \\\\\n".join(rows) + "\n\\end{array}")
    for matrix in report.matrices:
        parts.append(latex_matrix(matrix, precision))
    return "\n".join(parts)
