"""A function of x named on the command line: a registry activation or an expression in x.

`activate` and `plot` take either. An expression becomes an `Activation` record like the
registry's own (function, derivative, formulas), so everything that works on a registry entry
(evaluation, `--props`, plots with their annotations) works on an expression too. The symbolic
engine (SymPy) is imported only when the word is an expression, so registry names start fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from dlcalc import activations
from dlcalc.activations import Activation
from dlcalc.errors import DlcalcError

# A bare word other than the variable x and the constants is a registry name (misspellings get
# a suggestion); anything else (operators, parentheses, numbers, pi) is an expression in x.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NOT_NAMES = ("x", "e", "pi")


@dataclass(frozen=True)
class Function:
    """An activation with its parameters bound."""

    activation: Activation
    params: dict[str, float]

    @property
    def label(self) -> str:
        return self.activation.name

    def function(self, x: np.ndarray) -> np.ndarray:
        return self.activation.function(x, **self.params)

    def derivative(self, x: np.ndarray) -> np.ndarray:
        return self.activation.derivative(x, **self.params)

    def kinks(self) -> tuple[float, ...]:
        return activations.kink_points(self.activation, self.params)


def resolve(word: str, overrides: Mapping[str, float] | None = None) -> Function:
    """The registry activation called `word`, or the expression in x that `word` spells."""
    overrides = dict(overrides or {})
    text = word.strip()
    if _NAME.fullmatch(text) and text not in _NOT_NAMES:
        activation = activations.lookup(text)
        return Function(activation, activations.bind_parameters(activation, overrides))
    if overrides:
        raise DlcalcError(f"-p sets parameters of registry functions; the expression {text!r} "
                          "has none (write the numbers into it)")
    return Function(expression_activation(text), {})


def resolve_all(words: list[str], overrides: Mapping[str, float] | None = None) -> list[Function]:
    """Several functions sharing the -p settings (plot, --props): each setting applies to the
    functions that have that parameter, and one that none of them has is an error. A single
    function is resolved strictly, so its error lists its own parameters."""
    overrides = dict(overrides or {})
    if len(words) <= 1:
        return [resolve(word, overrides) for word in words]
    functions = [resolve(word, _applicable(word, overrides)) for word in words]
    used = {key for function in functions for key in _applicable(function.label, overrides)}
    unused = sorted(set(overrides) - used)
    if unused:
        raise DlcalcError(f"none of {', '.join(words)} has a parameter {unused[0]!r}")
    return functions


def _applicable(word: str, overrides: dict[str, float]) -> dict[str, float]:
    """The settings among `overrides` that the registry function `word` takes."""
    text = word.strip()
    if not overrides or not _NAME.fullmatch(text) or text in _NOT_NAMES:
        return {}
    names = {alias for p in activations.lookup(text).parameters for alias in (p.name, *p.aliases)}
    return {key: value for key, value in overrides.items() if key in names}


def expression_activation(text: str) -> Activation:
    """An `Activation` record for an expression in x, its derivative from the symbolic engine."""
    from dlcalc import symbolic
    from dlcalc.expression import parse_expression

    expr = parse_expression(text)
    derivative = symbolic.differentiate(expr, "x")  # once: it can take a second
    f, df = symbolic.numeric_function(expr, "x", derivative=derivative)
    return Activation(
        name=text,
        function=f,  # f.fast: the NumPy values alone (dlcalc.reports.function_curve)
        derivative=df,
        formula=f"f(x) = {symbolic.to_text(expr)}",
        derivative_formula=f"f'(x) = {symbolic.to_text(derivative)}",
        latex=f"f(x) = {symbolic.to_latex(expr)}",
        derivative_latex=f"f'(x) = {symbolic.to_latex(derivative)}",
        summary="an expression in x",
        kinks=lambda: _jumps_of(derivative),  # solved only when a plot asks
    )


def _jumps_of(derivative) -> tuple[float, ...]:
    """Where an expression's derivative jumps: the real zeros of its step functions' arguments.

    relu(x) differentiates to heaviside(x), abs(x) to sign(x), max(x, 1) to heaviside(x - 1):
    each jumps where its argument is 0. A plot breaks the derivative's line there, as it does at
    the registry's own kinks. Only finitely many zeros, found within a short time, are used
    (abs(sin(x)) jumps at every k·π: no line is broken rather than some).
    """
    import sympy as sp

    from dlcalc import symbolic

    symbols = [s for s in derivative.free_symbols if s.name == "x"]
    if not symbols:
        return ()
    found: set[float] = set()
    for step in derivative.atoms(sp.Heaviside, sp.sign):
        try:
            with symbolic.time_limit(symbolic.SIMPLIFY_SECONDS, "too slow"):
                zeros = sp.solveset(step.args[0], symbols[0], domain=sp.S.Reals)
        except (DlcalcError, RecursionError, NotImplementedError, ValueError, TypeError):
            continue
        if isinstance(zeros, sp.FiniteSet):
            found.update(float(z) for z in zeros if z.is_real and z.is_finite)
    return tuple(sorted(found))
