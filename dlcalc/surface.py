"""A loss surface in two variables, for `dlcalc plot "EXPR in x and y"` (SPEC §7).

Samples f on a grid, −∇f on a coarser one (the downhill direction, from the symbolic gradient
compiled once), and optionally runs descents from a start point, one per optimizer
(`dlcalc.descent`). `dlcalc.plotting.plot_surface` draws the result; nothing here draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from dlcalc.errors import DlcalcError

DEFAULT_RANGE = (-2.0, 2.0)
ARROWS = 21  # per axis: a readable field at the default figure size


@dataclass(frozen=True)
class Path:
    """One optimizer's descent path: its label and the points (every iteration)."""

    label: str
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Surface:
    """f on a grid (f[i, j] at y[i], x[j]), −∇f at arrow points, and descent paths."""

    expression: str
    names: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    f: np.ndarray
    arrow_x: np.ndarray
    arrow_y: np.ndarray
    downhill_x: np.ndarray  # −∂f/∂x at the arrow points
    downhill_y: np.ndarray
    paths: list[Path] = field(default_factory=list)


def two_variables(expression: Any, text: str, chosen: Sequence[str] | None) -> tuple[str, str]:
    """The surface's two variables, in axis order: `chosen`, or the expression's own (sorted)."""
    found = sorted(s.name for s in expression.free_symbols)
    if chosen is not None:
        if len(chosen) != 2 or chosen[0] == chosen[1]:
            raise DlcalcError(f"a surface has two different variables; got {', '.join(chosen) or 'none'}")
        stray = [name for name in found if name not in chosen]
        if stray:
            raise DlcalcError(f"{text!r} has the variable '{stray[0]}' besides {chosen[0]} and "
                              f"{chosen[1]}; a surface plot takes an expression in two variables")
        return chosen[0], chosen[1]
    if len(found) != 2:
        listing = ", ".join(found) or "none"
        raise DlcalcError(f"a surface plot takes an expression in two variables; {text!r} has "
                          f"{len(found)}: {listing}")
    return found[0], found[1]


def sample_surface(expression: Any, text: str, names: tuple[str, str], *,
                   x_range: tuple[float, float] | None, y_range: tuple[float, float] | None,
                   points: int, start: Mapping[str, float] | None = None, steps: int = 0,
                   optimizers: Sequence[str] = (), lr: float | None = None,
                   params: Mapping[str, str] | None = None) -> Surface:
    """Sample f and −∇f, and descend from `start` with each optimizer for `steps` steps.

    Each entry of `params` goes to the optimizers that have that parameter (momentum to
    momentum, nesterov, rmsprop...); one that none of them has is an error. Without a range,
    an axis spans −2..2, widened to hold the paths' finite points.
    """
    from dlcalc import descent, symbolic

    paths: list[Path] = []
    if steps:
        if start is None:
            raise DlcalcError("descent paths start from a point: give a value for each of "
                              f"{names[0]} and {names[1]}")
        symbolic.evaluate_at([], start, variables=list(names))
        given = dict(params or {})
        chosen = [descent.lookup(name) for name in optimizers] or [descent.lookup("sgd")]
        for name in given:
            if not any(name in o.defaults for o in chosen):
                raise DlcalcError(f"no chosen optimizer ({', '.join(o.name for o in chosen)}) has the "
                                  f"parameter {name!r}; theirs: "
                                  f"{', '.join(sorted({p for o in chosen for p in o.defaults}))}")
        seen = set()
        for optimizer in chosen:
            if optimizer.name in seen:
                raise DlcalcError(f"the optimizer {optimizer.name} is given twice")
            seen.add(optimizer.name)
            own = {k: v for k, v in given.items() if k in optimizer.defaults}
            found = descent.descend_expression(
                expression, text, start, list(names), steps=steps, optimizer=optimizer.name,
                lr=descent.DEFAULT_LR if lr is None else lr, params=own)
            points_xy = found.trajectory.points
            paths.append(Path(label=optimizer.name, x=points_xy[:, 0], y=points_xy[:, 1]))
    x_lo, x_hi = x_range if x_range is not None else _fit(DEFAULT_RANGE, [p.x for p in paths])
    y_lo, y_hi = y_range if y_range is not None else _fit(DEFAULT_RANGE, [p.y for p in paths])
    xs, ys = np.linspace(x_lo, x_hi, points), np.linspace(y_lo, y_hi, points)
    f = symbolic.compiled(expression, list(names))
    gradient = symbolic.gradient(expression, list(names))
    partials = symbolic.compiled([gradient.partials[n] for n in names], list(names))
    grid_x, grid_y = np.meshgrid(xs, ys)
    ax_x, ax_y = np.meshgrid(np.linspace(x_lo, x_hi, ARROWS), np.linspace(y_lo, y_hi, ARROWS))
    with np.errstate(all="ignore"):
        values = np.real(np.broadcast_to(f(grid_x, grid_y), grid_x.shape)).astype(np.float64)
        gx, gy = (np.real(np.broadcast_to(g, ax_x.shape)).astype(np.float64)
                  for g in partials(ax_x, ax_y))
    return Surface(expression=text, names=names, x=xs, y=ys, f=values, arrow_x=ax_x, arrow_y=ax_y,
                   downhill_x=-gx, downhill_y=-gy, paths=paths)


def _fit(default: tuple[float, float], series: list[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([s[np.isfinite(s)] for s in series]) if series else np.zeros(0)
    lo, hi = min(default[0], float(values.min(initial=default[0]))), max(default[1], float(values.max(initial=default[1])))
    margin = 0.05 * (hi - lo)
    if not np.isfinite(margin) or hi - lo > 1e6:  # a diverged path: keep the axis readable
        return default
    return (lo - margin, hi + margin) if (lo, hi) != default else default
