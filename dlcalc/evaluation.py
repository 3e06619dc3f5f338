r"""Correctly rounded values of symbolic expressions (Ziv's strategy).

Every number dlcalc prints for an expression, a partial derivative, a Hessian entry or a
finite-difference check is the exact value at the (float64) point, rounded once to the nearest
float64. A fast float64 evaluation (NumPy, from `lambdify`) has no error bound for an arbitrary
expression: 1 − e^x/(e^x + 1) cancels, e^1000/(1 + e^1000) overflows into inf/inf. So values
are computed in mpmath (which SymPy brings) at rising precision, 64, 128, 256, ... bits, and a
value is accepted when two successive precisions agree: with d the difference of the two results
(plus a few units of the last bit), cur − d, cur and cur + d must round to the same float64.
Cancellation shows as a large d and sends the evaluation to the next precision; so does a
result that is exactly zero below rounding.ZERO_BITS (1 − σ(700) is 0 at 1,000 bits, not at 2,000).
Evaluations that find no finite real value at any precision (a pole, log of a negative number)
are reported as undecided; the caller chooses what follows.

A derivative is evaluated as its limit where the differentiated function is defined:
d/dx x^n = n·x^n/x is 0/0 at x = 0, its limit (n = 3: 0; n = 1: 1) is the derivative.

This module imports SymPy and mpmath; it is only imported on the expression and grad paths.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import mpmath
import numpy as np
import sympy as sp

from dlcalc.errors import DlcalcError
from dlcalc.rounding import correctly_rounded, to_float64  # noqa: F401 - re-exported

# Arrays up to this size are evaluated element by element in mpmath; bigger arrays keep the
# vectorised float64 values and are corrected only where those are not finite (and, there, only
# where 64 bits find a finite value: a domain of thousands of NaNs is not searched at length).
EXACT_ELEMENTS = 4096
# Where the fast value is NaN or infinite, mpmath is asked until it has found no finite value
# this many times in a row (sqrt(x) on a grid of 40,001 points: half of them are outside the
# domain, and an answer in seconds beats a search of all of them).
MISSES = 64


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
        try:
            compiled = sp.lambdify(list(symbols), _for_mpmath(expr),
                                   modules=[MPMATH_IMPLEMENTATIONS, "mpmath"])
        except DlcalcError:  # the time limit (a ValueError too)
            raise
        except (TypeError, ValueError, NameError, NotImplementedError, AttributeError, SyntaxError):
            def compiled(*args):  # no mpmath form: every value undecided, the NumPy form is used
                return None
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
    fast_finite = np.isfinite(flat_y)
    misses = 0  # in a row, where the fast value is not finite either: a domain, not an overflow
    for i in chosen:
        if not fast_finite[i] and misses >= MISSES:
            continue
        value = correctly_rounded(compiled_mp, [float(flat_x[i])], patience=patience)
        if value is not None:
            flat_y[i] = value
            misses = 0
        elif not fast_finite[i]:
            misses += 1
    return y
