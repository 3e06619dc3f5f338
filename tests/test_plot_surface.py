"""`dlcalc plot "EXPR in x and y"`: the surface, −∇f and descent paths; reproducible files."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import assert_user_error, strict_json


def test_surface_with_paths_is_written_and_byte_reproducible(dl, tmp_path):
    args = ["plot", "(1-x)^2 + 100*(y-x^2)^2", "--descend", "50", "--at", "x=-1.2", "y=1.5",
            "--optimizer", "sgd", "--optimizer", "adam", "--lr", "0.002"]
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    run = dl(*args, "-o", first)
    assert run.code == 0, run.err
    assert run.out.strip() == str(first)
    assert dl(*args, "-o", second).code == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_reports_the_paths_which_are_the_descent_trajectories(dl, tmp_path):
    out = tmp_path / "bowl.svg"
    data = strict_json(dl("plot", "x^2 + 3*y^2", "--descend", "5", "--at", "x=1", "y=1",
                          "--optimizer", "momentum", "-o", out, "--json").out)
    assert data["path"] == str(out) and data["variables"] == ["x", "y"]
    trajectory = strict_json(dl("grad", "x^2 + 3*y^2", "--at", "x=1", "y=1", "--descend", "5",
                                "--optimizer", "momentum", "--json").out)["trajectory"]
    assert data["paths"]["momentum"]["x"] == trajectory["x"]
    assert data["paths"]["momentum"]["y"] == trajectory["y"]
    svg = out.read_bytes()
    assert b'id="path-momentum"' in svg and b'id="downhill"' in svg  # the path and the −∇f field


def test_the_default_name_tells_surfaces_and_optimizers_apart(dl, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = dl("plot", "x^2 + y^2").out.strip()
    with_paths = dl("plot", "x^2 + y^2", "--descend", "3", "--at", "x=1", "y=1").out.strip()
    assert plain != with_paths and plain.startswith("plots/") and (tmp_path / with_paths).exists()


def test_vars_choose_the_axes(dl, tmp_path):
    data = strict_json(dl("plot", "a^2 + b", "--vars", "b,a", "-o", tmp_path / "s.png", "--json").out)
    assert data["variables"] == ["b", "a"]


def test_the_surface_samples_are_the_expression_and_arrows_point_downhill():
    from dlcalc import surface
    from dlcalc.expression import parse_expression

    sampled = surface.sample_surface(parse_expression("x^2 + 3*y^2"), "x^2 + 3*y^2", ("x", "y"),
                                     x_range=(-1, 2), y_range=(-2, 1), points=11)
    gx, gy = np.meshgrid(sampled.x, sampled.y)
    np.testing.assert_array_equal(sampled.f, gx ** 2 + 3 * gy ** 2)
    np.testing.assert_allclose(sampled.downhill_x, -2 * sampled.arrow_x, rtol=1e-15)
    np.testing.assert_allclose(sampled.downhill_y, -6 * sampled.arrow_y, rtol=1e-15)


@pytest.mark.parametrize("args,fragment", [
    (["a*b*c"], "two variables"),
    (["x^2 + y^2", "--deriv"], "--deriv does not apply"),
    (["x^2 + y^2", "--descend", "0", "--at", "x=1", "y=1"], "--descend 0"),
    (["x^2 + y^2", "--descend", "5", "--at", "x=1", "y=1", "--lr", "-1"], "--lr -1"),
    (["x^2 + y^2", "--descend", "5"], "--at"),
    (["x^2 + y^2", "--descend", "5", "--at", "x=1", "y=1", "--optimizer", "adamw", "-p", "momentum=0.5"],
     "momentum"),
    (["x^2 + y^2", "--descend", "5", "--at", "x=1", "y=1", "--optimizer", "sdg"], "did you mean 'sgd'"),
    (["x^2 + y^2", "--yrange", "1", "-1"], "--yrange"),
    (["sigmoid", "tanh", "--yrange", "0", "1"], "--yrange goes with a surface"),
])
def test_errors(dl, args, fragment, tmp_path):
    assert_user_error(dl("plot", *args, "-o", tmp_path / "x.png"), fragment)
