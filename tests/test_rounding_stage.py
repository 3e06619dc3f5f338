"""The double-double second stage of correct rounding (issue 10): arrays of any size.

The long double decides the rounding of ~99% of elements; the rest go to rounding.refined
(double-double kernels in dlcalc.exact, forms in dlcalc.activations) and the few it cannot decide
to mpmath. Oracles: mpmath (bench/accuracy.py's definitions, evaluated until two precisions agree)
rounded once with rounding.to_float64; the inputs are the elements the first stage flags as
doubtful (within 8 long-double ulps of a float64 midpoint), tails to ±1000, subnormal results,
±0, ±inf and NaN, in arrays above and below rounding.MAX_EXACT_SIZE.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import bench_accuracy
from dlcalc import exact, rounding
from dlcalc.activations import REGISTRY

mpmath = pytest.importorskip("mpmath")

EXTENDED_ONLY = pytest.mark.skipif(not exact.EXTENDED, reason="the second stage follows the x87 path")

# Every registry function with a double-double second stage (`refine=`), with its parameter sets
# from bench/accuracy.py.
REFINED = ["sigmoid", "tanh", "silu", "mish", "softplus",
           "rrelu", "elu", "selu", "celu", "logsigmoid", "softsign", "hardsigmoid", "hardswish",
           "sparse_plus", "squareplus", "tanhshrink", "gelu_tanh", "gelu"]
# Without an extended path (exact in float64 as they stand: one rounding, then a halving or a
# constant): nothing is refined.
CONSTANT = {"rrelu'", "hardsigmoid'", "sparse_plus'"}


BENCH = bench_accuracy()


def _expected(reference, x: float, params: dict) -> float:
    """The definition at 1,200 bits (and 3 more per binary order of |x|: squareplus's x + √(x² + b)
    cancels by a factor x²), rounded once: beyond every cancellation here, and beyond a tie's
    breaker (silu(x) = x/2 + x²/4 for a subnormal x: 2^-1030 relative)."""
    with mpmath.workprec(1200 + 3 * abs(math.frexp(x)[1])):
        value = reference(mpmath.mpf(x), **{k: mpmath.mpf(v) for k, v in params.items()})
        return rounding.to_float64(mpmath.mpf(value))


def _cases():
    for name in REFINED:
        f, df, sweep = BENCH.REFERENCES[name]
        entry = REGISTRY[name]
        for params in sweep:
            yield pytest.param(name, entry.function, f, params, id=f"{name}{params or ''}")
            yield pytest.param(name + "'", entry.derivative, df, params, id=f"{name}'{params or ''}")


def _spy(monkeypatch):
    """Record the x values each call hands to the second stage."""
    seen = []
    original = rounding.refined

    def spy(refine, xs):
        seen.append(np.array(xs))
        return original(refine, xs)

    monkeypatch.setattr(rounding, "refined", spy)
    return seen


# ------------------------------------------------------------------ the double-double kernels


def _relative_error(hi, lo, exact_value):
    with mpmath.workprec(400):
        if exact_value == 0:
            return 0.0 if hi == 0 and lo == 0 else math.inf
        return float(abs((mpmath.mpf(hi) + mpmath.mpf(lo) - exact_value) / exact_value))


def test_double_double_exp_and_expm1_are_accurate_to_2_to_the_minus_100():
    rng = np.random.default_rng(1)
    a = np.concatenate([-rng.uniform(0, 600, 300), -rng.uniform(0, 1.5, 300),
                        -np.geomspace(1e-300, 1, 100), [0.0, -600.0, -math.log(2) / 2, -math.log(2)]])
    low = np.concatenate([np.zeros(a.size - 50), rng.uniform(-1, 1, 50) * np.abs(a[-50:]) * 2.0 ** -54])
    em1, e = exact.dd_expm1_parts(a, low)
    for i in range(a.size):
        with mpmath.workprec(400):
            arg = mpmath.mpf(a[i]) + mpmath.mpf(low[i])
            assert _relative_error(e[0][i], e[1][i], mpmath.exp(arg)) < 2.0 ** -100, a[i]
            assert _relative_error(em1[0][i], em1[1][i], mpmath.expm1(arg)) < 2.0 ** -100, a[i]


def test_double_double_log1p_is_accurate_to_2_to_the_minus_100():
    rng = np.random.default_rng(2)
    z = np.concatenate([rng.uniform(0, 1, 300), np.geomspace(1e-260, 1, 200), [0.0, 1.0]])  # ≥ e^-600
    low = z * rng.uniform(-1, 1, z.size) * 2.0 ** -54
    hi, lo = exact.dd_log1p(z, low)
    for i in range(z.size):
        with mpmath.workprec(400):
            value = mpmath.log1p(mpmath.mpf(z[i]) + mpmath.mpf(low[i]))
            assert _relative_error(hi[i], lo[i], value) < 2.0 ** -100, z[i]


def test_refined_decides_only_outside_its_bound_of_a_midpoint():
    one = np.ones(4)
    half_ulp = 2.0 ** -53  # the midpoint between 1 and 1 + 2^-52
    lo = np.array([half_ulp * (1 - 2.0 ** -30), half_ulp * (1 - 2.0 ** -40),
                   half_ulp * (1 + 2.0 ** -40), half_ulp * (1 + 2.0 ** -30)])
    got = rounding.refined(lambda x: (one, lo, None), one)
    assert got[0] == 1.0 and got[3] == 1.0 + 2.0 ** -52
    assert np.isnan(got[1]) and np.isnan(got[2])  # within 2^-89 of the midpoint: undecided
    # NaN from the form (outside its domain), an infinite or a tiny result: undecided
    got = rounding.refined(lambda x: (np.array([np.nan, np.inf, 1e-300]), np.zeros(3), None), np.zeros(3))
    assert np.isnan(got).all()


def test_refined_rounds_an_exact_midpoint_to_even_only_when_the_form_says_it_is_exact():
    half_ulp = 2.0 ** -53  # 1 + 2^-53 lies midway between 1 (even) and 1 + 2^-52 (odd)
    hi = np.array([1.0, 1.0 + 2.0 ** -52, 1.0, 1.0 + 2.0 ** -51])
    lo = np.array([half_ulp, half_ulp, half_ulp / 2, half_ulp])
    exact_scale = np.zeros(4)
    got = rounding.refined(lambda x: (hi, lo, exact_scale), hi)
    # ties to even: 1 + 2^-53 → 1, 1 + 3·2^-53 → 1 + 2^-51; not a tie (1 + 2^-54): nearest;
    # 1 + 2^-51 + 2^-53 is the midpoint of 1 + 2^-51 (even) and 1 + 3·2^-52
    assert got.tolist() == [1.0, 1.0 + 2.0 ** -51, 1.0, 1.0 + 2.0 ** -51]
    got = rounding.refined(lambda x: (hi, lo, None), hi)  # with an error bound: undecided
    assert np.isnan(got[[0, 1, 3]]).all() and got[2] == 1.0


@EXTENDED_ONLY
def test_hardsigmoid_ties_are_decided_without_mpmath(monkeypatch):
    """(x + 3)/6 is exactly a midpoint for about one x in six: the form verifies it exactly."""
    from fractions import Fraction

    x = 2 * np.random.default_rng(3).standard_normal(rounding.MAX_EXACT_SIZE + 1)
    calls = []
    monkeypatch.setattr(rounding, "correctly_rounded", lambda *a, **k: calls.append(a))
    got = REGISTRY["hardsigmoid"].function(x)
    assert not calls
    ties = 0
    for xi, gi in zip(x.tolist()[:3000], got.tolist()[:3000]):
        value = min(max(Fraction(xi) + 3, 0), 6) / 6
        assert gi == float(value), xi  # Fraction → float: correctly rounded, ties to even
        other = Fraction(math.nextafter(gi, math.inf if value > gi else -math.inf))
        ties += value != gi and value - Fraction(gi) == other - value
    assert ties > 100


# ------------------------------------------------------------------ GELU's Φ = φ·R in double-double

GELU_ROOT = -0.7517915246935645  # the zero of gelu', rounded


def _gelu_reference(x):
    return x * mpmath.ncdf(x)


def _gelu_derivative_reference(x):
    return mpmath.ncdf(x) + x * mpmath.npdf(x)


def _ratio_grid_edges():
    """The points halfway between R's grid points, where the Taylor series reaches farthest
    (|t| = 1/8), and their neighbours on either side."""
    from dlcalc import special

    middles = -special._RATIO_STEP * (np.arange(len(special._RATIO_TABLE) - 1) + 0.5)
    return np.concatenate([middles, np.nextafter(middles, 0), np.nextafter(middles, -np.inf)])


def test_normal_ratio_table_holds_mpmaths_values():
    from dlcalc import special

    with mpmath.workprec(400):
        for j, (hi, lo) in enumerate(special._RATIO_TABLE):
            c = -j * mpmath.mpf(special._RATIO_STEP)
            assert _relative_error(hi, lo, mpmath.ncdf(c) / mpmath.npdf(c)) < 2.0 ** -105, j


def test_normal_ratio_in_double_double_is_accurate_to_2_to_the_minus_95():
    """R = Φ/φ from the Taylor series at the grid: 2⁻⁹⁵ (its docstring's bound) everywhere,
    2⁻¹⁰⁰ for |v| ≤ 10, where the coefficients' errors grow least."""
    from dlcalc import special

    rng = np.random.default_rng(20)
    v = np.concatenate([-rng.uniform(0, 40, 600), -rng.uniform(0, 1, 100), _ratio_grid_edges(),
                        [0.0, -0.0, -1e-300, -5e-324, -40.0]])
    hi, lo = special.normal_ratio_dd(v)
    for i, vi in enumerate(v.tolist()):
        with mpmath.workprec(400):
            u = mpmath.mpf(vi)
            error = _relative_error(hi[i], lo[i], mpmath.ncdf(u) / mpmath.npdf(u))
        assert error < (2.0 ** -100 if vi >= -10 else 2.0 ** -95), vi


def _gelu_dense_points(rng):
    """[−40, 40] at random, R's grid edges on both sides of 0, around gelu''s zero (to its
    neighbouring floats), the subnormal tail, Φ → 1, tiny |x|."""
    edges = _ratio_grid_edges()
    root = GELU_ROOT + np.arange(-8, 9) * 2.0 ** -53
    return np.concatenate([rng.uniform(-40, 40, 600), edges[::3], -edges[1::3], root,
                           rng.uniform(-0.76, -0.74, 60), rng.uniform(-40, -37, 60),
                           rng.uniform(6, 40, 60), [1e-300, -1e-300, 5e-324, -5e-324, 40.0, -40.0]])


@pytest.mark.parametrize("name", ["gelu", "gelu'"])
def test_gelu_double_double_forms_are_within_the_refine_bound(name):
    """(hi, lo, scale, k) of `_gelu_dd` and `_gelu_derivative_dd` against mpmath: within
    REFINE_BOUND/16 of |value| (or of the scale, where gelu' cancels); measured 2⁻¹⁰⁰, 2⁻¹⁰⁴."""
    from dlcalc import activations

    form, reference = ((activations._gelu_dd, _gelu_reference) if name == "gelu"
                       else (activations._gelu_derivative_dd, _gelu_derivative_reference))
    x = _gelu_dense_points(np.random.default_rng(21))
    hi, lo, scale, k = form(x)
    for i, xi in enumerate(x.tolist()):
        with mpmath.workprec(400):
            value = mpmath.ldexp(mpmath.mpf(hi[i]) + mpmath.mpf(lo[i]), int(k[i]))
            size = abs(value) if scale is None else mpmath.ldexp(abs(mpmath.mpf(scale[i])), int(k[i]))
            error = abs(value - reference(mpmath.mpf(xi)))
            assert error <= size * rounding.REFINE_BOUND / 16, (name, xi)


@EXTENDED_ONLY
def test_gelu_first_stage_is_within_its_measured_bound():
    """The long-double first stage against the double-double second (checked against mpmath
    above), on a dense sample: within _GELU_MEASURED_ULPS long-double ulps of |gelu|, and
    _GELU_DERIVATIVE_MEASURED_ULPS of Φ + |x|·φ for gelu' (the bounds rounding uses are twice
    those)."""
    from dlcalc import activations, special

    long = rounding.LONG
    rng = np.random.default_rng(22)
    switches = [0.6629126073623883, 5.656854249492381]  # where _normal_long changes formula
    x = np.concatenate([np.linspace(-40, 40, 200001), rng.uniform(-3, 3, 100000)]
                       + [s + rng.uniform(-1e-3, 1e-3, 10000) for s in switches + [-s for s in switches]]
                       + [GELU_ROOT + rng.uniform(-1e-2, 1e-2, 10000)])
    for first, second, measured in (
            (activations._gelu_first_stage, activations._gelu_dd, activations._GELU_MEASURED_ULPS),
            (lambda u: special.normal_long(u, activations._gelu_derivative_long),
             activations._gelu_derivative_dd, activations._GELU_DERIVATIVE_MEASURED_ULPS)):
        value = first(x)
        value, scale = value if isinstance(value, tuple) else (value, value)
        hi, lo, _, k = second(x)
        power = np.exp2(-k.astype(long))
        with np.errstate(invalid="ignore"):  # 0/0 at x = 0
            ulps = np.abs((value * power - hi) - lo) / (np.abs(scale) * power) / long(2.0 ** -63)
        assert np.nanmax(ulps) <= measured, second.__name__


@EXTENDED_ONLY
@pytest.mark.parametrize("name", ["gelu", "gelu'"])
def test_gelu_in_a_batch_block_is_correctly_rounded(name, monkeypatch):
    """50,000 elements, as the batch reader hands the core, many of them doubtful (x in [8, 9]:
    x·Φ(x) lies just below x, near the midpoint below it; around gelu''s zero, the sum
    cancels): every element the first stage flags, and a sample of the rest, against mpmath."""
    entry = REGISTRY["gelu"]
    fn, reference = ((entry.function, _gelu_reference) if name == "gelu"
                     else (entry.derivative, _gelu_derivative_reference))
    rng = np.random.default_rng(23)
    x = np.concatenate([4 * rng.standard_normal(35000), rng.uniform(8, 9, 5000),
                        rng.uniform(-0.8, -0.7, 5000), rng.uniform(-40, 40, 4000),
                        rng.uniform(-39, -37, 1000)])
    seen = _spy(monkeypatch)
    got = fn(x)
    flagged = np.concatenate(seen)
    assert flagged.size > 1000
    position = {v: i for i, v in enumerate(x.tolist())}
    for xi in np.unique(np.concatenate([flagged, rng.choice(x, 500)])).tolist():
        with mpmath.workprec(320):
            expected = rounding.to_float64(reference(mpmath.mpf(xi)))
        assert got[position[xi]] == expected, (name, xi)


# ------------------------------------------------------------------ the functions


def _adversarial(rng):
    """Doubtful for the long double in part, tails, subnormal results and the specials."""
    x = np.concatenate([
        4 * rng.standard_normal(1000), rng.uniform(-1000, 1000, 300),
        rng.uniform(-760, -700, 100), rng.uniform(-700, -590, 100), rng.uniform(-380, -290, 50),
        np.geomspace(1e-310, 1e-3, 60), -np.geomspace(1e-310, 1e-3, 60),
        rng.uniform(-1.4, -1.1, 200),  # near the zeros of silu' and mish' (cancellation)
        rng.uniform(-0.9, -0.6, 100),  # near the zeros of gelu_tanh' and gelu'
        rng.uniform(-39, -37, 60),  # gelu's subnormal results
        rng.uniform(-80, -15, 200),  # the tails of gelu_tanh (2u < −600) and of celu (x/α < −600)
        rng.choice([-1.0, 1.0], 60) * np.geomspace(1e100, 1e308, 60),  # squareplus's far side
        [0.0, -0.0, np.inf, -np.inf, np.nan, 1000.0, -1000.0, 600.0, -600.0, 300.0, -300.0,
         20.0, 10.0, 40.0, -1.2784645427610737, -1.1924312145154952, 5e-324, -5e-324],
    ])
    return x


@EXTENDED_ONLY
@pytest.mark.parametrize("name, fn, reference, params", list(_cases()))
def test_large_and_small_arrays_are_correctly_rounded(name, fn, reference, params, monkeypatch):
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # (hash() varies between runs)
    x = _adversarial(rng)
    filler = 4 * rng.standard_normal(rounding.MAX_EXACT_SIZE + 1 - x.size)
    big = np.concatenate([x, filler])
    assert big.size > rounding.MAX_EXACT_SIZE
    seen = _spy(monkeypatch)
    mpmath_calls = []
    original = rounding.correctly_rounded

    def counted(*args, **kwargs):
        mpmath_calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(rounding, "correctly_rounded", counted)
    got_big = np.asarray(fn(big, **params), dtype=np.float64)
    refined_x = np.concatenate(seen) if seen else np.empty(0)
    if name not in CONSTANT:  # the long double flags ~1%: they were exercised
        assert refined_x.size > 0.0005 * big.size  # (sparse_plus: only |x| < 1 can be)
    # the second stage decides them all but those outside its domain (|value| < 2^-960)
    values = np.abs(np.asarray(fn(np.array([call[1][0] for call in mpmath_calls]), **params)))
    assert np.count_nonzero(values > 2.0 ** -950) <= 2, (name, len(mpmath_calls))
    # every flagged element, every adversarial element, and a sample of the rest
    check = np.unique(np.concatenate([refined_x, x, rng.choice(filler, 100)]))
    position = {v: i for i, v in enumerate(big.tolist())}
    small = np.asarray(fn(check, **params), dtype=np.float64)  # below MAX_EXACT_SIZE
    for i, xi in enumerate(check.tolist()):
        expected = _expected(reference, xi, params) if math.isfinite(xi) else None
        got = got_big[position[xi]] if not math.isnan(xi) else got_big[np.flatnonzero(np.isnan(big))[0]]
        if expected is None:  # ±inf, nan: the float64 form's limit, the same in both
            assert (got == small[i]) or (math.isnan(got) and math.isnan(small[i])), (name, xi)
            continue
        assert got == expected, (name, params, xi, got, expected)
        assert small[i] == expected, (name, params, xi, small[i], expected)


@EXTENDED_ONLY
@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(min_value=-1000, max_value=1000, allow_nan=False), min_size=1, max_size=20),
       st.sampled_from([c.values for c in _cases()]))
def test_random_inputs_in_a_large_array_are_correctly_rounded(values, case):
    name, fn, reference, params = case
    rng = np.random.default_rng(len(values))
    big = np.concatenate([np.array(values), 4 * rng.standard_normal(rounding.MAX_EXACT_SIZE)])
    got = np.asarray(fn(big, **params), dtype=np.float64)
    for i, xi in enumerate(values):
        assert got[i] == _expected(reference, xi, params), (name, params, xi)
