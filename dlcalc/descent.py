r"""Gradient descent with PyTorch's optimizers, step for step (SPEC §6, `grad --descend`).

Each optimizer is `torch.optim`'s single-tensor algorithm (`foreach=False`) in float64, with
PyTorch's parameter names and defaults and its order of operations, so that a trajectory
matches `torch.optim` to rounding (tests/test_descent.py runs both side by side; PyTorch's
CPU kernels may fuse θ + α·g into one FMA where dlcalc rounds twice, as PyTorch's own
definition does without FMA: at most one ulp per step apart):

- sgd       θ ← θ − lr·g                                   (torch.optim.SGD)
- momentum  b ← μ·b + (1 − τ)·g (b₁ = g);  θ ← θ − lr·b       (SGD, momentum=0.9)
- nesterov  the same b;  θ ← θ − lr·(g + μ·b)              (SGD, momentum=0.9, nesterov=True)
- adagrad   s ← s + g²;  θ ← θ − lr/(1 + (t − 1)·lr_decay) · g/(√s + eps)
- rmsprop   v ← α·v + (1 − α)·g²;  θ ← θ − lr·g/(√v + eps)   (centered, momentum as PyTorch)
- adam      m ← lerp(m, g, 1 − β₁), v ← β₂·v + (1 − β₂)·g²;
            θ ← θ − lr/(1 − β₁ᵗ) · m/(√v/√(1 − β₂ᵗ) + eps)      (amsgrad as PyTorch)
- adamw     adam with θ ← θ·(1 − lr·weight_decay) first (weight_decay 0.01)

Here g is ∂f/∂θ (−∂f/∂θ with maximize=true), plus weight_decay·θ where PyTorch adds it.

The one default that is dlcalc's own: lr is 0.1 for every optimizer (PyTorch's are 1e-3 for
Adam and AdamW, 1e-2 for Adagrad and RMSprop, and SGD has none), so that a few steps move
visibly; and `momentum`/`nesterov` are SGD with momentum 0.9 (PyTorch's SGD default is 0).

Each variable is one scalar parameter, updated with Python floats (IEEE float64, one rounding
per operation, in PyTorch's order), which for a handful of variables is far faster than NumPy
arrays. The compiled gradient is called with Python floats too (NumPy scalars only where those
raise, as on overflow): 10,000 steps on Rosenbrock's function take about 0.15 s.
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from dlcalc.errors import DlcalcError, NumericWarning

DEFAULT_LR = 0.1
# More steps than this would be a mistake (or hours of output): the trajectory is kept in memory.
MAX_STEPS = 10_000_000

_SGD = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False, "maximize": False}
_ADAM = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "maximize": False}


@dataclass(frozen=True)
class Optimizer:
    """One optimizer: its name, the torch.optim class it follows, its parameters' defaults."""

    name: str
    torch_class: str
    defaults: Mapping[str, Any]
    summary: str


OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("sgd", "SGD", _SGD, "plain gradient descent θ ← θ − lr·∇f"),
    Optimizer("momentum", "SGD", {**_SGD, "momentum": 0.9}, "SGD with momentum 0.9 (heavy ball)"),
    Optimizer("nesterov", "SGD", {**_SGD, "momentum": 0.9, "nesterov": True},
              "SGD with Nesterov momentum 0.9"),
    Optimizer("adagrad", "Adagrad", {"lr_decay": 0.0, "weight_decay": 0.0,
                                     "initial_accumulator_value": 0.0, "eps": 1e-10,
                                     "maximize": False}, "per-variable steps shrinking with Σg²"),
    Optimizer("rmsprop", "RMSprop", {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0,
                                     "momentum": 0.0, "centered": False, "maximize": False},
              "steps scaled by a running mean of g²"),
    Optimizer("adam", "Adam", _ADAM, "momentum and RMSprop scaling, bias-corrected"),
    Optimizer("adamw", "AdamW", {**_ADAM, "weight_decay": 0.01}, "Adam with decoupled weight decay"),
)}

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def lookup(name: str) -> Optimizer:
    """The optimizer called `name` (any case); unknown names get a suggestion."""
    key = name.strip().lower()
    if key in OPTIMIZERS:
        return OPTIMIZERS[key]
    close = difflib.get_close_matches(key, list(OPTIMIZERS), n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise DlcalcError(f"unknown optimizer {name!r}; {hint}choose one of {', '.join(OPTIMIZERS)}")


def settings(optimizer: Optimizer, lr: float, given: Mapping[str, str]) -> dict[str, Any]:
    """The optimizer's full settings: its defaults, `lr`, and the parameters in `given`
    (NAME → text: a number, `0.9,0.999` for betas, true/false for flags), checked as
    torch.optim checks them."""
    chosen: dict[str, Any] = {"lr": _number("lr", lr)}
    chosen.update(optimizer.defaults)
    for name, text in given.items():
        if name == "lr":
            raise DlcalcError("the learning rate is set once, as lr, not as a parameter too")
        if name not in optimizer.defaults:
            raise DlcalcError(f"{optimizer.name} has no parameter {name!r}; its parameters: "
                              f"{', '.join(optimizer.defaults)}")
        chosen[name] = _parse_setting(name, text, optimizer.defaults[name])
    _validate(optimizer, chosen)
    return chosen


def _number(name: str, value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise DlcalcError(f"{name} = {value!r} is not a finite number")
    return number


def _parse_setting(name: str, text: str, default: Any) -> Any:
    text = str(text).strip()
    if isinstance(default, bool):
        if text.lower() not in _BOOLEANS:
            raise DlcalcError(f"{name} is true or false; got {text!r}")
        return _BOOLEANS[text.lower()]
    if isinstance(default, tuple):
        parts = [part for part in text.strip("()[]").replace(",", " ").split() if part]
        if len(parts) != len(default):
            raise DlcalcError(f"{name} takes {len(default)} numbers such as "
                              f"{','.join(map(str, default))}; got {text!r}")
        return tuple(_parse_number(name, part) for part in parts)
    return _parse_number(name, text)


def _parse_number(name: str, text: str) -> float:
    try:
        return _number(name, text)
    except ValueError:
        raise DlcalcError(f"{name} takes a number; got {text!r}") from None


def _validate(optimizer: Optimizer, chosen: Mapping[str, Any]) -> None:
    """torch.optim's own checks (its ValueErrors), plus lr > 0: a zero step never moves."""
    if chosen["lr"] <= 0:
        raise DlcalcError(f"the learning rate must be positive; got lr = {chosen['lr']:g}")
    for name in ("momentum", "weight_decay", "eps", "lr_decay", "initial_accumulator_value", "alpha"):
        if name in chosen and chosen[name] < 0:
            raise DlcalcError(f"{name} must be ≥ 0 (as in torch.optim.{optimizer.torch_class}); "
                              f"got {chosen[name]:g}")
    if "betas" in chosen:
        for i, beta in enumerate(chosen["betas"]):
            if not 0 <= beta < 1:
                raise DlcalcError(f"betas[{i}] must be in [0, 1); got {beta:g}")
    if chosen.get("nesterov") and (chosen["momentum"] <= 0 or chosen["dampening"] != 0):
        raise DlcalcError("Nesterov momentum needs momentum > 0 and dampening = 0 "
                          "(as in torch.optim.SGD)")


@dataclass
class Trajectory:
    """The points of a descent: row i is iteration `iterations[i]` (0 is the start)."""

    optimizer: str
    settings: dict[str, Any]
    variables: list[str]
    iterations: np.ndarray  # int
    points: np.ndarray  # (rows, variables)
    values: np.ndarray  # f at each point
    gradient_norms: np.ndarray  # ‖∇f‖ over the moving variables, at each point
    steps: int  # steps asked for
    stopped_at: int | None = None  # the step whose values were not finite
    extra: dict[str, Any] = field(default_factory=dict)


def descend(value: Callable[[Sequence[float]], float],
            gradient: Callable[[Sequence[float]], Sequence[float]],
            start: Sequence[float], *, variables: Sequence[str], steps: int,
            optimizer: str = "sgd", lr: float = DEFAULT_LR,
            params: Mapping[str, str] | None = None, every: int = 1) -> Trajectory:
    """Run `steps` optimizer steps from `start` on f (`value`) with ∇f (`gradient`), both
    functions of the list of moving variables' values.

    Keeps iteration 0, every `every`-th iteration and the last one. Stops at the first step
    whose point, value or gradient is not finite, keeping that row, with a NumericWarning that
    names the step.
    """
    chosen = lookup(optimizer)
    config = settings(chosen, lr, params or {})
    if not 1 <= steps <= MAX_STEPS:
        raise DlcalcError(f"the number of steps must be 1 to {MAX_STEPS:,}; got {steps}")
    if every < 1:
        raise DlcalcError(f"every must be a positive number of steps; got {every}")
    update = _UPDATES[chosen.torch_class](config, len(start))
    theta = [float(v) for v in start]
    errors = np.seterr(all="ignore")  # NumPy functions of floats: inf and nan, said once below
    try:
        rows, stopped = _run(update, gradient, theta, steps, every)
    finally:
        np.seterr(**errors)
    iterations = np.array([r[0] for r in rows], dtype=np.int64)
    points = np.array([r[1] for r in rows], dtype=np.float64).reshape(len(rows), len(start))
    with np.errstate(all="ignore"):
        values = np.array([float(value(r[1])) for r in rows], dtype=np.float64)
    # math.hypot: the length without overflow or underflow of the squares
    norms = np.array([math.hypot(*r[2]) for r in rows], dtype=np.float64)
    if stopped is None and not np.isfinite(values[-1]):
        stopped = int(iterations[-1])
    if stopped is not None:
        where = ("at the start point" if stopped == 0 else
                 f"at step {stopped} of {steps}")
        hint = "" if stopped == 0 else f" ({chosen.name} with lr = {config['lr']:g}: lr too large?)"
        warnings.warn(NumericWarning(f"the descent stopped {where}: f, a variable or the gradient "
                                     f"is no longer finite{hint}"), stacklevel=2)
    return Trajectory(optimizer=chosen.name, settings=config, variables=list(variables),
                      iterations=iterations, points=points, values=values,
                      gradient_norms=norms, steps=steps, stopped_at=stopped)


def _run(update: Callable[[list[float], list[float]], None],
         gradient: Callable[[Sequence[float]], Sequence[float]], theta: list[float], steps: int,
         every: int) -> tuple[list[tuple[int, list[float], list[float]]], int | None]:
    """The loop: the kept rows (iteration, point, gradient) and the step that was not finite."""
    rows: list[tuple[int, list[float], list[float]]] = []
    g = [float(v) for v in gradient(theta)]
    for t in range(steps + 1):
        finite = all(map(math.isfinite, theta)) and all(map(math.isfinite, g))
        if t % every == 0 or t == steps or not finite:
            rows.append((t, list(theta), g))
        if not finite:
            return rows, t
        if t == steps:
            break
        update(theta, g)
        g = [float(v) for v in gradient(theta)]
    return rows, None


# ---------------------------------------------------------------- the update rules
#
# Each factory returns `update(theta, g)`, which changes the list `theta` in place. The
# comments give the torch.optim line each statement follows; `a + w*(b - a)` is torch's lerp
# for weights below 0.5, `b - (b - a)*(1 - w)` above.


def _sqrt(x: float) -> float:
    """√x as torch.sqrt gives it: NaN below 0 (math.sqrt would raise)."""
    return math.sqrt(x) if x >= 0 else math.nan


def _lerp(start: float, end: float, weight: float) -> float:
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def _sgd(config: Mapping[str, Any], n: int) -> Callable[[list[float], list[float]], None]:
    lr, momentum, dampening = config["lr"], config["momentum"], config["dampening"]
    weight_decay, nesterov, maximize = config["weight_decay"], config["nesterov"], config["maximize"]
    buffers: list[float | None] = [None] * n

    def update(theta: list[float], grads: list[float]) -> None:
        for i in range(n):
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = g + weight_decay * theta[i]  # grad.add(param, alpha=weight_decay)
            if momentum != 0:
                buf = buffers[i]
                if buf is None:
                    buf = g  # first step: buf = grad.clone()
                else:
                    buf = buf * momentum + (1 - dampening) * g  # buf.mul_(m).add_(g, alpha=1-d)
                buffers[i] = buf
                g = g + momentum * buf if nesterov else buf
            theta[i] = theta[i] + (-lr) * g  # param.add_(grad, alpha=-lr)

    return update


def _adagrad(config: Mapping[str, Any], n: int) -> Callable[[list[float], list[float]], None]:
    lr, lr_decay, eps = config["lr"], config["lr_decay"], config["eps"]
    weight_decay, maximize = config["weight_decay"], config["maximize"]
    sums = [float(config["initial_accumulator_value"])] * n
    step = [0.0]

    def update(theta: list[float], grads: list[float]) -> None:
        step[0] += 1
        clr = lr / (1 + (step[0] - 1) * lr_decay)
        for i in range(n):
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = g + weight_decay * theta[i]
            sums[i] = sums[i] + 1.0 * g * g  # state_sum.addcmul_(grad, grad, value=1)
            std = _sqrt(sums[i]) + eps
            theta[i] = theta[i] + (-clr) * g / std  # param.addcdiv_(grad, std, value=-clr)

    return update


def _rmsprop(config: Mapping[str, Any], n: int) -> Callable[[list[float], list[float]], None]:
    lr, alpha, eps = config["lr"], config["alpha"], config["eps"]
    weight_decay, momentum, centered = config["weight_decay"], config["momentum"], config["centered"]
    maximize = config["maximize"]
    square_avg = [0.0] * n
    grad_avg = [0.0] * n
    buffers = [0.0] * n

    def update(theta: list[float], grads: list[float]) -> None:
        for i in range(n):
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                g = g + weight_decay * theta[i]
            # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            square_avg[i] = square_avg[i] * alpha + (1 - alpha) * g * g
            if centered:
                grad_avg[i] = _lerp(grad_avg[i], g, 1 - alpha)
                avg = _sqrt(square_avg[i] + -1.0 * grad_avg[i] * grad_avg[i])
            else:
                avg = _sqrt(square_avg[i])
            avg = avg + eps
            if momentum > 0:
                buffers[i] = buffers[i] * momentum + 1.0 * g / avg  # buf.mul_(m).addcdiv_(g, avg)
                theta[i] = theta[i] + (-lr) * buffers[i]
            else:
                theta[i] = theta[i] + (-lr) * g / avg  # param.addcdiv_(grad, avg, value=-lr)

    return update


def _adam(config: Mapping[str, Any], n: int, decoupled: bool) -> Callable[[list[float], list[float]], None]:
    lr, (beta1, beta2), eps = config["lr"], config["betas"], config["eps"]
    weight_decay, amsgrad, maximize = config["weight_decay"], config["amsgrad"], config["maximize"]
    exp_avg = [0.0] * n
    exp_avg_sq = [0.0] * n
    max_exp_avg_sq = [0.0] * n
    step = [0.0]

    def update(theta: list[float], grads: list[float]) -> None:
        step[0] += 1
        t = step[0]
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        for i in range(n):
            g = -grads[i] if maximize else grads[i]
            if weight_decay != 0:
                if decoupled:
                    theta[i] = theta[i] * (1 - lr * weight_decay)  # param.mul_(1 - lr*wd)
                else:
                    g = g + weight_decay * theta[i]
            exp_avg[i] = _lerp(exp_avg[i], g, 1 - beta1)  # exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq[i] = exp_avg_sq[i] * beta2 + (1 - beta2) * g * g
            if amsgrad:
                max_exp_avg_sq[i] = max(max_exp_avg_sq[i], exp_avg_sq[i])
                denom = _sqrt(max_exp_avg_sq[i]) / bias_correction2_sqrt + eps
            else:
                denom = _sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + eps
            theta[i] = theta[i] + (-step_size) * exp_avg[i] / denom

    return update


_UPDATES: dict[str, Callable[[Mapping[str, Any], int], Callable[[list[float], list[float]], None]]] = {
    "SGD": _sgd,
    "Adagrad": _adagrad,
    "RMSprop": _rmsprop,
    "Adam": lambda config, n: _adam(config, n, decoupled=False),
    "AdamW": lambda config, n: _adam(config, n, decoupled=True),
}


def compile_objective(expression: Any, moving: Sequence[str], data: Mapping[str, float]
                      ) -> tuple[Callable[[Sequence[float]], float],
                                 Callable[[Sequence[float]], list[float]]]:
    """f and ∇f of a SymPy expression as fast functions of the moving variables' values, the
    other variables held at `data`; the gradient is the symbolic one, compiled once."""
    from dlcalc import symbolic

    found = symbolic.gradient(expression, list(moving))
    names = list(moving) + sorted(data)
    held = [float(data[name]) for name in sorted(data)]
    f = symbolic.compiled(expression, names)
    partials = symbolic.compiled([found.partials[name] for name in moving], names)

    held_numpy = [np.float64(v) for v in held]

    # Python floats first (several times faster per call); where they fail (x**3 overflowing
    # raises, 1/0 raises, (-8)**(1/3) is complex) NumPy scalars give the inf or nan that
    # PyTorch's float64 would. Both round each operation once, so their values agree.
    def value(theta: Sequence[float]) -> float:
        try:
            return float(f(*theta, *held))
        except (ArithmeticError, TypeError, ValueError):
            with np.errstate(all="ignore"):
                return float(np.real(f(*map(np.float64, theta), *held_numpy)))

    def gradient(theta: Sequence[float]) -> list[float]:
        try:
            return [float(v) for v in partials(*theta, *held)]
        except (ArithmeticError, TypeError, ValueError):
            with np.errstate(all="ignore"):
                return [float(np.real(v)) for v in partials(*map(np.float64, theta), *held_numpy)]

    return value, gradient


def parse_settings(items: Sequence[str]) -> dict[str, str]:
    """NAME=VALUE items (`momentum=0.9`, `betas=0.9,0.999`, `amsgrad=true`; several in one item
    joined by commas, `momentum=0.9,dampening=0.1`) as NAME → the VALUE's text."""
    import re

    found: dict[str, str] = {}
    for item in items:
        # split at a comma only where a new NAME= follows: betas=0.9,0.999 stays whole
        for part in re.split(r",(?=\s*[A-Za-z_]\w*\s*=)", item):
            name, sep, text = part.partition("=")
            name = name.strip()
            if not sep or not name or not text.strip():
                raise DlcalcError(f"optimizer parameters are NAME=VALUE, such as momentum=0.9 or "
                                  f"betas=0.9,0.999; got {part.strip()!r}")
            if name in found:
                raise DlcalcError(f"the parameter {name} is given twice; give it once")
            found[name] = text.strip()
    return found


@dataclass
class Descent:
    """A descent of an expression: the trajectory, and the variables held as data."""

    expression: str
    trajectory: Trajectory
    data: dict[str, float]


def descend_expression(expression: Any, text: str, point: Mapping[str, float],
                       moving: Sequence[str] | None, *, steps: int, optimizer: str = "sgd",
                       lr: float = DEFAULT_LR, params: Mapping[str, str] | None = None,
                       every: int = 1) -> Descent:
    """Descend a parsed expression from `point` (a value for every variable) moving the
    variables `moving` (default: all of them, sorted); the others are held at their values."""
    from dlcalc import symbolic

    names = sorted(s.name for s in expression.free_symbols)
    if not names:
        raise DlcalcError(f"{text!r} has no variables to descend on")
    symbolic.evaluate_at([], point, variables=names)  # a missing or stray variable, named
    moving = list(moving) if moving else names
    for name in moving:
        if name not in names:
            raise DlcalcError(f"'{name}' is not a variable of the expression; its variables: "
                              f"{', '.join(names)}")
    data = {name: float(point[name]) for name in names if name not in moving}
    start = [float(point[name]) for name in moving]
    for name, value in zip(moving, start):
        if not math.isfinite(value):
            raise DlcalcError(f"the start point must be finite; {name} = {value!r}")
    value, gradient = compile_objective(expression, moving, data)
    found = descend(value, gradient, start, variables=moving, steps=steps, optimizer=optimizer,
                    lr=lr, params=params, every=every)
    return Descent(expression=text, trajectory=found, data=data)
