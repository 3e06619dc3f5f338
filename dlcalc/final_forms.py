r"""Final forms of a derivative that a student recognises (SPEC §6, `grad --form`).

Three forms, each proven equal to SymPy's derivative before it is shown:

- ``notes`` (the default): the notes' vocabulary. Sub-expressions that are a named function
  written out are recognised and renamed first, so that the derivative comes out as the notes
  write it: 1/(1 + e^(−u)) is σ(u) (so its derivative is σ(u)·(1 − σ(u))), (e^u − e^(−u)) /
  (e^u + e^(−u)) is tanh(u) (derivative 1 − tanh²(u) = sech²(u)), log(1 + e^u) is softplus(u)
  (derivative σ(u)), e^u/(1 + e^u) is σ(u). Powers keep the power rule's shape (n·x^(n−1),
  never n·x^n/x) and a common factor is pulled out with its sign, the sum kept as the
  expression writes it: −6·(2x − 3y + 4z − 6).
- ``factored``: SymPy's `factor`, with the same sign convention.
- ``expanded``: everything multiplied out: 18x + 24y − 30.

"Proven equal": `same_function` evaluates both sides at random points with mpmath at 30
digits (a numeric identity check); a recognised form that fails it is never used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import sympy as sp

FORMS = ("notes", "factored", "expanded")


@dataclass(frozen=True)
class Recognised:
    """An identity used to rename part of an expression: `written` = `named`."""

    written: sp.Expr
    named: sp.Expr
    text: str   # "1/(1 + e^(−x)) = σ(x)"
    latex: str


# --------------------------------------------------------------------------------------------
# Numeric identity check
# --------------------------------------------------------------------------------------------


def same_function(a: sp.Expr, b: sp.Expr, points: int = 6, seed: int = 20261130,
                  given: dict | None = None) -> bool:
    """True if a = b at `points` random real points (30-digit mpmath, relative 1e-20).

    Variables are drawn from [−2, 2] (so e^x, log(1 + e^x), ... stay well inside float
    range); points where either side is not a finite real number are skipped, and at least
    half must be usable. `given` fixes some variables.
    """
    symbols = sorted((a.free_symbols | b.free_symbols) - set(given or {}), key=str)
    rng = random.Random(seed)
    usable = 0
    for _ in range(points):
        values = {s: sp.Float(rng.uniform(-2, 2), 30) for s in symbols}
        values.update(given or {})
        try:
            va = sp.N(a.subs(values), 30)
            vb = sp.N(b.subs(values), 30)
        except (ArithmeticError, ValueError, TypeError):
            continue
        if not (va.is_Number and vb.is_Number and va.is_finite and vb.is_finite
                and va.is_extended_real and vb.is_extended_real):
            continue
        usable += 1
        if abs(va - vb) > sp.Float("1e-20") * max(1, abs(va), abs(vb)):
            return False
    return usable * 2 >= points


# --------------------------------------------------------------------------------------------
# Recognising named functions written out
# --------------------------------------------------------------------------------------------


def _exp_argument(term: sp.Expr) -> sp.Expr | None:
    return term.args[0] if isinstance(term, sp.exp) else None


def _one_plus_exp(base: sp.Expr) -> sp.Expr | None:
    """a if base is 1 + e^a."""
    if not base.is_Add or len(base.args) != 2 or sp.S.One not in base.args:
        return None
    other = base.args[0] if base.args[1] == 1 else base.args[1]
    return _exp_argument(other)


def _as_sigmoid(expr: sp.Expr) -> sp.Expr | None:
    """σ(u) for 1/(1 + e^(−u)) and e^u/(1 + e^u); None otherwise."""
    from dlcalc.symbolic import sigmoid

    if expr.is_Pow and expr.exp == -1:
        a = _one_plus_exp(expr.base)
        if a is not None:
            return sigmoid(-a)
    if expr.is_Mul and len(expr.args) == 2:
        numerator = [f for f in expr.args if isinstance(f, sp.exp)]
        denominator = [f for f in expr.args if f.is_Pow and f.exp == -1]
        if len(numerator) == 1 and len(denominator) == 1:
            a = _one_plus_exp(denominator[0].base)
            if a is not None and sp.expand(a - numerator[0].args[0]) == 0:
                return sigmoid(a)
    return None


def _as_tanh(expr: sp.Expr) -> sp.Expr | None:
    """tanh(u) for (e^u − e^(−u))/(e^u + e^(−u)) and sinh(u)/cosh(u)."""
    if not expr.is_Mul:
        return None
    factors = sp.Mul.make_args(expr)
    if len(factors) != 2:
        return None
    inverse = [f for f in factors if f.is_Pow and f.exp == -1]
    if len(inverse) != 1:
        return None
    denominator = inverse[0].base
    numerator = factors[0] if factors[1] is inverse[0] else factors[1]
    if isinstance(numerator, sp.sinh) and isinstance(denominator, sp.cosh) \
            and numerator.args[0] == denominator.args[0]:
        return sp.tanh(numerator.args[0])
    if not denominator.is_Add or len(denominator.args) != 2:
        return None
    arguments = [_exp_argument(t) for t in denominator.args]
    if None in arguments or sp.expand(arguments[0] + arguments[1]) != 0:
        return None
    for u in arguments:
        if sp.expand(numerator - (sp.exp(u) - sp.exp(-u))) == 0:
            return sp.tanh(u)
    return None


def _as_softplus(expr: sp.Expr) -> sp.Expr | None:
    from dlcalc.symbolic import softplus

    if isinstance(expr, sp.log) and len(expr.args) == 1:
        a = _one_plus_exp(expr.args[0])
        if a is not None:
            return softplus(a)
    return None


_RECOGNISERS = (_as_sigmoid, _as_tanh, _as_softplus)


def recognise(expr: sp.Expr) -> tuple[sp.Expr, list[Recognised]]:
    """`expr` with each written-out σ, tanh, softplus renamed, and the identities used."""
    from dlcalc.symbolic import to_latex, to_text

    found: list[Recognised] = []

    def walk(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        for recogniser in _RECOGNISERS:
            named = recogniser(e)
            if named is not None and same_function(e, named):
                found.append(Recognised(e, named, f"{to_text(e)} = {to_text(named)}",
                                        f"{to_latex(e)} = {to_latex(named)}"))
                return named
        args = [walk(a) for a in e.args]
        return e.func(*args) if any(n is not o for n, o in zip(args, e.args)) else e

    return walk(expr), found


# --------------------------------------------------------------------------------------------
# Tidying: powers as the power rule gives them, a common factor with its sign
# --------------------------------------------------------------------------------------------


def power_rule_shape(expr: sp.Expr) -> sp.Expr:
    """n·x^n/x becomes n·x^(n−1): powers of one symbol in a product are combined when one
    exponent is symbolic (SymPy keeps x^n·x^(−1) apart)."""

    def combine(mul: sp.Mul) -> sp.Expr:
        exponents: dict[sp.Expr, list[sp.Expr]] = {}
        others = []
        for factor in mul.args:
            base, exponent = factor.as_base_exp()
            if base.is_Symbol:
                exponents.setdefault(base, []).append(exponent)
            else:
                others.append(factor)
        if not any(len(e) > 1 and any(not x.is_Number for x in e) for e in exponents.values()):
            return mul
        return sp.Mul(*others, *[b ** sp.Add(*e) for b, e in exponents.items()])

    return expr.replace(lambda e: e.is_Mul, combine)


def _sums_in(expression: sp.Expr | None) -> list[sp.Expr]:
    if expression is None:
        return []
    return [s for s in sp.preorder_traversal(expression) if isinstance(s, sp.Basic) and s.is_Add]


def sum_as_written(derivative: sp.Expr, expression: sp.Expr | None) -> sp.Expr | None:
    """c·(sum) oriented as the sum appears in the expression: 6·(−2x + 3y − 4z + 6) becomes
    −6·(2x − 3y + 4z − 6) for (2x − 3y + 4z − 6)². None if no sum of the expression fits."""
    if not derivative.is_Mul:
        return None
    coeff, rest = derivative.as_coeff_Mul()
    factors = sp.Mul.make_args(rest)
    sums = [f for f in factors if f.is_Add]
    if not coeff.is_Number or len(sums) != 1:
        return None
    total = sums[0]
    others = [f for f in factors if f is not total]
    for written in _sums_in(expression):
        _, primitive = written.as_content_primitive(radical=False)
        for candidate in (written, primitive):
            if not candidate.is_Add or len(candidate.args) != len(total.args):
                continue
            ratio = sp.cancel(total / candidate)
            if ratio.is_Number and ratio != 0:
                return sp.Mul(coeff * ratio, *others, candidate, evaluate=False)
    return None


def factored(derivative: sp.Expr, expression: sp.Expr | None = None) -> sp.Expr:
    """SymPy's factor, the sum oriented as in the expression: −6·(2x − 3y + 4z − 6)."""
    from dlcalc.symbolic import _positive_sum

    result = sp.factor(derivative)
    return sum_as_written(result, expression) or _positive_sum(result)


def expanded(derivative: sp.Expr) -> sp.Expr:
    """Everything multiplied out: 6·(3x + 4y − 5) becomes 18x + 24y − 30."""
    return sp.expand(derivative)
