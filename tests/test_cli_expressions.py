"""Expressions in x where a function name goes: `dlcalc activate EXPR` (SPEC §2, §6).

Oracles: the exact values of the closed forms (mpmath at 200 bits), the registry's own entry
for the same function (x·sigmoid(x) is silu), and torch's F.silu with its autograd gradient.
"""

from __future__ import annotations


import mpmath
import numpy as np
import pytest

from conftest import assert_user_error, strict_json

mpmath.mp.prec = 200

XS = ["-30", "-5", "-1", "-1e-8", "0", "1e-8", "1", "2.5", "30"]




def exact_silu(x: float) -> tuple[float, float]:
    """x·σ(x) and its derivative σ(x)·(1 + x·(1 − σ(x))), rounded once to float64."""
    v = mpmath.mpf(x)
    s = 1 / (1 + mpmath.exp(-v))
    return float(v * s), float(s * (1 + v * (1 - s)))


def relative_errors(got, exact) -> np.ndarray:
    got, exact = np.asarray(got, dtype=float), np.asarray(exact, dtype=float)
    return np.abs(got - exact) / np.maximum(np.abs(exact), np.finfo(float).tiny)


def test_x_times_sigmoid_with_deriv_is_silu_and_its_derivative_exactly(dl):
    run = dl("activate", "x*sigmoid(x)", *XS, "--deriv", "--json")
    assert run.code == 0 and run.err == ""
    data = strict_json(run.out)
    assert data["function"] == "x*sigmoid(x)" and data["params"] == {}
    exact = [exact_silu(float(x)) for x in XS]
    assert relative_errors(data["y"], [e[0] for e in exact]).max() < 1e-15
    assert relative_errors(data["dy"], [e[1] for e in exact]).max() < 1e-15


def test_x_times_sigmoid_agrees_with_the_registrys_silu(dl):
    expression = strict_json(dl("activate", "x*sigmoid(x)", *XS, "-d", "--json").out)
    registry = strict_json(dl("activate", "silu", *XS, "-d", "--json").out)
    assert expression["x"] == registry["x"]
    assert relative_errors(expression["y"], registry["y"]).max() < 1e-15
    assert relative_errors(expression["dy"], registry["dy"]).max() < 1e-15


def test_x_times_sigmoid_equals_torch_silu_and_its_autograd(dl):
    torch = pytest.importorskip("torch")
    x = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.silu(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    run = dl("activate", "x*sigmoid(x)", "-1", "0", "1", "--deriv", "--json")
    data = strict_json(run.out)
    assert np.allclose(data["y"], y.detach().numpy(), rtol=1e-15, atol=0)
    assert np.allclose(data["dy"], dy.numpy(), rtol=1e-15, atol=0)


def test_plain_output_is_f_or_with_deriv_f_prime(dl):
    assert dl("activate", "x*sigmoid(x)", "0", "1").out.split()[0] == "0"
    # f'(0) = σ(0)·(1 + 0) = 1/2 exactly
    assert dl("activate", "x*sigmoid(x)", "0", "--deriv").out == "0.5\n"


def test_the_expression_x_is_the_identity(dl):
    run = dl("activate", "x", "-2", "0", "3.5", "--deriv", "--json")
    assert run.code == 0
    data = strict_json(run.out)
    assert data["y"] == [-2.0, 0.0, 3.5] and data["dy"] == [1.0, 1.0, 1.0]
    assert dl("activate", "x", "-2", "0", "3.5").out == "-2 0 3.5\n"


def test_a_constant_expression_broadcasts_with_a_zero_derivative(dl):
    data = strict_json(dl("activate", "2*pi", "-1", "5", "-d", "--json").out)
    assert data["y"] == [2 * np.pi, 2 * np.pi] and data["dy"] == [0.0, 0.0]


def test_a_kink_in_an_expression_follows_pytorch(dl):
    # relu'(0) = 0, as torch's autograd gives and as the registry's relu does.
    expression = dl("activate", "relu(x)", "-1", "0", "1", "--deriv").out
    assert expression == dl("activate", "relu", "-1", "0", "1", "--deriv").out == "0 0 1\n"


def test_expressions_read_stdin_lines_like_names_do(dl):
    run = dl("activate", "x^2 - 1", "--deriv", stdin="1 2\n\n# comment\n-3\n")
    assert run.code == 0
    assert run.out == "2 4\n-6\n"  # d/dx (x² − 1) = 2x


def test_props_of_an_expression_are_those_of_the_same_registry_function(dl):
    run = dl("activate", "--props", "x*sigmoid(x)", "silu", "--json")
    assert run.code == 0
    expression, registry = strict_json(run.out)["properties"]
    assert expression["function"] == "x*sigmoid(x)" and registry["function"] == "silu"
    assert expression["max_derivative_at"] == registry["max_derivative_at"]
    assert expression["saturation"] == registry["saturation"]
    assert expression["zero_centred"] == registry["zero_centred"]
    assert np.isclose(expression["max_derivative"], registry["max_derivative"], rtol=1e-12)
    # silu's minimum −0.278465 at x ≈ −1.2785 (where x·σ(x) has zero slope) bounds its range
    assert np.isclose(expression["output_range"]["low"], registry["output_range"]["low"], rtol=1e-12)
    assert round(expression["output_range"]["low"], 6) == -0.278465


def test_props_table_names_the_expression(dl):
    run = dl("activate", "--props", "x*sigmoid(x)", "-f", "table")
    assert run.code == 0
    assert run.out.splitlines()[2].startswith("x*sigmoid(x)")


def test_an_expression_in_another_variable_is_an_error(dl):
    assert_user_error(dl("activate", "x*y", "1", "2"), "functions of x", "found y")
    assert_user_error(dl("activate", "--props", "sigmoid(t)"), "found t")


def test_parameters_do_not_apply_to_expressions(dl):
    assert_user_error(dl("activate", "x*sigmoid(x)", "1", "-p", "alpha=1"),
                      "-p sets parameters of registry functions", "x*sigmoid(x)")
    assert_user_error(dl("activate", "x*sigmoid(x)", "1", "--alpha", "0.1"), "-p sets parameters")


def test_a_bad_expression_names_its_column(dl):
    assert_user_error(dl("activate", "x*sigmod(x)", "1"), "unknown function 'sigmod' at column 3")
    assert_user_error(dl("activate", "x // 2", "1"), "'//' at column 3")


def test_a_misspelt_name_is_a_suggestion_not_an_expression(dl):
    assert_user_error(dl("activate", "sigmoidd", "1"), "did you mean 'sigmoid'")


def test_python_in_an_activate_expression_is_never_run(dl, tmp_path):
    sentinel = tmp_path / "ran"
    run = dl("activate", f"__import__('os').system('touch {sentinel}')", "1")
    assert_user_error(run, "attribute access) at column 17")
    assert not sentinel.exists()


@pytest.mark.parametrize("expression", ["1/x", "log(x)", "sqrt(x)"])
def test_props_of_a_function_with_a_pole_or_a_gap_is_an_error(dl, expression):
    assert_user_error(dl("activate", "--props", expression), "finite on the whole real line")


def test_props_of_a_function_with_an_unbounded_derivative_has_no_saturation(dl):
    line = dl("activate", "--props", "x**2").out.rstrip("\n")  # single spaces, as README says
    assert line.startswith("x**2 [0, ∞) ") and line.split(" ")[4] == "inf" and line.endswith(" none")
