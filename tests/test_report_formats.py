"""Nothing asked for is ever dropped (SPEC §1 "Numbers out"): every command × report flag ×
format renders every number of the report.

The oracle is the command's own JSON report: every number in it must appear in the csv
(read back with `csv.DictReader`, exactly), in the table and in Markdown (at the precision
they print, 6 significant digits) and in LaTeX (as LaTeX numbers). Plain holds the parts the
flags asked for, exactly: the primary result and each requested extra.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import subprocess

import pytest

from conftest import _run_in_process, strict_json
from dlcalc.number_text import latex_number, people_number

F = "x**2*y + sin(y)"
# (arguments, the JSON keys plain must hold exactly)
CASES = [
    (["activate", "sigmoid", "-1", "0", "2"], ["y"]),
    (["activate", "sigmoid", "-1", "0", "2", "--deriv"], ["dy"]),
    (["activate", "leaky_relu", "-1", "1", "--alpha", "0.1"], ["y"]),
    (["softmax", "2", "1", "0.1"], ["softmax"]),
    (["softmax", "2", "1", "0.1", "--log"], ["log_softmax"]),
    (["softmax", "2", "1", "0.1", "--jacobian"], ["softmax", "jacobian"]),
    (["softmax", "2", "1", "0.1", "--log", "--jacobian", "-t", "2"], ["log_softmax", "jacobian"]),
    (["softmax", "2", "1", "0.1", "--explain"], ["softmax"]),
    (["ce", "2", "1", "0.1", "--target", "0"], ["loss"]),
    (["ce", "2", "1", "0.1", "--target", "0", "--grad"], ["grad"]),
    (["ce", "2", "1", "0.1", "--target", "0", "--explain"], ["loss"]),
    (["ce", "2", "1", "0.1", "--target-probs", "0.7", "0.2", "0.1", "--label-smoothing", "0.1"], ["loss"]),
    (["ce", "0.6", "0.3", "0.2", "--probs", "--normalize", "--target", "1"], ["loss"]),
    (["ce", "2", "-1", "0.5", "--binary", "--target", "1", "0", "1"], ["loss"]),
    (["ce", "0.9", "0.2", "--binary", "--probs", "--target", "1", "0", "--grad"], ["grad"]),
    (["kl", "0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.1"], ["kl"]),
    (["kl", "0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.1", "--symmetric"], ["kl", "kl_reverse", "js"]),
    (["kl", "0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.1", "--explain", "--base", "2"], ["kl"]),
    (["kl", "2", "1", "0.1", "--q", "0", "0", "0", "--logits"], ["kl"]),
    (["kl", "0.5", "0.5", "--q", "1", "0"], ["kl"]),
    (["grad", F, "--at", "x=1", "y=2"], ["gradient"]),
    (["grad", F, "--at", "x=1", "y=2", "--check"], ["gradient", "check"]),
    (["grad", F, "--at", "x=1", "y=2", "--hessian"], ["gradient", "hessian"]),
    (["grad", F, "--at", "x=1", "y=2", "--steps"], ["gradient"]),
    (["grad", "(w1*x1 + w2*x2 - y)^2", "--wrt", "w1,w2", "--at", "w1=0.5", "w2=-1", "x1=1", "x2=2",
      "y=3"], ["gradient"]),
]
IDS = [" ".join(args[:1] + [a for a in args[1:] if a.startswith("-")]) or args[0] for args, _ in CASES]


def numbers(value, skip=("steps",)) -> list[float]:
    """Every number of a JSON value (non-finite ones are the strings "inf", "-inf", "nan")."""
    if isinstance(value, dict):
        return [n for key, item in value.items() if key not in skip for n in numbers(item, skip)]
    if isinstance(value, list):
        return [n for item in value for n in numbers(item, skip)]
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if value in ("inf", "-inf", "nan"):
        return [float(value)]
    return []


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def read_back(words) -> list[float]:
    found = []
    for word in words:
        try:
            found.append(float(word))
        except ValueError:
            pass
    return found


def contains(found: list[float], value: float) -> bool:
    return any(same(value, f) for f in found)


@pytest.fixture(scope="module")
def outputs():
    cache = {}

    def get(args, fmt):
        key = (tuple(args), fmt)
        if key not in cache:
            run = _run_in_process(*args, "-f", fmt)
            assert run.code == 0, (args, fmt, run.err)
            cache[key] = run.out
        return cache[key]

    return get


@pytest.mark.parametrize("args, plain_keys", CASES, ids=IDS)
def test_csv_is_one_flat_table_holding_every_number_of_the_json_exactly(outputs, args, plain_keys):
    data = strict_json(outputs(args, "json"))
    text = outputs(args, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(len(row) == len(rows[0]) and None not in row for row in rows)
    for name in rows[0]:
        assert name.isascii() and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name), name
    cells = read_back(value for row in rows for value in row.values())
    missing = [n for n in numbers(data) if not contains(cells, n)]
    assert not missing, (missing, text)
    assert "·" not in text and "²" not in text  # expressions as grad reads them back


@pytest.mark.parametrize("args, plain_keys", CASES, ids=IDS)
def test_plain_holds_what_the_flags_asked_for_exactly(outputs, args, plain_keys):
    data = strict_json(outputs(args, "json"))
    found = read_back(outputs(args, "plain").split())
    for key in plain_keys:
        missing = [n for n in numbers(data[key]) if not contains(found, n)]
        assert not missing, (key, missing)


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex"])
@pytest.mark.parametrize("args, plain_keys", CASES, ids=IDS)
def test_formats_for_people_show_every_number_at_their_precision(outputs, args, plain_keys, fmt):
    data = strict_json(outputs(args, "json"))
    text = outputs(args, fmt)
    for value in numbers(data):
        shown = {people_number(value, 6), latex_number(value, 6)}
        if fmt == "latex":
            shown = {latex_number(value, 6)}
        assert any(form in text for form in shown), (value, shown, text)


@pytest.mark.parametrize("args, plain_keys", CASES, ids=IDS)
def test_latex_is_ascii_and_compiles(outputs, args, plain_keys):
    text = outputs(args, "latex")
    assert text.isascii(), [c for c in text if not c.isascii()]
    if shutil.which("pdflatex") is None:
        return
    blocks = "\n".join(rf"\[ {block} \]" for block in text.strip().split("\n\n"))
    document = ("\\documentclass{article}\\usepackage{amsmath}\\begin{document}\n"
                + blocks + "\n\\end{document}\n")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "x.tex").write_text(document)
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "x.tex"],
                             cwd=folder, capture_output=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]


def test_csv_batch_has_a_line_column_and_a_loss_per_line():
    run = _run_in_process("ce", "-f", "csv", stdin="2 1 0.1 ; 0\n0 3 ; 1\n")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert [row["line"] for row in rows] == ["1"] * 3 + ["2"] * 2
    alone = [float(_run_in_process("ce", *line.split(), "--target", k).out)
             for line, k in (("2 1 0.1", "0"), ("0 3", "1"))]
    assert {float(row["loss"]) for row in rows if row["line"] == "1"} == {alone[0]}
    assert {float(row["loss"]) for row in rows if row["line"] == "2"} == {alone[1]}


def test_csv_reads_in_one_call_with_pandas():
    pandas = pytest.importorskip("pandas")
    run = _run_in_process("softmax", "2", "1", "0.1", "--jacobian", "-f", "csv")
    frame = pandas.read_csv(io.StringIO(run.out))
    assert list(frame.columns) == ["i", "z", "softmax", "log_softmax", "logsumexp", "temperature",
                                   "j0", "j1", "j2"]
    assert frame["softmax"].tolist() == [float(w) for w in _run_in_process("softmax", "2", "1", "0.1").out.split()]


def test_plain_layout_primary_then_scalar_extras_then_matrix_then_check():
    run = _run_in_process("grad", F, "--at", "x=1", "y=2", "--check", "--hessian")
    data = strict_json(_run_in_process("grad", F, "--at", "x=1", "y=2", "--check", "--hessian",
                                       "--json").out)
    lines = [read_back(line.split()) for line in run.out.splitlines()]
    assert lines == [data["gradient"], [data["check"]["max_relative_difference"]], *data["hessian"],
                     data["check"]["finite_difference"]]


def test_plain_symmetric_kl_is_the_kl_then_the_reverse_and_js_on_one_line():
    args = ["kl", "0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.1", "--symmetric"]
    data = strict_json(_run_in_process(*args, "--json").out)
    lines = _run_in_process(*args).out.splitlines()
    assert [read_back(line.split()) for line in lines] == [[data["kl"]], [data["kl_reverse"], data["js"]]]


def test_plain_batch_gives_one_block_per_input_line():
    run = _run_in_process("softmax", "--jacobian", stdin="0 0\n1 2 3\n")
    lines = run.out.splitlines()
    assert len(lines) == (1 + 2) + (1 + 3)
    assert lines[0] == "0.5 0.5" and lines[3] == _run_in_process("softmax", "1", "2", "3").out.strip()


def test_plain_hessian_of_expressions_is_one_entry_per_line_readable_by_grad():
    run = _run_in_process("grad", "x**2*y", "--hessian")
    assert run.out.splitlines() == ["2*x*y", "x**2", "2*y", "2*x", "2*x", "0"]


def test_flags_that_replace_the_primary_result_say_so_in_help():
    assert "replaces the loss" in " ".join(_run_in_process("ce", "--help").out.split())
    assert "replaces softmax" in " ".join(_run_in_process("softmax", "--help").out.split())


@pytest.mark.parametrize("fmt", ["plain", "csv", "json", "table", "markdown", "latex"])
def test_plot_names_the_file_it_wrote_in_every_format(tmp_path, fmt):
    path = tmp_path / "s.png"
    run = _run_in_process("plot", "sigmoid", "--points", "20", "-o", str(path), "-f", fmt)
    shown = str(path).replace("_", r"\_") if fmt == "latex" else str(path)
    assert run.code == 0 and path.exists() and shown in run.out
    if fmt == "plain":
        assert run.out == f"{path}\n"


def test_props_csv_holds_every_number_of_the_json_as_numbers():
    args = ["activate", "--props", "sigmoid", "tanh", "relu", "gelu"]
    data = strict_json(_run_in_process(*args, "-f", "json").out)
    rows = list(csv.DictReader(io.StringIO(_run_in_process(*args, "-f", "csv").out)))
    assert [row["function"] for row in rows] == ["sigmoid", "tanh", "relu", "gelu"]
    cells = read_back(value for row in rows for value in row.values())
    # a saturated tail's outer end is ±∞ by definition: the columns give its inner end
    missing = [n for n in numbers(data) if math.isfinite(n) and not contains(cells, n)]
    assert not missing, missing
    # the interval ends are numeric columns a program can use directly
    tanh = rows[1]
    assert (float(tanh["saturated_below"]), float(tanh["saturated_above"])) == (-2.99, 2.99)
    assert float(tanh["max_derivative"]) == 1 and float(tanh["range_low"]) == -1
