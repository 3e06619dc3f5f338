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

Φ on x86-64 (``dlcalc.exact.EXTENDED``): Φ(x), φ(x) and short formulas in them (gelu's x·Φ and
Φ + x·φ, via ``normal_long``) are evaluated in x87 long double (64-bit mantissa, a hardware
format there), within ~13 long-double ulps (Cody's approximation error, ≤ 0.011·2⁻⁵³, is most of
it), and rounded once: correctly rounded for 99.7% of 50,000 random points over [−38, 0] (gelu'
99.9%), never more than 0.52 ulp off, subnormal results included. gelu and gelu' decide the
elements in doubt again with Φ = φ·R in double-double (``normal_ratio_dd``, dlcalc.rounding),
so they are correctly rounded; ``ndtr`` is not. About 1.2x the time of the float64 path for
|x| < 6, 2.4x in the far tail.

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

import functools

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


def normal_long(x, formula, density=True, dtype=_LONG):
    r"""formula(x, Φ(x), φ(x)) evaluated in x87 long double, returned as ``dtype`` (a formula
    may return a tuple of arrays: a tuple of them is returned).

    Only where ``exact.EXTENDED``. ``x`` is float64 (any shape); the formula receives it clamped to
    [−40, 40], beyond which Φ is 0 or 1 and φ is 0 in float64, so the caller decides what a
    formula growing with x (x·Φ(x)) gives there; φ is None if not ``density`` (saves an expl
    where |x| < 0.66). Computed block by block, so that the temporaries stay in the CPU's cache.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    outputs = None
    with np.errstate(all="ignore"):
        for start in range(0, max(flat.size, 1), _LONG_BLOCK):
            block = slice(start, start + _LONG_BLOCK)
            result = formula(*_normal_long(flat[block], density))
            parts = result if isinstance(result, tuple) else (result,)
            if outputs is None:
                outputs = [np.empty(flat.shape, dtype=dtype) for _ in parts]
            for out, part in zip(outputs, parts):
                out[block] = part
    outputs = tuple(out.reshape(x.shape) for out in outputs)
    return outputs if isinstance(result, tuple) else outputs[0]


def normal_extended(x, formula, density=True):
    r"""formula(x, Φ(x), φ(x)) in x87 long double (``normal_long``), rounded once to float64."""
    return normal_long(x, formula, density, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Φ in double-double: the second stage of gelu's rounding (dlcalc.rounding), for the ~3% of
# elements whose long-double value the first stage above cannot round with certainty.

# For x ≤ 0 the ratio R(x) = Φ(x)/φ(x) (Mills' ratio at −x) is smooth and slowly varying:
# R(0) = √(π/2), R(x) ≈ −1/x for x ≪ 0, and it solves R' = 1 + x·R. So Φ(x) = φ(x)·R(x) and
# 1 − Φ(x) = φ(x)·R(−x), with φ from the double-double exp: no cancellation anywhere, and no
# underflow (φ is carried as 2^k·m). R at the grid points c = −j/4, j = 0…160, as double-doubles,
# generated with mpmath at 400 bits: mpmath.ncdf(c)/mpmath.npdf(c).
_RATIO_STEP = 0.25
_RATIO_TABLE = (
    (1.2533141373155003, -9.164289990229583e-17), (1.0378245758537268, 2.9418983665054666e-17),
    (0.8763644564536923, 2.6901721135929454e-17), (0.7525711790634081, -3.9647853211372663e-17),
    (0.6556795424187984, 2.7085254871687876e-17), (0.5784303460476311, -2.8765876624875867e-17),
    (0.5158156382179634, -3.528415937755258e-17), (0.4643069280394422, -1.495278970479824e-17),
    (0.4213692292880545, -7.739186451304797e-18), (0.3851482907984346, 2.3171140941615155e-17),
    (0.35426511132979366, 8.527077771281615e-18), (0.32767831469055203, 2.3630961402662745e-17),
    (0.3045902987101033, 4.686976714853152e-18), (0.28438214674849294, -1.1933650842076596e-17),
    (0.26656776896822376, -4.5084582405083935e-18), (0.250761111443965, 1.4228148072538475e-17),
    (0.23665238291356067, 4.601651392113041e-18), (0.2239905946538288, -3.4126223208598258e-18),
    (0.21257058044203178, 8.960360377148602e-18), (0.20222323663305466, -1.2547854615584719e-17),
    (0.19280810471531576, 5.8739635339263636e-18), (0.1842076773079702, 3.2533691993125387e-18),
    (0.1763229857571027, 3.382210133633106e-18), (0.16907015040769408, 4.6065207078835e-19),
    (0.16237766089686745, 1.3401099889373892e-17), (0.15618421503397592, -4.207893804089461e-18),
    (0.1504369887362691, -1.0673215026481142e-17), (0.14509024128913092, 7.02542459913377e-18),
    (0.14010418345305023, 1.213086183905418e-17), (0.13544405309676344, 3.3389136583220417e-18),
    (0.13107935580449176, 3.992111477367273e-18), (0.12698323748543697, -6.616009506731492e-18),
    (0.1231319632579323, -1.2907689212373612e-18), (0.11950448239925296, 4.993712578185998e-18),
    (0.11608206338598229, 3.3206156948067184e-18), (0.11284798632010301, 3.871106714968944e-18),
    (0.10978728257830829, 1.1598368542456582e-18), (0.10688651351067449, 1.6503769890599077e-19),
    (0.10413358157959825, 4.0729606838847e-18), (0.1015175685681028, 2.8655999365756664e-18),
    (0.09902859647173193, -6.412997983307998e-18), (0.09665770747608192, -4.5950550845620594e-18),
    (0.09439676005522439, -5.3120446459657326e-18), (0.09223833873763033, -9.330441118628247e-20),
    (0.09017567550106469, -4.2658022042981625e-18), (0.08820258109597615, 1.8456627508792824e-18),
    (0.08631338487354935, 6.811675864617694e-18), (0.08450288192189576, 2.241259419126371e-18),
    (0.08276628650136918, 4.987585986369323e-19), (0.08109919092525537, 1.6377314667964687e-18),
    (0.07949752916111721, -1.811674316964893e-18), (0.07795754453568719, 6.7501174853100024e-18),
    (0.0764757610162485, -2.7590620131940063e-18), (0.07504895761704658, -4.0794589754651976e-18),
    (0.07367414554294563, 5.993580395108733e-19), (0.07234854773633337, 2.5162717426953585e-18),
    (0.07106958053885211, -1.9289684202823494e-18), (0.06983483721825941, -2.623176304906554e-19),
    (0.06864207314371742, -1.6875150009032826e-18), (0.06748919242099968, 1.5084304892168426e-18),
    (0.06637423582325018, -6.419499959463563e-18), (0.06529536987366383, 1.9201553694364468e-18),
    (0.06425087695430573, -4.914175773829476e-18), (0.06323914633068607, -1.5587014380214346e-18),
    (0.0622586659950262, -2.304466612492497e-18), (0.06130801524269382, 9.829144219237e-19),
    (0.060385857906312325, 2.2197331162984225e-19), (0.05949093618077612, -3.25483584077932e-18),
    (0.058622064980015945, -1.0262055729648969e-18), (0.05777812677301058, -1.7865204846278732e-18),
    (0.05695806685236581, -3.0768426587393674e-18), (0.05616088899389184, -3.1607102961546647e-18),
    (0.05538565147010074, -2.669823273794742e-18), (0.05463146338449948, -3.2610654671118305e-18),
    (0.05389748129704106, -1.5984188562358363e-18), (0.053182906114176504, -7.265365835599476e-19),
    (0.05248698021967636, 1.2792119740219318e-18), (0.051808984824806226, -5.860832730080557e-19),
    (0.05114823751858488, -1.8437263281558795e-18), (0.05050409000076044, -3.0745696526507983e-18),
    (0.04987592598183679, -3.334954870231769e-18), (0.0492631592359962, 8.421365702145532e-19),
    (0.04866523179411518, -2.657866213614833e-19), (0.048081612265278455, -1.0971567887921724e-18),
    (0.047511794276278115, -1.497281687466188e-18), (0.04695529501955409, -3.2806858904116677e-18),
    (0.046411653900902836, -2.5361579078022008e-18), (0.0458804312790633, 1.3239560935158108e-18),
    (0.0453612072899931, 1.2863426585717493e-18), (0.04485358074928212, 9.090736747348241e-19),
    (0.044357168126722774, 2.3558180611421697e-18), (0.04387160258757271, -1.5937448444712899e-18),
    (0.0433965330955127, 1.1265422920207716e-18), (0.04293162357272532, -2.9449497187374373e-18),
    (0.042476552112902514, -1.8526243957644837e-18), (0.04203101024333804, 2.872637009863447e-18),
    (0.041594702232575505, 6.673921001619848e-19), (0.04116734444036965, 2.202643278087237e-18),
    (0.04074866470697912, -1.3589451281883212e-18), (0.040338401779046185, 4.753604509844864e-19),
    (0.039936304769535594, -1.299465955750242e-18), (0.03954213264940163, -1.7325836049112022e-18),
    (0.039155653768833176, -1.1366372213975109e-18), (0.03877664540609097, 1.7090606911283793e-18),
    (0.03840489334210213, 8.278827288136532e-19), (0.03804019145911481, -2.225284721291585e-18),
    (0.037682341361842536, 1.1849733665691617e-18), (0.03733115201964339, 8.709140471241637e-19),
    (0.03698643942838582, -2.89451236292712e-18), (0.036648026290750584, 4.703961466566364e-19),
    (0.036315741713808115, 1.7778022983957687e-18), (0.0359894209227933, 1.904898529995876e-18),
    (0.035668904990075766, -2.2015533729628458e-18), (0.03535404057839387, -1.210349538903383e-18),
    (0.03504467969748535, 1.3916353223334166e-19), (0.03474067947330702, -3.051058065585007e-18),
    (0.034441901929091245, 2.1626826684222576e-19), (0.03414821377753766, -3.347368399196334e-18),
    (0.033859486223485676, 3.175138076008411e-18), (0.03357559477645696, -5.758594027006487e-20),
    (0.03329641907249721, 3.0477411418409902e-18), (0.03302184270478412, -2.1631005813741872e-19),
    (0.03275175306250282, 1.6328220728984132e-18), (0.03248604117752237, 1.9178437307253614e-18),
    (0.032224601578436665, 6.400157368383987e-19), (0.03196733215156061, 2.4524918748218663e-18),
    (0.03171413400849854, -2.6422382764664027e-18), (0.031464911359925275, 1.8255555362791513e-18),
    (0.031219571395243034, 6.758330584579146e-19), (0.030978024167797547, -9.260367704801598e-19),
    (0.030740182485356538, 1.4549739574707939e-18), (0.03050596180557142, -1.0972765964986219e-18),
    (0.030275280136159863, -1.6536291193994112e-18), (0.030048057939562677, -1.4287260163806192e-18),
    (0.029824218041842893, 1.3366350425064663e-18), (0.029603685545608674, -9.430983514568063e-19),
    (0.02938638774675435, 1.1658082056019873e-18), (0.029172254054825927, 3.7282610391663464e-20),
    (0.028961215916828355, 9.244987121509524e-19), (0.028753206744302488, 1.6583829410125356e-18),
    (0.02854816184350927, 5.411038865943174e-19), (0.028346018348567908, 1.08636287250423e-18),
    (0.028146715157403385, 1.723110889470113e-18), (0.02795019287036659, 1.4369283714597004e-18),
    (0.027756393731398026, -7.065316922570875e-19), (0.027565261571613014, 1.3305842732112324e-19),
    (0.02737674175519304, 1.1571877533075695e-18), (0.027190781127474035, -4.432368693991392e-19),
    (0.027007327965128336, 6.304283361332647e-20), (0.026826331928342526, 1.4635596564217215e-18),
    (0.02664774401489855, 1.6734491437786357e-18), (0.026471516516070357, -1.2461494426608223e-18),
    (0.026297602974252963, 1.5678749274765259e-18), (0.026125958142245102, -1.424680170741356e-18),
    (0.02595653794411066, -4.178892710415769e-19), (0.025789299437548076, -8.754642113273645e-19),
    (0.025624200777700307, 1.4299808950501e-18), (0.025461201182341537, -7.722874476002863e-19),
    (0.025300260898379886, -6.427079996630902e-20), (0.025141341169618556, 1.4866902472381127e-18),
    (0.02498440420572057, 3.7330316278653e-19),
)
# Terms of the Taylor series at a grid point, |t| ≤ 1/8: the first one left out weighs below
# 2⁻¹⁰⁸ of R at every grid point (measured with mpmath at 400 bits; at c = 0, where R's
# coefficients fall slowest, 24 terms are needed; at c = −40, 13). Those from t¹³ on weigh
# together below 2⁻⁵⁶ of R(c) (measured alike): they are summed in float64 (2⁻¹⁰⁸ of R).
_RATIO_TERMS = 24
_RATIO_DD_TERMS = 13


@functools.cache
def _ratio_coefficients():
    """R's Taylor coefficients r_n at every grid point c, as two arrays (hi, lo) of shape
    (_RATIO_TERMS, 161): r_0 = R(c), r_1 = 1 + c·r_0, (n + 1)·r_{n+1} = c·r_n + r_{n−1} (from
    R' = 1 + x·R), in double-double; built on first use (~2 ms)."""
    c = -_RATIO_STEP * np.arange(len(_RATIO_TABLE), dtype=np.float64)
    r0 = (np.array([h for h, _ in _RATIO_TABLE]), np.array([lo for _, lo in _RATIO_TABLE]))
    coefficients = [r0, exact.dd_add_d(exact.dd_mul_d(r0, c), 1.0)]
    for n in range(1, _RATIO_TERMS - 1):
        following = exact.dd_add(exact.dd_mul_d(coefficients[n], c), coefficients[n - 1])
        coefficients.append(exact.dd_mul(following, exact.dd_constant(1, n + 1)))
    return (np.array([hi for hi, _ in coefficients]), np.array([lo for _, lo in coefficients]))


def normal_ratio_dd(v):
    r"""R(v) = Φ(v)/φ(v) for float64 −40 ≤ v ≤ 0, in double-double (hi, lo).

    The Taylor series of R at the nearest grid point c = −j/4, summed by Horner in double-double
    in t = v − c (exact: Sterbenz, or c = 0), |t| ≤ 1/8. Error: the table's rounding (2⁻¹⁰⁶),
    the truncation (< 2⁻¹⁰⁸) and the double-double operations (a few 2⁻¹⁰⁴ each), of which
    those in the coefficients propagate like solutions of R' = x·R, by e^(c·t + t²/2) ≤ e^(|c|/8)
    relative to R(v): at most 148 = 2^7.2 at c = −40, so within 2⁻⁹⁵ there and 2⁻¹⁰⁰ for
    |v| ≤ 10 (tests/test_rounding_stage.py measures it against mpmath).
    """
    j = np.rint(v * -(1 / _RATIO_STEP)).astype(np.int64)
    t = v + _RATIO_STEP * j
    hi, lo = (c[:, j] for c in _ratio_coefficients())  # row n: r_n at each element's c
    tail = hi[-1]
    for n in range(_RATIO_TERMS - 2, _RATIO_DD_TERMS - 1, -1):
        tail = tail * t + hi[n]
    p, t_split = (tail, np.zeros_like(tail)), split(t)
    for n in range(_RATIO_DD_TERMS - 1, -1, -1):  # p·t + r_n, p·t as in exact.dd_mul_d
        product, error = two_product(p[0], t, t_split)
        p = exact.dd_add(exact.fast_two_sum(product, error + p[1] * t), (hi[n], lo[n]))
    return p


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
