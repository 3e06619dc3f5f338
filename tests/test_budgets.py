"""The one work budget and the size limits outside `plot` (issue #15, item 2; SECURITY.md).

Every bound is shrunk here (monkeypatched) so that the tests stay fast; what is asserted is the
behaviour past the bound: exit 2, one `error:` line naming the limit, nothing on stdout, no
traceback. No test measures time: a budget shrunk to a millisecond is exceeded by any real work.
Below the bounds the answers are checked against the full output formats (plain keeps every
number) and against independent values (closed forms of the softmax Jacobian).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import assert_user_error
from dlcalc import explain, output, reports

symbolic = pytest.importorskip("dlcalc.symbolic")


def one_error(run) -> str:
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert run.code == 2, (run.code, run.err)
    assert len(errors) == 1, run.err
    assert "Traceback" not in run.err
    assert run.out == ""
    return errors[0]


# ---------------------------------------------------------------- the time budget


def test_the_budget_is_one_value_shared_by_grad_and_every_other_command():
    assert symbolic.WORK_SECONDS == 3 * symbolic.DIFFERENTIATE_SECONDS
    assert symbolic.DESCENT_SECONDS >= symbolic.WORK_SECONDS
    message = symbolic.over_budget("evaluating it", "simplify it", seconds=7)
    assert "exceeds the 7-second limit" in message and message.startswith("evaluating it")


def test_an_enclosing_budget_that_runs_out_first_names_itself_not_the_inner_limit():
    import time

    from dlcalc.errors import DlcalcError

    with pytest.raises(DlcalcError, match="outer budget"):
        with symbolic.time_limit(0.05, "outer budget"):
            with symbolic.time_limit(5.0, "inner step"):
                time.sleep(2)
    with pytest.raises(DlcalcError, match="inner step"):
        with symbolic.time_limit(5.0, "outer budget"):
            with symbolic.time_limit(0.05, "inner step"):
                time.sleep(2)


def test_activate_with_an_expression_at_many_x_values_stops_at_the_budget(dl, monkeypatch):
    monkeypatch.setattr(symbolic, "WORK_SECONDS", 0.001)
    xs = [str(i / 100) for i in range(4096)]
    error = one_error(dl("activate", "x*tanh(x+1)*tanh(x+2)", *xs, "--deriv"))
    assert "evaluating the expression at 4,096 x values" in error
    assert "exceeds the 0.001-second limit" in error


def test_activate_with_a_registry_function_needs_no_budget(dl, monkeypatch):
    monkeypatch.setattr(symbolic, "WORK_SECONDS", 0.001)
    run = dl("activate", "tanh", "0", "1")
    assert run.code == 0 and [float(v) for v in run.words] == [0.0, float(np.tanh(1.0))]


def test_props_of_expressions_share_one_budget(dl, monkeypatch):
    monkeypatch.setattr(symbolic, "WORK_SECONDS", 0.001)
    error = one_error(dl("activate", "--props", "sigmoid", "x*tanh(x)"))
    assert "comparing 2 functions" in error and "0.001-second limit" in error


def test_props_compares_at_most_max_properties_functions_and_says_so_at_once(dl):
    error = one_error(dl("activate", "--props", *["tanh"] * (reports.MAX_PROPERTIES + 1)))
    assert f"at most {reports.MAX_PROPERTIES}" in error
    assert f"{reports.MAX_PROPERTIES + 1} functions" in error


def test_a_descent_stops_at_its_budget(dl, monkeypatch):
    monkeypatch.setattr(symbolic, "DESCENT_SECONDS", 0.001)
    error = one_error(dl("grad", "x**2 + y**2", "--at", "x=1", "y=2", "--descend", "10000000"))
    assert "descending 10,000,000 steps" in error and "0.001-second limit" in error


def test_grad_names_its_budget(dl, monkeypatch):
    # (dlcalc.derivation copies DIFFERENTIATE_SECONDS when first imported: import it first, so
    # that the shrunken value does not outlive this test there.)
    import dlcalc.derivation  # noqa: F401

    monkeypatch.setattr(symbolic, "DIFFERENTIATE_SECONDS", 0.001 / 3)
    run = dl("grad", "x*sin(x)*exp(x)*tanh(x)", "--at", "x=1", "--hessian", "--check")
    assert_user_error(run, "-second limit")


# ---------------------------------------------------------------- --explain of long vectors


@pytest.mark.parametrize("args", [
    ["softmax", "--explain"],
    ["softmax", "--explain", "--jacobian"],
    ["ce", "--explain", "--target", "0"],
    ["ce", "--explain", "--grad", "--target", "0"],
    ["ce", "--explain", "--binary", "--target", "1", "0", "1", "0"],
    ["kl", "--explain", "--normalize", "--q", "1", "1", "1", "1"],
    ["activate", "relu", "--explain"],
    ["activate", "x*sigmoid(x)", "--explain"],
    ["kl", "--explain", "--gaussian", "0.1,0.2,0.3,0.4", "1,1,1,1"],
], ids=lambda args: "-".join(a.strip("-") for a in args[:3]))
def test_explain_of_a_vector_longer_than_the_limit_is_refused_at_once(dl, monkeypatch, args):
    monkeypatch.setattr(explain, "MAX_EXPLAINED", 3)
    values = ["0.1", "0.2", "0.3", "0.4"]
    command, rest = args[0], args[1:]
    if command == "activate":
        run = dl(command, rest[0], *values, *rest[1:])
    elif "--gaussian" in rest:
        run = dl(command, *rest)
    else:
        run = dl(command, *values, *rest)
    error = one_error(run)
    assert "at most 3" in error and "4" in error, error


def test_explain_at_the_limit_still_explains(dl, monkeypatch):
    monkeypatch.setattr(explain, "MAX_EXPLAINED", 3)
    run = dl("softmax", "--explain", "1", "2", "3")
    assert run.code == 0, run.err
    assert "log Σ_j e^(z_j)" in run.out


def test_explain_refuses_a_long_stdin_line_by_number_and_answers_the_others(dl, monkeypatch):
    monkeypatch.setattr(explain, "MAX_EXPLAINED", 3)
    run = dl("softmax", "--explain", stdin=b"1 2\n1 2 3 4\n")
    assert run.code == 2
    assert [line for line in run.err.splitlines() if line.startswith("error:")] == [
        f"error: line 2: a worked derivation covers at most 3 logits one by one; this one has 4 "
        "(ask for the numbers alone)"]
    assert "Both ways give the same numbers" in run.out


def test_the_documented_explain_limit_is_in_security_md():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "SECURITY.md").read_text(encoding="utf-8")
    assert f"{explain.MAX_EXPLAINED:,}" in text
    assert f"{reports.MAX_PROPERTIES}" in text
    assert f"{output.MATRIX_SHOWN}" in text
    assert f"{symbolic.WORK_SECONDS:g} s" in text


# ---------------------------------------------------------------- big matrices in tables


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    """diag(p) − p pᵀ, the closed form (independent of dlcalc's core)."""
    p = np.exp(z - z.max())
    p /= p.sum()
    return np.diag(p) - np.outer(p, p)


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex"])
def test_a_jacobian_larger_than_the_display_is_abbreviated_with_a_note(dl, fmt):
    n = output.MATRIX_SHOWN + 5
    z = np.linspace(-2, 2, n)
    run = dl("softmax", "--jacobian", "-f", fmt, *map(repr, z.tolist()))
    assert run.code == 0, run.err
    assert f"{n:,} × {n:,}".replace("×", "x" if fmt == "latex" else "×") in run.out
    assert "plain, csv and json print every entry" in run.out
    gap = {"table": "⋮", "markdown": r"\vdots", "latex": r"\vdots"}[fmt]
    assert gap in run.out
    if fmt == "table":  # the title, the column labels, MATRIX_SHOWN rows, the gap, the note
        lines = run.out.split("Jacobian", 1)[1].splitlines()
        assert len(lines) == 1 + 1 + output.MATRIX_SHOWN + 1 + 1
        half = output.MATRIX_SHOWN // 2
        last = lines[-2].split()  # the last row: its label, 10 values, the gap, 10 values
        assert last[0] == str(n - 1) and last[half + 1] == "…"
        shown = [float(v) for v in last[1:half + 1] + last[half + 2:]]
        expected = softmax_jacobian(z)[n - 1]
        assert np.allclose(shown, np.r_[expected[:half], expected[-half:]], rtol=1e-5, atol=0)


def test_a_small_jacobian_is_shown_whole_without_a_note(dl):
    run = dl("softmax", "--jacobian", "-f", "table", "1", "2", "3")
    assert run.code == 0 and "print every entry" not in run.out and "⋮" not in run.out


@pytest.mark.parametrize("fmt", ["plain", "csv", "json"])
def test_plain_csv_and_json_keep_every_entry_of_a_big_jacobian(dl, fmt):
    n = output.MATRIX_SHOWN + 5
    z = np.linspace(-2, 2, n)
    run = dl("softmax", "--jacobian", "-f", fmt, *map(repr, z.tolist()))
    assert run.code == 0, run.err
    assert "print every entry" not in run.out
    numbers = re.findall(r"-?\d+\.\d+(?:e-?\d+)?", run.out)
    assert len(numbers) >= n * n


def test_explain_of_a_big_jacobian_shows_the_first_and_last_rows_and_the_matrix_keeps_all(dl):
    from dlcalc import symbolic_derivations

    shown = symbolic_derivations.EXPLAINED_ROWS
    n = shown + 5
    z = np.linspace(-3, 3, n)
    run = dl("softmax", "--explain", "--jacobian", "-f", "json", *map(repr, z.tolist()))
    assert run.code == 0, run.err
    import json

    found = json.loads(run.out)
    rows = [s["text"] for s in found["steps"] if s["text"].startswith("row ")]
    assert [int(r.split(":")[0][4:]) for r in rows] == (
        list(range(shown // 2)) + list(range(n - shown // 2, n)))
    assert any("left out" in s["text"] for s in found["steps"])
    assert np.allclose(np.array(found["jacobian"], dtype=float), softmax_jacobian(z),
                       rtol=1e-12, atol=1e-300)


def test_an_abbreviated_matrix_on_an_ascii_stdout_has_no_question_marks(dl_process):
    run = dl_process("softmax", "--jacobian", "-f", "table", *map(str, range(output.MATRIX_SHOWN + 5)),
                     env={"PYTHONIOENCODING": "ascii"})
    assert run.returncode == 0, run.stderr
    text = run.stdout.decode("ascii")
    assert "?" not in text and "25 x 25" in text


# ---------------------------------------------------------------- found by the fuzz campaign


def test_props_of_a_huge_constant_is_that_constant_not_an_unbounded_range(dl):
    # A constant beyond 1e100 was taken for a limit of ±∞: the range (−∞, −1e+300].
    run = dl("activate", "--props", "-1e300", "-5", "--json")
    assert run.code == 0, run.err
    import json

    found = json.loads(run.out)["properties"]
    for entry, value in zip(found, (-1e300, -5.0)):
        assert entry["output_range"]["low"] == value and entry["output_range"]["high"] == value
