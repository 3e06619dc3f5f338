"""Adding an activation is one registry entry: every command sees it, nothing else changes.

A throwaway entry, cube(x) = a·x³ with a > 0, is registered for one test; `activate`, its
parameters and their check, `--list`, `--props`, the plot's title, expressions, `grad` and
`--steps` must all know it. The oracle is the closed form: (a·x³)' = 3a·x².
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_user_error
from dlcalc import activations, plotting
from dlcalc.activations import Parameter, SymbolicForm


@pytest.fixture
def cube(monkeypatch):
    monkeypatch.setattr(activations, "REGISTRY", dict(activations.REGISTRY))
    return activations.register(
        "cube", lambda x, a: a * x**3, lambda x, a: 3.0 * a * x**2,
        formula="cube(x) = a·x³", derivative_formula="cube'(x) = 3a·x²",
        latex=r"\mathrm{cube}(x) = a x^3", derivative_latex=r"\mathrm{cube}'(x) = 3a x^2",
        parameters=(Parameter("a", 1.0, "scale a (> 0)"),),
        aliases=("cubic",),
        summary="a throwaway entry for this test",
        label="Cube (test)",
        latex_name=r"\operatorname{cube}",
        symbolic=SymbolicForm(closed_form=lambda sp, x: x**3,
                              derivative=lambda sp, f, x: 3 * x**2),
        check=lambda a: f"a must be > 0, got {a:g}" if a <= 0 else None,
    )


def test_activate_evaluates_a_new_entry_its_derivative_and_parameters(dl, cube):
    assert float(dl("activate", "cube", "2").out) == 8.0
    assert json.loads(dl("activate", "cubic", "2", "--deriv", "--json").out)["dy"] == [12.0]
    assert float(dl("activate", "cube", "2", "-p", "a=0.5").out) == 4.0
    assert_user_error(dl("activate", "cube", "2", "-p", "a=-1"), "cube: a must be > 0, got -1")


def test_list_and_props_show_a_new_entry(dl, cube):
    listing = json.loads(dl("activate", "--list", "--json").out)
    entry = [f for f in listing["functions"] if f["name"] == "cube"]
    assert entry and entry[0]["formula"] == "cube(x) = a·x³" and entry[0]["parameters"] == {"a": 1.0}
    props = json.loads(dl("activate", "--props", "cube", "--json").out)["properties"][0]
    assert props["function"] == "cube" and props["zero_centred"] == "yes"  # a·x³ is odd


def test_plot_titles_a_new_entry_with_its_label(dl, cube, tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(plotting, "save_figure", lambda fig, path: saved.append(fig))
    assert dl("plot", "cube", "sigmoid", "-o", str(tmp_path / "cube.png")).code == 0
    assert saved[0].axes[0].get_title() == "Cube (test) & Sigmoid"


def test_expressions_and_grad_call_a_new_entry_by_name(dl, cube):
    # the expression's value and derivative come from the entry (value) and its SymbolicForm
    assert float(dl("activate", "cube(x) + x", "2").out) == 10.0
    assert json.loads(dl("activate", "cube(x) + x", "2", "--deriv", "--json").out)["dy"] == [13.0]
    run = dl("grad", "cube(x*y)", "--at", "x=2", "y=3", "--json")
    gradient = json.loads(run.out)
    assert run.code == 0, run.err
    assert np.allclose(gradient["gradient"], [3 * 36 * 3, 3 * 36 * 2]), gradient  # 3(xy)²·y, ·x
    steps = dl("grad", "cube(x)", "--steps", "-f", "table")
    assert steps.code == 0 and "d/dx cube(x) = 3·x²   [activation]" in steps.out, steps.out


def test_a_plain_activation_does_not_import_sympy():
    # the SymPy classes are built from the entries only when an expression is parsed
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "dlcalc", "activate", "sigmoid",
                          "1"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout == "0.7310585786300049\n"
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()}
    assert "dlcalc.activations" in imported and "sympy" not in imported
