"""Every printed number is the exact value rounded to float64 (issue 10, items 2 and 3).

Oracles: mpmath at high precision (well beyond the cancellation of each formula), rounded once
with dlcalc.rounding.to_float64 (itself checked against Python's correctly rounded float(str)).
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import bench_accuracy, examples, strict_json, ulps
from dlcalc import rounding
from dlcalc.exact import EXTENDED as EXTENDED_PATH
from dlcalc.activations import REGISTRY

mpmath = pytest.importorskip("mpmath")


def exact(fn, bits: int = 4000) -> float:
    with mpmath.workprec(bits):
        return rounding.to_float64(mpmath.mpf(fn()))


def test_to_float64_matches_pythons_correct_rounding_of_decimal_text():
    rng = np.random.default_rng(3)
    words = [f"{m:.25f}e{e}" for m, e in zip(rng.uniform(1, 10, 300), rng.integers(-330, 308, 300))]
    words += ["2.4703282292062328e-324", "2.4703282292062327e-324", "1e-320", "1.7976931348623158e308"]
    with mpmath.workprec(2000):
        for word in words:
            assert rounding.to_float64(mpmath.mpf(word)) == float(word), word
            assert rounding.to_float64(-mpmath.mpf(word)) == -float(word), word


# ---------------------------------------------------------------- the examples of issue 10


def test_softplus_expression_at_1000_and_its_derivative(dl):
    data = strict_json(dl("activate", "log(1+exp(x))", "1000", "--deriv", "--json").out)
    assert data["y"] == [exact(lambda: mpmath.log1p(mpmath.exp(1000)))] == [1000.0]
    assert data["dy"] == [exact(lambda: 1 / (1 + mpmath.exp(-1000)))] == [1.0]


def test_sigmoid_written_out_at_1000_is_one_not_nan(dl):
    run = dl("activate", "exp(x)/(1+exp(x))", "1000", "--json")
    assert strict_json(run.out)["y"] == [1.0]


def test_log_sum_exp_gradient_far_from_zero_has_the_right_sign_and_digits(dl):
    run = dl("grad", "-z0 + log(exp(z0)+exp(z1))", "--at", "z0=700", "z1=0", "--json")
    data = strict_json(run.out)
    tail = exact(lambda: 1 / (1 + mpmath.exp(700)))
    assert data["gradient"] == [-tail, tail]
    assert tail == 9.85967654375977e-305


@pytest.mark.parametrize("n, expected", [("3", 0.0), ("1", 1.0), ("2", 0.0)])
def test_power_derivative_at_zero_is_its_limit(dl, n, expected):
    data = strict_json(dl("grad", "x**n", "--wrt", "x", "--at", "x=0", f"n={n}", "--check",
                          "--json").out)
    assert data["gradient"] == [expected]
    numeric = data["check"]["finite_difference"][0]
    assert math.isfinite(numeric) and abs(numeric - expected) < 1e-6
    assert math.isfinite(data["check"]["max_relative_difference"])


def test_power_derivative_at_the_edge_of_its_domain_is_the_one_sided_limit(dl):
    data = strict_json(dl("grad", "x**n", "--wrt", "x", "--at", "x=0", "n=2.5", "--json").out)
    assert data["gradient"] == [0.0]


def test_check_never_prints_nan_beside_a_finite_difference(dl):
    # d/dx |x|^(3/2)·sign... : sqrt(x)^3 has derivative 1.5·sqrt(x), 0 at 0 (one-sided there)
    run = dl("grad", "x*sqrt(x*x)", "--at", "x=0", "--check", "--json")
    data = strict_json(run.out)
    assert all(not (isinstance(v, str) and v == "nan") for v in data["gradient"])


def test_tanh_derivative_agrees_between_activate_and_grad(dl):
    expected = exact(lambda: 1 / mpmath.cosh(mpmath.mpf("0.5")) ** 2)
    assert expected == 0.7864477329659274
    assert strict_json(dl("grad", "tanh(x)", "--at", "x=0.5", "--json").out)["gradient"] == [expected]
    activated = strict_json(dl("activate", "tanh", "0.5", "--deriv", "--json").out)["dy"][0]
    if EXTENDED_PATH:
        assert activated == expected
    else:  # the float64 forms of machines without an 80-bit long double: within a few ulp
        assert ulps(activated, expected) <= 4


@pytest.mark.skipif(not EXTENDED_PATH, reason="the float64 forms off x86 are within a few ulp")
def test_cross_entropy_of_distributions_agrees_between_ce_and_kl(dl):
    p, q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
    expected = exact(lambda: -mpmath.fsum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(b)) for a, b in zip(p, q)))
    assert expected == 0.8286310068007853
    ce = strict_json(dl("ce", *map(str, q), "--probs", "--target-probs", *map(str, p), "--json").out)
    kl = strict_json(dl("kl", *map(str, p), "--q", *map(str, q), "--json").out)
    assert ce["loss"] == kl["cross_entropy"] == expected


# ---------------------------------------------------------------- expressions at random points


@settings(max_examples=examples(40), deadline=None)
@given(st.floats(-800, 800, allow_nan=False))
def test_expression_values_and_partials_are_correctly_rounded(x):
    from dlcalc import symbolic

    from dlcalc.expression import parse_expression

    grad = symbolic.gradient(parse_expression("log(1+exp(x)) - x*sigmoid(x)"))
    value = float(grad.at({"x": x})[0])
    with mpmath.workprec(3000):
        u = mpmath.mpf(x)
        s = 1 / (1 + mpmath.exp(-u))
        expected = rounding.to_float64(s - s - u * s * (1 - s))  # σ − (σ + xσ(1 − σ))
    assert value == expected


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=5, max_size=5))
def test_vectorised_expression_is_correctly_rounded_elementwise(xs):
    from dlcalc import symbolic

    from dlcalc.expression import parse_expression

    f, df = symbolic.numeric_function(parse_expression("exp(x)/(1+exp(x)) - 1"))
    values = f(np.array(xs))
    for x, value in zip(xs, values.tolist()):
        assert value == exact(lambda: -1 / (1 + mpmath.exp(mpmath.mpf(x))))


# ---------------------------------------------------------------- registry, a fast sample


@pytest.mark.skipif(not EXTENDED_PATH, reason="the float64 forms off x86 are within a few ulp")
def test_registry_functions_are_correctly_rounded_on_a_sample():
    bench = bench_accuracy()
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-40, 40, 60), -np.geomspace(1e-20, 745, 30),
                        np.geomspace(1e-20, 745, 30), [0.5, -1000.0, 1000.0, -720.0]])
    for name, (f, df, sweep) in bench.REFERENCES.items():
        entry = REGISTRY[name]
        for fn, reference in ((entry.function, f), (entry.derivative, df)):
            for params in sweep[:2]:
                got = np.asarray(fn(x, **params), dtype=np.float64)
                for xi, yi in zip(x.tolist(), got.tolist()):
                    expected = rounding.to_float64(bench.exact_value(reference, xi, **params))
                    assert yi == expected, (name, params, xi, yi, expected)


def _exact_target_gradient(row, k):
    """ŷ_k − 1 = −Σ_{i≠k} e^{z_i} / Σ e^{z_i}, correctly rounded (mpmath at 400 bits)."""
    with mpmath.workprec(400):
        terms = [mpmath.exp(mpmath.mpf(v)) for v in row]
        return rounding.to_float64(-mpmath.fsum(terms[:k] + terms[k + 1:]) / mpmath.fsum(terms))


@pytest.mark.skipif(not EXTENDED_PATH, reason="the float64 forms off x86 are within a few ulp")
@pytest.mark.parametrize("scale", [1.0, 4.0, 40.0])
def test_cross_entropy_gradient_at_the_target_class_is_correctly_rounded(scale):
    from dlcalc.losses import cross_entropy

    rng = np.random.default_rng(int(scale))
    z = rng.standard_normal((400, 6)) * scale
    k = rng.integers(0, 6, 400)
    grad = cross_entropy(z, target=k).grad
    for row, t, g in zip(z, k.tolist(), grad):
        assert g[t] == _exact_target_gradient(row.tolist(), t), (row.tolist(), t)


def test_activate_sigmoid_imports_neither_sympy_nor_mpmath():
    code = ("import sys; from dlcalc.cli import main\n"
            "try:\n    main(['activate', 'sigmoid', '1'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('sympy', 'mpmath') if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def test_hessian_at_a_removable_singularity_is_its_limit(dl):
    data = strict_json(dl("grad", "x**n", "--wrt", "x", "--at", "x=0", "n=2", "--hessian",
                          "--json").out)
    assert data["hessian"] == [[2.0]]


@pytest.mark.skipif(not EXTENDED_PATH, reason="the bit-level test reads the x87 long double")
@pytest.mark.parametrize("ulps", [2.0, 8.0, 16.0])
def test_doubtful_elements_from_the_bits_are_those_of_the_margin_test(ulps):
    """rounding._doubtful (integer test on the significand, exact test on the candidates) picks
    exactly the elements rounding._margin_test picks, midpoints, subnormals and overflow included."""
    rng = np.random.default_rng(int(ulps))
    for exponent in (-330, -300, -20, 0, 20, 300, 308):
        _check_doubtful(rng, exponent, ulps)


def _check_doubtful(rng, exponent, ulps):
    long = rounding.LONG
    with np.errstate(all="ignore"):  # the overflowing and NaN elements are on purpose
        x = rng.standard_normal(20000) * 10.0 ** exponent
        approx = x.astype(long) * (1 + long(rng.standard_normal(x.size)) * long(2.0 ** -60))
        head = x[:500]
        approx[:500] = head.astype(long) + (np.nextafter(head, np.inf) - head).astype(long) / 2
        approx[500:508] = [np.inf, -np.inf, np.nan, 0.0, -0.0, long(2.0 ** -1074) / 3,
                           long(np.finfo(np.float64).max) * (1 + long(2.0 ** -54)), 5e-324]
        y = approx.astype(np.float64)
        scales = (None, approx * long(rng.uniform(0, 100, x.size)))
    for scale in scales:
        got = rounding._doubtful(approx, y, ulps, scale)
        assert (got == rounding._margin_test(approx, ulps, scale)).all()
