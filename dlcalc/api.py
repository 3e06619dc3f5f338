"""dlcalc as a Python library, for notebooks and scripts: ``import dlcalc``.

Every function here calls the same core functions as the command line (``dlcalc.functions``,
``dlcalc.softmax_core``, ``dlcalc.losses``, ``dlcalc.symbolic``, ``dlcalc.plotting``), so the
numbers are the CLI's numbers, and a mistake raises :class:`dlcalc.DlcalcError` (a
``ValueError``) with the message the CLI prints after ``error:``. Results whose value is NaN or
infinite come with a :class:`dlcalc.NumericWarning` explaining why, as the CLI's ``warning:``
lines do.

Vectors are anything NumPy turns into a rectangular array of numbers (a list, a tuple, an
array; a list of lists is a batch, one vector per row), or a string as the command line takes
it (``"2 1 0.1"``, ``"2,1,0.1"``, ``"[2, 1, 0.1]"``).

SymPy and matplotlib are imported only by the functions that need them (``grad``, expressions
in x, ``plot``); NumPy when this module is first used.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

import numpy as np
import numpy.typing as npt

from dlcalc.errors import DlcalcError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from dlcalc.losses import KL, BinaryCrossEntropy, CrossEntropy

__all__ = [
    "Gradient",
    "activate",
    "cross_entropy",
    "grad",
    "kl_divergence",
    "plot",
    "softmax",
]

#: What the API takes as a vector (or a batch of vectors, one per row).
Vector = Union[str, float, Sequence[Any], "npt.NDArray[Any]"]


def _array(values: Vector, what: str) -> npt.NDArray[np.floating[Any]]:
    """`values` as a float array, a mistake as the CLI words it (never NumPy's own error)."""
    if isinstance(values, str):
        from dlcalc.vectors import parse_vector

        parsed: npt.NDArray[np.floating[Any]] = parse_vector([values], what)
        return parsed
    if isinstance(values, np.ndarray) and values.dtype == np.float32:
        return values
    try:
        raw = np.asarray(values)
        if raw.dtype.kind not in "biuf":  # None, text, objects: NumPy would make them nan
            raise TypeError
        array = raw.astype(np.float64)
    except ValueError as error:
        if "inhomogeneous" in str(error) or "sequence" in str(error):
            raise DlcalcError(f"the {what} are rows of different lengths; give one length per "
                              "batch (one vector per row)") from None
        raise DlcalcError(f"the {what} must be numbers, got {_shown(values)}") from None
    except TypeError:
        raise DlcalcError(f"the {what} must be numbers, got {_shown(values)}") from None
    if array.size == 0:
        raise DlcalcError(f"empty {what}: give at least one number, for example 2 1 0.1")
    return array


def _shown(values: object, limit: int = 60) -> str:
    text = repr(values)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------- activations


def activate(name: str, x: Vector, deriv: bool = False, **params: float
             ) -> npt.NDArray[np.floating[Any]]:
    """f(x) element-wise, or f'(x) with ``deriv=True``, as ``dlcalc activate`` computes them.

    ``name`` is a registry name (``dlcalc activate --list``) or an expression in x
    (``"x*sigmoid(x)"``); ``params`` set its parameters (``alpha=0.1`` for leaky_relu).
    """
    from dlcalc.functions import resolve

    chosen = resolve(name, params)
    values = _array(x, "x values")
    result: npt.NDArray[np.floating[Any]] = (chosen.derivative(values) if deriv
                                              else chosen.function(values))
    return result


# ---------------------------------------------------------------- softmax


def softmax(z: Vector, temperature: float = 1, log: bool = False) -> npt.NDArray[np.floating[Any]]:
    """softmax(z / T) (or log-softmax with ``log=True``) over the last axis, as
    ``dlcalc softmax`` computes it: stable for any finite logits."""
    from dlcalc import softmax_core

    t = softmax_core.validate_temperature(temperature)
    result = softmax_core.softmax_all(_array(z, "logits"), t)
    chosen: npt.NDArray[np.floating[Any]] = result.log_softmax if log else result.softmax
    return chosen


# ---------------------------------------------------------------- losses


def cross_entropy(logits: Vector, target: int | Vector | None = None, *,
                  target_probs: Vector | None = None, probs: bool = False, binary: bool = False,
                  label_smoothing: float = 0.0, base: str = "e", normalize: bool = False
                  ) -> CrossEntropy | BinaryCrossEntropy:
    """Cross-entropy as ``dlcalc ce`` computes it (torch.nn.functional.cross_entropy).

    ``target`` is the class index (0-based; one per row of a batch) or, with ``binary=True``,
    one label per element; ``target_probs`` a probability target. ``probs=True`` says the
    inputs are probabilities. The result has ``loss``, ``grad`` and ``probs`` (NumPy arrays).
    """
    from dlcalc import losses

    if (target is None) == (target_probs is None):
        raise DlcalcError("give either target or target_probs, not both" if target is not None
                          else "cross_entropy needs a target: target=K or target_probs=[...]")
    x = _array(logits, "probabilities" if probs else "logits")
    if binary:
        if target is None:
            raise DlcalcError("binary cross-entropy takes its labels as target (one per element, 0 to 1)")
        if label_smoothing != 0:
            raise DlcalcError("label_smoothing applies to multiclass cross-entropy, not to binary")
        if normalize:
            raise DlcalcError("normalize does not apply to binary cross-entropy: each element is "
                              "its own probability in [0, 1], there is no distribution to normalize")
        labels = _array(target, "labels")
        if probs:
            bce: BinaryCrossEntropy = losses.binary_cross_entropy(x, labels, base=base)
        else:
            bce = losses.binary_cross_entropy_with_logits(x, labels, base=base)
        return bce
    chosen: dict[str, Any]
    if target is not None:
        chosen = {"target": _array(target, "target")}
    else:
        assert target_probs is not None
        chosen = {"target_probs": _array(target_probs, "target probabilities")}
    if probs:
        ce: CrossEntropy = losses.cross_entropy_from_probs(
            x, **chosen, label_smoothing=label_smoothing, base=base, normalize=normalize,
            normalize_target=normalize)
    else:
        ce = losses.cross_entropy(x, **chosen, label_smoothing=label_smoothing, base=base,
                                  normalize_target=normalize)
    return ce


def kl_divergence(p: Vector, q: Vector, *, logits: bool = False, base: str = "e",
                  symmetric: bool = False, normalize: bool = False) -> KL:
    """D_KL(P‖Q) with its decomposition, as ``dlcalc kl`` computes it.

    The result has ``kl``, ``cross_entropy`` H(P,Q), ``entropy`` H(P), ``terms`` and, with
    ``symmetric=True``, ``kl_reverse`` and ``js``. ``logits=True``: P and Q are logits.
    """
    from dlcalc import losses

    pp = _array(p, "distribution P")
    qq = _array(q, "distribution Q")
    if logits:
        if normalize:
            raise DlcalcError("normalize applies to probabilities, not to logits")
        found: KL = losses.kl_divergence_from_logits(pp, qq, base=base, symmetric=symmetric)
        return found
    found = losses.kl_divergence(pp, qq, base=base, symmetric=symmetric, normalize=normalize)
    return found


# ---------------------------------------------------------------- gradients


@dataclass(frozen=True)
class Gradient:
    """The gradient of a scalar expression, as ``dlcalc grad`` shows it.

    ``variables``: the variables, in order; ``partials``: each partial derivative as text (the
    CLI's table); ``values``: the gradient at the point ``at`` (None without a point).
    """

    expression: str
    variables: tuple[str, ...]
    partials: dict[str, str]
    values: dict[str, float] | None = None

    def __str__(self) -> str:
        lines = [f"∂/∂{name} = {self.partials[name]}" for name in self.variables]
        if self.values is not None:
            lines += [f"∂/∂{name} = {self.values[name]!r} at the point" for name in self.variables]
        return "\n".join(lines)


def grad(expr: str, at: Mapping[str, float] | str | None = None,
         wrt: Sequence[str] | str | None = None) -> Gradient:
    """Symbolic partial derivatives of ``expr`` (``dlcalc grad``), and their values at ``at``.

    ``at`` is a mapping ``{"x": 1, "y": 2}`` or text ``"x=1 y=2"``; ``wrt`` chooses and orders
    the variables (a list, or text ``"x,y"``). The expression is parsed by dlcalc's own parser:
    nothing is ever run as Python.
    """
    from dlcalc import symbolic
    from dlcalc.expression import parse_expression
    from dlcalc.vectors import parse_assignments

    parsed = parse_expression(expr)
    variables: list[str] | None = None
    if wrt is not None:
        words = wrt.replace(",", " ").split() if isinstance(wrt, str) else list(wrt)
        variables = [name.strip() for name in words if name.strip()]
        if not variables:
            raise DlcalcError("wrt takes variable names, for example wrt=['x', 'y']")
    point: dict[str, float] | None = None
    if isinstance(at, str):
        point = parse_assignments(at, "at")
    elif at is not None:
        point = {str(name): float(value) for name, value in at.items()}
    if point is not None:
        # a missing or stray variable is named now, not after the differentiation
        symbolic.evaluate_at([], point, variables=[s.name for s in parsed.free_symbols])
    seconds = 3 * symbolic.DIFFERENTIATE_SECONDS
    with symbolic.time_limit(seconds, f"the expression took longer than {seconds:g} s to "
                                      "differentiate and evaluate; simplify it"):
        found = symbolic.gradient(parsed, variables)
        names = tuple(found.variables)
        if not names:
            raise DlcalcError(f"{expr!r} has no variables to differentiate by")
        values = None
        if point is not None:
            numbers = found.at(point)
            values = {name: float(v) for name, v in zip(names, numbers)}
    return Gradient(expression=expr, variables=names,
                    partials={name: str(symbolic.to_text(found.partials[name])) for name in names},
                    values=values)


# ---------------------------------------------------------------- plots


def plot(*functions: str, deriv: bool = False, x_range: tuple[float, float] | None = None,
         points: int = 1000, title: str | None = None, annotate: bool = False,
         logits: Vector | None = None, temperatures: Sequence[float] | None = None,
         dpi: int = 150, output: str | os.PathLike[str] | None = None,
         style: str | None = None, figsize: tuple[float, float] | None = None,
         transparent: bool = False, **params: float) -> Figure:
    """The figure ``dlcalc plot`` draws, as a matplotlib Figure (shown inline by Jupyter).

    ``plot("sigmoid", "tanh", deriv=True)``; ``plot("softmax", logits=[2, 1, 0.1])``;
    ``plot("ce")``. With ``output`` the figure is also written there, as ``-o`` does.
    ``style`` (a matplotlib style name such as "dark_background", or a .mplstyle file),
    ``figsize`` (inches) and ``transparent`` are ``--style``, ``--figsize`` and ``--transparent``.
    """
    from dlcalc import plotting
    from dlcalc.reports import (check_expression_work, check_plot_sizes,  # the CLI's own
                                cross_entropy_curve, function_curve, plot_budget)

    look = plotting.check_look(plotting.Look(style, figsize, transparent), dpi)
    title = plotting.check_title(title)

    names = list(functions)
    if len(names) == 1 and not isinstance(names[0], str):
        names = list(names[0])
    if not names:
        raise DlcalcError("name what to plot: functions (dlcalc activate --list), 'softmax' or 'ce'")
    special = [name for name in names if name in ("softmax", "ce")]
    if special and len(names) > 1:
        raise DlcalcError(f"'{special[0]}' is a plot of its own; plot it alone")
    if (logits is not None or temperatures is not None) and names != ["softmax"]:
        raise DlcalcError("logits and temperatures go with plot('softmax')")
    if special and (deriv or annotate or params):
        raise DlcalcError(f"deriv, annotate and parameters do not apply to plot('{special[0]}')")
    check_plot_sizes(functions=0 if special else len(names), points=points,
                     logits=0 if logits is None else int(np.size(logits)),
                     temperatures=0 if temperatures is None else len(list(temperatures)))
    lo, hi = x_range if x_range is not None else ((1e-3, 1.0) if names == ["ce"] else (-6.0, 6.0))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise DlcalcError(f"--range {lo:g} {hi:g} is empty; give XMIN < XMAX, for example --range -6 6")
    figure: Figure
    if names == ["softmax"]:
        from dlcalc import softmax_core

        if logits is None:
            raise DlcalcError("plot softmax needs logits: logits=[2, 1, 0.1]")
        z = _array(logits, "logits")
        ts = [0.5, 1.0, 2.0] if temperatures is None else [float(t) for t in temperatures]
        for t in ts:
            softmax_core.validate_temperature(t)
        probabilities = np.stack([softmax_core.softmax(z, t) for t in ts])
        figure = plotting.plot_softmax_temperatures(z, ts, probabilities, title=title, dpi=dpi,
                                                    look=look)
    elif names == ["ce"]:
        if not 0 < lo < hi <= 1:
            raise DlcalcError(f"--range {lo:g} {hi:g} is not a range of probabilities; "
                              "give 0 < PMIN < PMAX <= 1, for example --range 0.001 1")
        p, loss = cross_entropy_curve(lo, hi, points)
        figure = plotting.plot_cross_entropy(p, loss, title=title, dpi=dpi, look=look)
    else:
        from dlcalc.functions import resolve_all

        x = np.linspace(lo, hi, points)
        chosen_functions = resolve_all(names, params)
        check_expression_work(chosen_functions, points, deriv or annotate)
        with plot_budget():
            curves = [function_curve(chosen, x, deriv, annotate) for chosen in chosen_functions]
            figure = plotting.plot_functions(curves, derivatives=deriv, annotate=annotate,
                                             title=title, dpi=dpi, look=look)
    if output is not None:
        plotting.save_figure(figure, output)
    return _displayable(figure)


def _displayable(figure: Figure) -> Figure:
    """Let IPython/Jupyter show the figure inline without pyplot or ``%matplotlib inline``.

    dlcalc's figures are plain Figures on an Agg canvas, never registered with pyplot, so
    Jupyter's inline backend does not know them and shows only ``<Figure size ...>``. IPython
    looks for a ``_repr_png_`` method on the object: this one renders the PNG that
    ``plot(..., output="x.png")`` would write. (Where the inline backend is active, its own
    formatter for Figure is used instead: still one image.)
    """
    from dlcalc import plotting

    def _repr_png_() -> bytes:
        buffer = io.BytesIO()
        plotting.save_figure_to(figure, buffer, "png")
        return buffer.getvalue()

    figure._repr_png_ = _repr_png_  # type: ignore[attr-defined]
    return figure

