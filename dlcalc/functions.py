"""A function of x named on the command line: a registry activation or an expression in x.

`activate` and `plot` take either; this module turns the user's word into one `Function`
(label, formulas, parameters, f and f' as NumPy callables). The symbolic engine (SymPy) is
imported only when the word is an expression, so registry names start fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from dlcalc import activations
from dlcalc.errors import DlcalcError

# Anything beyond a bare identifier (operators, parentheses, digits after an operator...) or the
# lone variable x is an expression; a bare word is a registry name (with a spelling suggestion).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Function:
    label: str
    formula: str
    derivative_formula: str
    params: dict[str, float]
    function: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    activation: activations.Activation | None = field(default=None, compare=False)


def resolve(word: str, overrides: Mapping[str, float] | None = None) -> Function:
    """The registry activation called `word`, or the expression in x that `word` spells."""
    overrides = dict(overrides or {})
    text = word.strip()
    if _NAME.fullmatch(text) and text != "x":
        activation = activations.lookup(text)
        params = activations.bind_parameters(activation, overrides)
        return Function(
            label=activation.name,
            formula=activation.formula,
            derivative_formula=activation.derivative_formula,
            params=params,
            function=lambda x: activation.function(x, **params),
            derivative=lambda x: activation.derivative(x, **params),
            activation=activation,
        )
    if overrides:
        raise DlcalcError(f"-p sets parameters of registry functions; the expression {text!r} "
                          "has none (write the numbers into it)")
    from dlcalc import symbolic
    from dlcalc.expression import parse_expression

    expr = parse_expression(text)
    f, df = symbolic.numeric_function(expr, "x")
    derivative = symbolic.derivative_expression(expr, "x")
    return Function(
        label=text,
        formula=f"f(x) = {symbolic.to_text(expr)}",
        derivative_formula=f"f'(x) = {symbolic.to_text(derivative)}",
        params={},
        function=f,
        derivative=df,
    )
