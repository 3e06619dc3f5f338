"""Gradients, Hessians, evaluation and numeric functions, checked against the notes' worked
examples, hand-derived closed forms, central finite differences and PyTorch."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from dlcalc.errors import DlcalcError
from dlcalc.expression import parse_expression
from dlcalc import exact
from dlcalc.activations import symbolic_functions
from dlcalc.symbolic import (
    evaluate_at,
    finite_difference_check,
    gradient,
    hessian,
    numeric_function,
    time_limit,
    to_latex,
    to_plain,
    to_text,
)

RNG = np.random.default_rng(12345)


def _parsing(function):
    """The symbolic layer takes parsed expressions only; these tests write them as text."""
    def call(expr, *args, **kwargs):
        return function(parse_expression(expr) if isinstance(expr, str) else expr, *args, **kwargs)
    return call


gradient, hessian, numeric_function, finite_difference_check = map(
    _parsing, (gradient, hessian, numeric_function, finite_difference_check))


def central_difference(text, variables, point, h=1e-10):
    """Independent oracle: central differences at 40 digits (mpmath) of the parsed expression
    with each activation replaced by its textbook closed form (sigmoid = 1/(1 + e^(−x)), ...)."""
    import mpmath

    expr = parse_expression(text).replace(
        lambda e: isinstance(e, tuple(symbolic_functions().values())),
        lambda e: e.closed_form(e.args[0])
    )
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    f = sp.lambdify(symbols, expr, modules="mpmath")
    out = []
    with mpmath.workdps(40):
        for v in variables:
            plus = {n: mpmath.mpf(value) for n, value in point.items()}
            minus = dict(plus)
            plus[v] += h
            minus[v] -= h
            difference = (f(*[plus[s.name] for s in symbols])
                          - f(*[minus[s.name] for s in symbols])) / (2 * h)
            out.append(float(mpmath.re(difference)) if mpmath.im(difference) == 0 else math.nan)
    return np.array(out)


def assert_matches_closed_form(text, closed_forms, n_points=5, low=-2.0, high=2.0):
    grad = gradient(text)
    assert list(grad.variables) == sorted(closed_forms)
    for _ in range(n_points):
        point = {v: float(RNG.uniform(low, high)) for v in grad.variables}
        got = grad.at(point)
        expected = np.array([closed_forms[v](**point) for v in grad.variables])
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, central_difference(text, grad.variables, point),
                                   rtol=1e-6, atol=1e-6)


def test_notes_partials_of_x2y_plus_sin_y():
    grad = gradient("x^2*y + sin(y)")
    x, y = sp.symbols("x y", real=True)
    assert sp.simplify(grad.partials["x"] - 2 * x * y) == 0
    assert sp.simplify(grad.partials["y"] - (x**2 + sp.cos(y))) == 0
    assert to_text(grad.partials["x"]) == "2·x·y"
    assert to_text(grad.partials["y"]) == "x² + cos(y)"
    assert grad.at({"x": 1, "y": 2}).tolist() == [4.0, 0.5838531634528576]
    assert_matches_closed_form(
        "x^2*y + sin(y)",
        {"x": lambda x, y: 2 * x * y, "y": lambda x, y: x**2 + math.cos(y)},
    )


def test_notes_linear_regression_loss_gradient_keeps_the_residual():
    grad = gradient("(w1*x1 + w2*x2 - y)^2")
    assert to_plain(grad.partials["w1"]) == "2*x1*(w1*x1 + w2*x2 - y)"
    assert to_plain(grad.partials["w2"]) == "2*x2*(w1*x1 + w2*x2 - y)"
    residual = lambda w1, w2, x1, x2, y: w1 * x1 + w2 * x2 - y  # noqa: E731
    assert_matches_closed_form(
        "(w1*x1 + w2*x2 - y)^2",
        {
            "w1": lambda **p: 2 * residual(**p) * p["x1"],
            "w2": lambda **p: 2 * residual(**p) * p["x2"],
            "x1": lambda **p: 2 * residual(**p) * p["w1"],
            "x2": lambda **p: 2 * residual(**p) * p["w2"],
            "y": lambda **p: -2 * residual(**p),
        },
    )


def test_notes_strategy_example_gives_4a():
    grad = gradient("(2*x - 3*y + 4*z - 6)^2")
    assert to_text(grad.partials["x"]) == "4·(2·x − 3·y + 4·z − 6)"
    a = lambda x, y, z: 2 * x - 3 * y + 4 * z - 6  # noqa: E731
    assert_matches_closed_form(
        "(2*x - 3*y + 4*z - 6)^2",
        {"x": lambda **p: 4 * a(**p), "y": lambda **p: -6 * a(**p), "z": lambda **p: 8 * a(**p)},
    )


def test_notes_practice_prompt_gives_6_and_8_times_the_sum():
    grad = gradient("(3x + 4y - 5)^2".replace("3x", "3*x").replace("4y", "4*y"))
    assert to_text(grad.partials["x"]) == "6·(3·x + 4·y − 5)"
    assert to_text(grad.partials["y"]) == "8·(3·x + 4·y − 5)"
    assert_matches_closed_form(
        "(3*x + 4*y - 5)^2",
        {"x": lambda x, y: 6 * (3 * x + 4 * y - 5), "y": lambda x, y: 8 * (3 * x + 4 * y - 5)},
    )


@pytest.mark.parametrize(
    "text, derivative, low, high",
    [
        ("e^(-x)", lambda x: -math.exp(-x), -3, 3),
        ("exp(x)", lambda x: math.exp(x), -3, 3),
        ("x^5", lambda x: 5 * x**4, -2, 2),
        ("3^x", lambda x: 3**x * math.log(3), -2, 2),
        ("log(x)", lambda x: 1 / x, 0.1, 5),
        ("sin(x)", lambda x: math.cos(x), -3, 3),
        ("cos(x)", lambda x: -math.sin(x), -3, 3),
        ("tan(x)", lambda x: 1 / math.cos(x) ** 2, -1.4, 1.4),  # sec² x, as the notes write
        ("tanh(x)", lambda x: 1 - math.tanh(x) ** 2, -3, 3),
        ("sigmoid(x)", lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2, -6, 6),
        ("softplus(x)", lambda x: 1 / (1 + math.exp(-x)), -6, 6),
        ("1/(1+e^-x)", lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2, -6, 6),
        ("sqrt(x)", lambda x: 0.5 / math.sqrt(x), 0.1, 4),
        ("log(x, 2)", lambda x: 1 / (x * math.log(2)), 0.1, 4),
    ],
)
def test_common_derivatives_match_closed_forms_and_finite_differences(text, derivative, low, high):
    assert_matches_closed_form(text, {"x": derivative}, low=low, high=high)


def test_exponential_with_symbolic_base_is_a_to_the_x_log_a():
    a, x = sp.symbols("a x", real=True)
    assert sp.simplify(gradient("a^x", ["x"]).partials["x"] - a**x * sp.log(a)) == 0


def test_exp_minus_x_derivative_is_minus_exp_minus_x():
    assert to_text(gradient("e^(-x)").partials["x"]) == "−e^(−x)"


def test_sigmoid_derivative_keeps_its_identity():
    d = gradient("sigmoid(x)").partials["x"]
    assert to_plain(d) == "sigmoid(x)*(1 - sigmoid(x))"
    assert to_text(d) == "sigmoid(x)·(1 − sigmoid(x))"
    assert to_latex(d) == r"\sigma\left(x\right) \left(1 - \sigma\left(x\right)\right)"
    assert not d.has(sp.exp)


def test_activation_derivatives_keep_identity():
    assert to_plain(gradient("softplus(x)").partials["x"]) == "sigmoid(x)"
    assert to_plain(gradient("relu(x)").partials["x"]) == "heaviside(x)"
    assert to_plain(gradient("gelu(x)").partials["x"]) in ("x*phi(x) + Phi(x)", "Phi(x) + x*phi(x)")
    assert to_plain(gradient("Phi(x)").partials["x"]) == "phi(x)"
    assert to_plain(gradient("phi(x)").partials["x"]) == "-x*phi(x)"


def test_relu_derivative_at_zero_is_zero_as_in_pytorch():
    assert gradient("relu(x)").at({"x": 0.0}).tolist() == [0.0]
    assert gradient("relu(x)").at({"x": 2.0}).tolist() == [1.0]


def test_gelu_and_its_derivative_match_torch_autograd():
    torch = pytest.importorskip("torch")
    xs = np.linspace(-5, 5, 41)
    f, df = numeric_function("gelu(x)")
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.gelu(t)
    y.sum().backward()
    # torch's float64 gelu cancels in the negative tail (SPEC §1): agree to 1e-9 there, and
    # to within a few ulp with the exact value x·Φ(x) from mpmath.
    np.testing.assert_allclose(f(xs), y.detach().numpy(), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(df(xs), t.grad.numpy(), rtol=1e-9, atol=1e-15)
    import mpmath

    with mpmath.workdps(60):
        exact = [float(mpmath.mpf(v) * mpmath.ncdf(v)) for v in xs]
        exact_d = [float(mpmath.ncdf(v) + mpmath.mpf(v) * mpmath.npdf(v)) for v in xs]
    np.testing.assert_allclose(f(xs), exact, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(df(xs), exact_d, rtol=1e-12, atol=1e-300)
    grad = gradient("gelu(x)")
    for value in (-2.5, -0.3, 0.7, 3.0):
        t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        torch.nn.functional.gelu(t).backward()
        assert grad.at({"x": value})[0] == pytest.approx(t.grad.item(), rel=1e-12)


def test_numeric_function_equals_closed_forms_on_arrays():
    xs = np.linspace(-8, 8, 1001)
    f, df = numeric_function("x*sigmoid(x)")
    s = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(f(xs), xs * s, rtol=1e-14)
    np.testing.assert_allclose(df(xs), s + xs * s * (1 - s), rtol=1e-12, atol=1e-300)
    f, df = numeric_function("tanh(x)^2 + 3*x")
    np.testing.assert_allclose(f(xs), np.tanh(xs) ** 2 + 3 * xs, rtol=1e-14)
    np.testing.assert_allclose(df(xs), 2 * np.tanh(xs) * (1 - np.tanh(xs) ** 2) + 3, rtol=1e-12)


def test_numeric_function_sigmoid_derivative_does_not_cancel_to_zero():
    _, df = numeric_function("sigmoid(x)")
    exact = math.exp(-50) / (1 + math.exp(-50)) ** 2  # σ(50)·σ(−50), 1.93e-22
    assert df(np.array([50.0]))[0] == pytest.approx(exact, rel=1e-14)


def test_numeric_function_constant_broadcasts_and_keeps_dtype():
    f, df = numeric_function("3")
    xs = np.zeros((2, 3), dtype=np.float32)
    assert f(xs).shape == (2, 3) and f(xs).dtype == np.float32
    assert np.all(f(xs) == 3) and np.all(df(xs) == 0)


def test_numeric_function_rejects_other_variables():
    with pytest.raises(DlcalcError, match="functions of x; found y"):
        numeric_function("x*y")


def test_gradient_respects_wrt_order_and_rejects_unknown_names():
    grad = gradient("x^2*y + sin(y)", ["y", "x"])
    assert grad.variables == ("y", "x")
    with pytest.raises(DlcalcError, match="'z' is not a variable of the expression; its variables: x, y"):
        gradient("x^2*y + sin(y)", ["z"])


def test_evaluate_at_names_missing_and_stray_variables():
    grad = gradient("x^2*y + sin(y)")
    with pytest.raises(DlcalcError, match="no value for variable 'y'; give a value for each of: x, y"):
        grad.at({"x": 1.0})
    with pytest.raises(DlcalcError, match="'z' is not a variable"):
        grad.at({"x": 1.0, "y": 2.0, "z": 3.0})
    # ∂(x + y)/∂x = 1 no longer contains y, but the point still needs it
    with pytest.raises(DlcalcError, match="'y'"):
        gradient("x + y").at({"x": 1.0})


def test_evaluate_at_pole_gives_inf_with_a_numeric_warning():
    from dlcalc.errors import NumericWarning

    with pytest.warns(NumericWarning, match="inf at x=0.0"):
        assert evaluate_at(gradient("log(x)").partials["x"], {"x": 0.0}) == math.inf


def test_hessian_of_notes_example():
    x, y = sp.symbols("x y", real=True)
    h = hessian("x^2*y + sin(y)", ["x", "y"])
    assert h == sp.Matrix([[2 * y, 2 * x], [2 * x, -sp.sin(y)]])


def test_finite_difference_check_agrees_with_the_symbolic_gradient():
    numeric, worst = finite_difference_check("x^2*y + sin(y)", None, {"x": 1.0, "y": 2.0})
    np.testing.assert_allclose(numeric, [4.0, 1 + math.cos(2)], rtol=1e-8)
    assert worst < 1e-8


def test_time_limit_turns_a_runaway_computation_into_an_error():
    import time

    with pytest.raises(DlcalcError, match="longer than 0.2 s"):
        with time_limit(0.2, "the expression took longer than 0.2 s to differentiate"):
            time.sleep(2)


def test_huge_expression_differentiates_within_the_time_limit():
    text = "*".join(f"sin(x+{i})" for i in range(60))
    import time

    started = time.perf_counter()
    gradient(text)
    assert time.perf_counter() - started < 15


# Hypothesis: random expressions of the grammar; symbolic gradient vs central differences.
UNARY = ["exp", "sin", "cos", "tanh", "sigmoid", "softplus", "gelu", "atan"]


def expressions(max_leaves=6):
    leaves = st.sampled_from(["x", "y", "1", "2", "0.5", "3"])

    def extend(children):
        return st.one_of(
            st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(children, children).map(lambda t: f"({t[0]} / (2 + ({t[1]})^2))"),
            st.tuples(children, st.integers(2, 3)).map(lambda t: f"({t[0]})^{t[1]}"),
            st.tuples(st.sampled_from(UNARY), children).map(lambda t: f"{t[0]}({t[1]})"),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions(), px=st.floats(-1.5, 1.5), py=st.floats(-1.5, 1.5))
def test_random_expressions_gradients_match_finite_differences(text, px, py):
    expr = parse_expression(text)
    names = sorted(s.name for s in expr.free_symbols)
    if not names:
        return
    point = {"x": px, "y": py}
    point = {n: point[n] for n in names}
    grad = gradient(expr)
    symbolic = grad.at(point)
    oracle = central_difference(text, names, point)
    if not (np.all(np.isfinite(symbolic)) and np.all(np.isfinite(oracle))):
        return
    if np.max(np.abs(oracle)) > 1e6:
        return
    np.testing.assert_allclose(symbolic, oracle, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Numeric evaluation without SciPy: the registry's sigmoid and gelu, dlcalc.special's Φ and erf


def test_numeric_forms_are_dlcalcs_own_not_scipys():
    from dlcalc import special
    from dlcalc.activations import REGISTRY
    from dlcalc.symbolic import numpy_implementations

    implementations = numpy_implementations()
    assert implementations["sigmoid"] is REGISTRY["sigmoid"].function
    assert implementations["gelu"] is REGISTRY["gelu"].function
    assert implementations["Phi"] is special.ndtr
    assert implementations["erf"] is special.erf


def test_expressions_with_every_special_function_evaluate_without_importing_scipy():
    # lambdify with the "scipy" module imported scipy.special (~180 ms) for plot "x*sigmoid(x)"
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from dlcalc.expression import parse_expression as parse\n"
        "from dlcalc.symbolic import numeric_function, gradient, evaluate_at, finite_difference_check\n"
        "text = 'x*sigmoid(x) + gelu(x) + Phi(x) + erf(x) + phi(x) + softplus(x) + relu(x)'\n"
        "f, df = numeric_function(parse(text))\n"
        "f(np.linspace(-40, 40, 101)); df(np.linspace(-40, 40, 101))\n"
        "gradient(parse('erf(x*y) + Phi(y) - erf(x)')).at({'x': 0.3, 'y': -2.0})\n"
        "finite_difference_check(parse('gelu(x)*erf(y)'), None, {'x': 1.0, 'y': 2.0})\n"
        "evaluate_at(parse('1 - erf(x) + sigmoid(x)'), {'x': float('inf')})\n"
        "print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_erf_and_phi_in_expressions_match_mpmath():
    import mpmath

    xs = np.concatenate([np.linspace(-6, 6, 241), [-0.4999, 0.5, 1e-9, -38.0, 38.0]])
    f_erf, df_erf = numeric_function("erf(x)")
    f_phi, _ = numeric_function("Phi(x)")
    f_gelu, _ = numeric_function("gelu(x)")
    with mpmath.workprec(200):
        for x, e, de, p, g in zip(xs, f_erf(xs), df_erf(xs), f_phi(xs), f_gelu(xs)):
            xm = mpmath.mpf(float(x))
            for got, want in ((e, mpmath.erf(xm)), (p, mpmath.ncdf(xm)), (g, xm * mpmath.ncdf(xm))):
                ulp = np.spacing(abs(float(want))) if want != 0 else 2.0**-1074
                if abs(want) < np.finfo(np.float64).tiny and not exact.EXTENDED:
                    # float64 path: x·Φ(x) of a subnormal Φ(x) magnifies Φ's last bit by |x|
                    ulp *= abs(float(x)) + 1
                assert abs(mpmath.mpf(float(got)) - want) <= 2 * ulp, (x, got, want)
            # erf' = 2e^(−x²)/√π is plain NumPy: the rounding of x² costs up to x² ulp (SPEC 1e-14)
            want = 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-xm**2)
            assert abs(mpmath.mpf(float(de)) - want) <= max(1e-14 * want, 2.0**-1074), (x, de, want)


def test_expression_float32_input_stays_float32_with_the_new_forms():
    f, df = numeric_function("x*sigmoid(x) + gelu(x) + erf(x)")
    xs = np.linspace(-3, 3, 7, dtype=np.float32)
    assert f(xs).dtype == np.float32 and df(xs).dtype == np.float32
    want = xs.astype(np.float64) / (1 + np.exp(-xs.astype(np.float64)))
    np.testing.assert_allclose(numeric_function("x*sigmoid(x)")[0](xs), want, rtol=2e-7)
