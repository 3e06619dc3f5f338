r"""Worked derivations for ``--explain`` (softmax, ce, kl), built as lists of :class:`Step`.

Each function takes ONE vector (1-D) and returns the steps a student would write by hand, with
the user's numbers to 6 significant digits; the CLI renders them. Nothing here prints. The
numbers come from the same core as the results (dlcalc.softmax_core, dlcalc.losses), so the
explanation always agrees with the answer.
"""

from __future__ import annotations

import math

import numpy as np

from dlcalc.errors import DlcalcError, quietly
from dlcalc.number_text import latex_number, people_number
from dlcalc.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_from_probs,
    kl_divergence,
    validate_base,
)
from dlcalc.softmax_core import as_float_array, softmax_all, validate_temperature
from dlcalc.steps import Step

__all__ = ["check_explained", "MAX_EXPLAINED", "explain_softmax", "explain_cross_entropy", "explain_binary_cross_entropy", "explain_kl", "fmt"]

MAX_LISTED = 8  # terms written out in a sum before "…"
# A derivation writes a few steps per element: 1,000 elements are already thousands of lines
# (and 10^5 would take half a minute). Longer vectors are refused at once.
MAX_EXPLAINED = 1_000


def check_explained(n: int, what: str = "values") -> None:
    """Refuse a worked derivation of more than MAX_EXPLAINED elements (a DlcalcError)."""
    if n > MAX_EXPLAINED:
        raise DlcalcError(f"a worked derivation covers at most {MAX_EXPLAINED:,} {what} one by one; "
                          f"this one has {n:,} (ask for the numbers alone)")


def fmt(x, digits: int = 6) -> str:
    """A number for a derivation: 6 significant digits, inf/-inf/nan spelled out, 0 unsigned."""
    x = float(x)
    return people_number(0.0 if x == 0 else x, digits)


def _tex(x) -> str:
    """The same number in LaTeX (∞, NaN, a power of ten for exponents)."""
    x = float(x)
    return latex_number(0.0 if x == 0 else x, 6)


def _vec(v) -> str:
    return "[" + ", ".join(fmt(x) for x in v) + "]"


def _tvec(v) -> str:
    return r"\left[" + ", ".join(_tex(x) for x in v) + r"\right]"


def _sum_text(v) -> str:
    items = [fmt(x) for x in v]
    if len(items) > MAX_LISTED:
        items = items[: MAX_LISTED - 1] + ["…"]
    out = items[0]
    for it in items[1:]:
        out += f" − {it[1:]}" if it.startswith("-") else f" + {it}"
    return out


def _sum_tex(v) -> str:
    items = [_tex(x) for x in v]
    if len(items) > MAX_LISTED:
        items = items[: MAX_LISTED - 1] + [r"\dots"]
    out = items[0]
    for it in items[1:]:
        out += f" - {it[1:]}" if it.startswith("-") else f" + {it}"
    return out


def _one_vector(x, name: str) -> np.ndarray:
    arr = as_float_array(x, name)
    if arr.ndim != 1:
        raise DlcalcError(f"--explain works on one vector at a time; {name} has shape {arr.shape}")
    check_explained(arr.size, "elements")
    return arr


def _lse_steps(z: np.ndarray, depth: int = 0) -> tuple[list[Step], float]:
    """The stable log-sum-exp: max, shifted logits, their exponentials and sum, LSE."""
    steps = []
    res = quietly(softmax_all, z)
    finite = np.isfinite(z).any()
    m = float(np.nanmax(z)) if finite or np.isposinf(z).any() else -math.inf
    steps.append(Step(f"m = max_j z_j = {fmt(m)}", rf"m = \max_j z_j = {_tex(m)}", "max shift", depth))
    if not math.isfinite(m):
        steps.append(Step(f"the max is {fmt(m)}: the shift is undefined; log Σ_j e^(z_j) = {fmt(res.logsumexp)}",
                          rf"\log\sum_j e^{{z_j}} = {_tex(res.logsumexp)}", "infinite logits", depth))
        return steps, float(res.logsumexp)
    with np.errstate(all="ignore"):
        shifted = z - m
        ex = np.exp(shifted)
    steps.append(Step(f"z − m = {_vec(shifted)}", rf"z - m = {_tvec(shifted)}", "max shift", depth))
    for i, (d, e) in enumerate(zip(shifted, ex)):
        steps.append(Step(f"e^(z_{i} − m) = e^({fmt(d)}) ≈ {fmt(e)}", rf"e^{{z_{i} - m}} = e^{{{_tex(d)}}} \approx {_tex(e)}",
                          "exponential (every term ≤ 1, no overflow)", depth + 1))
    s = float(np.sum(ex))
    steps.append(Step(f"Σ_j e^(z_j − m) = {_sum_text(ex)} ≈ {fmt(s)}", rf"\sum_j e^{{z_j - m}} = {_sum_tex(ex)} \approx {_tex(s)}",
                      "sum", depth))
    lse = float(res.logsumexp)
    steps.append(Step(f"log Σ_j e^(z_j) = m + log Σ_j e^(z_j − m) = {fmt(m)} + log {fmt(s)} ≈ {fmt(lse)}",
                      rf"\log\sum_j e^{{z_j}} = m + \log\sum_j e^{{z_j - m}} = {_tex(m)} + \log {_tex(s)} \approx {_tex(lse)}",
                      "log-sum-exp trick", depth))
    return steps, lse


def explain_softmax(z, temperature: float = 1.0, log: bool = False) -> list[Step]:
    """softmax (and log-softmax) of one vector, by hand as in the notes, then the stable way."""
    z = _one_vector(z, "z")
    t = validate_temperature(temperature)
    steps: list[Step] = []
    if t != 1.0:
        zt = z / z.dtype.type(t)
        steps.append(Step(f"divide the logits by the temperature T = {fmt(t)}: z / T = {_vec(zt)}",
                          rf"z / T = {_tvec(zt)}", "temperature", 0))
        z = zt
    res = quietly(softmax_all, z)
    n = z.size

    # 1. by hand, as the notes do it
    steps.append(Step("By hand: ŷ_i = e^(z_i) / Σ_j e^(z_j)", r"\hat y_i = \frac{e^{z_i}}{\sum_j e^{z_j}}",
                      "definition of softmax", 0))
    with np.errstate(all="ignore"):
        ex = np.exp(z)
        s = float(np.sum(ex))
        naive = ex / s
        log_s = math.log(s) if s > 0 else -math.inf
        naive_log = z - log_s
    for i in range(n):
        steps.append(Step(f"e^(z_{i}) = e^({fmt(z[i])}) ≈ {fmt(ex[i])}", rf"e^{{z_{i}}} = e^{{{_tex(z[i])}}} \approx {_tex(ex[i])}",
                          "exponential", 1))
    steps.append(Step(f"Σ_j e^(z_j) = {_sum_text(ex)} ≈ {fmt(s)}", rf"\sum_j e^{{z_j}} = {_sum_tex(ex)} \approx {_tex(s)}",
                      "sum", 0))
    naive_ok = math.isfinite(s) and s > 0 and np.all(np.isfinite(ex))
    if naive_ok:
        for i in range(n):
            steps.append(Step(f"ŷ_{i} = {fmt(ex[i])} / {fmt(s)} ≈ {fmt(naive[i])}",
                              rf"\hat y_{i} = \frac{{{_tex(ex[i])}}}{{{_tex(s)}}} \approx {_tex(naive[i])}", "divide by the sum", 1))
        steps.append(Step(f"log Σ_j e^(z_j) = log {fmt(s)} ≈ {fmt(log_s)}", rf"\log\sum_j e^{{z_j}} = \log {_tex(s)} \approx {_tex(log_s)}",
                          "logarithm", 0))
        for i in range(n):
            steps.append(Step(f"log ŷ_{i} = z_{i} − log Σ_j e^(z_j) = {fmt(z[i])} − {fmt(log_s)} ≈ {fmt(naive_log[i])}",
                              rf"\log \hat y_{i} = z_{i} - \log\sum_j e^{{z_j}} = {_tex(z[i])} - {_tex(log_s)} \approx {_tex(naive_log[i])}",
                              "log-softmax identity", 1))
    else:
        if not math.isfinite(s) or not np.all(np.isfinite(ex)):
            why = ("e^x overflows for x > 709.78 in float64 (e^x > 1.8e308), so the sum is inf and "
                   "ŷ_i = inf/inf or x/inf: the naive formula gives nan or 0, not the softmax")
        else:
            why = ("every e^(z_j) underflows to 0 (z_j < −745 in float64), so ŷ_i = 0/0 = nan: "
                   "the naive formula cannot give the softmax")
        steps.append(Step(f"ŷ = {_vec(naive)}: {why}", rf"\hat y = {_tvec(naive)}", "overflow / underflow", 1))
        steps.append(Step("so use the stable way: subtract the max first (e^(z_j − m) ≤ 1 never overflows)",
                          r"\text{use } e^{z_j - \max_k z_k} \le 1", "why the max shift", 0))

    # 2. the stable way
    steps.append(Step("The stable way: log Σ_j e^(z_j) = m + log Σ_j e^(z_j − m), m = max_j z_j",
                      r"\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}", "log-sum-exp trick", 0))
    lse_steps, lse = _lse_steps(z, depth=1)
    steps.extend(lse_steps)
    for i in range(n):
        steps.append(Step(f"ŷ_{i} = e^(z_{i} − m) / Σ_j e^(z_j − m) ≈ {fmt(res.softmax[i])}",
                          rf"\hat y_{i} = \frac{{e^{{z_{i} - m}}}}{{\sum_j e^{{z_j - m}}}} \approx {_tex(res.softmax[i])}",
                          "softmax, shifted", 1))
    for i in range(n):
        steps.append(Step(f"log ŷ_{i} = z_{i} − log Σ_j e^(z_j) = {fmt(z[i])} − {fmt(lse)} ≈ {fmt(res.log_softmax[i])}",
                          rf"\log\hat y_{i} = z_{i} - \log\sum_j e^{{z_j}} = {_tex(z[i])} - {_tex(lse)} \approx {_tex(res.log_softmax[i])}",
                          "log-softmax identity", 1))

    # 3. conclusion
    primary = ("log-softmax", res.log_softmax, r"\log\hat y") if log else ("softmax", res.softmax, r"\hat y")
    if naive_ok:
        same = np.allclose(naive, res.softmax, rtol=1e-12, atol=0) and np.allclose(naive_log, res.log_softmax, rtol=1e-12, atol=1e-15)
        verdict = "Both ways give the same numbers" if same else "The two ways differ in the last digits (rounding in the naive way)"
    else:
        verdict = "Only the stable way gives the answer"
    steps.append(Step(f"{verdict}: {primary[0]} = {_vec(primary[1])}",
                      rf"{primary[2]} = {_tvec(primary[1])}", "result", 0))
    return steps


def _targets_text(y) -> str:
    return _vec(y)


def explain_cross_entropy(logits, target=None, target_probs=None, label_smoothing: float = 0.0,
                          base: str = "e", probs_input: bool = False) -> list[Step]:
    """Cross-entropy of one vector: log-softmax via log-sum-exp, pick the true class, negate;
    gradient ŷ − y element by element (−y/p with ``probs_input``)."""
    x = _one_vector(logits, "probs" if probs_input else "logits")
    ln_base = validate_base(base)
    bits = ln_base != 1.0
    steps: list[Step] = []
    if probs_input:
        r = quietly(cross_entropy_from_probs, x, target=target, target_probs=target_probs,
                   label_smoothing=label_smoothing, base=base)
        logp = np.log(np.where(x > 0, x, np.nan))
        logp = np.where(x > 0, logp, -np.inf)
        steps.append(Step(f"the inputs are probabilities: p = {_vec(x)}", rf"p = {_tvec(x)}", "given", 0))
        steps.append(Step(f"log p = {_vec(logp)}", rf"\log p = {_tvec(logp)}", "logarithm", 0))
    else:
        r = quietly(cross_entropy, x, target=target, target_probs=target_probs,
                   label_smoothing=label_smoothing, base=base)
        steps.append(Step("log ŷ_i = z_i − log Σ_j e^(z_j), with log Σ_j e^(z_j) computed stably",
                          r"\log\hat y_i = z_i - \log\sum_j e^{z_j}", "log-softmax identity", 0))
        lse_steps, lse = _lse_steps(x, depth=1)
        steps.extend(lse_steps)
        logp = quietly(softmax_all, x).log_softmax
        for i in range(x.size):
            steps.append(Step(f"log ŷ_{i} = {fmt(x[i])} − {fmt(lse)} ≈ {fmt(logp[i])}",
                              rf"\log\hat y_{i} = {_tex(x[i])} - {_tex(lse)} \approx {_tex(logp[i])}", "log-softmax identity", 1))
    y = r.target_distribution
    eps = float(label_smoothing)
    if r.target is not None and eps == 0:
        k = int(r.target)
        yh = "p" if probs_input else "ŷ"
        steps.append(Step(f"the true class is {k}: y = {_targets_text(y)} (one-hot)", rf"y = {_tvec(y)}", "one-hot target", 0))
        steps.append(Step(f"pick the true class: log {yh}_{k} ≈ {fmt(logp[k])}", rf"\log\hat y_{k} \approx {_tex(logp[k])}",
                          "pick the true class", 0))
        nats = -float(logp[k])
        steps.append(Step(f"negate: L = −log {yh}_{k} ≈ {fmt(nats)}", rf"L = -\log\hat y_{k} \approx {_tex(nats)}", "negate", 0))
    else:
        if r.target is not None:
            steps.append(Step(f"label smoothing ε = {fmt(eps)}: y = (1 − ε)·onehot({int(r.target)}) + ε/{x.size} = {_vec(y)}",
                              rf"y = (1-\varepsilon)\,\mathrm{{onehot}} + \varepsilon/n = {_tvec(y)}", "label smoothing", 0))
        elif eps:
            steps.append(Step(f"label smoothing ε = {fmt(eps)}: y = (1 − ε)·y + ε/{x.size} = {_vec(y)}",
                              rf"y = (1-\varepsilon)\,y + \varepsilon/n = {_tvec(y)}", "label smoothing", 0))
        else:
            steps.append(Step(f"soft target y = {_vec(y)}", rf"y = {_tvec(y)}", "probability target", 0))
        with np.errstate(all="ignore"):
            terms = np.where(y == 0, 0.0, -y * logp)
        for i in range(x.size):
            rule = "0·log 0 = 0" if y[i] == 0 else "term"
            steps.append(Step(f"−y_{i}·log ŷ_{i} = −{fmt(y[i])} × {fmt(logp[i])} ≈ {fmt(terms[i])}",
                              rf"-y_{i}\log\hat y_{i} = -{_tex(y[i])} \times ({_tex(logp[i])}) \approx {_tex(terms[i])}", rule, 1))
        nats = float(np.sum(terms))
        steps.append(Step(f"L = −Σ_i y_i·log ŷ_i = {_sum_text(terms)} ≈ {fmt(nats)}",
                          rf"L = -\sum_i y_i \log\hat y_i = {_sum_tex(terms)} \approx {_tex(nats)}", "sum", 0))
    if bits:
        steps.append(Step(f"in bits: L / ln 2 = {fmt(nats)} / 0.693147 ≈ {fmt(r.loss)}",
                          rf"L / \ln 2 \approx {_tex(r.loss)}", "change of base", 0))
    # gradient
    scale = ", divided by ln 2 for bits" if bits else ""
    lnd = " / 0.693147" if bits else ""
    if probs_input:
        steps.append(Step(f"gradient w.r.t. the probabilities: ∂L/∂p_i = −y_i / p_i{scale}",
                          r"\frac{\partial L}{\partial p_i} = -\frac{y_i}{p_i}", "derivative of log", 0))
        for i in range(x.size):
            steps.append(Step(f"∂L/∂p_{i} = −{fmt(y[i])} / {fmt(x[i])}{lnd} ≈ {fmt(r.grad[i])}",
                              rf"\frac{{\partial L}}{{\partial p_{i}}} \approx {_tex(r.grad[i])}", "", 1))
    else:
        steps.append(Step(f"gradient w.r.t. the logits: ∂L/∂z_i = ŷ_i − y_i{scale}",
                          r"\frac{\partial L}{\partial z_i} = \hat y_i - y_i", "softmax + cross-entropy", 0))
        for i in range(x.size):
            steps.append(Step((f"∂L/∂z_{i} = ({fmt(r.probs[i])} − {fmt(y[i])}){lnd} ≈ {fmt(r.grad[i])}" if bits else
                               f"∂L/∂z_{i} = {fmt(r.probs[i])} − {fmt(y[i])} ≈ {fmt(r.grad[i])}"),
                              rf"\frac{{\partial L}}{{\partial z_{i}}} = {_tex(r.probs[i])} - {_tex(y[i])} \approx {_tex(r.grad[i])}",
                              "", 1))
    steps.append(Step(f"loss L ≈ {fmt(r.loss)}{' bits' if bits else ''}", rf"L \approx {_tex(r.loss)}", "result", 0))
    return steps


def explain_binary_cross_entropy(x, labels, base: str = "e", probs_input: bool = False) -> list[Step]:
    """Binary cross-entropy element by element, the mean, and each gradient."""
    x = _one_vector(x, "probs" if probs_input else "logits")
    bits = validate_base(base) != 1.0
    if probs_input:
        r = quietly(binary_cross_entropy, x, labels, base=base)
        steps = [Step("ℓ_i = −[y_i·log p_i + (1 − y_i)·log(1 − p_i)], each log clamped at −100 as in PyTorch",
                      r"\ell_i = -\left[y_i \log p_i + (1 - y_i)\log(1 - p_i)\right]", "binary cross-entropy", 0)]
    else:
        r = quietly(binary_cross_entropy_with_logits, x, labels, base=base)
        steps = [Step("ℓ_i = max(z_i, 0) − z_i·y_i + log(1 + e^(−|z_i|)), the stable form of "
                      "−[y·log σ(z) + (1 − y)·log(1 − σ(z))]",
                      r"\ell_i = \max(z_i, 0) - z_i y_i + \log\left(1 + e^{-|z_i|}\right)", "stable BCE with logits", 0)]
    y = r.labels
    for i in range(x.size):
        var = "p" if probs_input else "z"
        steps.append(Step(f"ℓ_{i} ({var} = {fmt(x[i])}, y = {fmt(y[i])}) ≈ {fmt(r.losses[i])}",
                          rf"\ell_{i} \approx {_tex(r.losses[i])}", "", 1))
    steps.append(Step(f"mean: L = ({_sum_text(r.losses)}) / {x.size} ≈ {fmt(r.loss)}{' bits' if bits else ''}",
                      rf"L = \frac{{1}}{{{x.size}}}\sum_i \ell_i \approx {_tex(r.loss)}", "mean over elements", 0))
    if probs_input:
        steps.append(Step("∂ℓ_i/∂p_i = −y_i/p_i + (1 − y_i)/(1 − p_i) (per element, not divided by n)",
                          r"\frac{\partial \ell_i}{\partial p_i} = -\frac{y_i}{p_i} + \frac{1-y_i}{1-p_i}", "derivative of log", 0))
    else:
        steps.append(Step("∂ℓ_i/∂z_i = σ(z_i) − y_i (per element, not divided by n)",
                          r"\frac{\partial \ell_i}{\partial z_i} = \sigma(z_i) - y_i", "sigmoid + cross-entropy", 0))
    for i in range(x.size):
        lhs = f"σ({fmt(x[i])}) − {fmt(y[i])} = {fmt(r.probs[i])} − {fmt(y[i])}" if not probs_input else f"p = {fmt(x[i])}, y = {fmt(y[i])}"
        steps.append(Step(f"∂ℓ_{i} : {lhs} ≈ {fmt(r.grad[i])}", rf"\partial\ell_{i} \approx {_tex(r.grad[i])}", "", 1))
    return steps


def explain_kl(p, q, base: str = "e", symmetric: bool = False, normalize: bool = False) -> list[Step]:
    """D_KL(P‖Q) term by term, then H(P,Q), H(P) and the identity D_KL = H(P,Q) − H(P)."""
    p = _one_vector(p, "P")
    q = _one_vector(q, "Q")
    r = quietly(kl_divergence, p, q, base=base, symmetric=symmetric, normalize=normalize)
    p, q = r.p, r.q
    bits = validate_base(base) != 1.0
    unit = " bits" if bits else ""
    log = "log₂" if bits else "log"
    tlog = r"\log_2" if bits else r"\log"
    steps = [Step(f"D_KL(P‖Q) = Σ_i p_i·{log}(p_i / q_i)", rf"D_{{KL}}(P\|Q) = \sum_i p_i {tlog}\frac{{p_i}}{{q_i}}",
                  "definition of KL divergence", 0)]
    for i in range(p.size):
        if p[i] == 0:
            rule, txt = "0·log(0/q) = 0", f"p_{i} = 0, so the term is 0"
        elif q[i] == 0:
            rule, txt = "p > 0 with q = 0", f"p_{i} = {fmt(p[i])} > 0 where q_{i} = 0: the term is inf"
        else:
            rule, txt = "term", f"{fmt(p[i])} × {log}({fmt(p[i])} / {fmt(q[i])}) ≈ {fmt(r.terms[i])}"
        steps.append(Step(f"term {i}: {txt}", rf"p_{i} {tlog}\frac{{p_{i}}}{{q_{i}}} \approx {_tex(r.terms[i])}", rule, 1))
    steps.append(Step(f"D_KL(P‖Q) = {_sum_text(r.terms)} ≈ {fmt(r.kl)}{unit}",
                      rf"D_{{KL}}(P\|Q) = {_sum_tex(r.terms)} \approx {_tex(r.kl)}", "sum", 0))
    steps.append(Step(f"cross-entropy H(P,Q) = −Σ_i p_i·{log} q_i ≈ {fmt(r.cross_entropy)}{unit}",
                      rf"H(P,Q) = -\sum_i p_i {tlog} q_i \approx {_tex(r.cross_entropy)}", "cross-entropy", 0))
    steps.append(Step(f"entropy H(P) = −Σ_i p_i·{log} p_i ≈ {fmt(r.entropy)}{unit} (0·log 0 = 0)",
                      rf"H(P) = -\sum_i p_i {tlog} p_i \approx {_tex(r.entropy)}", "entropy", 0))
    with np.errstate(all="ignore"):
        diff = float(r.cross_entropy - r.entropy)
    steps.append(Step(f"D_KL = H(P,Q) − H(P) = {fmt(r.cross_entropy)} − {fmt(r.entropy)} ≈ {fmt(diff)}{unit}",
                      rf"D_{{KL}} = H(P,Q) - H(P) = {_tex(r.cross_entropy)} - {_tex(r.entropy)} \approx {_tex(diff)}",
                      "KL = cross-entropy − entropy", 0))
    if symmetric:
        steps.append(Step(f"reverse: D_KL(Q‖P) ≈ {fmt(r.kl_reverse)}{unit} (KL is not symmetric)",
                          rf"D_{{KL}}(Q\|P) \approx {_tex(r.kl_reverse)}", "reverse KL", 0))
        steps.append(Step(f"Jensen–Shannon: JS = ½·D_KL(P‖M) + ½·D_KL(Q‖M), M = (P + Q)/2 ≈ {fmt(r.js)}{unit}",
                          rf"JS = \tfrac12 D_{{KL}}(P\|M) + \tfrac12 D_{{KL}}(Q\|M) \approx {_tex(r.js)}", "Jensen–Shannon", 0))
    return steps
