r"""Error-free arithmetic and extended precision: the one place every numeric module takes them from.

Error-free transformations (Knuth, Dekker; see Muller et al., *Handbook of Floating-Point
Arithmetic*, ch. 4): a + b and a·b are returned as the rounded result and its exact rounding
error, s + e = a + b and p + e = a·b, so that a computation can carry a value in double-double
(an unevaluated sum of two floats) where one rounding would cost too many digits.

- ``two_sum(a, b)``: Knuth's branch-free two-sum, any order of magnitude.
- ``split(a)``: Dekker's split into two halves that multiply exactly (26 + 27 bits in float64,
  12 + 12 in float32).
- ``two_product(a, b)``: Dekker's two-product, exact while a·b and the partial products stay
  inside the floating range (no FMA in NumPy).
- ``finite_error(e)``: the rounding error where it means something; where an operand or the
  result is ±∞ or NaN, the "error" is ∞ − ∞ and is replaced by 0 (there is nothing to correct).
- ``fixed_grid_pieces(d)``: Σ d over the last axis, |d| ≤ 1, as four float64 partial sums on the
  grids 2⁻²⁶, 2⁻⁵², 2⁻⁷⁸ and the rest, each of whose partial sums is exact.

Extended precision: on x86-64 ``np.longdouble`` is the x87 format, a hardware type with a 64-bit
mantissa, 11 bits more than float64. Short formulas computed in it and rounded once to float64
are correctly rounded except when the exact value lies within ~2⁻⁶³ relative of a midpoint.
``EXTENDED`` says whether that path is taken. It is False where long double is IEEE quad
(aarch64 Linux: software, tens of times slower), double-double (PowerPC) or plain double (MSVC,
macOS arm64), and whenever the environment variable ``DLCALC_FLOAT64_ONLY`` is set to anything
but "" or "0": then every module uses its float64 formulas, a few ulp from the exact value
instead of correctly rounded, as on those machines (CI runs the tests both ways).
Modules read ``exact.EXTENDED`` when they compute, not at import, so a test can switch it.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = [
    "EXTENDED",
    "EXTENDED_BLOCK",
    "FLOAT64_ONLY_VARIABLE",
    "finite_error",
    "fixed_grid_pieces",
    "row_blocks",
    "split",
    "two_product",
    "two_sum",
]

FLOAT64_ONLY_VARIABLE = "DLCALC_FLOAT64_ONLY"


# Whether this machine's long double is the x87 80-bit format (64-bit significand).
HARDWARE_EXTENDED = bool(np.finfo(np.longdouble).nmant == 63)
# Whether dlcalc uses it: not when DLCALC_FLOAT64_ONLY asks for the float64 path.
EXTENDED = HARDWARE_EXTENDED and os.environ.get(FLOAT64_ONLY_VARIABLE, "") in ("", "0")

# Elements per block of an extended-precision computation: its 16-byte temporaries stay in the
# CPU's cache, and memory stays bounded for any batch.
EXTENDED_BLOCK = 1 << 15


def row_blocks(rows: int, n: int, block: int = EXTENDED_BLOCK):
    """Slices of about ``block`` elements over ``rows`` rows of ``n`` elements, at least one row."""
    step = max(1, block // max(n, 1))
    for start in range(0, rows, step):
        yield slice(start, start + step)


def split(a):
    """Dekker's split of a into a high and a low half, each exactly representable (a = high + low)."""
    factor = 4097.0 if getattr(a, "dtype", None) == np.float32 else 134217729.0  # 2^12+1, 2^27+1
    c = factor * a
    high = c - (c - a)
    return high, a - high


def two_product(a, b, b_split=None):
    """a·b = p + e exactly (Dekker), for |a·b| well inside the range; b may come split already.

    e is meaningless (NaN) where p is not finite; see ``finite_error``.
    """
    p = a * b
    a_high, a_low = split(a)
    b_high, b_low = split(b) if b_split is None else b_split
    return p, ((a_high * b_high - p) + a_high * b_low + a_low * b_high) + a_low * b_low


def two_sum(a, b):
    """a + b = s + e exactly (Knuth's two-sum, no condition on the magnitudes).

    e is meaningless (NaN) where s or an operand is not finite; see ``finite_error``.
    """
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def finite_error(e):
    """The rounding error e with its non-finite entries (from ∞ − ∞) replaced by 0, same dtype."""
    e = np.asarray(e)
    finite = np.isfinite(e)
    if finite.all():
        return e
    return np.where(finite, e, 0).astype(e.dtype, copy=False)


def fixed_grid_pieces(d: np.ndarray) -> list[np.ndarray]:
    """Σ d over the last axis (float64, |d| ≤ 1) as four partial sums, largest grid first.

    Each d is cut on the fixed grids 2⁻²⁶, 2⁻⁵² and 2⁻⁷⁸ (and the rest), so the pieces of one
    grid add up exactly in float64 for any n < 2²⁶; added smallest first in float64, or largest
    first in extended precision, the total is within about an ulp of the exact sum.
    """
    pieces = []
    rest = d
    for scale in (2.0**26, 2.0**52, 2.0**78):
        high = np.round(rest * scale) / scale
        pieces.append(high.sum(axis=-1))
        rest = rest - high
    pieces.append(rest.sum(axis=-1))
    return pieces


# ---------------------------------------------------------------------------------------------
# Double-double arithmetic on NumPy arrays: a value is a pair (hi, lo) of float64 arrays with
# |lo| ≤ ulp(hi)/2, 106 bits in all. With u = 2⁻⁵³, the sum below (two two-sums and two
# renormalisations) errs by at most 3u² relative and the product (Dekker's exact product plus
# the cross terms) by at most 7u² (Joldes, Muller & Popescu, "Tight and rigorous error bounds
# for basic building blocks of double-word arithmetic", ACM TOMS 2017); the quotient takes three
# digits, each from an exact remainder, and errs by a few u². These hold while every hi and lo
# stays in float64's normal range (|lo| ≥ 2⁻¹⁰²²: values above ~2⁻⁹⁶⁰). rounding.py uses them as
# the second stage of Ziv's strategy, on the ~1% of elements the long double cannot decide.


def dd_sqrt(a):
    """√(a_hi + a_lo) for a > 0: one Newton step from s = √a_hi in float64, s + (a − s²)/(2s),
    with a − s² exact (two_product): relative error ~2⁻¹⁰⁴ (quadratic convergence from 2⁻⁵³)."""
    s = np.sqrt(a[0])
    r = dd_add(a, dd_neg(two_product(s, s)))
    return fast_two_sum(s, r[0] / (2.0 * s))


def fast_two_sum(a, b):
    """a + b = s + e exactly, for |a| ≥ |b| (or a = 0)."""
    s = a + b
    return s, b - (s - a)


def dd_add(a, b):
    """(a_hi, a_lo) + (b_hi, b_lo)."""
    s, e = two_sum(a[0], b[0])
    t, f = two_sum(a[1], b[1])
    e = e + t
    s, e = fast_two_sum(s, e)
    e = e + f
    return fast_two_sum(s, e)


def dd_add_d(a, b):
    """(a_hi, a_lo) + b for a float64 b."""
    s, e = two_sum(a[0], b)
    return fast_two_sum(s, e + a[1])


def dd_neg(a):
    return -a[0], -a[1]


def dd_mul(a, b):
    """(a_hi, a_lo)·(b_hi, b_lo)."""
    p, e = two_product(a[0], b[0])
    e = e + (a[0] * b[1] + a[1] * b[0])
    return fast_two_sum(p, e)


def dd_mul_d(a, b):
    """(a_hi, a_lo)·b for a float64 b."""
    p, e = two_product(a[0], b)
    return fast_two_sum(p, e + a[1] * b)


def dd_div(a, b):
    """(a_hi, a_lo)/(b_hi, b_lo): three quotient digits, each from the exact remainder."""
    q1 = a[0] / b[0]
    r = dd_add(a, dd_neg(dd_mul_d(b, q1)))
    q2 = r[0] / b[0]
    r = dd_add(r, dd_neg(dd_mul_d(b, q2)))
    q3 = r[0] / b[0]
    s, e = fast_two_sum(q1, q2)
    return dd_add_d((s, e), q3)


def dd_constant(numerator: int, denominator: int):
    """numerator/denominator as a double-double, by integer arithmetic (Python's int/int is
    correctly rounded): hi = the rounded quotient, lo = the rounded remainder."""
    hi = numerator / denominator
    a, b = hi.as_integer_ratio()
    return hi, (numerator * b - a * denominator) / (denominator * b)


# ln 2 in three float64 parts (to ~2⁻¹⁶¹), from its first 400 bits: ln 2 = _LN2_BITS/2⁴⁰⁰
_LN2_BITS = int(
    "b17217f7d1cf79abc9e3b39803f2f6af40f343267298b62d8a0d175b8baafa2be7b876206debac98559552fb4afa1b10ed2e",
    16)


def _parts(numerator: int, denominator: int, count: int):
    """numerator/denominator as `count` float64 parts, each the rounded rest."""
    parts = []
    for _ in range(count):
        part = numerator / denominator
        parts.append(part)
        a, b = part.as_integer_ratio()
        numerator, denominator = numerator * b - a * denominator, denominator * b
    return tuple(parts)


def _ln2_parts():
    return _parts(_LN2_BITS, 1 << 400, 3)


_TABLES = {}
_TABLE_BITS = 6  # e^a = 2^k·2^(j/64)·e^r, |r| ≤ ln2/128


def _powers_of_two_root():
    """2^(j/64), j = 0…63, in double-double: square roots of 2 by integer isqrt at 200 bits."""
    precision = 200
    one = 1 << precision
    roots = []  # 2^(1/2), 2^(1/4), …, 2^(1/64), times 2^200
    value = 2 << precision
    for _ in range(_TABLE_BITS):
        value = math.isqrt(value << precision)
        roots.append(value)
    table = []
    for j in range(1 << _TABLE_BITS):
        product = one
        for bit in range(_TABLE_BITS):  # j/64 = Σ bit_i/2^(i+1), bit_5 the largest
            if j >> (_TABLE_BITS - 1 - bit) & 1:
                product = product * roots[bit] >> precision
        table.append(_parts(product, one, 2))
    return np.array([t[0] for t in table]), np.array([t[1] for t in table])


def _tables():
    """ln 2's parts, 1/k! (k ≤ 12), 1/(2k + 1) (k < 40) and 2^(j/64) in double-double, built on
    first use (a few milliseconds)."""
    if not _TABLES:
        _TABLES["ln2"] = _ln2_parts()
        _TABLES["factorials"] = [dd_constant(1, math.factorial(k)) for k in range(14)]
        _TABLES["odds"] = [dd_constant(1, 2 * k + 1) for k in range(40)]
        _TABLES["powers"] = _powers_of_two_root()
    return _TABLES


def _exp_core(a_hi, a_lo):
    """e^a = 2^k·T·(1 + E) for a = a_hi + a_lo: (T, E, k, n) with n = round(a·64/ln2) = 64k + j,
    T = 2^(j/64) from the table and E = e^r − 1, r = a − n·ln2/64 (|r| ≤ ln2/128 + a little),
    double-double. E = r·P(r), P(r) = Σ rⁱ/(i + 1)!: the terms from r⁶ on in float64 (they
    weigh less than 2⁻⁴⁴ of P, so float64's 2⁻⁵³ is 2⁻⁹⁷ of it and better), the rest in
    double-double; the series stops after r¹² (2⁻¹²³)."""
    tables = _tables()
    ln2, factorials = tables["ln2"], tables["factorials"]
    scale = float(1 << _TABLE_BITS)
    n = np.rint(a_hi * (scale / ln2[0]))
    r = dd_add((a_hi, a_lo), dd_neg(two_product(n, ln2[0] / scale)))
    r = dd_add(r, dd_neg(two_product(n, ln2[1] / scale)))
    r = dd_add_d(r, -n * (ln2[2] / scale))
    h = np.full_like(r[0], factorials[13][0])
    for i in range(11, 5, -1):  # float64 Horner: coefficients 1/(i + 1)! for i = 12 … 6
        h = h * r[0] + factorials[i + 1][0]
    p = (h, np.zeros_like(h))
    for i in range(5, -1, -1):
        p = dd_add(dd_mul(p, r), factorials[i + 1])
    e = dd_mul(p, r)
    n_int = n.astype(np.int64)
    j = n_int & ((1 << _TABLE_BITS) - 1)
    k = n_int >> _TABLE_BITS  # floor division: n = 64k + j, 0 ≤ j < 64
    t_hi, t_lo = tables["powers"]
    return (t_hi[j], t_lo[j]), e, k, n_int


def dd_exp_scaled(a_hi, a_lo):
    """e^a = 2^k·m for any finite a (double-double m in [1, 2) up to rounding, integer array
    k): the mantissa never underflows, so e^−1000 keeps its 2⁻¹⁰⁰ accuracy."""
    t, e, k, _ = _exp_core(a_hi, a_lo)
    return dd_add(t, dd_mul(t, e)), k


def dd_expm1_parts(a_hi, a_lo):
    """e^a − 1 and e^a in double-double, for −600 ≤ a ≤ 1 (below, the low parts of e^a would
    be subnormal: see dd_exp_scaled).

    e^a = 2^k·(T + T·E) (`_exp_core`); e^a − 1 is E itself when n = 0, else (2^k·T − 1) +
    2^k·T·E, where 2^k·T_hi − 1 is exact (Sterbenz for k ∈ {−1, 0}) and the sum cannot cancel
    more than a few bits (e^a − 1 and 2^k·T − 1 differ by less than a factor 2 for n ≠ 0). Both
    relative errors stay below ~2⁻¹⁰⁰ (tests/test_rounding_stage.py measures 2⁻¹⁰³).
    """
    t, e, k, n = _exp_core(a_hi, a_lo)
    power = np.ldexp(1.0, k)
    scaled = (t[0] * power, t[1] * power)
    te = dd_mul(scaled, e)
    full = dd_add(scaled, te)
    minus_one = dd_add(dd_add_d(scaled, -1.0), te)
    at_zero = n == 0
    em1 = (np.where(at_zero, e[0], minus_one[0]), np.where(at_zero, e[1], minus_one[1]))
    return em1, full


def dd_log1p(z_hi, z_lo):
    """log(1 + z) for z = 0 or e^-600 ≤ z ≤ 1 (lo normal) in double-double: 2·atanh(u), u = z/(2 + z) ≤ 1/3, summed as
    2u·Σ u^(2k)/(2k + 1) over 36 terms (u² ≤ 1/9: the remainder is below 2⁻¹¹⁰). The terms
    from k = 17 on weigh less than 9⁻¹⁷/35 < 2⁻⁵⁸ of the sum (≥ 1), so they are summed in
    float64 (error below 2⁻¹¹⁰ of the sum), as `_exp_core` does; the rest in double-double."""
    odds = _tables()["odds"]
    u = dd_div((z_hi, z_lo), dd_add_d((z_hi, z_lo), 2.0))
    u2 = dd_mul(u, u)
    h = np.full_like(z_hi, odds[35][0])
    for j in range(34, 16, -1):
        h = h * u2[0] + odds[j][0]
    p = (h, np.zeros_like(h))
    for j in range(16, -1, -1):
        p = dd_add(dd_mul(p, u2), odds[j])
    p = dd_mul(p, u)
    return 2.0 * p[0], 2.0 * p[1]
