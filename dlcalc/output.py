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

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from dlcalc.steps import Step

FORMATS = ("table", "plain", "csv", "json", "markdown", "latex")


@dataclass
class Report:
    """What a command has to say about one input vector, independent of the format."""

    columns: dict[str, Sequence[Any]]
    plain: Sequence[Any]
    data: dict[str, Any]
    footer: list[tuple[str, Any]] = field(default_factory=list)
    steps: Sequence[Step] = ()
    matrices: list[tuple[str, np.ndarray, Sequence[str] | None]] = field(default_factory=list)
    latex: str | None = None
    plain_one_per_line: bool = False
    markdown_columns: dict[str, Sequence[Any]] | None = None  # columns with $LaTeX$, if different


# ---------------------------------------------------------------- numbers


def plain_number(value: Any, dtype: str = "float64") -> str:
    """Shortest text that reads back as exactly `value` in `dtype`; integers without `.0`."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    text = _float32_repr(number) if dtype == "float32" else repr(number)
    return text[:-2] if text.endswith(".0") else text


def _float32_repr(number: float) -> str:
    """Like Python's repr, with the fewest digits that identify the float32 value."""
    value = np.float32(number)
    if value == 0 or 1e-4 <= abs(value) < 1e16:
        return np.format_float_positional(value, unique=True, trim="-")
    return np.format_float_scientific(value, unique=True, trim="-", exp_digits=2)


def people_number(value: Any, precision: int) -> str:
    """`precision` significant digits, for tables and Markdown."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return f"{number:.{precision}g}"


def json_ready(value: Any, dtype: str = "float64") -> Any:
    """Plain Python data that `json.dumps(allow_nan=False)` accepts, numbers exact."""
    if isinstance(value, dict):
        return {str(key): json_ready(item, dtype) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item, dtype) for item in value]
    if isinstance(value, np.ndarray):
        return [json_ready(item, dtype) for item in value.tolist()] if value.ndim else json_ready(value.item(), dtype)
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
    for title, matrix, labels in report.matrices:
        lines.append("")
        lines.append(_bold(title, color))
        lines += _matrix_lines(matrix, labels, precision)
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
    for title, matrix, _labels in report.matrices:
        blocks.append(f"**{title}**\n\n$$\n{latex_matrix(matrix, precision)}\n$$")
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


def latex_matrix(matrix: np.ndarray, precision: int) -> str:
    rows = np.atleast_2d(matrix)
    body = r" \\ ".join(" & ".join(latex_number(v, precision) for v in row) for row in rows)
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
    for title, matrix, _labels in report.matrices:
        parts.append(latex_matrix(matrix, precision))
    return "\n".join(parts)
