"""float32 as a first-class dtype (issue #15 item 3): warnings name the dtype used, grad
--dtype float32 rounds its float64 results and says when that overflows, and no Python or
NumPy warning text reaches stderr in any mode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import strict_json

EXTREMES = ["1e38", "-3.4e38", "3.4028235e38", "1e-45", "-1e-40", "inf", "-inf", "nan", "0", "-0"]

COMMANDS = [
    ["softmax"], ["softmax", "--log"], ["softmax", "-t", "1e-30"], ["softmax", "-t", "1e30"],
    ["softmax", "--jacobian"], ["softmax", "--explain"],
    ["activate", "sigmoid", "--deriv"], ["activate", "exp(x)"], ["activate", "x*sigmoid(x)", "--deriv"],
    ["activate", "softplus"], ["activate", "gelu", "--deriv"], ["activate", "log(x)"],
    ["ce", "--target", "0"], ["ce", "--probs", "--target", "0"], ["ce", "--binary", "--target", "1", "0"],
    ["kl", "--q", "0.5", "0.5"], ["kl", "--logits", "--q", "1", "2"],
]


def _numeric_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line]


def _assert_clean(run, args):
    for line in _numeric_lines(run.err):
        assert line.startswith(("warning: ", "error: ")), (args, line)
        for numpy_words in ("encountered in", "RuntimeWarning", "DeprecationWarning", ".py:"):
            assert numpy_words not in line, (args, line)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_no_python_warning_text_reaches_stderr(dl, command, dtype):
    pairs = list(itertools.combinations(EXTREMES, 2))
    for fmt in ("plain", "json", "table"):
        stdin = "".join(f"{a} {b}\n" for a, b in pairs)
        if command[0] == "ce" and "--binary" not in command:
            stdin = "".join(f"{a} {b}\n" for a, b in pairs)
        run = dl(*command, "--dtype", dtype, "-f", fmt, stdin=stdin)
        _assert_clean(run, (command, dtype, fmt))
        one = dl(*command, *pairs[3], "--dtype", dtype, "-f", fmt)
        _assert_clean(one, (command, dtype, fmt, "one-shot"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expression,at", [
    ("exp(x)", "x=100"), ("exp(x)", "x=1000"), ("exp(-x)", "x=200"), ("x**40", "x=1e10"),
    ("1/x", "x=1e-40"), ("log(x)", "x=0"), ("sqrt(x)*y", "x=1e38 y=1e38"),
])
def test_grad_extremes_speak_in_warnings(dl, expression, at, dtype):
    for fmt in ("plain", "json", "table"):
        run = dl("grad", expression, "--at", *at.split(), "--dtype", dtype, "-f", fmt)
        _assert_clean(run, (expression, at, dtype, fmt))


def test_grad_in_float32_rounds_the_float64_result_and_says_when_it_overflows(dl):
    run = dl("grad", "exp(x)", "--at", "x=100", "--dtype", "float32")
    assert run.code == 0 and run.out.split() == ["inf"]
    warnings = run.err.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: ") and "float32" in warnings[0]
    # in float64 the same value is finite and nothing is said
    wide = dl("grad", "exp(x)", "--at", "x=100")
    assert wide.err == "" and float(wide.out) == pytest.approx(np.exp(100.0), rel=1e-15)
    # a value inside float32's range is the float64 result rounded once to float32
    fits = dl("grad", "exp(x)", "--at", "x=10", "--dtype", "float32")
    assert fits.err == "" and np.float32(fits.out.strip()) == np.float32(np.exp(10.0))
    data = strict_json(dl("grad", "exp(x)", "--at", "x=100", "--dtype", "float32", "--json").out)
    assert data["gradient"] == ["inf"]


def test_tiny_temperature_warning_names_the_dtype_used(dl):
    for dtype in ("float32", "float64"):
        t = "1e-40" if dtype == "float32" else "1e-320"
        run = dl("softmax", "1", "2", "-t", t, "--dtype", dtype)
        assert run.code == 0 and "warning:" in run.err
        other = "float64" if dtype == "float32" else "float32"
        assert dtype in run.err and other not in run.err
