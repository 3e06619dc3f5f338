"""Commands that compute the same quantity print the same digits (issue 10, item 3).

activate vs grad vs plot data (the samples a plot draws), softmax --log vs ce (one-hot target),
ce --probs with soft targets vs kl's H(P,Q), softmax vs ce's probabilities. Through the CLI
(in-process, as a user runs it) and, for the plot, the samples the plot command computes.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import strict_json, ulps

POINTS = ["0.5", "-3.7", "12", "-30", "1e-8", "700"]

# registry name, the same function as an expression (what grad differentiates)
PAIRS = [
    ("sigmoid", "sigmoid(x)"),
    ("tanh", "tanh(x)"),
    ("softplus", "softplus(x)"),
    ("silu", "x*sigmoid(x)"),
    ("mish", "x*tanh(softplus(x))"),
    ("gelu", "gelu(x)"),
]


def _activate(dl, name, points):
    run = dl("activate", name, *points, "--deriv", "--json")
    assert run.code == 0, run.err
    data = strict_json(run.out)
    return data["y"], data["dy"]


def _agree(a: list, b: list) -> bool:
    """The same digits where dlcalc rounds correctly (the x87 path); within 4 ulp of each other
    on the float64 path of machines without an 80-bit long double (DLCALC_FLOAT64_ONLY=1)."""
    from dlcalc import exact

    if exact.EXTENDED:
        return a == b
    return len(a) == len(b) and all(x == y or ulps(x, y) <= 4 for x, y in zip(a, b))


@pytest.mark.parametrize("name, expression", PAIRS)
def test_activate_grad_and_expression_agree(dl, name, expression):
    points = [p for p in POINTS if not (name == "softplus" and p == "700")]  # threshold branch
    y, dy = _activate(dl, name, points)
    y_expr, dy_expr = _activate(dl, expression, points)
    assert _agree(y, y_expr)
    assert _agree(dy, dy_expr)
    for point, slope in zip(points, dy):
        run = dl("grad", expression, "--at", f"x={point}", "--json")
        assert _agree(strict_json(run.out)["gradient"], [slope]), (name, point)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "silu", "gelu_tanh", "mish", "softplus"])
def test_plot_samples_agree_with_activate(dl, name):
    from dlcalc.reports import function_curve
    from dlcalc.functions import resolve_all

    points = ["0.5", "-3.7", "-5.25", "1.125"]
    y, dy = _activate(dl, name, points)
    x = np.linspace(-6, 6, 1001)
    x = np.concatenate([x, [float(p) for p in points]])
    curve = function_curve(resolve_all([name])[0], x, True, False)
    assert curve.y[-len(points):].tolist() == y
    assert curve.dy[-len(points):].tolist() == dy


LOGITS = [["2", "1", "0.1"], ["30", "-4", "0.25", "7"], ["-1e-3", "1e-3"], ["100", "0", "-100"]]


@pytest.mark.parametrize("z", LOGITS)
def test_log_softmax_is_minus_the_one_hot_cross_entropy(dl, z):
    soft = strict_json(dl("softmax", *z, "--log", "--json").out)
    for k in range(len(z)):
        ce = strict_json(dl("ce", *z, "--target", str(k), "--json").out)
        assert ce["loss"] == -soft["log_softmax"][k]
        assert ce["probs"] == soft["softmax"]


@pytest.mark.parametrize("p, q", [
    (["0.7", "0.2", "0.1"], ["0.6", "0.3", "0.1"]),
    (["0.25", "0.25", "0.5"], ["0.1", "0.1", "0.8"]),
    (["1", "0", "0"], ["0.999", "0.0005", "0.0005"]),
    (["0.3", "0.3", "0.4"], ["0.3", "0.3", "0.4"]),
])
@pytest.mark.parametrize("base", ["e", "2"])
def test_soft_target_cross_entropy_is_kls_cross_entropy(dl, p, q, base):
    ce = strict_json(dl("ce", *q, "--probs", "--target-probs", *p, "--base", base, "--json").out)
    kl = strict_json(dl("kl", *p, "--q", *q, "--base", base, "--json").out)
    assert ce["loss"] == kl["cross_entropy"]
