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
