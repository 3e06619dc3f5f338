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
    # no moving variable in --at: the start points come from stdin, here empty
    assert_user_error(dl("grad", "x^2 + y^2", "--descend", "5"), "--at", "no numbers")
    assert_user_error(dl("grad", "x^2 + y^2", "--at", "x=1", "--descend", "5"), "--at", "no numbers")
    # some moving variables in --at: the point on the command line, incomplete
    assert_user_error(dl("grad", "x^2 + y^2", "--wrt", "x,y", "--at", "x=1", "--descend", "5"), "'y'")


# ---------------------------------------------------------------- batch: a start point per stdin line

STARTS = [(1.0, 1.0), (-1.0, 2.0), (0.25, -3.5), (0.0, 0.0)]


def _stdin(points) -> str:
    return "".join(" ".join(repr(v) for v in p) + "\n" for p in points)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_batch_plain_is_the_one_shot_final_line(dl, optimizer):
    run = dl("grad", "x^2 + 3*y^2", "--wrt", "x,y", "--descend", "7", "--optimizer", optimizer,
             stdin=_stdin(STARTS))
    assert run.code == 0 and run.err == ""
    lines = run.out.splitlines()
    assert len(lines) == len(STARTS)
    for line, (x, y) in zip(lines, STARTS):
        alone = dl("grad", "x^2 + 3*y^2", "--at", f"x={x!r}", f"y={y!r}", "--descend", "7",
                   "--optimizer", optimizer)
        assert line == alone.out.splitlines()[-1]


def test_batch_sgd_on_a_bowl_is_the_closed_form(dl):
    # SGD on x² + 3y²: x_k = x₀(1 − 2·lr)^k, y_k = y₀(1 − 6·lr)^k (lr 0.125: exact binary fractions)
    run = dl("grad", "x^2 + 3*y^2", "--descend", "5", "--lr", "0.125", stdin=_stdin(STARTS))
    for (x, y), (xk, yk, f) in zip(STARTS, map(floats, run.out.splitlines())):
        assert (xk, yk) == (x * 0.75 ** 5, y * 0.25 ** 5)
        assert f == xk ** 2 + 3 * yk ** 2


def test_batch_moves_wrt_in_its_order_and_holds_at_as_data(dl):
    loss = "(w1*x1 + w2*x2 - y)^2"
    run = dl("grad", loss, "--wrt", "w2,w1", "--at", "x1=1", "x2=2", "y=3", "--descend", "4",
             "--lr", "0.05", "--json", stdin="0 0.5\n-1 2\n")
    assert run.code == 0
    objects = [strict_json(line) for line in run.out.splitlines()]
    assert [o.pop("line") for o in objects] == [1, 2]
    for found, (w2, w1) in zip(objects, [(0, 0.5), (-1, 2)]):
        alone = dl("grad", loss, "--wrt", "w2,w1", "--at", f"w1={w1}", f"w2={w2}", "x1=1", "x2=2",
                   "y=3", "--descend", "4", "--lr", "0.05", "--json")
        assert found == strict_json(alone.out)
        assert found["variables"] == ["w2", "w1"] and found["data"] == {"x1": 1, "x2": 2, "y": 3}


def test_batch_without_wrt_moves_what_at_does_not_name_sorted(dl):
    run = dl("grad", "(b - a)^2 + c", "--at", "c=1", "--descend", "2", "--json", stdin="1 0\n")
    found = strict_json(run.out)
    assert found["variables"] == ["a", "b"] and found["data"] == {"c": 1}
    assert found["trajectory"]["a"][0] == 1 and found["trajectory"]["b"][0] == 0


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "latex"])
def test_batch_every_format(dl, fmt):
    run = dl("grad", "x^2 + 3*y^2", "--descend", "3", "-f", fmt, stdin=_stdin(STARTS[:2]))
    assert run.code == 0 and run.out.strip()


def test_batch_bad_lines_are_named_and_the_others_processed(dl):
    run = dl("grad", "x^2 + 3*y^2", "--descend", "3", stdin="1 1\n2\n1 inf\n1 2 ; 3\n-1 2\n")
    assert run.code == 2
    alone = [dl("grad", "x^2 + 3*y^2", "--at", f"x={x}", f"y={y}", "--descend", "3").out.splitlines()[-1]
             for x, y in [(1, 1), (-1, 2)]]
    assert run.out.splitlines() == alone
    errors = run.err.splitlines()
    assert errors[0].startswith("error: line 2: ") and "x, y" in errors[0]
    assert errors[1].startswith("error: line 3: ") and "finite" in errors[1]
    assert errors[2].startswith("error: line 4: ") and "';'" in errors[2]
    assert len(errors) == 3


def test_batch_divergence_warns_naming_the_line(dl):
    run = dl("grad", "x^4", "--descend", "100", "--lr", "2", stdin="0.1\n3\n")
    assert run.code == 0 and len(run.out.splitlines()) == 2
    assert "warning: line 2: the descent stopped at step" in run.err and "lr too large?" in run.err
    assert "line 1" not in run.err


@pytest.mark.parametrize("args,fragment", [
    (["--optimizer", "adma"], "did you mean 'adam'"),
    (["--wrt", "x,z"], "'z' is not a variable"),
    (["--at", "z=1"], "z"),
    (["--dtype", "float32"], "float64"),
])
def test_batch_command_errors_come_before_any_line(dl, args, fragment):
    assert_user_error(dl("grad", "x^2 + y^2", "--descend", "5", *args, stdin="1 1\n"), fragment)
