"""What each command has to say, as a format-free `Report`, and the core calls that build it.

A `Report` is everything one command says about one input: element-wise columns, the primary
result (what `plain` prints first), named scalars, matrices, derivation steps, the JSON object.
Each command has one core-side entry here that takes parsed inputs and returns Reports:

- vector commands (`activate`, `softmax`, `ce`, `kl`) are objects with `compute(vectors,
  operands)` vectorised over rows, `report(result, row)` for one row, `plain_rows(result)`,
  the primary result of every row at once when nothing else was asked for, and
  `json_rows(result)`, every row's JSON fields at once (the batch fast paths);
- `gradient_report`, `plot_report`, `registry_report`, `properties_report` return one Report.

They compute through the core (dlcalc.softmax_core, dlcalc.losses, dlcalc.symbolic, ...) and never
format a number: the output layer (dlcalc.output) renders a Report in every format. Problems
are `DlcalcError`s; results that need a word of explanation are `NumericWarning`s, whose
optional `kind` lets the command line add a hint about its own options.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from dlcalc.errors import DlcalcError, NumericWarning, quietly

if TYPE_CHECKING:  # annotations only: dlcalc.steps is imported by the commands that explain
    from dlcalc.steps import Step


# ---------------------------------------------------------------- the model


@dataclass
class Scalar:
    """One named number of a report (a loss, the logsumexp, an entropy...).

    key:   ASCII snake_case, the JSON/CSV name;   label: for people (table, Markdown);
    latex: the label in LaTeX (math mode);        extra: asked for by a flag, so `plain` prints it.
    """

    key: str
    label: str
    value: Any
    latex: str = ""
    extra: bool = False


@dataclass
class Matrix:
    """A matrix shown under the table: a Jacobian, a Hessian (numbers or expressions)."""

    title: str
    values: Any  # 2-D: numbers, or expression text for people
    labels: Sequence[str] | None = None  # row and column labels
    latex: Sequence[Sequence[str]] | None = None  # the entries as LaTeX, when they are expressions
    key: str = "matrix"
    columns: Sequence[str] | None = None  # CSV names of its columns (row r is CSV row r)
    plain: Any = None  # entries for plain and CSV when `values` are for people (expressions)

    def machine(self) -> Any:
        return self.values if self.plain is None else self.plain

    def csv_columns(self) -> list[str]:
        n = len(np.atleast_2d(np.asarray(self.machine(), dtype=object))[0])
        return list(self.columns) if self.columns is not None else [f"{self.key}_{j}" for j in range(n)]


@dataclass
class Report:
    """What a command has to say about one input, independent of the format."""

    columns: dict[str, Sequence[Any]]  # key (ASCII snake_case) -> values, machine form
    plain: Sequence[Any]  # the primary result
    data: dict[str, Any]  # the JSON object
    scalars: list[Scalar] = field(default_factory=list)
    steps: Sequence[Step] = ()
    matrices: list[Matrix] = field(default_factory=list)
    latex: str | None = None  # the result as LaTeX, when a table is not its best form
    plain_one_per_line: bool = False  # primary entries one per line (expressions, names)
    labels: dict[str, str] = field(default_factory=dict)  # key -> header for people
    latex_labels: dict[str, str] = field(default_factory=dict)  # key -> header in LaTeX
    people_columns: dict[str, Sequence[Any]] = field(default_factory=dict)  # key -> cells for people
    markdown_columns: dict[str, Sequence[Any]] | None = None  # header -> cells with $LaTeX$
    latex_columns: dict[str, Sequence[str]] | None = None  # key -> cells already LaTeX
    plain_extra_columns: list[str] = field(default_factory=list)  # columns printed as plain lines
    text: str | None = None  # what a person sees instead of a table (plot: the path)
    csv_columns: dict[str, Sequence[Any]] = field(default_factory=dict)  # numbers only CSV adds


class Rows:
    """The values of one JSON field for every row of a batch group: a (rows,) array (one number
    per row) or a (rows, k) array (a list per row). See `json_rows` below. (A plain class: a
    dataclass costs a millisecond of every command's start-up.)"""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray):
        self.values = values


# A vector command's `json_rows(result)` is its batch JSON without a Report per line: None when
# its JSON holds more than it can give at once (steps, a Jacobian), else (fields, plain). `fields`
# are the (key, value) pairs of `report(result, row).data` in order, each value a `Rows` (that
# field's value for every row) or the value every row shares; `plain` is the (rows, k) array of
# every row's `report.plain`, for the runner's check of non-finite results. The runner writes
# the same bytes as `dumps_json` of each row's report (tests/test_batch_json.py).
JsonRows = tuple[list[tuple[str, Any]], np.ndarray]


def _index(n: int) -> list[int]:
    return list(range(n))


def _warn(message: str, *, row: int | None = None, kind: str = "") -> None:
    warning = NumericWarning(message)
    warning.row = row  # type: ignore[attr-defined]
    warning.kind = kind  # type: ignore[attr-defined]
    warnings.warn(warning, stacklevel=3)


# ---------------------------------------------------------------- activate


def activation_report(label: str, params: dict[str, float], x: np.ndarray, y: np.ndarray,
                      dy: np.ndarray | None) -> Report:
    columns: dict[str, Any] = {"x": x, "y": y}
    data: dict[str, Any] = {"function": label, "params": params, "x": x, "y": y}
    if dy is not None:
        columns["dy"] = dy
        data["dy"] = dy
    return Report(columns=columns, plain=y if dy is None else dy, data=data,
                  scalars=[Scalar(name, name, value, rf"\text{{{name}}}") for name, value in params.items()],
                  labels={"y": "f(x)", "dy": "f'(x)"}, latex_labels={"y": "f(x)", "dy": "f'(x)"})


class ActivateCommand:
    """An activation (registry entry or expression, resolved) and, if asked, its derivative."""

    what = "x values"

    def __init__(self, function: Any, derivative: bool, explain: bool = False):
        self.function = function
        self.derivative = derivative
        self.explain = explain  # f' derived from the definition, then evaluated at each x

    def compute(self, x: np.ndarray, operands: np.ndarray | None) -> tuple:
        from dlcalc import activations

        if operands is not None:  # a stdin line 'X ; Y': activate has no second operand to apply
            raise DlcalcError("activate takes x values only; remove the ';' and what follows it")
        if self.explain:
            from dlcalc.explain import check_explained

            check_explained(x.shape[-1], "x values")
        if self.function.label in activations.REGISTRY:  # NumPy code: fast, no budget (no SymPy)
            if self.derivative:  # f(x) only when a format shows it (`_values`): plain shows f'
                return [x, None, self.function.derivative(x)]
            return x, self.function.function(x), None
        from dlcalc import symbolic

        # An expression's values are exact (mpmath per element): the one work budget bounds
        # f and f' at all of these x values together.
        with symbolic.work_budget(f"evaluating the expression at {x.size:,} x values",
                                  "simplify the expression or give fewer x values"):
            y = self.function.function(x)
            return x, y, self.function.derivative(x) if self.derivative or self.explain else None

    def _values(self, result: tuple | list) -> np.ndarray:
        """f at every x: computed here, once, when `compute` left it for later (a registry
        function, which warns of nothing, so computing it outside `compute` loses nothing)."""
        if result[1] is None:
            result[1] = self.function.function(result[0])
        return result[1]

    def report(self, result: tuple, row: int) -> Report:
        x, y, dy = result[0], self._values(result), result[2]
        report = activation_report(self.function.label, self.function.params, x[row], y[row],
                                   dy[row] if dy is not None and self.derivative else None)
        if self.explain:
            evaluated = (x[row], dy[row] if dy is not None else self.function.derivative(x[row]))
            report.steps = activation_derivation(self.function, evaluated).steps
        return report

    def plain_rows(self, result: tuple) -> np.ndarray | None:
        if self.explain:
            return None
        return result[2] if self.derivative else result[1]

    def json_rows(self, result: tuple) -> JsonRows | None:
        if self.explain:
            return None
        x, y, dy = result[0], self._values(result), result[2]
        fields: list[tuple[str, Any]] = [("function", self.function.label),
                                         ("params", self.function.params), ("x", Rows(x)),
                                         ("y", Rows(y))]
        if self.derivative:
            fields.append(("dy", Rows(dy)))
        return fields, dy if self.derivative else y


def activation_derivation(chosen: Any, evaluated: tuple | None = None) -> Report:
    """f' derived from the definition (an expression: by the rules, as grad --steps does),
    then evaluated at `evaluated` = (x, f'(x)) when given."""
    from dlcalc import activations, symbolic_derivations

    x, dy = evaluated if evaluated is not None else ((), ())
    if chosen.label in activations.REGISTRY:
        steps = symbolic_derivations.activation_derivation(chosen.label, chosen.params, x, dy)
    else:
        from dlcalc.derivation import derivation_steps
        from dlcalc.expression import parse_expression

        steps = derivation_steps(parse_expression(chosen.label), "x") + \
            symbolic_derivations.activation_derivation_values(x, dy)
    # The derivation is the whole answer when no x is given: plain prints its lines too.
    return Report(columns={}, plain=[("  " * step.depth) + step.text for step in steps],
                  data={"function": chosen.label, "params": chosen.params,
                        "steps": [step.as_dict() for step in steps]},
                  steps=steps, plain_one_per_line=True)


def registry_report(entries: Sequence[Any]) -> Report:
    def params_text(entry: Any) -> str:
        return ", ".join(f"{p.name}={p.default:g}" for p in entry.parameters) or "-"

    return Report(
        columns={
            "name": [e.name for e in entries],
            "aliases": [", ".join(e.aliases) or "-" for e in entries],
            "parameters": [params_text(e) for e in entries],
            "formula": [e.formula for e in entries],
            "derivative": [e.derivative_formula for e in entries],
        },
        labels={"formula": "f(x)", "derivative": "f'(x)"},
        latex_labels={"formula": "f(x)", "derivative": "f'(x)"},
        plain=[e.name for e in entries],
        markdown_columns={
            "name": [f"`{e.name}`" for e in entries],
            "aliases": [", ".join(e.aliases) or "" for e in entries],
            "parameters": [params_text(e) if e.parameters else "" for e in entries],
            "f(x)": [f"${e.latex}$" for e in entries],
            "f'(x)": [f"${e.derivative_latex}$" for e in entries],
        },
        latex_columns={
            "name": [rf"\text{{{e.name}}}" for e in entries],
            "aliases": [rf"\text{{{', '.join(e.aliases)}}}" for e in entries],
            "parameters": [rf"\text{{{params_text(e) if e.parameters else ''}}}" for e in entries],
            "formula": [e.latex for e in entries],
            "derivative": [e.derivative_latex for e in entries],
        },
        data={"functions": [
            {"name": e.name, "aliases": list(e.aliases), "summary": e.summary,
             "formula": e.formula, "derivative": e.derivative_formula, "latex": e.latex,
             "derivative_latex": e.derivative_latex,
             "parameters": {p.name: p.default for p in e.parameters}}
            for e in entries]},
        plain_one_per_line=True,
    )


# --props compares functions side by side: each costs a grid of 40,001 values and refinements.
MAX_PROPERTIES = 20


def properties_command(words: Sequence[str], overrides: dict[str, float], ratio: float) -> Report:
    """--props for functions named on the command line: at most MAX_PROPERTIES of them; with
    expressions among them, all the symbolic and numeric work shares the one work budget."""
    from dlcalc.functions import resolve_all

    if len(words) > MAX_PROPERTIES:
        raise DlcalcError(f"{len(words):,} functions to compare: at most {MAX_PROPERTIES} "
                          "are compared at once")
    if all(_is_registry_word(w) for w in words):
        return properties_report(resolve_all(list(words), overrides), ratio)
    from dlcalc import symbolic

    with symbolic.work_budget(f"comparing {len(words)} functions",
                              "simplify the expressions or compare fewer at once"):
        return properties_report(resolve_all(list(words), overrides), ratio)


def _is_registry_word(word: str) -> bool:
    """Whether `word` names a registry function (or is a misspelling of one: an error soon)."""
    from dlcalc.functions import _NAME, _NOT_NAMES

    text = word.strip()
    return bool(_NAME.fullmatch(text)) and text not in _NOT_NAMES


def properties_report(chosen: Sequence[Any], ratio: float) -> Report:
    """The notes' sigmoid-versus-tanh comparison for resolved functions."""
    from dlcalc import properties

    if len(chosen) > MAX_PROPERTIES:
        raise DlcalcError(f"{len(chosen):,} functions to compare: at most {MAX_PROPERTIES} "
                          "are compared at once")
    found = [properties.properties(c.activation, c.params, saturation=ratio) for c in chosen]
    saturation = [", ".join(zone.text() for zone in p.saturation) or "none" for p in found]
    centred = [p.zero_centred for p in found]
    return Report(
        columns={
            "function": [p.name for p in found],
            "output_range": [p.output_range.text() for p in found],
            "zero_centred": centred,
            "max_derivative": [p.max_derivative for p in found],
            "max_derivative_at": [p.max_derivative_at.text() for p in found],
            "saturated": saturation,
        },
        labels={"output_range": "output range", "zero_centred": "zero-centred",
                "max_derivative": "max f'", "max_derivative_at": "at",
                "saturated": f"saturated (|f'| < {ratio:g}·max)"},
        plain=[" ".join([p.name, p.output_range.text(), c, repr(float(p.max_derivative)),
                         p.max_derivative_at.text(), s])
               for p, c, s in zip(found, centred, saturation)],
        scalars=[Scalar("saturation_ratio", "saturation ratio", ratio, r"\text{saturation ratio}")],
        # The intervals' ends as numbers, for programs reading the CSV (the text columns are
        # for people): saturated below `saturated_below` and above `saturated_above`.
        csv_columns={
            "range_low": [p.output_range.low for p in found],
            "range_high": [p.output_range.high for p in found],
            "max_derivative_at_low": [p.max_derivative_at.low for p in found],
            "max_derivative_at_high": [p.max_derivative_at.high for p in found],
            "saturated_below": [_tail(p.saturation, left=True) for p in found],
            "saturated_above": [_tail(p.saturation, left=False) for p in found],
        },
        data={"saturation_ratio": ratio, "properties": [p.as_dict() for p in found]},
        plain_one_per_line=True,
    )


def _tail(zones: Sequence[Any], *, left: bool) -> float | str:
    """The inner end of the saturated tail on the left (−∞, a) or the right (b, ∞); "" if none."""
    for zone in zones:
        if left and zone.low == -np.inf:
            return zone.high
        if not left and zone.high == np.inf:
            return zone.low
    return ""


# ---------------------------------------------------------------- softmax

# --jacobian prints n² numbers: 2,000 logits are already 4 million of them (32 MB as float64).
MAX_JACOBIAN_CLASSES = 2_000


def softmax_report(z: np.ndarray, temperature: float, softmax: np.ndarray,
                   log_softmax: np.ndarray, logsumexp: float, *, log: bool,
                   jacobian: np.ndarray | None, steps: Sequence[Step]) -> Report:
    data: dict[str, Any] = {"z": z, "temperature": temperature, "softmax": softmax,
                            "log_softmax": log_softmax, "logsumexp": logsumexp}
    matrices = []
    if jacobian is not None:
        data["jacobian"] = jacobian
        what = "log_softmax" if log else "softmax"
        matrices.append(Matrix(f"Jacobian ∂{what}_i/∂z_k (row i, column k)", jacobian,
                               [str(i) for i in range(z.size)], key="jacobian",
                               columns=[f"j{k}" for k in range(z.size)]))
    return Report(
        columns={"i": _index(z.size), "z": z, "softmax": softmax, "log_softmax": log_softmax},
        latex_labels={"i": "i", "z": "z_i", "softmax": r"\mathrm{softmax}(z)_i",
                      "log_softmax": r"\log \mathrm{softmax}(z)_i"},
        plain=log_softmax if log else softmax,
        data=data,
        scalars=[Scalar("logsumexp", "logsumexp", logsumexp, r"\operatorname{logsumexp}(z)"),
                 Scalar("temperature", "temperature", temperature, "T")],
        steps=steps,
        matrices=matrices,
    )


class SoftmaxCommand:
    """softmax, log-softmax and logsumexp of each row; the Jacobian and a derivation if asked."""

    what = "logits"

    def __init__(self, temperature: float, *, log: bool = False, jacobian: bool = False,
                 explain: bool = False, one_per_line: bool = False):
        """`one_per_line`: the vectors come one per line of text, where a vector of one logit is
        more likely a column of numbers meant as one vector (`seq 1 3`): say so."""
        from dlcalc import softmax_core as core

        core.validate_temperature(temperature)
        self.temperature, self.log, self.jacobian, self.explain = temperature, log, jacobian, explain
        self.one_per_line = one_per_line

    def compute(self, z: np.ndarray, operands: np.ndarray | None) -> tuple:
        from dlcalc import softmax_core as core

        if operands is not None:  # a stdin line 'Z ; X': softmax has no second operand to apply
            raise DlcalcError("softmax takes logits only; remove the ';' and what follows it")
        if self.explain:  # refused at once, not after the numbers
            from dlcalc.explain import check_explained

            check_explained(z.shape[-1], "logits")
        if self.jacobian and z.shape[-1] > MAX_JACOBIAN_CLASSES:
            raise DlcalcError(f"--jacobian of {z.shape[-1]:,} logits would have {z.shape[-1] ** 2:,} "
                              f"entries; it takes at most {MAX_JACOBIAN_CLASSES:,} logits")
        if z.shape[-1] == 1 and self.one_per_line:
            _warn("softmax of one logit is always 1: put all the logits of a vector on one line "
                  "(for example: seq 1 3 | paste -sd ' ' | dlcalc softmax)", kind="one_logit")
        return z, core.softmax_all(z, self.temperature)

    def report(self, computed: tuple, row: int) -> Report:
        from dlcalc import softmax_core as core

        z, result = computed
        matrix = None
        if self.jacobian:  # one row's n×n matrix at a time: a batch's would be rows·n² numbers at once
            matrix = quietly(core.log_softmax_jacobian if self.log else core.softmax_jacobian,
                             z[row], self.temperature)
        steps: Sequence[Step] = ()
        if self.explain:
            from dlcalc.explain import explain_softmax

            steps = quietly(explain_softmax, z[row], self.temperature, self.log)
            if self.jacobian:  # the Jacobian derived in symbols (two cases), then at these logits
                from dlcalc.symbolic_derivations import softmax_jacobian_derivation

                steps = list(steps) + softmax_jacobian_derivation(
                    result.softmax[row], matrix, log=self.log, temperature=self.temperature)
        return softmax_report(z[row], self.temperature, result.softmax[row], result.log_softmax[row],
                              result.logsumexp[row], log=self.log, jacobian=matrix, steps=steps)

    def plain_rows(self, computed: tuple) -> np.ndarray | None:
        if self.jacobian or self.explain:
            return None
        return computed[1].log_softmax if self.log else computed[1].softmax

    def json_rows(self, computed: tuple) -> JsonRows | None:
        if self.jacobian or self.explain:
            return None
        z, result = computed
        return ([("z", Rows(z)), ("temperature", self.temperature), ("softmax", Rows(result.softmax)),
                 ("log_softmax", Rows(result.log_softmax)), ("logsumexp", Rows(result.logsumexp))],
                result.log_softmax if self.log else result.softmax)


# ---------------------------------------------------------------- ce


def cross_entropy_report(inputs: np.ndarray, result: Any, row: int, *, probs_input: bool,
                         want_grad: bool, unit: str, steps: Sequence[Step],
                         target: np.ndarray | None = None) -> Report:
    """`target`: the probability targets as given (before label smoothing), if not a class index."""
    target_distribution = result.target_distribution[row]
    given = target if target is not None else target_distribution
    index = None if result.target is None else int(result.target[row])
    grad = result.grad[row]
    loss = result.loss[row]
    name = "p" if probs_input else "z"
    columns: dict[str, Any] = {"i": _index(inputs.size), name: inputs, "y": target_distribution}
    labels = {}
    latex_labels = {"i": "i", name: f"{name}_i", "y": "y_i"}
    if index is None:
        columns["target"] = given
        latex_labels["target"] = r"\text{target}_i"
    if not probs_input:
        columns["y_hat"] = result.probs[row]
        labels["y_hat"] = "ŷ"
        latex_labels["y_hat"] = r"\hat{y}_i"
    gradient = "dL_dp" if probs_input else "dL_dz"
    columns[gradient] = grad
    labels[gradient] = f"∂L/∂{name}"
    latex_labels[gradient] = rf"\partial L / \partial {name}_i"
    scalars = [Scalar("loss", f"loss ({unit})", loss, rf"L\ \text{{({unit})}}")]
    if index is not None:
        scalars.append(Scalar("target", "target class", index, r"\text{target class}"))
    return Report(
        columns=columns, labels=labels, latex_labels=latex_labels,
        plain=grad if want_grad else [loss],
        data={"loss": loss, "probs": result.probs[row], "grad": grad,
              "target": index if index is not None else given,
              "target_distribution": target_distribution, "base": unit},
        scalars=scalars,
        steps=steps,
    )


def binary_cross_entropy_report(inputs: np.ndarray, result: Any, row: int, *, probs_input: bool,
                                want_grad: bool, unit: str, steps: Sequence[Step]) -> Report:
    name = "p" if probs_input else "z"
    columns: dict[str, Any] = {"i": _index(inputs.size), name: inputs, "y": result.labels[row]}
    labels = {}
    latex_labels = {"i": "i", name: f"{name}_i", "y": "y_i", "losses": r"\ell_i"}
    if not probs_input:
        columns["sigmoid"] = result.probs[row]
        labels["sigmoid"] = "σ(z)"
        latex_labels["sigmoid"] = r"\sigma(z_i)"
    columns["losses"] = result.losses[row]
    labels["losses"] = "loss"
    gradient = f"dl_d{name}"
    columns[gradient] = result.grad[row]
    labels[gradient] = f"∂ℓ/∂{name}"
    latex_labels[gradient] = rf"\partial \ell_i / \partial {name}_i"
    return Report(
        columns=columns, labels=labels, latex_labels=latex_labels,
        plain=result.grad[row] if want_grad else [result.loss[row]],
        data={"loss": result.loss[row], "losses": result.losses[row], "probs": result.probs[row],
              "grad": result.grad[row], "target": result.labels[row], "base": unit},
        scalars=[Scalar("loss", f"mean loss ({unit})", result.loss[row],
                        rf"\bar{{\ell}}\ \text{{({unit})}}")],
        steps=steps,
    )


class CrossEntropyCommand:
    """Cross-entropy (multiclass or binary) of each row against its target.

    The target of a row is its operand: with `binary`, one label per element; otherwise one
    number is a class index (unless `soft_target` says a one-class distribution was given),
    several are probability targets.
    """

    def __init__(self, *, binary: bool = False, probs: bool = False, label_smoothing: float = 0.0,
                 base: str = "e", normalize: bool = False, grad: bool = False,
                 explain: bool = False, soft_target: bool = False,
                 temperature: float | None = None, scale_t2: bool = False):
        """`temperature` (distillation): the logits are divided by it; `scale_t2` multiplies the
        loss (and gradient) by its square, as in Hinton et al. (2015)."""
        from dlcalc import losses

        losses.validate_label_smoothing(label_smoothing)
        self.temperature, self.scale_t2 = temperature, scale_t2
        self.binary, self.probs, self.label_smoothing = binary, probs, label_smoothing
        self.base, self.normalize, self.grad, self.explain = base, normalize, grad, explain
        self.soft_target = soft_target
        self.unit = "nats" if base == "e" else "bits"
        self.what = "probabilities" if probs else "logits"

    def _split(self, operands: np.ndarray | None, n: int) -> dict[str, Any]:
        if operands is None:
            raise DlcalcError("ce needs a target: --target K, --target-probs P..., "
                              "or '; K' after each line on stdin")
        if self.binary:
            return {"labels": operands}
        if operands.shape[-1] == 1 and (n > 1 or not self.soft_target):
            return {"target": operands[..., 0]}
        return {"target_probs": operands}

    def compute(self, x: np.ndarray, operands: np.ndarray | None) -> tuple:
        from dlcalc import losses

        if self.explain:  # refused at once, not after the numbers
            from dlcalc.explain import check_explained

            check_explained(x.shape[-1], "elements")
        # plain output without --grad shows the loss alone: the rest when a format asks (`_full`)
        return [x, operands, self._result(x, operands, loss_only=not (self.grad or self.explain))]

    def _result(self, x: np.ndarray, operands: np.ndarray, loss_only: bool) -> Any:
        from dlcalc import losses

        chosen = self._split(operands, x.shape[-1])
        if self.binary:
            function = (losses.binary_cross_entropy if self.probs
                        else losses.binary_cross_entropy_with_logits)
            return function(x, chosen["labels"], base=self.base, loss_only=loss_only)
        if not self.probs and x.shape[-1] > 1:
            looks = np.all((x >= 0) & (x <= 1), axis=-1) & (np.abs(x.sum(axis=-1) - 1) <= 1e-6)
            if looks.any():
                _warn("the inputs look like probabilities (each in [0, 1], summing to 1) but are "
                      "read as logits", kind="looks_like_probabilities")
        if self.probs:
            return losses.cross_entropy_from_probs(
                x, **chosen, label_smoothing=self.label_smoothing, base=self.base,
                normalize=self.normalize, normalize_target=self.normalize)
        if self.temperature is not None:
            from dlcalc import distillation

            return distillation.distillation_cross_entropy(
                x, self.temperature, self.scale_t2, **chosen, label_smoothing=self.label_smoothing,
                base=self.base, normalize_target=self.normalize)
        return losses.cross_entropy(
            x, **chosen, label_smoothing=self.label_smoothing, base=self.base,
            normalize_target=self.normalize, loss_only=loss_only)

    def _full(self, computed: list) -> list:
        """The result with its probabilities and gradients (a binary one: its losses too),
        where `compute` left them for later: computed here, once, its warnings already said by
        `compute`."""
        if computed[2].grad is None:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                computed[2] = self._result(computed[0], computed[1], loss_only=False)
        return computed

    def report(self, computed: tuple, row: int) -> Report:
        x, operands, result = self._full(computed)
        steps: Any = ()
        if self.binary:
            if self.explain:
                from dlcalc.explain import explain_binary_cross_entropy

                steps = quietly(explain_binary_cross_entropy, x[row], operands[row],
                                base=self.base, probs_input=self.probs)
            return binary_cross_entropy_report(x[row], result, row, probs_input=self.probs,
                                               want_grad=self.grad, unit=self.unit, steps=steps)
        chosen = self._split(operands[row:row + 1], x.shape[-1])
        given = chosen["target"][0] if "target" in chosen else chosen["target_probs"][0]
        if "target_probs" in chosen and self.normalize:
            given = given / given.sum()  # what compute() used (it validated the sum is positive)
        if self.temperature is not None:
            return _distillation_ce_report(x[row], result, row, given, chosen, self)
        # with probabilities as input the loss is of result.probs (normalised if asked): show those
        inputs = result.probs[row] if self.probs else x[row]
        if self.explain and self.grad and not self.probs:  # why the gradient is ŷ − y, then its numbers
            from dlcalc.symbolic_derivations import cross_entropy_gradient_derivation

            steps = cross_entropy_gradient_derivation(
                result.probs[row], result.target_distribution[row], result.grad[row],
                bits=self.unit == "bits")
        elif self.explain:
            from dlcalc.explain import explain_cross_entropy

            steps = quietly(explain_cross_entropy, inputs,
                            target=given if "target" in chosen else None,
                            target_probs=given if "target_probs" in chosen else None,
                            label_smoothing=self.label_smoothing, base=self.base,
                            probs_input=self.probs)
        return cross_entropy_report(inputs, result, row, probs_input=self.probs,
                                    want_grad=self.grad, unit=self.unit, steps=steps,
                                    target=None if "target" in chosen else given)

    def plain_rows(self, computed: tuple) -> np.ndarray | None:
        if self.explain:
            return None
        result = computed[2]
        return result.grad if self.grad else result.loss[:, None]

    def json_rows(self, computed: tuple) -> JsonRows | None:
        if self.explain:
            return None
        x, operands, result = self._full(computed)
        plain = result.grad if self.grad else result.loss[:, None]
        if self.binary:
            return [("loss", Rows(result.loss)), ("losses", Rows(result.losses)),
                    ("probs", Rows(result.probs)), ("grad", Rows(result.grad)),
                    ("target", Rows(result.labels)), ("base", self.unit)], plain
        if result.target is not None:
            target = Rows(result.target.astype(np.int64))  # int(result.target[row]) of each row
        else:
            given = self._split(operands, x.shape[-1])["target_probs"]
            if self.normalize:  # as report() does, row by row
                given = given / given.sum(axis=-1, keepdims=True)
            target = Rows(given)
        fields = [("loss", Rows(result.loss)), ("probs", Rows(result.probs)), ("grad", Rows(result.grad)),
                  ("target", target), ("target_distribution", Rows(result.target_distribution)),
                  ("base", self.unit)]
        if self.temperature is not None:
            fields += [("temperature", self.temperature or 1.0), ("scale_t2", self.scale_t2)]
        return fields, plain


# ---------------------------------------------------------------- kl


def kl_report(result: Any, row: int, *, unit: str, steps: Sequence[Step]) -> Report:
    p, q = result.p[row], result.q[row]
    kl, cross, entropy = result.kl[row], result.cross_entropy[row], result.entropy[row]
    scalars = [Scalar("cross_entropy", f"H(P,Q) cross-entropy ({unit})", cross, "H(P,Q)"),
               Scalar("entropy", f"H(P) entropy ({unit})", entropy, "H(P)"),
               Scalar("kl", f"D_KL(P‖Q) = H(P,Q) − H(P) ({unit})", kl,
                      r"D_{\mathrm{KL}}(P \,\|\, Q)")]
    data: dict[str, Any] = {"kl": kl, "cross_entropy": cross, "entropy": entropy,
                            "terms": result.terms[row], "p": p, "q": q, "base": unit}
    if result.kl_reverse is not None:
        scalars += [Scalar("kl_reverse", f"D_KL(Q‖P) ({unit})", result.kl_reverse[row],
                           r"D_{\mathrm{KL}}(Q \,\|\, P)", extra=True),
                    Scalar("js", f"JS(P, Q) ({unit})", result.js[row], r"\mathrm{JS}(P, Q)", extra=True)]
        data["kl_reverse"] = result.kl_reverse[row]
        data["js"] = result.js[row]
    return Report(
        columns={"i": _index(p.size), "p": p, "q": q, "p_log_p_over_q": result.terms[row]},
        labels={"p_log_p_over_q": "p·log(p/q)"},
        latex_labels={"i": "i", "p": "p_i", "q": "q_i", "p_log_p_over_q": r"p_i \log(p_i / q_i)"},
        plain=[kl],
        data=data,
        scalars=scalars,
        steps=steps,
    )


class KLCommand:
    """D_KL(P‖Q) of each row P against its operand Q; the reverse and JS when `symmetric`."""

    what = "distribution P"

    def __init__(self, *, logits: bool = False, normalize: bool = False, symmetric: bool = False,
                 base: str = "e", explain: bool = False, temperature: float | None = None,
                 scale_t2: bool = False):
        """`temperature` (distillation, with logits): both P and Q logits are divided by it;
        `scale_t2` multiplies the divergences by its square (Hinton et al. 2015)."""
        self.temperature, self.scale_t2 = temperature, scale_t2
        self.logits, self.normalize, self.symmetric = logits, normalize, symmetric
        self.base, self.explain = base, explain
        self.unit = "nats" if base == "e" else "bits"

    def compute(self, x: np.ndarray, operands: np.ndarray | None) -> Any:
        from dlcalc import losses

        if operands is None:
            raise DlcalcError("kl needs Q: --q Q... or '; Q...' after each line on stdin")
        if self.explain:  # refused at once, not after the numbers
            from dlcalc.explain import check_explained

            check_explained(x.shape[-1], "elements")
        if self.temperature is not None:
            from dlcalc import distillation

            found = distillation.distillation_kl(x, operands, self.temperature, self.scale_t2,
                                                 base=self.base, symmetric=self.symmetric)
            return found, x, operands  # the logits as given, for --explain
        if self.logits:
            return losses.kl_divergence_from_logits(x, operands, base=self.base, symmetric=self.symmetric)
        if not (self.symmetric or self.explain):  # plain output shows D_KL alone: the rest when asked
            return [losses.kl_divergence(x, operands, base=self.base, normalize=self.normalize, kl_only=True),
                    x, operands]
        return losses.kl_divergence(x, operands, base=self.base, symmetric=self.symmetric,
                                    normalize=self.normalize)

    def _full(self, computed: Any) -> Any:
        """The whole KL (cross-entropy, entropy, terms) where `compute` left all but D_KL for
        later: computed here, once, its warnings already said by `compute`."""
        if not isinstance(computed, list):
            return computed
        if computed[0].terms is None:
            import warnings

            from dlcalc import losses

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                computed[0] = losses.kl_divergence(computed[1], computed[2], base=self.base,
                                                   normalize=self.normalize)
        return computed[0]

    def report(self, computed: Any, row: int) -> Report:
        computed = self._full(computed)
        result, logits = (computed[0], computed[1:]) if isinstance(computed, tuple) else (computed, ())
        steps: Any = ()
        if self.explain:
            from dlcalc.explain import explain_kl

            steps = quietly(explain_kl, result.p[row], result.q[row], base=self.base,
                            symmetric=self.symmetric)
        if self.temperature is not None:
            return _distillation_kl_report(result, row, self.unit, steps, self.temperature,
                                           self.scale_t2, [z[row] for z in logits])
        return kl_report(result, row, unit=self.unit, steps=steps)

    def plain_rows(self, computed: Any) -> np.ndarray | None:
        result = computed[0] if isinstance(computed, (tuple, list)) else computed
        return None if self.explain or self.symmetric else result.kl[:, None]

    def json_rows(self, computed: Any) -> JsonRows | None:
        if self.explain:
            return None
        computed = self._full(computed)
        result = computed[0] if isinstance(computed, tuple) else computed
        fields: list[tuple[str, Any]] = [
            ("kl", Rows(result.kl)), ("cross_entropy", Rows(result.cross_entropy)),
            ("entropy", Rows(result.entropy)), ("terms", Rows(result.terms)), ("p", Rows(result.p)),
            ("q", Rows(result.q)), ("base", self.unit)]
        if result.kl_reverse is not None:
            fields += [("kl_reverse", Rows(result.kl_reverse)), ("js", Rows(result.js))]
        if self.temperature is not None:
            fields += [("temperature", self.temperature), ("scale_t2", self.scale_t2)]
        return fields, result.kl[:, None]


# ---------------------------------------------------------------- grad


@dataclass
class Gradient:
    """The symbolic work of `grad`, named: partials (text for people, plain for programs, LaTeX),
    their values at a point, the finite-difference check, the Hessian, the steps."""

    expression: str
    variables: list[str]
    variables_latex: list[str]
    partials_text: list[str]
    partials_plain: list[str]
    partials_latex: list[str]
    at: dict[str, float] | None = None
    values: np.ndarray | None = None
    check: tuple[np.ndarray, float] | None = None
    hessian_text: list[list[str]] | None = None
    hessian_plain: list[list[str]] | None = None
    hessian_latex: list[list[str]] | None = None
    hessian_values: np.ndarray | None = None
    steps: list[Step] = field(default_factory=list)


def differentiate(expression: str, variables: list[str] | None = None,
                  point: dict[str, float] | None = None, *, steps: bool = False,
                  check: bool = False, hessian: bool = False, form: str = "notes") -> Gradient:
    """Partial derivatives of `expression` by `variables` (all, sorted, when None) in `form`
    (`final_forms.FORMS`: the notes' vocabulary by default), their values at `point`, and on
    request the step-by-step derivation, a finite-difference check (needs a point) and the
    Hessian."""
    import sympy

    from dlcalc import derivation, symbolic
    from dlcalc.expression import parse_expression

    parsed = parse_expression(expression)
    if check and point is None:
        raise DlcalcError("a finite-difference check needs a point to compare at")
    if point is not None:
        # A missing or stray variable is named now, not after seconds of differentiation.
        # (A constant differentiated by named variables takes a value for them: d/dx 5 = 0.)
        symbolic.evaluate_at([], point, variables=[s.name for s in parsed.free_symbols]
                             or variables or [])
    # Each piece of symbolic work (partials, values, check, Hessian, each variable's steps) has
    # its own limit; this one bounds their sum, which would otherwise grow with the number of
    # variables. The limits inside symbolic nest within it.
    # (WORK_SECONDS, the budget every command's symbolic work shares; recomputed from
    # DIFFERENTIATE_SECONDS so that a smaller per-step limit shrinks it too.)
    with symbolic.work_budget("differentiating and evaluating the expression",
                              seconds=3 * symbolic.DIFFERENTIATE_SECONDS):
        gradient = symbolic.gradient(parsed, variables, form)
        names = list(gradient.variables)
        if not names:
            raise DlcalcError(f"{expression!r} has no variables to differentiate by")
        partials = [gradient.partials[name] for name in names]
        found = Gradient(expression, names, [symbolic.to_latex(sympy.Symbol(n)) for n in names],
                         [symbolic.to_text(p) for p in partials],
                         [symbolic.to_plain(p) for p in partials],
                         [symbolic.to_latex(p) for p in partials], at=point)
        if point is not None:
            found.values = gradient.at(point)
        if check:
            # the same NaN/inf as the gradient's: said once, not twice
            found.check = quietly(symbolic.finite_difference_check, parsed, names, point)
        if hessian:
            second = symbolic.hessian(parsed, names)
            rows = range(len(names))
            found.hessian_text = [[symbolic.to_text(second[i, j]) for j in rows] for i in rows]
            found.hessian_plain = [[symbolic.to_plain(second[i, j]) for j in rows] for i in rows]
            found.hessian_latex = [[symbolic.to_latex(second[i, j]) for j in rows] for i in rows]
            if point is not None:
                found.hessian_values = symbolic.evaluate_at(
                    list(second), point, set(names) | set(point), function=parsed
                ).reshape(len(names), -1)
        if steps:
            for name in names:
                found.steps += derivation.derivation_steps(parsed, name, form)
    return found


def gradient_report(found: Gradient) -> Report:
    """The Report of `differentiate`'s result."""
    variables = found.variables
    # Variables in LaTeX as the partials print them (w1 is w_{1}), so ∂f/∂w_{1} matches.
    names_latex = found.variables_latex
    columns: dict[str, Any] = {"variable": list(variables), "partial": list(found.partials_plain)}
    people: dict[str, Any] = {"partial": list(found.partials_text)}
    markdown: dict[str, Any] = {"variable": [f"${v}$" for v in names_latex],
                                "partial derivative": [f"$\\frac{{\\partial f}}{{\\partial {v}}} = {tex}$"
                                                       for v, tex in zip(names_latex, found.partials_latex)]}
    data: dict[str, Any] = {"expression": found.expression, "variables": list(variables),
                            "partials": dict(zip(variables, found.partials_plain))}
    scalars: list[Scalar] = []
    latex_lines = [rf"\frac{{\partial f}}{{\partial {v}}} &= {tex}"
                   for v, tex in zip(names_latex, found.partials_latex)]
    extra_columns = []
    if found.values is not None:
        columns["value"] = found.values
        markdown["value"] = found.values
        data["at"] = found.at
        data["gradient"] = found.values
        scalars += [Scalar(f"at_{name}", f"at {name}", value, rf"\text{{at }} {name}")
                    for name, value in (found.at or {}).items()]
    if found.check is not None:
        numeric, difference = found.check
        columns["finite_difference"] = numeric
        markdown["finite difference"] = numeric
        extra_columns.append("finite_difference")
        data["check"] = {"finite_difference": numeric, "max_relative_difference": difference}
        scalars.append(Scalar("max_relative_difference",
                              "largest relative difference from central finite differences",
                              difference, r"\text{largest relative difference}", extra=True))
    matrices = []
    if found.hessian_text is not None:
        numbers = found.hessian_values
        data["hessian"] = found.hessian_plain if numbers is None else numbers
        if numbers is not None:
            data["hessian_expressions"] = found.hessian_plain
        matrices.append(Matrix("Hessian ∂²f/∂v_i∂v_j",
                               np.array(found.hessian_text if numbers is None else numbers, dtype=object),
                               list(variables), latex=found.hessian_latex if numbers is None else None,
                               key="hessian", columns=[f"hessian_{v}" for v in variables],
                               plain=found.hessian_plain if numbers is None else numbers))
    return Report(
        columns=columns,
        labels={"partial": "partial derivative", "finite_difference": "finite difference"},
        people_columns=people,
        plain=list(found.values) if found.values is not None else list(found.partials_plain),
        data=data,
        scalars=scalars,
        steps=found.steps,
        matrices=matrices,
        latex="\\begin{aligned}\n" + " \\\\\n".join(latex_lines) + "\n\\end{aligned}",
        plain_one_per_line=found.values is None,
        markdown_columns=markdown,
        plain_extra_columns=extra_columns,
    )


# ---------------------------------------------------------------- plot


def cross_entropy_curve(low: float, high: float, points: int) -> tuple[np.ndarray, np.ndarray]:
    """The loss −log p of a one-hot target against p, the probability of the true class."""
    p = np.linspace(low, high, points)
    return p, -np.log(p)


def _curve_values(method: Any, x: np.ndarray) -> np.ndarray:
    """An expression's values on a plot's grid: correctly rounded where that fits in
    plotting.EXACT_SECONDS, else the NumPy values alone (the same curve on screen)."""
    fast = getattr(method, "fast", None)
    if fast is None:
        return method(x)
    from dlcalc import plotting
    from dlcalc.symbolic import SymbolicTimeout, time_limit

    try:
        with time_limit(plotting.EXACT_SECONDS, "exact values too slow for a plot"):
            return method(x)
    except SymbolicTimeout:
        return np.array(fast(x), dtype=np.float64)


def function_curve(chosen: Any, x: np.ndarray, deriv: bool, annotate: bool) -> Any:
    """One function's samples and annotations, computed by the core for the plotting module."""
    from dlcalc import plotting, properties

    saturation: tuple = ()
    peak = None
    if annotate:
        try:
            found = properties.properties(chosen.activation, chosen.params)
        except DlcalcError as error:  # a pole or a gap (1/x, log(x)): drawn, nothing to annotate
            if _out_of_time(error):
                raise
            found = None
        # "Saturated" is |f'| below 1% of its maximum: meaningless when the maximum is infinite
        # (x**2) or not positive (a constant), where every x would be shaded.
        if found is not None and np.isfinite(found.max_derivative) and found.max_derivative > 0:
            saturation = tuple((zone.low, zone.high) for zone in found.saturation)
            at = found.max_derivative_at
            if at.low == at.high and np.isfinite(at.low):
                peak = (at.low, found.max_derivative)
    if getattr(chosen.activation.function, "fast", None) is not None:  # an expression
        y = _curve_values(chosen.activation.function, x)
        dy = _curve_values(chosen.activation.derivative, x) if deriv or annotate else None
    else:
        y = chosen.function(x)
        dy = chosen.derivative(x) if deriv or annotate else None
    return plotting.Curve(label=chosen.label, x=x, y=y, dy=dy, saturation=saturation,
                          max_derivative=peak, kinks=chosen.kinks())


_BUDGET_MESSAGE = ("the plot took longer than {seconds:g} s, the time budget of a plot: draw fewer "
                   "functions, fewer points or simpler expressions")


def _out_of_time(error: Exception) -> bool:
    return "time budget of a plot" in str(error)


@contextlib.contextmanager
def plot_budget() -> Iterator[None]:
    """plotting.PLOT_SECONDS for all of a plot's work, with the symbolic engine's time limit
    (when an expression has loaded it; a plot of registry functions alone is bounded by the
    size limits and never imports SymPy for this)."""
    from dlcalc import plotting

    symbolic = sys.modules.get("dlcalc.symbolic")
    if symbolic is None:
        yield
        return
    with symbolic.time_limit(plotting.PLOT_SECONDS,
                             _BUDGET_MESSAGE.format(seconds=plotting.PLOT_SECONDS)):
        yield


def check_plot_sizes(*, functions: int = 0, points: int = 1000, logits: int = 0,
                     temperatures: int = 0) -> None:
    """The size limits of a plot, checked before anything is computed or drawn."""
    from dlcalc import plotting

    for count, limit, what in ((functions, plotting.MAX_FUNCTIONS, "functions"),
                               (logits, plotting.MAX_LOGITS, "logits"),
                               (temperatures, plotting.MAX_TEMPERATURES, "temperatures")):
        if count > limit:
            raise DlcalcError(f"{count:,} {what} to plot; at most {limit} are drawn in one figure")
    if not 2 <= points <= plotting.MAX_POINTS:
        raise DlcalcError(f"--points {points} is out of range; give 2 to {plotting.MAX_POINTS}")


def check_expression_work(functions: Sequence[Any], points: int, derivatives: bool) -> None:
    """Samples × expression length within plotting.MAX_WORK (registry functions cost little)."""
    from dlcalc import plotting

    length = sum(len(f.activation.formula) + (len(f.activation.derivative_formula) if derivatives
                                              else 0)
                 for f in functions if getattr(f.activation.function, "fast", None) is not None)
    if points * length > plotting.MAX_WORK:
        raise DlcalcError(f"{points:,} points × {length:,} characters of expressions to evaluate "
                          f"is {points * length:.3g}; at most {plotting.MAX_WORK:.0e} "
                          "(points × expression length) are drawn: lower --points or simplify")


def plot_details(*, names: Sequence[str], functions: Sequence[Any] = (), annotate: bool = False,
                 x_range: tuple[float, float] | None = None, default_range: tuple[float, float],
                 points: int = 1000, logits: np.ndarray | None = None,
                 temperatures: Sequence[float] | None = None, title: str | None = None,
                 dpi: int = 150, look: Any = None) -> list[str]:
    """What makes a figure differ from the plain one of the same names, for its default file
    name: only what was changed from the defaults, in a fixed order."""
    import hashlib

    from dlcalc.number_text import plain_number

    def numbers(values: Any) -> str:
        return " ".join(plain_number(float(v)) for v in values)

    details = []
    if annotate:
        details.append("annotate")
    for function in functions:
        for parameter in function.activation.parameters:
            value = function.params.get(parameter.name, parameter.default)
            if value != parameter.default:
                details.append(f"{parameter.name} {plain_number(float(value))}")
    if logits is not None:
        details.append(f"logits {numbers(logits)}")
    if temperatures is not None and list(map(float, temperatures)) != [0.5, 1.0, 2.0]:
        details.append(f"T {numbers(temperatures)}")
    if x_range is not None and tuple(map(float, x_range)) != tuple(default_range):
        details.append(f"range {numbers(x_range)}")
    if points != 1000:
        details.append(f"points {points}")
    if dpi != 150:
        details.append(f"dpi {dpi}")
    if title is not None:
        details.append("title " + hashlib.sha256(title.encode()).hexdigest()[:8])
    if look is not None:
        if look.style is not None:
            style = look.style
            if os.path.isfile(style):  # a file: its name and what it holds
                with open(style, "rb") as stream:
                    digest = hashlib.sha256(stream.read()).hexdigest()[:8]
                style = f"{os.path.splitext(os.path.basename(style))[0]} {digest}"
            details.append(f"style {style}")
        if look.figsize is not None:
            details.append("size {}x{}".format(*(plain_number(float(v)) for v in look.figsize)))
        if look.transparent:
            details.append("transparent")
    return details


def plot_report(names: list[str], *, functions: Sequence[Any] = (), deriv: bool = False,
                annotate: bool = False, x_range: tuple[float, float] = (-6.0, 6.0),
                points: int = 1000, logits: np.ndarray | None = None,
                temperatures: Sequence[float] = (0.5, 1.0, 2.0), title: str | None = None,
                dpi: int = 150, path: str | None = None, look: Any = None,
                default_range: tuple[float, float] | None = None) -> Report:
    """Draw `names` ('softmax', 'ce', or resolved `functions`) and write the figure to `path`
    (default plots/<names>[_deriv][_<what differs>].png); the report names the file written."""
    from dlcalc import plotting
    from dlcalc import softmax_core as core

    check_plot_sizes(functions=len(functions), points=points,
                     logits=0 if logits is None else int(np.size(logits)),
                     temperatures=len(temperatures) if names == ["softmax"] else 0)
    check_expression_work(functions, points, deriv or annotate)
    look = plotting.check_look(look, dpi)
    title = plotting.check_title(title)
    if default_range is None:
        default_range = (1e-3, 1.0) if names == ["ce"] else (-6.0, 6.0)
    details = plot_details(names=names, functions=functions, annotate=annotate,
                           x_range=None if names == ["softmax"] else x_range,
                           default_range=default_range,
                           points=points if names != ["softmax"] else 1000,
                           logits=logits if names == ["softmax"] else None,
                           temperatures=temperatures if names == ["softmax"] else None,
                           title=title, dpi=dpi, look=look)
    lo, hi = x_range
    with plot_budget():
        if names == ["softmax"]:
            if logits is None:
                raise DlcalcError("plot softmax needs logits")
            for t in temperatures:
                core.validate_temperature(t)
            probabilities = np.stack([core.softmax(logits, t) for t in temperatures])
            figure = plotting.plot_softmax_temperatures(logits, list(temperatures), probabilities,
                                                        title=title, dpi=dpi, look=look)
        elif names == ["ce"]:
            p, loss = cross_entropy_curve(lo, hi, points)
            figure = plotting.plot_cross_entropy(p, loss, title=title, dpi=dpi, look=look)
        else:
            x = np.linspace(lo, hi, points)
            curves = [function_curve(function, x, deriv, annotate) for function in functions]
            figure = plotting.plot_functions(curves, derivatives=deriv, annotate=annotate,
                                             title=title, dpi=dpi, look=look)
        written = plotting.save_figure(
            figure, path or plotting.default_path(
                names, deriv and names[0] not in ("softmax", "ce"), details))
    return Report(columns={"path": [str(written)]}, plain=[str(written)],
                  data={"path": str(written), "functions": names}, text=str(written))


# ---------------------------------------------------------------- grad --descend


def descent_report(found: Any) -> Report:
    """A descent (`dlcalc.descent.Descent`): one row per kept iteration; plain gives one line
    per iteration, the variables then f."""
    from dlcalc.number_text import plain_number

    path = found.trajectory
    columns: dict[str, Any] = {"iteration": path.iterations.tolist()}
    for k, name in enumerate(path.variables):
        columns[name] = path.points[:, k]
    columns["f"] = path.values
    columns["grad_norm"] = path.gradient_norms
    settings = {name: list(v) if isinstance(v, tuple) else v for name, v in path.settings.items()}
    shown = ", ".join(f"{name}={_setting_text(v)}" for name, v in path.settings.items())
    scalars = [Scalar("optimizer", "optimizer", f"{path.optimizer} ({shown})", r"\text{optimizer}")]
    if found.data:
        scalars.append(Scalar("held_as_data", "held as data",
                              ", ".join(f"{k}={_setting_text(v)}" for k, v in found.data.items()),
                              r"\text{held as data}"))
    if path.stopped_at is not None:
        scalars.append(Scalar("stopped_at", "stopped at step", path.stopped_at,
                              r"\text{stopped at step}"))
    plain = [" ".join(plain_number(v) for v in [*path.points[i], path.values[i]])
             for i in range(path.iterations.size)]
    return Report(
        columns=columns,
        labels={"grad_norm": "‖∇f‖"},
        latex_labels={"grad_norm": r"\lVert \nabla f \rVert"},
        plain=plain,
        data={"expression": found.expression, "variables": list(path.variables),
              "data": found.data, "optimizer": path.optimizer, "settings": settings,
              "lr": path.settings["lr"], "steps": path.steps, "stopped_at": path.stopped_at,
              "trajectory": {"iteration": path.iterations, **{name: path.points[:, k]
                                                             for k, name in enumerate(path.variables)},
                             "f": path.values, "grad_norm": path.gradient_norms},
              "final": {name: path.points[-1, k] for k, name in enumerate(path.variables)},
              "f": path.values[-1]},
        scalars=scalars,
        plain_one_per_line=True,
    )


def _setting_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_setting_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    from dlcalc.number_text import plain_number

    return plain_number(value)


# ---------------------------------------------------------------- kl --gaussian, distillation


def gaussian_kl_report(result: Any, *, logvar: bool, steps: Sequence[Step]) -> Report:
    """KL between diagonal Gaussians (`dlcalc.gaussian.GaussianKL`), one row per dimension."""
    unit = "bits" if result.base == "2" else "nats"
    n = result.terms.size
    return Report(
        columns={"i": _index(n), "mu": result.mu, "sigma": result.sigma, "q_mu": result.q_mu,
                 "q_sigma": result.q_sigma, "variance_term": result.variance_terms,
                 "mean_term": result.mean_terms, "kl_term": result.terms},
        labels={"mu": "μ", "sigma": "σ", "q_mu": "μ_Q", "q_sigma": "σ_Q", "kl_term": "kl"},
        latex_labels={"i": "i", "mu": r"\mu_i", "sigma": r"\sigma_i", "q_mu": r"\mu_{Q,i}",
                      "q_sigma": r"\sigma_{Q,i}", "variance_term": r"\text{variance term}",
                      "mean_term": r"\text{mean term}", "kl_term": r"D_{\mathrm{KL},i}"},
        plain=[result.kl],
        data={"kl": result.kl, "terms": result.terms, "mu": result.mu, "sigma": result.sigma,
              "q_mu": result.q_mu, "q_sigma": result.q_sigma,
              "log_variance_ratio": result.log_variance_ratio,
              "variance_terms": result.variance_terms, "mean_terms": result.mean_terms,
              "logvar_input": logvar, "base": unit},
        scalars=[Scalar("kl", f"D_KL(P‖Q) = Σ terms ({unit})", result.kl,
                        r"D_{\mathrm{KL}}(P \,\|\, Q)")],
        steps=steps,
    )


def with_temperature(report: Report, temperature: float, scale_t2: bool) -> Report:
    """A KL or cross-entropy report of tempered logits, saying so (distillation)."""
    report.data["temperature"] = temperature
    report.data["scale_t2"] = scale_t2
    report.scalars.append(Scalar("temperature", "temperature T", temperature, "T"))
    if scale_t2:
        report.scalars.append(Scalar("t_squared", "scaled by T²", temperature ** 2, "T^2"))
    return report


def _distillation_kl_report(result: Any, row: int, unit: str, steps: Any, temperature: float,
                            scale_t2: bool, logits: list[np.ndarray]) -> Report:
    from dlcalc import distillation

    if steps:
        # the tempered softmaxes first; the terms after them are of those distributions
        steps = distillation.explain_temperature(
            {"P": logits[0], "Q": logits[1]}, {"P": result.p[row], "Q": result.q[row]},
            temperature) + list(steps)
        if scale_t2:
            steps.append(distillation.explain_scale(float(result.kl[row]) / temperature ** 2,
                                                    temperature, float(result.kl[row])))
    return with_temperature(kl_report(result, row, unit=unit, steps=steps), temperature, scale_t2)


def _distillation_ce_report(z: np.ndarray, result: Any, row: int, given: Any, chosen: dict,
                            command: CrossEntropyCommand) -> Report:
    from dlcalc import distillation

    temperature, scale_t2 = command.temperature or 1.0, command.scale_t2
    steps: list = []
    if command.explain:
        from dlcalc.explain import explain_cross_entropy

        z_t = distillation.tempered(z, temperature)
        steps = distillation.explain_temperature({"ŷ": z}, {"ŷ": result.probs[row]}, temperature)
        steps += quietly(explain_cross_entropy, z_t,
                         target=given if "target" in chosen else None,
                         target_probs=given if "target_probs" in chosen else None,
                         label_smoothing=command.label_smoothing, base=command.base,
                         probs_input=False)
        if scale_t2:
            steps.append(distillation.explain_scale(float(result.loss[row]) / temperature ** 2,
                                                    temperature, float(result.loss[row]), "L"))
        steps.append(distillation.explain_gradient(result.grad[row], temperature, scale_t2))
    report = cross_entropy_report(z, result, row, probs_input=False, want_grad=command.grad,
                                  unit=command.unit, steps=steps,
                                  target=None if "target" in chosen else given)
    return with_temperature(report, temperature, scale_t2)


def gaussian_kl(mu: np.ndarray, sigma: np.ndarray, q_mu: np.ndarray | None = None,
                q_sigma: np.ndarray | None = None, *, logvar: bool = False, base: str = "e",
                explain: bool = False) -> Report:
    """KL between diagonal Gaussians P = N(mu, sigma²) and Q = N(q_mu, q_sigma²), as a report;
    Q is N(0, 1) when not given (the VAE prior). With `logvar` the sigmas are ln σ²."""
    from dlcalc import gaussian as core

    if q_mu is None or q_sigma is None:
        q_mu, q_sigma = np.zeros(1), np.zeros(1) if logvar else np.ones(1)

    result = core.gaussian_kl(mu, sigma, q_mu, q_sigma, logvar=logvar, base=base)
    if explain:  # one step per dimension
        from dlcalc.explain import check_explained

        check_explained(result.terms.size, "dimensions")
    steps = core.explain_gaussian_kl(result) if explain else ()
    return gaussian_kl_report(result, logvar=logvar, steps=steps)


def descent(parsed: Any, expression: str, point: dict[str, float], variables: list[str] | None, *,
            steps: int, optimizer: str, lr: float, params: dict[str, Any], every: int) -> Report:
    """`steps` iterations of `optimizer` on the expression from `point`, as a report."""
    from dlcalc import descent as core, symbolic

    # steps × the cost of one step of the expression: bounded by DESCENT_SECONDS (longer than
    # WORK_SECONDS: 10^6 steps of a small expression take about 15 s).
    with symbolic.work_budget(f"descending {steps:,} steps", "simplify the expression or take "
                              "fewer steps", seconds=symbolic.DESCENT_SECONDS):
        found = core.descend_expression(parsed, expression, point, variables, steps=steps,
                                        optimizer=optimizer, lr=lr, params=params, every=every)
    return descent_report(found)


def surface_plot_report(parsed: Any, text: str, chosen: list[str] | None, *,
                        x_range: tuple[float, float] | None, y_range: tuple[float, float] | None,
                        points: int, start: dict[str, float] | None, steps: int,
                        optimizers: list[str], lr: float | None, params: dict[str, Any],
                        title: str | None, dpi: int, path: str | None,
                        look: Any = None) -> Report:
    """Draw the surface of a function of two variables, −∇f and descent paths; write the file."""
    from dlcalc import plotting, surface
    from dlcalc.number_text import plain_number

    look = plotting.check_look(look, dpi)
    title = plotting.check_title(title)
    names = surface.two_variables(parsed, text, chosen)
    with plot_budget():
        sampled = surface.sample_surface(parsed, text, names, x_range=x_range, y_range=y_range,
                                         points=points, start=start, steps=steps,
                                         optimizers=optimizers, lr=lr, params=params)
        figure = plotting.plot_surface(sampled, title=title, dpi=dpi, look=look)
        default = [text] + [p.label for p in sampled.paths] + ["surface"]
        details = plot_details(names=default, default_range=(-6.0, 6.0),
                               points=1000, title=title, dpi=dpi, look=look)
        if y_range is not None:
            details.insert(0, "yrange " + " ".join(plain_number(float(v)) for v in y_range))
        if x_range is not None:
            details.insert(0, "range " + " ".join(plain_number(float(v)) for v in x_range))
        if start is not None and steps:
            details.insert(0, "at " + " ".join(f"{k} {plain_number(float(v))}"
                                               for k, v in sorted(start.items()))
                           + f" steps {steps}" + (f" lr {plain_number(float(lr))}" if lr else ""))
        written = plotting.save_figure(figure, path or plotting.default_path(default, False, details))
    return Report(columns={"path": [str(written)]}, plain=[str(written)],
                  data={"path": str(written), "functions": [text], "variables": list(names),
                        "paths": {p.label: {"x": p.x, "y": p.y} for p in sampled.paths}},
                  text=str(written))


# ---------------------------------------------------------------- batch: kl --gaussian - -, grad --descend


class GaussianKLCommand:
    """`kl --gaussian - -`: one KL of diagonal Gaussians per stdin line `MU... ; SIGMA...`
    (log-variances with `logvar`), against one Q for every line (default N(0, 1)). Each line's
    report is the one-shot report (`gaussian_kl_report`)."""

    what = "means and deviations (MU... ; SIGMA...)"

    def __init__(self, q_mu: np.ndarray | None = None, q_sigma: np.ndarray | None = None, *,
                 logvar: bool = False, base: str = "e", explain: bool = False):
        if q_mu is None or q_sigma is None:
            q_mu, q_sigma = np.zeros(1), np.zeros(1) if logvar else np.ones(1)
        self.q_mu, self.q_sigma = q_mu, q_sigma
        self.logvar, self.base, self.explain = logvar, base, explain

    def compute(self, mu: np.ndarray, operands: np.ndarray | None) -> list:
        from dlcalc import gaussian as core

        second = "log-variances" if self.logvar else "standard deviations"
        if operands is None:
            raise DlcalcError(f"each line gives the means, then ';' and the {second}: "
                              "for example 0.5 -1 ; 0.8 1.2")
        found = []
        for row in range(mu.shape[0]):
            try:
                found.append(core.gaussian_kl(np.asarray(mu[row], dtype=np.float64),
                                              np.asarray(operands[row], dtype=np.float64),
                                              self.q_mu, self.q_sigma, logvar=self.logvar,
                                              base=self.base))
            except DlcalcError as error:
                error.rows = [row]  # type: ignore[attr-defined]  # the runner sets this line aside
                raise
        return found

    def report(self, result: list, row: int) -> Report:
        from dlcalc import gaussian as core

        steps = core.explain_gaussian_kl(result[row]) if self.explain else ()
        return gaussian_kl_report(result[row], logvar=self.logvar, steps=steps)

    def plain_rows(self, result: list) -> np.ndarray | None:
        if self.explain:
            return None
        return np.array([[found.kl] for found in result], dtype=np.float64)

    def json_rows(self, result: list) -> JsonRows | None:
        if self.explain or not result:
            return None
        try:
            def stacked(name: str) -> Rows:
                return Rows(np.stack([np.asarray(getattr(found, name)) for found in result]))

            kl = stacked("kl")
            fields: list[tuple[str, Any]] = [
                ("kl", kl), ("terms", stacked("terms")), ("mu", stacked("mu")),
                ("sigma", stacked("sigma")), ("q_mu", stacked("q_mu")), ("q_sigma", stacked("q_sigma")),
                ("log_variance_ratio", stacked("log_variance_ratio")),
                ("variance_terms", stacked("variance_terms")), ("mean_terms", stacked("mean_terms")),
                ("logvar_input", self.logvar)]
        except ValueError:  # rows of different shapes: one report per line
            return None
        units = {"bits" if found.base == "2" else "nats" for found in result}
        if len(units) != 1:
            return None
        return fields + [("base", units.pop())], kl.values[:, None]


class DescentCommand:
    """`grad EXPR --descend N` with one start point per stdin line: the values of the moving
    variables, in their order; the other variables are held at `data`. The objective and its
    symbolic gradient are compiled once for every line. A line's report is the one-shot
    report of its trajectory, but its plain output is one line: the final point, then f."""

    what = "start point (--at NAME=VALUE..., or one per stdin line)"

    def __init__(self, parsed: Any, expression: str, moving: list[str], data: dict[str, float], *,
                 steps: int, optimizer: str, lr: float, params: dict[str, Any], every: int):
        from dlcalc import descent as core
        from dlcalc import symbolic

        names = sorted(s.name for s in parsed.free_symbols)
        if not names:
            raise DlcalcError(f"{expression!r} has no variables to descend on")
        for name in moving:
            if name not in names:
                raise DlcalcError(f"'{name}' is not a variable of the expression; its variables: "
                                  f"{', '.join(names)}")
        held = {name: float(value) for name, value in data.items() if name not in moving}
        symbolic.evaluate_at([], {**held, **{name: 0.0 for name in moving}}, variables=names)
        core.settings(core.lookup(optimizer), lr, params)  # a bad optimizer or setting, once
        self.expression, self.moving, self.data = expression, list(moving), held
        self.steps, self.optimizer, self.lr, self.params, self.every = steps, optimizer, lr, params, every
        self.value, self.gradient = core.compile_objective(parsed, self.moving, held)

    def compute(self, starts: np.ndarray, operands: np.ndarray | None) -> list:
        from dlcalc import descent as core

        n = len(self.moving)
        if operands is not None:
            raise DlcalcError("a line gives a start point only; remove the ';' and what follows it")
        if starts.shape[1] != n:
            raise DlcalcError(f"the line gives {starts.shape[1]} number{'s' * (starts.shape[1] != 1)}; "
                              f"a start point is {n} number{'s' * (n != 1)}: {', '.join(self.moving)}")
        found = []
        for row in range(starts.shape[0]):
            start = [float(v) for v in starts[row]]
            for name, value in zip(self.moving, start):
                if not math.isfinite(value):
                    error = DlcalcError(f"the start point must be finite; {name} = {value!r}")
                    error.rows = [row]  # type: ignore[attr-defined]
                    raise error
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trajectory = core.descend(self.value, self.gradient, start, variables=self.moving,
                                          steps=self.steps, optimizer=self.optimizer, lr=self.lr,
                                          params=self.params, every=self.every)
            for warning in caught:  # said again with the row, so batch mode names the line
                if issubclass(warning.category, NumericWarning):
                    _warn(str(warning.message), row=row)
                else:
                    warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                           warning.lineno)
            found.append(core.Descent(expression=self.expression, trajectory=trajectory,
                                      data=dict(self.data)))
        return found

    def report(self, result: list, row: int) -> Report:
        report = descent_report(result[row])
        path = result[row].trajectory
        report.plain = [*path.points[-1], path.values[-1]]
        report.plain_one_per_line = False
        return report

    def plain_rows(self, result: list) -> np.ndarray:
        return np.array([[*found.trajectory.points[-1], found.trajectory.values[-1]]
                         for found in result], dtype=np.float64).reshape(len(result), len(self.moving) + 1)

    def json_rows(self, result: list) -> JsonRows | None:
        """`descent_report`'s JSON for every row, when the rows share all but their numbers (the
        same trajectory length: none stopped early, or all at the same step)."""
        if not result:
            return None
        first, path = result[0], result[0].trajectory

        def shared(found: Any) -> tuple:
            t = found.trajectory
            return (found.expression, list(t.variables), found.data, t.optimizer, t.settings,
                    t.steps, t.stopped_at, t.points.shape, t.iterations.shape)

        common = shared(first)
        if any(shared(found) != common for found in result[1:]):
            return None
        points = np.stack([found.trajectory.points for found in result])  # (rows, kept, variables)
        values = np.stack([found.trajectory.values for found in result])
        variables = list(path.variables)
        settings = {name: list(v) if isinstance(v, tuple) else v for name, v in path.settings.items()}
        data: dict[str, Any] = {
            "expression": first.expression, "variables": variables, "data": first.data,
            "optimizer": path.optimizer, "settings": settings, "lr": path.settings["lr"],
            "steps": path.steps, "stopped_at": path.stopped_at,
            "trajectory": {"iteration": Rows(np.stack([found.trajectory.iterations for found in result])),
                           **{name: Rows(points[:, :, k]) for k, name in enumerate(variables)},
                           "f": Rows(values),
                           "grad_norm": Rows(np.stack([found.trajectory.gradient_norms
                                                       for found in result]))},
            "final": {name: Rows(points[:, -1, k]) for k, name in enumerate(variables)},
            "f": Rows(values[:, -1])}
        return list(data.items()), np.column_stack([points[:, -1, :], values[:, -1]])
