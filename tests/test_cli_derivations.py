"""Derivations the way the notes write them, through the real command line (issue #14).

Oracles: the notes' own final forms (σ(x)·(1 − σ(x)), 1 − tanh²(x), n·x^(n−1),
−6·(2x − 3y + 4z − 6), 18x + 24y − 30), SymPy's `diff` for equality, the closed forms
ŷ_i(δ_ik − ŷ_k), δ_ik − ŷ_k and ŷ − y evaluated at the command's own softmax, and
torch.autograd where torch is installed. That each symbolic step is true is proven in
tests/test_symbolic_derivations.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from conftest import assert_user_error
from dlcalc.expression import parse_expression
from dlcalc.symbolic_derivations import DERIVED


def partials(dl, *args):
    run = dl("grad", *args, "-f", "plain")
    assert run.code == 0, run.err
    return run.out.strip().splitlines()


# ---------------------------------------------------------------- final forms


def test_sigmoid_written_out_differentiates_to_sigma_times_one_minus_sigma(dl):
    assert partials(dl, "1/(1+exp(-x))") == ["sigmoid(x)*(1 - sigmoid(x))"]


def test_tanh_written_out_differentiates_to_one_minus_tanh_squared(dl):
    assert partials(dl, "(exp(x)-exp(-x))/(exp(x)+exp(-x))") == ["1 - tanh(x)**2"]


def test_softplus_written_out_differentiates_to_sigma(dl):
    assert partials(dl, "log(1+exp(x))") == ["sigmoid(x)"]


def test_power_rule_form_is_kept(dl):
    assert partials(dl, "x**n", "--wrt", "x") == ["n*x**(n - 1)"]


def test_common_factor_is_pulled_out_with_its_sign_and_the_sum_as_written(dl):
    assert partials(dl, "(2*x - 3*y + 4*z - 6)^2") == [
        "4*(2*x - 3*y + 4*z - 6)", "-6*(2*x - 3*y + 4*z - 6)", "8*(2*x - 3*y + 4*z - 6)"]


@pytest.mark.parametrize("form, expected", [
    ("expanded", ["18*x + 24*y - 30", "24*x + 32*y - 40"]),
    ("factored", ["6*(3*x + 4*y - 5)", "8*(3*x + 4*y - 5)"]),
    ("notes", ["6*(3*x + 4*y - 5)", "8*(3*x + 4*y - 5)"]),
])
def test_form_chooses_how_the_notes_practice_prompt_is_written(dl, form, expected):
    got = partials(dl, "(3*x + 4*y - 5)^2", "--form", form)
    assert got == expected
    f = parse_expression("(3*x + 4*y - 5)^2")
    for text, name in zip(got, ("x", "y")):
        symbol = next(s for s in f.free_symbols if s.name == name)
        assert sp.expand(parse_expression(text) - sp.diff(f, symbol)) == 0


def test_unknown_form_is_an_error(dl):
    assert_user_error(dl("grad", "x^2", "--form", "pretty"), "pretty", "notes")


@pytest.mark.parametrize("text, identity", [
    ("1/(1+exp(-x))", "1/(1 + e^(−x)) = sigmoid(x)"),
    ("(exp(x)-exp(-x))/(exp(x)+exp(-x))", "= tanh(x)"),
])
def test_steps_end_with_a_recognise_step_naming_the_identity(dl, text, identity):
    run = dl("grad", text, "--steps", "--json")
    steps = json.loads(run.out)["steps"]
    assert steps[-1]["rule"] == "recognise"
    assert identity in steps[-1]["text"]
    assert steps[-2]["rule"] == "simplify"


def test_steps_of_x_to_the_n_never_write_n_x_to_the_n_over_x(dl):
    steps = json.loads(dl("grad", "x**n", "--wrt", "x", "--steps", "--json").out)["steps"]
    assert all("x^n/x" not in s["text"] for s in steps)
    assert steps[-1]["text"].endswith("n·x^(n − 1)")


# ---------------------------------------------------------------- constant rule


def test_derivative_of_a_constant_is_zero_by_the_constant_rule(dl):
    assert partials(dl, "5", "--wrt", "x") == ["0"]
    assert partials(dl, "5", "--wrt", "x", "--at", "x=1") == ["0"]
    steps = json.loads(dl("grad", "5", "--wrt", "x", "--steps", "--json").out)["steps"]
    assert steps[0]["rule"] == "constant" and steps[0]["text"] == "d/dx 5 = 0"


def test_a_symbolic_constant_stays_symbolic(dl):
    assert partials(dl, "c*x", "--wrt", "x") == ["c"]


def test_a_stray_variable_of_a_non_constant_expression_is_still_an_error(dl):
    assert_user_error(dl("grad", "x^2", "--wrt", "y"), "'y' is not a variable")


# ---------------------------------------------------------------- softmax Jacobian


def softmax_json(dl, *flags):
    run = dl("softmax", "2", "1", "0.1", "--jacobian", "--explain", *flags, "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_softmax_jacobian_is_derived_in_two_cases_then_evaluated(dl):
    data = softmax_json(dl)
    texts = [s["text"] for s in data["steps"]]
    assert any(t.startswith("Case 1, i = k") for t in texts)
    assert any(t.startswith("Case 2, i ≠ k") for t in texts)
    assert any("ŷ_i(δ_ik − ŷ_k)" in t for t in texts)
    assert sum(s["rule"] == "evaluate" for s in data["steps"]) == 3
    y = np.array(data["softmax"])
    closed_form = np.diag(y) - np.outer(y, y)  # ŷ_i(δ_ik − ŷ_k), the derived result
    np.testing.assert_allclose(data["jacobian"], closed_form, rtol=1e-14, atol=1e-16)


def test_log_softmax_jacobian_is_derived_as_the_notes_do(dl):
    data = softmax_json(dl, "--log")
    texts = [s["text"] for s in data["steps"]]
    assert "ℓ_i = log ŷ_i = log(e^(z_i) / Σ_j e^(z_j)) = z_i − log Σ_j e^(z_j)" in texts
    assert any("∂ℓ_i/∂z_i = 1 − ŷ_i" in t for t in texts)
    assert any("∂ℓ_i/∂z_k = −ŷ_k" in t for t in texts)
    assert any("∂ℓ_i/∂z_k = δ_ik − ŷ_k" in t for t in texts)
    y = np.array(data["softmax"])
    np.testing.assert_allclose(data["jacobian"], np.eye(3) - y[None, :], rtol=1e-14, atol=1e-16)


def test_softmax_jacobian_agrees_with_torch_autograd(dl):
    torch = pytest.importorskip("torch")
    data = softmax_json(dl)
    z = torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), z)
    np.testing.assert_allclose(data["jacobian"], expected.numpy(), rtol=1e-13, atol=1e-16)


# ---------------------------------------------------------------- ce gradient


def test_cross_entropy_gradient_is_derived_as_y_hat_minus_y(dl):
    run = dl("ce", "2", "1", "0.1", "--target", "0", "--grad", "--explain", "--json")
    data = json.loads(run.out)
    rules = [s["rule"] for s in data["steps"]]
    texts = [s["text"] for s in data["steps"]]
    assert "Σ y_i = 1" in rules
    assert any(t.startswith("L = −Σ_i y_i·z_i + log Σ_j e^(z_j)") for t in texts)
    assert any(t.startswith("Add both parts: ∂L/∂z_k = −y_k + ŷ_k = ŷ_k − y_k") for t in texts)
    assert rules.count("evaluate") == 3
    np.testing.assert_array_equal(data["grad"], np.array(data["probs"]) - np.array([1.0, 0, 0]))


def test_cross_entropy_gradient_agrees_with_torch(dl):
    torch = pytest.importorskip("torch")
    run = dl("ce", "2", "1", "0.1", "--target", "0", "--grad", "--explain", "--json")
    z = torch.tensor([[2.0, 1.0, 0.1]], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.tensor([0])).backward()
    np.testing.assert_allclose(json.loads(run.out)["grad"], z.grad[0].numpy(), rtol=1e-14)


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_activation_derivative_is_derived_from_the_definition(dl, name):
    run = dl("activate", name, "--deriv", "--explain", "--json")
    assert run.code == 0, run.err
    steps = json.loads(run.out)["steps"]
    assert steps[0]["rule"] == "definition"
    assert all(s["latex"].isascii() for s in steps)


def test_sigmoid_derivation_ends_at_sigma_times_one_minus_sigma(dl):
    steps = json.loads(dl("activate", "sigmoid", "--explain", "--json").out)["steps"]
    assert steps[-1]["text"] == "σ'(x) = σ(x)·(1 − σ(x))"
    assert steps[-1]["rule"] == "recognise"


def test_activation_derivation_with_x_values_evaluates_the_same_numbers(dl):
    run = dl("activate", "tanh", "-1", "0", "2", "--deriv", "--explain", "--json")
    data = json.loads(run.out)
    evaluated = [s for s in data["steps"] if s["rule"] == "evaluate"]
    assert len(evaluated) == 3
    assert evaluated[1]["text"] == "tanh'(0) ≈ 1"
    np.testing.assert_allclose(data["dy"], 1 - np.tanh(np.array([-1.0, 0, 2])) ** 2, rtol=1e-15)


def test_an_expression_is_derived_by_the_rules(dl):
    steps = json.loads(dl("activate", "x*sigmoid(x)", "1", "--explain", "--json").out)["steps"]
    assert steps[0]["rule"] == "product"


def test_a_function_without_a_derivation_is_an_error_naming_those_with_one(dl):
    assert_user_error(dl("activate", "elu", "1", "--explain"), "elu", "sigmoid")


# ---------------------------------------------------------------- every format


@pytest.mark.parametrize("args", [
    ("activate", "sigmoid", "--deriv", "--explain"),
    ("softmax", "2", "1", "0.1", "--jacobian", "--log", "--explain"),
    ("ce", "2", "1", "0.1", "--target", "0", "--grad", "--explain"),
])
def test_derivations_render_in_table_markdown_and_latex(dl, args):
    table = dl(*args, "-f", "table").out
    markdown = dl(*args, "-f", "markdown").out
    latex = dl(*args, "-f", "latex").out
    assert "[definition" in table or "[log-softmax identity" in table
    assert "$" in markdown and "*(definition" in markdown or "*(log-softmax identity" in markdown
    derivation = latex.split("\\end{aligned}")[0]
    assert latex.startswith("\\begin{aligned}") and derivation.isascii()
