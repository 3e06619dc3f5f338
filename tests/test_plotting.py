"""Tests for dlcalc.plotting: what is drawn, and how it is written to disk.

The curves are built here from closed forms (the logistic σ(x) = 1 / (1 + e^−x) with
σ'(x) = σ(x)·(1 − σ(x)), and tanh with tanh'(x) = 1 − tanh²(x)), independently of the
activation registry. Figures are read back through matplotlib's artists (lines, patches, texts)
and files through their magic bytes, an XML parser and byte comparison.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from dlcalc.errors import DlcalcError, EnvironmentFailure
from dlcalc.plotting import (
    Curve,
    default_path,
    plot_cross_entropy,
    plot_functions,
    plot_softmax_temperatures,
    save_figure,
)

X = np.linspace(-6.0, 6.0, 401)
SIGMOID = 1.0 / (1.0 + np.exp(-X))
SIGMOID_DERIVATIVE = SIGMOID * (1.0 - SIGMOID)
TANH = np.tanh(X)
TANH_DERIVATIVE = 1.0 - TANH**2


def logistic_curve() -> Curve:
    return Curve("sigmoid", X, SIGMOID, SIGMOID_DERIVATIVE,
                 saturation=((-np.inf, -5.99), (5.99, np.inf)), max_derivative=(0.0, 0.25))


def tanh_curve() -> Curve:
    return Curve("tanh", X, TANH, TANH_DERIVATIVE,
                 saturation=((-np.inf, -2.99), (2.99, np.inf)), max_derivative=(0.0, 1.0))


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def artists_with_gid(ax, prefix: str) -> list:
    return [a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)]


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(scope="module")
def two_panels():
    return plot_functions([logistic_curve(), tanh_curve()], derivatives=True, annotate=True,
                          title=None, dpi=72)


# --- what plot_functions draws --------------------------------------------------------------


def test_without_derivatives_one_panel_draws_the_given_functions():
    fig = plot_functions([logistic_curve(), tanh_curve()], derivatives=False, annotate=False,
                         title=None, dpi=72)
    assert len(fig.axes) == 1
    lines = lines_by_label(fig.axes[0])
    np.testing.assert_array_equal(lines["sigmoid"].get_xdata(), X)
    np.testing.assert_array_equal(lines["sigmoid"].get_ydata(), SIGMOID)
    np.testing.assert_array_equal(lines["tanh"].get_xdata(), X)
    np.testing.assert_array_equal(lines["tanh"].get_ydata(), TANH)
    assert legend_texts(fig.axes[0]) == ["sigmoid", "tanh"]


def test_with_derivatives_functions_left_and_derivatives_right(two_panels):
    assert len(two_panels.axes) == 2
    left, right = two_panels.axes
    functions, derivatives = lines_by_label(left), lines_by_label(right)
    np.testing.assert_array_equal(functions["sigmoid"].get_ydata(), SIGMOID)
    np.testing.assert_array_equal(functions["tanh"].get_ydata(), TANH)
    np.testing.assert_array_equal(derivatives["sigmoid'"].get_xdata(), X)
    np.testing.assert_array_equal(derivatives["sigmoid'"].get_ydata(), SIGMOID_DERIVATIVE)
    np.testing.assert_array_equal(derivatives["tanh'"].get_ydata(), TANH_DERIVATIVE)
    assert {"sigmoid", "tanh"} <= set(legend_texts(left))
    assert {"sigmoid'", "tanh'"} <= set(legend_texts(right))


def test_panels_share_the_x_range_of_the_samples(two_panels):
    left, right = two_panels.axes
    assert left.get_xlim() == right.get_xlim() == (-6.0, 6.0)


def test_titles_follow_the_notes_figure_and_the_users_title_replaces_the_left_one(two_panels):
    left, right = two_panels.axes
    assert (left.get_title(), right.get_title()) == ("Sigmoid & Tanh", "Their Derivatives")
    assert (left.get_xlabel(), left.get_ylabel()) == ("x", "f(x)")
    assert (right.get_xlabel(), right.get_ylabel()) == ("x", "f'(x)")
    fig = plot_functions([logistic_curve()], derivatives=True, annotate=False,
                         title="Logistic", dpi=72)
    assert [ax.get_title() for ax in fig.axes] == ["Logistic", "Its Derivative"]


def test_curves_differ_in_line_style_so_greyscale_prints_tell_them_apart(two_panels):
    lines = lines_by_label(two_panels.axes[0])
    assert lines["sigmoid"].get_linestyle() != lines["tanh"].get_linestyle()
    assert lines["sigmoid"].get_color() != lines["tanh"].get_color()


def test_zero_lines_are_drawn_through_the_origin(two_panels):
    for ax in two_panels.axes:
        assert artists_with_gid(ax, "x=0") and artists_with_gid(ax, "y=0")


def test_infinite_values_are_drawn_as_gaps_and_keep_the_axes_finite():
    with np.errstate(divide="ignore"):
        y = 1.0 / X
    (at_zero,) = np.flatnonzero(X == 0.0)
    assert y[at_zero] == np.inf
    fig = plot_functions([Curve("1/x", X, y)], derivatives=False, annotate=False, title=None,
                         dpi=72)
    drawn = lines_by_label(fig.axes[0])["1/x"].get_ydata()
    assert np.isnan(drawn[at_zero])
    np.testing.assert_array_equal(np.delete(drawn, at_zero), np.delete(y, at_zero))
    assert np.isfinite(fig.axes[0].get_ylim()).all()


def test_expressions_keep_their_text_in_legends_and_titles():
    curve = Curve("x*sigmoid(x)", X, X * SIGMOID,
                  SIGMOID * (1.0 + X * (1.0 - SIGMOID)))
    fig = plot_functions([curve], derivatives=True, annotate=False, title=None, dpi=72)
    left, right = fig.axes
    assert left.get_title() == "x*sigmoid(x)"
    assert legend_texts(left) == ["x*sigmoid(x)"]
    assert legend_texts(right) == ["(x*sigmoid(x))'"]


def test_derivative_line_is_broken_at_kinks_instead_of_drawing_a_vertical_jump():
    x = np.linspace(-2.0, 2.0, 5)  # -2, -1, 0, 1, 2: one sample exactly on the kink
    relu, relu_derivative = np.maximum(x, 0.0), (x > 0).astype(float)  # PyTorch: relu'(0) = 0
    fig = plot_functions([Curve("relu", x, relu, relu_derivative, kinks=(0.0,))],
                         derivatives=True, annotate=False, title=None, dpi=72)
    line = lines_by_label(fig.axes[1])["relu'"]
    np.testing.assert_array_equal(line.get_xdata(), [-2, -1, 0, 0, 0, 1, 2])
    np.testing.assert_array_equal(line.get_ydata(), [0, 0, np.nan, 0, np.nan, 1, 1])
    # The function itself is continuous there and drawn as given.
    np.testing.assert_array_equal(lines_by_label(fig.axes[0])["relu"].get_ydata(), relu)


def test_many_curves_get_a_wrapped_title_and_a_legend_below_the_panels():
    curves = [Curve(name, X, X * k, np.full_like(X, k)) for k, name in
              enumerate(["softplus", "hardswish", "hardsigmoid", "softsign", "tanhshrink",
                         "logsigmoid"], start=1)]
    fig = plot_functions(curves, derivatives=True, annotate=False, title=None, dpi=60)
    left, right = fig.axes
    lines = left.get_title().split("\n")
    assert len(lines) == 2 and all(len(line) <= 48 for line in lines)
    assert " ".join(lines) == ("Softplus, Hardswish, Hardsigmoid, Softsign, Tanhshrink & "
                               "LogSigmoid")
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend.get_bbox_to_anchor().y1 < ax.get_window_extent().y0
    assert fig.get_size_inches()[1] > 4.2


# --- annotate --------------------------------------------------------------------------------


def test_annotate_shades_saturation_zones_on_the_derivative_panel_clipped_to_the_range(
        two_panels):
    left, right = two_panels.axes
    assert artists_with_gid(left, "saturation") == []
    spans = {}
    for patch in artists_with_gid(right, "saturation"):
        (x0, _), (x1, _) = patch.get_bbox().get_points()
        spans[patch.get_gid()] = (round(x0, 9), round(x1, 9))
    # curve 0 is the logistic (|x| > 5.99), curve 1 tanh (|x| > 2.99); ±inf clipped to ±6.
    assert spans == {"saturation-0-0": (-6.0, -5.99), "saturation-0-1": (5.99, 6.0),
                     "saturation-1-0": (-6.0, -2.99), "saturation-1-1": (2.99, 6.0)}
    assert {"sigmoid saturates", "tanh saturates"} <= set(legend_texts(right))


def test_annotate_marks_the_logistic_derivatives_maximum_at_0_025(two_panels):
    right = two_panels.axes[1]
    (dot,) = artists_with_gid(right, "max-derivative-0")
    assert (list(dot.get_xdata()), list(dot.get_ydata())) == ([0.0], [0.25])
    (label,) = artists_with_gid(right, "max-derivative-label-0")
    assert label.get_text() == "max 0.25 at x = 0"
    assert label.xy == (0.0, 0.25)
    (label,) = artists_with_gid(right, "max-derivative-label-1")
    assert label.get_text() == "max 1 at x = 0"


def test_annotate_without_derivative_panel_shades_and_marks_the_function_panel():
    fig = plot_functions([logistic_curve()], derivatives=False, annotate=True, title=None,
                         dpi=72)
    (ax,) = fig.axes
    assert len(artists_with_gid(ax, "saturation")) == 2
    (dot,) = artists_with_gid(ax, "max-derivative-0")
    # The steepest point of σ is (0, σ(0)) = (0, 0.5).
    assert dot.get_xdata()[0] == 0.0 and dot.get_ydata()[0] == pytest.approx(0.5)
    (label,) = artists_with_gid(ax, "max-derivative-label-0")
    assert label.get_text() == "max slope 0.25 at x = 0"


def test_labels_of_close_maxima_do_not_overlap():
    near = Curve("near", X, SIGMOID, SIGMOID_DERIVATIVE, max_derivative=(0.2, 0.24))
    fig = plot_functions([logistic_curve(), near], derivatives=True, annotate=True, title=None,
                         dpi=72)
    renderer = fig.canvas.get_renderer()
    first, second = (artists_with_gid(fig.axes[1], f"max-derivative-label-{i}")[0]
                     for i in (0, 1))
    assert not first.get_window_extent(renderer).overlaps(second.get_window_extent(renderer))


def test_without_annotate_nothing_is_shaded_or_marked():
    fig = plot_functions([logistic_curve()], derivatives=True, annotate=False, title=None,
                         dpi=72)
    for ax in fig.axes:
        assert artists_with_gid(ax, "saturation") == []
        assert artists_with_gid(ax, "max-derivative") == []


def test_zones_and_maxima_outside_the_range_are_left_out():
    curve = Curve("sigmoid", X, SIGMOID, SIGMOID_DERIVATIVE,
                  saturation=((-np.inf, -10.0), (7.0, 9.0)), max_derivative=(8.0, 0.25))
    fig = plot_functions([curve], derivatives=True, annotate=True, title=None, dpi=72)
    assert artists_with_gid(fig.axes[1], "saturation") == []
    assert artists_with_gid(fig.axes[1], "max-derivative") == []


# --- softmax and cross-entropy ---------------------------------------------------------------


def test_softmax_figure_draws_one_bar_per_class_and_temperature():
    logits, temperatures = np.array([2.0, 1.0, 0.1]), [0.5, 1.0, 2.0]
    # softmax(z / T) written out, as the caller would compute it.
    probabilities = np.array([np.exp(logits / t) / np.exp(logits / t).sum()
                              for t in temperatures])
    fig = plot_softmax_temperatures(logits, temperatures, probabilities, title=None, dpi=72)
    (ax,) = fig.axes
    assert len(ax.containers) == 3
    for k, bars in enumerate(ax.containers):
        np.testing.assert_allclose([bar.get_height() for bar in bars], probabilities[k],
                                   rtol=0, atol=0)
    assert legend_texts(ax) == ["T = 0.5", "T = 1", "T = 2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "$z_{0}$ = 2", "$z_{1}$ = 1", "$z_{2}$ = 0.1"]
    # Sharp vs soft: the largest class gets the most mass at the lowest temperature.
    assert ax.containers[0][0].get_height() > ax.containers[2][0].get_height()


def test_softmax_figure_rejects_probabilities_of_the_wrong_shape():
    with pytest.raises(ValueError, match="temperatures x classes"):
        plot_softmax_temperatures(np.array([2.0, 1.0]), [1.0, 2.0], np.ones((2, 3)) / 3,
                                  title=None, dpi=72)


def test_cross_entropy_figure_draws_the_loss_and_labels_both_ends():
    p = np.linspace(0.001, 1.0, 500)
    loss = -np.log(p)
    fig = plot_cross_entropy(p, loss, title=None, dpi=72)
    (ax,) = fig.axes
    (line,) = artists_with_gid(ax, "cross-entropy")
    np.testing.assert_array_equal(line.get_xdata(), p)
    np.testing.assert_array_equal(line.get_ydata(), loss)
    texts = {t.get_text() for t in ax.texts}
    assert {"low near 1", "explodes near 0"} <= texts
    (low,) = artists_with_gid(ax, "low-near-1")
    (high,) = artists_with_gid(ax, "explodes-near-0")
    assert low.xy[0] > 0.9 and high.xy[0] < 0.1 and high.xy[1] > low.xy[1]


# --- saving ----------------------------------------------------------------------------------


def small_figure():
    return plot_functions([logistic_curve(), tanh_curve()], derivatives=True, annotate=True,
                          title=None, dpi=60)


def looks_like(fmt: str, data: bytes) -> bool:
    if fmt == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if fmt == "pdf":
        return data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    root = ET.fromstring(data)
    return root.tag == "{http://www.w3.org/2000/svg}svg" and b"<svg" in data


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_saved_files_are_valid_and_byte_identical_when_saved_twice(tmp_path, two_panels, fmt):
    first = save_figure(two_panels, tmp_path / f"a.{fmt}")
    second = save_figure(two_panels, tmp_path / "again" / f"b.{fmt.upper()}")
    assert first == tmp_path / f"a.{fmt}"
    data = first.read_bytes()
    assert looks_like(fmt, data)
    assert 5_000 < len(data) < 2_000_000
    assert second.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a.{fmt}", "again"]


def test_saved_png_has_the_requested_pixel_size(tmp_path):
    fig = plot_functions([logistic_curve()], derivatives=True, annotate=False, title=None,
                         dpi=100)
    data = save_figure(fig, tmp_path / "f.png").read_bytes()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 420)  # 10 x 4.2 in at 100 dpi


def test_the_same_figure_built_in_two_processes_gives_identical_files(tmp_path):
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from dlcalc.plotting import Curve, plot_functions, save_figure
        x = np.linspace(-6, 6, 201)
        s = 1 / (1 + np.exp(-x))
        curve = Curve("sigmoid", x, s, s * (1 - s), ((-np.inf, -5.99), (5.99, np.inf)),
                      (0.0, 0.25))
        fig = plot_functions([curve], derivatives=True, annotate=True, title=None, dpi=50)
        for fmt in ("png", "svg", "pdf"):
            save_figure(fig, sys.argv[1] + "/plot." + fmt)
    """)
    for run, seed in (("one", "1"), ("two", "2")):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / run)], check=True,
                       env=env, timeout=60)
    for fmt in ("png", "svg", "pdf"):
        one = (tmp_path / "one" / f"plot.{fmt}").read_bytes()
        assert one == (tmp_path / "two" / f"plot.{fmt}").read_bytes(), fmt


def test_save_creates_missing_parent_folders(tmp_path):
    target = tmp_path / "plots" / "deep" / "fig.svg"
    assert save_figure(small_figure(), target) == target
    assert looks_like("svg", target.read_bytes())


def test_a_save_that_fails_midway_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    fig = small_figure()

    def write_half_then_fail(stream, **kwargs):
        stream.write(b"\x89PNG\r\n\x1a\n half a picture")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fig, "savefig", write_half_then_fail)
    with pytest.raises(EnvironmentFailure, match=r"cannot write .*fig\.png: No space left"):
        save_figure(fig, tmp_path / "fig.png")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_keeps_the_previous_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "fig.png"
    target.write_bytes(b"previous plot")
    fig = small_figure()

    def write_then_crash(stream, **kwargs):
        stream.write(b"partial")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(fig, "savefig", write_then_crash)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        save_figure(fig, target)
    assert target.read_bytes() == b"previous plot"
    assert list(tmp_path.iterdir()) == [target]


def test_a_path_under_a_regular_file_is_an_environment_failure(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    with pytest.raises(EnvironmentFailure, match="cannot write .*not-a-folder/fig.png"):
        save_figure(small_figure(), blocker / "fig.png")
    with pytest.raises(EnvironmentFailure):
        save_figure(small_figure(), blocker / "sub" / "fig.png")


def test_a_folder_that_cannot_be_created_is_an_environment_failure():
    # /proc refuses new entries even to root (chmod would not stop the root test runner).
    with pytest.raises(EnvironmentFailure, match="cannot write /proc/dlcalc-test/fig.png"):
        save_figure(small_figure(), "/proc/dlcalc-test/fig.png")


def test_a_target_that_is_a_folder_is_an_environment_failure_and_leaves_nothing(tmp_path):
    (tmp_path / "fig.png").mkdir()
    with pytest.raises(EnvironmentFailure, match="cannot write"):
        save_figure(small_figure(), tmp_path / "fig.png")
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    assert list((tmp_path / "fig.png").iterdir()) == []


@pytest.mark.parametrize("name, shown", [("fig.bmp", "'.bmp'"), ("fig.PNG.bak", "'.bak'"),
                                         ("fig", "no extension"), ("fig.pgf", "LaTeX")])
def test_an_unsupported_extension_is_the_users_error_naming_the_accepted_ones(
        tmp_path, name, shown):
    with pytest.raises(DlcalcError, match=r"accepted: \.png, \.svg, .*\.pdf, \.eps") as raised:
        save_figure(small_figure(), tmp_path / "new" / name)
    assert shown in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # not even the folder


# --- default_path ----------------------------------------------------------------------------


@pytest.mark.parametrize("names, derivatives, expected", [
    (["sigmoid", "tanh"], True, "plots/sigmoid_tanh_deriv.png"),
    (["sigmoid", "tanh"], False, "plots/sigmoid_tanh.png"),
    (["leaky_relu"], False, "plots/leaky_relu.png"),
    (["x*sigmoid(x)"], True, "plots/x_sigmoid_x_deriv.png"),
    (["x**2 - 1"], False, "plots/x_pow_2_minus_1.png"),
    (["exp(-x)", "x^3/3"], False, "plots/exp_minus_x_x_pow_3_div_3.png"),
    (["0.5*x + tanh(x)"], False, "plots/0.5_x_plus_tanh_x.png"),
    (["(x)"], False, "plots/x.png"),
    (["*"], False, "plots/plot.png"),
    (["()", "tanh"], False, "plots/tanh.png"),
])
def test_default_path_joins_filename_safe_names(names, derivatives, expected):
    assert default_path(names, derivatives) == Path(expected)


def test_default_path_keeps_long_expressions_short_and_distinct():
    a = default_path(["x*sigmoid(x) + " * 20 + "1"], False)
    b = default_path(["x*sigmoid(x) + " * 20 + "2"], False)
    assert a != b
    assert len(a.name) <= 120 and a.name.startswith("x_sigmoid_x_plus_")
    assert a.parent == Path("plots") and a.suffix == ".png"


# --- input checks and hygiene ----------------------------------------------------------------


@pytest.mark.parametrize("dpi", [0, -5, 1, 3, 9, 5000, float("nan")])
def test_an_unusable_dpi_is_the_users_error(dpi):
    with pytest.raises(DlcalcError, match="dpi"):
        plot_functions([logistic_curve()], derivatives=False, annotate=False, title=None,
                       dpi=dpi)


def test_a_title_that_is_not_valid_mathtext_is_drawn_literally(tmp_path):
    fig = plot_functions([logistic_curve()], derivatives=False, annotate=False,
                         title="costs $5", dpi=60)
    assert save_figure(fig, tmp_path / "t.png").stat().st_size > 0
    fig = plot_functions([logistic_curve()], derivatives=False, annotate=False,
                         title=r"$\sigma(x)$", dpi=60)
    assert fig.axes[0].get_title() == r"$\sigma(x)$"


def test_curve_rejects_samples_of_different_lengths():
    with pytest.raises(ValueError, match="equal length"):
        Curve("sigmoid", X, SIGMOID[:-1])
    with pytest.raises(ValueError, match="dy must match"):
        Curve("sigmoid", X, SIGMOID, SIGMOID_DERIVATIVE[:-1])


def test_derivatives_requested_without_derivative_values_is_a_caller_bug():
    with pytest.raises(ValueError, match="not given for sigmoid"):
        plot_functions([Curve("sigmoid", X, SIGMOID)], derivatives=True, annotate=False,
                       title=None, dpi=72)


def test_plotting_leaves_matplotlibs_global_settings_alone(tmp_path):
    import matplotlib

    before = dict(matplotlib.rcParams)
    save_figure(small_figure(), tmp_path / "f.svg")
    assert dict(matplotlib.rcParams) == before


def test_importing_and_drawing_never_loads_pyplot():
    script = textwrap.dedent("""
        import sys
        import dlcalc.plotting
        assert "matplotlib" not in sys.modules, "matplotlib imported at import time"
        import numpy as np
        x = np.linspace(-1, 1, 5)
        fig = dlcalc.plotting.plot_functions([dlcalc.plotting.Curve("x", x, x)],
                                             derivatives=False, annotate=False, title=None, dpi=50)
        import io
        fig.savefig(io.BytesIO(), format="png")
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
