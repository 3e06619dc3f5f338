"""Step-by-step derivations: the rule named at each step, and the notes' e^(−x) example."""

import pytest
import sympy as sp

from dlcalc.derivation import ChainRule, derivation_steps, derive
from dlcalc.errors import DlcalcError
from dlcalc.expression import parse_expression
from dlcalc.steps import Step


def rules(text, variable="x"):
    return [s.rule for s in derivation_steps(parse_expression(text), variable)]


def test_exp_minus_x_reads_like_the_notes():
    steps = derivation_steps(parse_expression("e^(-x)"), "x")
    assert all(isinstance(s, Step) for s in steps)
    assert steps[0].rule == "chain"
    assert "let u = −x" in steps[0].text
    assert any(s.rule == "exponential" and s.text == "d/du e^u = e^u" for s in steps)
    assert any(s.text.startswith("du/dx = d/dx (−x)") and s.text.endswith("= −1") for s in steps)
    assert "d/dx e^(−x) = e^(−x)·(−1) = −e^(−x)" in [s.text for s in steps]
    assert steps[-1].rule == "simplify" and steps[-1].text == "d/dx e^(−x) = −e^(−x)"
    assert steps[1].depth == 1 and steps[0].depth == 0
    assert r"\frac{d}{dx}" in steps[0].latex


def test_chain_rule_record_has_inner_function_and_its_derivative():
    tree = derive(parse_expression("e^(-x)"), "x")
    x = sp.Symbol("x", real=True)
    assert isinstance(tree, ChainRule)
    assert tree.inner == -x and tree.inner_step.result == -1
    assert tree.result == -sp.exp(-x)


@pytest.mark.parametrize(
    "text, variable, rule",
    [
        ("x + 5", "x", "constant"),
        ("x^3", "x", "power"),
        ("x^2 + x", "x", "sum"),
        ("3*x^2", "x", "constant multiple"),
        ("x*sin(x)", "x", "product"),
        ("sin(x)/x", "x", "quotient"),
        ("1/(1+e^-x)", "x", "quotient"),
        ("sin(x^2)", "x", "chain"),
        ("e^x", "x", "exponential"),
        ("2^x", "x", "exponential"),
        ("log(x)", "x", "logarithm"),
        ("tan(x)", "x", "trigonometric"),
        ("tanh(x)", "x", "hyperbolic"),
        ("sigmoid(x)", "x", "activation"),
        ("relu(x)", "x", "activation"),
        ("gelu(x)", "x", "activation"),
        ("erf(x)", "x", "special function"),
        ("x^2*y + sin(y)", "x", "other variable treated as constant"),
    ],
)
def test_each_rule_is_named(text, variable, rule):
    assert rule in rules(text, variable)


def test_partial_derivative_of_notes_example_treats_y_as_constant():
    steps = derivation_steps(parse_expression("x^2*y + sin(y)"), "x")
    texts = [s.text for s in steps]
    assert "∂/∂x sin(y) = 0   (y is treated as a constant)" in texts
    assert steps[-1].text == "∂/∂x (x²·y + sin(y)) = 2·x·y"


def test_sigmoid_as_a_quotient_ends_with_the_derivative_then_recognises_sigma():
    steps = derivation_steps(parse_expression("1/(1+e^-x)"), "x")
    assert steps[0].rule == "quotient"
    assert steps[-2].text == "d/dx (1/(1 + e^(−x))) = e^(−x)/(1 + e^(−x))²"
    assert steps[-1].rule == "recognise"
    assert steps[-1].text.startswith("e^(−x)/(1 + e^(−x))² = sigmoid(x)·(1 − sigmoid(x))")
    assert "1/(1 + e^(−x)) = sigmoid(x)" in steps[-1].text


@pytest.mark.parametrize(
    "text",
    ["e^(-x)", "x*sigmoid(x)", "sin(x)/x", "x^x", "log(1 + x^2)", "tanh(x^3)", "(3*x + 4*y - 5)^2",
     "sqrt(x^2 + 1)*exp(-x)/(2 + cos(x))", "gelu(2*x)", "softplus(x)*relu(x)"],
)
def test_rule_tree_result_equals_sympy_derivative(text):
    from dlcalc.expression import parse_expression

    expr = parse_expression(text)
    tree = derive(expr, "x")
    x = tree.variable
    difference = (tree.result - sp.diff(expr, x)).rewrite(sp.exp)
    for value in (0.3, 1.7, 2.9):
        point = {s: value for s in difference.free_symbols}
        assert abs(complex(difference.evalf(30, subs=point))) < 1e-20


def test_unknown_variable_is_an_error():
    with pytest.raises(DlcalcError, match="'z' is not a variable"):
        derivation_steps(parse_expression("x^2"), "z")


def test_steps_serialise_with_rule_text_latex_depth():
    d = derivation_steps(parse_expression("x^2"), "x")[0].as_dict()
    assert set(d) == {"rule", "text", "latex", "depth"}
