r"""The notes' derivations in symbols, as data: each a list of `Step`s with its rule named.

- `softmax_jacobian_derivation`: ∂ŷ_i/∂z_k = ŷ_i(δ_ik − ŷ_k), by the quotient rule, through
  Case 1 (i = k) and Case 2 (i ≠ k);
- `log_softmax_jacobian_derivation`: ∂ℓ_i/∂z_k = δ_ik − ŷ_k, as the notes' "Log-Softmax: Full
  Derivation + Gradient" does it (log-softmax identity, sum rule, chain rule, two cases);
- `cross_entropy_gradient_derivation`: the notes' "Why Gradient is ŷ − y": L = −Σ y_i z_i +
  log Σ e^(z_j), both terms differentiated, Σ y_i = 1, ∂L/∂z_k = ŷ_k − y_k;
- `activation_derivation`: f' from the definition for sigmoid, tanh, relu, leaky_relu, gelu,
  softplus and silu (`DERIVED`).

Each then evaluates the result at the user's numbers, which the caller passes in from the core
(the same numbers the command prints), so the derivation always agrees with the answer.

Every symbolic step carries a `Claim`: the equalities it states, as SymPy expressions for a
concrete vector length, with the derivatives left unevaluated. tests/test_symbolic_derivations.py
evaluates both sides at random points, so no step can state something false.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import sympy as sp

from dlcalc.errors import DlcalcError
from dlcalc.explain import _tex, _tvec, _vec, fmt
from dlcalc.steps import Claim, Step

D = sp.Derivative

# --------------------------------------------------------------------------------------------
# Symbols for the claims: a concrete vector length n
# --------------------------------------------------------------------------------------------


def _vectors(n: int):
    z = sp.symbols(f"z0:{n}", real=True)
    y = sp.symbols(f"y0:{n}", real=True)
    total = sp.Add(*[sp.exp(zj) for zj in z])
    probs = [sp.exp(zi) / total for zi in z]
    return z, y, total, probs


def _pairs(case: str, build: Callable) -> Claim:
    """A claim about every (i, k) of the case ("i = k", "i ≠ k" or "all")."""

    def sides(n: int):
        z, y, total, probs = _vectors(n)
        out = []
        for i in range(n):
            for k in range(n):
                if (case == "i = k" and i != k) or (case == "i ≠ k" and i == k):
                    continue
                out += build(z, y, total, probs, i, k)
        return out

    return Claim(sides)


def _each_k(build: Callable, given_sum_one: bool = False) -> Claim:
    """A claim about every k (the component of a gradient)."""

    def sides(n: int):
        z, y, total, probs = _vectors(n)
        return [pair for k in range(n) for pair in build(z, y, total, probs, k)]

    return Claim(sides, given_sum_one)


def _in_x(build: Callable) -> Claim:
    """A claim about functions of x (and of the parameters' symbols)."""
    return Claim(lambda n: build())


def _step(text: str, latex: str, rule: str, depth: int = 0, claim: Claim | None = None) -> Step:
    return Step(text=text, latex=latex, rule=rule, depth=depth, claim=claim)


def _delta(i: int, k: int) -> int:
    return 1 if i == k else 0


# --------------------------------------------------------------------------------------------
# Softmax and log-softmax Jacobians
# --------------------------------------------------------------------------------------------

_SOFTMAX = r"\hat y_i = \frac{e^{z_i}}{\sum_j e^{z_j}}"
_SUM = r"\sum_j e^{z_j}"


def _sum_derivative_step(depth: int) -> Step:
    return _step(
        "∂/∂z_k Σ_j e^(z_j) = Σ_j ∂e^(z_j)/∂z_k = e^(z_k)   (only the term j = k depends on z_k)",
        rf"\frac{{\partial}}{{\partial z_k}} {_SUM} = \sum_j \frac{{\partial e^{{z_j}}}}{{\partial z_k}}"
        r" = e^{z_k} \quad \text{(only the term } j = k \text{ depends on } z_k\text{)}",
        "sum rule, exponential", depth,
        _pairs("all", lambda z, y, S, p, i, k: [(D(S, z[k]), sp.exp(z[k]))]))


def _log_sum_derivative_step(depth: int) -> Step:
    return _step(
        "∂/∂z_k log Σ_j e^(z_j): let u = Σ_j e^(z_j), so (d/du log u)·∂u/∂z_k = (1/u)·e^(z_k)"
        " = e^(z_k) / Σ_j e^(z_j) = ŷ_k",
        rf"\frac{{\partial}}{{\partial z_k}} \log {_SUM} = \frac{{1}}{{u}} \cdot"
        rf" \frac{{\partial u}}{{\partial z_k}} = \frac{{e^{{z_k}}}}{{{_SUM}}} = \hat y_k"
        r" \quad (u = \textstyle\sum_j e^{z_j})",
        "chain rule, logarithm", depth,
        _pairs("all", lambda z, y, S, p, i, k: [(D(sp.log(S), z[k]), sp.exp(z[k]) / S),
                                                (sp.exp(z[k]) / S, p[k])]))


def softmax_jacobian_symbolic(temperature: float = 1.0) -> list[Step]:
    """∂ŷ_i/∂z_k = ŷ_i(δ_ik − ŷ_k), derived with the quotient rule in two cases."""
    steps = [
        _step("ŷ_i = e^(z_i) / Σ_j e^(z_j): find ∂ŷ_i/∂z_k for every i and k",
              rf"{_SOFTMAX} \quad \text{{find }} \frac{{\partial \hat y_i}}{{\partial z_k}}",
              "definition of softmax"),
        _sum_derivative_step(1),
        _step("∂ŷ_i/∂z_k = ((∂e^(z_i)/∂z_k)·Σ_j e^(z_j) − e^(z_i)·e^(z_k)) / (Σ_j e^(z_j))²",
              r"\frac{\partial \hat y_i}{\partial z_k} = \frac{\frac{\partial e^{z_i}}{\partial z_k}"
              rf" {_SUM} - e^{{z_i}} e^{{z_k}}}}{{\left({_SUM}\right)^2}}",
              "quotient rule", 0,
              _pairs("all", lambda z, y, S, p, i, k: [
                  (D(p[i], z[k]), (D(sp.exp(z[i]), z[k]) * S - sp.exp(z[i]) * sp.exp(z[k])) / S**2)])),
        _step("Case 1, i = k: ∂e^(z_i)/∂z_i = e^(z_i), so ∂ŷ_i/∂z_i = (e^(z_i)·Σ_j e^(z_j) − "
              "e^(z_i)·e^(z_i)) / (Σ_j e^(z_j))² = ŷ_i − ŷ_i² = ŷ_i(1 − ŷ_i)",
              r"i = k: \frac{\partial \hat y_i}{\partial z_i} = \frac{e^{z_i}" + _SUM
              + r" - e^{z_i} e^{z_i}}{\left(" + _SUM + r"\right)^2} = \hat y_i - \hat y_i^2"
              r" = \hat y_i (1 - \hat y_i)",
              "case i = k", 1,
              _pairs("i = k", lambda z, y, S, p, i, k: [
                  (D(p[i], z[i]), (sp.exp(z[i]) * S - sp.exp(z[i]) ** 2) / S**2),
                  ((sp.exp(z[i]) * S - sp.exp(z[i]) ** 2) / S**2, p[i] - p[i] ** 2),
                  (p[i] - p[i] ** 2, p[i] * (1 - p[i]))])),
        _step("Case 2, i ≠ k: e^(z_i) does not depend on z_k (∂e^(z_i)/∂z_k = 0), so "
              "∂ŷ_i/∂z_k = (0 − e^(z_i)·e^(z_k)) / (Σ_j e^(z_j))² = −ŷ_i·ŷ_k",
              r"i \ne k: \frac{\partial \hat y_i}{\partial z_k} = \frac{0 - e^{z_i} e^{z_k}}{\left("
              + _SUM + r"\right)^2} = -\hat y_i \hat y_k",
              "case i ≠ k", 1,
              _pairs("i ≠ k", lambda z, y, S, p, i, k: [
                  (D(sp.exp(z[i]), z[k]), 0),
                  (D(p[i], z[k]), -sp.exp(z[i]) * sp.exp(z[k]) / S**2),
                  (-sp.exp(z[i]) * sp.exp(z[k]) / S**2, -p[i] * p[k])])),
        _step("Both cases: ∂ŷ_i/∂z_k = ŷ_i(δ_ik − ŷ_k), with δ_ik = 1 if i = k and 0 otherwise;"
              " as a matrix J = diag(ŷ) − ŷ·ŷᵀ",
              r"\frac{\partial \hat y_i}{\partial z_k} = \hat y_i (\delta_{ik} - \hat y_k),"
              r" \quad J = \operatorname{diag}(\hat y) - \hat y \hat y^{\top}",
              "Kronecker delta", 0,
              _pairs("all", lambda z, y, S, p, i, k: [
                  (D(p[i], z[k]), p[i] * (_delta(i, k) - p[k]))])),
    ]
    return steps + _temperature_steps(temperature, r"\hat y_i (\delta_{ik} - \hat y_k)",
                                      "ŷ_i(δ_ik − ŷ_k)", log=False)


def log_softmax_jacobian_symbolic(temperature: float = 1.0) -> list[Step]:
    """∂ℓ_i/∂z_k = δ_ik − ŷ_k (ℓ = log-softmax), exactly as the notes derive it."""
    steps = [
        _step("ℓ_i = log ŷ_i = log(e^(z_i) / Σ_j e^(z_j)) = z_i − log Σ_j e^(z_j)",
              rf"\ell_i = \log \hat y_i = \log\frac{{e^{{z_i}}}}{{{_SUM}}} = z_i - \log {_SUM}",
              "log-softmax identity: log(a/b) = log a − log b, log e^z = z", 0,
              _pairs("all", lambda z, y, S, p, i, k: [(sp.log(p[i]), z[i] - sp.log(S))])),
        _step("∂ℓ_i/∂z_k = ∂z_i/∂z_k − ∂/∂z_k log Σ_j e^(z_j)",
              r"\frac{\partial \ell_i}{\partial z_k} = \frac{\partial z_i}{\partial z_k}"
              rf" - \frac{{\partial}}{{\partial z_k}} \log {_SUM}",
              "sum rule", 0,
              _pairs("all", lambda z, y, S, p, i, k: [
                  (D(z[i] - sp.log(S), z[k]), D(z[i], z[k]) - D(sp.log(S), z[k]))])),
        _log_sum_derivative_step(1),
        _step("Case 1, i = k: ∂z_i/∂z_i = 1, so ∂ℓ_i/∂z_i = 1 − ŷ_i",
              r"i = k: \frac{\partial z_i}{\partial z_i} = 1, \quad"
              r" \frac{\partial \ell_i}{\partial z_i} = 1 - \hat y_i",
              "case i = k", 1,
              _pairs("i = k", lambda z, y, S, p, i, k: [
                  (D(z[i], z[i]), 1), (D(sp.log(p[i]), z[i]), 1 - p[i])])),
        _step("Case 2, i ≠ k: z_i is a constant for z_k (∂z_i/∂z_k = 0), so ∂ℓ_i/∂z_k = −ŷ_k",
              r"i \ne k: \frac{\partial z_i}{\partial z_k} = 0, \quad"
              r" \frac{\partial \ell_i}{\partial z_k} = -\hat y_k",
              "case i ≠ k", 1,
              _pairs("i ≠ k", lambda z, y, S, p, i, k: [
                  (D(z[i], z[k]), 0), (D(sp.log(p[i]), z[k]), -p[k])])),
        _step("Both cases: ∂ℓ_i/∂z_k = δ_ik − ŷ_k; as a matrix J = I − 1·ŷᵀ (each row is −ŷ, "
              "plus 1 on the diagonal)",
              r"\frac{\partial \ell_i}{\partial z_k} = \delta_{ik} - \hat y_k, \quad"
              r" J = I - \mathbf{1} \hat y^{\top}",
              "Kronecker delta", 0,
              _pairs("all", lambda z, y, S, p, i, k: [
                  (D(sp.log(p[i]), z[k]), _delta(i, k) - p[k])])),
    ]
    return steps + _temperature_steps(temperature, r"\delta_{ik} - \hat y_k", "δ_ik − ŷ_k",
                                      log=True)


def _temperature_steps(temperature: float, latex: str, text: str, log: bool) -> list[Step]:
    if temperature == 1:
        return []
    t = sp.Float(temperature, 30)

    def build(z, y, S, p, i, k):
        scaled = sp.Add(*[sp.exp(zj / t) for zj in z])
        q = [sp.exp(zj / t) / scaled for zj in z]
        if log:
            return [(D(sp.log(q[i]), z[k]), (_delta(i, k) - q[k]) / t)]
        return [(D(q[i], z[k]), q[i] * (_delta(i, k) - q[k]) / t)]

    return [_step(f"with temperature T = {fmt(temperature)} the logits are z/T: the chain rule "
                  f"multiplies by ∂(z_k/T)/∂z_k = 1/T, so the entry is ({text})/T, ŷ = softmax(z/T)",
                  rf"\frac{{1}}{{T}}\left({latex}\right), \quad T = {_tex(temperature)}",
                  "chain rule (temperature)", 0, _pairs("all", build))]


def jacobian_evaluation(probs: np.ndarray, matrix: np.ndarray, log: bool,
                        temperature: float = 1.0) -> list[Step]:
    """The derived formula at the user's logits: ŷ, then each row of the Jacobian."""
    steps = [_step(f"at the given logits: ŷ = {_vec(probs)}", rf"\hat y = {_tvec(probs)}",
                   "softmax", 0)]
    over_t = "" if temperature == 1 else "/T"
    matrix = np.asarray(matrix)
    n = len(matrix)
    for i in _shown_rows(n):
        if i is None:
            steps.append(_step(f"⋮ (rows {EXPLAINED_ROWS // 2} to {n - EXPLAINED_ROWS // 2 - 1} "
                               "left out here; the matrix below has every entry)",
                               r"\vdots", "evaluate", 1))
            continue
        row = matrix[i]
        if log:
            text = f"row {i}: (δ_{i}k − ŷ_k){over_t} = {_short_vec(row)}"
            latex = rf"\frac{{\partial \ell_{i}}}{{\partial z_k}} = {_short_tvec(row)}"
        else:
            text = f"row {i}: ŷ_{i}(δ_{i}k − ŷ_k){over_t} = {fmt(probs[i])}·(δ_{i}k − ŷ_k){over_t} = {_short_vec(row)}"
            latex = rf"\frac{{\partial \hat y_{i}}}{{\partial z_k}} = {_short_tvec(row)}"
        steps.append(_step(text, latex, "evaluate", 1))
    return steps


# A derivation evaluates an n×n Jacobian row by row: beyond this many rows (and entries in a
# row) it shows the first and last half of them, so --explain --jacobian of 1,000 logits writes
# 20 short rows, not a million numbers (35 s). The matrix itself keeps every entry.
EXPLAINED_ROWS = 20


def _shown_rows(n: int) -> list[int | None]:
    if n <= EXPLAINED_ROWS:
        return list(range(n))
    half = EXPLAINED_ROWS // 2
    return list(range(half)) + [None] + list(range(n - half, n))


def _short_vec(row: np.ndarray) -> str:
    if len(row) <= EXPLAINED_ROWS:
        return _vec(row)
    half = EXPLAINED_ROWS // 2
    return _vec(row[:half])[:-1] + ", …, " + _vec(row[-half:])[1:]


def _short_tvec(row: np.ndarray) -> str:
    if len(row) <= EXPLAINED_ROWS:
        return _tvec(row)
    half = EXPLAINED_ROWS // 2
    left, right = _tvec(row[:half]), _tvec(row[-half:])
    return left[: -len(r"\right]")] + r", \dots, " + right[len(r"\left["):]


def softmax_jacobian_derivation(probs: np.ndarray, matrix: np.ndarray, *, log: bool,
                                temperature: float = 1.0) -> list[Step]:
    """The Jacobian of softmax (or of log-softmax) derived in symbols, then evaluated."""
    symbolic = (log_softmax_jacobian_symbolic(temperature) if log
                else softmax_jacobian_symbolic(temperature))
    return symbolic + jacobian_evaluation(probs, matrix, log, temperature)


# --------------------------------------------------------------------------------------------
# Cross-entropy with softmax: why the gradient is ŷ − y
# --------------------------------------------------------------------------------------------


def _loss(z, y, S, p):
    return -sp.Add(*[y[i] * sp.log(p[i]) for i in range(len(z))])


def cross_entropy_gradient_symbolic() -> list[Step]:
    """∂L/∂z_k = ŷ_k − y_k, as the notes' "Why Gradient is ŷ − y" derives it."""

    def first_term(z, y):
        return -sp.Add(*[y[i] * z[i] for i in range(len(z))])

    def all_k(build, given_sum_one=False):
        return _each_k(build, given_sum_one)

    return [
        _step("L = −Σ_i y_i·log ŷ_i, with ŷ = softmax(z)",
              r"L = -\sum_i y_i \log \hat y_i", "definition of cross-entropy"),
        _step("L = −Σ_i y_i·(z_i − log Σ_j e^(z_j))",
              rf"L = -\sum_i y_i \left(z_i - \log {_SUM}\right)",
              "log-softmax identity", 0,
              all_k(lambda z, y, S, p, k: [] if k else [
                  (_loss(z, y, S, p), -sp.Add(*[y[i] * (z[i] - sp.log(S)) for i in range(len(z))]))])),
        _step("L = −Σ_i y_i·z_i + (Σ_i y_i)·log Σ_j e^(z_j)",
              rf"L = -\sum_i y_i z_i + \Big(\sum_i y_i\Big) \log {_SUM}",
              "distribute", 0,
              all_k(lambda z, y, S, p, k: [] if k else [
                  (_loss(z, y, S, p), first_term(z, y) + sp.Add(*y) * sp.log(S))])),
        _step("L = −Σ_i y_i·z_i + log Σ_j e^(z_j)   (Σ_i y_i = 1: y is a distribution)",
              rf"L = -\sum_i y_i z_i + \log {_SUM} \quad \Big(\sum_i y_i = 1\Big)",
              "Σ y_i = 1", 0,
              all_k(lambda z, y, S, p, k: [] if k else [
                  (_loss(z, y, S, p), first_term(z, y) + sp.log(S))], given_sum_one=True)),
        _step("First term: ∂/∂z_k (−Σ_i y_i·z_i) = −y_k   (only the term i = k depends on z_k)",
              r"\frac{\partial}{\partial z_k}\Big(-\sum_i y_i z_i\Big) = -y_k",
              "sum rule, constant multiple", 1,
              all_k(lambda z, y, S, p, k: [(D(first_term(z, y), z[k]), -y[k])])),
        _step("Second term: ∂/∂z_k log Σ_j e^(z_j) = e^(z_k) / Σ_j e^(z_j) = ŷ_k",
              rf"\frac{{\partial}}{{\partial z_k}} \log {_SUM} = \frac{{e^{{z_k}}}}{{{_SUM}}}"
              r" = \hat y_k",
              "chain rule, logarithm", 1,
              all_k(lambda z, y, S, p, k: [(D(sp.log(S), z[k]), sp.exp(z[k]) / S),
                                           (sp.exp(z[k]) / S, p[k])])),
        _step("Add both parts: ∂L/∂z_k = −y_k + ŷ_k = ŷ_k − y_k",
              r"\frac{\partial L}{\partial z_k} = -y_k + \hat y_k = \hat y_k - y_k",
              "sum rule", 0,
              all_k(lambda z, y, S, p, k: [(D(_loss(z, y, S, p), z[k]), p[k] - y[k])],
                    given_sum_one=True)),
    ]


def cross_entropy_gradient_derivation(probs: np.ndarray, target: np.ndarray, grad: np.ndarray,
                                      *, bits: bool = False) -> list[Step]:
    """∂L/∂z = ŷ − y derived in symbols, then evaluated with the core's numbers."""
    steps = cross_entropy_gradient_symbolic()
    steps.append(_step(f"at the given logits: ŷ = {_vec(probs)}, y = {_vec(target)}",
                       rf"\hat y = {_tvec(probs)}, \quad y = {_tvec(target)}", "softmax", 0))
    for k in range(len(probs)):
        difference = f"{fmt(probs[k])} − {fmt(target[k])}"
        if bits:
            difference = f"({difference}) / ln 2"
        steps.append(_step(
            f"∂L/∂z_{k} = {difference} ≈ {fmt(grad[k])}",
            rf"\frac{{\partial L}}{{\partial z_{k}}} = {_tex(probs[k])} - {_tex(target[k])}"
            + (r" \text{ (over } \ln 2\text{)}" if bits else "") + rf" \approx {_tex(grad[k])}",
            "evaluate", 1))
    return steps


# --------------------------------------------------------------------------------------------
# Activation functions: f' from the definition
# --------------------------------------------------------------------------------------------

x = sp.Symbol("x", real=True)
u = sp.Symbol("u", real=True)
alpha = sp.Symbol("alpha", real=True)
beta = sp.Symbol("beta", real=True)


def _sigmoid_steps() -> list[Step]:
    from dlcalc.symbolic import sigmoid

    s = 1 / (1 + sp.exp(-x))
    inner = 1 + sp.exp(-x)
    return [
        _step("σ(x) = 1/(1 + e^(−x)) = (1 + e^(−x))^(−1)",
              r"\sigma(x) = \frac{1}{1 + e^{-x}} = \left(1 + e^{-x}\right)^{-1}",
              "definition", 0, _in_x(lambda: [(sigmoid(x), s), (s, inner ** -1)])),
        _step("let u = 1 + e^(−x), so σ = u^(−1) and σ'(x) = (d/du u^(−1))·du/dx",
              r"u = 1 + e^{-x}: \quad \sigma'(x) = \frac{d}{du} u^{-1} \cdot \frac{du}{dx}",
              "chain rule", 0,
              _in_x(lambda: [(D(s, x), (-(inner ** -2)) * D(inner, x))])),
        _step("d/du u^(−1) = −u^(−2)", r"\frac{d}{du} u^{-1} = -u^{-2}", "power rule", 1,
              _in_x(lambda: [(D(u ** -1, u), -u ** -2)])),
        _step("du/dx = d/dx 1 + d/dx e^(−x) = 0 + e^(−x)·(−1) = −e^(−x)",
              r"\frac{du}{dx} = 0 + e^{-x} \cdot (-1) = -e^{-x}",
              "sum rule, constant, chain rule", 1,
              _in_x(lambda: [(D(inner, x), -sp.exp(-x))])),
        _step("σ'(x) = −(1 + e^(−x))^(−2)·(−e^(−x)) = e^(−x)/(1 + e^(−x))²",
              r"\sigma'(x) = -\left(1 + e^{-x}\right)^{-2} \cdot \left(-e^{-x}\right)"
              r" = \frac{e^{-x}}{\left(1 + e^{-x}\right)^2}",
              "chain rule", 0,
              _in_x(lambda: [(D(s, x), sp.exp(-x) / inner**2)])),
        _step("σ'(x) = 1/(1 + e^(−x)) · e^(−x)/(1 + e^(−x))",
              r"\sigma'(x) = \frac{1}{1 + e^{-x}} \cdot \frac{e^{-x}}{1 + e^{-x}}",
              "split the fraction", 0,
              _in_x(lambda: [(sp.exp(-x) / inner**2, s * sp.exp(-x) / inner)])),
        _step("e^(−x)/(1 + e^(−x)) = (1 + e^(−x) − 1)/(1 + e^(−x)) = 1 − 1/(1 + e^(−x)) = 1 − σ(x)",
              r"\frac{e^{-x}}{1 + e^{-x}} = \frac{1 + e^{-x} - 1}{1 + e^{-x}} = 1 - \frac{1}{1 + e^{-x}}"
              r" = 1 - \sigma(x)",
              "add and subtract 1", 1,
              _in_x(lambda: [(sp.exp(-x) / inner, 1 - s), (1 - s, 1 - sigmoid(x))])),
        _step("σ'(x) = σ(x)·(1 − σ(x))", r"\sigma'(x) = \sigma(x)\,\left(1 - \sigma(x)\right)",
              "recognise", 0,
              _in_x(lambda: [(D(s, x), sigmoid(x) * (1 - sigmoid(x)))])),
    ]


def _tanh_steps() -> list[Step]:
    f = sp.exp(x) - sp.exp(-x)
    g = sp.exp(x) + sp.exp(-x)
    return [
        _step("tanh x = sinh x / cosh x = (e^x − e^(−x))/(e^x + e^(−x))",
              r"\tanh x = \frac{\sinh x}{\cosh x} = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
              "definition", 0, _in_x(lambda: [(sp.tanh(x), f / g)])),
        _step("quotient rule with f = e^x − e^(−x), g = e^x + e^(−x): tanh' x = (f'·g − f·g')/g²",
              r"f = e^{x} - e^{-x},\ g = e^{x} + e^{-x}: \quad \tanh' x = \frac{f' g - f g'}{g^2}",
              "quotient rule", 0,
              _in_x(lambda: [(D(f / g, x), (D(f, x) * g - f * D(g, x)) / g**2)])),
        _step("f' = e^x − e^(−x)·(−1) = e^x + e^(−x) = g",
              r"f' = e^{x} - e^{-x} \cdot (-1) = e^{x} + e^{-x} = g",
              "exponential, chain rule", 1, _in_x(lambda: [(D(f, x), g)])),
        _step("g' = e^x + e^(−x)·(−1) = e^x − e^(−x) = f",
              r"g' = e^{x} + e^{-x} \cdot (-1) = e^{x} - e^{-x} = f",
              "exponential, chain rule", 1, _in_x(lambda: [(D(g, x), f)])),
        _step("tanh' x = (g·g − f·f)/g² = 1 − f²/g²",
              r"\tanh' x = \frac{g \cdot g - f \cdot f}{g^2} = 1 - \frac{f^2}{g^2}",
              "quotient rule", 0,
              _in_x(lambda: [(D(f / g, x), (g * g - f * f) / g**2), ((g * g - f * f) / g**2, 1 - f**2 / g**2)])),
        _step("tanh' x = 1 − tanh² x   (f/g = tanh x)", r"\tanh' x = 1 - \tanh^2 x",
              "recognise", 0, _in_x(lambda: [(D(f / g, x), 1 - sp.tanh(x) ** 2)])),
        _step("tanh' x = 1/cosh² x = sech² x   (cosh² x − sinh² x = 1)",
              r"\tanh' x = \frac{1}{\cosh^2 x} = \operatorname{sech}^2 x",
              "identity", 0, _in_x(lambda: [(1 - sp.tanh(x) ** 2, 1 / sp.cosh(x) ** 2)])),
    ]


def _relu_steps() -> list[Step]:
    relu = sp.Piecewise((x, x > 0), (0, True))
    return [
        _step("ReLU(x) = max(0, x) = x if x > 0, 0 if x ≤ 0",
              r"\operatorname{ReLU}(x) = \max(0, x) = \begin{cases} x & x > 0 \\ 0 & x \le 0 \end{cases}",
              "definition", 0, _in_x(lambda: [(sp.Max(0, x), relu)])),
        _step("x > 0: d/dx x = 1", r"x > 0: \frac{d}{dx} x = 1", "power rule", 1,
              _in_x(lambda: [(D(x, x), 1)])),
        _step("x < 0: d/dx 0 = 0", r"x < 0: \frac{d}{dx} 0 = 0", "constant rule", 1,
              _in_x(lambda: [(D(sp.S.Zero, x), 0)])),
        _step("x = 0: a kink, no derivative; PyTorch's autograd uses ReLU'(0) = 0",
              r"x = 0: \text{a kink; PyTorch uses } \operatorname{ReLU}'(0) = 0",
              "PyTorch's convention", 0),
        _step("ReLU'(x) = 1 if x > 0, 0 if x ≤ 0",
              r"\operatorname{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}",
              "result", 0,
              _in_x(lambda: [(D(sp.Max(0, x), x), sp.Piecewise((1, x > 0), (0, True)))])),
    ]


def _leaky_relu_steps() -> list[Step]:
    leaky = sp.Piecewise((x, x > 0), (alpha * x, True))
    return [
        _step("LeakyReLU(x) = x if x > 0, α·x if x ≤ 0   (α = negative_slope)",
              r"\operatorname{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ \alpha x & x \le 0 \end{cases}",
              "definition", 0),
        _step("x > 0: d/dx x = 1", r"x > 0: \frac{d}{dx} x = 1", "power rule", 1,
              _in_x(lambda: [(D(x, x), 1)])),
        _step("x < 0: d/dx (α·x) = α·d/dx x = α", r"x < 0: \frac{d}{dx} (\alpha x) = \alpha \frac{d}{dx} x = \alpha",
              "constant multiple rule", 1, _in_x(lambda: [(D(alpha * x, x), alpha)])),
        _step("x = 0: a kink; PyTorch's autograd uses LeakyReLU'(0) = α",
              r"x = 0: \text{a kink; PyTorch uses } \operatorname{LeakyReLU}'(0) = \alpha",
              "PyTorch's convention", 0),
        _step("LeakyReLU'(x) = 1 if x > 0, α if x ≤ 0",
              r"\operatorname{LeakyReLU}'(x) = \begin{cases} 1 & x > 0 \\ \alpha & x \le 0 \end{cases}",
              "result", 0,
              _in_x(lambda: [(D(leaky, x), sp.Piecewise((1, x > 0), (alpha, True)))])),
    ]


def _gelu_steps() -> list[Step]:
    from dlcalc.symbolic import Phi, gelu, phi

    cdf = (1 + sp.erf(x / sp.sqrt(2))) / 2
    density = sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)
    return [
        _step("GELU(x) = x·Φ(x), Φ(x) = ½·[1 + erf(x/√2)] (the standard normal CDF)",
              r"\operatorname{GELU}(x) = x \cdot \Phi(x), \quad"
              r" \Phi(x) = \frac{1}{2}\left[1 + \operatorname{erf}\left(\frac{x}{\sqrt{2}}\right)\right]",
              "definition", 0, _in_x(lambda: [(gelu(x), x * cdf), (Phi(x), cdf)])),
        _step("GELU'(x) = (d/dx x)·Φ(x) + x·Φ'(x) = Φ(x) + x·Φ'(x)",
              r"\operatorname{GELU}'(x) = \frac{d}{dx}x \cdot \Phi(x) + x \cdot \Phi'(x)"
              r" = \Phi(x) + x \cdot \Phi'(x)",
              "product rule", 0, _in_x(lambda: [(D(x * cdf, x), cdf + x * D(cdf, x))])),
        _step("Φ'(x) = ½·d/dx erf(u), u = x/√2: ½·(2/√π)·e^(−u²)·(1/√2) = e^(−x²/2)/√(2π) = φ(x)",
              r"\Phi'(x) = \frac{1}{2} \cdot \frac{2}{\sqrt{\pi}} e^{-u^2} \cdot \frac{1}{\sqrt{2}}"
              r" = \frac{e^{-x^2/2}}{\sqrt{2\pi}} = \phi(x), \quad u = \frac{x}{\sqrt{2}}",
              "chain rule, special function (erf)", 1,
              _in_x(lambda: [(D(cdf, x), density), (density, phi(x))])),
        _step("GELU'(x) = Φ(x) + x·φ(x)", r"\operatorname{GELU}'(x) = \Phi(x) + x \cdot \phi(x)",
              "result", 0, _in_x(lambda: [(D(x * cdf, x), Phi(x) + x * phi(x))])),
    ]


def _softplus_steps() -> list[Step]:
    from dlcalc.symbolic import sigmoid

    inner = 1 + sp.exp(beta * x)
    f = sp.log(inner) / beta
    return [
        _step("softplus(x) = (1/β)·log(1 + e^(βx))   (PyTorch: β = 1, and x itself where βx > "
              "threshold = 20)",
              r"\operatorname{softplus}(x) = \frac{1}{\beta} \log\left(1 + e^{\beta x}\right)",
              "definition", 0),
        _step("let u = 1 + e^(βx): softplus'(x) = (1/β)·(d/du log u)·du/dx",
              r"u = 1 + e^{\beta x}: \quad \operatorname{softplus}'(x) = \frac{1}{\beta}"
              r" \cdot \frac{d}{du} \log u \cdot \frac{du}{dx}",
              "chain rule", 0, _in_x(lambda: [(D(f, x), D(inner, x) / (beta * inner))])),
        _step("d/du log u = 1/u", r"\frac{d}{du} \log u = \frac{1}{u}", "logarithm", 1,
              _in_x(lambda: [(D(sp.log(u), u), 1 / u)])),
        _step("du/dx = e^(βx)·β", r"\frac{du}{dx} = e^{\beta x} \cdot \beta",
              "exponential, chain rule", 1, _in_x(lambda: [(D(inner, x), beta * sp.exp(beta * x))])),
        _step("softplus'(x) = (1/β)·β·e^(βx)/(1 + e^(βx)) = e^(βx)/(1 + e^(βx))",
              r"\operatorname{softplus}'(x) = \frac{1}{\beta} \cdot \frac{\beta e^{\beta x}}"
              r"{1 + e^{\beta x}} = \frac{e^{\beta x}}{1 + e^{\beta x}}",
              "chain rule", 0, _in_x(lambda: [(D(f, x), sp.exp(beta * x) / inner)])),
        _step("softplus'(x) = 1/(1 + e^(−βx)) = σ(βx)   (divide above and below by e^(βx))",
              r"\operatorname{softplus}'(x) = \frac{1}{1 + e^{-\beta x}} = \sigma(\beta x)",
              "recognise", 0,
              _in_x(lambda: [(sp.exp(beta * x) / inner, 1 / (1 + sp.exp(-beta * x))),
                             (1 / (1 + sp.exp(-beta * x)), sigmoid(beta * x))])),
        _step("where βx > threshold PyTorch's softplus is x itself, so its derivative there is 1",
              r"\beta x > \text{threshold}: \operatorname{softplus}'(x) = 1",
              "PyTorch's convention", 0),
    ]


def _silu_steps() -> list[Step]:
    from dlcalc.symbolic import sigmoid

    s = sigmoid(x)
    closed = 1 / (1 + sp.exp(-x))
    return [
        _step("SiLU(x) = x·σ(x)", r"\operatorname{SiLU}(x) = x \cdot \sigma(x)", "definition", 0),
        _step("SiLU'(x) = (d/dx x)·σ(x) + x·σ'(x) = σ(x) + x·σ'(x)",
              r"\operatorname{SiLU}'(x) = \frac{d}{dx}x \cdot \sigma(x) + x \cdot \sigma'(x)"
              r" = \sigma(x) + x \cdot \sigma'(x)",
              "product rule", 0, _in_x(lambda: [(D(x * closed, x), closed + x * D(closed, x))])),
        _step("σ'(x) = σ(x)·(1 − σ(x))   (derived for sigmoid)",
              r"\sigma'(x) = \sigma(x)\,\left(1 - \sigma(x)\right)",
              "activation", 1, _in_x(lambda: [(D(closed, x), s * (1 - s))])),
        _step("SiLU'(x) = σ(x) + x·σ(x)·(1 − σ(x)) = σ(x)·(1 + x·(1 − σ(x)))",
              r"\operatorname{SiLU}'(x) = \sigma(x) + x\,\sigma(x)\left(1 - \sigma(x)\right)"
              r" = \sigma(x)\left(1 + x\left(1 - \sigma(x)\right)\right)",
              "factor", 0,
              _in_x(lambda: [(D(x * closed, x), s + x * s * (1 - s)),
                             (s + x * s * (1 - s), s * (1 + x * (1 - s)))])),
    ]


# The registry functions derived from their definition, by canonical name.
DERIVED: dict[str, Callable[[], list[Step]]] = {
    "sigmoid": _sigmoid_steps,
    "tanh": _tanh_steps,
    "relu": _relu_steps,
    "leaky_relu": _leaky_relu_steps,
    "gelu": _gelu_steps,
    "softplus": _softplus_steps,
    "silu": _silu_steps,
}

_PARAMETER_SYMBOLS = {"negative_slope": "α", "beta": "β"}


def activation_symbolic(name: str) -> list[Step]:
    """f' from the definition for the registry function `name` (see DERIVED)."""
    if name not in DERIVED:
        raise DlcalcError(f"a derivation from the definition is available for "
                          f"{', '.join(DERIVED)}, not for {name!r}")
    return DERIVED[name]()


def activation_derivation(name: str, params: dict[str, float], x_values: Sequence[float] = (),
                          derivative_values: Sequence[float] = ()) -> list[Step]:
    """f' derived from the definition, then (with x values) evaluated with the core's numbers."""
    steps = activation_symbolic(name)
    given = [f"{_PARAMETER_SYMBOLS[p]} = {fmt(v)}" for p, v in params.items()
             if p in _PARAMETER_SYMBOLS]
    if given:
        steps.append(_step(f"with {', '.join(given)}", r"\text{with } " + ", ".join(
            g.replace("α", r"\alpha").replace("β", r"\beta") for g in given), "parameters", 0))
    text, latex = _PRIMES[name]
    return steps + activation_derivation_values(x_values, derivative_values, text, latex)


_PRIMES = {
    "sigmoid": ("σ'", r"\sigma'"), "tanh": ("tanh'", r"\tanh'"),
    "relu": ("ReLU'", r"\operatorname{ReLU}'"), "leaky_relu": ("LeakyReLU'", r"\operatorname{LeakyReLU}'"),
    "gelu": ("GELU'", r"\operatorname{GELU}'"), "softplus": ("softplus'", r"\operatorname{softplus}'"),
    "silu": ("SiLU'", r"\operatorname{SiLU}'"),
}


def activation_derivation_values(x_values: Sequence[float], derivative_values: Sequence[float],
                                 text: str = "f'", latex: str = "f'") -> list[Step]:
    """f'(x) at each x, one step each (the numbers the command prints)."""
    return [_step(f"{text}({fmt(xv)}) ≈ {fmt(dv)}", rf"{latex}({_tex(xv)}) \approx {_tex(dv)}",
                  "evaluate", 1)
            for xv, dv in zip(x_values, derivative_values)]
