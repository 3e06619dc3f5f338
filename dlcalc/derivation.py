r"""Step-by-step derivatives, as the notes work them: "in baby steps with annotations".

As in sympy_gamma's diffsteps, a derivation is first built as a tree of small rule records
(`ChainRule(expr, variable, result, u, inner, outer, outer_step, inner_step)`, ...) by a
dispatcher that looks at the head of the expression (`derive`); rendering that tree as a flat
list of `Step`s (text and LaTeX, with depth for indentation) is a separate pass
(`derivation_steps`). Deciding and printing never mix.

Rule names (the `rule` of each Step): constant, other variable treated as constant, power,
sum, constant multiple, product, quotient, chain, exponential, logarithm, trigonometric,
hyperbolic, activation, special function (erf, abs, min, max, ...), and simplify for the
last line.

Fractions: a negative power of the variable itself (x⁻², 1/x) uses the power rule; every
other fraction whose denominator depends on the variable (1/(1 + e^(−x)), sin(x)/x) uses the
quotient rule, numerator 1 included. Powers u^n of an inner function u use chain + power.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from dlcalc.errors import DlcalcError
from dlcalc.steps import Step
from dlcalc.symbolic import (
    DIFFERENTIATE_SECONDS,
    _as_expression,
    _check_wrt,
    _symbol,
    _too_slow,
    final_derivative,
    time_limit,
    to_latex,
    to_text,
)

# --------------------------------------------------------------------------------------------
# Rule records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """d(expr)/d(variable) = result, justified by the rule named `name`."""

    expr: sp.Expr
    variable: sp.Symbol
    result: sp.Expr
    name: ClassVar[str] = ""


@dataclass(frozen=True)
class ConstantRule(Rule):
    name: ClassVar[str] = "constant"


@dataclass(frozen=True)
class OtherVariableRule(Rule):
    name: ClassVar[str] = "other variable treated as constant"


@dataclass(frozen=True)
class PowerRule(Rule):
    exponent: sp.Expr = sp.S.One
    name: ClassVar[str] = "power"


@dataclass(frozen=True)
class ExponentialRule(Rule):
    base: sp.Expr = sp.E
    name: ClassVar[str] = "exponential"


@dataclass(frozen=True)
class FunctionRule(Rule):
    """A known function of the variable itself: log, sin, tanh, sigmoid, erf, ..."""

    kind: str = "special function"

    @property
    def rule_name(self) -> str:
        return self.kind


@dataclass(frozen=True)
class SumRule(Rule):
    terms: tuple[Rule, ...] = ()
    name: ClassVar[str] = "sum"


@dataclass(frozen=True)
class ConstantMultipleRule(Rule):
    constant: sp.Expr = sp.S.One
    other: Rule | None = None
    name: ClassVar[str] = "constant multiple"


@dataclass(frozen=True)
class ProductRule(Rule):
    f: sp.Expr = sp.S.One
    g: sp.Expr = sp.S.One
    f_step: Rule | None = None
    g_step: Rule | None = None
    name: ClassVar[str] = "product"


@dataclass(frozen=True)
class QuotientRule(Rule):
    numerator: sp.Expr = sp.S.One
    denominator: sp.Expr = sp.S.One
    numerator_step: Rule | None = None
    denominator_step: Rule | None = None
    name: ClassVar[str] = "quotient"


@dataclass(frozen=True)
class ChainRule(Rule):
    """d/dx f(u(x)) = f'(u)·du/dx, with u the inner function."""

    u: sp.Symbol = sp.Symbol("u")
    inner: sp.Expr = sp.S.Zero
    outer: sp.Expr = sp.S.Zero  # f(u), an expression in the symbol u
    outer_step: Rule | None = None
    inner_step: Rule | None = None
    name: ClassVar[str] = "chain"


@dataclass(frozen=True)
class RewriteRule(Rule):
    """f^g with the variable in both: f^g = e^(g·log f), then the chain rule."""

    rewritten: sp.Expr = sp.S.Zero
    step: Rule | None = None
    name: ClassVar[str] = "exponential"


def rule_name(rule: Rule) -> str:
    return rule.kind if isinstance(rule, FunctionRule) else rule.name


# --------------------------------------------------------------------------------------------
# The dispatcher: picks the rule from the head of the expression
# --------------------------------------------------------------------------------------------

_TRIGONOMETRIC = (sp.sin, sp.cos, sp.tan, sp.sec, sp.csc, sp.cot, sp.asin, sp.acos, sp.atan)
_HYPERBOLIC = (sp.sinh, sp.cosh, sp.tanh)
_SPECIAL = (sp.erf, sp.Abs, sp.Heaviside, sp.sign)


def _function_kind(expr: sp.Expr) -> str | None:
    if isinstance(expr, sp.log):
        return "logarithm"
    if isinstance(expr, _TRIGONOMETRIC):
        return "trigonometric"
    if isinstance(expr, _HYPERBOLIC):
        return "hyperbolic"
    if getattr(type(expr), "registry_function", False):  # sigmoid, relu, gelu, Φ, ... (registry)
        return "activation"
    if isinstance(expr, _SPECIAL):
        return "special function"
    return None


def _fresh_symbol(level: int, avoid: set[str]) -> sp.Symbol:
    for name in ("u", "v", "w", *(f"u{i}" for i in range(1, 100))):
        if name not in avoid:
            if level == 0:
                return sp.Symbol(name, real=True)
            level -= 1
    return sp.Dummy("u", real=True)


class _Deriver:
    def __init__(self, expr: sp.Expr):
        self.avoid = {s.name for s in expr.free_symbols}

    def derive(self, expr: sp.Expr, x: sp.Symbol, level: int = 0) -> Rule:
        if not expr.has(x):
            if expr.free_symbols:
                return OtherVariableRule(expr, x, sp.S.Zero)
            return ConstantRule(expr, x, sp.S.Zero)
        if expr == x:
            return PowerRule(expr, x, sp.S.One, exponent=sp.S.One)
        if expr.is_Add:
            terms = tuple(self.derive(t, x, level) for t in sp.Add.make_args(expr))
            return SumRule(expr, x, sp.Add(*[t.result for t in terms]), terms=terms)
        if expr.is_Mul:
            return self.product(expr, x, level)
        if expr.is_Pow:
            return self.power(expr, x, level)
        if isinstance(expr, sp.exp):
            if expr.args[0] == x:
                return ExponentialRule(expr, x, expr, base=sp.E)
            return self.chain(expr, x, level, expr.args[0], lambda u: sp.exp(u))
        kind = _function_kind(expr)
        if kind is not None and len(expr.args) == 1 or isinstance(expr, sp.Heaviside):
            arg = expr.args[0]
            if arg == x:
                result = sp.sec(x) ** 2 if isinstance(expr, sp.tan) else sp.diff(expr, x)
                return FunctionRule(expr, x, result, kind=kind or "special function")
            func = expr.func
            return self.chain(expr, x, level, arg, lambda u: func(u, *expr.args[1:]))
        # min, max and anything else: SymPy's derivative, named as a special function.
        return FunctionRule(expr, x, sp.diff(expr, x), kind="special function")

    def product(self, expr: sp.Mul, x: sp.Symbol, level: int) -> Rule:
        factors = sp.Mul.make_args(expr)
        constant = sp.Mul(*[f for f in factors if not f.has(x)])
        varying = [f for f in factors if f.has(x)]
        if constant != 1:
            other = self.derive(sp.Mul(*varying), x, level)
            return ConstantMultipleRule(
                expr, x, constant * other.result, constant=constant, other=other
            )
        denominators = [
            f.base ** (-f.exp) for f in varying if f.is_Pow and f.exp.is_Number and f.exp < 0
        ]
        if denominators:
            numerators = [f for f in varying if not (f.is_Pow and f.exp.is_Number and f.exp < 0)]
            return self.quotient(expr, x, level, sp.Mul(*numerators), sp.Mul(*denominators))
        f, g = varying[0], sp.Mul(*varying[1:])
        f_step, g_step = self.derive(f, x, level), self.derive(g, x, level)
        result = f_step.result * g + f * g_step.result
        return ProductRule(expr, x, result, f=f, g=g, f_step=f_step, g_step=g_step)

    def quotient(self, expr, x, level, numerator, denominator) -> Rule:
        n_step = self.derive(numerator, x, level)
        d_step = self.derive(denominator, x, level)
        result = (n_step.result * denominator - numerator * d_step.result) / denominator**2
        return QuotientRule(expr, x, result, numerator=numerator, denominator=denominator,
                            numerator_step=n_step, denominator_step=d_step)

    def power(self, expr: sp.Pow, x: sp.Symbol, level: int) -> Rule:
        base, exponent = expr.base, expr.exp
        if not exponent.has(x):
            if base == x:
                return PowerRule(expr, x, exponent * x ** (exponent - 1), exponent=exponent)
            if exponent.is_Number and exponent < 0:
                return self.quotient(expr, x, level, sp.S.One, base ** (-exponent))
            return self.chain(expr, x, level, base, lambda u: u**exponent)
        if not base.has(x):
            if exponent == x:
                return ExponentialRule(expr, x, expr * sp.log(base), base=base)
            return self.chain(expr, x, level, exponent, lambda u: base**u)
        rewritten = sp.exp(exponent * sp.log(base))
        step = self.derive(rewritten, x, level)
        return RewriteRule(expr, x, step.result.subs(rewritten, expr), rewritten=rewritten,
                           step=step)

    def chain(self, expr, x, level, inner, make_outer) -> Rule:
        u = _fresh_symbol(level, self.avoid)
        outer = make_outer(u)
        outer_step = self.derive(outer, u, level + 1)
        inner_step = self.derive(inner, x, level + 1)
        result = outer_step.result.subs(u, inner) * inner_step.result
        return ChainRule(expr, x, result, u=u, inner=inner, outer=outer,
                         outer_step=outer_step, inner_step=inner_step)


def derive(expr, variable: str) -> Rule:
    """The rule tree of d(expr)/d(variable)."""
    expr = _as_expression(expr)
    _check_wrt(expr, [variable])
    x = _symbol(expr, variable)
    with time_limit(DIFFERENTIATE_SECONDS, _too_slow("differentiate")):
        try:
            return _Deriver(expr).derive(expr, x)
        except RecursionError:
            raise DlcalcError("the expression is nested too deeply to differentiate") from None


# --------------------------------------------------------------------------------------------
# Rendering: rule tree -> flat list of Steps, in text and LaTeX
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Notation:
    latex: bool
    partial: bool

    def e(self, expr) -> str:
        return to_latex(expr) if self.latex else to_text(expr)

    def d(self, var: sp.Symbol) -> str:
        partial = self.partial and var.name in self.variables
        name = self.e(var)
        if self.latex:
            return rf"\frac{{\partial}}{{\partial {name}}}" if partial else rf"\frac{{d}}{{d{name}}}"
        return f"∂/∂{name}" if partial else f"d/d{name}"

    variables: frozenset = frozenset()

    def group(self, expr) -> str:
        text = self.e(expr)
        if expr.is_Symbol or expr.is_Function or (expr.is_Number and expr >= 0):
            return text
        return rf"\left({text}\right)" if self.latex else f"({text})"

    def paren(self, text: str) -> str:
        return rf"\left({text}\right)" if self.latex else f"({text})"

    def of(self, expr, var) -> str:
        return f"{self.d(var)} {self.group(expr)}"

    @property
    def dot(self) -> str:
        return r" \cdot " if self.latex else "·"

    def times(self, *exprs) -> str:
        return self.dot.join(self.group(e) for e in exprs)

    def frac(self, numerator: str, denominator: str) -> str:
        if self.latex:
            return rf"\frac{{{numerator}}}{{{denominator}}}"
        return f"({numerator})/({denominator})"

    def minus(self) -> str:
        return " - " if self.latex else " − "

    def note(self, text: str) -> str:
        return rf" \quad \text{{({text})}}" if self.latex else f"   ({text})"

    def words(self, text: str) -> str:
        # In LaTeX, words outside \text are letters multiplied together and lose their spaces.
        return rf"\text{{{text}}}" if self.latex else text

    def constant_note(self, symbols) -> str:
        """(y is treated as a constant): in LaTeX the names are maths (w_{1}), not text."""
        names = ", ".join(self.e(s) for s in sorted(symbols, key=str))
        verb = "is" if len(symbols) == 1 else "are"
        if self.latex:
            return rf" \quad \left({names}\text{{ {verb} treated as a constant}}\right)"
        return self.note(f"{names} {verb} treated as a constant")


def _equals(*parts: str) -> str:
    out: list[str] = []
    for part in parts:
        if not out or part != out[-1]:
            out.append(part)
    return " = ".join(out)


class _Renderer:
    def __init__(self, variables: set[str], partial: bool):
        self.notations = (
            _Notation(latex=False, partial=partial, variables=frozenset(variables)),
            _Notation(latex=True, partial=partial, variables=frozenset(variables)),
        )

    def step(self, rule_name: str, depth: int, build) -> Step:
        text, latex = (build(n) for n in self.notations)
        return Step(text=text, latex=latex, rule=rule_name, depth=depth)

    def render(self, rule: Rule, depth: int, lhs=None) -> list[Step]:
        """Steps for `rule`; `lhs(n)` overrides the left-hand side (du/dx = d/dx (...))."""
        x, expr, result = rule.variable, rule.expr, rule.result
        left = lhs or (lambda n: n.of(expr, x))
        name = rule_name(rule)

        if isinstance(rule, OtherVariableRule):
            return [self.step(name, depth, lambda n: _equals(left(n), "0")
                              + n.constant_note(expr.free_symbols))]
        if isinstance(rule, (ConstantRule, PowerRule, ExponentialRule, FunctionRule)):
            return [self.step(name, depth, lambda n: _equals(left(n), n.e(result)))]

        if isinstance(rule, SumRule):
            terms = rule.terms
            opening = self.step(name, depth, lambda n: _equals(
                left(n), " + ".join(n.of(t.expr, x) for t in terms)))
            children = [s for t in terms for s in self.render(t, depth + 1)]
            closing = self.step(name, depth, lambda n: _equals(
                left(n), " + ".join(n.group(t.result) for t in terms), n.e(result)))
            return [opening, *children, closing]

        if isinstance(rule, ConstantMultipleRule):
            c, other = rule.constant, rule.other

            def constant_note(n):
                return n.constant_note(c.free_symbols) if c.free_symbols else ""

            if isinstance(other, PowerRule) and other.expr == x:  # −x, 3·x: one line
                return [self.step(name, depth, lambda n: _equals(
                    left(n), f"{n.group(c)}{n.dot}{n.of(x, x)}", n.e(result))
                    + constant_note(n))]
            opening = self.step(name, depth, lambda n: _equals(
                left(n), f"{n.group(c)}{n.dot}{n.of(other.expr, x)}") + constant_note(n))
            closing = self.step(name, depth, lambda n: _equals(
                left(n), n.times(c, other.result), n.e(result)))
            return [opening, *self.render(other, depth + 1), closing]

        if isinstance(rule, ProductRule):
            f, g = rule.f, rule.g
            opening = self.step(name, depth, lambda n: _equals(
                left(n), f"{n.paren(n.of(f, x))}{n.dot}{n.group(g)} + "
                         f"{n.group(f)}{n.dot}{n.paren(n.of(g, x))}"))
            closing = self.step(name, depth, lambda n: _equals(
                left(n), f"{n.times(rule.f_step.result, g)} + {n.times(f, rule.g_step.result)}",
                n.e(result)))
            return [opening, *self.render(rule.f_step, depth + 1),
                    *self.render(rule.g_step, depth + 1), closing]

        if isinstance(rule, QuotientRule):
            f, g = rule.numerator, rule.denominator

            def square(n, e):
                return n.e(e**2) if (e.is_Symbol or e.is_Function) else (
                    rf"{n.group(e)}^{{2}}" if n.latex else f"{n.group(e)}²")

            opening = self.step(name, depth, lambda n: _equals(left(n), n.frac(
                f"{n.paren(n.of(f, x))}{n.dot}{n.group(g)}{n.minus()}"
                f"{n.group(f)}{n.dot}{n.paren(n.of(g, x))}", square(n, g))))
            closing = self.step(name, depth, lambda n: _equals(left(n), n.frac(
                f"{n.times(rule.numerator_step.result, g)}{n.minus()}"
                f"{n.times(f, rule.denominator_step.result)}", square(n, g)), n.e(result)))
            return [opening, *self.render(rule.numerator_step, depth + 1),
                    *self.render(rule.denominator_step, depth + 1), closing]

        if isinstance(rule, ChainRule):
            u, inner, outer = rule.u, rule.inner, rule.outer
            opening = self.step(name, depth, lambda n: (
                f"{left(n)}{n.words(': let ')}{n.e(u)} = {n.e(inner)}{n.words(', so ')}{left(n)} = "
                f"{n.paren(_d_of(n, outer, u))}{n.dot}{_du_dx(n, u, x)}"))
            outer_steps = self.render(rule.outer_step, depth + 1, lhs=lambda n: _d_of(n, outer, u))
            inner_steps = self.render(
                rule.inner_step, depth + 1,
                lhs=lambda n: f"{_du_dx(n, u, x)} = {n.of(inner, x)}")
            outer_at_inner = rule.outer_step.result.subs(u, inner)
            closing = self.step(name, depth, lambda n: _equals(
                left(n), n.times(outer_at_inner, rule.inner_step.result), n.e(result)))
            return [opening, *outer_steps, *inner_steps, closing]

        if isinstance(rule, RewriteRule):
            opening = self.step(name, depth, lambda n: f"{n.e(expr)} = {n.e(rule.rewritten)}"
                                + n.note("write f^g as e^(g·log f)" if not n.latex
                                         else r"f^g = e^{g \log f}"))
            return [opening, *self.render(rule.step, depth, lhs=left)]

        raise AssertionError(f"no renderer for {type(rule).__name__}")  # pragma: no cover


def _du_dx(n: _Notation, u: sp.Symbol, x: sp.Symbol) -> str:
    partial = n.partial and x.name in n.variables
    un, xn = n.e(u), n.e(x)
    if n.latex:
        return (rf"\frac{{\partial {un}}}{{\partial {xn}}}" if partial
                else rf"\frac{{d{un}}}{{d{xn}}}")
    return f"∂{un}/∂{xn}" if partial else f"d{un}/d{xn}"


def _d_of(n: _Notation, expr: sp.Expr, u: sp.Symbol) -> str:
    name = n.e(u)
    d = rf"\frac{{d}}{{d{name}}}" if n.latex else f"d/d{name}"
    return f"{d} {n.group(expr)}"


def derivation_steps(expr, variable: str, form: str = "notes") -> list[Step]:
    """A worked derivation of ∂expr/∂variable, one Step per line, ending with the result.

    Each Step names its rule (see the module docstring); sub-derivations (the inner function
    of a chain rule, the factors of a product, ...) are one level deeper. The step "simplify"
    gives the tidied derivative; when the notes' form renames a written-out function (σ, tanh,
    softplus), a last step "recognise" names the identity used:
    e^(−x)/(1 + e^(−x))² = σ(x)·(1 − σ(x)), since 1/(1 + e^(−x)) = σ(x). The last step is
    always the derivative `dlcalc grad` prints in that form.
    """
    expr = _as_expression(expr)
    tree = derive(expr, variable)
    x = tree.variable
    names = {s.name for s in expr.free_symbols}
    renderer = _Renderer(names | {variable}, partial=len(names | {variable}) > 1)
    steps = renderer.render(tree, 0)
    final, plain, identities = final_derivative(expr, variable, form)
    notation_text, notation_latex = renderer.notations
    steps.append(Step(
        text=f"{notation_text.of(expr, x)} = {to_text(plain)}",
        latex=f"{notation_latex.of(expr, x)} = {to_latex(plain)}",
        rule="simplify",
        depth=0,
    ))
    if identities:
        used_text = "; ".join(i.text for i in identities)
        used_latex = ", ".join(i.latex for i in identities)
        steps.append(Step(
            text=f"{to_text(plain)} = {to_text(final)}   (since {used_text}{_named_rule(identities)})",
            latex=(rf"{to_latex(plain)} = {to_latex(final)} \quad \text{{since }} {used_latex}"),
            rule="recognise",
            depth=0,
        ))
    elif final != plain:
        steps.append(Step(
            text=f"{to_text(plain)} = {to_text(final)}",
            latex=f"{to_latex(plain)} = {to_latex(final)}",
            rule=form,
            depth=0,
        ))
    return steps


_DERIVATIVE_RULES = {
    "sigmoid": "σ' = σ·(1 − σ)",
    "tanh": "tanh' = 1 − tanh² = sech²",
    "softplus": "softplus' = σ",
}


def _named_rule(identities) -> str:
    """The derivative rules of the renamed functions, in the notes' words."""
    names = dict.fromkeys(type(i.named).__name__ for i in identities)
    rules = [_DERIVATIVE_RULES[name] for name in names if name in _DERIVATIVE_RULES]
    return ", and " + ", ".join(rules) if rules else ""
