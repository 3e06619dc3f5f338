"""`dlcalc plot` options of issue #12 item 5 and the plot limits of issue #15 item 2.

--style / --figsize / --transparent, every format matplotlib writes (byte-reproducible),
SVG text as text and PDF Type 42 fonts, default file names that never collide for different
figures; and the options matplotlib cannot draw, refused before drawing (exit 2, one `error:`
line). Oracles: the drawn Figure's own properties, file magic numbers, a second run's bytes.
Every error case here is refused up front, so none of these tests is slow.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_user_error
from dlcalc import plotting

MAGIC = {
    "png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-", "eps": b"%!PS-Adobe-3.0 EPSF",
    "ps": b"%!PS-Adobe-3.0", "jpg": b"\xff\xd8\xff", "jpeg": b"\xff\xd8\xff", "tif": b"II*\x00",
    "tiff": b"II*\x00", "gif": b"GIF8", "webp": b"RIFF", "svgz": b"\x1f\x8b",
}


@pytest.fixture(autouse=True)
def in_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", [f for f in plotting.formats() if f not in ("raw", "rgba")])
def test_every_format_is_written_and_byte_identical_on_a_second_run(dl, fmt):
    first = dl("plot", "sigmoid", "--dpi", "40", "-o", f"a.{fmt}")
    second = dl("plot", "sigmoid", "--dpi", "40", "-o", f"b.{fmt}")
    assert first.code == 0 and second.code == 0, first.err + second.err
    a, b = Path(f"a.{fmt}").read_bytes(), Path(f"b.{fmt}").read_bytes()
    assert a == b
    if fmt in MAGIC:
        assert a.startswith(MAGIC[fmt])
    if fmt == "avif":
        assert a[4:12] == b"ftypavif"
    if fmt in ("eps", "ps"):  # PostScript carries no clock time
        assert b"%%CreationDate: Thu Jan  1 00:00:00 1970" in a


def test_svgz_is_the_svg_gzipped_without_a_timestamp(dl):
    assert dl("plot", "sigmoid", "-o", "a.svgz").code == 0
    assert dl("plot", "sigmoid", "-o", "a.svg").code == 0
    data = Path("a.svgz").read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # gzip MTIME field
    assert gzip.decompress(data) == Path("a.svg").read_bytes()


def test_svg_keeps_text_as_text_and_pdf_embeds_truetype(dl):
    assert dl("plot", "sigmoid", "tanh", "--deriv", "-o", "a.svg").code == 0
    svg = Path("a.svg").read_text()
    assert "<text" in svg and "Their Derivatives" in svg
    assert dl("plot", "sigmoid", "-o", "a.pdf").code == 0
    pdf = Path("a.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Subtype /Type3" not in pdf


@pytest.mark.parametrize("name, fragments", [("a.bmp", ["'.bmp'", ".eps"]),
                                             ("a.pgf", ["LaTeX"])])
def test_formats_that_cannot_be_written_reproducibly_are_refused(dl, in_empty_folder, name,
                                                                 fragments):
    assert_user_error(dl("plot", "sigmoid", "-o", name), *fragments)
    assert list(in_empty_folder.iterdir()) == []


# ---------------------------------------------------------------- style, size, transparency


def test_default_style_is_dlcalcs_own_whatever_the_users_matplotlibrc(dl, figures):
    import matplotlib

    with matplotlib.rc_context({"axes.facecolor": "black", "lines.linewidth": 7}):
        assert dl("plot", "sigmoid", "-o", "a.png").code == 0
    ax = figures[0].axes[0]
    assert matplotlib.colors.to_hex(ax.get_facecolor()) == "#ffffff"
    assert ax.get_lines()[0].get_linewidth() == 2.0


def test_dark_background_style_is_applied(dl, figures):
    import matplotlib

    assert dl("plot", "sigmoid", "--style", "dark_background", "-o", "a.png").code == 0
    ax = figures[0].axes[0]
    assert matplotlib.colors.to_hex(ax.get_facecolor()) == "#000000"
    assert matplotlib.colors.to_hex(figures[0].get_facecolor()) == "#000000"
    # the saved pixels are dark too
    from PIL import Image

    pixels = np.asarray(Image.open("a.png").convert("L"), dtype=float)
    assert pixels.mean() < 80


def test_a_style_file_is_applied(dl, figures, in_empty_folder):
    Path("mine.mplstyle").write_text("axes.facecolor: 0.8\nlines.linewidth: 5\n")
    assert dl("plot", "sigmoid", "--style", "mine.mplstyle", "-o", "a.png").code == 0
    ax = figures[0].axes[0]
    assert ax.get_facecolor()[:3] == pytest.approx((0.8, 0.8, 0.8))
    assert ax.get_lines()[0].get_linewidth() == 5


def test_styled_files_stay_reproducible(dl):
    for name in ("a.svg", "b.svg"):
        assert dl("plot", "tanh", "--style", "ggplot", "-o", name).code == 0
    assert Path("a.svg").read_bytes() == Path("b.svg").read_bytes()


def test_figsize_sets_the_pixel_size(dl):
    from PIL import Image

    assert dl("plot", "sigmoid", "--figsize", "8", "3", "--dpi", "50", "-o", "a.png").code == 0
    assert Image.open("a.png").size == (400, 150)


def test_transparent_background(dl):
    from PIL import Image

    assert dl("plot", "sigmoid", "--transparent", "--dpi", "40", "-o", "a.png").code == 0
    alpha = np.asarray(Image.open("a.png").convert("RGBA"))[..., 3]
    assert alpha.min() == 0  # the background shows through
    assert alpha.max() == 255  # the curve does not


@pytest.mark.parametrize("args, fragments", [
    (["--style", "no_such_style"], ["unknown style 'no_such_style'", "dark_background"]),
    (["--figsize", "0", "4"], ["figure size", "inches"]),
    (["--figsize", "nan", "4"], ["figure size"]),
    (["--figsize", "100", "100", "--dpi", "1000"], ["megapixels"]),
])
def test_bad_look_options_are_user_errors(dl, in_empty_folder, args, fragments):
    assert_user_error(dl("plot", "sigmoid", *args), *fragments)
    assert list(in_empty_folder.iterdir()) == []


# ---------------------------------------------------------------- default names


COMMANDS = [
    ["sigmoid"],
    ["sigmoid", "--deriv"],
    ["sigmoid", "--annotate"],
    ["sigmoid", "--deriv", "--annotate"],
    ["sigmoid", "--range", "-10", "10"],
    ["sigmoid", "--points", "200"],
    ["sigmoid", "--dpi", "72"],
    ["sigmoid", "--title", "A"],
    ["sigmoid", "--title", "B"],
    ["sigmoid", "--style", "dark_background"],
    ["sigmoid", "--figsize", "8", "3"],
    ["sigmoid", "--transparent"],
    ["leaky_relu"],
    ["leaky_relu", "-p", "negative_slope=0.1"],
    ["softmax", "--logits", "2", "1", "0.1"],
    ["softmax", "--logits", "2", "1", "0.2"],
    ["softmax", "--logits", "2", "1", "0.1", "-t", "1", "5"],
    ["ce"],
    ["ce", "--range", "0.01", "1"],
    ["x^2 + y^2"],
    ["x^2 + y^2", "--range", "-1", "1"],
]


# Drawn for real (the others are built and saved, but their layout and PNG drawing are skipped:
# their names are the point here, and each option's drawing is tested where the option is).
DRAWN = (["sigmoid"], ["softmax", "--logits", "2", "1", "0.1"], ["x^2 + y^2"])


def test_different_commands_never_share_a_default_file_and_a_command_keeps_its_own(dl, monkeypatch):
    draw, freeze = plotting.save_figure_to, plotting._freeze_layout

    def save_figure_to(fig, stream, fmt):
        if drawn:
            draw(fig, stream, fmt)
        else:
            stream.write(b"not drawn")

    def _freeze_layout(fig, *args, **kwargs):
        if drawn:
            return freeze(fig, *args, **kwargs)

    monkeypatch.setattr(plotting, "save_figure_to", save_figure_to)
    monkeypatch.setattr(plotting, "_freeze_layout", _freeze_layout)
    paths = []
    for args in COMMANDS:
        drawn = args in DRAWN
        run = dl("plot", *args, "--dpi", "30") if "--dpi" not in args else dl("plot", *args)
        assert run.code == 0, (args, run.err)
        paths.append(run.out.strip())
    assert len(set(paths)) == len(paths), paths
    assert all(p.startswith("plots/") and p.endswith(".png") for p in paths)
    assert all(Path(p).is_file() for p in paths)
    assert [Path(p).read_bytes().startswith(b"\x89PNG") for p in paths] == [a in DRAWN for a in COMMANDS]
    drawn = True
    again = dl("plot", "softmax", "--logits", "2", "1", "0.1", "--dpi", "30")
    assert again.out.strip() == paths[COMMANDS.index(["softmax", "--logits", "2", "1", "0.1"])]


def test_the_plain_figures_default_name_is_unchanged(dl):
    assert dl("plot", "sigmoid", "tanh", "--deriv", "--dpi", "30").out == \
        "plots/sigmoid_tanh_deriv_dpi_30.png\n"
    assert plotting.default_path(["sigmoid", "tanh"], True) == Path("plots/sigmoid_tanh_deriv.png")


# ---------------------------------------------------------------- what matplotlib cannot draw


def nested_braces(depth: int) -> str:
    return "$" + "{" * depth + "x" + "}" * depth + "$"


@pytest.mark.parametrize("args, fragments", [
    (["sigmoid", "--dpi", "1"], ["--dpi 1", f"{plotting.MIN_DPI} to {plotting.MAX_DPI}"]),
    (["sigmoid", "--dpi", "3"], ["--dpi 3"]),
    (["sigmoid", "--dpi", "9"], ["--dpi 9"]),
    (["sigmoid", "--range", "1e308", "1.7976931348623157e308"], ["cannot be drawn", "1e+307"]),
    (["sigmoid", "--range", "-1.7e308", "-1e308"], ["cannot be drawn"]),
    (["sigmoid", "--range", "1", "1.000000000001", "--points", "1000000"], ["step", "rounding"]),
    (["sigmoid", "--title", nested_braces(500)], ["title"]),
    (["sigmoid", "--title", nested_braces(40)], ["nests braces 40 deep"]),
    (["sigmoid", "--title", "a" * 100_000], ["100,000 characters", str(plotting.MAX_TITLE)]),
    (["sigmoid", "--title", r"$\frac{1}$"], ["maths cannot be drawn"]),
    (["ce", "--title", nested_braces(500)], ["title"]),
    (["x^2 + y^2", "--title", nested_braces(500)], ["title"]),
    (["softmax", "--logits", ",".join(["1"] * 1000)], ["1,000 logits", f"at most {plotting.MAX_LOGITS}"]),
    (["softmax", "--logits", "1", "2", "-t", ",".join(["1"] * 1000)], ["1,000 temperatures"]),
    (["sigmoid"] * 21, ["21 functions", f"at most {plotting.MAX_FUNCTIONS}"]),
    (["x*(x+1)"] * 200 + ["--deriv"], ["200 functions"]),
    (["sigmoid", "--points", "1000001"], ["--points 1000001"]),
    (["sigmoid(" * 50 + "x" + ")" * 50, "--points", "1000000"], ["points × expression length"]),
])
def test_what_matplotlib_cannot_draw_is_refused_before_drawing(dl, in_empty_folder, args, fragments):
    run = dl("plot", *args)
    assert_user_error(run, *fragments)
    assert len([line for line in run.err.splitlines() if line.strip()]) == 1, run.err
    assert list(in_empty_folder.iterdir()) == []


def test_the_lowest_dpi_accepted_renders(dl):
    for args in (["sigmoid", "tanh", "--deriv", "--annotate"], ["softmax", "--logits", "2", "1"],
                 ["ce"], ["relu", "--style", "classic"]):
        run = dl("plot", *args, "--dpi", str(plotting.MIN_DPI), "-o", "a.png")
        assert run.code == 0, (args, run.err)


def test_a_lone_dollar_in_a_title_is_drawn_literally(dl, figures):
    assert dl("plot", "sigmoid", "--title", "costs $5", "-o", "a.png").code == 0
    assert figures[0].axes[0].get_title() == r"costs \$5"


def test_the_limits_are_checked_by_the_python_api_too():
    import dlcalc

    with pytest.raises(dlcalc.DlcalcError, match="logits"):
        dlcalc.plot("softmax", logits=[1.0] * 1000)
    with pytest.raises(dlcalc.DlcalcError, match="title"):
        dlcalc.plot("sigmoid", title=nested_braces(500))
    with pytest.raises(dlcalc.DlcalcError, match="dpi"):
        dlcalc.plot("sigmoid", dpi=1)


def test_the_python_api_takes_style_figsize_and_transparent(tmp_path):
    import matplotlib

    import dlcalc

    fig = dlcalc.plot("sigmoid", style="dark_background", figsize=(5, 3), transparent=True,
                      output=tmp_path / "a.png")
    assert tuple(fig.get_size_inches()) == (5, 3)
    assert matplotlib.colors.to_hex(fig.axes[0].get_facecolor()) == "#000000"
    from PIL import Image

    assert np.asarray(Image.open(tmp_path / "a.png").convert("RGBA"))[..., 3].min() == 0


def test_an_expression_too_slow_to_evaluate_exactly_is_drawn_with_its_numpy_values(monkeypatch):
    """The per-element mpmath correction has plotting.EXACT_SECONDS per curve; past it the
    NumPy values are drawn (here the exact path is made to time out at once)."""
    from dlcalc import functions, reports
    from dlcalc.symbolic import SymbolicTimeout

    chosen = functions.resolve("x*sigmoid(x)")
    exact = chosen.activation.function

    def too_slow(x):
        raise SymbolicTimeout("too slow")

    too_slow.fast = exact.fast  # type: ignore[attr-defined]
    x = np.linspace(-6, 6, 101)
    assert np.array_equal(reports._curve_values(too_slow, x), np.asarray(exact.fast(x)))
    # and with time to spare, the correctly rounded values
    assert np.array_equal(reports._curve_values(exact, x), exact(x))
