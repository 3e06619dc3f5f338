"""Cross-entropy, binary cross-entropy, entropy and KL against PyTorch (float64, autograd),
SciPy, mpmath, the notes' worked numbers, finite differences and hypothesis properties."""

import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from dlcalc.errors import DlcalcError, NumericWarning
from dlcalc.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_distributions,
    cross_entropy_from_probs,
    entropy,
    kl_divergence,
    kl_divergence_from_logits,
    validate_distribution,
)
from dlcalc.softmax_core import softmax as losses_softmax

INF = np.inf
LN2 = math.log(2)


def t64(x, grad=False):
    torch = pytest.importorskip("torch")
    return torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


# ---------------------------------------------------------------- the notes' worked numbers


def test_cross_entropy_of_notes_example_is_0_417_not_the_slip_0_342():
    r = cross_entropy([2.0, 1.0, 0.1], target=0)
    assert r.loss == pytest.approx(0.4170300162778335, rel=1e-15)
    assert r.loss == pytest.approx(-math.log(0.6590011388859679), rel=1e-15)  # −log ŷ_true
    np.testing.assert_allclose(r.grad, r.probs - [1, 0, 0], rtol=1e-15)  # ŷ − y


def test_kl_of_notes_soft_targets_decomposes_into_cross_entropy_minus_entropy():
    P, Q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
    r = kl_divergence(P, Q)
    h_pq = -sum(p * math.log(q) for p, q in zip(P, Q))
    h_p = -sum(p * math.log(p) for p in P)
    assert r.cross_entropy == pytest.approx(h_pq, rel=1e-15)
    assert r.entropy == pytest.approx(h_p, rel=1e-15)
    assert r.kl == pytest.approx(h_pq - h_p, rel=1e-13)
    assert r.kl == pytest.approx(0.7 * math.log(7 / 6) + 0.2 * math.log(2 / 3), rel=1e-14)
    np.testing.assert_allclose(r.terms, [0.7 * math.log(0.7 / 0.6), 0.2 * math.log(0.2 / 0.3), 0.0])


def test_kl_equals_cross_entropy_for_one_hot_p_as_in_notes():
    Q = [0.659, 0.242, 0.099]
    r = kl_divergence([1, 0, 0], Q)
    assert r.entropy == 0
    assert r.kl == pytest.approx(r.cross_entropy, rel=1e-15)
    assert r.kl == pytest.approx(-math.log(0.659), rel=1e-15)
    assert cross_entropy_from_probs(Q, target=0).loss == pytest.approx(r.kl, rel=1e-15)


# ---------------------------------------------------------------- PyTorch oracles


@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_cross_entropy_with_index_targets_matches_torch_and_autograd(eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (12, 5))
    target = rng.integers(0, 5, 12)
    zt = t64(z, grad=True)
    loss = torch.nn.functional.cross_entropy(zt, torch.tensor(target), label_smoothing=eps, reduction="sum")
    loss.backward()
    r = cross_entropy(z, target=target, label_smoothing=eps)
    ref = torch.nn.functional.cross_entropy(t64(z), torch.tensor(target), label_smoothing=eps, reduction="none")
    np.testing.assert_allclose(r.loss, ref.numpy(), rtol=1e-13)
    np.testing.assert_allclose(r.grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_cross_entropy_with_probability_targets_matches_torch_and_autograd(eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, (10, 4))
    y = rng.dirichlet(np.ones(4), 10)
    y[0] = [0, 1, 0, 0]
    zt = t64(z, grad=True)
    torch.nn.functional.cross_entropy(zt, t64(y), label_smoothing=eps, reduction="sum").backward()
    r = cross_entropy(z, target_probs=y, label_smoothing=eps)
    ref = torch.nn.functional.cross_entropy(t64(z), t64(y), label_smoothing=eps, reduction="none")
    np.testing.assert_allclose(r.loss, ref.numpy(), rtol=1e-13)
    np.testing.assert_allclose(r.grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_from_probs_matches_torch_nll_of_log_and_autograd():
    torch = pytest.importorskip("torch")
    p = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    pt = t64(p, grad=True)
    torch.nn.functional.nll_loss(torch.log(pt), torch.tensor([1, 0]), reduction="sum").backward()
    r = cross_entropy_from_probs(p, target=[1, 0])
    np.testing.assert_allclose(r.loss, -np.log([0.5, 0.9]), rtol=1e-15)
    np.testing.assert_allclose(r.grad, pt.grad.numpy(), rtol=1e-15)


def test_binary_cross_entropy_with_logits_matches_torch_and_autograd():
    torch = pytest.importorskip("torch")
    z = np.array([-30.0, -3.0, -0.5, 0.0, 0.7, 5.0, 35.0])
    y = np.array([1.0, 0.0, 0.3, 1.0, 0.0, 1.0, 0.0])
    zt = t64(z, grad=True)
    torch.nn.functional.binary_cross_entropy_with_logits(zt, t64(y), reduction="sum").backward()
    ref = torch.nn.functional.binary_cross_entropy_with_logits(t64(z), t64(y), reduction="none").numpy()
    r = binary_cross_entropy_with_logits(z, y)
    np.testing.assert_allclose(r.losses, ref, rtol=1e-14)
    assert r.loss == pytest.approx(ref.mean(), rel=1e-14)
    # per element, not divided by n; torch's σ(5) − 1 cancels (exact −σ(−5) = −0.0066928509242848554)
    np.testing.assert_allclose(r.grad, zt.grad.numpy(), rtol=1e-14, atol=2e-16)
    assert r.grad[5] == pytest.approx(-0.0066928509242848554, rel=1e-16)


def test_binary_cross_entropy_matches_torch_including_its_clamp_at_minus_100():
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 1e-17, 0.2, 0.5, 0.9, 1.0, 1.0])
    y = np.array([1.0, 0.0, 0.3, 1.0, 0.0, 0.0, 1.0])
    ref = torch.nn.functional.binary_cross_entropy(t64(p), t64(y), reduction="none").numpy()
    with pytest.warns(NumericWarning, match=r"p\[0\] = 0 with label 1"):
        r = binary_cross_entropy(p, y)
    np.testing.assert_allclose(r.losses, ref, rtol=1e-14)
    assert r.losses[0] == 100.0 and r.losses[5] == 100.0
    # gradient where torch's is not clamped: autograd agrees
    inner = slice(2, 5)
    pt = t64(p[inner], grad=True)
    torch.nn.functional.binary_cross_entropy(pt, t64(y[inner]), reduction="sum").backward()
    np.testing.assert_allclose(r.grad[inner], pt.grad.numpy(), rtol=1e-13)
    # and the exact derivative where torch clamps: p = 1e-17, y = 0 → 1/(1 − p) = 1 (torch: 1e-5)
    assert r.grad[1] == 1.0
    assert r.grad[0] == -INF and r.grad[5] == INF and r.grad[6] == -1.0


def test_kl_matches_torch_kl_div_with_log_target():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    P, Q = rng.dirichlet(np.ones(6), 8), rng.dirichlet(np.ones(6), 8)
    ref = torch.nn.functional.kl_div(t64(np.log(Q)), t64(np.log(P)), reduction="none", log_target=True)
    np.testing.assert_allclose(kl_divergence(P, Q).kl, ref.sum(-1).numpy(), rtol=1e-13)
    np.testing.assert_allclose(kl_divergence(P, Q).terms, ref.numpy(), rtol=1e-12, atol=1e-16)


def test_kl_from_logits_matches_torch_kl_div_of_log_softmax():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    zp, zq = rng.normal(0, 3, (8, 5)), rng.normal(0, 3, (8, 5))
    ref = F.kl_div(F.log_softmax(t64(zq), -1), F.log_softmax(t64(zp), -1), reduction="none", log_target=True)
    np.testing.assert_allclose(kl_divergence_from_logits(zp, zq).kl, ref.sum(-1).numpy(), rtol=1e-12)


# ---------------------------------------------------------------- SciPy oracles


def test_entropy_cross_entropy_and_kl_match_scipy():
    from scipy.special import entr, rel_entr, xlogy
    from scipy.stats import entropy as scipy_entropy

    rng = np.random.default_rng(4)
    P, Q = rng.dirichlet(np.ones(5), 10), rng.dirichlet(np.ones(5), 10)
    P[0] = [0.5, 0.5, 0, 0, 0]
    np.testing.assert_allclose(entropy(P), entr(P).sum(-1), rtol=1e-14)
    np.testing.assert_allclose(entropy(P, base=2), scipy_entropy(P, base=2, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(cross_entropy_distributions(P, Q), -xlogy(P, Q).sum(-1), rtol=1e-14)
    np.testing.assert_allclose(kl_divergence(P, Q).kl, scipy_entropy(P, Q, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(kl_divergence(P, Q).terms, rel_entr(P, Q), rtol=1e-14)
    np.testing.assert_allclose(kl_divergence(P, Q, base="2").kl, scipy_entropy(P, Q, base=2, axis=-1), rtol=1e-13)


# ---------------------------------------------------------------- exact values (mpmath)


def test_kl_is_accurate_when_p_is_close_to_q_where_the_plain_sum_cancels():
    P = [0.3, 0.3, 0.4]
    Q = [0.3 + 1e-9, 0.3 - 1e-9, 0.4]
    with mpmath.workprec(200):
        exact = float(mpmath.fsum(mpmath.mpf(p) * mpmath.log(mpmath.mpf(p) / mpmath.mpf(q)) for p, q in zip(P, Q)))
    assert kl_divergence(P, Q).kl == pytest.approx(exact, rel=1e-14)


def test_cross_entropy_of_huge_logits_is_exact():
    assert cross_entropy([-1e300, 1e300], target=0).loss == 2e300
    assert cross_entropy([1000.0, 0.0, -1000.0], target=2).loss == 2000.0
    assert cross_entropy([1000.0, 0.0, -1000.0], target=0).loss == pytest.approx(math.exp(-1000), rel=1e-15)


def test_cross_entropy_gradient_of_a_confident_correct_prediction_is_exact():
    with mpmath.workprec(200):
        exact = float(-mpmath.exp(-40) / (1 + mpmath.exp(-40)))  # ŷ_0 − 1 for z = [40, 0]
    r = cross_entropy([40.0, 0.0], target=0)
    assert r.grad[0] == pytest.approx(exact, rel=1e-15)
    assert r.grad[1] == pytest.approx(-exact, rel=1e-15)
    assert binary_cross_entropy_with_logits([40.0], [1.0]).grad[0] == pytest.approx(exact, rel=1e-15)


# ---------------------------------------------------------------- gradients vs finite differences


def test_every_analytic_gradient_matches_central_finite_differences():
    rng = np.random.default_rng(5)
    h = 1e-6

    def fd(f, x):
        return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])

    z = rng.normal(0, 2, 4)
    y = rng.dirichlet(np.ones(4))
    for kw in ({"target": 2}, {"target": 1, "label_smoothing": 0.2}, {"target_probs": y}, {"target": 0, "base": "2"}):
        np.testing.assert_allclose(cross_entropy(z, **kw).grad, fd(lambda x: cross_entropy(x, **kw).loss, z), atol=1e-8)
    lab = np.array([1.0, 0.0, 0.4, 0.9])
    np.testing.assert_allclose(binary_cross_entropy_with_logits(z, lab).grad,
                               fd(lambda x: binary_cross_entropy_with_logits(x, lab).losses.sum(), z), atol=1e-8)
    p = np.array([0.2, 0.5, 0.7, 0.95])
    np.testing.assert_allclose(binary_cross_entropy(p, lab).grad,
                               fd(lambda x: binary_cross_entropy(x, lab).losses.sum(), p), rtol=1e-6)
    q = np.array([0.2, 0.5, 0.3])
    np.testing.assert_allclose(cross_entropy_from_probs(q, target=1, label_smoothing=0.3).grad,
                               fd(lambda x: -(np.array([0.1, 0.8, 0.1]) * np.log(x)).sum(), q), rtol=1e-7)


# ---------------------------------------------------------------- edge cases


def test_kl_with_q_zero_where_p_positive_is_inf_with_warning_naming_element():
    with pytest.warns(NumericWarning, match=r"p\[1\] = 0.5 > 0 where q\[1\] = 0: KL is infinite"):
        r = kl_divergence([0.5, 0.5], [1, 0])
    assert r.kl == INF


def test_zero_probabilities_contribute_zero_everywhere():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kl_divergence([1, 0], [0.5, 0.5]).kl == pytest.approx(LN2, rel=1e-15)
        assert kl_divergence([1, 0], [1, 0]).kl == 0
        assert entropy([1, 0, 0]) == 0
        assert cross_entropy([0.0, -INF], target=0).loss == 0  # y = 0 at the −inf logit
        assert cross_entropy_from_probs([1.0, 0.0], target=0).loss == 0


def test_cross_entropy_with_minus_inf_target_logit_is_inf_with_warning():
    with pytest.warns(NumericWarning, match=r"z\[1\] = -inf.*infinite"):
        assert cross_entropy([0.0, -INF], target=1).loss == INF
    with pytest.warns(NumericWarning, match="infinite"):  # smoothing puts weight on the −inf class
        assert cross_entropy([0.0, -INF], target=0, label_smoothing=0.1).loss == INF


def test_cross_entropy_with_one_plus_inf_logit_takes_the_limit():
    r = cross_entropy([INF, 0.0, 1.0], target=0)
    assert r.loss == 0
    np.testing.assert_array_equal(r.grad, [0.0, 0.0, 0.0])
    with pytest.warns(NumericWarning, match=r"z\[0\] = inf takes all the probability"):
        assert cross_entropy([INF, 0.0, 1.0], target=1).loss == INF


def test_cross_entropy_with_two_plus_inf_logits_is_nan_with_warning():
    with pytest.warns(NumericWarning, match="infinite logits of equal sign"):
        r = cross_entropy([INF, INF, 1.0], target=0)
    assert np.isnan(r.loss) and np.isnan(r.grad).all()


def test_binary_cross_entropy_with_infinite_logits_takes_the_limit():
    r = binary_cross_entropy_with_logits([INF, -INF], [1.0, 0.0])
    np.testing.assert_array_equal(r.losses, [0.0, 0.0])
    with pytest.warns(NumericWarning, match=r"z\[0\] = inf with label 0.3"):
        assert binary_cross_entropy_with_logits([INF], [0.3]).loss == INF


def test_bits_are_nats_divided_by_ln2():
    assert entropy([0.5, 0.5], base="2") == 1.0
    r = cross_entropy([2.0, 1.0, 0.1], target=0, base="2")
    assert r.loss == pytest.approx(0.4170300162778335 / LN2, rel=1e-15)
    np.testing.assert_allclose(r.grad, cross_entropy([2.0, 1.0, 0.1], target=0).grad / LN2, rtol=1e-15)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: kl_divergence([0.5, 0.6, -0.1], [0.3, 0.3, 0.4]), r"P\[2\] = -0.1 is negative; probabilities must be in \[0, 1\]"),
        (lambda: kl_divergence([0.5, 0.4], [0.5, 0.5]), r"P sums to 0.9, not 1"),
        (lambda: kl_divergence([0.5, 0.5], [0.3, 0.3, 0.4]), "P has 2 elements but Q has 3"),
        (lambda: kl_divergence([0.5, 0.5], [1.5, -0.5]), r"Q\[1\] = -0.5 is negative"),
        (lambda: kl_divergence([0.5, np.nan], [0.5, 0.5]), r"P\[1\] = nan is not a probability"),
        (lambda: kl_divergence([0, 0], [0.5, 0.5], normalize=True), "sums to 0"),
        (lambda: cross_entropy([1.0, 2.0, 3.0], target=3), r"target 3 is out of range.*\[0, 3\)"),
        (lambda: cross_entropy([1.0, 2.0, 3.0], target=-1), r"target -1 is out of range"),
        (lambda: cross_entropy([1.0, 2.0, 3.0], target=1.5), r"target 1.5 is not an integer"),
        (lambda: cross_entropy([1.0, 2.0], target=0, label_smoothing=1.5), r"label smoothing 1.5 .*\[0, 1\]"),
        (lambda: cross_entropy([1.0, 2.0], target=0, base="10"), r"base '10' .*e \(nats\) or 2 \(bits\)"),
        (lambda: cross_entropy([1.0, 2.0]), "exactly one of"),
        (lambda: cross_entropy([1.0, 2.0], target_probs=[0.5, 0.2, 0.3]), "3 elements but there are 2 classes"),
        (lambda: cross_entropy_from_probs([0.5, 0.7], target=0), "p sums to 1.2"),
        (lambda: cross_entropy_from_probs([1.2, -0.2], target=0), r"p\[1\] = -0.2 is negative"),
        (lambda: binary_cross_entropy([0.5, 1.5], [1, 0]), r"p\[1\] = 1.5 is not a probability"),
        (lambda: binary_cross_entropy_with_logits([0.5, 1.5], [1, 2]), r"target\[1\] = 2 is not a valid label.*\[0, 1\]"),
        (lambda: binary_cross_entropy_with_logits([0.5, 1.5], [1, 0, 1]), "3 labels but there are 2"),
        (lambda: entropy([]), "empty"),
    ],
)
def test_invalid_input_raises_dlcalc_error_naming_the_value(call, match):
    with pytest.raises(DlcalcError, match=match):
        call()


def test_validation_error_in_a_batch_names_the_row():
    with pytest.raises(DlcalcError) as info:
        validate_distribution([[0.5, 0.5], [0.5, -0.5]])
    assert info.value.row == 1


def test_normalize_divides_by_the_sum():
    np.testing.assert_allclose(validate_distribution([2, 1, 1], normalize=True), [0.5, 0.25, 0.25])
    assert kl_divergence([7, 2, 1], [6, 3, 1], normalize=True).kl == pytest.approx(kl_divergence([0.7, 0.2, 0.1], [0.6, 0.3, 0.1]).kl)


# ---------------------------------------------------------------- batch and dtype


def test_batch_gives_the_same_as_row_by_row():
    rng = np.random.default_rng(6)
    z, t = rng.normal(0, 5, (7, 4)), rng.integers(0, 4, 7)
    P, Q = rng.dirichlet(np.ones(4), 7), rng.dirichlet(np.ones(4), 7)
    batch = cross_entropy(z, target=t, label_smoothing=0.1)
    for i in range(7):
        row = cross_entropy(z[i], target=t[i], label_smoothing=0.1)
        assert batch.loss[i] == row.loss
        np.testing.assert_array_equal(batch.grad[i], row.grad)
        assert kl_divergence(P, Q, symmetric=True).js[i] == kl_divergence(P[i], Q[i], symmetric=True).js
        np.testing.assert_array_equal(binary_cross_entropy_with_logits(z, P).losses[i],
                                      binary_cross_entropy_with_logits(z[i], P[i]).losses)
    # one target / one Q for the whole batch broadcasts
    np.testing.assert_array_equal(kl_divergence(P, Q[0]).kl, [kl_divergence(p, Q[0]).kl for p in P])


def test_float32_in_gives_float32_out():
    z = np.array([[2.0, 1.0, 0.1]], dtype=np.float32)
    r = cross_entropy(z, target=[0])
    assert r.loss.dtype == r.grad.dtype == r.probs.dtype == np.float32
    assert r.loss[0] == pytest.approx(0.4170300162778335, rel=1e-6)
    assert binary_cross_entropy_with_logits(z, np.float32([1, 0, 1])).losses.dtype == np.float32
    assert kl_divergence(np.float32([0.7, 0.2, 0.1]), np.float32([0.6, 0.3, 0.1])).kl.dtype == np.float32


# ---------------------------------------------------------------- properties

dist = st.integers(2, 6).flatmap(
    lambda n: st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n).filter(lambda v: sum(v) > 1e-3)
).map(lambda v: np.array(v) / np.sum(v))


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=6), st.data())
def test_cross_entropy_gradient_sums_to_zero_for_hard_and_soft_targets(z, data):
    n = len(z)
    t = data.draw(st.integers(0, n - 1))
    y = data.draw(st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n))
    assert abs(cross_entropy(z, target=t).grad.sum()) < 1e-14
    assert abs(cross_entropy(z, target_probs=np.array(y) / sum(y), label_smoothing=0.1).grad.sum()) < 1e-14


@pytest.mark.filterwarnings("ignore::dlcalc.errors.NumericWarning")  # q_i = 0 < p_i: KL = inf, warned
@settings(max_examples=examples(150), deadline=None)
@given(dist, st.data())
def test_kl_is_nonnegative_zero_iff_equal_and_equals_cross_entropy_minus_entropy(p, data):
    q = data.draw(dist.filter(lambda v: len(v) == len(p)))
    r = kl_divergence(p, q, symmetric=True)
    assert r.kl >= 0
    assert kl_divergence(p, p).kl == 0
    if r.kl == 0:
        # in floating point: any difference is below what KL can resolve next to Σq = 1
        assert np.abs(p - q).sum() < 1e-7
    if np.isfinite(r.kl):
        assert r.kl == pytest.approx(r.cross_entropy - r.entropy, abs=1e-14 * max(1, r.cross_entropy))
    # Jensen–Shannon: symmetric, ≤ ln 2
    assert r.js == pytest.approx(kl_divergence(q, p, symmetric=True).js, rel=1e-12, abs=1e-300)
    assert 0 <= r.js <= LN2 * (1 + 1e-15)


@settings(max_examples=examples(100), deadline=None)
@given(dist, st.data())
def test_kl_equals_cross_entropy_for_one_hot_p(q, data):
    k = data.draw(st.integers(0, len(q) - 1).filter(lambda i: q[i] > 0))
    p = np.eye(len(q))[k]
    assert kl_divergence(p, q).kl == pytest.approx(cross_entropy_distributions(p, q), rel=1e-15)


# ---------------------------------------------------------------- correct rounding (x87 extended)

from dlcalc import exact  # noqa: E402

needs_extended = pytest.mark.skipif(
    not exact.EXTENDED, reason="long double is not x87 extended here: the float64 path is used"
)


@needs_extended
def test_cross_entropy_of_notes_example_is_the_correctly_rounded_0_4170300162778335(dl):
    with mpmath.workprec(200):
        z = [mpmath.mpf(v) for v in (2.0, 1.0, 0.1)]
        exact = -(z[0] - mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z)))
    assert repr(float(exact)) == "0.4170300162778335"  # 0.41703001627783348315..., the float64 path gave ...354
    assert repr(float(cross_entropy([2.0, 1.0, 0.1], target=0).loss)) == "0.4170300162778335"
    run = dl("ce", "2", "1", "0.1", "--target", "0")  # the acceptance test, plain output
    assert run.code == 0 and run.out == "0.4170300162778335\n"


@needs_extended
def test_cross_entropy_is_correctly_rounded_on_random_rows_against_mpmath():
    rng = np.random.default_rng(22)
    errors, rounded = [], []
    for n in (2, 3, 7, 10, 30):
        z = rng.normal(0, 1, (60, n)) * 10 ** rng.uniform(-2, 2.5, (60, 1))
        target = rng.integers(0, n, 60)
        loss = cross_entropy(z, target=target).loss
        for row, t, got in zip(z, target, loss):
            with mpmath.workprec(200):
                zs = [mpmath.mpf(float(v)) for v in row]
                m = max(zs)
                k = zs.index(m)  # the max term kept out, so log1p keeps e^{-1000}-size terms
                log_sum = mpmath.log1p(mpmath.fsum(mpmath.exp(v - m) for j, v in enumerate(zs) if j != k))
                exact = -((zs[t] - m) - log_sum)
                nearest = float(exact)
                errors.append(float(abs(mpmath.mpf(float(got)) - exact)) / float(np.spacing(nearest)))
            rounded.append(float(got) == nearest)
    assert np.mean(rounded) >= 0.99 and max(errors) <= 1.0, (np.mean(rounded), max(errors))


@needs_extended
def test_soft_target_and_label_smoothed_cross_entropy_is_correctly_rounded_against_mpmath():
    assert repr(float(cross_entropy([2.0, 1.0, 0.1], target_probs=[0.7, 0.2, 0.1], label_smoothing=0.1).loss)) \
        == "0.8646966829445002"  # mpmath: 0.86469668294450024..., the README's example
    rng = np.random.default_rng(23)
    errors, rounded = [], []
    for i in range(200):
        n = int(rng.integers(2, 8))
        z = rng.normal(0, 10 ** rng.uniform(-1, 2), n)
        kwargs = dict(target_probs=rng.dirichlet(np.ones(n))) if i % 2 else \
            dict(target=int(rng.integers(0, n)), label_smoothing=0.1)
        r = cross_entropy(z, **kwargs)
        with mpmath.workprec(200):
            zs = [mpmath.mpf(float(v)) for v in z]
            m = max(zs)
            k = zs.index(m)
            log_sum = mpmath.log1p(mpmath.fsum(mpmath.exp(v - m) for j, v in enumerate(zs) if j != k))
            exact = -mpmath.fsum(mpmath.mpf(float(y)) * ((v - m) - log_sum) for y, v in zip(r.target_distribution, zs))
            nearest = float(exact)
            errors.append(float(abs(mpmath.mpf(float(r.loss)) - exact)) / float(np.spacing(nearest)))
        rounded.append(float(r.loss) == nearest)
    assert np.mean(rounded) >= 0.99 and max(errors) <= 1.0, (np.mean(rounded), max(errors))


def _kl_rows(seed, count):
    """Rows of lengths 2–50: random P and Q, near-equal (relative noise 1e-8 … 1e-1), one-hot P,
    and spiky Q; Q's zeros are raised to 1e-300 so every KL is finite."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(2, 51))
        p = rng.dirichlet(np.ones(n) * rng.choice([0.2, 1, 5]))
        if i % 4 == 0:
            q = rng.dirichlet(np.ones(n))
        elif i % 4 == 1:
            q = p * (1 + 10.0 ** rng.uniform(-8, -1) * rng.standard_normal(n))
        elif i % 4 == 2:
            p = np.zeros(n)
            p[rng.integers(n)] = 1.0
            q = rng.dirichlet(np.ones(n))
        else:
            q = rng.dirichlet(np.ones(n) * 0.3)
        q = np.maximum(q, 1e-300)
        yield p, q / q.sum()


def _ulp_error(got, exact):
    """(error in ulps of the correctly rounded exact value, whether got is that value)."""
    nearest = float(exact)
    if nearest == 0:
        return (0.0 if got == 0 else math.inf), got == 0
    return float(abs(mpmath.mpf(float(got)) - exact)) / float(np.spacing(abs(nearest))), float(got) == nearest


def _assert_correctly_rounded(results, what):
    """Every result is the exact value rounded to nearest (small calls: rounding.round_each)."""
    wrong = [e for e, ok in results if not ok]
    assert not wrong, (what, f"{len(wrong)} of {len(results)} not correctly rounded, up to {max(wrong)} ulp")


@needs_extended
def test_entropy_cross_entropy_and_kl_of_probabilities_are_correctly_rounded_against_mpmath():
    # float64 sums: 68% / 68% / 48% correctly rounded, up to 2.4 / 2.7 / ~6 ulp (and 1e2-1e4
    # ulp for near-equal P, Q); x87 sums rounded once: 99.97%, 99.97%, 100%, JS 99.1% (up to
    # 18.5 ulp); now every result, the terms p·log(p/q) and JS included (one call per row: the
    # doubtful ones go to mpmath)
    h, x, k, bits, terms, js, clamped = [], [], [], [], [], [], 0
    for i, (p, q) in enumerate(_kl_rows(31, 400)):
        r = kl_divergence(p, q, base="2" if i % 5 == 0 else "e", symmetric=i % 2 == 1)
        with mpmath.workprec(200):
            P, Q = [mpmath.mpf(float(v)) for v in p], [mpmath.mpf(float(v)) for v in q]
            H = -mpmath.fsum(a * mpmath.log(a) for a in P if a)
            X = -mpmath.fsum(a * mpmath.log(b) for a, b in zip(P, Q) if a)
            K = mpmath.fsum(a * mpmath.log(a / b) for a, b in zip(P, Q) if a)
            scale = mpmath.log(2) if i % 5 == 0 else 1
            terms += [_ulp_error(t, (a * mpmath.log(a / b) if a else 0) / scale) for t, a, b in zip(r.terms, P, Q)]
            if r.js is not None:
                M = [(a + b) / 2 for a, b in zip(P, Q)]
                J = mpmath.fsum((a * mpmath.log(a / m) if a else 0) + (b * mpmath.log(b / m) if b else 0)
                                for a, b, m in zip(P, Q, M)) / 2
                js.append(_ulp_error(r.js, J / scale))
            if i % 5 == 0:
                ln2 = mpmath.log(2)
                bits.append(_ulp_error(r.kl, K / ln2))
                bits.append(_ulp_error(r.cross_entropy, X / ln2))
                continue
            h.append(_ulp_error(entropy(p), H))
            x.append(_ulp_error(cross_entropy_distributions(p, q), X))
            if K < 0:  # ΣP ≠ ΣQ by rounding when P ≈ Q: the exact value is a hair below 0, clamped
                assert r.kl == 0
                clamped += 1
                continue
            k.append(_ulp_error(r.kl, K))
            assert r.entropy == float(entropy(p)) and r.cross_entropy == float(cross_entropy_distributions(p, q))
    for results, what in ((h, "H(P)"), (x, "H(P,Q)"), (k, "KL"), (bits, "bits"), (terms, "terms"), (js, "JS")):
        _assert_correctly_rounded(results, what)
    assert clamped < 10


@needs_extended
def test_kl_from_logits_and_its_cross_entropy_and_entropy_are_correctly_rounded_against_mpmath():
    # float64: 23% / 53% / 54% correctly rounded, KL up to ~1e23 ulp when zq ≈ zp (the
    # probability form on rounded softmax values); x87 rounded once: 99.93%, 100%, 100%, and
    # the terms p·(log p − log q) up to thousands of ulp when zq ≈ zp; now every result
    rng = np.random.default_rng(32)
    k, x, h, terms, js = [], [], [], [], []
    for i in range(300):
        n = int(rng.integers(2, 51))
        zp = rng.standard_normal(n) * rng.choice([1, 3, 10])
        zq = zp + 10.0 ** rng.uniform(-8, 0) * rng.standard_normal(n) if i % 2 else rng.standard_normal(n) * 3
        r = kl_divergence_from_logits(zp, zq, symmetric=i % 3 == 0)
        with mpmath.workprec(200):
            a, b = [mpmath.mpf(float(v)) for v in zp], [mpmath.mpf(float(v)) for v in zq]
            la = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in a))
            lb = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in b))
            LP, LQ = [v - la for v in a], [v - lb for v in b]
            P, Q = [mpmath.exp(v) for v in LP], [mpmath.exp(v) for v in LQ]
            k.append(_ulp_error(r.kl, mpmath.fsum(s * (u - v) for s, u, v in zip(P, LP, LQ))))
            x.append(_ulp_error(r.cross_entropy, -mpmath.fsum(s * v for s, v in zip(P, LQ))))
            h.append(_ulp_error(r.entropy, -mpmath.fsum(s * u for s, u in zip(P, LP))))
            terms += [_ulp_error(t, s * (u - v)) for t, s, u, v in zip(r.terms, P, LP, LQ)]
            if i % 3 == 0:
                k.append(_ulp_error(r.kl_reverse, mpmath.fsum(s * (v - u) for s, u, v in zip(Q, LP, LQ))))
                js.append(_ulp_error(r.js, mpmath.fsum(s * mpmath.log(2 * s / (s + t)) + t * mpmath.log(2 * t / (s + t))
                                                       for s, t in zip(P, Q)) / 2))
    for results, what in ((k, "KL"), (x, "H(P,Q)"), (h, "H(P)"), (terms, "terms"), (js, "JS")):
        _assert_correctly_rounded(results, what)


@needs_extended
def test_kl_of_nearly_equal_distributions_is_correctly_rounded_where_the_float64_sum_was_not():
    P = [0.3, 0.3, 0.4]
    Q = [0.3 + 1e-9, 0.3 - 1e-9, 0.4]
    with mpmath.workprec(200):
        exact = mpmath.fsum(mpmath.mpf(p) * mpmath.log(mpmath.mpf(p) / mpmath.mpf(q)) for p, q in zip(P, Q))
    assert float(kl_divergence(P, Q).kl) == float(exact)
    batch = kl_divergence([P, [0.5, 0.3, 0.2]], [Q, [0.5, 0.3, 0.2]])  # a batch gives the same, row by row
    assert batch.kl[0] == float(exact) and batch.kl[1] == 0.0


def _sigmoid_minus(z, y):
    """σ(z) − y in mpmath without cancelling away its digits: (1 − y) − σ(−z) for z ≥ 0."""
    return (1 - y) - 1 / (1 + mpmath.exp(z)) if z >= 0 else 1 / (1 + mpmath.exp(-z)) - y


@needs_extended
def test_binary_cross_entropy_losses_means_and_gradients_are_correctly_rounded_against_mpmath():
    # float64 formulas: a few ulp, and the gradient σ(z) − y with σ(z) ≈ y thousands of ulp off;
    # now every element, mean and gradient (x87 with a stated bound, the doubtful ones by mpmath)
    rng = np.random.default_rng(7)
    results = {"losses": [], "mean": [], "grad": [], "p losses": [], "p mean": [], "p grad": []}
    for trial in range(60):
        n = int(rng.integers(1, 6))
        z = rng.standard_normal(n) * rng.choice([1, 5, 40])
        y = rng.choice([0.0, 1.0, 0.5], n) if trial % 2 else rng.random(n)
        if trial % 3 == 0:  # labels a hair from σ(z): the gradient cancels
            with mpmath.workprec(200):
                y = np.minimum([float(1 / (1 + mpmath.exp(-mpmath.mpf(v))) * (1 + mpmath.mpf(1e-12))) for v in z], 1.0)
        base = "2" if trial % 4 == 0 else "e"
        p = rng.random(n)
        logits, probs = binary_cross_entropy_with_logits(z, y, base=base), binary_cross_entropy(p, y, base=base)
        with mpmath.workprec(200):
            ln = mpmath.log(2) if base == "2" else 1
            Z, P, Y = ([mpmath.mpf(float(v)) for v in a] for a in (z, p, y))
            ell = [(max(a, 0) - a * b + mpmath.log1p(mpmath.exp(-abs(a)))) / ln for a, b in zip(Z, Y)]
            p_ell = [((0 if b == 0 else -b * max(mpmath.log(a), -100))
                      + (0 if b == 1 else -(1 - b) * max(mpmath.log1p(-a), -100))) / ln for a, b in zip(P, Y)]
            results["losses"] += [_ulp_error(g, e) for g, e in zip(logits.losses, ell)]
            results["mean"].append(_ulp_error(logits.loss, mpmath.fsum(ell) / n))
            results["grad"] += [_ulp_error(g, _sigmoid_minus(a, b) / ln) for g, a, b in zip(logits.grad, Z, Y)]
            results["p losses"] += [_ulp_error(g, e) for g, e in zip(probs.losses, p_ell)]
            results["p mean"].append(_ulp_error(probs.loss, mpmath.fsum(p_ell) / n))
            results["p grad"] += [_ulp_error(g, (a - b) / (a * (1 - a)) / ln) for g, a, b in zip(probs.grad, P, Y)]
    for what, found in results.items():
        _assert_correctly_rounded(found, what)


@needs_extended
def test_cross_entropy_of_probabilities_in_bits_has_its_gradient_rounded_once():
    # −y/p/ln 2 in float64 rounds twice (1 ulp off in ~1 case in 4); now −y/(p·ln 2) rounded once
    rng = np.random.default_rng(11)
    found = []
    for _ in range(40):
        p, y = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
        r = cross_entropy_from_probs(p, target_probs=y, base="2")
        with mpmath.workprec(200):
            found += [_ulp_error(g, -mpmath.mpf(float(b)) / (mpmath.mpf(float(a)) * mpmath.log(2)))
                      for g, a, b in zip(r.grad, p, y)]
    _assert_correctly_rounded(found, "gradient in bits")


@needs_extended
def test_binary_cross_entropy_with_logits_is_correctly_rounded_in_a_batch_sized_call():
    # a batch block (more than rounding.MAX_EXACT_SIZE numbers) has no mpmath step: the
    # double-double second stage decides the doubtful losses, means and gradients, including
    # gradients σ(z) − y that cancel (labels a hair from σ(z)) and tails beyond |z| = 600
    rng = np.random.default_rng(21)
    z = rng.standard_normal((5000, 4)) * 4
    z[::97] = rng.uniform(-1000, 1000, z[::97].shape)
    with mpmath.workprec(120):
        near = [[float(1 / (1 + mpmath.exp(-mpmath.mpf(float(v))))) for v in row] for row in z[:2000]]
    y = rng.random(z.shape)
    y[:2000] = np.minimum(np.array(near) * (1 + 2e-12 * rng.standard_normal((2000, 4))), 1.0)
    r = binary_cross_entropy_with_logits(z, y)
    sample = np.concatenate([np.arange(0, 2000, 5), rng.integers(2000, 5000, 200), np.arange(0, 5000, 97)])
    wrong = []
    with mpmath.workprec(200):
        for i in sample.tolist():
            Z, Y = [mpmath.mpf(float(v)) for v in z[i]], [mpmath.mpf(float(v)) for v in y[i]]
            ell = [max(a, 0) - a * b + mpmath.log1p(mpmath.exp(-abs(a))) for a, b in zip(Z, Y)]
            grad = [_sigmoid_minus(a, b) for a, b in zip(Z, Y)]
            wrong += [(i, "loss") for g, e in zip(r.losses[i], ell) if not _ulp_error(g, e)[1]]
            wrong += [(i, "grad") for g, e in zip(r.grad[i], grad) if not _ulp_error(g, e)[1]]
            if not _ulp_error(r.loss[i], mpmath.fsum(ell) / 4)[1]:
                wrong.append((i, "mean"))
    assert not wrong, wrong[:10]


def test_double_double_js_is_accurate_to_2_to_the_minus_95():
    # the second stage of JS (losses._dd_js_rows): M = (P + Q)/2 exact, JS = ½ Σ m·φ(u), near-equal
    # rows (φ's series), far ones (its logarithms) and zeros (|u| = 1)
    from dlcalc.losses import _dd_js_rows

    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(4), 200)
    q = np.where(np.arange(200)[:, None] % 2 == 1, p * (1 + 1e-7 * rng.standard_normal((200, 4))),
                 rng.dirichlet(np.ones(4), 200))
    q[::7, 0] = 0
    q /= q.sum(axis=1, keepdims=True)
    hi, lo, _ = _dd_js_rows(p, q, False)
    with mpmath.workprec(300):
        for i in range(200):
            P, Q = [mpmath.mpf(float(v)) for v in p[i]], [mpmath.mpf(float(v)) for v in q[i]]
            exact = mpmath.fsum((a * mpmath.log(2 * a / (a + b)) if a else 0) + (b * mpmath.log(2 * b / (a + b)) if b else 0)
                                for a, b in zip(P, Q)) / 2
            assert abs(mpmath.mpf(hi[i]) + mpmath.mpf(lo[i]) - exact) <= exact * mpmath.mpf(2) ** -95, i


@needs_extended
def test_js_is_correctly_rounded_in_a_batch_sized_call():
    # more than rounding.MAX_EXACT_SIZE numbers: no mpmath step, the double-double stage decides
    rng = np.random.default_rng(8)
    p = rng.dirichlet(np.ones(4), 5000)
    q = np.where(np.arange(5000)[:, None] % 2 == 1, p * (1 + 1e-7 * rng.standard_normal((5000, 4))),
                 rng.dirichlet(np.ones(4), 5000))
    q /= q.sum(axis=1, keepdims=True)
    js = kl_divergence(p, q, symmetric=True).js
    wrong = []
    with mpmath.workprec(200):
        for i in range(0, 5000, 10):
            P, Q = [mpmath.mpf(float(v)) for v in p[i]], [mpmath.mpf(float(v)) for v in q[i]]
            exact = mpmath.fsum(a * mpmath.log(2 * a / (a + b)) + b * mpmath.log(2 * b / (a + b)) for a, b in zip(P, Q)) / 2
            if not _ulp_error(js[i], exact)[1]:
                wrong.append(i)
    assert not wrong, wrong[:10]


def test_double_double_kl_terms_and_cross_entropy_are_accurate_to_2_to_the_minus_95():
    # the second stages of KL (its rows and terms) and of H(P,Q): near-equal rows (ψ's series),
    # ratios beyond [½, 2], zeros in P
    from dlcalc.losses import _dd_kl_parts, _dd_kl_rows, _dd_neg_xlogy_rows

    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(4) * 0.5, 200)
    q = np.where(np.arange(200)[:, None] % 2 == 1, p * (1 + 1e-7 * rng.standard_normal((200, 4))),
                 rng.dirichlet(np.ones(4), 200))
    p[::9, 1] = 0
    q = np.where(q > 0, q, 1e-3)
    terms, _, _ = _dd_kl_parts(p, q)
    kl_hi, kl_lo, kl_scale = _dd_kl_rows(p, q, False)
    h_hi, h_lo, _ = _dd_neg_xlogy_rows(p, q, True)
    bound = mpmath.mpf(2) ** -95
    with mpmath.workprec(300):
        for i in range(200):
            P, Q = [mpmath.mpf(float(v)) for v in p[i]], [mpmath.mpf(float(v)) for v in q[i]]
            exact_terms = [a * mpmath.log(a / b) if a else mpmath.mpf(0) for a, b in zip(P, Q)]
            for j, e in enumerate(exact_terms):
                assert abs(mpmath.mpf(terms[0][i, j]) + mpmath.mpf(terms[1][i, j]) - e) <= abs(e) * bound, (i, j)
            kl = mpmath.fsum(exact_terms)
            assert abs(mpmath.mpf(kl_hi[i]) + mpmath.mpf(kl_lo[i]) - kl) <= mpmath.mpf(kl_scale[i]) * bound, i
            h = -mpmath.fsum(a * mpmath.log(b) for a, b in zip(P, Q) if a) / mpmath.log(2)
            assert abs(mpmath.mpf(h_hi[i]) + mpmath.mpf(h_lo[i]) - h) <= h * bound, i


@needs_extended
def test_cross_entropy_with_soft_targets_or_label_smoothing_is_correctly_rounded_against_mpmath():
    # rounded once from the long double, ~1% of losses and gradients ŷ − y (two roundings where
    # they cancel) were off; now every one (a command line: the doubtful ones by mpmath)
    rng = np.random.default_rng(2)
    found = []
    for i in range(80):
        n = int(rng.integers(2, 6))
        z = rng.standard_normal(n) * 3
        base = "2" if i % 3 == 0 else "e"
        if i % 2:
            r = cross_entropy(z, target_probs=rng.dirichlet(np.ones(n)), base=base)
        else:
            r = cross_entropy(z, target=int(rng.integers(0, n)), label_smoothing=0.1, base=base)
        with mpmath.workprec(200):
            ln = mpmath.log(2) if base == "2" else 1
            Z, Y = [mpmath.mpf(float(v)) for v in z], [mpmath.mpf(float(v)) for v in r.target_distribution]
            top = max(Z)
            lse = top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in Z))
            found.append(_ulp_error(r.loss, -mpmath.fsum(b * (a - lse) for a, b in zip(Z, Y)) / ln))
            found += [_ulp_error(g, (mpmath.exp(a - lse) - b) / ln) for g, a, b in zip(r.grad, Z, Y)]
    _assert_correctly_rounded(found, "soft targets")


@needs_extended
def test_soft_target_gradients_are_correctly_rounded_in_a_batch_sized_call():
    # no mpmath step above 16,384 numbers: ŷ − y from the core's unrounded ŷ, and in
    # double-double where ŷ ≈ y (here: targets a hair from the softmax itself)
    rng = np.random.default_rng(13)
    z = rng.standard_normal((3000, 8)) * 3
    y = np.asarray(losses_softmax(z)) * (1 + 1e-9 * rng.standard_normal((3000, 8)))
    y /= y.sum(axis=1, keepdims=True)
    r = cross_entropy(z, target_probs=y)
    wrong = []
    with mpmath.workprec(200):
        for i in range(0, 3000, 15):
            Z = [mpmath.mpf(float(v)) for v in z[i]]
            top = max(Z)
            total = mpmath.fsum(mpmath.exp(v - top) for v in Z)
            wrong += [(i, j) for j in range(8)
                      if not _ulp_error(r.grad[i, j], mpmath.exp(Z[j] - top) / total - mpmath.mpf(float(y[i, j])))[1]]
    assert not wrong, wrong[:10]


@needs_extended
def test_kl_terms_from_near_equal_logits_are_correctly_rounded_in_a_batch_sized_call():
    # a term p_i·(log p_i − log q_i) of near-equal logits inherits the long double's error in
    # the two log-sum-exps against a tiny δ_i; the double-double stage decides them at any size
    rng = np.random.default_rng(14)
    zp = rng.standard_normal((4000, 5)) * 3
    zq = zp + 1e-6 * rng.standard_normal((4000, 5))
    terms = kl_divergence_from_logits(zp, zq).terms
    wrong = []
    with mpmath.workprec(250):
        for i in range(0, 4000, 20):
            a, b = [mpmath.mpf(float(v)) for v in zp[i]], [mpmath.mpf(float(v)) for v in zq[i]]
            la = max(a) + mpmath.log(mpmath.fsum(mpmath.exp(v - max(a)) for v in a))
            lb = max(b) + mpmath.log(mpmath.fsum(mpmath.exp(v - max(b)) for v in b))
            wrong += [(i, j) for j in range(5)
                      if not _ulp_error(terms[i, j], mpmath.exp(a[j] - la) * ((a[j] - la) - (b[j] - lb)))[1]]
    assert not wrong, wrong[:10]


def test_double_double_forms_from_logits_are_within_their_bounds():
    # the second stages of KL, H(P,Q), H(P) and JS from logits (losses._dd_logit_rows): random,
    # near-equal and widely spread rows, against mpmath, within 2^-95 of their scales
    from dlcalc.losses import _dd_logit_rows

    rng = np.random.default_rng(15)
    zp = rng.standard_normal((120, 4)) * np.repeat([1.0, 5.0, 60.0], 40)[:, None]
    zq = np.where(np.arange(120)[:, None] % 2 == 1, zp + 1e-6 * rng.standard_normal((120, 4)),
                  rng.standard_normal((120, 4)) * 3)
    bound = mpmath.mpf(2) ** -95
    found = {what: _dd_logit_rows(zp, zq, what, False) for what in ("kl", "h_pq", "h_p", "js")}
    with mpmath.workprec(300):
        for i in range(120):
            a, b = [mpmath.mpf(float(v)) for v in zp[i]], [mpmath.mpf(float(v)) for v in zq[i]]
            la = [v - (max(a) + mpmath.log(mpmath.fsum(mpmath.exp(w - max(a)) for w in a))) for v in a]
            lb = [v - (max(b) + mpmath.log(mpmath.fsum(mpmath.exp(w - max(b)) for w in b))) for v in b]
            P, Q = [mpmath.exp(v) for v in la], [mpmath.exp(v) for v in lb]
            exact = {"kl": mpmath.fsum(p * (u - v) for p, u, v in zip(P, la, lb)),
                     "h_pq": -mpmath.fsum(p * v for p, v in zip(P, lb)),
                     "h_p": -mpmath.fsum(p * u for p, u in zip(P, la)),
                     "js": mpmath.fsum(p * mpmath.log(2 * p / (p + q)) + q * mpmath.log(2 * q / (p + q))
                                       for p, q in zip(P, Q)) / 2}
            for what, (hi, lo, scale) in found.items():
                if np.isnan(hi[i]):
                    continue  # left to mpmath
                size = abs(exact[what]) if scale is None else mpmath.mpf(scale[i])
                assert abs(mpmath.mpf(hi[i]) + mpmath.mpf(lo[i]) - exact[what]) <= size * bound, (what, i)
