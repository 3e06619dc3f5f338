"""Figures for `dlcalc plot`: activations and their derivatives, softmax temperatures, cross-entropy.

This module draws; it computes nothing. The caller (the CLI, reading the activation registry
or the symbolic engine) hands it the numbers: sampled x, f(x), f'(x), the saturation zones and
the derivative's maximum. Keeping the maths out of here means a plot can never disagree with
`dlcalc activate` or `dlcalc activate --props`.

matplotlib is imported only inside the functions that draw, and pyplot never: figures are plain
`matplotlib.figure.Figure` objects on an Agg canvas, so there is no global figure state, no GUI
backend is ever looked up, and the commands that do not plot never pay for matplotlib.

Output is reproducible: every figure is built and saved under one fixed style (matplotlib's
defaults plus ours, whatever the user's matplotlibrc says), with no timestamps and no random ids
in the files, so the same command gives byte-identical PNG, SVG and PDF files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import signal
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from dlcalc.errors import DlcalcError, EnvironmentFailure

if TYPE_CHECKING:  # pragma: no cover - typing only; matplotlib is imported lazily
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "Curve",
    "FORMATS",
    "Look",
    "default_path",
    "plot_cross_entropy",
    "plot_functions",
    "plot_softmax_temperatures",
    "save_figure",
]

#: File formats `save_figure` writes, chosen by the path's extension: every format matplotlib's
#: Agg canvas lists that can be written byte-reproducibly (webp and avif only where Pillow
#: was built with them; see `formats()`). pgf is left out: it needs a LaTeX installation.
FORMATS = ("png", "svg", "svgz", "pdf", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp", "gif",
           "avif", "raw", "rgba")
_NEED_PILLOW_FEATURE = {"webp": "webp", "avif": "avif"}

#: Highest --dpi accepted: a 10 x 4 in figure at 1000 dpi is already 40 megapixels.
MAX_DPI = 1000
#: Lowest --dpi accepted. FreeType refuses a font drawn below about half a pixel per em
#: (matplotlib's 10 pt tick labels fail at 3 dpi and render from 4); 10 leaves room for the
#: smaller fonts of a user's --style.
MIN_DPI = 10
#: --figsize: each side from MIN_INCHES to MAX_INCHES, and at most MAX_PIXELS pixels at the dpi.
MIN_INCHES = 2.0
MAX_INCHES = 100.0
MAX_PIXELS = 64_000_000
#: Longest title drawn (matplotlib lays text out glyph by glyph: 100,000 characters take 20 s).
MAX_TITLE = 500
#: Deepest nesting of braces in a title's $...$ maths (matplotlib's parser recurses on each).
MAX_TITLE_DEPTH = 20


#: Size limits and the time budget of a plot (checked before drawing; the budget is enforced
#: where the symbolic engine's time limit works: the main thread on POSIX).
MAX_FUNCTIONS = 20
MAX_LOGITS = 100
MAX_TEMPERATURES = 10
MAX_POINTS = 1_000_000
#: Samples times the length of the expressions evaluated on them (f, and f' when drawn or
#: annotated, as the formula text): 50 nested sigmoids (458 characters) at 10^6 points is 4.6e8.
MAX_WORK = 100_000_000
PLOT_SECONDS = 60.0
#: Seconds an expression's curve may spend on correctly rounded (mpmath) values before its
#: plain NumPy values are drawn instead (identical at any screen resolution).
EXACT_SECONDS = 2.0


@dataclass(frozen=True)
class Look:
    """How a figure looks, beyond what it shows.

    style:       None for dlcalc's own fixed style (reproducible whatever the user's
                 matplotlibrc says), or a matplotlib style name ("dark_background", "ggplot",
                 "default") or the path of a .mplstyle file, applied over matplotlib's defaults.
    figsize:     (width, height) in inches instead of the size dlcalc chooses.
    transparent: a transparent background (PNG, SVG, PDF...; JPEG has no transparency).
    """

    style: str | None = None
    figsize: tuple[float, float] | None = None
    transparent: bool = False

# Okabe & Ito's colour-blind-safe palette (yellow left out: unreadable as a line on white).
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# Line styles carry the identity of a curve when the colours are lost (greyscale print-outs).
_LINESTYLES = ("-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 1)))
# Hatches do the same for the shaded saturation zones and for the softmax bars.
_HATCHES = ("//", "\\\\", "..", "xx", "--", "||")

# Applied on top of matplotlib's defaults while a figure is built and while it is saved.
_STYLE = {
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.framealpha": 0.9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "lines.linewidth": 2.0,
    "lines.solid_capstyle": "round",
    "lines.dash_capstyle": "round",
    "hatch.linewidth": 0.6,
}

# Applied last, over dlcalc's style or the user's: what keeps files reproducible and their text
# text. SVG element ids are hashes salted with a fixed string instead of a random uuid per save;
# SVG text stays text (searchable, editable); PDF embeds TrueType (Type 42) fonts; PostScript keeps
# matplotlib's Type 3 fonts (its Type 42 conversion takes seconds a file: 4.6 s against 1.5 s).
_FIXED = {
    "svg.hashsalt": "dlcalc",
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "ps.fonttype": 3,
    "savefig.dpi": "figure",
    "savefig.bbox": None,
    "savefig.format": "png",
}

# What each format would otherwise stamp into the file that changes from run to run.
_UNSTABLE_METADATA: dict[str, dict[str, Any] | None] = {
    "png": {"Software": None},
    "svg": {"Date": None},
    "svgz": {"Date": None},
    "pdf": {"CreationDate": None, "ModDate": None},
    "eps": {"Creator": "dlcalc"},  # and the CreationDate line, see _postscript
    "ps": {"Creator": "dlcalc"},
}


@dataclass(frozen=True, eq=False)
class Curve:
    """One function to draw, sampled by the caller.

    label:          the legend text, as the user typed it ("sigmoid", "x*sigmoid(x)").
    x, y:           the samples x and f(x), 1-D and of equal length.
    dy:             f'(x) at the same x, when the derivative panel is drawn.
    saturation:     the x-intervals where |f'| is below 1% of its maximum (or the caller's
                    threshold); ends may be ±inf and are clipped to the axis range.
    max_derivative: (x, f'(x)) of the derivative's maximum, e.g. (0.0, 0.25) for sigmoid.
    kinks:          the x where f' jumps (relu's 0, hardtanh's ±1): the derivative's line is
                    broken there rather than joined by a vertical segment that f' never takes.
    """

    label: str
    x: np.ndarray
    y: np.ndarray
    dy: np.ndarray | None = None
    saturation: tuple[tuple[float, float], ...] = ()
    max_derivative: tuple[float, float] | None = None
    kinks: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # A mismatch here is a bug in the caller, not a user error: ValueError, not DlcalcError.
        x, y = np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)
        if x.ndim != 1 or x.shape != y.shape:
            raise ValueError(f"curve {self.label!r}: x and y must be 1-D of equal length, "
                             f"got shapes {x.shape} and {y.shape}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        if self.dy is not None:
            dy = np.asarray(self.dy, dtype=float)
            if dy.shape != x.shape:
                raise ValueError(f"curve {self.label!r}: dy must match x, "
                                 f"got shapes {dy.shape} and {x.shape}")
            object.__setattr__(self, "dy", dy)
        zones = tuple((float(a), float(b)) for a, b in self.saturation)
        object.__setattr__(self, "saturation", zones)
        if self.max_derivative is not None:
            at, value = self.max_derivative
            object.__setattr__(self, "max_derivative", (float(at), float(value)))
        object.__setattr__(self, "kinks", tuple(sorted(float(k) for k in self.kinks)))


# --------------------------------------------------------------------------------------------
# Functions of x


def plot_functions(curves: list[Curve], *, derivatives: bool, annotate: bool,
                   title: str | None = None, dpi: int = 150, look: Look | None = None) -> Figure:
    """Draw functions of x, and with `derivatives` their derivatives in a second panel.

    Like the notes' figure "Sigmoid & Tanh" / "Their Derivatives": functions on the left,
    derivatives on the right, the same x range in both. Each curve keeps one colour and one
    line style in both panels, so it can be told apart in greyscale too.

    With `annotate`, each curve's saturation zones are shaded in its colour (on the derivative
    panel if there is one, else on the function panel), and its derivative's maximum is marked
    with a dot and a label ("max 0.25 at x = 0"); without a derivative panel the dot sits on
    the function, where its slope is steepest.

    `title` replaces the function panel's title ("Sigmoid & Tanh" by default).
    """
    if not curves:
        raise ValueError("plot_functions needs at least one curve")
    if derivatives:
        missing = [c.label for c in curves if c.dy is None]
        if missing:
            raise ValueError(f"derivatives requested but not given for {', '.join(missing)}")
    look = check_look(look, dpi)
    title = check_title(title)

    # Up to 5 legend entries fit inside a panel; more go below it, in a taller figure.
    xmin, xmax = _x_range(curves)
    shaded = sum(any(max(min(a, b), xmin) < min(max(a, b), xmax) for a, b in c.saturation)
                 for c in curves) if annotate else 0
    entries = len(curves) + (shaded if derivatives else 0)
    entries = max(entries, len(curves) + (0 if derivatives else shaded))
    columns = 2 if derivatives else 3
    below = entries > 5
    height = 4.2 + (0.26 * -(-entries // columns) + 0.15 if below else 0.0)

    with _style(look):
        fig = _new_figure((10.0, height) if derivatives else (6.4, height), dpi, look)
        if derivatives:
            ax_f, ax_d = fig.subplots(1, 2, sharex=True)
        else:
            ax_f, ax_d = fig.subplots(1, 1), None

        for i, curve in enumerate(curves):
            style = _line_style(i)
            line = ax_f.plot(curve.x, _drawable(curve.y), label=_legend_label(curve.label),
                             **style)[0]
            line.set_gid(f"function-{i}")
            if ax_d is not None:
                line = ax_d.plot(*_broken_at(curve.x, _drawable(curve.dy), curve.kinks),
                                 label=_legend_label(_derivative_label(curve.label)), **style)[0]
                line.set_gid(f"derivative-{i}")

        ax_f.set_xlim(xmin, xmax)

        if annotate:
            for i, curve in enumerate(curves):
                _shade_saturation(ax_d if ax_d is not None else ax_f, curve, i, xmin, xmax)
                _mark_max_derivative(ax_f, ax_d, curve, i, xmin, xmax)
            if ax_d is not None and any(c.max_derivative is not None for c in curves):
                # Room above the highest maximum for its label.
                ylo, yhi = ax_d.get_ylim()
                ax_d.set_ylim(ylo, yhi + 0.08 * (yhi - ylo))

        names = [_display_name(c.label) for c in curves]
        names_text = " & ".join([", ".join(names[:-1]), names[-1]] if len(names) > 2 else names)
        width = 48 if derivatives else 60
        _finish_axes(ax_f, title=_wrapped(_safe_text(title) if title else names_text, width),
                     ylabel="f(x)", legend_columns=columns if below else 0)
        if ax_d is not None:
            _finish_axes(ax_d, title="Their Derivatives" if len(curves) > 1 else "Its Derivative",
                         ylabel="f'(x)", legend_columns=columns if below else 0)
        _freeze_layout(fig)
        if annotate:
            for ax in fig.axes:
                _separate_labels(fig, ax)
    return fig


def _line_style(i: int) -> dict:
    return {"color": _colour(i), "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
            "zorder": 3}


def _drawable(values: np.ndarray) -> np.ndarray:
    """±inf drawn as a gap (like NaN) instead of wrecking the axis limits."""
    if np.isfinite(values).all():
        return values
    return np.where(np.isinf(values), np.nan, values)


def _broken_at(x: np.ndarray, y: np.ndarray, kinks: tuple[float, ...]
               ) -> tuple[np.ndarray, np.ndarray]:
    """x and y with a NaN (a gap in the line) at each kink inside the sampled range.

    A sample lying exactly on a kink is cut off on both sides: the derivative's value there is
    a convention (PyTorch's relu'(0) = 0), not a point of either branch, and a line cannot show
    it anyway.
    """
    if not kinks or x.size < 2 or not np.all(np.diff(x) > 0):
        return x, y
    positions, values = [], []
    for kink in kinks:
        if not x[0] < kink < x[-1] and kink not in (x[0], x[-1]):
            continue
        left = int(np.searchsorted(x, kink, side="left"))
        right = int(np.searchsorted(x, kink, side="right"))
        positions.append(left)
        values.append(kink)
        if right > left:  # samples exactly at the kink
            positions.append(right)
            values.append(kink)
    if not positions:
        return x, y
    return np.insert(x, positions, values), np.insert(y, positions, np.nan)


def _x_range(curves: list[Curve]) -> tuple[float, float]:
    xs = np.concatenate([c.x[np.isfinite(c.x)] for c in curves])
    if xs.size == 0:
        raise ValueError("no finite x to plot")
    lo, hi = float(xs.min()), float(xs.max())
    if lo == hi:  # a single point: give it some room rather than a singular axis
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


def _shade_saturation(ax: Axes, curve: Curve, i: int, xmin: float, xmax: float) -> None:
    colour = _colour(i)
    label = _legend_label(f"{curve.label} saturates")
    for k, (a, b) in enumerate(curve.saturation):
        lo, hi = max(min(a, b), xmin), min(max(a, b), xmax)
        if not lo < hi:  # outside the plotted range, or empty
            continue
        span = ax.axvspan(lo, hi, facecolor=_with_alpha(colour, 0.10),
                          edgecolor=_with_alpha(colour, 0.45), hatch=_HATCHES[i % len(_HATCHES)],
                          linewidth=0, zorder=0.5, label=label)
        span.set_gid(f"saturation-{i}-{k}")
        label = "_nolegend_"  # one legend entry per curve, however many zones


def _mark_max_derivative(ax_f: Axes, ax_d: Axes | None, curve: Curve, i: int,
                         xmin: float, xmax: float) -> None:
    if curve.max_derivative is None:
        return
    at, slope = curve.max_derivative
    if not (np.isfinite(at) and np.isfinite(slope) and xmin <= at <= xmax):
        return
    text = f"max {_number(slope)} at x = {_number(at)}"
    if ax_d is not None:
        ax, y = ax_d, slope
    else:
        # No derivative panel: put the dot on the function, at its steepest point.
        ax, y, text = ax_f, _value_at(curve, at), f"max slope {_number(slope)} at x = {_number(at)}"
        if not np.isfinite(y):
            return
    # On the derivative panel the label goes above the dot, where the curve (at its maximum)
    # cannot be; on the function panel below it, away from a rising curve. Sideways it starts
    # at the dot in the left half, is centred on it further right (clear of a legend in the
    # upper left) and ends at it near the right edge, so that it stays inside the axes.
    where = (at - xmin) / (xmax - xmin)
    ha = "left" if where < 0.55 else "center" if where <= 0.8 else "right"
    above = ax is ax_d
    offset = ({"left": 7, "center": 0, "right": -7}[ha], 6 if above else -4)
    colour = _colour(i)
    dot = ax.plot([at], [y], linestyle="none", marker="o", markersize=7, color=colour,
                  markeredgecolor=_paper(), markeredgewidth=1.2, zorder=5, label="_nolegend_")[0]
    dot.set_gid(f"max-derivative-{i}")
    note = ax.annotate(text, xy=(at, y), xytext=offset, textcoords="offset points",
                       ha=ha, va="bottom" if above else "top",
                       fontsize=10, color=colour, zorder=6,
                       bbox={"boxstyle": "round,pad=0.2", "facecolor": _paper(),
                             "edgecolor": "none", "alpha": 0.8})
    note.set_gid(f"max-derivative-label-{i}")


def _value_at(curve: Curve, at: float) -> float:
    """f at `at`, read off the caller's samples (for placing a marker, not for maths)."""
    ok = np.isfinite(curve.x) & np.isfinite(curve.y)
    x, y = curve.x[ok], curve.y[ok]
    if x.size == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    return float(np.interp(at, x[order], y[order]))


def _finish_axes(ax: Axes, *, title: str, ylabel: str, legend_columns: int = 0) -> None:
    """Titles, labels, the axes through the origin and the legend (below the panel, in
    `legend_columns` columns, when there are too many entries to fit inside it)."""
    ax.set_title(title)
    ax.set_xlabel("x")
    ax.set_ylabel(ylabel)
    ax.set_axisbelow(True)
    # The axes through the origin, when the origin's coordinate is on screen.
    (xlo, xhi), (ylo, yhi) = ax.get_xlim(), ax.get_ylim()
    if ylo < 0 < yhi:
        ax.axhline(0.0, color=_ink("0.35"), linewidth=0.9, zorder=2).set_gid("y=0")
    if xlo < 0 < xhi:
        ax.axvline(0.0, color=_ink("0.35"), linewidth=0.9, zorder=2).set_gid("x=0")
    ax.set_ylim(ylo, yhi)
    if legend_columns:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncols=legend_columns,
                  frameon=False)
    else:
        ax.legend(loc="best")


def _separate_labels(fig: Figure, ax: Axes) -> None:
    """Move maximum labels that would overlap each other (close maxima) apart vertically."""
    notes = [a for a in ax.texts if (a.get_gid() or "").startswith("max-derivative-label")]
    if len(notes) < 2:
        return
    renderer = fig.canvas.get_renderer()
    # Labels must not cover each other nor any curve's dot.
    placed = [line.get_window_extent(renderer) for line in ax.get_lines()
              if (line.get_gid() or "").startswith("max-derivative")]
    for note in sorted(notes, key=lambda n: -n.xy[1]):
        dx, dy = note.xyann
        height = note.get_window_extent(renderer).height * 72.0 / fig.dpi + 2.0
        for step in range(12):
            box = note.get_window_extent(renderer).expanded(1.04, 1.15)
            if not any(box.overlaps(other) for other in placed):
                break
            # Alternate below and above the original place, one line further each time.
            shift = (step // 2 + 1) * height * (-1 if step % 2 == 0 else 1)
            note.xyann = (dx, dy + shift)
        placed.append(note.get_window_extent(renderer))


# --------------------------------------------------------------------------------------------
# Softmax and cross-entropy


def plot_softmax_temperatures(logits: np.ndarray, temperatures: list[float],
                              probabilities: np.ndarray, *, title: str | None = None,
                              dpi: int = 150, look: Look | None = None) -> Figure:
    """Grouped bars of softmax(z / T): one group per class, one bar per temperature.

    `probabilities[k]` is softmax(logits / temperatures[k]), computed by the caller. Small T
    sharpens the distribution towards the largest logit, large T flattens it towards uniform;
    bars are ordered by T within each group and shaded from dark (sharp) to light (soft).
    """
    z = np.asarray(logits, dtype=float)
    probs = np.asarray(probabilities, dtype=float)
    temps = [float(t) for t in temperatures]
    if z.ndim != 1 or z.size == 0:
        raise ValueError(f"logits must be a non-empty 1-D array, got shape {z.shape}")
    if probs.shape != (len(temps), z.size):
        raise ValueError(f"probabilities must have shape {(len(temps), z.size)} "
                         f"(temperatures x classes), got {probs.shape}")
    look = check_look(look, dpi)
    title = check_title(title)

    n, m = z.size, len(temps)
    with _style(look):
        from matplotlib import colormaps

        fig = _new_figure((min(12.0, max(6.4, 1.4 + 0.22 * n * max(m, 2))), 4.2), dpi, look)
        ax = fig.subplots(1, 1)
        cmap = colormaps["viridis"]
        group = np.arange(n, dtype=float)
        width = 0.8 / max(m, 1)
        for k, temperature in enumerate(temps):
            shade = cmap(0.12 + 0.76 * k / (m - 1)) if m > 1 else cmap(0.35)
            bars = ax.bar(group - 0.4 + width * (k + 0.5), np.nan_to_num(probs[k], nan=0.0),
                          width=width * 0.92, color=shade, edgecolor=_ink("0.15"), linewidth=0.6,
                          hatch=_HATCHES[k % len(_HATCHES)] if k else None,
                          label=f"T = {_number(temperature)}", zorder=3)
            for i, bar in enumerate(bars):
                bar.set_gid(f"temperature-{k}-class-{i}")
            if n * m <= 30:
                ax.bar_label(bars, labels=[_number(p, 2, fixed=True) for p in probs[k]],
                             padding=2, fontsize=8.5)
        ax.set_xticks(group, [f"$z_{{{i}}}$ = {_number(v)}" for i, v in enumerate(z)],
                      rotation=45 if n > 8 else 0, ha="right" if n > 8 else "center",
                      rotation_mode="anchor")
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(0.0, 1.1)
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
        ax.grid(axis="x", visible=False)
        ax.set_axisbelow(True)
        ax.set_xlabel("class (logit)")
        ax.set_ylabel("softmax(z / T)")
        ax.set_title(_safe_text(title) if title else "Softmax with temperature: low T sharp, high T soft")
        ax.legend(loc="best", title="temperature")
        _freeze_layout(fig)
    return fig


def plot_cross_entropy(p: np.ndarray, loss: np.ndarray, *, title: str | None = None,
                       dpi: int = 150, look: Look | None = None) -> Figure:
    """The cross-entropy −log p of a one-hot target against p, the probability of the true class.

    `loss` is computed by the caller. The two ends are labelled: the loss is low near p = 1
    (a confident right answer costs almost nothing) and explodes near p = 0 (a confident wrong
    answer costs without bound).
    """
    p = np.asarray(p, dtype=float)
    loss = np.asarray(loss, dtype=float)
    if p.ndim != 1 or p.shape != loss.shape or p.size == 0:
        raise ValueError(f"p and loss must be non-empty 1-D arrays of equal length, "
                         f"got shapes {p.shape} and {loss.shape}")
    look = check_look(look, dpi)
    title = check_title(title)

    with _style(look):
        fig = _new_figure((6.4, 4.2), dpi, look)
        ax = fig.subplots(1, 1)
        line = ax.plot(p, _drawable(loss), color=_colour(0), label="−log p", zorder=3)[0]
        line.set_gid("cross-entropy")
        finite = np.isfinite(p) & np.isfinite(loss)
        ax.set_xlim(min(0.0, float(np.min(p[finite], initial=0.0))),
                    max(1.0, float(np.max(p[finite], initial=1.0))))
        ax.set_ylim(bottom=min(0.0, float(np.min(loss[finite], initial=0.0))))
        if finite.any():
            order = np.argsort(p[finite], kind="stable")
            ps, ls = p[finite][order], loss[finite][order]
            # Point at the curve where it is already steep (near 0) or flat (near 1), on screen.
            for text, at, where, colour, gid in (
                    ("explodes near 0", 0.04, (0.2, 0.82), _colour(1), "explodes-near-0"),
                    ("low near 1", 0.95, (0.62, 0.35), _colour(2), "low-near-1")):
                i = min(int(np.searchsorted(ps, at)), ps.size - 1)
                ax.annotate(text, xy=(ps[i], ls[i]), xytext=where, textcoords="axes fraction",
                            ha="left", fontsize=11, color=colour, zorder=6,
                            arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.3},
                            ).set_gid(gid)
        ax.set_axisbelow(True)
        ax.set_xlabel("p = predicted probability of the true class")
        ax.set_ylabel("loss = −log p")
        ax.set_title(_safe_text(title) if title else "Cross-entropy for a one-hot target")
        ax.legend(loc="upper right")
        _freeze_layout(fig)
    return fig


# --------------------------------------------------------------------------------------------
# Files


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write `fig` to `path` atomically and reproducibly; return the path written.

    The format comes from the extension (.png, .svg, .pdf); the parent folder is created if
    missing. The figure is written to a temporary file in the same folder, which then replaces
    `path` in one rename (`os.replace`), so a failed run leaves neither a partial file nor the
    temporary one, and an existing file is either kept or wholly replaced (keeping its
    permissions). SIGTERM and SIGHUP during the save remove the temporary file as Ctrl-C does,
    then end the process by that signal as usual.

    Raises DlcalcError for an unsupported extension or a path that names a folder,
    EnvironmentFailure when the file cannot be written (read-only or missing folder, path under
    a regular file, full device). A literal `~` folder (a quoted `~/x.png`, which no shell
    expanded) is written as asked, with a warning.
    """
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or (os.altsep and text.endswith(os.altsep)):
        raise DlcalcError(f"{text} ends in '/': that names a folder; give a file name, "
                          f"for example {text}plot.png")
    if text == "~" or text.startswith(("~/", "~" + os.sep)):
        import warnings

        from dlcalc.errors import PathWarning

        warnings.warn(PathWarning(
            f"{text} starts with a literal '~' (quoted, so no shell expanded it): writing under a "
            f"folder named '~' in {os.getcwd()}; for your home folder write it unquoted or "
            "as $HOME/..."), stacklevel=2)
    target = Path(path)
    fmt = _format_of(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EnvironmentFailure(f"cannot write {text}: {_reason(error)}") from error

    temporary: str | None = None
    try:
        with _cleanup_on_termination() as created:
            with _signals_held():  # the new file is listed before a signal can be handled
                fd, temporary = _create_temporary(target)
                created.append(temporary)
            with os.fdopen(fd, "wb") as stream:
                save_figure_to(fig, stream, fmt)
                stream.flush()
                os.fsync(stream.fileno())
            _keep_mode(target, temporary)
            os.replace(temporary, target)
            temporary = None
            created.clear()
    except OSError as error:
        raise EnvironmentFailure(f"cannot write {text}: {_reason(error)}") from error
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return target


def save_figure_to(fig: Figure, stream: Any, fmt: str) -> None:
    """Write `fig` in format `fmt` to an open binary stream, under the style it was built with,
    with nothing in the file that changes from run to run."""
    import io
    import warnings

    look = getattr(fig, "_dlcalc_look", None) or Look()
    options = {"transparent": look.transparent}
    with _style(look), warnings.catch_warnings(), _drawable_figure():
        warnings.simplefilter("ignore")
        if fmt in ("eps", "ps"):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, metadata=_UNSTABLE_METADATA[fmt], **options)
            stream.write(_postscript(buffer.getvalue()))
        elif fmt == "svgz":
            import gzip

            buffer = io.BytesIO()
            fig.savefig(buffer, format="svg", metadata=_UNSTABLE_METADATA[fmt], **options)
            stream.write(gzip.compress(buffer.getvalue(), mtime=0))
        else:
            fig.savefig(stream, format=fmt, metadata=_UNSTABLE_METADATA.get(fmt), **options)


def _postscript(data: bytes) -> bytes:
    """PostScript with its clock time (%%CreationDate, from time.ctime) replaced by the epoch."""
    return re.sub(rb"^%%CreationDate: [^\n]*$", b"%%CreationDate: Thu Jan  1 00:00:00 1970",
                  data, count=1, flags=re.MULTILINE)


@contextlib.contextmanager
def _drawable_figure() -> Iterator[None]:
    """matplotlib's own failures to draw (ticks beyond float64, a singular transform) as the
    user's error, not a crash."""
    try:
        yield
    except (OverflowError, np.linalg.LinAlgError) as error:
        raise DlcalcError(f"the figure cannot be drawn: its values or range are too large for "
                          f"matplotlib's axes ({error}); choose a narrower range") from None
    except ValueError as error:
        if isinstance(error, DlcalcError):
            raise
        raise DlcalcError(f"the figure cannot be drawn: its values or range are too large for "
                          f"matplotlib's axes ({error}); choose a narrower range") from None


def _keep_mode(target: Path, temporary: str) -> None:
    """A replaced file keeps its permission bits (a 0600 file stays 0600)."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return  # a new file: the permissions any new file gets (0666 less the umask)
    with contextlib.suppress(OSError):
        os.chmod(temporary, stat.S_IMODE(mode))


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGINT wait until the body is done (where the platform can do that)."""
    held = {getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while a file was being written."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _cleanup_on_termination() -> Iterator[list[str]]:
    """While the body runs, SIGTERM and SIGHUP remove the files listed in the yielded list and
    then end the process by the same signal (its default action: the exit status a parent
    expects). Ctrl-C already unwinds through `finally` as KeyboardInterrupt. Only in the main
    thread (the only one that may handle signals); elsewhere the body runs unprotected."""
    created: list[str] = []
    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001 - handler signature
        raise _Terminated(signum)

    if threading.current_thread() is threading.main_thread():
        for signum in wanted:
            handler = signal.getsignal(signum)
            if handler in (signal.SIG_DFL, None):  # leave a caller's own handler alone
                previous[signum] = handler
                signal.signal(signum, on_signal)
    try:
        yield created
    except _Terminated as stop:
        for name in created:
            with contextlib.suppress(OSError):
                os.unlink(name)
        signal.signal(stop.signum, signal.SIG_DFL)
        os.kill(os.getpid(), stop.signum)
        raise SystemExit(128 + stop.signum) from None  # if the signal is blocked
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def default_path(names: list[str], derivatives: bool, details: Sequence[str] = ()) -> Path:
    """plots/<names joined by _>[_deriv][_<details>].png, each part made safe for a file name.

    An expression keeps its words and numbers and spells its operators: "x*sigmoid(x)" gives
    "x_sigmoid_x", "x**2 - 1" gives "x_pow_2_minus_1". `details` are what else makes the figure
    differ from the plain one of the same names ("annotate", "range -10 10", "logits 2 1 0.1",
    "style dark_background"...), so that two different commands never share a default file.
    Very long names are cut short and made unique by a hash of everything they stand for.
    """
    parts = [_filename_part(n) for n in names]
    stem = "_".join(part for part in parts if part) or "plot"
    tail = "".join(f"_{part}" for part in (["deriv"] if derivatives else [])
                   + [_filename_part(d) for d in details] if part)
    if len(stem) + len(tail) > 100:
        digest = hashlib.sha256("\0".join([*names, "\1", *details]).encode()).hexdigest()[:10]
        keep = max(20, 90 - len(tail)) if len(tail) <= 60 else 40
        if len(tail) > 60:
            tail = f"{'_deriv' if derivatives else ''}"
        stem = f"{stem[:keep].rstrip('_.-')}{tail}_{digest}"
        tail = ""
    return Path("plots") / f"{stem}{tail}.png"


_OPERATOR_WORDS = (("**", "_pow_"), ("^", "_pow_"), ("+", "_plus_"), ("-", "_minus_"),
                   ("/", "_div_"))


def _filename_part(name: str) -> str:
    text = name
    for operator, word in _OPERATOR_WORDS:
        text = text.replace(operator, word)
    # Anything else (*, parentheses, commas, spaces, non-ASCII) is a separator.
    text = re.sub(r"[^A-Za-z0-9.]+", "_", text)
    text = re.sub(r"_+", "_", text)
    return text.strip("_.")


def formats() -> tuple[str, ...]:
    """The extensions `save_figure` writes here: FORMATS less those this matplotlib does not
    list or this Pillow was built without."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    listed = FigureCanvasAgg.get_supported_filetypes()
    usable = []
    for fmt in FORMATS:
        feature = _NEED_PILLOW_FEATURE.get(fmt)
        if fmt not in listed:
            continue
        if feature is not None:
            from PIL import features

            if not features.check(feature):
                continue
        usable.append(fmt)
    return tuple(usable)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS and suffix not in _NEED_PILLOW_FEATURE:
        return suffix
    usable = formats()
    accepted = ", ".join(f".{f}" for f in usable)
    if not suffix:
        raise DlcalcError(f"cannot tell the plot format of {os.fspath(path)}: "
                          f"it has no extension (accepted: {accepted})")
    if suffix == "pgf":
        raise DlcalcError(f"'.pgf' in {os.fspath(path)} is not written: matplotlib needs a LaTeX "
                          f"installation for it; write .pdf or .svg (accepted: {accepted})")
    if suffix not in usable:
        raise DlcalcError(f"unsupported plot format '.{suffix}' in {os.fspath(path)} "
                          f"(accepted: {accepted})")
    return suffix


def _create_temporary(target: Path) -> tuple[int, str]:
    """Open a new hidden file beside `target`, with the permissions a normal file would get."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        name = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(name, flags, 0o666), os.fspath(name)
        except FileExistsError:
            continue


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


# --------------------------------------------------------------------------------------------
# Shared helpers


_OWN_STYLE = [True]  # whether the figure being built or saved uses dlcalc's own style


@contextlib.contextmanager
def _style(look: Look | None = None) -> Iterator[None]:
    """matplotlib's defaults plus `_STYLE` (or the user's --style), whatever the user's
    matplotlibrc says; then `_FIXED`, which keeps the files reproducible."""
    import warnings

    import matplotlib
    from cycler import cycler

    style = look.style if look is not None else None
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        if style is None:
            matplotlib.rcParams.update(_STYLE)
            matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(_COLOURS))
        else:
            import matplotlib.style

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                matplotlib.style.use(style)
        matplotlib.rcParams.update(_FIXED)
        _OWN_STYLE.append(style is None)
        try:
            yield
        finally:
            _OWN_STYLE.pop()


def _colour(i: int) -> str:
    """The i-th curve's colour: Okabe & Ito's palette, or the user's style's colour cycle."""
    import matplotlib

    colours = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color") or list(_COLOURS)
    return colours[i % len(colours)]


def _ink(own: str) -> str:
    """A neutral line colour: `own` in dlcalc's style, the axes' edge colour in the user's."""
    import matplotlib

    return own if _OWN_STYLE[-1] else matplotlib.rcParams["axes.edgecolor"]


def _paper() -> str:
    """The background behind labels: white in dlcalc's style, the axes' colour in the user's."""
    import matplotlib

    if _OWN_STYLE[-1]:
        return "white"
    colour = matplotlib.rcParams["axes.facecolor"]
    return colour if str(colour).lower() != "none" else matplotlib.rcParams["figure.facecolor"]


def _new_figure(size: tuple[float, float], dpi: int, look: Look | None = None) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    look = look or Look()
    fig = Figure(figsize=look.figsize or size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    fig._dlcalc_look = look  # type: ignore[attr-defined] - saved under the style it was built in
    return fig


def _freeze_layout(fig: Figure) -> None:
    """Lay the figure out once, then keep that layout.

    Constrained layout starts from the current positions and runs again on every draw, so a
    figure saved twice could move by a fraction of a pixel between saves (which changes PNG
    pixels and SVG clip-path ids). Solving once and switching the engine off makes every save of
    the figure identical. (A figure too small for its labels is laid out as well as it goes,
    without matplotlib's warning.)
    """
    import warnings

    with warnings.catch_warnings(), _drawable_figure():
        warnings.simplefilter("ignore")
        fig.draw_without_rendering()
    fig.set_layout_engine("none")


def _check_dpi(dpi: int) -> None:
    if not (isinstance(dpi, (int, float)) and np.isfinite(dpi) and MIN_DPI <= dpi <= MAX_DPI):
        raise DlcalcError(f"invalid dpi {dpi!r}: give a number from {MIN_DPI} to {MAX_DPI} "
                          "(default 150)")


def check_look(look: Look | None, dpi: int = 150) -> Look:
    """`look` and `dpi` checked before anything is drawn (DlcalcError naming what is wrong)."""
    look = look or Look()
    _check_dpi(dpi)
    if look.style is not None:
        check_style(look.style)
    if look.figsize is not None:
        try:
            width, height = (float(v) for v in look.figsize)
        except (TypeError, ValueError):
            raise DlcalcError(f"invalid figure size {look.figsize!r}: give a width and a height "
                              "in inches, for example 8 4") from None
        if not all(np.isfinite(v) and MIN_INCHES <= v <= MAX_INCHES for v in (width, height)):
            raise DlcalcError(f"invalid figure size {width:g} x {height:g} inches: give each side "
                              f"from {MIN_INCHES:g} to {MAX_INCHES:g} inches, for example 8 4")
        if width * height * dpi * dpi > MAX_PIXELS:
            raise DlcalcError(f"a {width:g} x {height:g} inch figure at {dpi:g} dpi is "
                              f"{width * height * dpi * dpi / 1e6:,.0f} megapixels; at most "
                              f"{MAX_PIXELS / 1e6:g} are drawn: lower the size or the dpi")
        look = Look(look.style, (width, height), look.transparent)
    return look


def check_style(style: str) -> None:
    """A matplotlib style name, "default", or a readable .mplstyle file."""
    import warnings

    import matplotlib
    import matplotlib.style

    available = sorted(matplotlib.style.available)
    if style in available or style == "default":
        return
    if not os.path.isfile(style):
        raise DlcalcError(f"unknown style {style!r}: give a matplotlib style (default, "
                          f"{', '.join(available)}) or the path of a .mplstyle file")
    try:
        with matplotlib.rc_context(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.style.use(style)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise DlcalcError(f"cannot read the style file {style}: {error}") from None


def check_title(title: str | None) -> str | None:
    """A title matplotlib can draw, checked before drawing: at most MAX_TITLE characters, and
    its $...$ maths parsed (nested at most MAX_TITLE_DEPTH braces deep). A lone '$' ("costs
    $5") is drawn literally; maths that does not parse is an error naming the problem."""
    if title is None:
        return None
    if len(title) > MAX_TITLE:
        raise DlcalcError(f"the title has {len(title):,} characters; at most {MAX_TITLE} are drawn")
    dollars = len(re.findall(r"(?<!\\)\$", title))
    if dollars == 0:
        return title
    if dollars % 2:
        return title.replace("\\$", "$").replace("$", "\\$")  # no maths: literal dollars
    depth = deepest = 0
    for char in title:
        depth += (char == "{") - (char == "}")
        deepest = max(deepest, depth)
    if deepest > MAX_TITLE_DEPTH:
        raise DlcalcError(f"the title's maths nests braces {deepest} deep; at most "
                          f"{MAX_TITLE_DEPTH} levels are drawn")
    import warnings

    from matplotlib.mathtext import MathTextParser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyparsing >= 3.3 deprecates what matplotlib 3.9 calls
            MathTextParser("path").parse(title)
    except (ValueError, RecursionError) as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise DlcalcError(f"the title's $...$ maths cannot be drawn ({reason}); write it as "
                          "matplotlib's mathtext, or \\$ for a literal dollar") from None
    return title


def _display_name(label: str) -> str:
    """A registry function's plot label ("GELU", "Sigmoid"); an expression as it was written."""
    from dlcalc.activations import REGISTRY

    entry = REGISTRY.get(label)
    return entry.plot_label if entry is not None else _safe_text(label)


def _derivative_label(label: str) -> str:
    return f"{label}'" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label) else f"({label})'"


def _legend_label(label: str) -> str:
    # matplotlib hides legend entries whose label starts with "_".
    text = _safe_text(label)
    return f" {text}" if text.startswith("_") else text


def _wrapped(text: str, width: int) -> str:
    """A long title over several lines (not mathtext, which must stay on one line)."""
    if len(text) <= width or "$" in text or "\n" in text:
        return text
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _safe_text(text: str) -> str:
    """`text` as matplotlib will draw it: $...$ mathtext if it parses, else literal dollars.

    A title such as "$\\sigma$ vs $\\tanh$" is rendered as maths; one that does not parse
    ("costs $5") would otherwise fail only when the figure is saved.
    """
    if "$" not in text:
        return text
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(text)
    except ValueError:
        return text.replace("\\$", "$").replace("$", "\\$")
    return text


def _with_alpha(colour: str, alpha: float) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    return to_rgba(colour, alpha)


def _number(value: float, digits: int = 3, *, fixed: bool = False) -> str:
    """Short, readable numbers for labels: 0.25, 1, -2, 0.659; never "-0"."""
    value = float(value) + 0.0  # -0.0 + 0.0 is 0.0
    if not np.isfinite(value):
        return str(value)
    text = f"{value:.{digits}f}" if fixed else f"{value:.{digits}g}"
    return text.lstrip("-") if text.strip("-0.") == "" else text  # "-0.00" -> "0.00"


# --------------------------------------------------------------------------------------------
# Surfaces in two variables, with descent paths


def plot_surface(surface, *, title: str | None = None, dpi: int = 150,
                 look: Look | None = None) -> Figure:
    """Filled contours of f(x, y), the field of −∇f, and the descent paths of `surface`
    (a `dlcalc.surface.Surface`, sampled by the caller).

    The contour levels are quantiles of the sampled values, so a surface that spans orders of
    magnitude (Rosenbrock's valley) shows its shape everywhere rather than one dark band. The
    arrows have one length: they show the downhill direction; its steepness is in the
    contours. Each path is drawn in its own colour and line style, its start marked with a
    circle and its end with a square.
    """
    from matplotlib.colors import BoundaryNorm

    look = check_look(look, dpi)
    title = check_title(title)
    x_name, y_name = surface.names
    values = np.ma.masked_invalid(surface.f)
    with _style(look):
        fig = _new_figure((6.8, 5.6), dpi, look)
        ax = fig.subplots(1, 1)
        finite = values.compressed()
        if finite.size and np.ptp(finite) > 0:
            levels = np.unique(np.quantile(finite, np.linspace(0, 1, 16)))
            if levels.size < 3:
                levels = np.linspace(finite.min(), finite.max(), 16)
            filled = ax.contourf(surface.x, surface.y, values, levels=levels, cmap="viridis",
                                 norm=BoundaryNorm(levels, 256), zorder=1)
            ax.contour(surface.x, surface.y, values, levels=levels, colors="white",
                       linewidths=0.4, alpha=0.6, zorder=2)
            colourbar = fig.colorbar(filled, ax=ax, shrink=0.9)
            colourbar.set_label(f"f({x_name}, {y_name})")
            colourbar.ax.yaxis.set_major_formatter(_short_tick_formatter())
        length = np.hypot(surface.downhill_x, surface.downhill_y)
        with np.errstate(all="ignore"):
            u = np.where(length > 0, surface.downhill_x / length, 0.0)
            v = np.where(length > 0, surface.downhill_y / length, 0.0)
        shown = np.isfinite(u) & np.isfinite(v) & (length > 0)
        ax.quiver(surface.arrow_x[shown], surface.arrow_y[shown], u[shown], v[shown],
                  color="white", alpha=0.8, angles="xy", pivot="mid", width=0.003,
                  scale=1.25 * len(np.unique(surface.arrow_x)), zorder=3).set_gid("downhill")
        for i, path in enumerate(surface.paths):
            colour = _SURFACE_PATH_COLOURS[i % len(_SURFACE_PATH_COLOURS)]
            keep = np.isfinite(path.x) & np.isfinite(path.y)
            px, py = path.x[keep], path.y[keep]
            ax.plot(px, py, color=colour, linestyle=_LINESTYLES[i % len(_LINESTYLES)], linewidth=1.8,
                    label=f"{path.label} ({path.x.size - 1} steps)", zorder=5)[0].set_gid(f"path-{path.label}")
            if px.size:
                ax.plot(px[-1:], py[-1:], marker="s", markersize=7, color=colour,
                        markeredgecolor="black", linestyle="none", zorder=6)
        if surface.paths:
            first = surface.paths[0]
            ax.plot(first.x[:1], first.y[:1], marker="o", markersize=8, color="white",
                    markeredgecolor="black", linestyle="none", zorder=7, label="start")
            ax.plot([], [], marker="s", markersize=7, color="0.6", markeredgecolor="black",
                    linestyle="none", label="end")
            ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.12), ncols=3, frameon=False)
        ax.set_xlim(surface.x[0], surface.x[-1])
        ax.set_ylim(surface.y[0], surface.y[-1])
        ax.grid(False)
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
        ax.set_title(_safe_text(title) if title else _wrapped(f"f = {surface.expression}, arrows: −∇f", 60))
        _freeze_layout(fig)
    return fig


# White arrows and contours lie on viridis: the paths take colours that stand out on it and
# on the white of the legend.
_SURFACE_PATH_COLOURS = ("#D55E00", "#000000", "#CC79A7", "#56B4E9", "#E69F00", "#E41A1C", "#FFFFFF")


def _short_tick_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: _number(value, 3))
