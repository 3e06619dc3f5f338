"""`dlcalc grad EXPR --at ... --descend N`: the trajectory in every format, and its errors."""

from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import assert_user_error, floats, strict_json

NOTES_LOSS = ["(w1*x1 + w2*x2 - y)^2", "--wrt", "w1,w2", "--at", "w1=0", "w2=0", "x1=1", "x2=2", "y=3"]


def test_plain_is_one_line_per_iteration_variables_then_f(dl):
    run = dl("grad", *NOTES_LOSS, "--descend", "3", "--lr", "0.05")
    assert run.code == 0, run.err
    rows = [floats(line) for line in run.out.splitlines()]
    assert len(rows) == 4 and rows[0] == [0, 0, 9]
    # SGD by hand: ∇L = 2r·(x1, x2) with r = w1·x1 + w2·x2 − y; at 0: (−6, −12); lr 0.05
    assert rows[1][:2] == [pytest.approx(0.3, rel=1e-15), pytest.approx(0.6, rel=1e-15)]
    for w1, w2, f in rows:
        assert f == pytest.approx((w1 + 2 * w2 - 3) ** 2, rel=1e-12, abs=1e-300)


def test_json_has_the_whole_trajectory_with_the_optimizer_and_settings(dl):
    data = strict_json(dl("grad", *NOTES_LOSS, "--descend", "10", "--optimizer", "adam",
                          "-p", "betas=0.8,0.99", "--every", "5", "--json").out)
    assert data["optimizer"] == "adam" and data["settings"]["betas"] == [0.8, 0.99]
    assert data["settings"]["lr"] == 0.1 and data["data"] == {"x1": 1, "x2": 2, "y": 3}
    assert data["trajectory"]["iteration"] == [0, 5, 10]
    assert set(data["trajectory"]) == {"iteration", "w1", "w2", "f", "grad_norm"}


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "latex"])
def test_every_format_renders_the_trajectory(dl, fmt):
    run = dl("grad", "x^2 + 3*y^2", "--at", "x=1", "y=1", "--descend", "4", "--optimizer", "momentum",
             "-f", fmt)
    assert run.code == 0 and run.out.strip()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(run.out)))
        assert [int(r["iteration"]) for r in rows] == [0, 1, 2, 3, 4]
        assert {"iteration", "x", "y", "f", "grad_norm"} <= set(rows[0])


def test_default_moves_every_variable_wrt_chooses(dl):
    everything = strict_json(dl("grad", "(a - b)^2", "--at", "a=1", "b=0", "--descend", "1", "--json").out)
    assert everything["variables"] == ["a", "b"]
    only_a = strict_json(dl("grad", "(a - b)^2", "--at", "a=1", "b=0", "--wrt", "a", "--descend", "1",
                            "--json").out)
    assert only_a["variables"] == ["a"] and only_a["data"] == {"b": 0}


def test_divergence_warns_naming_the_step(dl):
    run = dl("grad", "x^4", "--at", "x=3", "--descend", "100", "--lr", "2")
    assert run.code == 0
    assert "warning: the descent stopped at step" in run.err and "lr too large?" in run.err


@pytest.mark.parametrize("args,fragment", [
    (["--descend", "0"], "--descend 0"),
    (["--descend", "5", "--lr", "-1"], "--lr -1"),
    (["--descend", "5", "--optimizer", "adma"], "did you mean 'adam'"),
    (["--descend", "5", "--optimizer", "adam", "-p", "momentum=0.9"], "no parameter 'momentum'"),
    (["--descend", "5", "-p", "momentum"], "NAME=VALUE"),
    (["--lr", "0.1"], "go with --descend"),
    (["--descend", "5", "--every", "0"], "--every 0"),
    (["--descend", "5", "--hessian"], "--hessian does not go with --descend"),
    (["--descend", "5", "--optimizer", "sgd", "--optimizer", "adam"], "one --optimizer"),
    (["--descend", "5", "--dtype", "float32"], "float64"),
])
def test_errors(dl, args, fragment):
    assert_user_error(dl("grad", "x^2 + y^2", "--at", "x=1", "y=1", *args), fragment)


def test_a_start_point_is_required_and_complete(dl):
    assert_user_error(dl("grad", "x^2 + y^2", "--descend", "5"), "--at")
    assert_user_error(dl("grad", "x^2 + y^2", "--at", "x=1", "--descend", "5"), "'y'")
