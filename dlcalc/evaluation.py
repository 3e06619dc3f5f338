r"""Correctly rounded values of symbolic expressions (Ziv's strategy).

Every number dlcalc prints for an expression, a partial derivative, a Hessian entry or a
finite-difference check is the exact value at the (float64) point, rounded once to the nearest
float64. A fast float64 evaluation (NumPy, from `lambdify`) has no error bound for an arbitrary
expression: 1 − e^x/(e^x + 1) cancels, e^1000/(1 + e^1000) overflows into inf/inf. So values
are computed in mpmath (which SymPy brings) at rising precision, 64, 128, 256, ... bits, and a
value is accepted when two successive precisions agree: with d the difference of the two results
(plus a few units of the last bit), cur − d, cur and cur + d must round to the same float64.
Cancellation shows as a large d and sends the evaluation to the next precision; so does a
result that is exactly zero below ZERO_BITS (1 − σ(700) is 0 at 1,000 bits, not at 2,000).
Evaluations that find no finite real value at any precision (a pole, log of a negative number)
are reported as undecided; the caller chooses what follows.

A derivative is evaluated as its limit where the differentiated function is defined:
d/dx x^n = n·x^n/x is 0/0 at x = 0, its limit (n = 3: 0; n = 1: 1) is the derivative.

This module imports SymPy and mpmath; it is only imported on the expression and grad paths.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import mpmath
import numpy as np
import sympy as sp

# First and last working precisions (bits) of the rising evaluation.
START_BITS = 64
MAX_BITS = 1 << 14
# A value that is exactly zero is believed only from this precision on: below it, a zero is more
# often a cancellation (−1 + e^700/(e^700 + 1)) than the truth.
ZERO_BITS = 4096
# Arrays up to this size are evaluated element by element in mpmath; bigger arrays keep the
# vectorised float64 values and are corrected only where those are not finite (and, there, only
# where 64 bits find a finite value: a domain of thousands of NaNs is not searched at length).
EXACT_ELEMENTS = 4096

_SMALLEST_NORMAL_EXPONENT = -1021  # mpmath.frexp: |v| = m·2^e, ½ ≤ m < 1


def to_float64(v) -> float:
    """The float64 nearest to the mpmath number `v` (ties to even; subnormals rounded once)."""
    if not mpmath.isfinite(v):
        return float(v)
    if v == 0:
        return 0.0
    _, exponent = mpmath.frexp(v)
    if exponent > 1024:
        return math.copysign(math.inf, v)
    if exponent >= _SMALLEST_NORMAL_EXPONENT:
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
    """`compiled` (an mpmath lambdify) at `args`, at `bits` bits; None if not a finite real."""
    with mpmath.workprec(bits):
        try:
            value = compiled(*[mpmath.mpf(a) for a in args])
        except (ZeroDivisionError, ValueError, OverflowError, TypeError):
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

    Ziv's loop: evaluate at doubling precisions until two successive results round alike,
    margin included (module docstring). Gives up early when `patience` precisions in a row find
    no finite real value (a pole or a point outside the domain does not go away with precision).
    """
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


# mpmath forms of dlcalc's own SymPy functions (by class name). A SymPy function not listed here
# and unknown to lambdify's mpmath printer is rewritten with its `closed_form`.
def _mp_relu(x):
    return x if x > 0 else mpmath.mpf(0)


def _mp_softplus(x):
    return x + mpmath.log1p(mpmath.exp(-x)) if x > 0 else mpmath.log1p(mpmath.exp(x))


def _mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


MPMATH_IMPLEMENTATIONS: dict[str, Callable] = {
    "sigmoid": _mp_sigmoid,
    "relu": _mp_relu,
    "softplus": _mp_softplus,
    "Phi": mpmath.ncdf,
    "phi": mpmath.npdf,
    "gelu": lambda x: x * mpmath.ncdf(x),
}


def _for_mpmath(expr: sp.Expr) -> sp.Expr:
    def unknown(e):
        return (isinstance(e, sp.Function) and hasattr(type(e), "closed_form")
                and type(e).__name__ not in MPMATH_IMPLEMENTATIONS)

    return expr.replace(unknown, lambda e: type(e).closed_form(*e.args))


_COMPILED: dict[tuple, Callable] = {}


def compile_mpmath(symbols: Sequence[sp.Symbol], expr: sp.Expr) -> Callable:
    """`expr` as a Python function of mpmath numbers (cached)."""
    key = (tuple(symbols), expr)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = sp.lambdify(list(symbols), _for_mpmath(expr),
                               modules=[MPMATH_IMPLEMENTATIONS, "mpmath"])
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        _COMPILED[key] = compiled
    return compiled


def value_at(expr: sp.Expr, values: Mapping[str, float]) -> float | None:
    """The correctly rounded value of `expr` at `values` (name -> finite float), or None."""
    free = sorted(expr.free_symbols, key=lambda s: s.name)
    compiled = compile_mpmath(free, expr)
    return correctly_rounded(compiled, [values[s.name] for s in free])


def limit_at(expr: sp.Expr, values: Mapping[str, float], seconds: float = 1.0) -> float | None:
    """The limit of `expr` at `values`, rounded to float64, where `expr` itself is undefined.

    The other variables are set exactly first (so n·x^n/x with n = 3 becomes 3·x²), then the
    two-sided limit in each variable is asked of SymPy in turn; None if none is finite.
    """
    from dlcalc.symbolic import SymbolicTimeout, time_limit

    free = sorted(expr.free_symbols, key=lambda s: s.name)
    exact = {s: sp.Rational(values[s.name]) for s in free}
    for s in free or [None]:
        others = {o: r for o, r in exact.items() if o != s}
        reduced = expr.xreplace(others)
        try:
            with time_limit(seconds, "limit too slow"):
                if s is None or s not in reduced.free_symbols:
                    candidate = reduced
                else:
                    candidate = reduced.subs(s, exact[s])
                    if not (candidate.is_number and candidate.is_finite is True):
                        candidate = sp.limit(reduced, s, exact[s], dir="+-")
        except (SymbolicTimeout, ArithmeticError, ValueError, TypeError, NotImplementedError,
                RecursionError, AttributeError):
            continue
        if candidate.is_number and candidate.is_finite is True and candidate.is_extended_real:
            value = correctly_rounded(compile_mpmath([], candidate), [])
            if value is not None:
                return value
    return None


def exact_array(compiled_mp: Callable, fast: Callable, x: np.ndarray) -> np.ndarray:
    """Vectorised values: the float64 fast path, replaced by the correctly rounded value element
    by element (all elements of arrays up to EXACT_ELEMENTS, else those that are not finite)."""
    y = np.array(fast(x), dtype=np.float64, copy=True)
    flat_x = np.ravel(x)
    flat_y = y.reshape(-1)
    finite = np.isfinite(flat_x)
    if flat_x.size <= EXACT_ELEMENTS:
        chosen = np.flatnonzero(finite)
    else:
        chosen = np.flatnonzero(finite & ~np.isfinite(flat_y))
    patience = 3 if flat_x.size <= EXACT_ELEMENTS else 1
    for i in chosen:
        value = correctly_rounded(compiled_mp, [float(flat_x[i])], patience=patience)
        if value is not None:
            flat_y[i] = value
    return y
