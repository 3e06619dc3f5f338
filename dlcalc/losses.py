r"""Cross-entropy (multiclass and binary), entropy and KL divergence, over the last axis of a batch.

Inputs have shape ``(..., n)``, one row per sample (PyTorch's ``(N, C)``); a second operand
(target, Q) broadcasts against the first, so one target can serve a whole batch. Computation is
in the input's dtype (float32 or float64). Invalid input raises DlcalcError naming the value;
a result that is infinite or NaN comes with a NumericWarning naming the element responsible.
For batches, both carry ``.row`` (index of the row in the flattened leading axes, else None).

Conventions
-----------
* ``0·log 0 = 0`` everywhere (entropy, KL, cross-entropy with zero target weight).
* ``base="e"`` gives nats, ``base="2"`` bits (every loss and gradient divided by ln 2).
* Gradients are per sample and per element, never divided by a batch size or by n.

Correct rounding (float64, where long double is x87 extended, as in :mod:`dlcalc.softmax_core`
and the registry): every printed number — H(P), H(P,Q), KL and its terms, JS, of probabilities
and of logits, the cross-entropies and their gradients, binary cross-entropy — is first
computed with 11 more bits (terms, logarithms and sums; divided by ln 2 there for bits) with a
stated error bound, and rounded to float64 once where that bound allows; the doubtful ones go
to a double-double second stage (`_dd_*`, error ≤ rounding.REFINE_BOUND) at any size, and what
that cannot decide (or, for the few quantities without one, everything doubtful in a call of up
to 16,384 numbers) to mpmath (`rounding.round_each`). KL uses the
cancellation-free forms (Σ q·ψ(u) + Σ (p − q) for probabilities, Σ p·φ(δ) from logits, see
:func:`kl_divergence` and :func:`kl_divergence_from_logits`), JS ½ Σ m·φ(u) with M exact.
bench/accuracy.py measures every quantity at 100% in both call sizes. float32, and other
platforms, use the float64 formulas (a few ulp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlcalc.errors import DlcalcError
from dlcalc import exact
from dlcalc.exact import fixed_grid_pieces, row_blocks
from dlcalc.softmax_core import _Core, _rows, _warn, as_float_array, format_value

__all__ = [
    "CrossEntropy",
    "BinaryCrossEntropy",
    "KL",
    "cross_entropy",
    "cross_entropy_from_probs",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "entropy",
    "cross_entropy_distributions",
    "kl_divergence",
    "kl_divergence_from_logits",
    "validate_distribution",
    "validate_target",
    "validate_labels",
    "validate_base",
    "validate_label_smoothing",
]

SUM_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------------------------
# validation


def _err(message: str, row=None, rows=None) -> DlcalcError:
    """A user error naming row `row` of a batch; `rows` lists every row that fails the same
    check, so a batch caller can set them all aside at once."""
    e = DlcalcError(message)
    e.row = row
    e.rows = rows
    return e


def _failing_rows(mask: np.ndarray, arr: np.ndarray) -> np.ndarray | None:
    """Flat indices of the rows of `arr` (shape (..., n)) where `mask` holds: `mask` has the
    shape of `arr` (element checks) or of its rows (row checks). None for a single vector."""
    if arr.ndim <= 1:
        return None
    rows = mask.reshape(-1, arr.shape[-1]).any(axis=1) if mask.shape == arr.shape else mask.reshape(-1)
    return np.flatnonzero(rows)


def _row_of(arr: np.ndarray, flat_index_tuple) -> int | None:
    if arr.ndim <= 1:
        return None
    return int(np.ravel_multi_index(flat_index_tuple[:-1], arr.shape[:-1]))


def validate_base(base) -> float:
    """``"e"`` (nats) or ``"2"`` (bits); returns the divisor ln(base)."""
    b = str(base).strip().lower()
    if b in ("e", "nat", "nats"):
        return 1.0
    if b in ("2", "2.0", "bit", "bits"):
        return math.log(2.0)
    raise DlcalcError(f"base {base!r} is not supported; expected e (nats) or 2 (bits)")


def validate_label_smoothing(label_smoothing) -> float:
    """PyTorch accepts label_smoothing in [0, 1]."""
    try:
        eps = float(label_smoothing)
    except (TypeError, ValueError):
        raise DlcalcError(f"label smoothing {label_smoothing!r} is not a number; expected a number in [0, 1]") from None
    if not (0.0 <= eps <= 1.0):
        raise DlcalcError(f"label smoothing {format_value(eps)} is out of range; expected a number in [0, 1]")
    return eps


def validate_distribution(p, name: str = "P", normalize: bool = False, dtype=None) -> np.ndarray:
    """A probability vector (or batch of them): finite, in [0, 1], summing to 1 within 1e-6.

    With ``normalize=True`` any non-negative finite vector with a positive sum is divided by its
    sum instead. Returns a float array of shape (..., n).
    """
    arr = as_float_array(p, name)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise _err(f"{name}[{i[-1]}] = {format_value(arr[i])} is not a probability; "
                   f"probabilities must be finite numbers in [0, 1]", _row_of(arr, i),
                   _failing_rows(bad, arr))
    neg = arr < 0
    if neg.any():
        i = tuple(np.argwhere(neg)[0])
        raise _err(f"{name}[{i[-1]}] = {format_value(arr[i])} is negative; probabilities must be in [0, 1]",
                   _row_of(arr, i), _failing_rows(neg, arr))
    sums = arr.sum(axis=-1, dtype=np.float64)
    if normalize:
        zero = sums <= 0
        if zero.any():
            r = tuple(np.argwhere(np.atleast_1d(zero))[0]) if arr.ndim > 1 else None
            raise _err(f"{name} sums to 0 and cannot be normalized; give at least one positive weight",
                       None if r is None else int(np.ravel_multi_index(r, arr.shape[:-1])),
                       _failing_rows(zero, arr))
        with np.errstate(all="ignore"):
            return (arr / sums[..., None].astype(arr.dtype)).astype(arr.dtype, copy=False)
    big = arr > 1
    if big.any():
        i = tuple(np.argwhere(big)[0])
        raise _err(f"{name}[{i[-1]}] = {format_value(arr[i])} is greater than 1; probabilities must be in [0, 1] "
                   f"(or normalize the vector)", _row_of(arr, i), _failing_rows(big, arr))
    tol = max(SUM_TOLERANCE, 4 * float(np.finfo(arr.dtype).eps) * arr.shape[-1])
    off = np.abs(sums - 1.0) > tol
    if np.any(off):
        r = tuple(np.argwhere(np.atleast_1d(off))[0])
        row = int(np.ravel_multi_index(r, arr.shape[:-1])) if arr.ndim > 1 else None
        s = float(np.atleast_1d(sums)[r] if arr.ndim > 1 else sums)
        raise _err(f"{name} sums to {s:.10g}, not 1; a probability distribution must sum to 1 "
                   f"within 1e-6 (or normalize it)", row, _failing_rows(off, arr))
    return arr


def validate_target(target, n: int, batch_shape: tuple = ()) -> np.ndarray:
    """Class indices: integers in [0, n), broadcast to ``batch_shape``; returns an int array."""
    try:
        t = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError):
        raise DlcalcError(f"target {target!r} is not a class index; expected an integer in [0, {n})") from None
    try:
        t = np.broadcast_to(t, batch_shape)
    except ValueError:
        raise DlcalcError(f"target has shape {np.shape(target)} but there are {batch_shape} samples; "
                          f"give one class index per vector") from None
    bad = ~np.isfinite(t) | (t != np.round(t)) | (t < 0) | (t >= n)
    if bad.any():
        i = tuple(np.argwhere(np.atleast_1d(bad))[0]) if t.ndim else ()
        v = t[i] if t.ndim else t
        row = int(np.ravel_multi_index(i, t.shape)) if t.ndim else None
        def message(v: float) -> str:
            what = "is not an integer" if np.isfinite(v) and v != round(float(v)) else "is out of range"
            return (f"target {format_value(v)} {what}; the class index must be an integer in [0, {n}) "
                    f"(0-based, {n} classes)")

        rows = np.flatnonzero(bad.reshape(-1)) if t.ndim else None
        error = _err(message(v), row, rows)
        if rows is not None:  # each failing row's own message: a batch need not retry them one by one
            flat = t.reshape(-1)
            error.messages = {int(r): message(flat[r]) for r in rows}
        raise error
    return t.astype(np.intp)


def validate_labels(labels, shape: tuple, dtype) -> np.ndarray:
    """Binary cross-entropy labels: finite numbers in [0, 1] (0/1 or soft), broadcast to ``shape``."""
    y = as_float_array(labels, "target").astype(dtype, copy=False)
    try:
        if y.shape[-1] != shape[-1]:  # as torch: one label per element, never broadcast along it
            raise ValueError
        y = np.broadcast_to(y, shape)
    except ValueError:
        raise DlcalcError(f"target has {y.shape[-1]} labels but there are {shape[-1]} inputs; "
                          f"give one label per element") from None
    bad = ~np.isfinite(y) | (y < 0) | (y > 1)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise _err(f"target[{i[-1]}] = {format_value(y[i])} is not a valid label; "
                   f"binary labels must be in [0, 1]", _row_of(y, i), _failing_rows(bad, y))
    return y


def _same_length(a: np.ndarray, b: np.ndarray, an: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    if a.shape[-1] != b.shape[-1]:
        raise DlcalcError(f"{an} has {a.shape[-1]} elements but {bn} has {b.shape[-1]}; they must have the same length")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise DlcalcError(f"{an} has {a.shape[:-1]} rows but {bn} has {b.shape[:-1]}; give one {bn} "
                          f"for all rows or one per row") from None
    dt = np.result_type(a.dtype, b.dtype)
    return np.broadcast_to(a, shape).astype(dt, copy=False), np.broadcast_to(b, shape).astype(dt, copy=False)


def _xlogy_neg(y: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """−y·log p term by term with 0·log 0 = 0 (a zero weight contributes nothing, even at −inf)."""
    with np.errstate(all="ignore"):
        return np.where(y == 0, 0, -y * logp).astype(logp.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# multiclass cross-entropy


@dataclass(frozen=True)
class CrossEntropy:
    """Result of a cross-entropy: ``loss`` (...,), ``probs`` ŷ (..., n), ``grad`` (..., n),
    ``target_distribution`` (..., n) (the one-hot or soft target after label smoothing),
    ``target`` (the class indices, or None for probability targets)."""

    loss: np.ndarray
    probs: np.ndarray
    grad: np.ndarray
    target_distribution: np.ndarray
    target: np.ndarray | None = None
    base: str = "e"


def _smoothed_targets(n, dtype, shape, target, target_probs, label_smoothing, normalize=False):
    """(y_smoothed, 1 − y_smoothed computed without cancellation, class indices or None)."""
    eps = validate_label_smoothing(label_smoothing)
    if (target is None) == (target_probs is None):
        raise DlcalcError("give exactly one of a target class index or target probabilities")
    one = dtype.type(1)
    e = dtype.type(eps)
    if target is not None:
        t = validate_target(target, n, shape[:-1])
        hot = np.zeros(shape, dtype=bool)
        np.put_along_axis(hot, t[..., None], True, axis=-1)
        on = (one - e) + e / n
        off = e / n
        y = np.where(hot, on, off).astype(dtype)
        comp = np.where(hot, e * ((n - 1) / dtype.type(n)), one - off).astype(dtype)
        return y, comp, t
    yp = validate_distribution(target_probs, "target_probs", normalize=normalize, dtype=dtype)
    if yp.shape[-1] != n:
        raise DlcalcError(f"target_probs has {yp.shape[-1]} elements but there are {n} classes; "
                          f"they must have the same length")
    try:
        yp = np.broadcast_to(yp, shape)
    except ValueError:
        raise DlcalcError(f"target_probs has {yp.shape[:-1]} rows but the input has {shape[:-1]}") from None
    y = yp * (one - e) + e / n  # PyTorch's order of operations
    comp = (one - e) * (one - yp) + e * ((n - 1) / dtype.type(n))
    return y.astype(dtype), comp.astype(dtype), None


def _ce_warnings(y, logp, loss, name_p, z=None, what="cross-entropy"):
    for row, idx in _rows(y.shape, where=~np.isfinite(loss)):
        yr, lr = y[idx], logp[idx]
        if z is not None and np.isnan(z[idx]).any():
            i = int(np.flatnonzero(np.isnan(z[idx]))[0])
            msg = f"z[{i}] = nan: {what} is nan"
        else:
            bad = np.flatnonzero((yr > 0) & np.isneginf(lr))
            if bad.size:
                i = int(bad[0])
                if z is not None:
                    zr = z[idx]
                    why = (f"z[{i}] = -inf" if np.isneginf(zr[i]) else
                           f"z[{int(np.flatnonzero(np.isposinf(zr))[0])}] = inf takes all the probability"
                           if np.isposinf(zr).any() else "it underflows")
                    msg = (f"target weight y[{i}] = {format_value(yr[i])} > 0 where class {i} has probability 0 "
                           f"({why}): {what} is infinite")
                else:
                    msg = f"y[{i}] = {format_value(yr[i])} > 0 where {name_p}[{i}] = 0: {what} is infinite"
            else:
                msg = f"{what} is {format_value(loss[idx])}"
                if z is not None:
                    core_msg = _Core(z[idx]).reason((), "softmax")
                    if core_msg:
                        msg = core_msg
        _warn(msg, row)


def _mp_soft_ce(n: int, ln_base: float, col: int | None = None):
    """Of args (z_1 … z_n, y_1 … y_n), or (z_1 … z_n, y_col) with `col`: −Σ y_i·log softmax(z)_i,
    or softmax(z)_col − y_col (the gradient), by their definitions."""
    def value(*args):
        import mpmath

        log_p = _mp_log_softmax(args[:n])
        if col is None:
            return _mp_base(-mpmath.fsum(b * a for a, b in zip(log_p, args[n:]) if b), ln_base)
        return _mp_base(mpmath.exp(log_p[col]) - args[n], ln_base)
    return value


def _soft_targets_rounded(core: _Core, y: np.ndarray, ln_base: float, total, loss, grad):
    """Soft targets or label smoothing on the x87 path: the loss (the long-double sum `total`,
    ÷ ln 2 there for bits) and the gradient ŷ − y, each rounded once; in a call of up to
    16,384 numbers the doubtful ones by mpmath (`rounding.round_each`), in a larger one the
    long double's rounding stays (no double-double stage yet). Rows with a non-finite logit
    keep their values.

    Bounds, in long-double ulps: each log ŷ_i of the core is within (n/2 + 8)·|log ŷ_i|
    (softmax_core's bound, log1p(s) ≤ |log ŷ_i|), and the terms y_i·(−log ŷ_i) ≥ 0, so the sum
    is within 1.5·n + 14 of itself (÷ ln 2: 2 more). The gradient starts from the core's
    unrounded ŷ (its float64 value plus the low part it kept: long double, within (7 + n/2)·ŷ
    ulps, or double-double where the core refined the row), minus y in long double (½ ulp),
    ÷ ln 2 (2): the doubtful ones, where ŷ ≈ y, are decided in double-double
    (`softmax_core._dd_rows`) at any size."""
    from dlcalc import rounding

    L = np.longdouble
    z2, y2 = _flat2(core.z), _flat2(y)
    rows, n = z2.shape
    finite = np.isfinite(z2).all(axis=-1)
    exact_loss = _mp_soft_ce(n, ln_base)
    found = rounding.round_each(_in_base(total.reshape(-1), ln_base),
                                lambda i: (exact_loss, z2[i].tolist() + y2[i].tolist()),
                                ulps=1.5 * n + 16, inputs=z2.size)
    loss = np.where(finite, found, np.reshape(loss, -1)).reshape(np.shape(loss))
    if grad is None:
        return loss, grad
    high, low = (part.reshape(-1, n) for part in core._values["softmax"])
    with np.errstate(all="ignore"):
        approx = _in_base((high.astype(L) + low) - y2.astype(L), ln_base)
        scale = _in_base((7 + n / 2) * high.astype(L), ln_base) + 3 * np.abs(approx)
    bits = ln_base != 1.0

    def exact_at(i):
        row, col = divmod(i, n)
        return _mp_soft_ce(n, ln_base, col), z2[row].tolist() + [y2[row, col]]

    def refine(index):  # ŷ − y in double-double, relative to ŷ + |y|
        from dlcalc.softmax_core import _dd_rows

        rows, cols = np.divmod(index, n)
        hi, lo, _, k = _dd_rows(core._d[rows], core._e[rows], core._hot[rows], core._m[rows],
                                ("softmax",))["softmax"]
        at = np.arange(index.size)
        hi, lo, k = hi[at, cols], lo[at, cols], k[at, cols]
        target = y2[rows, cols]
        value = _dd_in_bits(exact.dd_add_d((hi, lo), -np.where(k == 0, target, 0.0)), bits)
        size = (np.abs(hi) + np.abs(target)) / (math.log(2) if bits else 1.0)
        tiny = k != 0  # ŷ kept as 2^k·m: the gradient is ŷ itself where y = 0, else mpmath decides
        undecided = tiny & (target != 0)
        return (np.where(undecided, np.nan, value[0]), value[1], np.where(tiny, np.abs(value[0]), size),
                np.where(tiny, k, 0))

    found = rounding.round_each(approx, exact_at, 1, scale, z2.size, refine=refine)
    grad = np.where(finite[:, None], found, _flat2(grad)).reshape(np.shape(grad))
    return loss, grad


def _in_bits(core: _Core, at_t: np.ndarray, plain_loss: np.ndarray, plain_grad: np.ndarray):
    """−log ŷ_t / ln 2 and (ŷ − onehot_t) / ln 2, correctly rounded (x87 path, one-hot target):
    the core's products with ln 2 as the divisor. Rows with a NaN or +inf logit keep the
    float64 values (nan, inf or the one-hot limit's exact ones)."""
    n = core.n
    hot = np.broadcast_to(at_t, core.z.shape).reshape(-1, n)
    rows, cols = np.nonzero(hot)
    loss = core.rounded_product(rows, [("log_softmax", cols)], -1.0, ("ln2",))
    special = (core.row_nan_or_multi | core.row_one_posinf).reshape(-1)
    if plain_grad is None:  # the loss alone (`loss_only`)
        return np.where(special, plain_loss.reshape(-1), loss).reshape(plain_loss.shape), None
    grad = np.empty(hot.shape)
    all_rows, all_cols = (index.reshape(-1) for index in np.indices(hot.shape))
    at = hot.reshape(-1)
    grad.reshape(-1)[~at] = core.rounded_product(all_rows[~at], [("softmax", all_cols[~at])], 1.0, ("ln2",))
    grad.reshape(-1)[at] = core.rounded_product(all_rows[at], [("complement", all_cols[at])], -1.0, ("ln2",))
    loss = np.where(special, plain_loss.reshape(-1), loss).reshape(plain_loss.shape)
    grad = np.where(special[:, None], plain_grad.reshape(-1, n), grad).reshape(plain_grad.shape)
    return loss, grad


def cross_entropy(logits, target=None, target_probs=None, label_smoothing: float = 0.0,
                  base: str = "e", normalize_target: bool = False, loss_only: bool = False) -> CrossEntropy:
    r"""torch.nn.functional.cross_entropy for one sample per row, with its gradient.

    L = −Σ_i y_i·log softmax(z)_i with y the one-hot ``target`` (class index per row) or the
    ``target_probs`` (one distribution per row, validated), label-smoothed as PyTorch does:
    ``y ← (1 − ε)·y + ε/n``. The log-probabilities come from the stable log-softmax, so
    ``cross_entropy([-1e300, 1e300], target=0).loss = 2e300``. Terms with y_i = 0 contribute 0
    even where log ŷ_i = −inf.

    grad = ∂L/∂z = ŷ − y (divided by ln 2 with ``base="2"``), per sample (PyTorch's
    ``reduction="sum"``; its default mean over the batch would divide by the batch size). At
    the most probable class ``ŷ_k − y_k`` is computed as ``(1 − y_k) − (1 − ŷ_k)`` with both
    complements exact, so a confident correct prediction gets its tiny gradient right
    (``z = [40, 0]``, target 0: −4.248e-18, where PyTorch's float64 gives −4.2e-18 ± 1.1e-16).

    With a one-hot target and no smoothing, on the x87 path (see :mod:`dlcalc.softmax_core`),
    the loss −log ŷ_t, the probabilities ŷ and the gradient (ŷ_i, and −(1 − ŷ_t) at the target)
    are the exact values correctly rounded, in bits too (divided by ln 2 before the one
    rounding), at any batch size. Label smoothing and soft targets: the loss summed in extended
    precision and the gradient ŷ − y from the unrounded ŷ, each rounded once where their bounds
    allow (`_soft_targets_rounded`: the gradient's doubtful ones in double-double, the loss's in
    mpmath in a call of up to 16,384 numbers).

    ``loss_only`` (one-hot targets): the loss alone (``probs`` and ``grad`` None), for a batch
    that prints only it: the softmax of every class is then neither computed nor decided.
    """
    z = as_float_array(logits, "logits")
    ln_base = validate_base(base)
    n = z.shape[-1]
    dt = z.dtype
    y, comp, t = _smoothed_targets(n, dt, z.shape, target, target_probs, label_smoothing, normalize_target)
    if y.shape != z.shape:
        z = np.ascontiguousarray(np.broadcast_to(z, y.shape))
    one_hot = t is not None and label_smoothing == 0
    loss_only = loss_only and one_hot
    if one_hot:
        # on the x87 path the core rounds correctly what is printed: ŷ, and at the target
        # log ŷ_t (the loss) and 1 − ŷ_t (the gradient ŷ_t − 1)
        at_t = np.arange(n) == np.broadcast_to(t, y.shape[:-1])[..., None]
        need = {"log_softmax": at_t} if loss_only else {"softmax": None, "complement": at_t, "log_softmax": at_t}
        core = _Core(z, need, lows=ln_base != 1.0)
    else:
        core = _Core(z, dict.fromkeys(("softmax", "complement", "log_softmax")))
    logp = core.log_softmax
    with np.errstate(all="ignore"):
        if one_hot and core.extended:  # the log-softmax at the target (computed there only)
            loss = 0.0 - np.take_along_axis(logp, np.broadcast_to(t, y.shape[:-1])[..., None], axis=-1)[..., 0]
        elif not core.extended or one_hot:
            loss = _xlogy_neg(y, logp).sum(axis=-1)  # one-hot: one term, exact
        else:
            # soft targets: Σ y_i·(−log ŷ_i) has terms of one sign; summed in x87 extended with
            # each log ŷ_i to double-double accuracy, it is rounded to float64 once
            L = np.longdouble
            low = np.where(np.isfinite(core.log_softmax_low), core.log_softmax_low, 0)
            terms = np.where(y == 0, 0, -(y.astype(L) * (logp.astype(L) + low.astype(L))))
            total = terms.sum(axis=-1)
            loss = total.astype(dt)
        prob = core.softmax
        grad = None
        if not loss_only:
            # at the most probable class (1 − y_k) − (1 − ŷ_k), both complements exact; on the
            # x87 path with a one-hot target, ŷ_t − 1 = −(1 − ŷ_t) at the target, correctly rounded
            accurate = (core.onehot_k | (one_hot and core.extended)) & (y >= 0.5)
            grad = np.where(accurate, comp - core.complement, prob - y).astype(dt)
            grad = np.where(core.row_nan_or_multi[..., None], np.nan, grad).astype(dt)
        if loss_only and ln_base != 1.0:
            loss = _in_bits(core, at_t, loss / dt.type(ln_base), None)[0] if core.extended \
                else loss / dt.type(ln_base)
        elif ln_base != 1.0:
            plain_loss, plain_grad = loss / dt.type(ln_base), grad / dt.type(ln_base)
            if one_hot and core.extended:
                # the exact loss and gradient divided by ln 2, each rounded once
                loss, grad = _in_bits(core, at_t, plain_loss, plain_grad)
            else:
                loss, grad = plain_loss, plain_grad
        if not one_hot and core.extended:
            loss, grad = _soft_targets_rounded(core, y, ln_base, total, loss, grad)
    loss = np.asarray(loss, dtype=dt)
    _ce_warnings(y, logp, loss, "ŷ", z=core.z)
    return CrossEntropy(loss=loss, probs=prob, grad=grad, target_distribution=y, target=t,
                        base="2" if ln_base != 1.0 else "e")


def cross_entropy_from_probs(probs, target=None, target_probs=None, label_smoothing: float = 0.0,
                             base: str = "e", normalize: bool = False,
                             normalize_target: bool = False) -> CrossEntropy:
    r"""Cross-entropy of given probabilities: L = −Σ_i y_i·log p_i, and ∂L/∂p_i = −y_i / p_i.

    ``probs`` is validated (finite, in [0, 1], summing to 1 within 1e-6) unless ``normalize``
    divides it by its sum. Targets as in :func:`cross_entropy`. ``0·log 0 = 0`` (and the
    gradient is 0 where y_i = 0); y_i > 0 with p_i = 0 gives an infinite loss and a −inf
    gradient, with a NumericWarning naming the element. This is PyTorch's
    ``nll_loss(log(p), target)`` with autograd's gradient.
    """
    p = validate_distribution(probs, "p", normalize=normalize)
    ln_base = validate_base(base)
    n = p.shape[-1]
    dt = p.dtype
    y, _comp, t = _smoothed_targets(n, dt, p.shape, target, target_probs, label_smoothing, normalize_target)
    p = np.broadcast_to(p, y.shape)
    with np.errstate(all="ignore"):
        logp = np.log(p)
        grad = np.where(y == 0, 0, -y / p).astype(dt)
        if _extended_ok(p) and y.dtype == np.float64:
            # the same sum as H(P,Q) (cross_entropy_distributions), so ce --probs with soft
            # targets and kl print the same, correctly rounded digits
            loss = _neg_xlogy_sum_ext(y, p, ln_base)
        else:
            loss = _xlogy_neg(y, logp).sum(axis=-1)
            if ln_base != 1.0:
                loss = loss / dt.type(ln_base)
        if ln_base != 1.0:
            if _extended_ok(p) and y.dtype == np.float64:  # −y/(p·ln 2), rounded once
                exact_grad = np.where(y == 0, 0.0, _divided_by_ln2(-y, p))
                grad = np.where(np.isfinite(grad), exact_grad, grad / dt.type(ln_base))
            else:
                grad = grad / dt.type(ln_base)
    loss = np.asarray(loss, dtype=dt)
    _ce_warnings(y, logp, loss, "p")
    return CrossEntropy(loss=loss, probs=np.array(p), grad=grad, target_distribution=y, target=t,
                        base="2" if ln_base != 1.0 else "e")


# ----------------------------------------------------------------------------------------------
# binary cross-entropy


@dataclass(frozen=True)
class BinaryCrossEntropy:
    """Element-wise binary cross-entropy: ``losses`` (..., n), their mean ``loss`` (...,),
    ``probs`` σ(z) or the given p (..., n), ``grad`` per element (..., n), ``labels`` (..., n)."""

    losses: np.ndarray
    loss: np.ndarray
    probs: np.ndarray
    grad: np.ndarray
    labels: np.ndarray
    base: str = "e"


def binary_cross_entropy_with_logits(logits, labels, base: str = "e",
                                     loss_only: bool = False) -> BinaryCrossEntropy:
    r"""torch.nn.functional.binary_cross_entropy_with_logits, element by element.

    ℓ_i = −[y_i·log σ(z_i) + (1 − y_i)·log(1 − σ(z_i))], computed stably as
    ``max(z, 0) − z·y + log1p(e^{−|z|})``, with ``max(z, 0) − z·y`` written as ``z·(1 − y)``
    for z ≥ 0 and ``−z·y`` for z < 0 (both ≥ 0, so nothing cancels). ``loss`` is the mean over
    the last axis (PyTorch's default reduction).

    ``grad`` is ∂ℓ_i/∂z_i = σ(z_i) − y_i for each element — NOT divided by n (the gradient of
    the mean would be (σ(z) − y)/n); the CLI reports per-element gradients. For z ≥ 0 and
    y ≥ 1/2 it is computed as ``(1 − y) − σ(−z)`` so that σ(40) − 1 = −4.248e-18 is exact.

    z = ±inf gives the limit: loss 0 when the label agrees exactly (y = 1 for +inf, y = 0 for
    −inf), +inf otherwise (with a NumericWarning).

    ``loss_only``: the mean ``loss`` alone is exact (``losses`` are float64's, ``probs`` and
    ``grad`` None), for a batch that prints only it.
    """
    from dlcalc.activations import sigmoid

    z = as_float_array(logits, "logits")
    ln_base = validate_base(base)
    y = validate_labels(labels, z.shape, z.dtype)
    z = np.broadcast_to(z, y.shape)
    dt = z.dtype
    one = dt.type(1)
    # where the long double gives every loss (finite z), no float64 pass is needed for them
    long_double_only = _extended_ok(z) and loss_only and bool(np.isfinite(z).all())
    with np.errstate(all="ignore"):
        if long_double_only:
            losses = np.zeros(z.shape)
        else:
            a = np.where(z >= 0, z * (one - y), -z * y)
            a = np.where(np.where(z >= 0, one - y, y) == 0, 0, a)  # inf·0: the label agrees with the limit
            losses = (a + np.log1p(np.exp(-np.abs(z)))).astype(dt)
            losses = np.where(np.isnan(z), np.nan, losses).astype(dt)
        sig = grad = None
        if not loss_only:
            sig = sigmoid(z)  # the registry's σ (its formula; NaN is handled here)
            sig_neg = sigmoid(-z)
            grad = np.where((z >= 0) & (y >= 0.5), (one - y) - sig_neg, sig - y).astype(dt)
        if ln_base != 1.0:
            losses = (losses / dt.type(ln_base)).astype(dt)
            grad = None if loss_only else (grad / dt.type(ln_base)).astype(dt)
        loss = losses.mean(axis=-1, dtype=dt)
        if _extended_ok(z):
            losses, loss, grad = _bce_logits_ext(z, y, ln_base, losses, loss, grad)
    for row, idx in _rows(z.shape, where=~np.isfinite(losses).all(axis=-1)):
        zr, lr = z[idx], losses[idx]
        i = int(np.flatnonzero(~np.isfinite(lr))[0])
        if np.isnan(zr[i]):
            msg = f"z[{i}] = nan: the binary cross-entropy is nan"
        else:
            msg = (f"z[{i}] = {format_value(zr[i])} with label {format_value(y[idx][i])}: σ(z) is exactly "
                   f"{'1' if zr[i] > 0 else '0'}, so the binary cross-entropy is infinite")
        _warn(msg, row)
    return BinaryCrossEntropy(losses=losses, loss=np.asarray(loss, dtype=dt), probs=sig, grad=grad,
                              labels=np.array(y), base="2" if ln_base != 1.0 else "e")


def binary_cross_entropy(probs, labels, base: str = "e", loss_only: bool = False) -> BinaryCrossEntropy:
    r"""torch.nn.functional.binary_cross_entropy, element by element, with PyTorch's clamp.

    ℓ_i = −[y_i·max(log p_i, −100) + (1 − y_i)·max(log1p(−p_i), −100)]: like PyTorch, each log
    is clamped at −100 so p = 0 or 1 gives a finite loss (at most 100 per element); a zero
    label weight contributes 0. ``loss`` is the mean over the last axis.

    ``grad`` is the exact derivative of the unclamped formula, −y/p + (1 − y)/(1 − p), computed
    as (p − y) / (p·(1 − p)) (no cancellation when p ≈ y), per element and NOT divided by n.
    It is ±inf where the loss is clamped (p = 0 with y > 0, p = 1 with y < 1), with a
    NumericWarning; PyTorch instead divides by max(p·(1 − p), 1e-12), which also makes it wrong
    for tiny p (p = 1e-20, y = 0: exact 1, PyTorch 1e-8). ``loss_only``: as in
    :func:`binary_cross_entropy_with_logits`.
    """
    p = as_float_array(probs, "p")
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise _err(f"p[{i[-1]}] = {format_value(p[i])} is not a probability; with --probs the inputs "
                   f"must be in [0, 1]", _row_of(p, i), _failing_rows(bad, p))
    ln_base = validate_base(base)
    y = validate_labels(labels, p.shape, p.dtype)
    p = np.broadcast_to(p, y.shape)
    dt = p.dtype
    one = dt.type(1)
    with np.errstate(all="ignore"):
        lp = np.maximum(np.log(p), dt.type(-100))
        l1p = np.maximum(np.log1p(-p), dt.type(-100))
        losses = (np.where(y == 0, 0, -y * lp) + np.where(y == 1, 0, -(one - y) * l1p)).astype(dt)
        grad = (p - y) / (p * (one - p))
        grad = np.where((p == 0) & (y == 0), one, grad)
        grad = np.where((p == 1) & (y == 1), -one, grad)
        grad = np.where(p == 0, np.where(y == 0, one, -np.inf), grad)
        grad = np.where(p == 1, np.where(y == 1, -one, np.inf), grad).astype(dt)
        if ln_base != 1.0:
            losses = (losses / dt.type(ln_base)).astype(dt)
            grad = (grad / dt.type(ln_base)).astype(dt)
        loss = losses.mean(axis=-1, dtype=dt)
        if _extended_ok(p):
            losses, loss, exact_grad = _bce_probs_ext(p, y, ln_base, losses, loss, None if loss_only else grad)
            grad = grad if loss_only else exact_grad
    for row, idx in _rows(p.shape, where=~np.isfinite(grad).all(axis=-1)):
        gr = grad[idx]
        i = int(np.flatnonzero(~np.isfinite(gr))[0])
        msg = (f"p[{i}] = {format_value(p[idx][i])} with label {format_value(y[idx][i])}: the gradient "
               f"−y/p + (1−y)/(1−p) is infinite (the loss is clamped at 100 per element, as in PyTorch)")
        _warn(msg, row)
    return BinaryCrossEntropy(losses=losses, loss=np.asarray(loss, dtype=dt), probs=np.array(p),
                              grad=None if loss_only else grad, labels=np.array(y),
                              base="2" if ln_base != 1.0 else "e")


def _mp_ratio_in_bits(a, b):
    import mpmath

    return a / (b * mpmath.log(2))


def _divided_by_ln2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a/(b·ln 2) rounded once (long double: three roundings, 1.5 ulps; doubtful ones of a small
    call by mpmath)."""
    from dlcalc import rounding

    a, b = np.broadcast_arrays(a, b)
    with np.errstate(all="ignore"):
        approx = a.astype(_L) / b.astype(_L) / _LN2_L
    return rounding.round_each(approx, lambda i: (_mp_ratio_in_bits, [a.flat[i], b.flat[i]]), ulps=4,
                               inputs=a.size).reshape(a.shape)


def _mp_bce_logits(ln_base: float):
    def value(z, y):
        import mpmath

        return _mp_base(max(z, 0) - z * y + mpmath.log1p(mpmath.exp(-abs(z))), ln_base)
    return value


def _mp_bce_probs(ln_base: float):
    def value(p, y):
        import mpmath

        first = 0 if y == 0 else -y * max(mpmath.log(p) if p else -mpmath.inf, -100)
        second = 0 if y == 1 else -(1 - y) * max(mpmath.log1p(-p) if p != 1 else -mpmath.inf, -100)
        return _mp_base(first + second, ln_base)
    return value


def _mp_mean(element, n: int):
    """The mean of `element`(a_i, b_i) over args (a_1 … a_n, b_1 … b_n)."""
    def value(*args):
        import mpmath

        return mpmath.fsum(element(a, b) for a, b in zip(args[:n], args[n:])) / n
    return value


def _mp_bce_logits_grad(ln_base: float):
    def value(z, y):
        import mpmath

        # σ(z) − y, as (1 − y) − σ(−z) for z ≥ 0 so that no precision is spent on cancellation
        value = (1 - y) - 1 / (1 + mpmath.exp(z)) if z >= 0 else 1 / (1 + mpmath.exp(-z)) - y
        return _mp_base(value, ln_base)
    return value


def _mp_bce_probs_grad(ln_base: float):
    def value(p, y):
        return _mp_base((p - y) / (p * (1 - p)), ln_base)
    return value


def _round_bce(z, y, ell, grad, grad_scale, rows_ok, losses, loss, grad_out, exact_loss, exact_grad,
               refine=None):
    """The long-double losses ℓ (each within 8 long-double ulps), their means over the rows
    `rows_ok` (n + 10: the n − 1 additions ½ each, the division ½) and the gradients (within 8
    ulps of `grad_scale`: the difference may cancel), rounded once, replacing the float64
    (losses, loss, grad) where finite; the doubtful ones of a small call by mpmath, or at any
    size by `refine` = (ℓ, mean, gradient) double-double forms of flat element or row indices
    (each entry may be None)."""
    from dlcalc import rounding

    n = z.shape[-1]
    z2, y2 = _flat2(z), _flat2(np.broadcast_to(y, z.shape))
    size = z2.size
    refine_loss, refine_mean, refine_grad = refine or (None, None, None)

    def element(function):
        return lambda i: (function, [z2.flat[i], y2.flat[i]])

    if grad_out is not None:  # else the mean alone is wanted (`loss_only`)
        finite = np.isfinite(ell) & np.isfinite(z)
        rounded = rounding.round_each(ell, element(exact_loss), 8, None, size,
                                      refine=refine_loss).reshape(z.shape)
        losses = np.where(finite, rounded, losses)
        finite = np.isfinite(grad) & np.isfinite(z)
        rounded = rounding.round_each(grad, element(exact_grad), 8, grad_scale, size, refine=refine_grad)
        grad_out = np.where(finite, rounded.reshape(z.shape), grad_out)
    if rows_ok.any():
        mean = _mp_mean(exact_loss, n)
        rows = _flat2(ell).sum(axis=-1) / n
        rounded = rounding.round_each(rows, lambda i: (mean, z2[i].tolist() + y2[i].tolist()), n + 10, None,
                                      size, refine=refine_mean)
        loss = np.where(rows_ok, rounded.reshape(np.shape(loss)), loss)
    return losses, loss, grad_out


def _dd_in_bits(value, bits: bool):
    """A double-double divided by ln 2 (itself as a double-double) when `bits`."""
    if not bits:
        return value
    ln2 = exact._tables()["ln2"]
    return exact.dd_div(value, (ln2[0], ln2[1]))


def _dd_bce_logits(z, y, bits: bool):
    """(ℓ, σ(z) − y, its scale) in double-double for float64 z, y, each as (hi, lo, k): the value
    2^k·(hi + lo), hi NaN where undecided. ℓ = a + log1p(t), t = e^(−|z|), a = z·(1 − y) for
    z ≥ 0, else −z·y (1 − y and the products exact as double-doubles): two terms ≥ 0; σ(z) − y
    with σ from t (`activations._dd_sigmoid_pair`), relative to σ + |y|. Beyond |z| = 600, t is
    taken as 0 (below 2⁻⁸⁶⁵, harmless) except where it is all there is: ℓ = t where a = 0, and
    σ(z) − y = t for z < −600, y = 0, or −t for z > 600, y = 1 (each to 1 + O(t)), t = 2^k·m
    (exact.dd_exp_scaled); a y or 1 − y below 2⁻⁷⁰⁰ but not 0 there is left undecided."""
    from dlcalc.activations import _dd_exp_minus_abs, _dd_sigmoid_pair

    _, t, beyond = _dd_exp_minus_abs(z)
    one_minus_y = exact.two_sum(np.ones_like(y), -y)
    positive = z >= 0
    a = exact.dd_mul_d(one_minus_y, np.where(positive, z, 0.0))
    b = exact.two_product(np.where(positive, 0.0, -z), y)
    a = (np.where(positive, a[0], b[0]), np.where(positive, a[1], b[1]))
    ell = _dd_in_bits(exact.dd_add(a, exact.dd_log1p(t[0], t[1])), bits)
    sigma = _dd_sigmoid_pair(z, t)[0]
    grad = _dd_in_bits(exact.dd_add_d(sigma, -y), bits)
    grad_scale = (sigma[0] + np.abs(y)) / (math.log(2) if bits else 1.0)
    zero = np.zeros(z.shape, dtype=np.int64)
    if not beyond.any():
        return (ell[0], ell[1], zero), (grad[0], grad[1], zero), grad_scale
    m, k = exact.dd_exp_scaled(np.where(beyond, -np.abs(z), 0.0), np.zeros_like(z))
    m = _dd_in_bits(m, bits)
    other = np.where(positive, one_minus_y[0], y)  # the part of σ(z) − y beside ±t
    tail_loss = beyond & (a[0] == 0)
    tail_grad = beyond & (other == 0)
    sign = np.where(positive, -1.0, 1.0)
    undecided = beyond & (other != 0) & (np.abs(other) < 2.0 ** -700)
    ell = (np.where(tail_loss, m[0], ell[0]), np.where(tail_loss, m[1], ell[1]), np.where(tail_loss, k, 0))
    grad = (np.where(undecided, np.nan, np.where(tail_grad, sign * m[0], grad[0])),
            np.where(tail_grad, sign * m[1], grad[1]), np.where(tail_grad, k, 0))
    return ell, grad, np.where(tail_grad, np.abs(m[0]), grad_scale)


def _bce_logits_refine(z, y, bits: bool):
    """(ℓ, mean, gradient) second stages for `_round_bce`, of flat indices into z's rows (the
    mean: of row indices; a row with a loss in 2^k form is left to mpmath)."""
    z2, y2 = _flat2(z), _flat2(np.broadcast_to(y, z.shape))
    zf, yf = z2.reshape(-1), y2.reshape(-1)
    n = z2.shape[1]

    def loss(index):
        ell, _, _ = _dd_bce_logits(zf[index], yf[index], bits)
        return ell[0], ell[1], None, ell[2]

    def grad(index):
        _, g, scale = _dd_bce_logits(zf[index], yf[index], bits)
        return g[0], g[1], scale, g[2]

    def mean(rows):
        ell, _, _ = _dd_bce_logits(z2[rows], y2[rows], bits)
        total = (ell[0][:, 0], ell[1][:, 0])
        for j in range(1, n):
            total = exact.dd_add(total, (ell[0][:, j], ell[1][:, j]))
        total = exact.dd_div(total, (float(n), 0.0))
        return np.where((ell[2] != 0).any(axis=1), np.nan, total[0]), total[1], None

    return loss, mean, grad


def _bce_logits_ext(z, y, ln_base, losses, loss, grad):
    """`binary_cross_entropy_with_logits` in x87 long double, rounded once: ℓ = a +
    log1p(e^(−|z|)) with a = z·(1 − y) or −z·y (≥ 0: the sum does not cancel, 4 ulps with expl
    and log1pl within 2 each) and σ(z) − y, or (1 − y) − σ(−z), relative to σ + y; the doubtful
    ones by the double-double forms (`_dd_bce_logits`) at any size."""
    y = np.broadcast_to(y, z.shape)
    finite = np.isfinite(z)
    zf = np.where(finite, z, 0.0)
    from dlcalc.activations import _exp_minus_abs_long

    Z, Y = zf.astype(_L), y.astype(_L)
    positive = zf >= 0
    t = _exp_minus_abs_long(zf)
    a = Z * np.where(positive, 1 - Y, -Y)  # z·(1 − y) for z ≥ 0, −z·y below
    ell = _in_base(a + np.log1p(t), ln_base)
    g = g_scale = None
    if grad is not None:
        s, s_neg = np.where(positive, 1, t) / (1 + t), np.where(positive, t, 1) / (1 + t)
        upper = positive & (y >= 0.5)
        g = _in_base(np.where(upper, (1 - Y) - s_neg, s - Y), ln_base)
        g_scale = _in_base(np.where(upper, (1 - Y) + s_neg, s + Y), ln_base)
    return _round_bce(z, y, ell, g, g_scale, finite.all(axis=-1), losses, loss, grad,
                      _mp_bce_logits(ln_base), _mp_bce_logits_grad(ln_base),
                      _bce_logits_refine(zf, y, ln_base != 1.0))


def _bce_probs_ext(p, y, ln_base, losses, loss, grad):
    """`binary_cross_entropy` in x87 long double, rounded once: ℓ = −[y·max(log p,
    −100) + (1 − y)·max(log1p(−p), −100)] (two terms ≥ 0, 4 ulps), and (p − y)/(p·(1 − p)) for
    0 < p < 1 (p − y and 1 − p rounded once each, the product and quotient: 2.5 ulps)."""
    y = np.broadcast_to(y, p.shape)
    P, Y = p.astype(_L), y.astype(_L)
    lp = np.maximum(np.log(P), -100)
    l1p = np.maximum(np.log1p(-P), -100)
    ell = _in_base(np.where(y == 0, 0, -Y * lp) + np.where(y == 1, 0, -(1 - Y) * l1p), ln_base)
    g = None
    if grad is not None:
        inside = (p > 0) & (p < 1)
        g = _in_base(np.where(inside, (P - Y) / (P * (1 - P)), np.nan), ln_base)
    return _round_bce(p, y, ell, g, None if g is None else np.abs(g), np.ones(p.shape[:-1], dtype=bool),
                      losses, loss, grad, _mp_bce_probs(ln_base), _mp_bce_probs_grad(ln_base))


# ----------------------------------------------------------------------------------------------
# entropy and KL divergence


def _entropy_terms(p: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(p == 0, 0, -p * np.log(p)).astype(p.dtype, copy=False)


# Correct rounding where long double is x87 extended (see dlcalc.softmax_core): every term, log and
# sum below is done with 11 more bits than float64 and the result rounded to float64 once, in
# blocks of rows so the 16-byte temporaries stay small. float32, and float64 where long double
# is not x87 extended, take the float64 formulas after these helpers.

_L = np.longdouble
_LN2_L = np.log(_L(2))
# ψ(u) = Σ_{k≥2} (−1)^k u^k/(k(k−1)) and φ(x) = x + e^{−x} − 1 = Σ_{k≥2} (−x)^k/k!, Horner
# coefficients highest first; 22 and 18 terms reach 2^-66 relative for |u| ≤ 0.1, |x| ≤ 1/4
# (more than float64's 2^-53 needs, so the float64 path uses the same series)
_PSI_COEF = [(-1) ** k / _L(k * (k - 1)) for k in range(23, 1, -1)]
_PHI_COEF = [(-1) ** k / _L(math.factorial(k)) for k in range(19, 1, -1)]


def _extended_ok(a: np.ndarray) -> bool:
    return exact.EXTENDED and a.dtype == np.float64


def _series(x, coef):
    """x²·(c_2 + c_3·x + ...) by Horner from the highest coefficient, in x's type."""
    acc = np.zeros_like(x)
    for c in coef:
        acc = acc * x + x.dtype.type(c)
    return acc * x * x


def _in_base(total, ln_base: float):
    """An extended-precision result divided by ln(base) there (two more roundings: ln 2 and
    the quotient, 1 long-double ulp in all)."""
    return total / _LN2_L if ln_base != 1.0 else total


# The definitions in mpmath, for the results the long double cannot round with certainty
# (`rounding.round_each`): each takes the row's numbers as one flat argument list.

def _mp_base(value, ln_base: float):
    import mpmath

    return value / mpmath.log(2) if ln_base != 1.0 else value


def _mp_neg_xlogy(n: int, ln_base: float):
    """−Σ p_i·log q_i of args (p_1 … p_n, q_1 … q_n), 0·log 0 = 0."""
    def value(*args):
        import mpmath

        return _mp_base(-mpmath.fsum(a * mpmath.log(b) for a, b in zip(args[:n], args[n:]) if a), ln_base)
    return value


def _mp_kl(n: int, ln_base: float):
    """Σ p_i·log(p_i/q_i) of args (p, q); its clamp at 0 is applied after rounding."""
    def value(*args):
        import mpmath

        return _mp_base(mpmath.fsum(a * mpmath.log(a / b) for a, b in zip(args[:n], args[n:]) if a), ln_base)
    return value


def _mp_kl_term(ln_base: float):
    def value(a, b):
        import mpmath

        return _mp_base(a * mpmath.log(a / b), ln_base)
    return value


def _mp_js(n: int, ln_base: float):
    """½ Σ p·log(p/m) + ½ Σ q·log(q/m), m = (p + q)/2 exactly, of args (p, q)."""
    def value(*args):
        import mpmath

        total = mpmath.mpf(0)
        for a, b in zip(args[:n], args[n:]):
            m = (a + b) / 2
            total += (a * mpmath.log(a / m) if a else 0) + (b * mpmath.log(b / m) if b else 0)
        return _mp_base(total / 2, ln_base)
    return value


def _flat2(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])


def _neg_xlogy_sum_ext(p: np.ndarray, q: np.ndarray, ln_base: float) -> np.ndarray:
    """−Σ p_i·log q_i (H(P) with q = p, H(P,Q) otherwise), rounded once.

    Every term is ≥ 0: each is within 2.5 long-double ulps (logl within 2, the product ½), the
    n − 1 additions add ½ ulp each of a partial sum no larger than the total, ÷ ln 2 one more:
    within n + 4 ulps; n + 8 is the bound the doubtful test uses (`rounding.round_each`).
    p_i = 0 contributes 0 even where q_i = 0; p_i > 0 = q_i gives inf."""
    from dlcalc import rounding

    shape = p.shape[:-1]
    p2, q2 = _flat2(p), _flat2(q)
    rows, n = p2.shape
    total = np.empty(rows, dtype=_L)
    with np.errstate(all="ignore"):
        for b in row_blocks(rows, n):
            pb = p2[b].astype(_L)
            terms = np.where(pb == 0, 0, -pb * np.log(q2[b].astype(_L)))
            total[b] = _in_base(terms.sum(axis=-1), ln_base)
    exact_value = _mp_neg_xlogy(n, ln_base)
    out = rounding.round_each(total, lambda i: (exact_value, p2[i].tolist() + q2[i].tolist()), n + 8, None,
                              p2.size, refine=lambda rows: _dd_neg_xlogy_rows(p2[rows], q2[rows], ln_base != 1.0))
    return out.reshape(shape)


def _dd_row_sum(terms):
    """Σ over the last axis of a double-double (rows, n) pair."""
    total = (terms[0][:, 0], terms[1][:, 0])
    for j in range(1, terms[0].shape[1]):
        total = exact.dd_add(total, (terms[0][:, j], terms[1][:, j]))
    return total


def _dd_neg_xlogy_rows(p, q, bits: bool):
    """−Σ p·log q of rows in double-double (terms ≥ 0; p = 0 contributes 0), for `rounding.refined`."""
    with np.errstate(all="ignore"):
        positive = p > 0
        safe_q = np.where(positive & (q > 0), q, 1.0)
        terms = exact.dd_mul_d(_dd_log((safe_q, np.zeros_like(q))), -p)
        terms = (np.where(positive, terms[0], 0.0), np.where(positive, terms[1], 0.0))
        total = _dd_in_bits(_dd_row_sum(terms), bits)
    return _dd_tiny_undecided(total), total[1], None


def _dd_tiny_undecided(value):
    """hi, NaN where |value| is below 2⁻⁹⁶⁰ but not 0 (its low part would be subnormal: mpmath)."""
    return np.where((np.abs(value[0]) < 2.0 ** -960) & (value[0] != 0), np.nan, value[0])


# ψ(u) = Σ_{k≥2} (−1)^k·u^k/(k(k − 1)) in double-double for |u| ≤ ⅛: to k = 40 (the rest below
# 2⁻¹¹⁰ of ψ ≥ u²/2.2), the terms from u¹⁶ on in float64 (below 2⁻⁴⁶ of ψ)
_PSI_DD = {k: exact.dd_constant((-1) ** k, k * (k - 1)) for k in range(2, 41)}
_PSI_DD_RANGE = 0.125


def _dd_series(x, coefficients: dict, first_float64: int):
    """Σ_k c_k·x^k (k ≥ 2) for a double-double x, by Horner from the highest k: the terms from
    x^first_float64 on in float64 (each series says why that is accurate enough), the rest in
    double-double."""
    h = np.zeros_like(x[0])
    for k in range(max(coefficients), first_float64 - 1, -1):
        h = h * x[0] + coefficients[k][0]
    total = (h, np.zeros_like(h))
    for k in range(first_float64 - 1, 1, -1):
        total = exact.dd_add(exact.dd_mul(total, x), coefficients[k])
    return exact.dd_mul(total, exact.dd_mul(x, x))


def _dd_psi_small(u):
    return _dd_series(u, _PSI_DD, 16)


def _dd_kl_parts(p, q, terms_wanted: bool = True, g_wanted: bool = True):
    """(terms p·log(p/q), g, p − q) per element in double-double, as `_kl_block_ext` defines them
    (g = q·ψ(u), u = (p − q)/q, for p/q ∈ [½, 2], ψ by its series for |u| ≤ ⅛; p·log(p/q) − p + q
    elsewhere; q for p = 0), for
    finite positive q (q = 0 < p, an infinite KL, never reaches the second stage). Each form is
    computed on the elements it applies to only; what is not wanted is None."""
    shape = p.shape
    p, q = p.reshape(-1), q.reshape(-1)
    d = exact.two_sum(p, -q)  # exact; p − q itself where p/q ∈ [½, 2] (Sterbenz)
    with np.errstate(all="ignore"):
        r = p / np.where(q > 0, q, 1.0)
    near = (q > 0) & (r >= 0.5) & (r <= 2)
    far = ~near & (p > 0)
    terms = (np.zeros_like(p), np.zeros_like(p)) if terms_wanted else None
    g = (np.where(p == 0, q, 0.0), np.zeros_like(p)) if g_wanted else None

    def put(target, index, value):
        target[0][index], target[1][index] = value

    i = np.flatnonzero(near & (p > 0))
    if i.size:
        u = exact.dd_div((d[0][i], np.zeros(i.size)), (q[i], np.zeros(i.size)))
        if terms_wanted:  # p·log1p(u), u ≥ −½ (the series of dd_log1p takes it)
            put(terms, i, exact.dd_mul_d(exact.dd_log1p(u[0], u[1]), p[i]))
        if g_wanted:
            small = np.abs(u[0]) <= _PSI_DD_RANGE
            psi = [np.empty(i.size), np.empty(i.size)]
            k = np.flatnonzero(small)
            if k.size:
                put(psi, k, _dd_psi_small((u[0][k], u[1][k])))
            k = np.flatnonzero(~small)  # ⅛ < |u| ≤ 1: ψ = (1 + u)·log1p(u) − u, cancelling ≤ 19-fold
            if k.size:
                uk = (u[0][k], u[1][k])
                put(psi, k, exact.dd_add(exact.dd_mul(exact.dd_add_d(uk, 1.0), exact.dd_log1p(*uk)),
                                         exact.dd_neg(uk)))
            put(g, i, exact.dd_mul_d((psi[0], psi[1]), q[i]))
    i = np.flatnonzero(far)
    if i.size:
        zeros = np.zeros(i.size)
        log_ratio = _dd_log(exact.dd_div((p[i], zeros), (q[i], zeros)))
        far_terms = exact.dd_mul_d(log_ratio, p[i])
        if terms_wanted:
            put(terms, i, far_terms)
        if g_wanted:
            put(g, i, exact.dd_add(far_terms, exact.dd_neg((d[0][i], d[1][i]))))
    reshape = (lambda v: None if v is None else (v[0].reshape(shape), v[1].reshape(shape)))
    return reshape(terms), reshape(g), reshape(d)


def _dd_kl_rows(p, q, bits: bool):
    """KL of rows in double-double: Σ g + Σ (p − q), relative to Σ g + |Σ (p − q)|."""
    _, g, d = _dd_kl_parts(p, q, terms_wanted=False)
    g, d = _dd_row_sum(g), _dd_row_sum(d)
    total = _dd_in_bits(exact.dd_add(g, d), bits)
    scale = (np.abs(g[0]) + np.abs(d[0])) / (math.log(2) if bits else 1.0)
    return _dd_tiny_undecided(total), total[1], scale


def _kl_block_ext(pb: np.ndarray, qb: np.ndarray):
    """Extended (terms p_i·log(p_i/q_i), Σ g_i, Σ (p_i − q_i)) of a block of float64 rows, not
    yet rounded; KL is the sum of the last two.

    KL = Σ g_i + Σ (p_i − q_i) with g_i = p_i·log(p_i/q_i) − p_i + q_i ≥ 0: where p_i/q_i ∈ [1/2,
    2], g_i = q_i·ψ(u_i), u_i = (p_i − q_i)/q_i (p_i − q_i exact by Sterbenz, ψ by its series for
    |u| ≤ 0.1), so P ≈ Q does not cancel; those exact p_i − q_i are summed exactly (fixed grids),
    the others (|p_i − q_i| ≤ 7·g_i) in extended.
    """
    r = pb / qb
    near = (r >= 0.5) & (r <= 2)
    d = np.where(near, pb - qb, 0)  # exact
    P, Q = pb.astype(_L), qb.astype(_L)
    u = d.astype(_L) / Q
    log_ratio = np.empty_like(u)  # one logarithm per element (they are the cost here)
    log_ratio[near] = np.log1p(u[near])
    far = ~near
    log_ratio[far] = np.log(P[far] / Q[far])
    terms = np.where(pb == 0, 0, P * log_ratio)
    psi = (1 + u) * log_ratio - u
    small = near & (np.abs(u) <= 0.5)
    if small.any():
        psi[small] = _psi_series(u[small])
    g = np.where(near, Q * psi, terms - (P - Q))
    g = np.where(pb == 0, Q, g)
    g = np.where((qb == 0) & (pb > 0), np.inf, g)
    far_d = np.where(near | ~np.isfinite(g), 0, P - Q)
    near_d = _L(0)
    for piece in fixed_grid_pieces(d):  # largest grid first: in extended, the first sums are exact
        near_d = near_d + piece.astype(_L)
    # the error bound, in long-double ulps: 6 of g for ψ's series (u's quotient, the series 2,
    # the products), 20 of g for ψ = (1 + u)·log1p(u) − u at ½ < |u| ≤ 1 (it cancels up to
    # 8.4-fold, log1p within 2); far, 3 of |terms| (the quotient ½, log 2, the product ½) and 1
    # of |p − q|; the sums add ½ per addition of Σ g and of Σ |p − q| over the far elements
    # (an upper bound, so computed in float64 and raised by 1%)
    g64, far64 = g.astype(np.float64), np.abs(far_d.astype(np.float64))
    element = np.where(small, 6 * g64, np.where(near, 20 * g64, 3 * np.abs(terms.astype(np.float64)) + far64))
    n = pb.shape[-1]
    sums = g64.sum(axis=-1) + far64.sum(axis=-1)
    error = 1.01 * (np.where(np.isfinite(g64), element, 0).sum(axis=-1) + (n / 2) * sums)
    return terms, g.sum(axis=-1), far_d.sum(axis=-1) + near_d, error


def _psi_series(u):
    """ψ(u) = Σ_{k≥2} (−1)^k·u^k/(k(k − 1)) for |u| ≤ ½ in long double, to k = 64 (the rest below
    2⁻⁷⁰ of ψ); the terms from u¹² on weigh at most 2⁻¹⁴·⁸ of ψ and are summed in float64."""
    uf = u.astype(np.float64)
    tail = np.zeros_like(uf)
    for k in range(64, 11, -1):
        tail = tail * uf + (-1) ** k / (k * (k - 1))
    acc = tail.astype(_L)
    for k in range(11, 1, -1):
        acc = acc * u + _L((-1) ** k) / _L(k * (k - 1))
    return acc * u * u


def _kl_core_ext(p: np.ndarray, q: np.ndarray, ln_base: float = 1.0, with_terms: bool = True):
    """(terms p_i·log(p_i/q_i), KL), both divided by ln(base) and rounded once from extended.

    A KL that comes out slightly negative only because ΣP ≠ ΣQ in float64 rounding (possible
    when P ≈ Q: the exact Σ p·log(p/q) of such inputs can be below 0) is clamped to 0.

    Bounds for the doubtful test (`rounding.round_each`), in long-double ulps: a term
    p·log(p/q) is within 4 (the quotient or log1p's argument ½, the log 2, the product ½, ÷ ln 2
    1); KL within the error `_kl_block_ext` states (+ 2 ulps of KL for the last sum and ÷ ln 2).
    """
    from dlcalc import rounding

    shape = p.shape
    p2, q2 = _flat2(p), _flat2(q)
    rows, n = p2.shape
    terms_long = np.empty((rows, n), dtype=_L)
    total = np.empty(rows, dtype=_L)
    scale = np.empty(rows, dtype=_L)
    with np.errstate(all="ignore"):
        for b in row_blocks(rows, n):
            terms, g, d, error = _kl_block_ext(p2[b], q2[b])
            total[b] = _in_base(g + d, ln_base)
            scale[b] = _in_base(error + 2 * np.abs(g + d), ln_base)
            terms_long[b] = _in_base(terms, ln_base)
    term = _mp_kl_term(ln_base)
    bits = ln_base != 1.0
    pf, qf = p2.reshape(-1), q2.reshape(-1)

    def refine_terms(index):
        terms = _dd_in_bits(_dd_kl_parts(pf[index], qf[index], g_wanted=False)[0], bits)
        return _dd_tiny_undecided(terms), terms[1], None

    terms_out = None
    if with_terms:
        terms_out = rounding.round_each(terms_long, lambda i: (term, [pf[i], qf[i]]), 8, None, p2.size,
                                        refine=refine_terms).reshape(shape)
    kl = _mp_kl(n, ln_base)
    kl_out = rounding.round_each(total, lambda i: (kl, p2[i].tolist() + q2[i].tolist()), 1, scale, p2.size,
                                 refine=lambda rows: _dd_kl_rows(p2[rows], q2[rows], bits))
    return terms_out, np.maximum(kl_out, 0).reshape(shape[:-1])


def _js_ext(p: np.ndarray, q: np.ndarray, ln_base: float = 1.0) -> np.ndarray:
    """JS = ½ D(P‖M) + ½ D(Q‖M), rounded once. M = (P + Q)/2 rounded to float64 costs nothing at
    first order when the divergences are the generalized ones, Σ g_i (with the −p_i + m_i terms,
    and no Σ (p_i − m_i)): for any M', ½ Σ g(P‖M') + ½ Σ g(Q‖M') = JS + Σ m'·ψ(m/m' − 1) ≥ 0.
    The second-order remainder Σ m'·ψ(m/m' − 1) is below 2⁻¹⁰⁷·Σ m' ≤ 2⁻¹⁰⁶ (|m/m' − 1| ≤ 2⁻⁵³),
    an absolute term the doubtful test adds to the bound of the two Σ g (see `_kl_core_ext`).
    """
    from dlcalc import rounding

    m = _mixture(p, q)
    p2, q2, m2 = _flat2(p), _flat2(q), _flat2(m)
    rows, n = p2.shape
    total = np.empty(rows, dtype=_L)
    scale = np.empty(rows, dtype=_L)
    with np.errstate(all="ignore"):
        for b in row_blocks(rows, n):
            _, g_p, _, error_p = _kl_block_ext(p2[b], m2[b])  # Σ g only
            _, g_q, _, error_q = _kl_block_ext(q2[b], m2[b])
            total[b] = _in_base((g_p + g_q) / 2, ln_base)
            # 2⁻¹⁰⁶ (M's rounding) in units of 2⁻⁶³, and 2 ulps for the last sum and ÷ ln 2
            scale[b] = _in_base((error_p + error_q) / 2 + _L(2.0 ** -43) + 2 * (g_p + g_q), ln_base)
    js = _mp_js(n, ln_base)
    out = rounding.round_each(total, lambda i: (js, p2[i].tolist() + q2[i].tolist()), 1, scale, p2.size,
                              refine=lambda rows: _dd_js_rows(p2[rows], q2[rows], ln_base != 1.0))
    return np.maximum(out, 0).reshape(p.shape[:-1])


def _dd_log(x):
    """log x for a double-double x > 0 (normal): e·ln 2 + log1p(m − 1), x = 2^e·m, m ∈ [1, 2)
    (m − 1 is exact; a hair below 0 where m rounds to 1 from below, which the series takes)."""
    mantissa, e = np.frexp(x[0])  # x_hi = mantissa·2^e, mantissa ∈ [½, 1)
    e = e - 1
    m = (np.ldexp(x[0], -e), np.ldexp(x[1], -e))
    z = exact.dd_add_d(m, -1.0)
    ln2 = exact._tables()["ln2"]
    return exact.dd_add(exact.dd_log1p(z[0], z[1]), exact.dd_mul_d((ln2[0], ln2[1]), e.astype(np.float64)))


# φ(u) = (1 + u)·log1p(u) + (1 − u)·log1p(−u) = Σ_{k≥1} u^(2k)/(k(2k − 1)), all terms ≥ 0: summed
# for |u| ≤ ½ to k = 45 (the rest below 2⁻¹⁰⁰ of u²), the terms from k = 20 on in float64 (they
# weigh less than 2⁻³⁸ of the sum, so float64 keeps them to 2⁻⁹¹ of it)
_PHI_EVEN = [exact.dd_constant(1, k * (2 * k - 1)) for k in range(1, 46)]


def _dd_js_rows(p, q, bits: bool):
    """JS of rows of float64 P, Q in double-double, with M = (P + Q)/2 exact (no rounding of M):
    p = m(1 + u), q = m(1 − u), u = (p − q)/(p + q), so JS = ½ Σ m·φ(u) (`_dd_js_sum`).
    Returns (hi, lo, None) per row for `rounding.refined`."""
    with np.errstate(all="ignore"):
        total = exact.two_sum(p, q)
        u = exact.dd_div(exact.two_sum(p, -q), total)
        return _dd_js_sum((total[0] / 2, total[1] / 2), u, bits)


def _dd_js_sum(m, u, bits: bool):
    """½ Σ m·φ(u) over rows of double-doubles m ≥ 0, |u| ≤ 1: φ(u) = φ(|u|) by its series for
    |u| ≤ ½ (see _PHI_EVEN), else (1 + |u|)·log1p(|u|) + (1 − |u|)·log(1 − |u|) (the two cancel
    at most 3.6-fold), φ(1) = 2·ln 2 (p or q = 0); a sum of non-negative terms. (hi, lo, None)."""
    with np.errstate(all="ignore"):
        u = (np.abs(u[0]), np.where(u[0] < 0, -u[1], u[1]))
        u2 = exact.dd_mul(u, u)
        h = np.full_like(u[0], _PHI_EVEN[-1][0])
        for c in _PHI_EVEN[-2:18:-1]:
            h = h * u2[0] + c[0]
        series = (h, np.zeros_like(h))
        for c in _PHI_EVEN[18::-1]:
            series = exact.dd_add(exact.dd_mul(series, u2), c)
        series = exact.dd_mul(series, u2)
        large = u[0] > 0.5
        one_minus = exact.two_sum(np.ones_like(u[0]), -u[0])
        one_minus = exact.two_sum(one_minus[0], one_minus[1] - u[1])  # 1 − |u| > 0 where |u_hi| = 1
        inside = large & (one_minus[0] > 0)
        safe = (np.where(inside, one_minus[0], 0.5), np.where(inside, one_minus[1], 0.0))
        first = exact.dd_mul(exact.dd_add_d(u, 1.0), exact.dd_log1p(np.where(large, u[0], 0.0),
                                                                    np.where(large, u[1], 0.0)))
        direct = exact.dd_add(first, exact.dd_mul(safe, _dd_log(safe)))
        ln2 = exact._tables()["ln2"]
        edge = large & ~inside  # |u| = 1: φ = 2·ln 2
        phi = (np.where(edge, 2 * ln2[0], np.where(large, direct[0], series[0])),
               np.where(edge, 2 * ln2[1], np.where(large, direct[1], series[1])))
        terms = exact.dd_mul(phi, m)
        terms = (np.where(m[0] == 0, 0.0, terms[0]), np.where(m[0] == 0, 0.0, terms[1]))
        js = _dd_row_sum(terms)
        js = _dd_in_bits((js[0] / 2, js[1] / 2), bits)
        tiny = np.abs(js[0]) < 2.0 ** -960  # its low part would be subnormal: mpmath decides
    return np.where(tiny & (js[0] != 0), np.nan, js[0]), js[1], None


# φ(x) = x + e^(−x) − 1 = Σ_{k≥2} (−x)^k/k! for |x| ≤ ¼ in double-double: to k = 26 (the rest
# below 2⁻¹¹⁰ of φ ≥ x²/2.4), the terms from x¹² on in float64 (below 2⁻⁴⁴ of φ)
_EXP_SERIES = {k: exact.dd_constant((-1) ** k, math.factorial(k)) for k in range(2, 27)}


def _dd_logit_rows(zp, zq, what: str, bits: bool):
    """KL, H(P,Q), H(P) or JS of softmax(zp), softmax(zq) for rows of finite logits, in
    double-double from the double-double log-softmaxes (`_dd_log_softmax_rows`), as (hi, lo,
    scale) for `rounding.refined`: KL = Σ p·φ(δ), δ = log p − log q (φ ≥ 0 by its series for
    |δ| ≤ ¼, else p·(δ − 1) + q, cancelling at most 35-fold near ¼; a common error in the
    log-sum-exps moves it at second order only); H = −Σ p·log q; JS = ½ Σ m·φ_even(u) with
    m = (p + q)/2, u = tanh(δ/2) = −expm1(−|δ|)/(2 + expm1(−|δ|)) in sign. p = e^(log p) is
    taken as a double-double (terms below 2^-960 lose their low part: a row whose value is
    itself below 2^-900 is left to mpmath)."""
    lp, lq = _dd_log_softmax_rows(zp), _dd_log_softmax_rows(zq)
    undecided = (lp[2] != 0).any(axis=-1) | (lq[2] != 0).any(axis=-1)
    a, b = (lp[0], lp[1]), (lq[0], lq[1])

    def probability(log_p):
        m, k = exact.dd_exp_scaled(log_p[0], log_p[1])
        return np.ldexp(m[0], k), np.ldexp(m[1], k)

    p = probability(a)
    with np.errstate(all="ignore"):
        # p = e^(log p) is within 2^-99·|log p| relative (log p's error): the scales carry it
        if what in ("h_pq", "h_p"):
            logs = b if what == "h_pq" else a
            total = _dd_row_sum(exact.dd_neg(exact.dd_mul(p, logs)))
            scale = np.abs(total[0]) + 2.0 ** -9 * (np.abs(p[0] * logs[0]) * np.abs(a[0])).sum(axis=-1)
        else:
            delta = exact.dd_add(a, exact.dd_neg(b))
            q = probability(b)
            if what == "kl":
                small = np.abs(delta[0]) <= 0.25
                d = (np.where(small, delta[0], 0.0), np.where(small, delta[1], 0.0))
                near = exact.dd_mul(p, _dd_series(d, _EXP_SERIES, 12))
                far = exact.dd_add(exact.dd_mul(p, exact.dd_add_d(delta, -1.0)), q)
                terms = (np.where(small, near[0], far[0]), np.where(small, near[1], far[1]))
                total = _dd_row_sum(terms)
                magnitude = np.abs(p[0]) * (np.abs(delta[0]) + 1) + np.abs(q[0])
                scale = np.abs(total[0]) + 2.0 ** -6 * np.where(small, 0.0, magnitude).sum(axis=-1) \
                    + 2.0 ** -9 * (magnitude * (np.abs(a[0]) + np.abs(b[0]))).sum(axis=-1)
            else:  # js
                em1, _ = exact.dd_expm1_parts(np.maximum(-np.abs(delta[0]), -600.0),
                                              np.where(np.abs(delta[0]) < 600, -np.sign(delta[0]) * delta[1], 0.0))
                u = exact.dd_div(exact.dd_neg(em1), exact.dd_add_d(em1, 2.0))
                m = exact.dd_add(p, q)
                js = _dd_js_sum((m[0] / 2, m[1] / 2), u, bits)
                # δ's error (the log-sum-exps', ~2^-99 of |log p| + |log q|) moves JS ≈ ½ Σ m·u²
                # by m·|u|·err(u) at first order, however small u is, and m's error (the same,
                # relative) moves each term m·φ ≤ 1.4·m: a scale that carries both
                spread = (m[0] * (np.abs(u[0]) + 1.4) * (np.abs(a[0]) + np.abs(b[0]))).sum(axis=-1)
                scale = (np.abs(js[0]) + 2.0 ** -8 * spread / (math.log(2) if bits else 1.0))
                return np.where(undecided, np.nan, js[0]), js[1], scale
    total = _dd_in_bits(total, bits)
    if scale is not None:
        scale = scale / (math.log(2) if bits else 1.0)
    hi = np.where(undecided | ((np.abs(total[0]) < 2.0 ** -900) & (total[0] != 0)), np.nan, total[0])
    return hi, total[1], scale


def _mp_log_softmax(z):
    import mpmath

    top = max(z)
    lse = top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in z))
    return [v - lse for v in z]


def _mp_from_logits(n: int, ln_base: float, what: str, i: int = 0, row: list | None = None,
                    memo: dict | None = None):
    """A result of `kl_divergence_from_logits` of args (zp, zq), by its definition:
    p = softmax(zp), q = softmax(zq); `what` is kl, h_pq, h_p, js or term (p_i·log(p_i/q_i)).
    For the terms, the row's numbers are `row` instead of args (the function takes none), and
    `memo` keeps the row's log-probabilities at each precision for all its terms."""
    def value(*args):
        import mpmath

        found = memo.get(mpmath.mp.prec) if memo is not None else None
        if found is None:
            z = [mpmath.mpf(v) for v in row] if row is not None else args
            lp, lq = _mp_log_softmax(z[:n]), _mp_log_softmax(z[n:])
            found = lp, lq, [mpmath.exp(v) for v in lp], [mpmath.exp(v) for v in lq]
            if memo is not None:
                memo[mpmath.mp.prec] = found
        lp, lq, p, q = found
        if what == "kl":
            total = mpmath.fsum(a * (la - lb) for a, la, lb in zip(p, lp, lq))
        elif what == "h_pq":
            total = -mpmath.fsum(a * lb for a, lb in zip(p, lq))
        elif what == "h_p":
            total = -mpmath.fsum(a * la for a, la in zip(p, lp))
        elif what == "js":
            total = mpmath.fsum(a * mpmath.log(2 * a / (a + b)) + b * mpmath.log(2 * b / (a + b))
                                for a, b in zip(p, q)) / 2
        else:
            total = p[i] * (lp[i] - lq[i])
        return _mp_base(total, ln_base)
    return value


# h(δ) = log(2σ(δ)) + e^(−δ)·log(2σ(−δ)) = δ²/4 − δ³/8 + …: p·h(δ) is one element of 2·JS,
# p·log(p/m) + q·log(q/m) with q = p·e^(−δ). Taylor coefficients of δ² … δ²⁴ (mpmath, 50 digits):
# the series is summed for |δ| ≤ ¼, where the two logarithms cancel up to 18-fold, and 23
# terms reach 2⁻⁶⁶ of it there (the coefficients shrink like π^-k)
_JS_COEF = [_L(c) for c in (
    "0.25", "-0.125", "0.03125", "-0.0052083333333333333333", "0.00086805555555555555556",
    "-0.00017361111111111111111", "0.000021701388888888888889", "5.1669973544973544974e-7",
    "-5.1669973544973544974e-8", "-1.8945656966490299824e-7", "1.5788047472075249853e-8",
    "1.2656533923895035006e-8", "-9.0403813742107392901e-10", "-9.8375981932529551577e-10",
    "6.1484988707830969736e-11", "7.8053345597885115081e-11", "-4.3362969776602841712e-12",
    "-6.3529904094180055336e-12", "3.1764952047090027668e-13", "5.2785310511817611266e-13",
    "-2.399332295991709603e-14", "-4.4621687717157351035e-14", "1.8592369882148896265e-15")][::-1]


def _long_logs(a, a_low, c, c_low):
    """From the log-softmax pairs log p = a + a_low, log q = c + c_low (float64): log p, log q,
    δ = log p − log q (the high parts subtracted first, exact in long double but for far
    apart values) and p, q, all in long double."""
    LP = a.astype(_L) + a_low
    LQ = c.astype(_L) + c_low
    delta = (a.astype(_L) - c) + (a_low.astype(_L) - c_low)
    return LP, LQ, delta, np.exp(LP), np.exp(LQ)


def _js_logits_ext(lp, lp_low, lq, lq_low, ln_base, zp, zq) -> np.ndarray:
    """JS(softmax(zp), softmax(zq)) from the double-double log-softmax pairs, in x87 long double,
    rounded once (`rounding.round_each`, the doubtful ones of a small call by mpmath).

    JS = ½ Σ [P·a(δ) + Q·b(δ)], δ = log p − log q, a = log(2σ(δ)) = −log1p(expm1(−δ)/2),
    b = log(2σ(−δ)) = −log1p(expm1(δ)/2): each element ≥ 0, and P·h(δ) by its series where
    |δ| ≤ ¼ (see _JS_COEF). Bound: an error c common to a row's log-probabilities (≤ 2⁻⁶¹ of
    their size, as in `_kl_logits_ext`) moves an element by c·(P|a| + Q|b|) at first order, and
    each element is within 64 ulps of P|a| + Q|b| (the logarithms cancel at most 18-fold):
    within n + 8 ulps of Σ (P|a| + Q|b|)·(4·(|LP| + |LQ|) + 68).
    """
    from dlcalc import rounding

    a_, al, c_, cl = _flat2(lp), _flat2(lp_low), _flat2(lq), _flat2(lq_low)
    rows, n = a_.shape
    total = np.empty(rows, dtype=_L)
    scale = np.empty(rows, dtype=_L)
    with np.errstate(all="ignore"):
        for b in row_blocks(rows, n):
            LP, LQ, delta, P, Q = _long_logs(a_[b], al[b], c_[b], cl[b])
            first = -np.log1p(np.expm1(-delta) / 2)
            second = -np.log1p(np.expm1(delta) / 2)
            f = P * first + Q * second
            small = np.abs(delta) <= 0.25
            if small.any():
                d = delta[small]
                series = np.zeros_like(d)
                for c in _JS_COEF:
                    series = series * d + c
                f[small] = P[small] * series * d * d
            total[b] = _in_base(np.maximum(f.sum(axis=-1), 0) / 2, ln_base)
            size = np.abs(P * first) + np.abs(Q * second)
            scale[b] = _in_base((size * (4 * (np.abs(LP) + np.abs(LQ)) + 68)).sum(axis=-1), ln_base)
    zp2, zq2 = _flat2(zp), _flat2(zq)
    value = _mp_from_logits(n, ln_base, "js")
    out = rounding.round_each(total, lambda i: (value, zp2[i].tolist() + zq2[i].tolist()), n + 8, scale,
                              zp2.size, refine=lambda rows: _dd_logit_rows(zp2[rows], zq2[rows], "js", ln_base != 1.0))
    return np.maximum(out, 0).reshape(lp.shape[:-1])


def _dd_log_softmax_rows(z):
    """The double-double log-softmax of rows of finite logits, (hi, lo, k): 2^k·(hi + lo),
    k ≠ 0 only at an argmax whose log-probability is below 2^-860 (`softmax_core._dd_rows`)."""
    from dlcalc.softmax_core import _dd_rows, _two_diff

    top = np.argmax(z, axis=-1)
    m = z[np.arange(z.shape[0]), top]
    d, e = _two_diff(z, m[:, None])
    hot = np.arange(z.shape[1]) == top[:, None]
    hi, lo, _, k = _dd_rows(d, e, hot, m, ("log_softmax",))["log_softmax"]
    return hi, lo, k


def _dd_logit_terms(zp, zq, index, bits: bool):
    """The terms p_i·(log p_i − log q_i) of KL from logits at flat indices into rows (zp, zq),
    in double-double: δ = log p − log q from the double-double log-softmaxes, p = e^(log p) as
    2^k·m (exact.dd_exp_scaled). δ's error is that of the two log-sum-exps, within 2^-98 of
    |log p| + |log q| (softmax_core: log S within 2^-99), whatever δ's size: the bound is
    relative to m·(|δ| + 2^-8·(|log p| + |log q|)). A term at an argmax whose log-probability
    is tiny (kept scaled) is left to mpmath."""
    n = zp.shape[1]
    rows, cols = np.divmod(index, n)
    at = np.arange(index.size)
    lp, lq = _dd_log_softmax_rows(zp[rows]), _dd_log_softmax_rows(zq[rows])
    a = (lp[0][at, cols], lp[1][at, cols])
    b = (lq[0][at, cols], lq[1][at, cols])
    scaled = (lp[2][at, cols] != 0) | (lq[2][at, cols] != 0)
    delta = exact.dd_add(a, exact.dd_neg(b))
    m, k = exact.dd_exp_scaled(a[0], a[1])
    term = _dd_in_bits(exact.dd_mul(m, delta), bits)
    size = np.abs(m[0]) * (np.abs(delta[0]) + 2.0 ** -8 * (np.abs(a[0]) + np.abs(b[0])))
    size = size / (math.log(2) if bits else 1.0)
    return np.where(scaled, np.nan, term[0]), term[1], size, k


def _kl_logits_ext(lp, lp_low, lq, lq_low, ln_base: float = 1.0, zp=None, zq=None):
    """(terms, KL(P‖Q), H(P,Q), H(P)) from log-probabilities given as float64 high + low pairs
    (the extended log-softmax of :class:`dlcalc.softmax_core._Core`), each rounded once.

    With δ_i = log p_i − log q_i and Σp = Σq = 1, KL = Σ p_i·φ(δ_i), φ(x) = x + e^{−x} − 1 ≥ 0:
    no cancellation when P ≈ Q (φ by its series for |δ| ≤ 1/4, else p·δ + q − p). An error
    common to all δ_i (each log-softmax's log-sum-exp) changes the sum only at second order.

    Bounds for the doubtful test (`rounding.round_each`, with the logits zp, zq: the definition
    is evaluated from them), in long-double ulps (2⁻⁶³) of a scale. log p_i = LP_i is within
    2⁻⁶¹·|LP_i| (the log-softmax pair: its log1p(s) within 2 ulps, |log1p(s)| ≤ |LP_i|; the sum in
    long double ½), so P_i = e^(LP_i) within 2⁻⁶¹·|LP_i| + 2⁻⁶² relatively; δ_i within ½ ulp of
    itself plus the error common to the row, which changes Σ f only at second order. The terms
    of f = P·δ + (Q − P) may cancel (up to 35-fold near |δ| = ¼), so the bound is relative to
    their magnitudes: Σ (P_i·(|δ_i| + 1) + Q_i)·(|LP_i| + |LQ_i| + 2), within n + 4 ulps of it
    (the sums add ½ ulp each). H(P,Q) = −Σ P·LQ and H(P) = −Σ P·LP have terms of one sign,
    each within (|LP_i| + 2) ulps: Σ P_i·|LQ_i|·(|LP_i| + 2), n + 4 ulps. A term P_i·δ_i:
    within 8 ulps of P_i·(|δ_i|·(|LP_i| + 2) + |LP_i| + |LQ_i|).
    """
    from dlcalc import rounding

    shape = lp.shape
    a, al, c, cl = _flat2(lp), _flat2(lp_low), _flat2(lq), _flat2(lq_low)
    rows, n = a.shape
    terms_out = np.empty((rows, n), dtype=_L)
    terms_scale = np.empty((rows, n), dtype=_L)
    kl_out, hpq_out, hp_out = (np.empty(rows, dtype=_L) for _ in range(3))
    kl_scale, hpq_scale, hp_scale = (np.empty(rows, dtype=_L) for _ in range(3))
    with np.errstate(all="ignore"):
        for b in row_blocks(rows, n):
            LP, LQ, delta, P, Q = _long_logs(a[b], al[b], c[b], cl[b])
            f = P * delta + (Q - P)
            small = np.abs(delta) <= 0.25
            if small.any():
                f[small] = P[small] * _series(delta[small], _PHI_COEF)
            spread = np.abs(LP) + np.abs(LQ) + 2
            kl_out[b] = _in_base(np.maximum(f.sum(axis=-1), 0), ln_base)
            kl_scale[b] = _in_base(((P * (np.abs(delta) + 1) + Q) * spread).sum(axis=-1), ln_base)
            terms_out[b] = _in_base(P * delta, ln_base)
            terms_scale[b] = _in_base(P * (np.abs(delta) * (np.abs(LP) + 2) + spread), ln_base)
            hpq_out[b] = _in_base(-(P * LQ).sum(axis=-1), ln_base)
            hpq_scale[b] = _in_base((P * np.abs(LQ) * (np.abs(LP) + 2)).sum(axis=-1), ln_base)
            hp_out[b] = _in_base(-(P * LP).sum(axis=-1), ln_base)
            hp_scale[b] = _in_base((P * np.abs(LP) * (np.abs(LP) + 2)).sum(axis=-1), ln_base)
    zp2, zq2 = _flat2(zp), _flat2(zq)

    def rounded(approx, what, ulps, scale):
        if what == "term":
            memos: dict[int, dict] = {}

            def exact_at(i):
                r = i // n
                row = zp2[r].tolist() + zq2[r].tolist()
                return _mp_from_logits(n, ln_base, what, i % n, row, memos.setdefault(r, {})), []
        else:
            value = _mp_from_logits(n, ln_base, what)

            def exact_at(i):
                return value, zp2[i].tolist() + zq2[i].tolist()
        bits = ln_base != 1.0
        if what == "term":  # double-double second stages at any size
            return rounding.round_each(approx, exact_at, ulps, scale, zp2.size,
                                       refine=lambda index: _dd_logit_terms(zp2, zq2, index, bits))
        return rounding.round_each(approx, exact_at, ulps, scale, zp2.size,
                                   refine=lambda rows: _dd_logit_rows(zp2[rows], zq2[rows], what, bits))

    lead = shape[:-1]
    return (rounded(terms_out, "term", 8, terms_scale).reshape(shape),
            np.maximum(rounded(kl_out, "kl", n + 4, kl_scale), 0).reshape(lead),
            rounded(hpq_out, "h_pq", n + 4, hpq_scale).reshape(lead),
            rounded(hp_out, "h_p", n + 4, hp_scale).reshape(lead))


def entropy(p, base: str = "e", normalize: bool = False) -> np.ndarray:
    """H(P) = −Σ_i p_i·log p_i over the last axis, with 0·log 0 = 0 (scipy.stats.entropy)."""
    p = validate_distribution(p, "P", normalize=normalize)
    ln_base = validate_base(base)
    if _extended_ok(p):
        return _neg_xlogy_sum_ext(p, p, ln_base)
    h = _entropy_terms(p).sum(axis=-1)
    return np.asarray(h / p.dtype.type(ln_base) if ln_base != 1.0 else h, dtype=p.dtype)


def cross_entropy_distributions(p, q, base: str = "e", normalize: bool = False) -> np.ndarray:
    """H(P, Q) = −Σ_i p_i·log q_i, with 0·log 0 = 0; p_i > 0 where q_i = 0 gives inf (warned)."""
    p = validate_distribution(p, "P", normalize=normalize)
    q = validate_distribution(q, "Q", normalize=normalize)
    p, q = _same_length(p, q, "P", "Q")
    ln_base = validate_base(base)
    if _extended_ok(p):
        h = _neg_xlogy_sum_ext(p, q, ln_base)
    else:
        with np.errstate(all="ignore"):
            logq = np.log(q)
            h = _xlogy_neg(p, logq).sum(axis=-1)
            if ln_base != 1.0:
                h = h / p.dtype.type(ln_base)
    h = np.asarray(h, dtype=p.dtype)
    _kl_warnings(p, q, h, "P", "Q", "H(P,Q)")
    return h


def _psi(u: np.ndarray) -> np.ndarray:
    """ψ(u) = (1 + u)·log1p(u) − u ≥ 0, accurate near u = 0 (series) where the formula cancels."""
    with np.errstate(all="ignore"):
        direct = (1 + u) * np.log1p(u) - u
        series = _series(u, _PSI_COEF)
        return np.where(np.abs(u) <= 0.1, series, direct).astype(u.dtype, copy=False)


def _exact_sum(d: np.ndarray) -> np.ndarray:
    """Σ d over the last axis with error ε·|result|: split each |d| ≤ 1 into three 26-bit pieces
    on fixed grids, so each piece's partial sums are exact in float64."""
    if d.dtype != np.float64:
        return d.astype(np.float64).sum(axis=-1).astype(d.dtype)
    total = np.zeros(d.shape[:-1])
    for s in reversed(fixed_grid_pieces(d)):
        total = total + s
    return total


def _kl_core(p: np.ndarray, q: np.ndarray):
    """(terms p_i·log(p_i/q_i), KL) computed accurately; KL may be inf."""
    if _extended_ok(p):
        return _kl_core_ext(p, q)
    dt = p.dtype
    with np.errstate(all="ignore"):
        r = p / q
        near = (r >= 0.5) & (r <= 2)
        u = (p - q) / q  # p − q is exact when p/q ∈ [1/2, 2] (Sterbenz)
        tiny = np.finfo(dt).tiny
        log_ratio = np.where(near, np.log1p(u),
                             np.where((r > tiny) & np.isfinite(r), np.log(r), np.log(p) - np.log(q)))
        terms = np.where(p == 0, 0, p * log_ratio).astype(dt)
        # KL = Σ [p log(p/q) − p + q] + Σ (p − q): the first sum has non-negative terms q·ψ(u)
        # (no cancellation when P ≈ Q); the second is exact-ish and ~0 for normalized inputs
        g = np.where(near, q * _psi(u), terms - (p - q))
        g = np.where(p == 0, q, g)
        g = np.where((q == 0) & (p > 0), np.inf, g)
        kl = g.sum(axis=-1) + _exact_sum(np.where(np.isfinite(g), p - q, 0))
        kl = np.maximum(kl, 0).astype(dt)
    return terms, kl


def _mixture(p, q):
    """M = (P + Q)/2, never 0 where P or Q is positive (half the smallest subnormal rounds to 0)."""
    m = (p + q) * p.dtype.type(0.5)
    tiny = np.nextafter(p.dtype.type(0), p.dtype.type(1))
    return np.where((m == 0) & ((p > 0) | (q > 0)), tiny, m).astype(p.dtype, copy=False)


def _kl_warnings(p, q, value, pn, qn, what):
    for row, idx in _rows(p.shape, where=~np.isfinite(value)):
        bad = np.flatnonzero((p[idx] > 0) & (q[idx] == 0))
        if bad.size:
            i = int(bad[0])
            msg = (f"{pn.lower()}[{i}] = {format_value(p[idx][i])} > 0 where {qn.lower()}[{i}] = 0: "
                   f"{what} is infinite")
        else:
            msg = f"{what} is {format_value(value[idx])}"
        _warn(msg, row)


@dataclass(frozen=True)
class KL:
    """D_KL(P‖Q) with its decomposition: ``kl`` (...,) = ``cross_entropy`` H(P,Q) − ``entropy``
    H(P); ``terms`` (..., n) are p_i·log(p_i/q_i); with ``symmetric=True`` also ``kl_reverse``
    D_KL(Q‖P) and ``js`` (Jensen–Shannon divergence). ``p``, ``q``: the (normalized) inputs."""

    kl: np.ndarray
    cross_entropy: np.ndarray
    entropy: np.ndarray
    terms: np.ndarray
    kl_reverse: np.ndarray | None = None
    js: np.ndarray | None = None
    p: np.ndarray | None = None
    q: np.ndarray | None = None
    base: str = "e"


def _kl_from_distributions(p, q, ln_base, symmetric, kl_only: bool = False) -> KL:
    """The KL of validated P, Q; `kl_only`: D_KL alone (cross_entropy, entropy and terms None),
    where only it is printed (a batch's plain output)."""
    base_name = "2" if ln_base != 1.0 else "e"
    dt = p.dtype
    kl_rev = js = None
    if _extended_ok(p):  # every result divided by ln(base) before its one rounding
        terms, kl = _kl_core_ext(p, q, ln_base, with_terms=not kl_only)
        h_pq = None if kl_only else _neg_xlogy_sum_ext(p, q, ln_base)
        h_p = None if kl_only else _neg_xlogy_sum_ext(p, p, ln_base)
        if symmetric:
            _, kl_rev = _kl_core_ext(q, p, ln_base)
            js = _js_ext(p, q, ln_base)
        ln_base = 1.0
    else:
        terms, kl = _kl_core(p, q)
        with np.errstate(all="ignore"):
            h_pq = _xlogy_neg(p, np.log(q)).sum(axis=-1)
            h_p = _entropy_terms(p).sum(axis=-1)
        if symmetric:
            _, kl_rev = _kl_core(q, p)
            m = _mixture(p, q)
            js = (dt.type(0.5) * (_kl_core(p, m)[1] + _kl_core(q, m)[1])).astype(dt)
    scale = (lambda x: None if x is None else np.asarray(x / dt.type(ln_base), dtype=dt)) if ln_base != 1.0 \
        else (lambda x: None if x is None else np.asarray(x, dtype=dt))
    res = KL(kl=scale(kl), cross_entropy=scale(h_pq), entropy=scale(h_p), terms=scale(terms),
             kl_reverse=scale(kl_rev), js=scale(js), p=np.array(p), q=np.array(q), base=base_name)
    _kl_warnings(p, q, res.kl, "P", "Q", "KL")
    if symmetric:
        _kl_warnings(q, p, res.kl_reverse, "Q", "P", "the reverse KL D(Q‖P)")
    return res


def kl_divergence(p, q, base: str = "e", symmetric: bool = False, normalize: bool = False,
                  kl_only: bool = False) -> KL:
    r"""D_KL(P‖Q) = Σ_i p_i·log(p_i/q_i) = H(P,Q) − H(P), over the last axis.

    P and Q are validated distributions of the same length (``normalize`` divides each by its
    sum instead of requiring it to be 1). 0·log(0/q) = 0; p_i > 0 with q_i = 0 gives inf, with
    a NumericWarning naming the element (``kl([0.5, 0.5], [1, 0])``). ``symmetric=True`` adds
    D_KL(Q‖P) and JS(P, Q) = ½ D_KL(P‖M) + ½ D_KL(Q‖M), M = (P + Q)/2 (≤ ln 2, always finite).

    Accuracy: each term uses log1p((p − q)/q) when p/q ∈ [1/2, 2], and the sum is taken as
    Σ q_i·ψ((p_i − q_i)/q_i) + Σ (p_i − q_i) with ψ(u) = (1+u)log1p(u) − u ≥ 0, so KL is
    accurate even when P ≈ Q and the plain sum of terms would cancel; in x87 extended it is the
    correctly rounded value (see the module notes), else within a few ulp.

    Clamp: P and Q that each sum to 1 only within float64 rounding can have an exact
    Σ p·log(p/q) a hair below 0 when P ≈ Q (−Σ (q − p) dominates); KL is then reported as 0.

    ``kl_only`` computes D_KL alone (``cross_entropy``, ``entropy`` and ``terms`` are None).
    """
    p = validate_distribution(p, "P", normalize=normalize)
    q = validate_distribution(q, "Q", normalize=normalize)
    p, q = _same_length(p, q, "P", "Q")
    return _kl_from_distributions(p, q, validate_base(base), symmetric, kl_only and not symmetric)


def kl_divergence_from_logits(zp, zq, base: str = "e", symmetric: bool = False) -> KL:
    r"""D_KL(softmax(zp) ‖ softmax(zq)) from logits, through the stable log-softmax.

    Terms are p_i·(log p_i − log q_i) with both log-probabilities from log-softmax, so no
    probability is exponentiated and logged again: ``zq = [0, -1000]`` gives log q_1 = −1000,
    not log 0. The cross-entropy and entropy are −Σ p·log q and −Σ p·log p the same way.
    Where every log-probability is finite and long double is x87 extended, KL = Σ p_i·φ(δ_i)
    with δ_i = log p_i − log q_i and φ(x) = x + e^{−x} − 1 ≥ 0 (true because Σp = Σq = 1): no
    cancellation when P ≈ Q, and an error in either log-sum-exp, common to every δ_i, changes it
    only at second order. With the log-softmax as double-double pairs, p_i = e^{log p_i} and the
    sums in extended, KL, H(P,Q), H(P), JS and the terms are rounded once where their bounds
    allow, the rest decided in double-double (`_dd_logit_rows`, `_dd_logit_terms`) or mpmath.
    Elsewhere, where both distributions are representable and P ≈ Q, the probability-space
    formula (see :func:`kl_divergence`) is used for its accuracy.
    """
    zp = as_float_array(zp, "P logits")
    zq = as_float_array(zq, "Q logits")
    zp, zq = _same_length(zp, zq, "P logits", "Q logits")
    ln_base = validate_base(base)
    cp, cq = _Core(np.ascontiguousarray(zp)), _Core(np.ascontiguousarray(zq))
    for core, name in ((cp, "P"), (cq, "Q")):
        for row, idx in _rows(core.z.shape, where=~np.isfinite(core.softmax).all(axis=-1)):
            msg = core.reason(idx, "softmax")
            if msg:
                _warn(f"{name} logits: {msg}", row)
    lp, lq, p, q = cp.log_softmax, cq.log_softmax, cp.softmax, cq.softmax
    dt = p.dtype

    def kl_logs(p, lp, q, lq):
        with np.errstate(all="ignore"):
            terms = np.where(p == 0, 0, p * (lp - lq)).astype(dt)
            kl = terms.sum(axis=-1)
            # use the cancellation-free probability form where it applies (all q_i > 0 normal)
            ok = np.all((q > np.finfo(dt).tiny) | (p == 0), axis=-1) & np.all(np.isfinite(lp) | (p == 0), axis=-1)
            _, kl_prob = _kl_core(p, q)
            kl = np.where(ok, kl_prob, np.maximum(kl, 0)).astype(dt)
        return terms, kl

    base_name = "2" if ln_base != 1.0 else "e"
    scale = (lambda x: None if x is None else np.asarray(x / dt.type(ln_base) if ln_base != 1.0 else x, dtype=dt))
    kl_rev = js = None
    if symmetric:
        m = _mixture(p, q)
        with np.errstate(all="ignore"):
            lm = np.logaddexp(lp, lq) - dt.type(math.log(2))
        js = scale(dt.type(0.5) * (kl_logs(p, lp, m, lm)[1] + kl_logs(q, lq, m, lm)[1]))
    # rows whose log-probabilities are all finite, where long double is x87 extended: the φ form
    # from the extended log-softmax, divided by ln(base) and rounded once; the other rows (and
    # float32, and other platforms) take the float64 formulas
    ok = np.zeros(lp.shape[:-1], dtype=bool)
    if cp.log_softmax_low is not None and cq.log_softmax_low is not None:
        ok = (np.isfinite(lp) & np.isfinite(lq) & np.isfinite(cp.log_softmax_low)
              & np.isfinite(cq.log_softmax_low)).all(axis=-1)
    if not ok.all():
        terms, kl = kl_logs(p, lp, q, lq)
        with np.errstate(all="ignore"):
            h_pq = np.where(p == 0, 0, -p * lq).sum(axis=-1)
            h_p = np.where(p == 0, 0, -p * lp).sum(axis=-1)
        if symmetric:
            _, kl_rev = kl_logs(q, lq, p, lp)
        terms, kl, h_pq, h_p, kl_rev = map(scale, (terms, kl, h_pq, h_p, kl_rev))
    if ok.any():
        lows = (cp.log_softmax_low, cq.log_softmax_low)
        sel = (lambda a: a) if ok.all() else (lambda a: a[ok])
        zs = (sel(np.broadcast_to(cp.z, lp.shape)), sel(np.broadcast_to(cq.z, lq.shape)))
        t_e, kl_e, hpq_e, hp_e = _kl_logits_ext(sel(lp), sel(lows[0]), sel(lq), sel(lows[1]), ln_base, *zs)
        if symmetric:
            js_e = _js_logits_ext(sel(lp), sel(lows[0]), sel(lq), sel(lows[1]), ln_base, *zs)
            if ok.all():
                js = js_e
            else:
                js[ok] = js_e
        klr_e = _kl_logits_ext(sel(lq), sel(lows[1]), sel(lp), sel(lows[0]), ln_base,
                               *zs[::-1])[1] if symmetric else None
        if ok.all():
            terms, kl, h_pq, h_p, kl_rev = t_e, kl_e, hpq_e, hp_e, klr_e
        else:
            terms[ok], kl[ok], h_pq[ok], h_p[ok] = t_e, kl_e, hpq_e, hp_e
            if symmetric:
                kl_rev[ok] = klr_e
    res = KL(kl=kl, cross_entropy=h_pq, entropy=h_p, terms=terms,
             kl_reverse=kl_rev, js=js, p=p, q=q, base=base_name)
    _kl_warnings(p, q, res.kl, "P", "Q", "KL")
    return res
