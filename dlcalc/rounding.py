r"""Rounding once to float64, with Ziv's fallback for the rare doubtful element.

Registry functions on x86-64 compute in x87 long double (64-bit significand, 11 bits more than
float64) with a known relative error bound of a few long-double ulps, then round once to
float64 (`round_once`). The result is the correctly rounded value unless the long-double value
lies within its error bound of a float64 rounding boundary: then the interval
[approx·(1 − bound), approx·(1 + bound)] rounds to two different floats. Those elements (about
bound·2^-9.5 of them: 1% for a bound of 8 ulps) go to a second stage (`refine`: every registry
function that calls `extended_path` has one, in dlcalc/activations.py): the same formula in
double-double, NumPy array operations on the doubtful subset only (`refined`, error ≤ 2^-90,
exact midpoints decided where the form proves its value exact), which decides all but ~2^-36 of
them; those, and results below 2^-960, are recomputed exactly with mpmath (`correctly_rounded`:
rising precision until the rounding is certain), each distinct x once, in arrays of any size.
A caller without a second stage sends its doubtful elements to mpmath directly, up to MAX_EXACT
of them per call in arrays of up to MAX_EXACT_SIZE elements; a larger array (a batch block)
keeps the long-double rounding for those (within 0.5 + 2^-9 ulp).
mpmath is imported only when such an element occurs, so `dlcalc activate sigmoid 1` imports
neither SymPy nor mpmath unless its one value is doubtful.

Without an 80-bit long double (`exact.EXTENDED` false: ARM, MSVC, or DLCALC_FLOAT64_ONLY=1) the callers keep their float64 forms.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from dlcalc import exact
from dlcalc.errors import DlcalcError

LONG = np.longdouble
_LONG_EPS = 2.0 ** -63  # one ulp of 1 in long double

# Without a second stage: at most this many doubtful elements per call are recomputed in mpmath
# (~0.1 ms each). A large
# array (a batch) keeps the long-double rounding for its ~1% doubtful elements instead: each is
# then within 0.5 + 2^-9 ulp and correctly rounded in the great majority of cases (bench/accuracy.py
# measures both), at the long-double path's speed.
MAX_EXACT = 512
# ... and only in an array of at most this many elements: a larger one is a batch block (the
# batch reader hands the core ~50,000 numbers at a time), where 512 mpmath evaluations (~60 ms)
# would cost ten times the block's own computation; it keeps the long-double rounding for its
# doubtful elements, as a block with more than MAX_EXACT of them always did. Command-line
# values, plots and batches of up to this many numbers stay correctly rounded.
MAX_EXACT_SIZE = 1 << 14

# First and last working precisions (bits) of the rising evaluation.
START_BITS = 64
MAX_BITS = 1 << 14
# A value that is exactly zero is believed only from this precision on: below it, a zero is more
# often a cancellation (−1 + e^700/(e^700 + 1)) than the truth.
ZERO_BITS = 4096


def extended(x: np.ndarray) -> bool:
    """Whether `x` takes the long-double path (float64 input on a machine with x87)."""
    return exact.EXTENDED and x.dtype == np.float64


def round_once(x: np.ndarray, approx: np.ndarray, exact: Callable, ulps: float = 8.0,
               scale: np.ndarray | None = None, refine: Callable | None = None) -> np.ndarray:
    """`approx` (long double, error ≤ `ulps` long-double ulps of |approx|, or of `scale` when
    given) rounded to float64; the elements it cannot decide go to the second stage
    `refine(v)` when given (see `refined`), and those it cannot decide either to
    `exact(mpmath, v)` at x = v, evaluated by `correctly_rounded`."""
    approx = np.asarray(approx, dtype=LONG, order="C")
    y = np.array(approx.astype(np.float64), copy=True)
    doubtful = _doubtful(approx, y, ulps, scale)
    if refine is not None:
        flat = np.flatnonzero(doubtful)
        if flat.size:
            out = y.reshape(-1)
            xs = np.broadcast_to(x, y.shape).reshape(-1)[flat]
            value = refined(refine, xs)
            settled = ~np.isnan(value)
            out[flat[settled]] = value[settled]
            _exact_each(out, flat[~settled], xs[~settled], exact)
        return y
    count = int(np.count_nonzero(doubtful)) if y.size <= MAX_EXACT_SIZE else 0
    if 0 < count <= MAX_EXACT:
        flat = np.flatnonzero(doubtful)
        _exact_each(y.reshape(-1), flat, np.broadcast_to(x, y.shape).reshape(-1)[flat], exact)
    return y


def _exact_each(out: np.ndarray, index: np.ndarray, xs: np.ndarray, exact: Callable) -> None:
    """out[index] = `exact` at xs, correctly rounded by mpmath (each distinct x once); an
    undecided element keeps its value."""
    if not index.size:
        return
    import mpmath

    values, position = np.unique(xs, return_inverse=True)
    results = np.full(values.size, np.nan)
    for i, t in enumerate(values):
        value = correctly_rounded(lambda u: exact(mpmath, u), [float(t)])
        if value is not None:
            results[i] = value
    results = results[position.reshape(-1)]
    settled = ~np.isnan(results)
    out[index[settled]] = results[settled]


# The second stage's error bound relative to |value| (or to the scale it returns, where the
# formula's terms cancel): its exp/expm1/log1p kernels measure below 2⁻¹⁰² against mpmath
# (tests/test_rounding_stage.py; series truncated below 2⁻¹¹⁰), and a function composes at most
# ~60 double-double operations on terms that do not cancel, each within 7u² = 2⁻¹⁰³ (exact.py),
# so within ~2⁻⁹⁷ in all; 2⁻⁹⁰ leaves a factor of 2⁷ to spare. An element is left undecided (for
# mpmath) only within that bound of a midpoint: about 2⁻³⁶ of the doubtful ones.
REFINE_BOUND = 2.0 ** -90
# Double-double values below this magnitude are left to mpmath: their low part would be
# subnormal. (A form that returns 2^k·(hi + lo) keeps hi near 1 and reaches any magnitude.)
_REFINE_TINY = 2.0 ** -960


def refined(refine: Callable, xs: np.ndarray) -> np.ndarray:
    """The float64 rounding of the double-double 2^k·(hi + lo) from `refine(xs)` = (hi, lo,
    scale) or (hi, lo, scale, k), where it is certain; NaN where it is not (or where hi is NaN:
    outside the form's domain).

    hi + lo is within REFINE_BOUND·|scale| (scale None: |hi|) of the exact value's 2^-k; scale 0
    says it is the exact value, so that an exact midpoint is decided (ties to even). In units
    of the result's float64 spacing 2^q (q = e − 52 for 2^e ≤ |value| < 2^(e+1), at least −1074:
    subnormals too) the value is u = 2^(k−q)·(hi + lo), whose two parts scale exactly; the rounded
    result is n·2^q with n the integer nearest u, certain when u's distance from n stays below
    ½ by more than the bound. The distance (hi' − n) + lo' is exact but for an error far below
    the bound (hi' and n are within 1 of each other, both < 2^54).
    """
    with np.errstate(all="ignore"):
        result = refine(xs)
        hi, lo, scale = result[:3]
        k = result[3] if len(result) > 3 else np.zeros(np.shape(hi), dtype=np.int64)
        hi, lo = np.asarray(hi, dtype=np.float64), np.asarray(lo, dtype=np.float64)
        usable = np.isfinite(hi) & np.isfinite(lo) & (np.abs(hi) >= _REFINE_TINY)
        hi, lo = np.where(usable, hi, 1.0), np.where(usable, lo, 0.0)
        _, e = np.frexp(hi)  # |hi| in [2^(e−1), 2^e)
        e = e.astype(np.int64) - 1
        e -= (np.abs(hi) == np.ldexp(1.0, e)) & (lo * np.sign(hi) < 0)  # just below a power of 2
        e += k
        q = np.maximum(e - 52, -1074)
        shift = k - q
        u_hi, u_lo = np.ldexp(hi, shift), np.ldexp(lo, shift)
        n = np.rint(u_hi + u_lo)
        # below 2^52 (a subnormal result) u_hi can be a half-integer that only u_lo decides,
        # which u_hi + u_lo loses: step n to the side u_lo says
        side = (u_hi - n) + u_lo
        n += np.where(np.abs(side) > 0.5, np.sign(side), 0.0)
        distance, error = exact.two_sum(u_hi - n, u_lo)
        distance = np.abs(distance)
        size = np.abs(hi) if scale is None else np.abs(np.asarray(scale, dtype=np.float64))
        margin = np.ldexp(size, shift) * (2.0 * REFINE_BOUND)
        # scale 0: hi + lo is exact, and an exact midpoint is a tie, rounded to even by rint
        tie = (margin == 0) & (distance == 0.5) & (error == 0) & (n % 2 == 0)
        sure = usable & ((distance + margin < 0.5) | tie) & np.isfinite(margin) & (q + 53 <= 1024)
        y = np.ldexp(n, q)
        sure &= np.isfinite(y)
    return np.where(sure, y, np.nan)


def _margin_test(approx, ulps, scale):
    """The exact test: [approx − margin, approx + margin] rounds to two different floats."""
    with np.errstate(all="ignore"):
        size = np.abs(approx) if scale is None else np.abs(np.asarray(scale, dtype=LONG))
        margin = size * LONG(ulps * _LONG_EPS)
        doubtful = ((approx - margin).astype(np.float64) != (approx + margin).astype(np.float64))
        doubtful &= np.isfinite(approx)
    return doubtful


# The x87 format's 64-bit significand sits in the first 8 bytes of each 16-byte long double,
# little-endian, with its leading bit explicit; the sign and 15-bit biased exponent follow.
_BITS_OK = exact.HARDWARE_EXTENDED and np.dtype(LONG).itemsize == 16 and np.little_endian
_BIAS = 16383


def _doubtful(approx: np.ndarray, y: np.ndarray, ulps: float, scale) -> np.ndarray:
    """`_margin_test`, evaluated only where it can be true.

    Rounding the long double to float64 drops the low 11 bits of its significand (for a result
    in float64's normal range); the interval of half-width margin crosses a rounding boundary
    only if those bits are within margin of the midpoint 0x400. In units of the significand's last
    bit, margin = size·ulps·2⁻⁶³/2^(E−63) < 2·ulps·size/|approx|: an integer test on the bits
    picks a superset of the doubtful elements (~1%, plus results outside the normal range), and
    the exact test runs on those alone, so the answer is the same as `_margin_test`'s everywhere.
    """
    if not _BITS_OK or approx.size < 64:
        return _margin_test(approx, ulps, scale)
    words = approx.reshape(-1).view(np.uint64)
    significand = words[0::2]
    exponent = (words[1::2] & np.uint64(0x7FFF)).astype(np.int64) - _BIAS
    distance = np.abs((significand & np.uint64(0x7FF)).astype(np.int64) - 0x400)
    if scale is None:
        units = 2.0 * ulps + 4.0
        candidates = distance <= units
    else:
        with np.errstate(all="ignore"):
            size = np.abs(np.broadcast_to(np.asarray(scale, dtype=np.float64), approx.shape)).reshape(-1)
            units = (2.0 * ulps * 1.01) * size / np.abs(y.reshape(-1)) + 4.0
        candidates = (distance <= units) | ~np.isfinite(units)  # y = 0: size/0, candidates
    candidates |= (exponent < -1022) | (exponent > 1023)
    index = np.flatnonzero(candidates)
    doubtful = np.zeros(approx.size, dtype=bool)
    if index.size:
        flat = approx.reshape(-1)
        part_scale = None
        if scale is not None:
            part_scale = np.broadcast_to(np.asarray(scale, dtype=LONG), approx.shape).reshape(-1)[index]
        doubtful[index] = _margin_test(flat[index], ulps, part_scale)
    return doubtful.reshape(approx.shape)


def to_float64(v) -> float:
    """The float64 nearest to the mpmath number `v` (ties to even; subnormals rounded once)."""
    import mpmath

    if not mpmath.isfinite(v):
        return float(v)
    if v == 0:
        return 0.0
    _, exponent = mpmath.frexp(v)  # |v| = m·2^e, ½ ≤ m < 1
    if exponent > 1024:
        return math.copysign(math.inf, v)
    if exponent >= -1021:
        with mpmath.workprec(53):
            rounded = +v  # round to nearest, ties to even, at 53 bits
        try:
            return float(rounded)
        except OverflowError:
            return math.copysign(math.inf, v)
    with mpmath.workprec(max(mpmath.mp.prec, 64) + 1100):
        units = int(mpmath.nint(mpmath.ldexp(v, 1074)))  # subnormal: whole units of 2^-1074
    return math.copysign(math.ldexp(units, -1074), v) if units else math.copysign(0.0, v)


def _mp_value(compiled: Callable, args: Sequence[float], bits: int):
    """`compiled` (a function of mpmath numbers) at `args`, at `bits` bits; None if not a
    finite real."""
    import mpmath

    with mpmath.workprec(bits):
        try:
            value = compiled(*[mpmath.mpf(a) for a in args])
        except DlcalcError:  # the time limit (a ValueError too): not a domain error
            raise
        except (ArithmeticError, ValueError, TypeError, NameError, AttributeError):
            # a pole, a domain error, or a function with no mpmath form: undecided
            return None
        if isinstance(value, mpmath.mpc):
            if value.imag != 0:
                return None
            value = value.real
        try:
            value = mpmath.mpf(value)
        except (TypeError, ValueError):
            return None
        return value if mpmath.isfinite(value) else None


def correctly_rounded(compiled: Callable, args: Sequence[float], *, start: int = START_BITS,
                      cap: int = MAX_BITS, patience: int = 3) -> float | None:
    """The exact value of `compiled` at `args` rounded to float64, or None if undecided.

    Ziv's loop: evaluate at doubling precisions until two successive results, cur and prev,
    round alike with a margin: with d = |cur − prev| plus a few units of cur's last bit, cur − d,
    cur and cur + d must round to the same float64. Cancellation shows as a large d and sends
    the evaluation on to the next precision; so does a result that is exactly zero below
    ZERO_BITS. Gives up when `patience` precisions in a row find no finite real value (a pole or
    a point outside the domain does not go away with precision).
    """
    import mpmath

    bits = start
    previous = _mp_value(compiled, args, bits)
    missing = 0 if previous is not None else 1
    if missing >= patience:
        return None
    while bits < cap:
        bits *= 2
        current = _mp_value(compiled, args, bits)
        if current is None:
            missing += 1
            if missing >= patience:
                return None
            previous = None
            continue
        missing = 0
        if previous is not None and (current != 0 or bits >= ZERO_BITS):
            with mpmath.workprec(bits + 16):
                margin = abs(current - previous) + abs(current) * mpmath.ldexp(1, 8 - bits)
                nearest = to_float64(current)
                if to_float64(current - margin) == nearest == to_float64(current + margin):
                    return nearest
        previous = current
    return None


def extended_path(x: np.ndarray, approx: Callable, exact: Callable, fallback: Callable,
                  ulps: float = 8.0, refine: Callable | None = None) -> np.ndarray:
    """A registry function's float64 values from its long-double form, rounded once.

    `approx(v)` computes on the long-double copy of the finite elements of x and returns the
    value, or (value, scale) when its error is bounded relative to `scale` rather than to the
    value (a sum that cancels: the scale is the sum of the terms' magnitudes); `exact(mp, u)` is
    the definition in mpmath, for the doubtful elements; `fallback(x)` (the float64 form) gives
    the limits at ±inf; `refine(x)`, when given, is the double-double second stage for the
    doubtful elements (`refined`), after which every element is correctly rounded whatever the
    array's size.
    """
    finite = np.isfinite(x)
    every = bool(finite.all())
    xs = x if every else np.where(finite, x, 0.0)
    with np.errstate(all="ignore"):
        # at least 1-d, so that approx may compute in place (a 0-d ufunc result is a scalar)
        result = approx(np.atleast_1d(xs.astype(LONG)))
    value, scale = result if isinstance(result, tuple) else (result, None)
    if xs.ndim == 0:
        value = np.asarray(value).reshape(())
        scale = None if scale is None else np.asarray(scale).reshape(())
    y = round_once(xs, value, exact, ulps, scale, refine)
    return y if every else np.where(finite, y, fallback(x))


def round_each(approx: np.ndarray, exact_at: Callable[[int], tuple[Callable, Sequence[float]]],
               ulps: float, scale: np.ndarray | None = None, inputs: int | None = None,
               refine: Callable | None = None) -> np.ndarray:
    """`approx` (long double, any shape, error ≤ `ulps` long-double ulps of |approx|, or of
    `scale` when given) rounded to float64 once; where that rounding is doubtful, the element at
    flat index i is recomputed as the correctly rounded value of `exact_at(i)` = (f, args), f a
    function of mpmath numbers and args its float arguments.

    With `refine` (flat indices of the doubtful elements → the double-double (hi, lo, scale[,
    k]) of `refined`), every doubtful element is decided by it at any size, and only what it
    leaves to mpmath: `round_once` with the flat index as its x. Without it, mpmath decides them
    in a call that read at most MAX_EXACT_SIZE numbers (`inputs`, default approx.size) with at
    most MAX_EXACT doubtful elements, as for the registry functions without a second stage (the
    losses: one mpmath evaluation costs a logarithm per class); a larger call keeps the
    long-double rounding."""
    approx = np.atleast_1d(np.asarray(approx, dtype=LONG))
    if refine is not None:
        def exact(mp, u):
            function, args = exact_at(int(u))
            return function(*[mp.mpf(a) for a in args])

        index = np.arange(approx.size, dtype=np.float64)
        flat_scale = None if scale is None else np.asarray(scale, dtype=LONG).reshape(-1)
        return round_once(index, approx.reshape(-1), exact, ulps, flat_scale,
                          lambda xs: refine(xs.astype(np.int64))).reshape(approx.shape)
    y = np.array(approx.astype(np.float64), copy=True)
    if not y.size or (y.size if inputs is None else inputs) > MAX_EXACT_SIZE:
        return y
    with np.errstate(all="ignore"):
        doubtful = np.flatnonzero(_doubtful(approx, y, ulps, scale))
    if 0 < doubtful.size <= MAX_EXACT:
        flat = y.reshape(-1)
        for i in doubtful.tolist():
            function, args = exact_at(i)
            value = correctly_rounded(function, args)
            if value is not None:
                flat[i] = value
    return y
