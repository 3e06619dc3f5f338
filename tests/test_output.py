"""Output formats (SPEC §1 "Numbers out")."""

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dlcalc.output import plain_number, render
from dlcalc.reports import Matrix, Report, Scalar


def report():
    return Report(columns={"x": np.array([-1.0, 0.0, 2.5]), "y": np.array([0.1, math.nan, math.inf])},
                  labels={"y": "f(x)"},
                  plain=np.array([0.1, math.nan, math.inf]),
                  data={"x": np.array([-1.0, 0.0, 2.5]), "y": np.array([0.1, math.nan, -math.inf])},
                  scalars=[Scalar("logsumexp", "logsumexp", 2.4170300162778333)])


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_plain_numbers_round_trip_exactly(value):
    assert float(plain_number(value)) == value


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_plain_float32_numbers_are_shortest_and_round_trip_in_float32(value):
    text = plain_number(np.float32(value), "float32")
    assert np.float32(text) == np.float32(value)
    assert len(text) <= len(repr(float(np.float32(value)))) + 1


def test_plain_prints_integral_values_without_a_decimal_point():
    assert [plain_number(v) for v in (0.0, -0.0, 2.0, 1e16, 0.5)] == ["0", "-0", "2", "1e+16", "0.5"]


def test_plain_is_the_primary_result_separated_by_single_spaces():
    assert render(report(), "plain") == "0.1 nan inf"


def test_json_is_strict_with_non_finite_numbers_as_strings():
    text = render(report(), "json")
    data = json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert data["y"] == [0.1, "nan", "-inf"]
    assert "\n" not in text


def test_csv_has_a_header_then_one_row_per_element_with_scalars_as_columns():
    assert render(report(), "csv").splitlines() == ["x,y,logsumexp", "-1,0.1,2.4170300162778333",
                                                    "0,nan,2.4170300162778333", "2.5,inf,2.4170300162778333"]


def test_table_aligns_columns_uses_precision_and_shows_the_footer():
    lines = render(report(), "table", precision=3).splitlines()
    assert lines[0].split() == ["x", "f(x)"]
    assert lines[2].split() == ["-1", "0.1"]
    assert lines[-1] == "logsumexp: 2.42"


def test_table_colour_only_when_asked():
    assert "\033[" not in render(report(), "table", color=False)
    assert "\033[1m" in render(report(), "table", color=True)


def test_markdown_is_a_github_table_with_footer():
    text = render(report(), "markdown", precision=4)
    assert "| x | f(x) |" in text and "|---:|---:|" in text and "**logsumexp**: 2.417" in text


def test_latex_renders_numbers_and_infinities():
    text = render(report(), "latex")
    assert r"\infty" in text and r"\mathrm{NaN}" in text and r"\begin{array}" in text


def test_matrices_render_in_every_format():
    rep = Report(columns={}, plain=[1.0], data={"m": np.eye(2)}, matrices=[Matrix("J", np.eye(2), ["a", "b"])])
    assert "J" in render(rep, "table") and r"\begin{bmatrix} 1 & 0 \\ 0 & 1 \end{bmatrix}" in render(rep, "latex")
    assert json.loads(render(rep, "json"))["m"] == [[1.0, 0.0], [0.0, 1.0]]


def test_expression_matrices_use_their_latex_in_latex_and_markdown():
    rep = Report(columns={}, plain=[], data={}, matrices=[
        Matrix("H", np.array([["2·y", "2·x"], ["2·x", "0"]], dtype=object), ["x", "y"],
               latex=[["2 y", "2 x"], ["2 x", "0"]])])
    assert "2·y" in render(rep, "table")
    assert r"\begin{bmatrix} 2 y & 2 x \\ 2 x & 0 \end{bmatrix}" in render(rep, "latex")
    assert "·" not in render(rep, "markdown")
