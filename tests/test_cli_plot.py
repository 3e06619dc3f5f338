"""`dlcalc plot` through the real command line (SPEC §7; issue #5).

Every test runs in an empty temporary folder. Oracles: the bytes of a second run (reproducible
output), the file's magic number, and the drawn data itself, read back from the Figure the
command built and compared with the registry's values, softmax(z / T) and −log p.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_user_error
from dlcalc import activations
from dlcalc import softmax_core

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".svg": b"<?xml", ".pdf": b"%PDF-"}


@pytest.fixture(autouse=True)
def in_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def line(fig, gid: str):
    found = [l for ax in fig.axes for l in ax.get_lines() if l.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---------------------------------------------------------------- issue #5: done when


def test_sigmoid_tanh_deriv_writes_the_default_path_and_prints_it(dl, in_empty_folder):
    run = dl("plot", "sigmoid", "tanh", "--deriv")
    assert run.code == 0 and run.err == ""
    assert run.out == "plots/sigmoid_tanh_deriv.png\n"
    written = in_empty_folder / "plots" / "sigmoid_tanh_deriv.png"
    assert written.read_bytes().startswith(MAGIC[".png"])
    assert files_in(in_empty_folder) == ["plots", "plots/sigmoid_tanh_deriv.png"]  # no temp file


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_the_same_command_writes_the_same_bytes(dl, in_empty_folder, suffix):
    target = in_empty_folder / f"out{suffix}"
    first = dl("plot", "sigmoid", "tanh", "--deriv", "--annotate", "-o", str(target))
    assert first.code == 0 and first.out == f"{target}\n"
    content = target.read_bytes()
    assert content.startswith(MAGIC[suffix])
    second = dl("plot", "sigmoid", "tanh", "--deriv", "--annotate", "-o", str(target))
    assert second.code == 0
    assert target.read_bytes() == content


def test_reproducible_across_processes_too(dl_process, in_empty_folder):
    # A new interpreter: no state (caches, counters, ids) carried over from the first run.
    runs = [dl_process("plot", "gelu", "-o", f"g{i}.svg") for i in range(2)]
    assert [r.returncode for r in runs] == [0, 0]
    assert (in_empty_folder / "g0.svg").read_bytes() == (in_empty_folder / "g1.svg").read_bytes()


def test_expressions_and_names_with_derivatives_and_annotations_to_svg(dl, in_empty_folder):
    run = dl("plot", "x*sigmoid(x)", "gelu", "relu", "--deriv", "--annotate", "-o", "cmp.svg")
    assert run.code == 0 and run.out == "cmp.svg\n"
    svg = (in_empty_folder / "cmp.svg").read_text()
    assert svg.startswith("<?xml") and "function-0" in svg and "derivative-2" in svg


def test_softmax_at_several_temperatures(dl, figures, in_empty_folder):
    run = dl("plot", "softmax", "--logits", "2", "1", "0.1", "-t", "0.5", "1", "2")
    assert run.code == 0 and run.out == "plots/softmax_logits_2_1_0.1.png\n"
    (fig,) = figures
    bars = {p.get_gid(): p.get_height() for p in fig.axes[0].patches if p.get_gid()}
    z = np.array([2.0, 1.0, 0.1])
    for k, t in enumerate([0.5, 1.0, 2.0]):
        expected = np.exp(z / t) / np.exp(z / t).sum()  # small logits: the naive form is exact enough
        drawn = [bars[f"temperature-{k}-class-{i}"] for i in range(3)]
        assert np.allclose(drawn, expected, rtol=1e-14)
    # low T sharp, high T soft
    assert bars["temperature-0-class-0"] > bars["temperature-1-class-0"] > bars["temperature-2-class-0"]


def test_softmax_default_temperatures_are_half_one_and_two(dl, figures):
    assert dl("plot", "softmax", "--logits", "1,0").code == 0
    labels = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert labels == ["T = 0.5", "T = 1", "T = 2"]


def test_cross_entropy_plot_is_minus_log_p(dl, figures):
    run = dl("plot", "ce")
    assert run.code == 0 and run.out == "plots/ce.png\n"
    (drawn,) = [l for l in figures[0].axes[0].get_lines() if l.get_label() != "_nolegend_"
                and len(l.get_xdata()) > 2]
    p, loss = np.asarray(drawn.get_xdata()), np.asarray(drawn.get_ydata())
    assert 0 < p[0] < 0.01 and p[-1] == 1.0
    assert np.array_equal(loss, -np.log(p))
    assert loss[0] > 6 and loss[-1] == 0  # exploding near 0, 0 at p = 1


def test_json_gives_the_path_and_the_functions(dl, in_empty_folder):
    run = dl("plot", "x*sigmoid(x)", "tanh", "-o", "figs/two.pdf", "--json")
    assert run.code == 0
    assert json.loads(run.out) == {"path": "figs/two.pdf", "functions": ["x*sigmoid(x)", "tanh"]}
    assert (in_empty_folder / "figs" / "two.pdf").read_bytes().startswith(MAGIC[".pdf"])


def test_default_names_spell_out_expressions(dl):
    assert dl("plot", "x*sigmoid(x)").out == "plots/x_sigmoid_x.png\n"
    assert dl("plot", "x**2 - 1", "--deriv").out == "plots/x_pow_2_minus_1_deriv.png\n"


# ---------------------------------------------------------------- the drawn data


def test_drawn_lines_are_the_registrys_values_on_the_requested_grid(dl, figures):
    run = dl("plot", "sigmoid", "tanh", "--deriv", "--range", "-3", "5", "--points", "101")
    assert run.code == 0
    (fig,) = figures
    x = np.linspace(-3.0, 5.0, 101)
    for i, name in enumerate(["sigmoid", "tanh"]):
        entry = activations.lookup(name)
        f, df = line(fig, f"function-{i}"), line(fig, f"derivative-{i}")
        assert np.array_equal(f.get_xdata(), x) and np.array_equal(df.get_xdata(), x)
        assert np.array_equal(f.get_ydata(), activations.evaluate(entry, x, {}))
        assert np.array_equal(df.get_ydata(), activations.evaluate(entry, x, {}, derivative=True))
    # and the closed forms the notes give: σ' = σ(1 − σ) peaks at 0.25, tanh' = 1 − tanh² at 1
    sigmoid = 1 / (1 + np.exp(-x))
    assert np.allclose(line(fig, "function-0").get_ydata(), sigmoid, rtol=1e-15)
    assert np.allclose(line(fig, "derivative-1").get_ydata(), 1 - np.tanh(x) ** 2, atol=1e-15)


def test_parameters_reach_the_drawn_function(dl, figures):
    run = dl("plot", "leaky_relu", "--deriv", "-p", "negative_slope=0.2", "--range", "-2", "2",
             "--points", "5")
    assert run.code == 0
    fig = figures[0]
    assert list(line(fig, "function-0").get_ydata()) == [-0.4, -0.2, 0.0, 1.0, 2.0]


def test_an_expression_is_drawn_with_the_same_values_as_its_registry_twin(dl, figures):
    assert dl("plot", "x*sigmoid(x)", "silu", "--deriv", "--points", "301").code == 0
    fig = figures[0]
    for kind in ("function", "derivative"):
        expression = np.asarray(line(fig, f"{kind}-0").get_ydata())
        registry = np.asarray(line(fig, f"{kind}-1").get_ydata())
        # atol: near silu''s zero (x ≈ −1.2785) both forms cancel, each off by ~1e-17 there
        assert np.allclose(expression, registry, rtol=1e-15, atol=1e-16)


def test_a_kink_in_an_expression_breaks_the_derivative_line_as_the_registry_does(dl, figures):
    # relu's derivative jumps from 0 to 1 at 0: the line has a gap there, not a vertical segment.
    assert dl("plot", "relu(x)", "relu", "max(x, 1)", "--deriv", "--range", "-2", "2",
              "--points", "41").code == 0
    fig = figures[0]
    for i, kink in enumerate([0.0, 0.0, 1.0]):
        drawn = line(fig, f"derivative-{i}")
        xs, ys = np.asarray(drawn.get_xdata()), np.asarray(drawn.get_ydata())
        gaps = xs[np.isnan(ys)]
        assert gaps.size and np.all(gaps == kink), (i, gaps)
        assert not np.any((np.diff(ys) != 0) & ~np.isnan(np.diff(ys))), i  # flat apart from the gap


def test_annotate_shades_saturation_and_marks_the_maximum(dl, figures):
    assert dl("plot", "sigmoid", "--deriv", "--annotate").code == 0
    derivative_panel = figures[0].axes[1]
    texts = [t.get_text() for t in derivative_panel.texts]
    assert any("0.25" in t and "x = 0" in t for t in texts), texts
    shaded = [p for p in derivative_panel.patches + derivative_panel.collections
              if "saturat" in str(p.get_label())]
    assert shaded  # |x| > 5.99 for sigmoid at 1%


def test_annotate_does_not_shade_everything_when_the_derivative_is_unbounded(dl, figures):
    # x² has no maximum slope, so "1% of the maximum" is no threshold: nothing is shaded
    # (before, every x of the panel was shaded as "x**2 saturates").
    assert dl("plot", "x**2", "1/x", "--deriv", "--annotate").code == 0
    derivative_panel = figures[0].axes[1]
    labels = [str(a.get_label()) for a in derivative_panel.patches + derivative_panel.collections]
    assert not [label for label in labels if "saturates" in label], labels


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("args, fragments", [
    (["nosuch"], ["unknown function 'nosuch'", "sigmoid"]),
    (["sigmoid", "--range", "3", "-3"], ["--range 3 -3", "XMIN < XMAX"]),
    (["sigmoid", "--range", "1", "1"], ["--range 1 1"]),
    (["sigmoid", "--range", "nan", "1"], ["--range nan 1"]),
    (["sigmoid", "--range", "-1e308", "1e308"], ["--range -1e+308 1e+308 cannot be drawn"]),
    (["sigmoid", "--range", "1", "1.0000000000000002"], ["cannot be drawn"]),
    (["sigmoid", "--points", "0"], ["--points 0", "2 to 1000000"]),
    (["sigmoid", "--points", "1"], ["--points 1"]),
    (["sigmoid", "-o", "plot.bmp"], ["'.bmp'", ".png, .svg", ".pdf", ".eps", ".jpg"]),
    (["sigmoid", "-o", "plot.pgf"], ["'.pgf'", "LaTeX"]),
    (["sigmoid", "-o", "plot"], ["no extension"]),
    (["softmax"], ["--logits"]),
    (["softmax", "sigmoid"], ["'softmax' is a plot of its own"]),
    (["ce", "tanh"], ["'ce' is a plot of its own"]),
    (["sigmoid", "--logits", "1", "2"], ["--logits and -t go with 'dlcalc plot softmax'"]),
    (["softmax", "--logits", "1", "2", "-t", "0"], ["temperature 0"]),
    (["x*y", "sigmoid"], ["found y"]),  # "x*y" alone is a surface (SPEC §7)
    (["x +* 2"], ["column 4"]),
    (["sigmoid", "-p", "alpha=1"], ["alpha"]),
    (["sigmoid", "--dpi", "0"], ["dpi"]),
    ([], ["name what to plot"]),
])
def test_bad_plot_requests_are_user_errors_and_write_nothing(dl, in_empty_folder, args, fragments):
    assert_user_error(dl("plot", *args), *fragments)
    assert files_in(in_empty_folder) == []


def test_a_path_under_a_regular_file_is_exit_1_and_leaves_nothing(dl, in_empty_folder):
    (in_empty_folder / "taken").write_text("a file, not a folder")
    run = dl("plot", "sigmoid", "-o", "taken/out.png")
    assert_user_error(run, "cannot write taken/out.png", code=1)
    assert run.out == ""
    assert files_in(in_empty_folder) == ["taken"]
    assert (in_empty_folder / "taken").read_text() == "a file, not a folder"


def test_an_unwritable_folder_is_exit_1_and_keeps_the_old_file(dl, in_empty_folder):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = in_empty_folder / "locked"
    folder.mkdir()
    (folder / "old.png").write_bytes(b"old")
    folder.chmod(0o555)
    try:
        run = dl("plot", "sigmoid", "-o", "locked/old.png")
    finally:
        folder.chmod(0o755)
    assert_user_error(run, "cannot write locked/old.png", code=1)
    assert files_in(folder) == ["old.png"] and (folder / "old.png").read_bytes() == b"old"


def test_nan_logits_give_a_warning_line_not_a_python_warning(dl):
    run = dl("plot", "softmax", "--logits", "1", "nan")
    assert run.code == 0
    assert run.err.startswith("warning: ") and "nan" in run.err
    assert "NumericWarning" not in run.err and ".py:" not in run.err


def test_softmax_bars_match_the_core_for_extreme_logits(dl, figures):
    # logits of ±1000 overflow e^z: the bars must come from the stable core, not the naive form
    assert dl("plot", "softmax", "--logits", "1000", "0", "-1000", "-t", "1", "1000").code == 0
    bars = {p.get_gid(): p.get_height() for p in figures[0].axes[0].patches if p.get_gid()}
    for k, t in enumerate([1.0, 1000.0]):
        expected = softmax_core.softmax(np.array([1000.0, 0.0, -1000.0]), t)
        assert [bars[f"temperature-{k}-class-{i}"] for i in range(3)] == list(expected)


@pytest.mark.parametrize("args, fragment", [
    (["plot", "ce", "--range", "3", "4"], "not a range of probabilities"),
    (["plot", "softmax", "--logits", "1", "2", "--deriv"], "--deriv does not apply"),
    (["plot", "ce", "--annotate"], "--annotate does not apply"),
    (["plot", "softmax", "--logits", "1", "2", "--range", "0", "1"], "--range does not apply"),
])
def test_options_that_do_not_apply_to_softmax_and_ce_plots_are_errors(dl, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert_user_error(dl(*args), fragment)
    assert not (tmp_path / "plots").exists()


def test_ce_plot_takes_a_range_of_probabilities(dl, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = dl("plot", "ce", "--range", "0.01", "1", "-o", "c.png")
    assert run.code == 0 and (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_a_parameter_applies_to_the_functions_that_have_it_and_is_an_error_if_none_has(dl, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dl("plot", "relu", "leaky_relu", "-p", "negative_slope=0.2", "-o", "r.png").code == 0
    assert_user_error(dl("plot", "relu", "sigmoid", "-p", "beta=2"), "'beta'")
    props = dl("activate", "--props", "leaky_relu", "relu", "--alpha", "0.2")
    assert props.code == 0 and props.out.startswith("leaky_relu (−∞, ∞)")
