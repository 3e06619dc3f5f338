"""Derivations as data.

`--explain` (softmax, ce, kl) and `--steps` (grad) build a list of `Step` records in the core;
the output layer renders the same list as indented text, Markdown with `$...$` LaTeX, bare
LaTeX, or JSON. Deciding what the steps are and printing them never mix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One line of a worked derivation.

    text:  the step for a terminal, in plain Unicode (`Σ e^{z_j} = 11.2153`).
    latex: the same step as LaTeX, without surrounding `$` (`\\sum_j e^{z_j} = 11.2153`).
    rule:  what justifies it, in the notes' words ("chain rule", "max shift", ...); may be "".
    depth: nesting level (sub-derivations of a chain rule are one deeper).
    """

    text: str
    latex: str = ""
    rule: str = ""
    depth: int = 0

    def as_dict(self) -> dict:
        return {"rule": self.rule, "text": self.text, "latex": self.latex, "depth": self.depth}
