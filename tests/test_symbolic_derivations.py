"""Every step of every derivation states something true.

Oracle: SymPy. Each symbolic step carries the equalities it claims (`Step.claim`), with the
derivatives left unevaluated; the test evaluates the derivatives with SymPy's `doit` and both
sides at random points with mpmath at 30 digits, for vectors of 2, 3 and 4 logits and every
index i, k the step is about. The rule trees of `grad --steps` are checked the same way: each
record's d(expr)/dx against SymPy's derivative, for expressions that use every rule.
"""

from __future__ import annotations

import random

import pytest

sp = pytest.importorskip("sympy")

from conftest import examples  # noqa: E402
from dlcalc import symbolic_derivations as notes  # noqa: E402
from dlcalc.derivation import (  # noqa: E402
    ChainRule,
    ConstantMultipleRule,
    ConstantRule,
    ExponentialRule,
    FunctionRule,
    OtherVariableRule,
    PowerRule,
    ProductRule,
    QuotientRule,
    RewriteRule,
    SumRule,
    derive,
)


def _random_point(symbols, rng, given_sum_one):
    point = {}
    ys = sorted((s for s in symbols if s.name.startswith("y")), key=lambda s: s.name)
    if given_sum_one and ys:
        n = max(int(s.name[1:]) for s in ys) + 1
        weights = [sp.Float(rng.uniform(0.05, 1), 30) for _ in range(n)]
        total = sum(weights)
        target = [w / total for w in weights[:-1]]
        target.append(1 - sum(target))  # sums to 1 at 30 digits
        for s in ys:
            point[s] = target[int(s.name[1:])]
    for s in symbols:
        if s not in point:
            point[s] = sp.Float(rng.uniform(-2, 2), 30)
    return point


def assert_equal_at_random_points(lhs, rhs, given_sum_one=False, points=5, seed=1):
    lhs, rhs = sp.sympify(lhs).doit(), sp.sympify(rhs).doit()
    symbols = lhs.free_symbols | rhs.free_symbols
    rng = random.Random(seed)
    for _ in range(points):
        point = _random_point(symbols, rng, given_sum_one)
        a = sp.N(lhs.subs(point), 30)
        b = sp.N(rhs.subs(point), 30)
        difference = float(sp.N(abs(a - b), 30))
        assert difference <= 1e-20 * max(1.0, float(abs(a)), float(abs(b))), (lhs, rhs, point, a, b)


def _check_steps(steps, lengths=(2, 3, 4)):
    checked = 0
    for step in steps:
        if step.claim is None:
            continue
        for n in lengths:
            for lhs, rhs in step.claim.sides(n):
                assert_equal_at_random_points(lhs, rhs, step.claim.given_sum_one)
                checked += 1
    return checked


SYMBOLIC = {
    "softmax Jacobian": notes.softmax_jacobian_symbolic,
    "log-softmax Jacobian": notes.log_softmax_jacobian_symbolic,
    "softmax Jacobian at temperature 0.7": lambda: notes.softmax_jacobian_symbolic(0.7),
    "log-softmax Jacobian at temperature 2.5": lambda: notes.log_softmax_jacobian_symbolic(2.5),
    "cross-entropy gradient": notes.cross_entropy_gradient_symbolic,
    **{f"activation {name}": build for name, build in notes.DERIVED.items()},
}


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_every_step_of_the_derivation_is_true_at_random_points(name):
    steps = SYMBOLIC[name]()
    assert _check_steps(steps) > 0
    unchecked = [s.text for s in steps if s.claim is None]
    # only definitions and PyTorch's conventions at kinks go unchecked
    assert all(s.rule in ("definition", "definition of softmax", "definition of cross-entropy",
                          "PyTorch's convention") for s in steps if s.claim is None), unchecked


def test_a_false_step_is_caught():
    z = sp.symbols("z0:3", real=True)
    total = sum(sp.exp(v) for v in z)
    with pytest.raises(AssertionError):  # the notes' −ŷ_i instead of −ŷ_k off the diagonal
        assert_equal_at_random_points(sp.Derivative(sp.log(sp.exp(z[0]) / total), z[1]),
                                      -sp.exp(z[0]) / total)


# ---------------------------------------------------------------- grad --steps rule trees

RULE_CORPUS = [
    "5", "x*y", "x^3", "x^n", "e^x", "2^x", "sin(x)", "log(x)", "tanh(x)", "sigmoid(x)",
    "erf(x)", "abs(x)", "x^2 + 3*x", "3*x^2", "x*sin(x)", "sin(x)/x", "1/(1+exp(-x))",
    "exp(-x)", "x^x", "(2*x - 3*y + 4*z - 6)^2", "relu(x)*softplus(x)", "gelu(2*x)",
    "log(1 + x^2)", "tanh(x^3)", "c*x",
]


def _walk(rule):
    yield rule
    for child in ("terms",):
        for t in getattr(rule, child, ()) or ():
            yield from _walk(t)
    for child in ("other", "f_step", "g_step", "numerator_step", "denominator_step",
                  "outer_step", "inner_step", "step"):
        sub = getattr(rule, child, None)
        if sub is not None:
            yield from _walk(sub)


def test_every_rule_record_states_a_true_derivative():
    from dlcalc.expression import parse_expression

    seen = set()
    for text in RULE_CORPUS:
        expr = parse_expression(text)
        tree = derive(expr, "x")
        for rule in _walk(tree):
            seen.add(type(rule))
            truth = sp.diff(rule.expr, rule.variable)
            assert_equal_at_random_points(truth.rewrite(sp.exp), rule.result.rewrite(sp.exp))
    assert seen >= {ChainRule, ConstantMultipleRule, ConstantRule, ExponentialRule, FunctionRule,
                    OtherVariableRule, PowerRule, ProductRule, QuotientRule, RewriteRule, SumRule}


@pytest.mark.parametrize("text", ["1/(1+exp(-x))", "(exp(x)-exp(-x))/(exp(x)+exp(-x))",
                                  "log(1+exp(x))", "x**n", "(2*x-3*y+4*z-6)**2"])
@pytest.mark.parametrize("form", ["notes", "factored", "expanded"])
def test_every_final_form_equals_sympys_derivative(text, form):
    from dlcalc.expression import parse_expression
    from dlcalc.symbolic import differentiate

    expr = parse_expression(text)
    x = next(s for s in expr.free_symbols if s.name == "x")
    got = differentiate(expr, "x", form)
    assert_equal_at_random_points(got.rewrite(sp.exp), sp.diff(expr, x))


# ---------------------------------------------------------------- final forms, any sum squared

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

coefficients = st.integers(-9, 9).filter(bool)


@settings(max_examples=examples(25), deadline=None)
@given(a=coefficients, b=coefficients, c=st.integers(-9, 9), power=st.integers(2, 3))
def test_every_form_of_a_sum_to_a_power_equals_sympys_derivative(a, b, c, power):
    from dlcalc.expression import parse_expression
    from dlcalc.symbolic import differentiate

    text = f"({a}*x + {b}*y + {c})^{power}"
    expr = parse_expression(text)
    y = next(s for s in expr.free_symbols if s.name == "y")
    truth = sp.diff(expr, y)
    for form in ("notes", "factored", "expanded"):
        assert sp.expand(differentiate(expr, "y", form) - truth) == 0, (text, form)
    if power == 2:  # the notes' form: a number times the sum as written, sign outside
        notes_form = differentiate(expr, "y", "notes")
        assert notes_form.is_Mul and any(f.is_Add for f in notes_form.args)
