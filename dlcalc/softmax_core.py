r"""Softmax, log-softmax, log-sum-exp and their Jacobians, over the last axis of a batch.

Every function takes logits of shape ``(..., n)`` (one row per input vector) and reduces over
the last axis, computing in the input's dtype (float32 stays float32; anything else becomes
float64). The core never prints: bad input raises :class:`~dlcalc.errors.DlcalcError`, and a
result that is NaN or infinite comes with a :class:`~dlcalc.errors.NumericWarning` saying why.
For a batch, the error or warning instance carries ``.row`` (the index of the offending row in
the flattened leading axes; ``None`` for a single vector) so a caller can report line numbers.

Notes on stability (why these are accurate to a few ulp, not merely free of overflow)
------------------------------------------------------------------------------------
With ``m = max_j z_j`` at index ``k`` and ``s = Σ_{j≠k} e^{z_j − m}`` (every term ≤ 1, so
nothing overflows), the max term is kept out of the sum (Blanchard, Higham & Higham 2021):

    logsumexp(z) = m + log1p(s)
    log_softmax(z)_i = (z_i − m) − log1p(s)        (two terms of equal sign: no cancellation)
    softmax(z)_i = e^{z_i − m} / (1 + s)

``z_i − m`` is rounded when the two are far apart, and ``exp`` multiplies that rounding error
by ``|z_i − m|`` (up to 745): the rounding error ``e`` is recovered exactly with Knuth's
two-sum and applied as ``e^{z_i − m} ≈ e^{d}·(1 + e)``, so the exponentials are correct to
about one ulp. ``1 − softmax_k`` at the argmax is ``s / (1 + s)``, not a cancelling
subtraction, which keeps the Jacobians' diagonals accurate when one class dominates.

Correct rounding. Even so, float64 arithmetic leaves results up to ~4 ulp off (numpy's exp is
itself up to ~0.5 ulp off, and log1p of a rounded s is another rounding), so where long double
is x87 extended (x86-64) the exponentials, s, ``s/(1 + s)``, the softmax quotient, ``1 − ŷ_i``
and log1p(s) are computed with 11 more bits, in blocks of rows, and the log-softmax and
logsumexp sums are done exactly in float64 with log1p(s) as a high + low pair. Each result is
rounded once, and is the exact value correctly rounded unless it lies within its error bound
(derived in the notes before `_ulps`: a few long-double ulps, growing with the row length)
of a float64 rounding boundary: those "doubtful" elements (of random 10-logit rows: 0.9% of
softmax values, 0.4% of log-softmax values, 0.2% of logsumexps) are decided again, Ziv's strategy as in dlcalc.rounding: their rows
in double-double (`_dd_rows`, error below 2^-90), the rare rest in mpmath. Exact midpoints
that a double-double cannot see past are decided exactly: z_i − m is often a float64
midpoint, and log-softmax = (z_i − m) − log S then lies log S below it. Every printed
softmax, log-softmax, logsumexp, complement, Jacobian entry (``rounded_product``) and
cross-entropy value and gradient from logits (one-hot target, nats or bits) is thus the exact
value correctly rounded, in arrays of any size (bench/accuracy.py: 100% of every element).
With a temperature the logits are ``z / T`` rounded to float64 first: the values are those of
the formula at those logits (and the Jacobians' 1/T is applied exactly). ``softmax([2, 1,
0.1])`` is ``[0.6590011388859679, 0.24243297070471392, 0.09856589040931817]`` and its
cross-entropy at class 0 is ``0.4170300162778335``. Elsewhere (long double = double, or IEEE
quad done in software) the float64 path runs, within a few ulp (58%, 85%, 95% correctly
rounded, up to 4.2 ulp). float32 input is computed in float32 as before.

Edge cases (the values chosen, all with a NumericWarning where the result is not finite)
-------------------------------------------------------------------------------------
* A single logit: softmax ``[1]``, log-softmax ``[0]``.
* ``−inf`` logits: probability 0, log-probability ``−inf``.
* Exactly one ``+inf`` logit: the mathematical limit, probability 1 there and 0 elsewhere
  (log-probabilities 0 and ``−inf``), logsumexp ``+inf``. PyTorch returns NaN here.
* Two or more ``+inf`` logits (∞/∞) or all logits ``−inf`` (0/0): softmax and log-softmax are
  NaN for the whole row. logsumexp is still defined: ``+inf`` and ``−inf`` respectively.
* Any NaN logit: the whole row is NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from dlcalc import exact
from dlcalc.errors import DlcalcError, NumericWarning
from dlcalc.exact import finite_error, row_blocks, two_sum

__all__ = [
    "SoftmaxResult",
    "as_float_array",
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_all",
    "softmax_jacobian",
    "log_softmax_jacobian",
    "validate_temperature",
    "format_value",
]


# ----------------------------------------------------------------------------------------------
# small shared helpers (also used by dlcalc.losses)


def format_value(x: float) -> str:
    """A number as a user reads it in a message: the plain output's shortest repr (`inf`,
    `-inf`, `nan`; integers without `.0`), from the one module that turns numbers into text."""
    from dlcalc.number_text import plain_number

    return plain_number(float(x))


def as_float_array(x, name: str = "z") -> np.ndarray:
    """``x`` as a float array of shape ``(..., n)``, n ≥ 1: float32 stays float32, else float64."""
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise DlcalcError(f"{name} must be a vector of numbers, got {x!r}") from None
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.shape[-1] == 0:
        raise DlcalcError(f"{name} is empty; give at least one number")
    return arr


def validate_temperature(temperature) -> float:
    """The temperature must be a finite number > 0 (the logits are divided by it)."""
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise DlcalcError(f"temperature {temperature!r} is not a number; expected a number > 0") from None
    if not np.isfinite(t) or t <= 0:
        raise DlcalcError(f"temperature {format_value(t)} is invalid; expected a finite number > 0")
    return t


def _warn(message: str, row) -> None:
    w = NumericWarning(message)
    w.row = row
    warnings.warn(w, stacklevel=3)


def _rows(shape, where=None):
    """Iterate (row index for messages, index tuple) over the leading axes.

    With ``where`` (a boolean array of the leading shape), only the rows where it is True: the
    warning loops visit just the non-finite rows, so a million clean rows cost one vector test,
    not a million Python iterations.
    """
    lead = shape[:-1]
    if not lead:
        if where is None or bool(where):
            yield None, ()
        return
    if where is None:
        for r, idx in enumerate(np.ndindex(*lead)):
            yield r, idx
        return
    for r in np.flatnonzero(np.broadcast_to(where, lead)):
        yield int(r), tuple(int(i) for i in np.unravel_index(r, lead))


def _two_diff(a, b):
    """d = fl(a − b) and the exact rounding error e, a − b = d + e (0 where an operand is ±∞)."""
    d, e = two_sum(a, -b)
    return d, finite_error(e)


# ----------------------------------------------------------------------------------------------
# the core: one pass gives everything, special rows are patched after


# x87 extended precision (a 64-bit mantissa, 11 bits more than float64) is a hardware format on
# x86-64: done in it, the exponentials, their sum and log1p are accurate to a few 2^-64, so the
# final rounding to float64 is the correct rounding of the exact value except near a float64
# midpoint, which `_extended_values` detects (Ziv's strategy, as dlcalc.rounding for the
# registry functions). Where long double is IEEE quad (aarch64 Linux: software, tens of times
# slower), double-double (PowerPC) or plain double (MSVC, macOS arm64), the float64 path is used
# instead: a few ulp, not correctly rounded. dlcalc.exact decides (exact.EXTENDED) and sizes the
# blocks.
#
# The error bounds of the long-double values, in long-double ulps U = 2^-63 (one rounded
# operation errs by at most U/2 relative), for a row of n logits, with c = s/(1 + s) the
# complement at the argmax. glibc's tables give its x87 expl 1 ulp and log1pl 2; measured
# against double-double on 1.6 million arguments expl errs up to 1.10 ulp and log1pl 0.91, so
# we take E = 2U and G = 4U. The errors of every quantity, measured the same way on rows of 2 to
# 300 logits, stay below 0.46 (softmax), 0.50 (complements) and 0.83 (log-softmax, logsumexp:
# mostly the final rounding) of these bounds.
#   term e^{d}·(1 + e): E + U/2 for the product and sum, the dropped e²/2 below 2^-79
#     (|e| ≤ ulp(d)/2 ≤ 2^-39 for |d| < 16,384; beyond, e^d is 0 in long double): ≤ 3U;
#   s = Σ_{j≠k} terms (positive, summed one by one): ≤ (3 + n/2)U relative (= σ);
#   1 + s: σ·c + U/2 relative;
#   softmax_i = term/(1 + s): ≤ (4 + σ·c)U relative (F, per row);
#   1 − softmax_i (i ≠ k, softmax_i ≤ ½): F·softmax_i + c_i/2 absolute, in U;
#   s/(1 + s): s's error enters as σ/(1 + s): ≤ (σ·(1 − c) + 1)U relative;
#   log1p(s): s's relative error δ moves it by s·δ/(1 + s) ≤ δ·log1p(s): ≤ (σ + G)U relative;
#   log_softmax_i = (d + e) − log1p(s) as an exact float64 pair but for log1p(s), summed once
#     in long double for the test: (σ + G)·log1p(s) + 0.6·|value| absolute, in U;
#   logsumexp = m + log1p(s), the same, plus 2^-30·|m| for the float64 pair's roundings;
#   where log1p(s) is below 2^-1000 the pair is within 2^-1074 of it (2^-1011 U more), and
#   the values that are ±log1p(s) itself are tested on the long double instead.
# Rows of n logits are within `_ulps(n)` of every value (F ≤ 7 + n/2 …), the bound
# `rounded_product` takes for its factors.


def _ulps(n: int) -> float:
    """A bound of every long-double value's error in long-double ulps (2^-63) of its magnitude,
    for rows of n logits (the worst of the bounds above, over c)."""
    return 0.5 * n + 8.0


# Quantities the core can make correctly rounded; `need` names a subset (with an optional mask
# of the elements that matter), so each caller tests and refines only what it prints.
QUANTITIES = ("softmax", "complement", "log_softmax", "lse")


def _low(approx, y):
    """What rounding the long double approx to the float64 y lost (exact: 11 bits more)."""
    return (approx - y).astype(np.float64)


def _split(value, high, low):
    """high = value rounded to float64, low = what that lost (exact: a long double has 11 bits
    more), both written into the given float64 arrays."""
    high[...] = value
    low[...] = value - high


def _extended_values(d, e, hot, m, need, lows=True):
    """The quantities named in ``need`` (name → mask of the elements that matter, or None for
    all): softmax, 1 − softmax, log-softmax (rows, n) and logsumexp (rows,), each as a float64
    and its low part (the long double's remainder), from z − m = d + e, in x87, in blocks of
    rows; and which of the elements that matter are doubtful: within the error bound of a
    float64 rounding boundary.

    ``hot`` is the argmax; e^{d + e} is taken as e^d·(1 + e). 1 − softmax is s/(1 + s) at the
    argmax (no cancellation), 1 − softmax_i elsewhere (softmax_i ≤ ½). The errors are bounded in
    the notes above.
    """
    from dlcalc import rounding

    L = np.longdouble
    rows, n = d.shape
    shapes = {name: (rows, n) if name != "lse" else rows for name in need}
    values = {name: (np.empty(shape), np.empty(shape) if lows else None) for name, shape in shapes.items()}
    doubtful = {name: np.zeros(shape, dtype=bool) for name, shape in shapes.items()}
    for name, mask in need.items():
        if mask is not None:  # computed only where it matters: NaN elsewhere
            for part in values[name]:
                if part is not None:
                    part.fill(np.nan)

    def keep(name, b, at, approx, y, low, ulps, bound):
        """Store the float64 y and low part of approx (long double) at the elements `at` of
        block b (None: all) and test which are doubtful: approx's error is within bound·U
        (bound(i) at the flat indices i), which is at most ulps·U relative. The relative test
        (`rounding._doubtful`, fast) picks the candidates, the exact one decides on those."""
        target, rest = values[name]
        if at is None:
            target[b] = y
        else:
            target[b][at] = y
        if lows:
            if at is None:
                rest[b] = low(approx, y) if callable(low) else low
            else:
                rest[b][at] = low(approx, y) if callable(low) else low
        if ulps is None:
            doubt = rounding._doubtful(approx, y, 1.0, bound(slice(None)))
        else:
            doubt = rounding._doubtful(approx, y, ulps, None)
            candidates = np.flatnonzero(doubt)
            if candidates.size:
                doubt.reshape(-1)[candidates] = rounding._margin_test(
                    approx.reshape(-1)[candidates], 1.0, bound(candidates))
        if at is None:
            doubtful[name][b] = doubt
        else:
            doubtful[name][b][at] = doubt

    sigma = 3.0 + 0.5 * n
    for b in row_blocks(rows, n):
        # the elements that matter of a masked quantity (one per row for cross-entropy's loss)
        at = {name: None if mask is None else np.nonzero(mask[b]) for name, mask in need.items()}
        ex = np.exp(d[b].astype(L))
        ex += ex * e[b].astype(L)
        s = np.sum(ex, axis=-1, where=~hot[b])
        if "softmax" in need or "complement" in need:
            one_s = 1 + s
            c = s / one_s
            ck = c.astype(np.float64)
            factor = 4.0 + sigma * ck  # F, per row
            top = 4.0 + sigma * float(ck.max(initial=0.0))  # the largest F: a relative bound
            softmax = ex / one_s[:, None]
            if "softmax" in need:
                y = softmax.astype(np.float64)
                keep("softmax", b, None, softmax, y, _low, top,
                     lambda i, y=y: np.abs(y.reshape(-1)[i]) * factor[i // n])
            if "complement" in need:
                where = at["complement"]
                if where is None:
                    hot_c, c_c, ck_c, factor_c, softmax_c = hot[b], c[:, None], ck[:, None], factor[:, None], softmax
                else:
                    hot_c, c_c, ck_c, factor_c = hot[b][where], c[where[0]], ck[where[0]], factor[where[0]]
                    softmax_c = softmax[where]
                approx = np.where(hot_c, c_c, 1 - softmax_c)
                y = approx.astype(np.float64)

                def bound(i, y=y, hot_c=hot_c, ck_c=ck_c, factor_c=factor_c):
                    y, hot_i = y.reshape(-1)[i], np.broadcast_to(hot_c, y.shape).reshape(-1)[i]
                    ck_i = np.broadcast_to(ck_c, hot_c.shape).reshape(-1)[i]
                    factor_i = np.broadcast_to(factor_c, hot_c.shape).reshape(-1)[i]
                    return np.where(hot_i, y * (sigma * (1.0 - ck_i) + 1.0), (1.0 - y) * factor_i + 0.5 * y)

                keep("complement", b, where, approx, y, _low, max(top + 0.5, sigma + 1.0),
                     bound)
        if "log_softmax" not in need and "lse" not in need:
            continue
        l1s = np.log1p(s)
        high, low = np.empty(l1s.shape), np.empty(l1s.shape)
        _split(l1s, high, low)
        # the float64 pair (high, low) is within 2^-1074 of log1p(s) (exact above 2^-1000):
        # 2^-1011 U more; where log1p(s) itself is smaller, the values at the argmax (−log1p(s))
        # and logsumexp at m = 0 (log1p(s)) take the long double directly
        log_bound = (sigma + 4.0) * high + 2.0 ** -1011
        tiny = np.flatnonzero((l1s < 2.0 ** -1000) & (l1s > 0))
        # (d + e) − (high + low) and m + (high + low), each rounded once: the exact part by
        # two-sum, every small part added to its error; the long-double sum of the two parts
        # (within 2^-64 of the pair) is the doubtful test's value
        if "log_softmax" in need:
            where = at["log_softmax"]
            if where is None:
                db, eb, hb, lb, bound_b = d[b], e[b], high[:, None], low[:, None], log_bound[:, None]
            else:
                db, eb, hb, lb, bound_b = d[b][where], e[b][where], high[where[0]], low[where[0]], log_bound[where[0]]
            t, t_err = _two_diff(db, hb)
            small = (t_err + eb) - lb
            y = t + small
            rest = small - (y - t)  # exact: |small| ≤ |t|
            approx = t.astype(L) + small
            if tiny.size:
                is_tiny = np.zeros(l1s.shape, dtype=bool)
                is_tiny[tiny] = True
                top = (is_tiny[:, None] if where is None else is_tiny[where[0]]) & (db == 0)
                approx[top] = -np.broadcast_to(l1s[:, None] if where is None else l1s[where[0]], db.shape)[top]
                y[top] = approx[top]
                rest[top] = approx[top] - y[top]
            keep("log_softmax", b, where, approx, y, rest, sigma + 4.61,
                 lambda i, y=y, bound_b=bound_b: np.broadcast_to(bound_b, y.shape).reshape(-1)[i]
                 + 0.6 * np.abs(y.reshape(-1)[i]))
        if "lse" in need:
            mb = m[b]
            t, t_err = _two_diff(mb, -high)
            y, rest = two_sum(t, t_err + low)  # two-sum: t may be the smaller where m and log1p(s) cancel
            approx = t.astype(L) + (t_err.astype(L) + low)
            if tiny.size:
                approx[tiny] = mb[tiny].astype(L) + l1s[tiny]
                y[tiny] = approx[tiny]
                rest[tiny] = approx[tiny] - y[tiny]
            keep("lse", b, None, approx, y, rest, None,
                 lambda i, y=y: log_bound + 0.6 * np.abs(y) + 2.0 ** -30 * np.abs(mb))
    return values, doubtful


# The second stage, for the rows with a doubtful element: the same formulas in double-double
# (dlcalc.exact), all columns of those rows at once. Each term e^{d_j + e_j} = 2^{k_j}·m_j
# (exact.dd_exp_scaled: m_j in [1, 2), no underflow); s = 2^K·σ with K the largest k_j of the
# terms j ≠ argmax, σ = Σ 2^{k_j − K}·m_j summed pairwise (the error grows with log2 n, not n:
# 3u²·⌈log2 n⌉ ≤ 2^-100 for rows of up to 2^20 logits, u = 2^-53), so that a tiny s keeps its
# relative accuracy for the complement s/(1 + s). Every quantity is then a few dd operations on
# positive terms (log-softmax: two terms ≤ 0; logsumexp: m + log S, scaled by |m| + log S),
# within rounding.REFINE_BOUND.
_D_FLOOR = -2000.0  # e^-2000 < 2^-2885: such a softmax value rounds to 0 and adds nothing to S
_S_TINY = -860  # s < 2^-859·n: log1p(s) = s·(1 − s/2 …) is s to 2^-850 (and dd_expm1_parts wants
# arguments whose low parts are normal)


def _pairwise_dd_sum(hi, lo):
    """Σ over the last axis of the double-doubles (hi, lo) ≥ 0, halving the columns each step."""
    while hi.shape[-1] > 1:
        if hi.shape[-1] % 2:
            zero = np.zeros(hi.shape[:-1] + (1,))
            hi, lo = np.concatenate([hi, zero], axis=-1), np.concatenate([lo, zero], axis=-1)
        half = hi.shape[-1] // 2
        hi, lo = exact.dd_add((hi[..., :half], lo[..., :half]), (hi[..., half:], lo[..., half:]))
    return hi[..., 0], lo[..., 0]


def _dd_rows(d, e, hot, m, need=QUANTITIES):
    """The second stage for rows (r, n) with z − m = d + e: each quantity named in ``need`` as
    (hi, lo, scale, k), the value 2^k·(hi + lo) within REFINE_BOUND·|scale or hi| (the form
    `rounding.refined` takes). ``m`` (r,) is the max; −inf logits (d = −inf) give softmax 0,
    log-softmax −inf."""
    live = d > -np.inf
    low = d >= _D_FLOOR
    (mh, ml), k = exact.dd_exp_scaled(np.maximum(d, _D_FLOOR), np.where(low, e, 0.0))
    mh, ml = np.where(live, mh, 0.0), np.where(live, ml, 0.0)
    rest = live & ~hot & low
    big = np.iinfo(np.int64).min // 2
    top = np.max(np.where(rest, k, big), axis=-1)  # K; `big` when no term: s = 0
    shift = np.where(rest, np.maximum(k - top[:, None], -1100), 0)
    sh, sl = _pairwise_dd_sum(np.where(rest, np.ldexp(mh, shift), 0.0), np.where(rest, np.ldexp(ml, shift), 0.0))
    none = top == big
    top = np.where(none, 0, top)
    tiny = (top < _S_TINY) | none
    s = (np.ldexp(sh, top), np.ldexp(sl, top))  # low part subnormal only where s is tiny against 1
    S = exact.dd_add_d(s, 1.0)
    out = {}
    if "softmax" in need or "complement" in need:
        inverse = exact.dd_div((np.ones_like(S[0]), np.zeros_like(S[0])), S)  # 1/S once per row
        softmax = exact.dd_mul((mh, ml), (inverse[0][:, None], inverse[1][:, None]))
        out["softmax"] = (softmax[0], softmax[1], None, k)
    if "complement" in need:
        complement_k = exact.dd_mul((sh, sl), inverse)
        # 1 − softmax_i for i ≠ argmax: softmax_i ≤ ½, no cancellation; 2^k·softmax unscaled
        # (its low part may underflow, far below what the result (≥ ½) needs)
        complement = exact.dd_add_d((-np.ldexp(softmax[0], k), -np.ldexp(softmax[1], k)), 1.0)
        out["complement"] = (np.where(hot, complement_k[0][:, None], complement[0]),
                             np.where(hot, complement_k[1][:, None], complement[1]), None,
                             np.where(hot, top[:, None], 0))
    if "log_softmax" not in need and "lse" not in need:
        return out
    # log S = log1p(s): s itself when tiny; else one Newton step from y0 = log1p(s_hi) in
    # float64 (within 2^-52): with e^y0 = 1 + em1 in double-double, log S = y0 + log1p(δ),
    # δ = (s − em1)/e^y0 (|δ| ≤ 2^-51: log1p(δ) = δ − δ²/2 to 2^-150). em1 and e^y0 are within
    # ~2^-100 relative (exact.dd_expm1_parts), so δ is within 2^-100·s/(1 + s) and log S within
    # ~2^-99 relative. (One exponential costs half of exact.dd_log1p's series.)
    y0 = np.where(tiny, 0.5, np.log1p(s[0]))
    em1, ea = exact.dd_expm1_parts(y0, np.zeros_like(y0))
    delta = exact.dd_div(exact.dd_add(s, exact.dd_neg(em1)), ea)
    delta = exact.fast_two_sum(delta[0], delta[1] - 0.5 * delta[0] * delta[0])
    log_S = tuple(np.where(tiny, si, part) for si, part in zip(s, exact.dd_add_d(delta, y0)))
    out["log_S"] = log_S
    out["s_positive"] = ~none  # log S > 0, even where it underflows to 0 (s < 2^-1074)
    if "log_softmax" in need:
        log_softmax = exact.dd_add((d, np.where(live, e, 0.0)), (-log_S[0][:, None], -log_S[1][:, None]))
        # at the argmax with s tiny: −log1p(s) = −2^K·σ, kept scaled (it may be far below 2^-960)
        at_k = hot & tiny[:, None]
        out["log_softmax"] = (np.where(at_k, -sh[:, None], log_softmax[0]),
                              np.where(at_k, -sl[:, None], log_softmax[1]), None,
                              np.where(at_k, top[:, None], 0))
    if "lse" in need:
        lse = exact.dd_add_d(log_S, m)
        out["lse"] = (lse[0], lse[1], np.abs(m) + log_S[0], np.zeros(m.shape, dtype=np.int64))
    return out


def _decide(hi, lo, scale, k) -> np.ndarray:
    """`rounding.refined` of the double-doubles 2^k·(hi + lo), each within REFINE_BOUND of
    |scale|, or of its own magnitude where scale is None or NaN; and where that leaves a result
    in float64's subnormal range undecided, the same decision on the subnormal grid: there
    u = 2^(k + 1074)·(hi + lo) has a fraction in its high part, which refined's u_hi + u_lo
    rounds away (one result in two in the top binade of subnormals); splitting off the integer
    part first keeps it. NaN where still undecided."""
    from dlcalc import rounding

    relative = np.ones(hi.shape, dtype=bool) if scale is None else np.isnan(scale)
    size = np.abs(hi) if scale is None else np.where(relative, np.abs(hi), scale)
    value = rounding.refined(lambda _: (hi, lo, size, k), None)
    undecided = np.flatnonzero(np.isnan(value) & relative)
    if undecided.size:
        h, l, kk = hi[undecided], lo[undecided], k[undecided]
        with np.errstate(all="ignore"):
            tiny = np.isfinite(h) & (np.abs(h) >= 2.0 ** -960) & (kk + np.frexp(h)[1] <= -1021)
            u, ul = np.ldexp(h, kk + 1074), np.ldexp(l, kk + 1074)
            whole = np.floor(u)
            t, t_err = two_sum(u - whole, ul)  # u − whole is exact; t within (−1, 2)
            n = np.rint(t)
            distance = np.abs((t - n) + t_err)
            margin = np.abs(u) * (2.0 * rounding.REFINE_BOUND)
            sure = tiny & (distance + margin < 0.5)
        value[undecided[sure]] = np.ldexp(whole[sure] + n[sure], -1074)
    return value


def _log_softmax_at_midpoint(d, e, log_s, positive):
    """log-softmax (d + e) − log S where d + e (exact: z_i − m) is a float64 midpoint and
    log S ≥ 0 is far below its spacing: rounded by the sign alone; NaN elsewhere.

    This is common, not rare: z_i − m needs the finer ulp of the two logits, so its rounding
    error e is an exact half-ulp for one difference in 2^(exponent gap); when the max dominates
    (s < 2^-80, a logit 60 above the others), the exact value lies within log S ≈ s of that
    midpoint, closer than the double-double's error bound. For 0 < log S < gap/4, mid − log S
    lies between the midpoint and the next one down: it rounds to the lower neighbour.
    """
    r, err = two_sum(d, e)
    gap = np.abs(np.nextafter(r, np.where(err > 0, np.inf, -np.inf)) - r)
    mid = (err != 0) & (np.abs(err) == 0.5 * gap)
    value = np.where(positive, np.where(err > 0, r, r + 2.0 * err), r)  # log S = 0: exact, ties to even
    return np.where((mid & (log_s < 0.25 * gap)) | ~positive, value, np.nan)


def _mp_quantity(name: str, i: int):
    """The exact definition of quantity `name` at column i, as a function of the row's logits
    in mpmath (for the elements the double-double cannot decide)."""
    import mpmath

    def value(*zs):
        top = max(zs)
        terms = [mpmath.exp(v - top) for v in zs]
        total = mpmath.fsum(terms)
        if name == "softmax":
            return terms[i] / total
        if name == "complement":
            return mpmath.fsum(terms[:i] + terms[i + 1:]) / total
        if name == "log_softmax":
            return (zs[i] - top) - mpmath.log(total)
        return top + mpmath.log(total)

    return value


class _Core:
    """All the pieces of softmax for a batch of logits (already divided by the temperature).

    On the x87 path, the quantities named in ``need`` (a dict: name in QUANTITIES → boolean mask
    of the elements that matter, broadcastable to z's shape, or None for all; default: every
    quantity everywhere) are correctly rounded: the doubtful ones are decided by the second
    stage and mpmath. ``rounded_product`` makes products of them correctly rounded too; it, and
    ``log_softmax_low``, need the low parts (``lows``, default True).
    """

    def __init__(self, z: np.ndarray, need: dict | None = None, lows: bool = True):
        self.z = z
        n = z.shape[-1]
        dt = z.dtype
        lead = z.shape[:-1]
        with np.errstate(all="ignore"):
            special = not np.isfinite(z).all()
            if special:
                nan = np.isnan(z)
                posinf = np.isposinf(z)
                neginf = np.isneginf(z)
                self.row_nan = nan.any(axis=-1)
                self.n_posinf = posinf.sum(axis=-1)
                self.row_allneg = neginf.all(axis=-1)
                self.row_nan_or_multi = self.row_nan | (self.n_posinf >= 2) | self.row_allneg
                self.row_one_posinf = (self.n_posinf == 1) & ~self.row_nan
                zc = np.where(nan, -np.inf, z)  # so argmax/max ignore NaN; those rows are patched
            else:  # the common case: no row needs patching
                no = np.zeros(lead, dtype=bool)
                self.row_nan = self.row_allneg = self.row_nan_or_multi = self.row_one_posinf = no
                self.n_posinf = np.zeros(lead, dtype=np.intp)
                zc = z

            k = np.argmax(zc, axis=-1)
            m = np.take_along_axis(zc, k[..., None], axis=-1)
            m_safe = np.where(np.isfinite(m), m, 0).astype(dt, copy=False) if special else m
            d, e = _two_diff(zc, m_safe)
            onehot_k = np.arange(n) == k[..., None]
            self._values = None
            self._second = None  # the largest d_j off the argmax, per row, when asked for

            if dt == np.float64 and exact.EXTENDED:
                if need is None:
                    need = dict.fromkeys(QUANTITIES)
                flat_need = {name: None if mask is None else
                             np.broadcast_to(mask, (z.shape if name != "lse" else lead)).reshape(-1, n)
                             for name, mask in need.items()}
                self._d, self._e, self._hot = d.reshape(-1, n), e.reshape(-1, n), onehot_k.reshape(-1, n)
                self._m, self._zc = m_safe.reshape(-1), zc.reshape(-1, n)
                values, doubtful = _extended_values(self._d, self._e, self._hot, self._m, flat_need, lows)
                self._values = values
                rows = np.zeros(self._m.shape, dtype=bool)
                for name, mask in doubtful.items():
                    rows |= mask if mask.ndim == 1 else mask.any(axis=-1)
                if special:  # rows patched below
                    rows &= ~(self.row_nan_or_multi | self.row_one_posinf).reshape(-1)
                rows = np.flatnonzero(rows)
                if rows.size:
                    self._second_stage(rows, doubtful)
                # the quantities not asked for are None
                shaped = {name: (values[name][0].reshape(z.shape if name != "lse" else lead)
                                 if name in values else None) for name in QUANTITIES}
                self.softmax, self.complement = shaped["softmax"], shaped["complement"]
                self.log_softmax, self.lse = shaped["log_softmax"], shaped["lse"]
                # what rounding log_softmax lost: soft-target cross-entropy sums
                # y·(log_softmax + low) in extended precision
                self.log_softmax_low = (values["log_softmax"][1].reshape(z.shape)
                                        if "log_softmax" in values and lows else None)
            else:
                self.log_softmax_low = None
                ex = np.exp(d)
                ex = ex + ex * e  # e^{d + e} to first order; |e| ≤ ulp(d)/2 so e² is negligible
                s = np.where(onehot_k, 0, ex).sum(axis=-1, keepdims=True, dtype=dt)
                l1s = np.log1p(s)
                self.lse = (m_safe + l1s)[..., 0]
                self.log_softmax = (d - l1s) + e
                self.softmax = ex / (1 + s)
                # 1 − ŷ_i: at the argmax as s/(1+s) (exact form), elsewhere ŷ_i ≤ 1/2 so
                # 1 − ŷ_i ≥ 1/2 loses little
                self.complement = np.where(onehot_k, s / (1 + s), 1 - self.softmax).astype(dt, copy=False)

            self.k = k
            self.onehot_k = onehot_k

            if special:
                one = self.row_one_posinf[..., None]
                hot = posinf
                bad = self.row_nan_or_multi[..., None]

                def patch(value, at_one):
                    if value is None:  # not asked for
                        return None
                    return np.where(bad, np.nan, np.where(one, at_one, value)).astype(dt, copy=False)

                self.softmax = patch(self.softmax, hot.astype(dt))
                self.complement = patch(self.complement, (~hot).astype(dt))
                self.log_softmax = patch(self.log_softmax, np.where(hot, 0, -np.inf).astype(dt))
                if self.lse is not None:
                    self.lse = np.where(self.n_posinf >= 1, np.inf, self.lse).astype(dt, copy=False)
                    self.lse = np.where(self.row_allneg, -np.inf, self.lse).astype(dt, copy=False)
                    self.lse = np.where(self.row_nan, np.nan, self.lse).astype(dt, copy=False)
        self.n = n

    @property
    def extended(self) -> bool:
        """Whether this core took the x87 path (its values correctly rounded)."""
        return self._values is not None

    def _second_stage(self, rows: np.ndarray, doubtful: dict) -> None:
        """Decide the doubtful elements of `rows` in double-double (one `_decide` for all the
        quantities), the rest in mpmath. With low parts, the low part of every element of
        those rows becomes the double-double's remainder: a consumer of y + low (KL from
        logits) then sees one error per row, as from the long double, not two."""
        from dlcalc import rounding

        n = self._d.shape[1]
        lows = next(iter(self._values.values()))[1] is not None
        local = {name: np.flatnonzero(mask[rows]) for name, mask in doubtful.items()}
        names = tuple(name for name in doubtful if lows or local[name].size)
        dd = _dd_rows(self._d[rows], self._e[rows], self._hot[rows], self._m[rows], names)
        parts, spans = [], {}
        for name in names:
            hi, lo, scale, k = (None if part is None else np.asarray(part).reshape(-1) for part in dd[name])
            i = local[name]
            spans[name] = (sum(part[0].size for part in parts), i.size)
            parts.append((hi[i], lo[i], np.full(i.size, np.nan) if scale is None else scale[i], k[i]))
        value_all = _decide(*(np.concatenate(column) for column in zip(*parts)))
        for name in names:
            y, low = (None if part is None else part.reshape(-1) for part in self._values[name])
            hi, lo, scale, k = (None if part is None else np.asarray(part).reshape(-1) for part in dd[name])
            where = rows if name == "lse" else (rows[:, None] * n + np.arange(n)).reshape(-1)
            start, size = spans[name]
            if size:
                i = local[name]
                value = value_all[start:start + size]
                row, col = (i, None) if name == "lse" else np.divmod(i, n)
                if name == "log_softmax" and np.isnan(value).any():
                    undecided = np.isnan(value)
                    value[undecided] = _log_softmax_at_midpoint(
                        self._d[rows[row[undecided]], col[undecided]], self._e[rows[row[undecided]], col[undecided]],
                        dd["log_S"][0][row[undecided]], dd["s_positive"][row[undecided]])
                for j in np.flatnonzero(np.isnan(value)):
                    definition = _mp_quantity(name, 0 if col is None else int(col[j]))
                    decided = rounding.correctly_rounded(definition, self._zc[rows[row[j]]].tolist())
                    value[j] = y[where[i[j]]] if decided is None else decided
                y[where[i]] = value
            if low is not None:
                with np.errstate(all="ignore"):
                    rest = (np.ldexp(hi, k) - y[where]) + np.ldexp(lo, k)
                low[where] = np.where(np.isfinite(rest), rest, low[where])

    def rounded_product(self, rows, factors, sign=1.0, divisor=None) -> np.ndarray:
        """sign·Π factor / divisor for a flat list of elements, correctly rounded (x87 path).

        ``rows`` indexes the flattened rows; ``factors`` is a list of (quantity name, column
        indices), each quantity one this core computed; ``divisor`` is None, ("T", t) or
        ("ln2",). The product of the long-double values (each y + low, within `_ulps`) is
        within the sum of their bounds plus one rounding per operation; its doubtful elements are
        recomputed from the second stage's double-doubles of their rows (each within ~2^-97: the
        product stays within REFINE_BOUND), the rest in mpmath. A factor near or below float64's
        subnormal range (whose low part is not exact) is always doubtful unless it is certainly
        below 2^-1154."""
        from dlcalc import rounding

        L = np.longdouble
        n = self._d.shape[1]
        sign = np.broadcast_to(np.asarray(sign, dtype=np.float64), rows.shape)
        approx = sign.astype(L)
        ulps = 0.0
        unsure = np.zeros(rows.shape, dtype=bool)
        for name, cols in factors:
            y, low = self._values[name]
            value, rest = y[rows, cols], low[rows, cols]
            approx *= value.astype(L) + np.where(np.isfinite(rest), rest, 0.0)
            ulps += _ulps(n) + 0.5
            small = np.abs(value) < 2.0 ** -1000
            if small.any():  # how large it can be: e^{d_i}, or the row's s at the argmax
                if self._second is None:
                    self._second = np.max(np.where(self._hot, -np.inf, self._d), axis=-1, initial=-np.inf)
                at_k = self._hot[rows, cols]
                largest = np.where(at_k, self._second[rows] + np.log(n), self._d[rows, cols])
                if name == "complement":
                    largest = np.where(at_k, largest, 0.0)
                unsure |= small & (largest > -800.0)
        if divisor is not None:
            ln2 = exact._tables()["ln2"]
            approx /= L(divisor[1]) if divisor[0] == "T" else L(ln2[0]) + L(ln2[1])
            ulps += 1.5
        result = approx.astype(np.float64)
        special = (self.row_nan_or_multi | self.row_one_posinf).reshape(-1)[rows]  # the caller patches these
        doubtful = np.flatnonzero((rounding._doubtful(approx, result, ulps, None) | unsure) & ~special)
        if not doubtful.size:
            return result
        names = tuple(name for name, _ in factors)
        rows_d, where = np.unique(rows[doubtful], return_inverse=True)
        dd = _dd_rows(self._d[rows_d], self._e[rows_d], self._hot[rows_d], self._m[rows_d], names)
        hi, lo = sign[doubtful].copy(), np.zeros(doubtful.size)
        k = np.zeros(doubtful.size, dtype=np.int64)
        for name, cols in factors:
            f_hi, f_lo, _, f_k = dd[name]
            at = (where, cols[doubtful])
            hi, lo = exact.dd_mul((hi, lo), (f_hi[at], f_lo[at]))
            k += f_k[at]
        if divisor is not None:
            ln2 = exact._tables()["ln2"]
            d_hi, d_lo = (divisor[1], 0.0) if divisor[0] == "T" else ln2[:2]
            hi, lo = exact.dd_div((hi, lo), (np.full(hi.shape, d_hi), np.full(hi.shape, d_lo)))
        value = _decide(hi, lo, None, k)
        for i in np.flatnonzero(np.isnan(value)):
            definitions = [_mp_quantity(name, int(cols[doubtful[i]])) for name, cols in factors]

            def product(*zs, definitions=definitions, s=float(sign[doubtful[i]])):
                import mpmath

                total = mpmath.mpf(s)
                for definition in definitions:
                    total *= definition(*zs)
                if divisor is not None:
                    total /= mpmath.mpf(divisor[1]) if divisor[0] == "T" else mpmath.ln2
                return total

            decided = rounding.correctly_rounded(product, self._zc[rows[doubtful[i]]].tolist())
            value[i] = result[doubtful[i]] if decided is None else decided
        result[doubtful] = value
        return result

    # why a row's result is not finite, in the user's words
    def reason(self, idx, what: str) -> str | None:
        z = self.z[idx]
        name = "z"
        nan_i = np.flatnonzero(np.isnan(z))
        pos_i = np.flatnonzero(np.isposinf(z))
        neg_i = np.flatnonzero(np.isneginf(z))
        if nan_i.size:
            return f"{name}[{nan_i[0]}] = nan: {what} is nan"
        if pos_i.size >= 2:
            eq = " = ".join(f"{name}[{i}]" for i in pos_i)
            if what == "logsumexp":
                return f"{eq} = inf: logsumexp is inf"
            return f"infinite logits of equal sign: {eq} = inf, so {what} is inf/inf, undefined (nan)"
        if neg_i.size == z.size:
            if what == "logsumexp":
                return "all logits are -inf: logsumexp = log 0 = -inf"
            return f"all logits are -inf, so {what} is 0/0, undefined (nan)"
        if pos_i.size == 1:
            if what == "logsumexp":
                return f"{name}[{pos_i[0]}] = inf: logsumexp is inf"
            if what == "log-softmax" and z.size > 1:
                return (
                    f"{name}[{pos_i[0]}] = inf takes all the probability (the limit; PyTorch gives nan): "
                    f"the other log-probabilities are -inf"
                )
            return None
        if neg_i.size and what == "log-softmax":
            items = ", ".join(f"{name}[{i}]" for i in neg_i)
            return f"{items} = -inf: probability 0, log-probability -inf"
        return None

    def warn(self, out: np.ndarray, what: str, temperature: float = 1.0) -> None:
        finite = np.isfinite(out)
        if out.ndim != self.z.ndim - 1:
            finite = finite.reshape(out.shape[: self.z.ndim - 1] + (-1,)).all(axis=-1)
        for row, idx in _rows(self.z.shape, where=~finite):
            msg = self.reason(idx, what)
            if msg is not None:
                _warn(msg, row)


def _prepare(z, temperature) -> tuple[np.ndarray, float]:
    z, t, _offset, _shifted = _tempered(z, temperature)
    return z, t


def _tempered(z, temperature) -> tuple[np.ndarray, float, np.ndarray | None, np.ndarray | None]:
    """``z / T``, the per-row shift to add back to logsumexp, and which rows were shifted
    (both None when no row was).

    A tiny T overflows finite logits (``[1, 2] / 1e-320``), which would read as infinite
    logits of equal sign. softmax and log-softmax are shift invariant, so such rows divide
    ``z − max z`` instead; logsumexp gets ``max z / T`` back (which may itself be ±inf)."""
    z = as_float_array(z, "z")
    t = validate_temperature(temperature)
    if t == 1.0:
        return z, t, None, None
    tt = z.dtype.type(t)
    with np.errstate(all="ignore"):
        scaled = z / tt
        overflow = (np.isfinite(z) & ~np.isfinite(scaled)).any(axis=-1)
        if not overflow.any():
            return scaled, t, None, None
        peak = np.max(np.where(np.isfinite(z), z, -np.inf), axis=-1, keepdims=True)
        scaled = np.where(overflow[..., None], (z - peak) / tt, scaled)
        offset = np.where(overflow, peak[..., 0] / tt, 0).astype(z.dtype)
    return scaled, t, offset, overflow


# ----------------------------------------------------------------------------------------------
# public API


def logsumexp(z, axis: int = -1) -> np.ndarray:
    r"""log Σ_j e^{z_j} over ``axis``, stably: ``m + log1p(Σ_{j≠k} e^{z_j − m})``, m = z_k = max.

    Returns shape ``z.shape`` without ``axis``. Never overflows for finite logits:
    ``logsumexp([1000, 0, -1000]) = 1000 + log1p(e^{-1000} + e^{-2000}) = 1000``.
    ``+inf`` in a row gives ``inf``, all ``-inf`` gives ``-inf``, NaN gives NaN (each with a
    NumericWarning). Oracle-tested against mpmath at 200 bits, scipy.special.logsumexp and
    torch.logsumexp.
    """
    z = as_float_array(z, "z")
    if axis not in (-1, z.ndim - 1):
        z = np.moveaxis(z, axis, -1)
    core = _Core(z, {"lse": None}, lows=False)
    core.warn(core.lse, "logsumexp")
    return core.lse


@dataclass(frozen=True)
class SoftmaxResult:
    """softmax, log_softmax (shape (..., n)) and logsumexp (shape (...,)) of ``z / T``."""

    softmax: np.ndarray
    log_softmax: np.ndarray
    logsumexp: np.ndarray
    temperature: float


def softmax_all(z, temperature: float = 1.0) -> SoftmaxResult:
    """softmax, log-softmax and logsumexp of ``z / T`` in one pass, each warning given once.

    This is what ``dlcalc softmax`` shows in its table; see the module notes for the edge cases.
    logsumexp is that of the tempered logits ``z / T``.
    """
    z, t, offset, shifted = _tempered(z, temperature)
    core = _Core(z, dict.fromkeys(("softmax", "log_softmax", "lse")), lows=False)
    lse = core.lse if offset is None else core.lse + offset
    if shifted is not None:
        for row, idx in _rows(z.shape, where=shifted):
            dtype = z.dtype.name  # float32 or float64: the precision the work is done in
            _warn(f"the logits divided by T = {format_value(t)} exceed {dtype}'s range, so they "
                  "were shifted by their max first: softmax and log-softmax are exact, "
                  f"log-probabilities beyond {dtype} are -inf, logsumexp is {format_value(lse[idx])}", row)
    # one warning per row, from the most informative output (rows shifted above are explained)
    finite = np.isfinite(core.softmax).all(axis=-1) & np.isfinite(core.log_softmax).all(axis=-1) \
        & np.isfinite(core.lse)
    if shifted is not None:
        finite |= shifted
    for row, idx in _rows(z.shape, where=~finite):
        what = "softmax" if not np.all(np.isfinite(core.softmax[idx])) else "log-softmax"
        msg = core.reason(idx, what)
        if msg is None and not np.isfinite(core.lse[idx]):
            msg = core.reason(idx, "logsumexp")
        if msg is not None:
            _warn(msg, row)
    return SoftmaxResult(core.softmax, core.log_softmax, lse, t)


def softmax(z, temperature: float = 1.0) -> np.ndarray:
    r"""softmax(z / T)_i = e^{z_i/T} / Σ_j e^{z_j/T}, over the last axis.

    Computed as ``e^{z_i − m} / (1 + Σ_{j≠k} e^{z_j − m})`` with the max ``m = z_k`` shifted out,
    so ``softmax([1000, 0, -1000]) = [1, e^{-1000}, e^{-2000}] / (1 + ...)`` — exactly
    ``[1, 0, 0]`` in float64 — with no overflow. One ``+inf`` logit gives the limit (1 there,
    0 elsewhere) where PyTorch gives nan; two ``+inf`` or all ``-inf`` give nan with a
    NumericWarning.
    """
    z, _ = _prepare(z, temperature)
    core = _Core(z, {"softmax": None}, lows=False)
    core.warn(core.softmax, "softmax")
    return core.softmax


def log_softmax(z, temperature: float = 1.0) -> np.ndarray:
    r"""log softmax(z / T)_i = z_i − log Σ_j e^{z_j}, as ``(z_i − m) − log1p(Σ_{j≠k} e^{z_j − m})``.

    Both terms are ≤ 0, so nothing cancels: ``log_softmax([-1e300, 1e300]) = [-2e300, 0]``.
    ``-inf`` logits give ``-inf``; one ``+inf`` gives 0 there and ``-inf`` elsewhere (the limit);
    two ``+inf`` or all ``-inf`` give nan (each non-finite row with a NumericWarning).
    """
    z, _ = _prepare(z, temperature)
    core = _Core(z, {"log_softmax": None}, lows=False)
    core.warn(core.log_softmax, "log-softmax")
    return core.log_softmax


def _exact_entries(core: _Core, jac: np.ndarray, t: float, off, diagonal) -> np.ndarray:
    """jac (..., n, n) with its entries correctly rounded on the x87 path: `off` and `diagonal`
    are the (factors, sign) of the off-diagonal and diagonal entries for `rounded_product`, as
    functions of the entry's (row, i, j) indices. Rows with a NaN or +inf logit keep the float64
    formula's values (nan, or the one-hot limit's exact 0s and ±1s)."""
    if core._values is None:
        return jac
    n = core.n
    rows, i, j = (index.reshape(-1) for index in np.indices((core._d.shape[0], n, n)))
    flat = jac.reshape(-1)
    plain = flat.copy()
    divisor = None if t == 1.0 else ("T", t)
    for part, (factors, sign) in ((i != j, off), (i == j, diagonal)):
        r, a, b = rows[part], i[part], j[part]
        flat[part] = core.rounded_product(r, factors(a, b), sign, divisor)
    special = np.repeat((core.row_nan_or_multi | core.row_one_posinf).reshape(-1), n * n)
    flat[special] = plain[special]
    return jac


def softmax_jacobian(z, temperature: float = 1.0) -> np.ndarray:
    r"""∂softmax(z/T)_i / ∂z_k = (ŷ_i·δ_ik − ŷ_i·ŷ_k) / T, shape ``(..., n, n)``.

    With respect to the original logits ``z`` (hence the ``1/T``). The diagonal
    ``ŷ_i (1 − ŷ_i)`` uses the accurate complement ``1 − ŷ_k = s/(1+s)`` at the argmax, so it
    stays correct to the last digits when one class dominates (e.g. ``ŷ_k = 1 − 1e-20``).
    """
    z, t = _prepare(z, temperature)
    core = _Core(z, {"softmax": None, "complement": None})
    core.warn(core.softmax, "softmax")
    y = core.softmax
    jac = -y[..., :, None] * y[..., None, :]
    diag = y * core.complement
    idx = np.arange(core.n)
    jac[..., idx, idx] = diag
    if t != 1.0:
        jac = jac / z.dtype.type(t)
    return _exact_entries(core, jac, t, (lambda i, j: [("softmax", i), ("softmax", j)], -1.0),
                          (lambda i, j: [("softmax", i), ("complement", i)], 1.0))


def log_softmax_jacobian(z, temperature: float = 1.0) -> np.ndarray:
    r"""∂ log softmax(z/T)_i / ∂z_k = (δ_ik − ŷ_k) / T, shape ``(..., n, n)``.

    As in the notes: ``1 − ŷ_i`` on the diagonal, ``−ŷ_k`` off it (every row of the matrix is
    ``−ŷ`` plus the identity), times ``1/T`` for a temperature.
    """
    z, t = _prepare(z, temperature)
    core = _Core(z, {"softmax": None, "complement": None})
    core.warn(core.softmax, "softmax")
    y = core.softmax
    n = core.n
    jac = np.broadcast_to(-y[..., None, :], y.shape[:-1] + (n, n)).copy()
    idx = np.arange(n)
    jac[..., idx, idx] = core.complement
    if t == 1.0:  # the entries are the core's values, correctly rounded already
        return jac
    jac = jac / z.dtype.type(t)
    return _exact_entries(core, jac, t, (lambda i, j: [("softmax", j)], -1.0),
                          (lambda i, j: [("complement", i)], 1.0))
