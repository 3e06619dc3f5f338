"""`--json` in batch mode without a Report per line prints exactly what the per-line path does.

The oracle is dlcalc's per-line JSON: each line's `Report` rendered by `dumps_json` (json.dumps
of `json_ready`). Every case runs three ways — the whole fast path (`runner.FAST` and
`runner.JSON_FAST`: each group's JSON written at once from the command's `json_rows`), the fast
parser with one Report per line (`JSON_FAST` off), and everything line by line (`FAST` off) —
and stdout, stderr and the exit code must be identical, byte for byte. Inputs mix ordinary
numbers with nan, ±inf, huge, tiny and subnormal ones, bad lines, blank and comment lines and
lines of other lengths; the runs also check that the fast writer was used and never disagreed
with a Report.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import _run_in_process, strict_json
from dlcalc import batch, output, runner
from dlcalc.number_text import dumps_json, json_number_rows
from dlcalc.reports import Rows


class Recorder:
    """Counts what the fast JSON writer did during a run."""

    def __init__(self, monkeypatch):
        self.written = self.declined = self.disagreed = 0
        lines, agrees = output.json_batch_lines, runner._first_line_agrees

        def counting_lines(*args, **kwargs):
            text = lines(*args, **kwargs)
            if text is None:
                self.declined += 1
            else:
                self.written += 1
            return text

        def counting_agrees(*args, **kwargs):
            same = agrees(*args, **kwargs)
            self.disagreed += not same
            return same

        monkeypatch.setattr(output, "json_batch_lines", counting_lines)
        monkeypatch.setattr(runner, "_first_line_agrees", counting_agrees)


def three_ways(args: list[str], stdin: bytes):
    """The run on the fast JSON path, checked equal to the per-line runs."""
    saved = runner.FAST, runner.JSON_FAST
    runs = []
    try:
        for fast, json_fast in ((True, True), (True, False), (False, False)):
            runner.FAST, runner.JSON_FAST = fast, json_fast
            runs.append(_run_in_process(*args, stdin=stdin))
    finally:
        runner.FAST, runner.JSON_FAST = saved
    fast = runs[0]
    for other in runs[1:]:
        assert fast.out == other.out, (args, stdin[:300])
        assert fast.err == other.err, (args, stdin[:300])
        assert fast.code == other.code, (args, stdin[:300])
    return fast


@pytest.fixture
def same(monkeypatch):
    """`same(args, stdin)`: the three runs agree, and every JSON line came from the fast writer
    (it never declined nor disagreed with a line's Report); with `per_line`, none did (a case
    the fast writer does not take)."""

    def check(args: list[str], stdin: bytes, per_line: bool = False):
        recorder = Recorder(monkeypatch)
        run = three_ways(args, stdin)
        assert (recorder.declined, recorder.disagreed) == (0, 0), args
        wrote_json = any(line.strip() for line in run.out.splitlines())
        assert recorder.written > 0 if wrote_json and not per_line else recorder.written == 0, args
        return run

    return check


# ---------------------------------------------------------------- inputs

awkward = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, 1e-46,
                           1e-5, 9.999999999999999e-05, 1e-4, 0.1, 1 / 3, 1.0, 2.0, 100.0,
                           123456789.0, 1e16, 9999999999999998.0, 3.4e38, 3.5e38, 1e300,
                           -1e300, 1.7976931348623157e308, float("inf"), float("-inf"),
                           float("nan")])
numbers = st.one_of(st.floats(-40, 40), st.floats(-40, 40), awkward,
                    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True))
positive = st.one_of(st.floats(1e-3, 5.0), st.sampled_from([5e-324, 1e-300, 1e-5, 1.0, 1e300]))
odd_lines = st.sampled_from(["", "# a comment", "1 2 abc", "1,,2", "[1, 2]", "1 2 ;", "; 3",
                             "   ", "1\r2", "0.5"])


def text(values) -> str:
    return " ".join(repr(float(v)) for v in values)


@st.composite
def batch_text(draw, operand: str | None = None, values=numbers) -> bytes:
    """Lines of n numbers (and, after ';', an operand of the kind named); a few odd lines."""
    n = draw(st.integers(1, 5))
    lines = []
    for _ in range(draw(st.integers(1, 25))):
        line = text(draw(st.lists(values, min_size=n, max_size=n)))
        if operand == "index":
            line += f" ; {draw(st.integers(-1, n))}"  # -1 and n are out of range: error lines
        elif operand == "probs":
            line += " ; " + text(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
        elif operand == "labels":
            line += " ; " + text(draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, 2.0]),
                                               min_size=n, max_size=n)))
        elif operand == "positive":
            line += " ; " + text(draw(st.lists(positive, min_size=n, max_size=n)))
        elif operand == "any":
            line += " ; " + text(draw(st.lists(numbers, min_size=n, max_size=n)))
        lines.append(line)
    for at, odd in draw(st.lists(st.tuples(st.integers(0, len(lines)), odd_lines), max_size=3)):
        lines.insert(at, odd)
    return ("\n".join(lines) + "\n").encode()


settings_ = settings(max_examples=10, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])

DTYPES = [[], ["--dtype", "float32"]]


# ---------------------------------------------------------------- softmax

@settings_
@given(batch_text())
@example(b"2 1 0.1\n1e-05 3 1e+20\n-0.0 0 5e-324\n")
@example(b"nan 1 2\ninf 1 2\n1 2 3\n")
def test_softmax_json(same, data):
    for extra in (["-t", "0.5", "--log"], ["--keep-lines"], ["-t", "1e-300"], ["-q"]):
        for dtype in DTYPES:
            same(["softmax", "--json", *extra, *dtype], data)


def test_softmax_json_takes_the_fast_writer(same):
    data = b"2 1 0.1\n1e-05 3 1e+20\n-0.0 0 5e-324\n0.5 nan 1\n1 inf 2\n"
    for dtype in DTYPES:
        run = same(["softmax", "--json", *dtype], data)
        assert [strict_json(line)["line"] for line in run.out.splitlines()] == [1, 2, 3, 4, 5]
        assert "warning: line 4: z[1] = nan: softmax is nan" in run.err


# ---------------------------------------------------------------- activate

@settings_
@given(batch_text())
@example(b"-1 0 1\n1e-300 -1e300 nan\n")
def test_activate_json(same, data):
    for args in (["relu"], ["gelu", "--deriv"], ["sigmoid", "--deriv"], ["leaky_relu", "--alpha", "0.1"],
                 ["elu", "-p", "alpha=0.5", "--deriv"], ["softplus"], ["exp(x)/(1+x^2)", "--deriv"]):
        for dtype in DTYPES:
            same(["activate", *args, "--json", *dtype], data)


def test_activate_json_takes_the_fast_writer(same):
    data = b"-1 0 1\n1000 -1000 0.5\n2 nan 3\n"
    for args in (["gelu", "--deriv"], ["leaky_relu", "--alpha", "0.1"], ["exp(x)", "--deriv"]):
        for dtype in DTYPES:
            same(["activate", *args, "--json", *dtype], data)
    run = same(["activate", "exp(x)", "--json"], b"1 2\n1000 2\n-1000 0\n")
    assert run.err == "warning: line 2: the result contains infinite values\n"
    assert strict_json(run.out.splitlines()[1])["y"][0] == "inf"


# ---------------------------------------------------------------- ce

@settings_
@given(batch_text("index"))
@example(b"2 1 0.1 ; 0\n0 3 ; 1\n1000 -1000 ; 1\n1 2 3 ; 3\n")
def test_ce_json_with_class_indices(same, data):
    for extra in ([], ["--grad"], ["--label-smoothing", "0.1", "--base", "2"],
                  ["-t", "2", "--scale-t2"], ["--keep-lines"]):
        for dtype in DTYPES:
            same(["ce", "--json", *extra, *dtype], data)


@settings_
@given(batch_text("index", values=st.floats(0, 1)))
def test_ce_json_with_probabilities_as_input(same, data):
    for extra in ([], ["--normalize", "--grad"]):
        for dtype in DTYPES:
            same(["ce", "--probs", "--json", *extra, *dtype], data)


@settings_
@given(batch_text("probs"))
@example(b"2 1 0.1 ; 0.7 0.2 0.1\n1 1 ; 0 0\n1 1 ; 0.3 0.3\n")
def test_ce_json_with_probability_targets(same, data):
    for extra in ([], ["--normalize"], ["--label-smoothing", "0.2", "--grad"], ["-t", "3"]):
        for dtype in DTYPES:
            same(["ce", "--json", *extra, *dtype], data)


@settings_
@given(batch_text("labels"))
def test_binary_ce_json(same, data):
    for extra in ([], ["--grad", "--base", "2"]):
        for dtype in DTYPES:
            same(["ce", "--binary", "--json", *extra, *dtype], data)


@settings_
@given(batch_text("labels", values=st.floats(0, 1)))
def test_binary_ce_json_of_probabilities(same, data):
    same(["ce", "--binary", "--probs", "--json"], data)


def test_ce_json_takes_the_fast_writer(same):
    indices = b"2 1 0.1 ; 0\n0 3 1 ; 2\n1000 -1000 0 ; 1\n1 2 3 ; 7\n"
    probs = b"2 1 0.1 ; 0.7 0.2 0.1\n0 3 1 ; 0 0 2\n"
    binary = b"2 -1 0.5 ; 1 0 1\n0 0 0 ; 1 1 1\n"
    for dtype in DTYPES:
        same(["ce", "--json", *dtype], indices)
        same(["ce", "--json", "--grad", "-t", "2", "--scale-t2", *dtype], indices)
        same(["ce", "--json", "--normalize", *dtype], probs)
        same(["ce", "--json", "--binary", *dtype], binary)
        same(["ce", "--json", "--target", "1"], b"2 1 0.1\n0 3 1\n")
    run = same(["ce", "--json", "--keep-lines"], indices)
    assert run.code == 2 and run.out.splitlines()[3] == "" and "error: line 4: " in run.err


# ---------------------------------------------------------------- kl

@settings_
@given(batch_text("positive", values=positive))
def test_kl_json(same, data):
    for extra in ([], ["--normalize", "--symmetric"], ["--base", "2"]):
        for dtype in DTYPES:
            same(["kl", "--json", *extra, *dtype], data)


@settings_
@given(batch_text("any"))
def test_kl_json_of_logits(same, data):
    for extra in (["--logits"], ["--logits", "--symmetric", "-t", "2", "--scale-t2"]):
        for dtype in DTYPES:
            same(["kl", "--json", *extra, *dtype], data)


def test_kl_json_takes_the_fast_writer(same):
    pq = b"0.2 0.8 ; 0.5 0.5\n0.1 0.2 0.7 ; 0.3 0.3 0.4\n1 0 ; 0.5 0.5\n"
    for dtype in DTYPES:
        same(["kl", "--json", *dtype], pq)
        same(["kl", "--json", "--symmetric", "--normalize", *dtype], pq)
        same(["kl", "--json", "--logits", "-t", "4", "--scale-t2", *dtype], pq)
        same(["kl", "--json", "--q", "0.5", "0.5", *dtype], b"0.2 0.8\n0.9 0.1\n")


# ---------------------------------------------------------------- kl --gaussian

@settings_
@given(batch_text("positive", values=st.one_of(st.floats(-5, 5), awkward)))
def test_gaussian_kl_json(same, data):
    for extra in ([], ["--logvar", "--base", "2"], ["--q-gaussian", "0.5", "2"]):
        for dtype in DTYPES:
            same(["kl", "--gaussian", "-", "-", "--json", *extra, *dtype], data)


def test_gaussian_kl_json_takes_the_fast_writer(same):
    data = b"0.5 -1 ; 0.8 1.2\n0 ; 1\n1 2 ; 3 4\n0.5 ; 0\n"
    for dtype in DTYPES:
        run = same(["kl", "--gaussian", "-", "-", "--json", *dtype], data)
        assert run.code == 2 and len(run.out.splitlines()) == 3


# ---------------------------------------------------------------- what stays per line

def test_json_with_steps_or_a_jacobian_is_written_from_reports(same):
    data = b"2 1 0.1\n0 3 1\n"
    same(["softmax", "--json", "--jacobian"], data, per_line=True)
    same(["softmax", "--json", "--explain"], data, per_line=True)
    same(["activate", "tanh", "--json", "--explain"], data, per_line=True)
    same(["ce", "--json", "--explain"], b"2 1 0.1 ; 0\n", per_line=True)
    same(["kl", "--json", "--explain"], b"0.2 0.8 ; 0.5 0.5\n", per_line=True)


def test_descent_json(same):
    starts = b"1 2\n-1 0.5\nnan 1\n1e-300 -0.0\n"
    run = same(["grad", "x^2 + 3*y^2", "--descend", "5", "--lr", "0.125", "--json"], starts)
    assert run.code == 2 and len(run.out.splitlines()) == 3
    same(["grad", "(x - a)^2 + y^4", "--at", "a=2", "--wrt", "x,y", "--descend", "7", "--every", "3",
          "--optimizer", "adam", "--json"], starts)
    # variables named like the trajectory's own keys: the same dict, the same JSON
    same(["grad", "(f - 1)^2 + iteration^2", "--descend", "2", "--json"], b"1 2\n0.5 1\n")


def test_descent_json_of_paths_that_stop_at_different_steps_is_written_from_reports(same):
    run = same(["grad", "exp(x^2)", "--descend", "5", "--lr", "1", "--json"], b"1\n30\n2\n",
               per_line=True)
    assert [strict_json(line)["stopped_at"] for line in run.out.splitlines()] == [2, 0, 1]
    same(["grad", "exp(x^2)", "--descend", "5", "--lr", "1", "--json"], b"30\n31\n")  # all at 0


def test_the_writer_declines_text_that_is_not_ascii():
    """Written through the text layer instead (which may have to stand in ASCII for it)."""
    fields = [("name", "σ"), ("x", Rows(np.ones((2, 1))))]
    assert output.json_batch_lines(fields, [1, 2], 0, 2) is None
    fields[0] = ("name", "s")
    assert output.json_batch_lines(fields, [1, 2], 0, 2) == (
        b'{"line": 1, "name": "s", "x": [1.0]}\n{"line": 2, "name": "s", "x": [1.0]}\n')


def test_a_large_batch_across_blocks_and_parts(same, monkeypatch):
    """Many blocks and JSON parts, bad and warning lines among them, lines in order."""
    monkeypatch.setattr(batch, "CHUNK_BYTES", 8192)
    monkeypatch.setattr(runner, "JSON_ROWS", 64)
    rng = np.random.default_rng(11)
    z = rng.standard_normal((2000, 6)) * 10.0 ** rng.integers(-6, 6, (2000, 6))
    lines = [text(row) for row in z]
    for at in range(5, 2000, 37):
        lines[at] = "nan " + " ".join(lines[at].split()[1:])
    for at in range(11, 2000, 101):
        lines[at] = "1 2 x"
    data = ("\n".join(lines) + "\n").encode()
    run = same(["softmax", "--json"], data)
    assert run.code == 2
    assert "more lines like it" in run.err
    targets = [f"{line} ; {k}" for line, k in zip(lines, rng.integers(0, 7, 2000))]  # 6 is bad
    same(["ce", "--json", "--grad"], ("\n".join(targets) + "\n").encode())
    same(["activate", "gelu", "--json", "--keep-lines"], data)


# ---------------------------------------------------------------- the writers alone

@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(numbers, min_size=3, max_size=3), min_size=1, max_size=10),
       st.sampled_from(["float64", "float32"]))
@example([[1e-5, 1e16, -0.0], [float("nan"), float("inf"), float("-inf")]], "float64")
@example([[3.5e38, 1e-46, 0.1]], "float32")
def test_json_number_rows_are_dumps_json_of_each_row(rows, dtype):
    matrix = np.array(rows, dtype=np.float64)
    expected = [dumps_json({"v": row}, dtype)[7:-2].encode() for row in matrix]
    assert json_number_rows(matrix, dtype) == expected
    column = matrix[:, 0]
    assert json_number_rows(column, dtype) == [dumps_json({"v": v}, dtype)[6:-1].encode()
                                               for v in column]
    if dtype == "float64":
        with np.errstate(over="ignore"):
            single = matrix.astype(np.float32)  # float32 arrays in float64 output: exact values
        assert json_number_rows(single) == [dumps_json({"v": row})[7:-2].encode() for row in single]


def test_json_number_rows_of_random_bit_patterns():
    rng = np.random.default_rng(5)
    matrix = rng.integers(0, 2**64, size=(3000, 7), dtype=np.uint64).view(np.float64)
    for dtype in ("float64", "float32"):
        got = json_number_rows(matrix, dtype)
        assert got == [dumps_json({"v": row}, dtype)[7:-2].encode() for row in matrix]
        back = [json.loads(b"[" + line + b"]") for line in got[:50]]
        assert all(len(row) == 7 for row in back)


def test_json_number_rows_writes_integers_and_declines_the_rest():
    assert json_number_rows(np.array([3, -1])) == [b"3", b"-1"]
    assert json_number_rows(np.array([[1, 2], [3, 4]], dtype=np.uint8)) == [b"1, 2", b"3, 4"]
    assert json_number_rows(np.array([True, False])) is None
    assert json_number_rows(np.array(["a"])) is None
    assert json_number_rows(np.zeros((2, 0))) is None
    assert json_number_rows(np.zeros((1, 1, 1))) is None
