"""dlcalc.special (erf, erfc, erfcx, Φ in NumPy) against mpmath at 200 bits, ulp by ulp.

The full validation (≈220,000 points per function over [−30, 30], Φ over [−40, 40], plus tails)
gave at most 1.5–1.7 ulp; these tests check a sample of every region at the same bound.
"""

from fractions import Fraction

import mpmath
import numpy as np
import pytest

from dlcalc import exact, special

mp = mpmath.mp


def _exact_erfc(x):
    return mpmath.erfc(x)


def _exact_erfcx(x):
    if x > 1e8:  # asymptotic series; its next term is below 2^-200 relative here
        return (1 - 1 / (2 * x**2) + 3 / (4 * x**4)) / (x * mpmath.sqrt(mpmath.pi))
    return mpmath.exp(x * x) * mpmath.erfc(x)


def _exact_ndtr(x):
    return mpmath.ncdf(x)


EXACT = {"erf": mpmath.erf, "erfc": _exact_erfc, "erfcx": _exact_erfcx, "ndtr": _exact_ndtr}


def _ulp_errors(got, xs, exact):
    """|got − exact| in units of the last place of the double nearest the exact value (the
    subnormal spacing 2^-1074 below the normal range, so an underflowed 0 counts too)."""
    errors = []
    with mpmath.workprec(200):
        for g, x in zip(got, xs):
            want = exact(mpmath.mpf(float(x)))
            nearest = float(want)
            if np.isinf(nearest):
                errors.append(0.0 if g == nearest else np.inf)
                continue
            ulp = float(np.spacing(abs(nearest))) if nearest != 0 else 2.0**-1074
            errors.append(float(abs(mpmath.mpf(float(g)) - want) / ulp))
    return np.array(errors)


def _points(*ranges, n=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(a, b, n) for a, b in ranges])


# every region of Cody's approximations and its boundaries, both signs, the tails
REGIONS = {
    "erf": _points((-0.5, 0.5), (0.5, 6), (-6, -0.5), (0.49, 0.51), (-1e-8, 1e-8)),
    "erfc": _points((-0.46875, 0.46875), (0.46875, 4), (-4, -0.46875), (4, 26.5), (-27, -4),
                    (26.5, 27.3), (0.4685, 0.4690), (3.999, 4.001)),
    "erfcx": _points((-0.46875, 0.46875), (0.46875, 4), (-4, -0.46875), (4, 30), (-26.6, -4),
                     (30, 1e6), (1e10, 1e300), (0.4685, 0.4690), (3.999, 4.001)),
    "ndtr": _points((-1, 1), (1, 9), (-5, -1), (-37, -5), (-38.5, -37), (-1.001, -0.999)),
}


@pytest.mark.parametrize("name", sorted(REGIONS))
def test_float64_within_two_ulp_of_mpmath_in_every_region_and_tail(name):
    xs = REGIONS[name]
    got = getattr(special, name)(xs)
    errors = _ulp_errors(got, xs, EXACT[name])
    worst = int(np.argmax(errors))
    assert errors.max() <= 2.0, f"{name}({xs[worst]!r}) = {got[worst]!r}, {errors[worst]:.2f} ulp"
    assert errors.mean() <= 0.5  # most results correctly rounded


def test_ndtr_without_x87_stays_within_two_ulp(monkeypatch):
    # the float64 path, used where long double is not the x87 format (aarch64, macOS arm64)
    monkeypatch.setattr(exact, "EXTENDED", False)
    xs = REGIONS["ndtr"]
    errors = _ulp_errors(special.ndtr(xs), xs, _exact_ndtr)
    assert errors.max() <= 2.0 and errors.mean() <= 0.5


def test_erf_is_odd_signed_at_zero_and_saturates():
    x = np.random.default_rng(8).uniform(0, 7, 1000)
    np.testing.assert_array_equal(special.erf(-x), -special.erf(x))
    np.testing.assert_array_equal(special.erf(np.array([-np.inf, np.inf, np.nan, 6.0, -30.0])),
                                  [-1.0, 1.0, np.nan, 1.0, -1.0])
    zeros = special.erf(np.array([0.0, -0.0]))
    assert list(np.signbit(zeros)) == [False, True]
    # erf(x) ≈ 2x/√π for tiny x: no underflow to 0 before the exact value does
    assert special.erf(1e-300) == pytest.approx(2e-300 / np.sqrt(np.pi), rel=1e-15)


def test_erfc_rounds_subnormal_results_once_where_scipy_gives_zero():
    # erfc(27) = 5.237e-319 (subnormal); e^(−x²) computed first would have lost its low bits
    xs = np.array([26.55, 26.6, 26.9, 27.0, 27.2])
    with mpmath.workprec(200):
        correctly_rounded = [float(mpmath.erfc(x)) for x in xs]
    np.testing.assert_array_equal(special.erfc(xs), correctly_rounded)
    assert 5.2e-319 < special.erfc(27.0) < 5.3e-319


def test_ndtr_lower_tail_keeps_its_digits_down_to_the_subnormals():
    # the naive ½·erfc(−x/√2) loses ~2z² ulp here (the rounding of −x/√2 magnified)
    xs = np.array([-8.0, -20.0, -30.0, -37.0, -37.5])
    errors = _ulp_errors(special.ndtr(xs), xs, _exact_ndtr)
    assert errors.max() <= 2.0


def test_limits_infinities_and_nan():
    x = np.array([-np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(special.erfc(x), [2.0, 0.0, np.nan])
    np.testing.assert_array_equal(special.erfcx(x), [np.inf, 0.0, np.nan])
    np.testing.assert_array_equal(special.ndtr(x), [0.0, 1.0, np.nan])
    # beyond the range: erfc underflows after 27.3, erfcx(x) overflows below −26.63, Φ below −38.5
    assert special.erfc(27.5) == 0.0 and special.erfc(-30.0) == 2.0
    assert special.erfcx(-26.7) == np.inf and np.isfinite(special.erfcx(-26.6))
    assert special.ndtr(-39.0) == 0.0 and special.ndtr(-38.0) > 0.0
    # erfcx(x) → 1/(x·√π) for huge x, without overflow of x² or underflow of erfc
    assert special.erfcx(1e300) == pytest.approx(1 / (1e300 * np.sqrt(np.pi)), rel=1e-15)
    # exact points: erfc(0) = 1, erfcx(0) = 1, Φ(0) = ½
    assert special.erfc(0.0) == 1.0 and special.erfcx(0.0) == 1.0 and special.ndtr(0.0) == 0.5


def test_shapes_scalars_and_dtypes_follow_the_input():
    grid = np.linspace(-3, 3, 12).reshape(3, 4)
    for f in (special.erf, special.erfc, special.erfcx, special.ndtr):
        assert f(grid).shape == (3, 4) and f(grid).dtype == np.float64
        assert f(np.float32(0.5)).dtype == np.float32 and f(np.float32(0.5)).shape == ()
        assert f(np.array([1, 2])).dtype == np.float64  # integers → float64
        assert f(np.array([], np.float64)).shape == (0,)


def test_float32_is_the_float64_value_rounded_once():
    rng = np.random.default_rng(3)
    x32 = rng.uniform(-9, 12, 2000).astype(np.float32)  # erfcx(−9.4) overflows float32
    for name in ("erf", "erfc", "erfcx", "ndtr"):
        f = getattr(special, name)
        got = f(x32)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, f(x32.astype(np.float64)).astype(np.float32))
        # so it is within half a float32 ulp (+ a float64 rounding) of the exact value
        with mpmath.workprec(200):
            for g, x in zip(got[:200], x32[:200]):
                want = EXACT[name](mpmath.mpf(float(x)))
                ulp32 = abs(float(np.spacing(np.float32(float(want)))))  # erf is negative too
                assert abs(mpmath.mpf(float(g)) - want) <= 0.5000001 * ulp32, (name, x, g)


def test_large_arrays_are_computed_block_by_block_identically():
    # blocks of 65,536: the result must not depend on where a block boundary falls
    x = np.random.default_rng(4).uniform(-30, 30, 3 * special._BLOCK + 17)
    for f in (special.erf, special.erfc, special.erfcx, special.ndtr):
        whole = f(x)
        pieces = np.concatenate([f(x[:1000]), f(x[1000:])])
        np.testing.assert_array_equal(whole, pieces)


def test_coefficients_are_codys_decimals_to_double_double_accuracy():
    # each coefficient is the nearest double plus the double nearest the rest of Cody's decimal
    for text in ("5.64188496988670089e-1", "1.23033935480374942e03", "2.15311535474403846e-8",
                 "3.20937758913846947e03", "1"):
        high, low = special._double_double(text)
        assert high == float(text)
        assert low == float(Fraction(text) - Fraction(high))
    assert special._ERFCX_NUMERATOR[1] == special._double_double("5.64188496988670089e-1")
