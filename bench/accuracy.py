"""Accuracy of dlcalc's float64 results against mpmath: share correctly rounded, worst ulps.

    PYTHONPATH=. python bench/accuracy.py [--points N] [--only NAME,...|losses] [--results PATH]

For every registry function and derivative (each parameter at its default and over a sweep),
and for the losses and divergences, the exact value of the definition is computed with mpmath at
200 bits and rounded once to float64 (dlcalc.evaluation.to_float64, subnormals included); a
result is correctly rounded when it is that float64. The error in ulps is |result − exact| over
the float64 spacing at the exact value (for a subnormal or zero exact value, 2^-1074).

Grids: N points uniform on [−50, 50], N points ±log-spaced from 1e-30 to 1000 (both signs), N/4
uniform random on [−1000, 1000], and the points ±1000, ±745, ±709, 0, and for functions whose
tail is subnormal, the x where it is. Definitions are PyTorch's at kinks (relu'(0) = 0 ...).
This is a script, not a test: a full run takes minutes.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import mpmath
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlcalc import activations, rounding  # noqa: E402
from dlcalc.evaluation import to_float64  # noqa: E402

mp = mpmath.mp
BITS = 200

with mpmath.workprec(400):  # the decimal constants, exact to far beyond the working precision
    SELU_ALPHA = mpmath.mpf("1.6732632423543772848170429916717")
    SELU_SCALE = mpmath.mpf("1.0507009873554804934193349852946")
    GELU_KAPPA = mpmath.mpf("0.044715")


def sig(x):
    return 1 / (1 + mpmath.exp(-x))


def softplus1(x):
    return x + mpmath.log1p(mpmath.exp(-x)) if x > 0 else mpmath.log1p(mpmath.exp(x))


def sech2(x):
    return 1 / mpmath.cosh(x) ** 2


def _gelu_tanh_u(x):
    return mpmath.sqrt(2 / mpmath.pi) * (x + GELU_KAPPA * x ** 3)


def _softplus_beta(x, beta, threshold):
    if float(beta) * float(x) > threshold:  # PyTorch compares the float product
        return x, mpmath.mpf(1)
    bx = beta * x
    return softplus1(bx) / beta, sig(bx)


def _mish_terms(x):
    s = softplus1(x)
    return mpmath.tanh(s), sech2(s)


# name -> (f, f', sweep of parameter dicts); f and f' take (x, **params) as mpf.
REFERENCES = {
    "sigmoid": (sig, lambda x: sig(x) * sig(-x), [{}]),
    "tanh": (mpmath.tanh, sech2, [{}]),
    "relu": (lambda x: x if x > 0 else 0, lambda x: 1 if x > 0 else 0, [{}]),
    "leaky_relu": (lambda x, negative_slope: x if x > 0 else negative_slope * x,
                   lambda x, negative_slope: 1 if x > 0 else negative_slope,
                   [{"negative_slope": v} for v in (0.01, 0.2, 0.3, 1e-5)]),
    "prelu": (lambda x, weight: x if x > 0 else weight * x,
              lambda x, weight: 1 if x > 0 else weight,
              [{"weight": v} for v in (0.25, 0.1, 0.7)]),
    "rrelu": (lambda x, lower, upper: x if x > 0 else (lower + upper) / 2 * x,
              lambda x, lower, upper: 1 if x > 0 else (lower + upper) / 2,
              [{"lower": 0.125, "upper": 1 / 3}, {"lower": 0.1, "upper": 0.3}]),
    "relu6": (lambda x: min(max(x, 0), 6), lambda x: 1 if 0 < x < 6 else 0, [{}]),
    "elu": (lambda x, alpha: x if x > 0 else alpha * mpmath.expm1(x),
            lambda x, alpha: 1 if x > 0 else alpha * mpmath.exp(x),
            [{"alpha": v} for v in (1.0, 0.5, 2.0, 0.1)]),
    "selu": (lambda x: SELU_SCALE * x if x > 0 else SELU_SCALE * SELU_ALPHA * mpmath.expm1(x),
             lambda x: SELU_SCALE if x > 0 else SELU_SCALE * SELU_ALPHA * mpmath.exp(x), [{}]),
    "celu": (lambda x, alpha: x if x > 0 else alpha * mpmath.expm1(x / alpha),
             lambda x, alpha: 1 if x > 0 else mpmath.exp(x / alpha),
             [{"alpha": v} for v in (1.0, 0.5, 3.0, 0.1)]),
    "gelu": (lambda x: x * mpmath.ncdf(x), lambda x: mpmath.ncdf(x) + x * mpmath.npdf(x), [{}]),
    # (1 + tanh u)/2 written as σ(2u): the same number, without 1 + tanh u cancelling for u ≪ 0
    "gelu_tanh": (
        lambda x: x * sig(2 * _gelu_tanh_u(x)),
        lambda x: sig(2 * _gelu_tanh_u(x)) + x / 2 * sech2(_gelu_tanh_u(x))
        * mpmath.sqrt(2 / mpmath.pi) * (1 + 3 * GELU_KAPPA * x ** 2),
        [{}]),
    "silu": (lambda x: x * sig(x), lambda x: sig(x) * (1 + x * sig(-x)), [{}]),
    "mish": (lambda x: x * _mish_terms(x)[0],
             lambda x: _mish_terms(x)[0] + x * _mish_terms(x)[1] * sig(x), [{}]),
    "softplus": (lambda x, beta, threshold: _softplus_beta(x, beta, threshold)[0],
                 lambda x, beta, threshold: _softplus_beta(x, beta, threshold)[1],
                 [{"beta": 1.0, "threshold": 20.0}, {"beta": 2.0, "threshold": 20.0},
                  {"beta": 0.5, "threshold": 10.0}, {"beta": 1.0, "threshold": 1e9}]),
    "squareplus": (lambda x, b: (x + mpmath.sqrt(x * x + b)) / 2,
                   lambda x, b: (1 + x / mpmath.sqrt(x * x + b)) / 2,
                   [{"b": v} for v in (4.0, 1.0, 0.25)]),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2, [{}]),
    "logsigmoid": (lambda x: -softplus1(-x), lambda x: sig(-x), [{}]),
    "hardsigmoid": (lambda x: min(max(x + 3, 0), 6) / 6,
                    lambda x: mpmath.mpf(1) / 6 if -3 < x < 3 else 0, [{}]),
    "hardtanh": (lambda x, min_val, max_val: min(max(x, min_val), max_val),
                 lambda x, min_val, max_val: 1 if min_val < x < max_val else 0,
                 [{"min_val": -1.0, "max_val": 1.0}, {"min_val": -2.0, "max_val": 0.5}]),
    "hardswish": (lambda x: x * min(max(x + 3, 0), 6) / 6,
                  lambda x: 0 if x <= -3 else (1 if x >= 3 else (2 * x + 3) / 6), [{}]),
    "tanhshrink": (lambda x: x - mpmath.tanh(x), lambda x: mpmath.tanh(x) ** 2, [{}]),
    "softshrink": (lambda x, lambd: x - lambd if x > lambd else (x + lambd if x < -lambd else 0),
                   lambda x, lambd: 1 if abs(x) > lambd else 0,
                   [{"lambd": v} for v in (0.5, 0.1, 2.0)]),
    "hardshrink": (lambda x, lambd: x if abs(x) > lambd else 0,
                   lambda x, lambd: 1 if abs(x) > lambd else 0,
                   [{"lambd": v} for v in (0.5, 0.1, 2.0)]),
    "threshold": (lambda x, threshold, value: x if x > threshold else value,
                  lambda x, threshold, value: 1 if x > threshold else 0,
                  [{"threshold": 0.0, "value": 0.0}, {"threshold": 1.0, "value": -2.0}]),
    "sparse_plus": (lambda x: 0 if x <= -1 else ((x + 1) ** 2 / 4 if x < 1 else x),
                    lambda x: 0 if x <= -1 else ((x + 1) / 2 if x < 1 else 1), [{}]),
    "sparse_sigmoid": (lambda x: min(max((x + 1) / 2, 0), 1),
                       lambda x: mpmath.mpf(1) / 2 if -1 < x < 1 else 0, [{}]),
    "identity": (lambda x: x, lambda x: 1, [{}]),
}


def grid(points: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    magnitudes = np.geomspace(1e-30, 1000.0, points)
    special = [0.0, 1000.0, -1000.0, 745.0, -745.0, 709.0, -709.0, 0.5, -0.5, 3.0, -3.0, 1.0,
               -1.0, 6.0, 20.0, 40.0, -40.0, -37.5, -720.0, -740.0]
    tails = np.concatenate([np.linspace(-745.5, -700.0, points // 8),  # subnormal e^x
                            np.linspace(-39.0, -37.0, points // 16)])  # subnormal gelu, Φ tails
    x = np.concatenate([np.linspace(-50.0, 50.0, points), magnitudes, -magnitudes,
                        rng.uniform(-1000.0, 1000.0, points // 4), tails, special])
    return np.unique(x)


def ulp_error(value: float, exact) -> float:
    if math.isnan(value):
        return math.inf
    spacing = math.ulp(abs(float(exact))) if exact != 0 else 5e-324
    spacing = max(spacing, 5e-324)
    if math.isinf(value):
        return 0.0 if math.isinf(float(exact)) and math.copysign(1, value) == math.copysign(1, exact) else math.inf
    with mpmath.workprec(BITS):
        return float(abs(mpmath.mpf(value) - exact) / spacing)


def tally(pairs) -> tuple[int, int, float]:
    """(results, correctly rounded, worst ulps) of (value, exact) pairs."""
    count = good = 0
    worst = 0.0
    for value, exact in pairs:
        count += 1
        if value == to_float64(exact):
            good += 1
        else:
            worst = max(worst, ulp_error(value, exact))
    return count, good, worst


def exact_value(fn, *args, **params):
    """fn at BITS, 2·BITS, ... bits until two precisions agree to 2^-120 (x − tanh x at 1e-30
    cancels 200 bits); returned at the last precision."""
    bits, previous = BITS, None
    while True:
        with mpmath.workprec(bits):
            value = mpmath.mpf(fn(*[mpmath.mpf(a) if not isinstance(a, list) else a for a in args],
                                  **{k: mpmath.mpf(v) for k, v in params.items()}))
            if previous is not None and (abs(value - previous) <= abs(value) * mpmath.ldexp(1, -120)
                                         or bits >= 8 * BITS):
                return value
        previous, bits = value, bits * 2


def measure(values: np.ndarray, exact_fn, xs: np.ndarray, params: dict,
            batch_values: np.ndarray) -> tuple[int, int, float, float, int, float]:
    """(count, correctly rounded, worst ulps, x of the worst, and for `batch_values` (the values
    in an array larger than rounding.MAX_EXACT_SIZE, as a batch block gets them) correctly
    rounded and worst ulps)."""
    good, worst, worst_x, batch_good, batch_worst = 0, 0.0, math.nan, 0, 0.0
    for x, y, yb in zip(xs.tolist(), values.tolist(), batch_values.tolist()):
        exact = exact_value(exact_fn, x, **params)
        rounded = to_float64(exact)
        if yb == rounded:
            batch_good += 1
        else:
            batch_worst = max(batch_worst, ulp_error(yb, exact))
        if y == rounded:
            good += 1
            continue
        error = ulp_error(y, exact)
        if error > worst:
            worst, worst_x = error, x
    return len(xs), good, worst, worst_x, batch_good, batch_worst


def registry_rows(points: int, only: set[str] | None):
    xs = grid(points)
    for name, (f, df, sweep) in REFERENCES.items():
        if only and name not in only:
            continue
        entry = activations.REGISTRY[name]
        for which, fn, ref in (("f", entry.function, f), ("f'", entry.derivative, df)):
            total = good = batch_good = 0
            worst, worst_x, worst_params, batch_worst = 0.0, math.nan, {}, 0.0
            for params in sweep:
                # as command-line values and plots get them: arrays small enough for the
                # mpmath step (rounding.MAX_EXACT_SIZE), so 4,096 points per call
                values = np.concatenate([np.asarray(fn(xs[i:i + 4096], **params), dtype=np.float64)
                                         for i in range(0, xs.size, 4096)])
                # as a batch block gets them: the grid inside one array of more than
                # rounding.MAX_EXACT_SIZE elements (the rest filler, x = 4·N(0, 1))
                filler = 4.0 * np.random.default_rng(1).standard_normal(rounding.MAX_EXACT_SIZE + 1)
                batch_values = np.asarray(fn(np.concatenate([xs, filler]), **params),
                                          dtype=np.float64)[:xs.size]
                n, g, w, wx, bg, bw = measure(values, ref, xs, params, batch_values)
                total, good, batch_good = total + n, good + g, batch_good + bg
                batch_worst = max(batch_worst, bw)
                if w > worst:
                    worst, worst_x, worst_params = w, wx, params
            yield (name + ("" if which == "f" else "'"), total, good, worst, worst_x, worst_params,
                   len(sweep), batch_good, batch_worst)


def loss_rows(points: int):
    """H(P,Q), KL, entropy, log-softmax over random 3- to 5-class rows."""
    from dlcalc import losses, softmax_core as softmax

    rng = np.random.default_rng(1)
    rows = max(points // 10, 50)
    results = []
    for n in (3, 5):
        z = rng.normal(scale=4.0, size=(rows, n))
        zq = rng.normal(scale=4.0, size=(rows, n))
        p = np.asarray(softmax.softmax(z))
        q = np.asarray(softmax.softmax(zq))

        def exact_rows(fn):
            def row(i):
                return lambda: fn([mpmath.mpf(v) for v in p[i]], [mpmath.mpf(v) for v in q[i]],
                                  [mpmath.mpf(v) for v in z[i]])
            return [exact_value(row(i)) for i in range(rows)]

        kl = losses.kl_divergence(p, q)
        soft = losses.cross_entropy_from_probs(q, target_probs=p)
        hard = losses.cross_entropy(z, target=np.zeros(rows, dtype=int))

        quantities = {
            "entropy H(P)": (np.asarray(losses.entropy(p)),
                             lambda P, Q, Z: -mpmath.fsum(a * mpmath.log(a) for a in P if a > 0)),
            "cross-entropy H(P,Q)": (np.asarray(losses.cross_entropy_distributions(p, q)),
                                     lambda P, Q, Z: -mpmath.fsum(a * mpmath.log(b) for a, b in zip(P, Q) if a > 0)),
            "H(P,Q) of ce --probs --target-probs": (
                np.asarray(soft.loss),
                lambda P, Q, Z: -mpmath.fsum(a * mpmath.log(b) for a, b in zip(P, Q) if a > 0)),
            "KL(P‖Q)": (np.asarray(kl.kl),
                         lambda P, Q, Z: mpmath.fsum(a * mpmath.log(a / b) for a, b in zip(P, Q) if a > 0)),
            "H(P,Q) of kl": (np.asarray(kl.cross_entropy),
                             lambda P, Q, Z: -mpmath.fsum(a * mpmath.log(b) for a, b in zip(P, Q) if a > 0)),
            "ce from logits, target 0": (
                np.asarray(hard.loss),
                lambda P, Q, Z: mpmath.log(mpmath.fsum(mpmath.exp(v) for v in Z)) - Z[0]),
            "ce gradient[0], target 0": (
                np.asarray(hard.grad)[:, 0],
                lambda P, Q, Z: mpmath.exp(Z[0]) / mpmath.fsum(mpmath.exp(v) for v in Z) - 1),
            "log_softmax[0]": (np.asarray(softmax.log_softmax(z))[:, 0],
                               lambda P, Q, Z: Z[0] - mpmath.log(mpmath.fsum(mpmath.exp(v) for v in Z))),
            "softmax[0]": (np.asarray(softmax.softmax(z))[:, 0],
                           lambda P, Q, Z: mpmath.exp(Z[0]) / mpmath.fsum(mpmath.exp(v) for v in Z)),
        }
        for label, (values, ref) in quantities.items():
            _, good, worst = tally(zip(values.reshape(rows).tolist(), exact_rows(ref)))
            results.append((f"{label}, {n} classes", rows, good, worst))
    return results


def _divergence_rows(rng, n, rows):
    """Random 3- and 5-class (P, Q), logits and labels, half of them hard: P ≈ Q (the divergences
    cancel) and labels a hair from σ(z) (the binary gradient cancels)."""
    z = rng.normal(scale=3.0, size=(rows, n))
    zq = np.where(np.arange(rows)[:, None] % 2 == 1, z + 1e-6 * rng.standard_normal((rows, n)),
                  rng.normal(scale=3.0, size=(rows, n)))
    p = rng.dirichlet(np.ones(n), rows)
    q = np.where(np.arange(rows)[:, None] % 2 == 1, p * (1 + 1e-7 * rng.standard_normal((rows, n))),
                 rng.dirichlet(np.ones(n), rows))
    q = q / q.sum(axis=1, keepdims=True)
    with mpmath.workprec(BITS):
        near = np.array([[float(sig(mpmath.mpf(float(v))) * (1 + mpmath.mpf(1e-12))) for v in row] for row in z])
    labels = np.where(np.arange(rows)[:, None] % 2 == 1, np.minimum(near, 1.0), rng.random((rows, n)))
    return p, q, z, zq, labels


def divergence_rows(points: int):
    """(label, results, correctly rounded, worst ulps, the same in a large call) for the terms of
    KL, JS, KL from logits, binary cross-entropy and ce --probs in bits. One call per row (a
    command line); "large call": the same rows as a batch block of more than 16,384 numbers
    gets them (rounding.MAX_EXACT_SIZE set to 0: the long-double rounding alone)."""
    from dlcalc import losses

    rng = np.random.default_rng(2)
    rows = max(points // 10, 50)
    results = []
    for n in (3, 5):
        p, q, z, zq, labels = _divergence_rows(rng, n, rows)

        def mp_log_softmax(v):
            top = max(v)
            lse = top + mpmath.log(mpmath.fsum(mpmath.exp(a - top) for a in v))
            return [a - lse for a in v]

        def js(P, Q):
            return mpmath.fsum((a * mpmath.log(2 * a / (a + b)) if a else 0) + (b * mpmath.log(2 * b / (a + b)) if b else 0)
                               for a, b in zip(P, Q)) / 2

        def exact(i):
            with mpmath.workprec(BITS):
                P, Q, Z, ZQ, Y = ([mpmath.mpf(float(v)) for v in a[i]] for a in (p, q, z, zq, labels))
                LP, LQ = mp_log_softmax(Z), mp_log_softmax(ZQ)
                PL, QL = [mpmath.exp(v) for v in LP], [mpmath.exp(v) for v in LQ]
                ell = [max(a, 0) - a * b + mpmath.log1p(mpmath.exp(-abs(a))) for a, b in zip(Z, Y)]
                p_ell = [(0 if b == 0 else -b * max(mpmath.log(a), -100)) + (0 if b == 1 else -(1 - b) * mpmath.log1p(-a))
                         for a, b in zip(P, Y)]
                return {
                    "KL(P‖Q)": [max(mpmath.fsum(a * mpmath.log(a / b) for a, b in zip(P, Q)), 0)],  # clamped
                    "H(P,Q)": [-mpmath.fsum(a * mpmath.log(b) for a, b in zip(P, Q))],
                    "KL terms p·log(p/q)": [a * mpmath.log(a / b) for a, b in zip(P, Q)],
                    "JS(P,Q)": [js(P, Q)],
                    "KL from logits": [mpmath.fsum(a * (u - v) for a, u, v in zip(PL, LP, LQ))],
                    "KL terms from logits": [a * (u - v) for a, u, v in zip(PL, LP, LQ)],
                    "H(P,Q) from logits": [-mpmath.fsum(a * v for a, v in zip(PL, LQ))],
                    "JS from logits": [js(PL, QL)],
                    "BCE with logits, losses": ell,
                    "BCE with logits, mean": [mpmath.fsum(ell) / n],
                    "BCE with logits, gradient": [(1 - b) - sig(-a) if a >= 0 else sig(a) - b for a, b in zip(Z, Y)],
                    "BCE of probabilities, losses": p_ell,
                    "BCE of probabilities, mean": [mpmath.fsum(p_ell) / n],
                    "BCE of probabilities, gradient": [(a - b) / (a * (1 - a)) for a, b in zip(P, Y)],
                    "ce --probs gradient in bits": [-b / (a * mpmath.log(2)) for a, b in zip(P, Q)],
                }

        def computed(i):
            kl = losses.kl_divergence(p[i], q[i], symmetric=True)
            logits = losses.kl_divergence_from_logits(z[i], zq[i], symmetric=True)
            bce = losses.binary_cross_entropy_with_logits(z[i], labels[i])
            bce_p = losses.binary_cross_entropy(p[i], labels[i])
            ce = losses.cross_entropy_from_probs(p[i], target_probs=q[i], base="2")
            return {
                "KL(P‖Q)": [kl.kl], "H(P,Q)": [kl.cross_entropy],
                "KL terms p·log(p/q)": kl.terms, "JS(P,Q)": [kl.js],
                "KL from logits": [logits.kl], "KL terms from logits": logits.terms,
                "H(P,Q) from logits": [logits.cross_entropy], "JS from logits": [logits.js],
                "BCE with logits, losses": bce.losses, "BCE with logits, mean": [bce.loss],
                "BCE with logits, gradient": bce.grad,
                "BCE of probabilities, losses": bce_p.losses, "BCE of probabilities, mean": [bce_p.loss],
                "BCE of probabilities, gradient": bce_p.grad, "ce --probs gradient in bits": ce.grad,
            }

        exacts = [exact(i) for i in range(rows)]
        small = [computed(i) for i in range(rows)]
        limit = rounding.MAX_EXACT_SIZE
        rounding.MAX_EXACT_SIZE = 0
        try:
            large = [computed(i) for i in range(rows)]
        finally:
            rounding.MAX_EXACT_SIZE = limit
        for label in exacts[0]:
            tallies = [tally((y, e) for i in range(rows) for y, e in
                             zip(np.asarray(got[i][label], dtype=float).reshape(-1).tolist(), exacts[i][label]))
                       for got in (small, large)]
            total, good, worst = tallies[0]
            results.append((f"{label}, {n} classes", total, good, worst, *tallies[1][1:]))
    return results


def _softmax_exact(z, temperature=1.0):
    """softmax, 1 − softmax, log-softmax and logsumexp of the row z/T (z/T rounded to float64
    first, as dlcalc defines the tempered logits), as mpf, at enough bits for the row's spread
    (log-softmax's exact value may lie e^-1000 from a float64 midpoint)."""
    zt = [float(v) for v in np.asarray(z, dtype=np.float64) / temperature]
    bits = min(200 + 2 * int(max(zt) - min(zt)), 4000)
    with mpmath.workprec(bits):
        zs = [mpmath.mpf(v) for v in zt]
        m = max(zs)
        k = zs.index(m)
        terms = [mpmath.exp(v - m) for v in zs]
        total = mpmath.fsum(terms)
        log_sum = mpmath.log1p(mpmath.fsum(terms[:k] + terms[k + 1:]))
        # total − t_i cancels at most 1.45·(spread) bits of the 200 + 2·spread
        return ([t / total for t in terms], [(total - t) / total for t in terms],
                [(v - m) - log_sum for v in zs], m + log_sum)


def softmax_rows(points: int):
    """Every printed quantity of the softmax family and of cross-entropy from logits, every
    element, on random rows of 3 and 10 logits (one in four with a spread of hundreds: tiny and
    subnormal probabilities), as command-line values get them and inside one array of more
    than rounding.MAX_EXACT_SIZE elements (the rest filler), as a batch block gets them:
    (label, elements, correctly rounded, worst ulps, large batch: correctly rounded, worst)."""
    from dlcalc import losses, softmax_core as softmax

    rng = np.random.default_rng(2)
    rows = max(points // 20, 50)
    temperature = 2.5
    results = []
    for n in (3, 10):
        z = rng.normal(scale=4.0, size=(rows, n))
        z[::4] *= 60.0
        filler = 4.0 * np.random.default_rng(3).standard_normal((rounding.MAX_EXACT_SIZE // n + 1, n))
        targets = np.arange(rows) % n

        def compute(x):
            t = np.arange(len(x)) % n
            r = softmax.softmax_all(x)
            ce, bits = losses.cross_entropy(x, target=t), losses.cross_entropy(x, target=t, base="2")
            return {"softmax": r.softmax, "log-softmax": r.log_softmax, "logsumexp": r.logsumexp[:, None],
                    "softmax Jacobian": softmax.softmax_jacobian(x).reshape(len(x), -1),
                    f"log-softmax Jacobian, T = {temperature:g}":
                        softmax.log_softmax_jacobian(x, temperature).reshape(len(x), -1),
                    f"softmax Jacobian, T = {temperature:g}":
                        softmax.softmax_jacobian(x, temperature).reshape(len(x), -1),
                    "ce loss (one-hot)": ce.loss[:, None], "ce gradient (one-hot)": ce.grad,
                    "ce loss in bits": bits.loss[:, None], "ce gradient in bits": bits.grad}

        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                small = compute(z)
                large = {key: value[:rows] for key, value in compute(np.concatenate([z, filler])).items()}
        exact = {key: [] for key in small}
        for row in range(rows):
            sm, comp, lsm, lse = _softmax_exact(z[row])
            smt, compt, _, _ = _softmax_exact(z[row], temperature)
            c = int(targets[row])
            with mpmath.workprec(4200):
                T = mpmath.mpf(temperature)
                gradient = [-comp[i] if i == c else sm[i] for i in range(n)]
                exact["softmax"].append(sm)
                exact["log-softmax"].append(lsm)
                exact["logsumexp"].append([lse])
                exact["softmax Jacobian"].append([sm[i] * comp[i] if i == j else -sm[i] * sm[j]
                                                  for i in range(n) for j in range(n)])
                exact[f"log-softmax Jacobian, T = {temperature:g}"].append(
                    [compt[i] / T if i == j else -smt[j] / T for i in range(n) for j in range(n)])
                exact[f"softmax Jacobian, T = {temperature:g}"].append(
                    [smt[i] * compt[i] / T if i == j else -smt[i] * smt[j] / T for i in range(n) for j in range(n)])
                exact["ce loss (one-hot)"].append([-lsm[c]])
                exact["ce gradient (one-hot)"].append(gradient)
                exact["ce loss in bits"].append([-lsm[c] / mpmath.ln2])
                exact["ce gradient in bits"].append([g / mpmath.ln2 for g in gradient])
        for key in small:
            count, good, worst = tally((v, e) for row in range(rows)
                                       for v, e in zip(small[key][row].tolist(), exact[key][row]))
            _, batch_good, batch_worst = tally((v, e) for row in range(rows)
                                               for v, e in zip(large[key][row].tolist(), exact[key][row]))
            results.append((f"{key}, {n} classes", count, good, worst, batch_good, batch_worst))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=4000)
    parser.add_argument("--only", default="")
    parser.add_argument("--results", default="")
    parser.add_argument("--no-losses", action="store_true")
    args = parser.parse_args(argv)
    only = {s for s in args.only.split(",") if s} or None
    started = time.time()
    lines = ["| function | results | correctly rounded | worst error (ulp) | at x | parameter sets "
             "| large batch: correctly rounded | large batch: worst (ulp) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, total, good, worst, wx, wp, sets, bgood, bworst in registry_rows(args.points, only):
        at = "" if math.isnan(wx) else f"{wx:.17g}" + (f" ({', '.join(f'{k}={v:g}' for k, v in wp.items())})" if wp else "")
        line = (f"| {name} | {total} | {100 * good / total:.3f}% | {worst:.3g} | {at} | {sets} "
                f"| {100 * bgood / total:.3f}% | {bworst:.3g} |")
        lines.append(line)
        print(line, flush=True)
    if not args.no_losses and (not only or "losses" in only):  # --only losses: these alone
        lines += ["", "| quantity | rows | correctly rounded | worst error (ulp) |", "|---|---:|---:|---:|"]
        for label, total, good, worst in loss_rows(args.points):
            line = f"| {label} | {total} | {100 * good / total:.3f}% | {worst:.3g} |"
            lines.append(line)
            print(line, flush=True)
        lines += ["", "| quantity | results | correctly rounded | worst error (ulp) "
                  "| large call: correctly rounded | large call: worst (ulp) |", "|---|---:|---:|---:|---:|---:|"]
        for label, total, good, worst, large_good, large_worst in divergence_rows(args.points):
            line = (f"| {label} | {total} | {100 * good / total:.3f}% | {worst:.3g} "
                    f"| {100 * large_good / total:.3f}% | {large_worst:.3g} |")
            lines.append(line)
            print(line, flush=True)
        lines += ["", "| softmax family, cross-entropy from logits (every element) | results | correctly rounded "
                  "| worst error (ulp) | large batch: correctly rounded | large batch: worst (ulp) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for label, total, good, worst, bgood, bworst in softmax_rows(args.points):
            line = (f"| {label} | {total} | {100 * good / total:.3f}% | {worst:.3g} "
                    f"| {100 * bgood / total:.3f}% | {bworst:.3g} |")
            lines.append(line)
            print(line, flush=True)
    print(f"({time.time() - started:.0f} s)", file=sys.stderr)
    if args.results:
        Path(args.results).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
