"""`dlcalc grad` through the real command line (SPEC §6; issue #4).

Oracles: the notes' worked gradients (f = x²y + sin y; L = (w1·x1 + w2·x2 − y)²), closed forms
derived by hand, SymPy's own `diff` on an expression built without dlcalc's parser, central
finite differences, torch.autograd.functional.hessian where torch is installed, and a sentinel
file that would exist if any user text were ever run as Python.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import sympy as sp

from conftest import assert_user_error, strict_json
from dlcalc import symbolic
from dlcalc.expression import parse_expression

NOTES_F = "x**2*y + sin(y)"
NOTES_L = "(w1*x1 + w2*x2 - y)^2"
NOTES_L_POINT = ["w1=0.5", "w2=-1", "x1=1", "x2=2", "y=3"]




def same_expression(text: str, expected: sp.Expr) -> bool:
    """`text` (dlcalc's output) parsed back equals `expected` built with SymPy directly."""
    return sp.simplify(parse_expression(text) - expected) == 0


x, y = sp.symbols("x y", real=True)


# ---------------------------------------------------------------- issue #4: done when


def test_piped_gradient_of_the_notes_example_is_exactly_2xy_and_x2_plus_cos_y(dl):
    run = dl("grad", NOTES_F, "--at", "x=1", "y=2")
    assert run.code == 0 and run.err == ""
    # ∂f/∂x = 2xy = 4; ∂f/∂y = x² + cos y = 1 + cos 2, correctly rounded.
    assert run.out == "4 0.5838531634528576\n"
    assert float(run.words[1]) == 1 + math.cos(2)


def test_table_shows_the_partials_as_the_notes_write_them(dl):
    run = dl("grad", NOTES_F, "--at", "x=1", "y=2", "-f", "table")
    assert run.code == 0
    rows = {line.split()[0]: line for line in run.out.splitlines()[2:]}
    assert "2·x·y" in rows["x"] and rows["x"].split()[-1] == "4"
    assert "x² + cos(y)" in rows["y"] and rows["y"].split()[-1] == "0.583853"


def test_plain_without_a_point_prints_partials_one_per_line_that_parse_back(dl):
    run = dl("grad", NOTES_F)
    assert run.code == 0 and run.err == ""
    lines = run.out.splitlines()
    assert len(lines) == 2
    f = x**2 * y + sp.sin(y)
    assert same_expression(lines[0], sp.diff(f, x))
    assert same_expression(lines[1], sp.diff(f, y))


def test_table_partials_parse_back_too(dl):
    # The Unicode text (·, ², −) is also readable by the parser.
    run = dl("grad", "exp(-x)*y^3 - x/y", "-f", "csv")
    assert run.code == 0
    rows = run.out.splitlines()[1:]
    f = sp.exp(-x) * y**3 - x / y
    for row, variable in zip(rows, (x, y)):
        name, text = row.split(",", 1)
        assert name == variable.name
        assert same_expression(text, sp.diff(f, variable))


def test_notes_loss_gradient_equals_the_closed_form_and_agrees_with_finite_differences(dl):
    run = dl("grad", NOTES_L, "--wrt", "w1,w2", "--at", *NOTES_L_POINT, "--check", "--json")
    assert run.code == 0 and run.err == ""
    data = strict_json(run.out)
    w1, w2, x1, x2, target = 0.5, -1.0, 1.0, 2.0, 3.0
    residual = w1 * x1 + w2 * x2 - target  # 0.5 - 2 - 3 = -4.5
    assert data["gradient"] == [2 * residual * x1, 2 * residual * x2] == [-9.0, -18.0]
    assert data["variables"] == ["w1", "w2"]
    difference = data["check"]["max_relative_difference"]
    assert 0 <= difference < 1e-8
    assert np.allclose(data["check"]["finite_difference"], [-9.0, -18.0], rtol=1e-8)


def test_check_prints_the_largest_relative_difference_in_the_table(dl):
    run = dl("grad", NOTES_L, "--wrt", "w1,w2", "--at", *NOTES_L_POINT, "--check", "-f", "table")
    assert run.code == 0
    line = next(l for l in run.out.splitlines() if "largest relative difference" in l)
    assert float(line.split()[-1]) < 1e-8
    assert "finite difference" in run.out.splitlines()[0]


def test_check_finds_nothing_to_complain_about_on_a_curvy_expression(dl):
    # Central differences with h = ε^(1/3) agree to about 1e-10 on smooth functions.
    run = dl("grad", "sigmoid(a*b) * tanh(b) + log(1 + a^2) / b", "--at", "a=0.7", "b=-1.3",
             "--check", "--json")
    data = strict_json(run.out)
    assert data["check"]["max_relative_difference"] < 1e-8


# ---------------------------------------------------------------- --steps


def test_steps_of_e_to_the_minus_x_name_the_chain_rule_with_u_and_du_dx(dl):
    run = dl("grad", "exp(-x)", "--steps", "--json")
    assert run.code == 0
    steps = strict_json(run.out)["steps"]
    chain = [s for s in steps if s["rule"] == "chain"]
    assert chain and "let u = −x" in chain[0]["text"]
    inner = [s for s in steps if s["text"].startswith("du/dx")]
    assert inner and inner[0]["text"].endswith("= −1")
    assert any(s["rule"] == "exponential" and "e^u" in s["text"] for s in steps)
    # The last step is the answer the table gives: −e^(−x), as in the notes.
    assert steps[-1]["text"].endswith("= −e^(−x)")
    assert strict_json(run.out)["partials"] == {"x": "-exp(-x)"}


def test_steps_in_a_table_come_before_the_partials(dl):
    run = dl("grad", "exp(-x)", "--steps", "-f", "table")
    lines = run.out.splitlines()
    assert "[chain]" in lines[0] and "let u = −x" in lines[0]
    assert any("−e^(−x)" in line and line.startswith("x ") for line in lines)


@pytest.mark.parametrize("expression, rule", [
    ("x*sin(x)", "product"),
    ("sin(x)/x", "quotient"),
    ("x^3", "power"),
    ("x + sin(x)", "sum"),
    ("sigmoid(x)", "activation"),
    ("3*x^2", "constant multiple"),
    ("exp(x)", "exponential"),
    ("log(x)", "logarithm"),
    ("cos(x)", "trigonometric"),
    ("sin(x^2)", "chain"),
])
def test_steps_name_the_rule_applied(dl, expression, rule):
    run = dl("grad", expression, "--steps", "--json")
    assert run.code == 0
    data = strict_json(run.out)
    assert rule in [s["rule"] for s in data["steps"]]
    # and the derivation ends on the same derivative as the partials
    assert same_expression(data["partials"]["x"], sp.diff(parse_expression(expression), x))


def test_steps_in_latex_keep_words_out_of_the_maths(dl):
    # "let u" outside \text would be typeset as the product l·e·t·u, without spaces.
    run = dl("grad", "exp(-x)", "--steps", "-f", "latex")
    assert run.code == 0
    assert r"\text{: let }u = - x\text{, so }" in run.out
    run = dl("grad", "w1*x1", "--steps", "-f", "latex")
    assert r"\left(x_{1}\text{ is treated as a constant}\right)" in run.out
    assert "\\text{(x_{1}" not in run.out


# ---------------------------------------------------------------- --hessian


def test_hessian_of_the_notes_example_equals_its_closed_form_at_a_point(dl):
    run = dl("grad", NOTES_F, "--hessian", "--at", "x=1", "y=2", "--json")
    assert run.code == 0
    data = strict_json(run.out)
    # ∂²/∂x² = 2y, ∂²/∂x∂y = 2x, ∂²/∂y² = −sin y
    assert data["hessian"] == [[4.0, 2.0], [2.0, -math.sin(2)]]
    assert data["hessian_expressions"] == [["2*y", "2*x"], ["2*x", "-sin(y)"]]


def test_hessian_without_a_point_is_expressions_equal_to_sympys(dl):
    run = dl("grad", "x*sigmoid(x)*y + exp(-x*y)", "--hessian", "--json")
    data = strict_json(run.out)
    sig = 1 / (1 + sp.exp(-x))
    f = x * sig * y + sp.exp(-x * y)
    for i, a in enumerate((x, y)):
        for j, b in enumerate((x, y)):
            got = parse_expression(data["hessian"][i][j]).rewrite(sp.exp)
            assert sp.simplify(got - sp.diff(f, a, b)) == 0, (i, j)


def test_hessian_table_is_labelled_by_the_variables_in_wrt_order(dl):
    run = dl("grad", NOTES_F, "--hessian", "--wrt", "y,x", "--at", "x=1", "y=2", "-f", "table")
    lines = run.out.splitlines()
    start = lines.index("Hessian ∂²f/∂v_i∂v_j")
    assert lines[start + 1].split() == ["y", "x"]
    assert lines[start + 2].split() == ["y", "-0.909297", "2"]
    assert lines[start + 3].split() == ["x", "2", "4"]


def test_hessian_equals_torch_autograd(dl):
    torch = pytest.importorskip("torch")
    point = {"a": 0.3, "b": -1.2, "c": 2.0}
    run = dl("grad", "sigmoid(a*b) * c + exp(-a*c) * b^2 + log(1 + a^2)",
             "--hessian", "--at", *[f"{k}={v}" for k, v in point.items()], "--json")
    assert run.code == 0

    def f(v):
        a, b, c = v
        return torch.sigmoid(a * b) * c + torch.exp(-a * c) * b**2 + torch.log(1 + a**2)

    expected = torch.autograd.functional.hessian(f, torch.tensor(list(point.values()), dtype=torch.float64))
    assert np.allclose(strict_json(run.out)["hessian"], expected.numpy(), rtol=1e-12, atol=1e-14)


def test_gradient_equals_torch_autograd(dl):
    torch = pytest.importorskip("torch")
    run = dl("grad", "gelu(a) * softplus(b) - relu(a - b) / (1 + b^2)", "--at", "a=0.4", "b=-0.9")
    a = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.9, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.gelu(a) * torch.nn.functional.softplus(b) - torch.relu(a - b) / (1 + b**2)
    loss.backward()
    assert np.allclose([float(w) for w in run.words], [a.grad.item(), b.grad.item()], rtol=1e-13)


# ---------------------------------------------------------------- --wrt and --at


def test_wrt_chooses_and_orders_the_variables(dl):
    run = dl("grad", NOTES_F, "--wrt", "y,x", "--at", "x=1", "y=2", "--json")
    data = strict_json(run.out)
    assert data["variables"] == ["y", "x"]
    assert data["gradient"] == [1 + math.cos(2), 4.0]
    assert dl("grad", NOTES_F, "--wrt", "y", "--at", "x=1", "y=2").out == "0.5838531634528576\n"


def test_default_variables_are_all_free_variables_sorted(dl):
    data = strict_json(dl("grad", "z*b + a", "--json").out)
    assert data["variables"] == ["a", "b", "z"]
    assert data["partials"] == {"a": "1", "b": "z", "z": "b"}


@pytest.mark.parametrize("args, fragments", [
    (["--wrt", "z"], ["'z' is not a variable", "x, y"]),
    (["--wrt", "y,y"], ["'y' is given twice"]),
    (["--wrt", ","], ["--wrt takes variable names"]),
    (["--at", "x=1"], ["no value for variable 'y'"]),
    (["--at", "x=1", "y=2", "z=3"], ["'z' is not a variable", "x, y"]),
    (["--at", "x=1", "y=2", "y=3"], ["y twice"]),
    (["--at", "x=abc", "y=2"], ["'abc'", "value of x"]),
    (["--at", "x"], ["NAME=VALUE"]),
    (["--check"], ["--check compares at a point", "--at"]),
])
def test_bad_wrt_and_at_are_errors_naming_the_problem(dl, args, fragments):
    assert_user_error(dl("grad", NOTES_F, *args), *fragments)


def test_a_missing_value_is_named_before_any_differentiation(dl, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("differentiated before checking the point")

    monkeypatch.setattr(symbolic, "gradient", never)
    assert_user_error(dl("grad", NOTES_F, "--at", "x=1"), "no value for variable 'y'")


def test_a_constant_has_nothing_to_differentiate(dl):
    assert_user_error(dl("grad", "3 + pi"), "no variables")


def test_a_pole_gives_inf_with_one_warning_line_not_a_python_warning(dl):
    run = dl("grad", "1/x", "--at", "x=0", "--check", "--hessian", "--json")
    assert run.code == 0
    data = strict_json(run.out)
    assert data["gradient"] == ["-inf"] and data["hessian"] == [["inf"]]
    warnings = run.err.splitlines()
    assert all(line.startswith("warning: ") for line in warnings), run.err
    assert len(warnings) == len(set(warnings)) == 2  # −1/x² once (not again for --check), 2/x³ once
    assert "NumericWarning" not in run.err and ".py:" not in run.err


# ---------------------------------------------------------------- formats


def test_json_has_every_required_key(dl):
    run = dl("grad", NOTES_F, "--at", "x=1", "y=2", "--steps", "--hessian", "--json")
    data = strict_json(run.out)
    for key in ("expression", "variables", "partials", "at", "gradient", "steps", "hessian"):
        assert key in data, key
    assert data["expression"] == NOTES_F
    assert data["partials"] == {"x": "2*x*y", "y": "x**2 + cos(y)"}
    assert data["at"] == {"x": 1.0, "y": 2.0}
    assert all({"rule", "text", "latex", "depth"} <= set(step) for step in data["steps"])


def test_json_without_a_point_has_no_gradient(dl):
    data = strict_json(dl("grad", NOTES_F, "--json").out)
    assert "gradient" not in data and "at" not in data


def test_csv_has_a_header_and_a_row_per_variable(dl):
    run = dl("grad", NOTES_F, "--at", "x=1", "y=2", "-f", "csv")
    # ASCII headers, expressions as grad reads them back, the point as columns
    assert run.out.splitlines() == ["variable,partial,value,at_x,at_y",
                                    "x,2*x*y,4,1,2", "y,x**2 + cos(y),0.5838531634528576,1,2"]


def test_markdown_writes_partials_in_latex_with_the_variables_as_latex_prints_them(dl):
    run = dl("grad", NOTES_L, "--wrt", "w1,w2", "--at", *NOTES_L_POINT, "-f", "markdown")
    assert run.code == 0
    assert "| $w_{1}$ | $\\frac{\\partial f}{\\partial w_{1}} = 2 x_{1}" in run.out
    assert "\\partial w1" not in run.out  # the name as typed would not match w_{1} in the partial
    assert run.out.splitlines()[1].startswith("|:---")


def test_latex_is_an_aligned_block_of_the_partials(dl):
    run = dl("grad", NOTES_F, "-f", "latex")
    assert run.out.splitlines() == [
        r"\begin{aligned}",
        r"\frac{\partial f}{\partial x} &= 2 x y \\",
        r"\frac{\partial f}{\partial y} &= x^{2} + \cos{\left(y \right)}",
        r"\end{aligned}",
    ]


def test_precision_applies_to_the_table(dl):
    run = dl("grad", NOTES_F, "--at", "x=1", "y=2", "-f", "table", "--precision", "3")
    assert run.out.splitlines()[3].split()[-1] == "0.584"


# ---------------------------------------------------------------- safety and bounds


@pytest.mark.parametrize("template, column", [
    ("__import__('os').system('touch {sentinel}')", "column 17"),
    ("open('{sentinel}', 'w')", "column 1"),
    ("(lambda: open('{sentinel}', 'w'))()", "calling something other than a function name at column 1"),
    ("[open('{sentinel}', 'w') for _ in (1,)]", "column 1"),
    ("x if open('{sentinel}', 'w') else x", "column 1"),
    ("exec(\"open('{sentinel}', 'w')\")", "unknown function 'exec'"),
    ("eval(\"open('{sentinel}', 'w')\")", "unknown function 'eval'"),
    ("x.__class__.__init__.__globals__", "column 2"),
])
def test_python_in_the_expression_is_an_error_and_is_never_run(dl, tmp_path, template, column):
    sentinel = tmp_path / "ran"
    run = dl("grad", template.format(sentinel=sentinel))
    assert_user_error(run, column)
    assert not sentinel.exists()


def test_python_injection_through_the_real_command_runs_nothing(dl_process, tmp_path):
    sentinel = tmp_path / "ran"
    done = dl_process("grad", f"__import__('os').system('touch {sentinel}')")
    assert done.returncode == 2
    assert done.stderr.decode().startswith("error: '.' (attribute access) at column 17")
    assert "Traceback" not in done.stderr.decode() and done.stdout == b""
    assert not sentinel.exists()


BOMBS = [
    ("9**9**9**9", "the power at column 5 is too large"),
    ("x**(10**100)", "the exponent"),
    ("(" * 5000 + "x" + ")" * 5000, "characters long"),
    ("(" * 150 + "x" + ")" * 150, "nests parentheses more than 100 deep"),
    ("-" * 1500 + "x", "nested too deeply"),
    ("x+" * 500_000 + "x", "1,000,001 characters long"),  # 1 MB: in-process, argv holds 128 KiB
    ("10**300 * 10**300 * 10**300 * 10**300 * 10**300 * 10**300 * 10**300 * 10**300 * 10**300 * 10**300 * 10**300", "too large"),
]


@pytest.mark.parametrize("expression, fragment", BOMBS, ids=lambda v: v[:20] if isinstance(v, str) else v)
def test_expression_bombs_are_refused_quickly(dl, expression, fragment):
    dl("grad", "x")  # SymPy imported before the clock starts
    started = time.perf_counter()
    run = dl("grad", expression, "--at", "x=1")
    elapsed = time.perf_counter() - started
    assert_user_error(run, fragment)
    assert elapsed < 2.0, elapsed  # SPEC §6: bounded in time


def test_a_bomb_as_a_real_argument_fails_cleanly(dl_process):
    # 100,000 characters: under Linux's 128 KiB limit for one argv string.
    done = dl_process("grad", "x*" * 50_000 + "x")
    assert done.returncode == 2
    assert done.stderr.decode().startswith("error: the expression is 100,001 characters long")


def test_all_work_on_one_expression_shares_one_time_bound(dl, monkeypatch):
    # Each piece (partials, values, --check, --hessian, each variable's --steps) is bounded on
    # its own; the command as a whole must be too, or 16 variables' --steps take 16 times as
    # long. Here each variable's derivation takes 0.4 s, within its own 0.5 s bound: 6.4 s in
    # all without a bound on the whole, 3 × 0.5 s with it.
    from dlcalc import derivation

    calls = []

    def slow_steps(expr, variable, form="notes"):
        calls.append(variable)
        time.sleep(0.4)
        return []

    monkeypatch.setattr(symbolic, "DIFFERENTIATE_SECONDS", 0.5)
    monkeypatch.setattr(derivation, "derivation_steps", slow_steps)
    dl("grad", "x")
    run = dl("grad", "+".join("abcdefghijklmnop"), "--steps")
    assert_user_error(run, "took longer than 1.5 s")
    # 0.4 s or more each: the 1.5 s bound stops the command in its 4th derivation at the latest,
    # however loaded the machine (a slower machine only reaches fewer); all 16 without it
    assert len(calls) <= 4, calls


# ---------------------------------------------------------------- errors with columns


@pytest.mark.parametrize("expression, fragments", [
    ("x +* y", ["invalid syntax at column 4 ('*')"]),
    ("x $ y", ["column 3 ('$')"]),
    ("foo(x)", ["unknown function 'foo' at column 1", "sigmoid"]),
    ("x**2 + y)", ["unmatched ')' at column 9"]),
    ("(x", ["'(' was never closed at column 1"]),
    ("x // 2", ["'//' at column 3"]),
    ("x % 2", ["'%' at column 3"]),
    ("2*x.real", ["attribute access) at column 4"]),
    ("x[0]", ["subscript) at column 1"]),
    ("'x'", ["a string at column 1"]),
    ("2j*x", ["imaginary number at column 1"]),
    ("sigmoid(x, y)", ["sigmoid at column 1 takes 1 argument, got 2"]),
    ("x/0", ["division by zero at column 2"]),
    ("x · y · _z", ["'_z' at column 9"]),
    ("", ["empty"]),
])
def test_bad_expressions_name_the_token_and_its_column(dl, expression, fragments):
    assert_user_error(dl("grad", expression), *fragments)


# ---------------------------------------------------------------- start-up cost


def imported_packages(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dlcalc", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    packages = set()
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", line)
        if match:
            packages.add(match.group(1).split(".")[0])
    assert "numpy" in packages  # the parse works: numpy is always there
    return packages


@pytest.mark.parametrize("args", [["softmax", "2", "1", "0.1"], ["activate", "sigmoid", "0"]])
def test_commands_without_symbolic_work_import_no_heavy_library(args):
    heavy = imported_packages(*args) & {"sympy", "scipy", "matplotlib", "rich"}
    assert not heavy, heavy


def test_grad_imports_sympy_and_nothing_for_plots():
    packages = imported_packages("grad", "x*y")
    assert "sympy" in packages
    assert not packages & {"matplotlib", "rich"}
