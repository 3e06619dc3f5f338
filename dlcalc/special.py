r"""erf, erfc, erfcx and the normal CDF Φ in vectorised NumPy, so that dlcalc needs no SciPy.

Importing ``scipy.special`` costs ~180 ms, as much as the rest of ``dlcalc activate`` together,
and these functions are all that gelu, its derivative and the expressions of `dlcalc grad` and
`plot` (erf, Phi, gelu) need from it.

Algorithm: W. J. Cody's rational Chebyshev approximations, the CALERF packet of netlib's SPECFUN
(https://www.netlib.org/specfun/erf; W. J. Cody, "Rational Chebyshev approximations for the error
function", Math. Comp. 23 (1969), 631–638). The coefficients below are CALERF's (latest
modification March 19, 1990), which approximate to at least 18 significant digits:

- |x| ≤ 0.46875:        erf(x) = x·A(x²)/B(x²),  erfc(x) = 1 − erf(x);
- 0.46875 < y ≤ 4:      erfcx(y) = C(y)/D(y);
- y > 4:                erfcx(y) = (1/√π − r·P(r)/Q(r))/y,  r = 1/y²;
- x < 0:                erfc(x) = 2 − erfc(−x),  erfcx(x) = 2e^(x²) − erfcx(−x).

Where this module differs from CALERF is in how those formulas are evaluated, for accuracy:

- C/D and A/B are summed by compensated Horner (Graillat, Langlois & Louvet, "Compensated
  Horner scheme", 2005) with each coefficient as the double-double nearest to Cody's 18-digit
  decimal, and divided in double-double: plain Horner loses up to 5 ulp on 0.47 < y < 4. (The
  first three steps of C and D stay plain: that costs ~0.3 ulp at most and saves a third.)
- e^(∓x²) magnifies the rounding error of x² by x² (≈ 700 at x = 26.5). CALERF splits x at
  sixteenths; here x² = s + e exactly (Dekker's two-product) and e^(−s−e) = e^(−s)·(1 − e).
- e^(−s) is taken as e^(128·ln 2 − s)·2⁻¹²⁸, the shift carried as a two-sum, so erfc(x) in the
  subnormal range (26.55 < x < 27.3) is rounded once from a full-precision value instead of being
  computed from an e^(−x²) that has already lost its low bits (SciPy returns 0 beyond 26.64).

Φ on x86-64 (``dlcalc.exact.EXTENDED``): Φ(x), φ(x) and short formulas in them (gelu's x·Φ and Φ + x·φ, via
``normal_extended``) are evaluated in x87 long double (64-bit mantissa, a hardware format there)
and rounded once: correctly rounded for 99.7% of 50,000 random points over [−38, 0] (gelu' 99.9%),
never more than 0.52 ulp off, subnormal results included; what is left is Cody's approximation
error (≤ 0.011·2⁻⁵³). About 1.2x the time of the float64 path for |x| < 6, 2.4x in the far tail.

Accuracy of the float64 path (against mpmath at 200 bits on ~220,000 points per function over
[−30, 30] (Φ: [−40, 40]) plus the tails and the region boundaries; tests/test_special.py checks
a sample): at most 1.87 ulp (erfc), 1.63 (erfcx), 1.85 (Φ); mean 0.19–0.28 ulp, 99.3% within 1 ulp. Much of
what remains is NumPy's exp (≤ 0.67 ulp). SciPy 1.17 on the same points: erfc and Φ flush to 0
before they underflow (erfc(26.7) is 0, not 5.25e-312), erfcx near x = −26 is off by 510 ulp.
float32 (and float16) input is computed in float64 and rounded once to float32; integers give
float64. NaN gives NaN; erfc(−∞) = 2, erfc(+∞) = 0, erfcx(+∞) = 0, erfcx(−∞) = +∞ (+∞ already
for x < −26.63, as the exact value overflows), Φ(−∞) = 0, Φ(+∞) = 1.
"""

from __future__ import annotations

import numpy as np

from dlcalc import exact
from dlcalc.exact import split, two_product, two_sum

__all__ = ["erf", "erfc", "erfcx", "ndtr", "normal_extended"]


def _double_double(text: str) -> tuple[float, float]:
    """The decimal ``text`` as high + low: the nearest double and the double nearest the rest."""
    high = float(text)
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    numerator, denominator = int(whole + fraction), 1
    power = int(exponent or 0) - len(fraction)
    if power >= 0:
        numerator *= 10**power
    else:
        denominator = 10**-power
    high_numerator, high_denominator = high.as_integer_ratio()
    rest = numerator * high_denominator - high_numerator * denominator
    return high, rest / (denominator * high_denominator)  # int / int is correctly rounded


def _coefficients(*texts: str) -> tuple[tuple[float, float], ...]:
    return tuple(_double_double(text) for text in texts)


# Cody's coefficients (CALERF), each polynomial highest degree first, as double-doubles.
# erf(x) = x·A(t)/B(t), t = x²:  A = A5·t⁴ + A1·t³ + A2·t² + A3·t + A4,  B = t⁴ + B1·t³ + ... + B4
_ERF_NUMERATOR = _coefficients(
    "1.85777706184603153e-1", "3.16112374387056560e00", "1.13864154151050156e02",
    "3.77485237685302021e02", "3.20937758913846947e03")
_ERF_DENOMINATOR = _coefficients(
    "1", "2.36012909523441209e01", "2.44024637934444173e02", "1.28261652607737228e03",
    "2.84423683343917062e03")
# erfcx(y) = C(y)/D(y):  C = C9·y⁸ + C1·y⁷ + ... + C7·y + C8,  D = y⁸ + D1·y⁷ + ... + D8
_ERFCX_NUMERATOR = _coefficients(
    "2.15311535474403846e-8", "5.64188496988670089e-1", "8.88314979438837594e00",
    "6.61191906371416295e01", "2.98635138197400131e02", "8.81952221241769090e02",
    "1.71204761263407058e03", "2.05107837782607147e03", "1.23033935479799725e03")
_ERFCX_DENOMINATOR = _coefficients(
    "1", "1.57449261107098347e01", "1.17693950891312499e02", "5.37181101862009858e02",
    "1.62138957456669019e03", "3.29079923573345963e03", "4.36261909014324716e03",
    "3.43936767414372164e03", "1.23033935480374942e03")
# y > 4: erfcx(y) = (1/√π − r·P(r)/Q(r))/y, r = 1/y²; r·P/Q ≤ 3% of 1/√π, so in float64
# plain doubles do (the high parts below); the long-double path uses the whole decimals.
# P = P6·r⁵ + P1·r⁴ + ... + P4·r + P5,  Q = r⁵ + Q1·r⁴ + ... + Q4·r + Q5
_ASYMPTOTIC_NUMERATOR = _coefficients(
    "1.63153871373020978e-2", "3.05326634961232344e-1", "3.60344899949804439e-1",
    "1.25781726111229246e-1", "1.60837851487422766e-2", "6.58749161529837803e-4")
_ASYMPTOTIC_DENOMINATOR = _coefficients(
    "1", "2.56852019228982242e00", "1.87295284992346047e00", "5.27905102951428412e-1",
    "6.05183413124413191e-2", "2.33520497626869185e-3")

_THRESHOLD = 0.46875  # Cody's boundary between erf's and erfcx's approximations
_INV_SQRT_PI = (0.5641895835477563, 7.66772980658294e-18)  # 1/√π as a double-double
_TWO_INV_SQRT_PI = 1.1283791670955126  # 2/√π
_SQRT1_2 = (0.7071067811865476, -4.833646656726457e-17)  # 1/√2 as a double-double
_SHIFT = (88.722839111673, 2.9683799217232634e-15)  # 128·ln 2 as a double-double
_UNSHIFT = 2.0**-128
_BLOCK = 1 << 16  # elements per block: the temporaries of one block stay in the CPU's cache


# ---------------------------------------------------------------------------------------------
# Double-double steps (float64, one-dimensional arrays), on dlcalc.exact's error-free arithmetic


def _compensated_horner(coefficients, y, plain=0):
    """Σ c_k·y^k for double-double c_k, as high + low: as accurate as Horner in double-double.

    The first ``plain`` steps are plain Horner (their rounding errors are left out).
    """
    y_split = split(y)
    total = np.full_like(y, coefficients[0][0])
    for high, _ in coefficients[1:plain + 1]:
        total = total * y + high
    error = np.zeros_like(y)
    for high, low in coefficients[plain + 1:]:
        product, product_error = two_product(total, y, y_split)
        total, sum_error = two_sum(product, high)
        error = error * y + (product_error + sum_error + low)
    return total, error


def _divide(numerator, numerator_low, denominator, denominator_low):
    """(n + n_low)/(d + d_low) as q + q_low: one division, its remainder by a two-product."""
    q = numerator / denominator
    p, p_error = two_product(q, denominator)
    remainder = ((numerator - p) - p_error) + (numerator_low - q * denominator_low)
    return q, remainder / denominator


def _finite(low):
    """Low parts are corrections: where an infinity made one NaN or infinite, drop it."""
    return np.where(np.isfinite(low), low, 0.0)


# ---------------------------------------------------------------------------------------------
# Cody's three regions, each returning a double-double (high, low)


def _erf_small(x):
    """erf(x) for |x| ≤ 0.46875, x·A(x²)/B(x²).

    x² is rounded, harmlessly: erf(x)/x depends on t = x² with a relative sensitivity ≤ t/3.
    """
    t = x * x
    quotient, quotient_low = _divide(*_compensated_horner(_ERF_NUMERATOR, t),
                                     *_compensated_horner(_ERF_DENOMINATOR, t))
    high, low = two_product(x, quotient)
    return high, low + x * quotient_low


def _erfcx_middle(y, plain=3):
    """erfcx(y) for 0.46875 < y ≤ 4, C(y)/D(y); plain=0 for the last 0.3 ulp (see above)."""
    return _divide(*_compensated_horner(_ERFCX_NUMERATOR, y, plain=plain),
                   *_compensated_horner(_ERFCX_DENOMINATOR, y, plain=plain))


def _erfcx_large(y):
    """erfcx(y) for y > 4, (1/√π − r·P(r)/Q(r))/y; 1/(y·√π) once r = 1/y² underflows to 0."""
    r = 1.0 / (y * y)
    numerator = np.full_like(y, _ASYMPTOTIC_NUMERATOR[0][0])
    denominator = np.ones_like(y)
    for (p, _), (q, _) in zip(_ASYMPTOTIC_NUMERATOR[1:], _ASYMPTOTIC_DENOMINATOR[1:]):
        numerator = numerator * r + p
        denominator = denominator * r + q
    bracket, bracket_low = two_sum(_INV_SQRT_PI[0], -(r * numerator / denominator))
    quotient, quotient_low = _divide(bracket, bracket_low + _INV_SQRT_PI[1], y, 0.0)
    return quotient, _finite(quotient_low)  # y ≳ 1e300: the two-product overflows


def _erfcx_positive(y):
    """erfcx(y) = e^(y²)·erfc(y) for y > 0.46875, up to +∞."""
    middle = y <= 4.0
    if middle.all():
        return _erfcx_middle(y)
    if not middle.any():
        return _erfcx_large(y)
    high, low = np.empty_like(y), np.empty_like(y)
    high[middle], low[middle] = _erfcx_middle(y[middle])
    large = ~middle
    high[large], low[large] = _erfcx_large(y[large])
    return high, low


def _times_exp_minus(factor, factor_low, square, square_low):
    """(factor + factor_low)·e^(−(square + square_low)), rounded once; 0 ≤ square ≲ 760.

    e^(−s) = e^(128·ln 2 − s)·2⁻¹²⁸: the shifted argument is formed by a two-sum, its rounding
    error and square_low go into the first-order correction (e^(−δ) = 1 − δ), and the scaling by
    2⁻¹²⁸ is one correctly rounded multiplication, so a subnormal result is rounded only there.
    """
    t, t_low = two_sum(_SHIFT[0], -square)
    correction = (t_low + _SHIFT[1]) - square_low
    gauss = np.exp(t)
    p, p_low = two_product(factor, gauss)
    return (p + (p_low + gauss * factor_low + p * correction)) * _UNSHIFT


def _erfc_positive(y):
    """erfc(y) = erfcx(y)·e^(−y²) for y > 0.46875, rounded; 0 beyond y ≈ 27.3 (underflow)."""
    high, low = _erfcx_positive(y)
    y = np.minimum(y, 27.5)  # keeps y² finite; erfc(27.5) is already 0 in float64
    square, square_low = two_product(y, y)
    return _times_exp_minus(high, low, square, square_low)


def _erfc(x):
    """erfc(x) as a double-double, any x."""
    high, low = np.full_like(x, np.nan), np.zeros_like(x)
    y = np.abs(x)
    small = y <= _THRESHOLD
    if small.any():
        erf_high, erf_low = _erf_small(x[small])
        high[small], sum_error = two_sum(1.0, -erf_high)
        low[small] = sum_error - erf_low
    positive = x > _THRESHOLD
    if positive.any():
        high[positive] = _erfc_positive(x[positive])
    negative = x < -_THRESHOLD
    if negative.any():
        high[negative], low[negative] = two_sum(2.0, -_erfc_positive(y[negative]))
    return high, low


def _erfcx(x):
    """erfcx(x), rounded, any x."""
    out = np.full_like(x, np.nan)
    y = np.abs(x)
    small = y <= _THRESHOLD
    if small.any():
        xs = x[small]
        erf_high, erf_low = _erf_small(xs)
        erfc_high, erfc_low = two_sum(1.0, -erf_high)
        erfc_low = erfc_low - erf_low
        square, square_low = two_product(xs, xs)
        gauss = np.exp(square)  # e^(x²) = e^s·(1 + e)
        p, p_low = two_product(gauss, erfc_high)
        out[small] = p + (p_low + gauss * (erfc_low + erfc_high * square_low))
    positive = x > _THRESHOLD
    if positive.any():
        high, low = _erfcx_positive(x[positive])
        out[positive] = high + low
    negative = x < -_THRESHOLD
    if negative.any():
        yn = np.minimum(y[negative], 27.0)  # e^(27²) overflows: keeps y² finite
        square, square_low = two_product(yn, yn)
        twice_gauss = 2.0 * np.exp(square)
        high, low = _erfcx_positive(y[negative])
        difference, difference_error = two_sum(twice_gauss, -high)
        out[negative] = difference + _finite(difference_error + (twice_gauss * square_low - low))
    return out


def _ndtr(x):
    """Φ(x), rounded, any x (see ndtr)."""
    out = np.full_like(x, np.nan)
    z, z_low = two_product(x, -_SQRT1_2[0])
    z_low = _finite(z_low - x * _SQRT1_2[1])
    upper = x >= -1.0
    if upper.any():
        zu, zu_low = z[upper], z_low[upper]
        high, low = _erfc(zu)
        slope = _TWO_INV_SQRT_PI * np.exp(-zu * zu)  # −erfc'(z); its own error is second order
        out[upper] = 0.5 * (high + (low - zu_low * slope))
    lower = x < -1.0
    if lower.any():
        zl, zl_low = np.minimum(z[lower], 1e300), z_low[lower]  # x = −∞: no ∞·0 below
        high, low = _erfcx_positive(zl)
        low = low + zl_low * (2.0 * zl * high - _TWO_INV_SQRT_PI)  # erfcx'(z) = 2z·erfcx − 2/√π
        xl = np.maximum(x[lower], -39.0)  # Φ(−39) underflows to 0 already: keeps x² finite
        square, square_low = two_product(xl, xl)
        out[lower] = _times_exp_minus(0.5 * high, 0.5 * low, 0.5 * square, 0.5 * square_low)
    return out


# ---------------------------------------------------------------------------------------------
# Φ and φ in x87 extended precision: correctly rounded in all but ~1% of cases

# On x86-64, long double is the x87 format, a hardware type with 64 bits of mantissa (11 more
# than float64). There Φ(x), φ(x) and any short formula in them (x·Φ, Φ + x·φ) are computed in
# long double and rounded once to float64, which is correctly rounded unless the exact value
# lies within the error below of a midpoint between two doubles. Cody's rationals themselves
# are good to ≤ 0.011·2⁻⁵³ relative (measured with mpmath at 200 bits, the coefficients taken
# as his exact decimals: 0.011 for C/D, 0.005 for P/Q, 0.003 for A/B), expl to 1.2·2⁻⁶⁴, and
# plain Horner in long double adds ~2⁻⁶¹ at most, because every coefficient is positive and so
# is the variable (t = x²/2, y or r = 1/y²): the sums never cancel. Where long double is IEEE
# quad (aarch64 Linux, software: tens of times slower), double-double (PowerPC) or plain double
# (MSVC, macOS arm64), the float64 code above is used instead: ≤ 2 ulp, not correctly rounded.
# ``exact.EXTENDED`` says whether this path is taken (DLCALC_FLOAT64_ONLY=1 turns it off).

_LONG = np.longdouble
_LONG_BLOCK = 1 << 14  # elements per block: 16-byte temporaries that stay in the CPU's cache
_NORMAL_LIMIT = 40.0  # |x| beyond: Φ(x) is 0 or 1 and φ(x) is 0 in float64 (Φ(−40) = 3.7e-350)


def _long(high: float, low: float = 0.0):
    return _LONG(high) + _LONG(low)


def _long_coefficients(coefficients):
    return tuple(_long(high, low) for high, low in coefficients)


_ERF_NUMERATOR_LONG = _long_coefficients(_ERF_NUMERATOR)
_ERF_DENOMINATOR_LONG = _long_coefficients(_ERF_DENOMINATOR)
_ERFCX_NUMERATOR_LONG = _long_coefficients(_ERFCX_NUMERATOR)
_ERFCX_DENOMINATOR_LONG = _long_coefficients(_ERFCX_DENOMINATOR)
_ASYMPTOTIC_NUMERATOR_LONG = _long_coefficients(_ASYMPTOTIC_NUMERATOR)
_ASYMPTOTIC_DENOMINATOR_LONG = _long_coefficients(_ASYMPTOTIC_DENOMINATOR)
_INV_SQRT_PI_LONG = _long(*_INV_SQRT_PI)
_SQRT1_2_LONG = _long(*_SQRT1_2)
_INV_SQRT_2PI_LONG = _long(0.3989422804014327, -2.49232720227773e-17)  # 1/√(2π)
# Φ(x) − ½ = x·Ã(x²)/B̃(x²) for |x|/√2 ≤ 0.46875: A and B at t = x²/2 (c_k·2⁻ᵏ, exact), and
# the factor ½·(1/√2) in Ã
_CDF_NUMERATOR_LONG = tuple(c * _LONG(0.5) ** (4 - i) * (_SQRT1_2_LONG / 2)
                            for i, c in enumerate(_ERF_NUMERATOR_LONG))
_CDF_DENOMINATOR_LONG = tuple(c * _LONG(0.5) ** (4 - i) for i, c in enumerate(_ERF_DENOMINATOR_LONG))


def _horner_long(coefficients, t, plain=0, t_float64=None):
    """Σ c_k·t^k by Horner in long double, the first ``plain`` steps in float64 (on t_float64).

    Float64 steps are for leading terms whose share of the sum is so small that float64's
    rounding errors in them stay below 2⁻⁶⁰ of the total.
    """
    total = np.full_like(t if not plain else t_float64, coefficients[0])
    for c in coefficients[1:plain + 1]:
        total = total * t_float64 + float(c)
    for c in coefficients[plain + 1:]:
        total = total * t + c
    return total


def _erfcx_asymptotic_long(y):
    """erfcx(y) = (1/√π − r·P(r)/Q(r))/y, r = 1/y², for y > 4, in long double.

    r·P/Q is at most 3% of 1/√π and the terms of degree ≥ 3 of P and Q at most 6% of their
    sums (r ≤ 1/16): their first two Horner steps are done in float64 (~2⁻⁶³ of erfcx).
    """
    r = 1 / (y * y)
    r_float64 = r.astype(np.float64)
    bracket = r * (_horner_long(_ASYMPTOTIC_NUMERATOR_LONG, r, 2, r_float64)
                   / _horner_long(_ASYMPTOTIC_DENOMINATOR_LONG, r, 2, r_float64))
    return (_INV_SQRT_PI_LONG - bracket) / y


def _gauss_long(x):
    """e^(−x²/2) in long double: x² = s + e exactly, e^(−s/2) by expl (−s/2 is exact), ·(1 − e/2)."""
    square, square_low = two_product(x, x)
    gauss = np.exp((-0.5 * square).astype(_LONG))
    return gauss - gauss * (0.5 * square_low).astype(_LONG)


def _normal_long(x, density=True):
    """x clamped to [−40, 40], Φ(x) and φ(x) (None unless ``density``) in long double.

    |x| ≤ 0.66291 (y = |x|/√2 ≤ 0.46875): Φ = ½ + ½·erf(x/√2) = ½ + x·Ã(x²)/B̃(x²), Cody's A and
    B with t = x²/2 and the factor 1/(2√2) taken into the coefficients (|erf| ≤ 0.493: the sum
    does not cancel). Beyond: the tail Q = ½·erfcx(y)·e^(−x²/2), Φ = Q for x < 0 and 1 − Q for
    x > 0 (Q < 0.32: no cancellation either). erfcx(y) for y ≤ 4 is C(y)/D(y) in double-double
    (compensated Horner: as fast as long double here, and more accurate), from y = y_high +
    y_low; for y > 4 it is the asymptotic form in long double.
    """
    x = np.clip(x, -_NORMAL_LIMIT, _NORMAL_LIMIT)  # NaN stays NaN
    x_long = x.astype(_LONG)
    magnitude = np.abs(x)
    cdf = np.empty_like(x_long)

    central = magnitude <= 0.6629126073623883
    xc = x_long[central]
    u = xc * xc  # its rounding is harmless: erf(z)/z depends on t = u/2 with a sensitivity ≤ t/3
    ratio = _horner_long(_CDF_NUMERATOR_LONG, u) / _horner_long(_CDF_DENOMINATOR_LONG, u)
    cdf[central] = 0.5 + xc * ratio

    tails = ~central  # and NaN
    xt, yt = x[tails], magnitude[tails]
    erfcx = np.empty(xt.shape, _LONG)
    middle = yt <= 5.656854249492381  # y ≤ 4
    y, y_low = two_product(yt[middle], _SQRT1_2[0])
    y_low = y_low + yt[middle] * _SQRT1_2[1]
    high, low = _erfcx_middle(y, plain=0)
    low = low + y_low * (2.0 * y * high - _TWO_INV_SQRT_PI)  # erfcx'(y) = 2y·erfcx − 2/√π
    erfcx[middle] = high.astype(_LONG) + low.astype(_LONG)
    large = ~middle  # and NaN
    erfcx[large] = _erfcx_asymptotic_long(yt[large].astype(_LONG) * _SQRT1_2_LONG)

    if density:
        gauss = _gauss_long(x)
        tail = 0.5 * erfcx * gauss[tails]
        pdf = _INV_SQRT_2PI_LONG * gauss
    else:
        tail = 0.5 * erfcx * _gauss_long(xt)
        pdf = None
    cdf[tails] = np.where(xt < 0, tail, 1 - tail)
    return x_long, cdf, pdf


def normal_extended(x, formula, density=True):
    r"""formula(x, Φ(x), φ(x)) evaluated in x87 long double and rounded once to float64.

    Only where ``exact.EXTENDED``. ``x`` is float64 (any shape); the formula receives it clamped to
    [−40, 40], beyond which Φ is 0 or 1 and φ is 0 in float64, so the caller decides what a
    formula growing with x (x·Φ(x)) gives there; φ is None if not ``density`` (saves an expl
    where |x| < 0.66). Computed block by block, so that the temporaries stay in the CPU's cache.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    with np.errstate(all="ignore"):
        for start in range(0, flat.size, _LONG_BLOCK):
            block = slice(start, start + _LONG_BLOCK)
            out[block] = formula(*_normal_long(flat[block], density))
    return out.reshape(x.shape)


def _cdf(x, cdf, pdf):
    return cdf


def _ndtr_extended(x):
    return normal_extended(x, _cdf, density=False)


# ---------------------------------------------------------------------------------------------
# Public functions


def _apply(kernel, x):
    """kernel on x as float64, block by block (temporaries in cache), in x's float dtype."""
    x = np.asarray(x)
    if x.dtype in (np.float32, np.float64):
        dtype = x.dtype
    else:
        dtype = np.dtype(np.float32 if x.dtype == np.float16 else np.float64)
    flat = x.astype(np.float64).reshape(-1)
    out = np.empty_like(flat)
    with np.errstate(all="ignore"):  # intermediate overflow and 0·∞ are expected and handled
        for start in range(0, flat.size, _BLOCK):
            block = slice(start, start + _BLOCK)
            out[block] = kernel(flat[block])
        return out.reshape(x.shape).astype(dtype, copy=False)  # float32: erfcx(−10) = +∞


def _rounded_erfc(x):
    high, low = _erfc(x)
    return high + low


def _erf(x):
    """erf(x), rounded, any x (see erf)."""
    out = np.full_like(x, np.nan)
    y = np.abs(x)
    small = y < 0.5
    if small.any():
        high, low = _erf_small(x[small])
        out[small] = np.where(high == 0, x[small], high + low)  # erf(−0) = −0
    large = y >= 0.5
    if large.any():
        out[large] = np.copysign(1.0 - _erfc_positive(y[large]), x[large])
    return out


def erf(x):
    r"""erf(x) = (2/√π)·∫₀ˣ e^(−t²) dt, element-wise.

    |x| < 0.5: Cody's x·A(x²)/B(x²) (good to 0.0036·2⁻⁵³ up to 0.5, beyond CALERF's 0.46875)
    in double-double, rounded once. |x| ≥ 0.5: ±(1 − erfc(|x|)), where erfc(|x|) ≤ 0.48 is at
    most half an ulp of erf per ulp of its own: ≤ 1.5 ulp in all. erf(±∞) = ±1, NaN gives NaN.
    """
    return _apply(_erf, x)


def erfc(x):
    r"""erfc(x) = 1 − erf(x) = (2/√π)·∫ₓ^∞ e^(−t²) dt, element-wise.

    Stable form: 1 − erf(x) only for |x| ≤ 0.46875 (where erf(x) ≤ 0.493, no cancellation);
    erfcx(x)·e^(−x²) above, with x² split exactly; 2 − erfc(−x) below. Subnormal results
    (26.55 < x < 27.3) are rounded once; 0 beyond.
    """
    return _apply(_rounded_erfc, x)


def erfcx(x):
    r"""erfcx(x) = e^(x²)·erfc(x), the scaled complementary error function, element-wise.

    For x → +∞, erfcx(x) ≈ 1/(x·√π): no underflow, unlike erfc. For x < −0.46875 it is
    2e^(x²) − erfcx(−x), with e^(x²) corrected for the rounding of x²; +∞ for x < −26.63.
    """
    return _apply(_erfcx, x)


def ndtr(x):
    r"""Φ(x) = ½·erfc(−x/√2), the standard normal CDF, element-wise.

    Where ``exact.EXTENDED``, computed in x87 long double and rounded once (see ``_normal_long``).
    Elsewhere z = −x/√2 is carried as a double-double z + z_low and enters to first order:
    erfc(z + z_low) = erfc(z) − z_low·(2/√π)·e^(−z²). For x < −1, Φ(x) = ½·erfcx(z)·e^(−x²/2),
    since erfc(z) would magnify the rounding of z by 2z²: erfcx has no underflow and e^(−x²/2)
    is computed from x itself with x² split exactly, so the lower tail keeps its digits down to
    the subnormals (Φ(−37.5) ≈ 4.6e-308; 0 below −38.5).
    """
    return _apply(_ndtr_extended if exact.EXTENDED else _ndtr, x)
