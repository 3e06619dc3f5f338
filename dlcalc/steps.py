"""Derivations as data.

`--explain` (softmax, ce, kl) and `--steps` (grad) build a list of `Step` records in the core;
the output layer renders the same list as indented text, Markdown with `$...$` LaTeX, bare
LaTeX, or JSON. Deciding what the steps are and printing them never mix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Step:
    """One line of a worked derivation.

    text:  the step for a terminal, in plain Unicode (`Σ e^{z_j} = 11.2153`).
    latex: the same step as LaTeX, without surrounding `$` (`\\sum_j e^{z_j} = 11.2153`).
    rule:  what justifies it, in the notes' words ("chain rule", "max shift", ...); may be "".
    depth: nesting level (sub-derivations of a chain rule are one deeper).
    claim: for a step of a symbolic derivation, the equalities it states, checkable (see
           `Claim`); None for definitions and for steps with numbers.
    """

    text: str
    latex: str = ""
    rule: str = ""
    depth: int = 0
    claim: "Claim | None" = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict:
        return {"rule": self.rule, "text": self.text, "latex": self.latex, "depth": self.depth}


@dataclass(frozen=True)
class Claim:
    """What a symbolic step states, in a form a test can check at random points.

    `sides(n)` gives the (left, right) pairs of SymPy expressions the step claims equal, for
    vectors of length n: in the symbols z0..z{n-1} (logits), y0..y{n-1} (a target) and x, for
    every index i, k the step is about. A left side may hold unevaluated `Derivative`s: the
    check evaluates them with SymPy, independently of the step's own working.
    `given_sum_one`: the step uses Σ_i y_i = 1 (the target is a distribution).
    """

    sides: Callable[[int], list[tuple[Any, Any]]]
    given_sum_one: bool = False
