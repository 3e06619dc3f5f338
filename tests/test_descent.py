"""Gradient descent follows torch.optim step for step (oracle: torch.optim in float64)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from dlcalc import descent
from dlcalc.errors import DlcalcError, NumericWarning
from dlcalc.expression import parse_expression

torch = pytest.importorskip("torch")

# (expression, torch function of the moving variables, moving variables, data, start)
PROBLEMS = {
    "bowl": ("x**2 + 3*y**2", lambda x, y: x ** 2 + 3 * y ** 2, ["x", "y"], {}, [1.5, -2.0]),
    # the notes' loss, with one data point (x1, x2, y) held fixed
    "regression": ("(w1*x1 + w2*x2 - y)**2",
                   lambda w1, w2: (w1 * 1.0 + w2 * 2.0 - 3.0) ** 2,
                   ["w1", "w2"], {"x1": 1.0, "x2": 2.0, "y": 3.0}, [0.5, -1.0]),
    "rosenbrock": ("(1 - x)**2 + 100*(y - x**2)**2",
                   lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
                   ["x", "y"], {}, [-1.5, 2.0]),
}

# (dlcalc optimizer, -p settings as text, torch class, torch keyword arguments)
SETTINGS = [
    ("sgd", {}, "SGD", {}),
    ("sgd", {"weight_decay": "0.1", "maximize": "false"}, "SGD", {"weight_decay": 0.1}),
    ("momentum", {}, "SGD", {"momentum": 0.9}),
    ("momentum", {"momentum": "0.5", "dampening": "0.3"}, "SGD", {"momentum": 0.5, "dampening": 0.3}),
    ("nesterov", {}, "SGD", {"momentum": 0.9, "nesterov": True}),
    ("nesterov", {"momentum": "0.7", "weight_decay": "0.01"}, "SGD",
     {"momentum": 0.7, "nesterov": True, "weight_decay": 0.01}),
    ("adagrad", {}, "Adagrad", {}),
    ("adagrad", {"lr_decay": "0.01", "initial_accumulator_value": "0.1", "eps": "1e-6",
                 "weight_decay": "0.05"}, "Adagrad",
     {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-6, "weight_decay": 0.05}),
    ("rmsprop", {}, "RMSprop", {}),
    ("rmsprop", {"alpha": "0.9", "centered": "true", "momentum": "0.5"}, "RMSprop",
     {"alpha": 0.9, "centered": True, "momentum": 0.5}),
    ("rmsprop", {"weight_decay": "0.1", "eps": "1e-4"}, "RMSprop", {"weight_decay": 0.1, "eps": 1e-4}),
    ("adam", {}, "Adam", {}),
    ("adam", {"betas": "0.8,0.99", "amsgrad": "true", "weight_decay": "0.1"}, "Adam",
     {"betas": (0.8, 0.99), "amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {}, "AdamW", {}),
    ("adamw", {"weight_decay": "0.1", "amsgrad": "true", "eps": "1e-6"}, "AdamW",
     {"weight_decay": 0.1, "amsgrad": True, "eps": 1e-6}),
]

LEARNING_RATES = {"bowl": 0.05, "regression": 0.02, "rosenbrock": 1e-3}
# PyTorch's CPU kernels may fuse param + α·grad into one FMA (its AVX2 build does), rounding
# once where dlcalc, like PyTorch without FMA, rounds twice: at most one ulp per step, which
# Rosenbrock's curved valley amplifies under momentum; 150 steps stay within 1e-12 either way.
STEPS = {"bowl": 300, "regression": 300, "rosenbrock": 150}


def run_torch(function, start, torch_class, kwargs, lr, steps, gradient=None):
    """torch.optim in float64 (single-tensor path), one 0-d tensor per variable. With
    `gradient`, p.grad is set from it (the same ∇f as dlcalc's); else autograd computes it."""
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in start]
    optimizer = getattr(torch.optim, torch_class)(params, lr=lr, foreach=False, **kwargs)
    rows = [[p.item() for p in params]]
    for _ in range(steps):
        optimizer.zero_grad()
        if gradient is None:
            function(*params).backward()
        else:
            for p, g in zip(params, gradient([p.item() for p in params])):
                p.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        rows.append([p.item() for p in params])
    return np.array(rows)


def relative_difference(ours, theirs):
    """Largest difference at a step relative to the size of that step's point (max norm): a
    variable passing through 0 does not turn one ulp of its neighbour into a large ratio."""
    scale = np.maximum(np.max(np.abs(theirs), axis=1), np.finfo(float).tiny)
    return float(np.max(np.max(np.abs(ours - theirs), axis=1) / scale))


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("optimizer,given,torch_class,kwargs", SETTINGS)
def test_trajectory_matches_torch_optim_with_the_same_gradient(problem, optimizer, given,
                                                                torch_class, kwargs):
    text, function, moving, data, start = PROBLEMS[problem]
    lr = LEARNING_RATES[problem]
    value, gradient = descent.compile_objective(parse_expression(text), moving, data)
    steps = STEPS[problem]
    if kwargs.get("centered") and problem != "regression":
        # near a minimum, centered RMSprop's v − ḡ² cancels and turns PyTorch's fused roundings
        # into large relative differences; 20 steps are far from it
        steps = 20
    ours = descent.descend(value, gradient, start, variables=moving, steps=steps,
                           optimizer=optimizer, lr=lr, params=given)
    theirs = run_torch(function, start, torch_class, kwargs, lr, steps, gradient=gradient)
    assert ours.points.shape == theirs.shape
    assert relative_difference(ours.points, theirs) <= 1e-12


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("optimizer,given,torch_class,kwargs", SETTINGS[::2])
def test_trajectory_matches_torch_optim_with_autograd(problem, optimizer, given, torch_class, kwargs):
    # autograd's ∇f rounds differently from the symbolic one in the last bit: a few steps stay
    # within 1e-12 even where momentum amplifies the difference (Rosenbrock's valley)
    text, function, moving, data, start = PROBLEMS[problem]
    lr = LEARNING_RATES[problem]
    value, gradient = descent.compile_objective(parse_expression(text), moving, data)
    ours = descent.descend(value, gradient, start, variables=moving, steps=100,
                           optimizer=optimizer, lr=lr, params=given)
    theirs = run_torch(function, start, torch_class, kwargs, lr, 100)
    assert relative_difference(ours.points, theirs) <= 1e-12


def test_the_trajectory_records_f_and_the_gradient_norm_at_each_kept_point():
    value, gradient = descent.compile_objective(parse_expression("x**2 + 3*y**2"), ["x", "y"], {})
    found = descent.descend(value, gradient, [1.0, 1.0], variables=["x", "y"], steps=10, every=4)
    assert found.iterations.tolist() == [0, 4, 8, 10]  # every 4th, and the last
    x, y = found.points.T
    np.testing.assert_array_equal(found.values, x ** 2 + 3 * y ** 2)
    np.testing.assert_allclose(found.gradient_norms, np.hypot(2 * x, 6 * y), rtol=1e-15)
    # SGD on x² with lr 0.1: x ← 0.8·x, a closed form
    assert found.points[1, 0] == pytest.approx(0.8 ** 4, rel=1e-15)


def test_data_variables_are_held_fixed():
    value, gradient = descent.compile_objective(parse_expression("(w - y)**2"), ["w"], {"y": 3.0})
    found = descent.descend(value, gradient, [0.0], variables=["w"], steps=200)
    assert found.points[-1, 0] == pytest.approx(3.0, rel=1e-12)


def test_divergence_stops_with_a_warning_naming_the_step():
    value, gradient = descent.compile_objective(parse_expression("x**4"), ["x"], {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = descent.descend(value, gradient, [10.0], variables=["x"], steps=1000, lr=1.0)
    messages = [str(w.message) for w in caught if issubclass(w.category, NumericWarning)]
    assert found.stopped_at is not None and found.stopped_at < 1000
    assert messages and f"step {found.stopped_at}" in messages[0] and "lr too large" in messages[0]
    assert found.iterations[-1] == found.stopped_at
    assert not math.isfinite(found.values[-1]) or not np.isfinite(found.points[-1]).all()


def test_pytorch_defaults_and_dlcalc_learning_rate():
    assert descent.DEFAULT_LR == 0.1
    assert descent.settings(descent.lookup("adam"), 0.1, {})["betas"] == (0.9, 0.999)
    assert descent.settings(descent.lookup("adamw"), 0.1, {})["weight_decay"] == 0.01
    assert descent.settings(descent.lookup("adagrad"), 0.1, {})["eps"] == 1e-10
    assert descent.settings(descent.lookup("RMSprop"), 0.1, {})["alpha"] == 0.99
    assert descent.settings(descent.lookup("momentum"), 0.1, {})["momentum"] == 0.9


@pytest.mark.parametrize("name,lr,given,fragment", [
    ("adma", 0.1, {}, "did you mean 'adam'"),
    ("adam", -1, {}, "positive"),
    ("adam", 0.1, {"momentum": "0.9"}, "has no parameter 'momentum'"),
    ("adam", 0.1, {"betas": "0.9"}, "betas takes 2 numbers"),
    ("adam", 0.1, {"betas": "1,0.9"}, "betas[0]"),
    ("adam", 0.1, {"amsgrad": "maybe"}, "true or false"),
    ("nesterov", 0.1, {"dampening": "0.1"}, "Nesterov"),
    ("rmsprop", 0.1, {"alpha": "-1"}, "alpha must be"),
    ("sgd", 0.1, {"lr": "1"}, "learning rate"),
])
def test_bad_settings_are_errors(name, lr, given, fragment):
    with pytest.raises(DlcalcError, match=None) as raised:
        descent.settings(descent.lookup(name), lr, given)
    assert fragment in str(raised.value)


def test_ten_thousand_steps_are_one_compiled_gradient_call_each():
    calls = []
    value, gradient = descent.compile_objective(parse_expression("x**2"), ["x"], {})

    def counted(theta):
        calls.append(1)
        return gradient(theta)

    descent.descend(value, counted, [1.0], variables=["x"], steps=10_000, every=1000)
    assert len(calls) == 10_001  # one per point: the symbolic work was done once, before
