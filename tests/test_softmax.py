"""softmax, log_softmax, logsumexp and Jacobians against mpmath (200 bits), SciPy, PyTorch,
the notes' worked numbers and hypothesis properties."""

import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import examples
from dlcalc.errors import DlcalcError, NumericWarning
from dlcalc.softmax_core import (
    log_softmax,
    log_softmax_jacobian,
    logsumexp,
    softmax,
    softmax_all,
    softmax_jacobian,
)

INF = np.inf
NAN = np.nan


def exact_softmax(z):
    """softmax, log_softmax and logsumexp at 200 bits (mpmath): the oracle for accuracy."""
    with mpmath.workprec(200):
        zs = [mpmath.mpf(float(v)) for v in z]
        m = max(zs)
        # shifted first, so that 1e300 + log 2 does not lose log 2 even at 200 bits
        k = zs.index(m)  # the max term kept out of the sum, so log1p keeps e^{-1000}-size terms
        log_sum = mpmath.log1p(mpmath.fsum(mpmath.exp(v - m) for j, v in enumerate(zs) if j != k))
        lsm = [(v - m) - log_sum for v in zs]
        return [float(mpmath.exp(v)) for v in lsm], [float(v) for v in lsm], float(m + log_sum)


def rel_err(got, exact):
    got, exact = np.asarray(got, float), np.asarray(exact, float)
    with np.errstate(all="ignore"):
        err = np.where(exact == got, 0.0, np.abs(got - exact) / np.abs(exact))
    return float(np.max(err))


EXTREME = [
    [1000.0, 0.0, -1000.0],
    [-1e300, 1e300],
    [1e300, 1e300, -1e300],
    [1e308, -1e308, 0.0],
    [-1000.0, -1000.5, -1001.0],
    [700.0, 709.5, 710.0, 1e-300],
    [3.7, -600.123, 0.3],
    [-745.1, 0.0, 1e-20, -1e-20],
    [1e10, 1e10 + 1e-5, 1e10 - 3.0],
    [2.0, 1.0, 0.1],
    [40.0, 0.0],
]


# ---------------------------------------------------------------- the notes' worked numbers


def test_softmax_of_notes_example_matches_worked_numbers_and_exact_value():
    got = softmax([2.0, 1.0, 0.1])
    # the notes' step-by-step numbers (0.659, 0.242, 0.0986) ...
    np.testing.assert_allclose(got, [0.659, 0.242, 0.0986], atol=6e-4)
    # ... and the brief's 17-digit values; 0.24243297070471392 is the correctly rounded exact
    # value (mpmath), one ulp above the naive-formula 0.2424329707047139 quoted in the brief
    np.testing.assert_allclose(got, [0.6590011388859679, 0.2424329707047139, 0.09856589040931818], rtol=3e-16)
    assert rel_err(got, exact_softmax([2.0, 1.0, 0.1])[0]) <= 2.3e-16


def test_log_softmax_and_logsumexp_of_notes_example():
    np.testing.assert_allclose(log_softmax([2.0, 1.0, 0.1]), [-0.417, -1.417, -2.317], atol=5e-4)
    assert logsumexp([2.0, 1.0, 0.1]) == pytest.approx(2.417, abs=5e-4)
    # log-softmax identity of the notes: z_i − log Σ e^{z_j}
    np.testing.assert_allclose(log_softmax([2.0, 1.0, 0.1]), np.array([2.0, 1.0, 0.1]) - np.log(np.exp([2, 1, 0.1]).sum()))


# ---------------------------------------------------------------- exact values (mpmath)


@pytest.mark.parametrize("z", EXTREME)
def test_softmax_family_is_within_a_few_ulp_of_mpmath_on_extreme_logits(z):
    sm, lsm, lse = exact_softmax(z)
    assert rel_err(softmax(z), sm) < 4.5e-16
    assert rel_err(log_softmax(z), lsm) < 4.5e-16
    assert rel_err(logsumexp(z), lse) < 4.5e-16


def test_softmax_family_accuracy_on_random_logits_against_mpmath():
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(200):
        n = int(rng.integers(1, 8))
        z = rng.normal(0, 10 ** rng.uniform(-2, 2.8), n)
        sm, lsm, lse = exact_softmax(z)
        worst = max(worst, rel_err(softmax(z), sm), rel_err(log_softmax(z), lsm))
        if abs(lse) > 1.0:  # lse ≈ 0 is ill-conditioned (m and log Σ cancel): checked absolutely
            worst = max(worst, rel_err(logsumexp(z), lse))
        else:
            assert abs(logsumexp(z) - lse) < 4 * np.spacing(max(np.max(np.abs(z)), 1.0))
    assert worst < 1e-15


def test_notes_extreme_examples_do_not_overflow():
    assert np.array_equal(softmax([1000.0, 0.0, -1000.0]), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(log_softmax([1000.0, 0.0, -1000.0]), [0.0, -1000.0, -2000.0])
    assert logsumexp([1000.0, 0.0, -1000.0]) == 1000.0
    np.testing.assert_array_equal(log_softmax([-1e300, 1e300]), [-2e300, 0.0])


# ---------------------------------------------------------------- SciPy and PyTorch oracles


def test_logsumexp_matches_scipy_on_random_batches():
    from scipy.special import logsumexp as scipy_lse

    rng = np.random.default_rng(1)
    z = rng.normal(0, 30, (50, 7))
    np.testing.assert_allclose(logsumexp(z), scipy_lse(z, axis=-1), rtol=1e-14)


def test_softmax_and_log_softmax_match_torch_float64():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    z = np.concatenate([rng.normal(0, 5, (20, 6)), rng.normal(0, 400, (20, 6))])
    t = torch.tensor(z, dtype=torch.float64)
    np.testing.assert_allclose(softmax(z), F.softmax(t, -1).numpy(), rtol=1e-13, atol=1e-300)
    # torch loses the tiny log-probabilities of a dominant class (max − lse cancels): absolute check
    np.testing.assert_allclose(log_softmax(z), F.log_softmax(t, -1).numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(logsumexp(z), torch.logsumexp(t, -1).numpy(), rtol=1e-13)
    np.testing.assert_allclose(softmax(z, 2.5), F.softmax(t / 2.5, -1).numpy(), rtol=1e-13, atol=1e-300)


def test_jacobians_match_torch_autograd_jacobian_with_temperature():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    for T in (1.0, 0.5, 3.0):
        z = rng.normal(0, 3, 5)
        t = torch.tensor(z, dtype=torch.float64)
        js = torch.autograd.functional.jacobian(lambda x: F.softmax(x / T, -1), t).numpy()
        jl = torch.autograd.functional.jacobian(lambda x: F.log_softmax(x / T, -1), t).numpy()
        np.testing.assert_allclose(softmax_jacobian(z, T), js, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(log_softmax_jacobian(z, T), jl, rtol=1e-12, atol=1e-16)


def test_log_softmax_jacobian_is_identity_minus_probabilities_as_in_notes():
    y = softmax([2.0, 1.0, 0.1])
    J = log_softmax_jacobian([2.0, 1.0, 0.1])
    np.testing.assert_allclose(np.diag(J), 1 - y)  # 1 − ŷ_i on the diagonal
    np.testing.assert_allclose(J[0, 1], -y[1])  # −ŷ_k off it
    np.testing.assert_allclose(J, np.eye(3) - y[None, :])


def test_jacobian_diagonal_is_accurate_when_one_class_dominates():
    # exact: ŷ0(1 − ŷ0) = e^{-40}/(1+e^{-40})^2; the naive 1 − ŷ0 would be 0 or 1.1e-16
    with mpmath.workprec(200):
        s = mpmath.exp(-40)
        exact = float(s / (1 + s) ** 2)
    J = softmax_jacobian([40.0, 0.0])
    assert rel_err(J[0, 0], exact) < 4.5e-16
    assert rel_err(-J[0, 1], exact) < 4.5e-16


def test_jacobians_match_central_finite_differences():
    rng = np.random.default_rng(4)
    z = rng.normal(0, 2, 4)
    h = 1e-6
    for f, jac in ((softmax, softmax_jacobian), (log_softmax, log_softmax_jacobian)):
        fd = np.stack([(f(z + h * e, 1.7) - f(z - h * e, 1.7)) / (2 * h) for e in np.eye(4)], axis=1)
        np.testing.assert_allclose(jac(z, 1.7), fd, atol=1e-8)


# ---------------------------------------------------------------- edge cases


def test_single_logit_gives_probability_one_and_log_probability_zero():
    assert softmax([3.5]).tolist() == [1.0]
    assert log_softmax([-7.0]).tolist() == [0.0]
    assert logsumexp([-7.0]) == -7.0


def test_minus_inf_logits_get_probability_zero_and_log_probability_minus_inf():
    with pytest.warns(NumericWarning, match=r"z\[1\] = -inf"):
        lsm = log_softmax([0.0, -INF, 0.0])
    np.testing.assert_array_equal(lsm, [-np.log(2), -INF, -np.log(2)])
    np.testing.assert_array_equal(softmax([0.0, -INF, 0.0]), [0.5, 0.0, 0.5])


def test_one_plus_inf_logit_gives_the_limit_where_torch_gives_nan():
    np.testing.assert_array_equal(softmax([1.0, INF, -INF, 5.0]), [0.0, 1.0, 0.0, 0.0])
    with pytest.warns(NumericWarning, match=r"z\[1\] = inf"):
        lsm = log_softmax([1.0, INF, 5.0])
    np.testing.assert_array_equal(lsm, [-INF, 0.0, -INF])
    np.testing.assert_array_equal(softmax_jacobian([1.0, INF]), np.zeros((2, 2)))


def test_two_plus_inf_logits_give_nan_with_a_warning_naming_them():
    with pytest.warns(NumericWarning, match=r"infinite logits of equal sign: z\[0\] = z\[2\] = inf"):
        out = softmax([INF, 1.0, INF])
    assert np.isnan(out).all()
    with pytest.warns(NumericWarning):
        assert logsumexp([INF, 1.0, INF]) == INF


def test_all_minus_inf_logits_give_nan_and_logsumexp_minus_inf():
    with pytest.warns(NumericWarning, match="all logits are -inf"):
        assert np.isnan(softmax([-INF, -INF])).all()
    with pytest.warns(NumericWarning, match="all logits are -inf"):
        assert logsumexp([-INF, -INF]) == -INF


def test_nan_logit_gives_nan_row_with_warning_naming_it_and_other_rows_untouched():
    with pytest.warns(NumericWarning, match=r"z\[1\] = nan") as rec:
        out = softmax([[1.0, NAN], [0.0, 0.0]])
    assert np.isnan(out[0]).all()
    np.testing.assert_array_equal(out[1], [0.5, 0.5])
    assert rec[0].message.row == 0


def test_finite_inputs_raise_no_warnings_at_all():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        softmax_all([[1e308, -1e308, 0.0], [1000.0, 0.0, -1000.0]])
        softmax_jacobian([1e308, -1e308])


def test_softmax_all_gives_all_three_consistently():
    r = softmax_all([2.0, 1.0, 0.1], temperature=2.0)
    np.testing.assert_array_equal(r.softmax, softmax([2.0, 1.0, 0.1], 2.0))
    np.testing.assert_array_equal(r.log_softmax, log_softmax([2.0, 1.0, 0.1], 2.0))
    assert r.logsumexp == logsumexp([1.0, 0.5, 0.05])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: softmax([]), "empty"),
        (lambda: softmax([1.0, 2.0], temperature=0), "temperature 0 is invalid"),
        (lambda: softmax([1.0, 2.0], temperature=-1.5), r"temperature -1.5 is invalid.*> 0"),
        (lambda: softmax([1.0], temperature=INF), "temperature inf"),
        (lambda: softmax(["a", 1]), "vector of numbers"),
    ],
)
def test_invalid_input_raises_dlcalc_error_naming_the_value(call, match):
    with pytest.raises(DlcalcError, match=match):
        call()


# ---------------------------------------------------------------- batch and dtype


def test_batch_gives_the_same_as_row_by_row():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 50, (9, 4))
    for f in (softmax, log_softmax, logsumexp, softmax_jacobian, log_softmax_jacobian):
        np.testing.assert_array_equal(f(z), np.stack([f(row) for row in z]))


def test_float32_in_gives_float32_out_and_float32_accuracy():
    z = np.array([[2.0, 1.0, 0.1], [100.0, -100.0, 0.0]], dtype=np.float32)
    for f in (softmax, log_softmax, logsumexp, softmax_jacobian):
        assert f(z).dtype == np.float32
    np.testing.assert_allclose(softmax(z)[0], [0.6590011388859679, 0.2424329707047139, 0.09856589040931818], rtol=2e-7)


# ---------------------------------------------------------------- properties

finite_logits = arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e6, 1e6))


@settings(max_examples=examples(150), deadline=None)
@given(finite_logits)
def test_softmax_sums_to_one_and_log_softmax_is_nonpositive(z):
    assert abs(softmax(z).sum() - 1) < 1e-14
    assert np.all(log_softmax(z) <= 0)


@settings(max_examples=examples(150), deadline=None)
@given(arrays(np.float64, st.integers(1, 8), elements=st.floats(-100, 100)), st.floats(-100, 100))
def test_softmax_is_shift_invariant(z, c):
    np.testing.assert_allclose(softmax(z + c), softmax(z), rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------- correct rounding (x87 extended)

from dlcalc import exact  # noqa: E402

needs_extended = pytest.mark.skipif(
    not exact.EXTENDED, reason="long double is not x87 extended here: the float64 path is used"
)


def exact_softmax_mpf(z):
    """softmax, log_softmax, logsumexp of z as mpf values at 200 bits (not yet rounded)."""
    with mpmath.workprec(200):
        zs = [mpmath.mpf(float(v)) for v in z]
        m = max(zs)
        k = zs.index(m)
        log_sum = mpmath.log1p(mpmath.fsum(mpmath.exp(v - m) for j, v in enumerate(zs) if j != k))
        lsm = [(v - m) - log_sum for v in zs]
        return [mpmath.exp(v) for v in lsm], lsm, m + log_sum


def ulp_errors(got, exact_values):
    """(|got − exact| in ulps of the correctly rounded exact value, got == correctly rounded)."""
    errors, rounded = [], []
    with mpmath.workprec(200):
        for g, x in zip(np.ravel(got), exact_values):
            nearest = float(x)  # mpmath rounds to nearest: the correctly rounded float64
            ulp = float(np.spacing(abs(nearest))) if nearest != 0 else 5e-324
            errors.append(float(abs(mpmath.mpf(float(g)) - x)) / ulp)
            rounded.append(float(g) == nearest)
    return np.array(errors), np.array(rounded)


@needs_extended
def test_softmax_of_notes_example_is_correctly_rounded_to_the_last_digit():
    # mpmath at 200 bits: ŷ = [0.65900113888596790909.., 0.24243297070471391915.., 0.09856589040931817205..];
    # the last is 0.442 ulp above 0.09856589040931817 (the float64 path gave ...818, one ulp high)
    exact = [float(v) for v in exact_softmax_mpf([2.0, 1.0, 0.1])[0]]
    assert [repr(float(v)) for v in exact] == ["0.6590011388859679", "0.24243297070471392", "0.09856589040931817"]
    assert [repr(float(v)) for v in softmax([2.0, 1.0, 0.1])] == [repr(v) for v in exact]
    assert [repr(float(v)) for v in softmax_all([2.0, 1.0, 0.1]).softmax] == [repr(v) for v in exact]


@needs_extended
def test_softmax_family_is_correctly_rounded_on_random_rows_against_mpmath():
    rng = np.random.default_rng(20)
    results = {"softmax": [], "log_softmax": [], "logsumexp": []}
    for n in (2, 3, 5, 10, 40):
        z = rng.normal(0, 1, (60, n)) * 10 ** rng.uniform(-2, 3, (60, 1))
        z[::3] = np.round(rng.uniform(-10, 10, (20, n)), 1)  # short decimals as users type them
        r = softmax_all(z)  # one vectorised call per length, as the batch runner makes
        for row, sm, lsm, lse in zip(z, r.softmax, r.log_softmax, r.logsumexp):
            exact = exact_softmax_mpf(row)
            results["softmax"].append(ulp_errors(sm, exact[0]))
            results["log_softmax"].append(ulp_errors(lsm, exact[1]))
            results["logsumexp"].append(ulp_errors([lse], [exact[2]]))
    for name, parts in results.items():
        errors = np.concatenate([e for e, _ in parts])
        rounded = np.concatenate([c for _, c in parts])
        assert rounded.mean() >= 0.99, (name, rounded.mean())
        assert errors.max() <= 1.0, (name, errors.max())


def test_float64_fallback_path_stays_within_a_few_ulp(monkeypatch):
    # where long double is not x87 extended, the float64 path runs: check it here too
    monkeypatch.setattr(exact, "EXTENDED", False)
    for z in EXTREME:
        sm, lsm, lse = exact_softmax(z)
        assert rel_err(softmax(z), sm) < 4.5e-16
        assert rel_err(log_softmax(z), lsm) < 4.5e-16
        assert rel_err(logsumexp(z), lse) < 4.5e-16
    assert softmax([2.0, 1.0, 0.1]).dtype == np.float64


def test_extended_blocks_give_the_same_rows_as_one_row_at_a_time():
    # more rows than one extended-precision block holds, so the batch crosses block boundaries
    rng = np.random.default_rng(21)
    n = 3
    z = rng.normal(0, 20, (exact.EXTENDED_BLOCK // n * 2 + 5, n))
    r = softmax_all(z)
    for i in (0, 1, exact.EXTENDED_BLOCK // n - 1, exact.EXTENDED_BLOCK // n, len(z) - 1):
        one = softmax_all(z[i])
        np.testing.assert_array_equal(r.softmax[i], one.softmax)
        np.testing.assert_array_equal(r.log_softmax[i], one.log_softmax)
        assert r.logsumexp[i] == one.logsumexp


def test_warnings_of_a_large_batch_name_only_the_non_finite_rows():
    z = np.zeros((5000, 3))
    z[17, 1] = NAN
    z[4321] = [INF, INF, 0.0]
    with pytest.warns(NumericWarning) as rec:
        softmax_all(z)
    assert sorted(w.message.row for w in rec) == [17, 4321]


def test_a_tiny_temperature_that_overflows_the_logits_gives_the_one_hot_limit_with_a_warning():
    # [1, 2] / 1e-320 overflows float64; softmax is shift invariant, so the exact answer is the
    # one-hot limit [0, 1] (not nan from "infinite logits of equal sign"), and the true
    # logsumexp 2e320 is beyond float64: inf.
    with pytest.warns(NumericWarning, match="shifted by their max"):
        result = softmax_all(np.array([1.0, 2.0]), temperature=1e-320)
    assert result.softmax.tolist() == [0.0, 1.0]
    assert result.log_softmax.tolist() == [-np.inf, 0.0]
    assert result.logsumexp == np.inf
    near = softmax_all(np.array([[1.0, 2.0], [0.0, 3.0]]), temperature=1e-300)
    assert near.softmax.tolist() == [[0.0, 1.0], [0.0, 1.0]]


# ---------------------------------------------------------------- every element correctly rounded (x87)
# The long-double values are rounded once; the elements within their error bound of a float64
# midpoint are decided in double-double and, failing that, in mpmath (softmax_core's notes).
# The oracle: mpmath at enough bits for the row's spread (log-softmax's exact value may lie
# e^-1000 from a midpoint), rounded once.

from dlcalc import losses, rounding, softmax_core  # noqa: E402


def exact_parts(z):
    """softmax, 1 − softmax, log-softmax (lists) and logsumexp of the row z, as mpf, exact to
    far below a float64 ulp whatever the spread."""
    finite = [float(v) for v in z if np.isfinite(v)]
    bits = 200 + 2 * int(max(finite) - min(finite))
    with mpmath.workprec(min(bits, 4000)):
        zs = [mpmath.mpf(float(v)) for v in z]
        m = max(zs)
        k = zs.index(m)
        terms = [mpmath.exp(v - m) for v in zs]
        total = mpmath.fsum(terms)
        log_sum = mpmath.log1p(mpmath.fsum(terms[:k] + terms[k + 1:]))
        softmax_ = [t / total for t in terms]
        # total − t_i cancels at most 1.45·(spread) bits of the 200 + 2·spread
        complement = [(total - t) / total for t in terms]
        return softmax_, complement, [(v - m) - log_sum for v in zs], m + log_sum


def rounded(values, scale=1):
    with mpmath.workprec(4200):
        return np.array([rounding.to_float64(v * scale) for v in values])


def assert_every_element_correctly_rounded(z, temperature=1.0):
    """softmax_all, both Jacobians and the one-hot cross-entropy (nats and bits) of the rows z
    against the oracle, element by element."""
    z = np.atleast_2d(z)
    n = z.shape[-1]
    r = softmax_all(z, temperature)
    jac, log_jac = softmax_jacobian(z, temperature), log_softmax_jacobian(z, temperature)
    targets = np.arange(len(z)) % n
    ce, ce_bits = losses.cross_entropy(z, target=targets), losses.cross_entropy(z, target=targets, base="2")
    zt = z / temperature
    for row in range(len(z)):
        sm, comp, lsm, lse = exact_parts(zt[row])
        assert r.softmax[row].tolist() == rounded(sm).tolist(), (z[row], "softmax")
        assert r.log_softmax[row].tolist() == rounded(lsm).tolist(), (z[row], "log-softmax")
        assert r.logsumexp[row] == rounded([lse])[0], (z[row], "logsumexp")
        with mpmath.workprec(4200):
            t = mpmath.mpf(temperature)
            expect = [[sm[i] * comp[i] / t if i == j else -sm[i] * sm[j] / t for j in range(n)] for i in range(n)]
            assert jac[row].tolist() == [rounded(line).tolist() for line in expect], (z[row], "jacobian")
            expect = [[comp[i] / t if i == j else -sm[j] / t for j in range(n)] for i in range(n)]
            assert log_jac[row].tolist() == [rounded(line).tolist() for line in expect], (z[row], "log jacobian")
        if temperature != 1.0:
            continue
        c = int(targets[row])
        assert ce.probs[row].tolist() == rounded(sm).tolist(), (z[row], "ce probabilities")
        with mpmath.workprec(4200):  # (−x rounds to the working precision too)
            gradient = [-comp[i] if i == c else sm[i] for i in range(n)]
            assert ce.loss[row] == rounded([-lsm[c]])[0], (z[row], "ce")
            assert ce.grad[row].tolist() == rounded(gradient).tolist(), (z[row], "ce gradient")
            assert ce_bits.loss[row] == rounded([-lsm[c] / mpmath.ln2])[0], (z[row], "ce in bits")
            assert ce_bits.grad[row].tolist() == rounded([g / mpmath.ln2 for g in gradient]).tolist(), \
                (z[row], "ce gradient in bits")


def doubtful_rows(z):
    """The rows of z with an element whose long-double value the first stage could not round
    with certainty (softmax, its complement, log-softmax or logsumexp): the hard cases."""
    k = np.argmax(z, axis=-1)
    m = z[np.arange(len(z)), k]
    d, e = softmax_core._two_diff(z, m[:, None])
    hot = np.arange(z.shape[1]) == k[:, None]
    _, doubtful = softmax_core._extended_values(d, e, hot, m, dict.fromkeys(softmax_core.QUANTITIES))
    return np.flatnonzero(np.any([v if v.ndim == 1 else v.any(axis=-1) for v in doubtful.values()], axis=0))


@needs_extended
@pytest.mark.parametrize("n", [1, 2, 3, 10, 50])
def test_every_element_is_correctly_rounded_on_random_and_hard_rows(n):
    rng = np.random.default_rng(40 + n)
    z = rng.normal(0, 4, (400, n))
    z[::5] *= 150  # spreads of hundreds: tiny probabilities, subnormal and zero ones
    z[1::5] = np.round(z[1::5], 1)  # short decimals as users type them
    hard = z[doubtful_rows(z)]
    assert n == 1 or len(hard) >= 10  # the first stage leaves some to the second
    sample = np.concatenate([hard[:12], z[rng.choice(len(z), 6, replace=False)]])
    assert_every_element_correctly_rounded(sample)


@needs_extended
def test_extreme_rows_and_a_temperature_are_correctly_rounded():
    rows = [row for row in EXTREME if len(row) == 3 and max(abs(v) for v in row) < 1e5]
    rows += [[1000.0, -1000.0, 0.5], [-745.1, 0.0, 1e-20], [0.0, -708.4, -744.9], [709.8, 0.0, -36.7],
             [310.12952881902964, 77.45313935086152, -2.0]]  # z_1 − z_0 rounds to a midpoint: decided by log S
    assert_every_element_correctly_rounded(np.array(rows))
    rng = np.random.default_rng(44)
    assert_every_element_correctly_rounded(rng.normal(0, 5, (8, 4)), temperature=0.7)


@needs_extended
def test_a_batch_sized_array_is_correctly_rounded_in_every_element_checked():
    # 2,500 rows × 10: a batch block's size, larger than rounding.MAX_EXACT_SIZE, where the
    # registry's callers without a second stage would keep the long-double rounding
    rng = np.random.default_rng(45)
    z = 4.0 * rng.standard_normal((2500, 10))
    tail = rng.random(z.shape) < 0.02
    z[tail] = rng.uniform(-1000, 1000, tail.sum())
    assert z.size > rounding.MAX_EXACT_SIZE
    r = softmax_all(z)
    targets = rng.integers(0, 10, len(z))
    ce = losses.cross_entropy(z, target=targets)
    hard = doubtful_rows(z)
    assert len(hard) > 100
    check = np.concatenate([hard[:40], rng.choice(len(z), 10, replace=False)])
    for row in check:
        sm, comp, lsm, lse = exact_parts(z[row])
        c = int(targets[row])
        assert r.softmax[row].tolist() == rounded(sm).tolist()
        assert r.log_softmax[row].tolist() == rounded(lsm).tolist()
        assert r.logsumexp[row] == rounded([lse])[0]
        with mpmath.workprec(4200):
            assert ce.loss[row] == rounded([-lsm[c]])[0]
            assert ce.grad[row].tolist() == rounded([-comp[i] if i == c else sm[i] for i in range(10)]).tolist()
    # and the batch gives each row what the row alone gives
    for row in check[:10]:
        alone = softmax_all(z[row])
        assert alone.softmax.tolist() == r.softmax[row].tolist()
        assert alone.log_softmax.tolist() == r.log_softmax[row].tolist()


@needs_extended
@pytest.mark.filterwarnings("ignore::dlcalc.errors.NumericWarning")  # −inf logits: probability 0
def test_second_stage_rows_with_minus_inf_logits_and_long_rows():
    rng = np.random.default_rng(46)
    z = rng.normal(0, 3, (30, 6))
    z[:, 2] = -np.inf
    assert_every_element_correctly_rounded(z[doubtful_rows(np.where(np.isinf(z), -1e4, z))[:6]])
    long = rng.normal(0, 3, (2, 5000))
    r = softmax_all(long)
    for row in range(2):
        sm, _, lsm, lse = exact_parts(long[row])
        picked = rng.choice(5000, 50, replace=False)
        assert r.softmax[row][picked].tolist() == rounded([sm[i] for i in picked]).tolist()
        assert r.log_softmax[row][picked].tolist() == rounded([lsm[i] for i in picked]).tolist()
        assert r.logsumexp[row] == rounded([lse])[0]


@needs_extended
def test_the_long_double_values_stay_within_their_stated_error_bounds(monkeypatch):
    # every element made a candidate, so that the exact test sees every value with its bound;
    # the second stage's double-doubles (within 2^-90) are the reference
    L = np.longdouble
    seen = []
    from dlcalc import rounding as r

    exact_test = r._margin_test

    def every(approx, y, ulps, scale):
        if scale is not None:  # logsumexp: its bound is given directly
            seen.append((approx.reshape(-1).copy(), np.broadcast_to(scale, approx.shape).reshape(-1) * ulps))
        return np.ones(approx.shape, dtype=bool)

    def record(approx, ulps, scale):
        seen.append((approx.copy(), np.asarray(scale, dtype=float) * ulps))
        return exact_test(approx, ulps, scale)

    monkeypatch.setattr(r, "_doubtful", every)
    monkeypatch.setattr(r, "_margin_test", record)
    rng = np.random.default_rng(47)
    for n in (2, 10, 60):
        for spread in (1.0, 5.0, 40.0, 300.0):
            z = rng.normal(0, spread, (300, n))
            k = np.argmax(z, axis=-1)
            m = z[np.arange(len(z)), k]
            d, e = softmax_core._two_diff(z, m[:, None])
            hot = np.arange(n) == k[:, None]
            dd = softmax_core._dd_rows(d, e, hot, m)
            for name in softmax_core.QUANTITIES:
                seen.clear()
                softmax_core._extended_values(d, e, hot, m, {name: None})
                approx = np.concatenate([a for a, _ in seen])
                bound = np.concatenate([b for _, b in seen])
                hi, lo, _, scale_k = dd[name]
                with np.errstate(all="ignore"):
                    error = np.abs((approx - np.ldexp(hi.astype(L), scale_k).reshape(-1))
                                   - np.ldexp(lo.astype(L), scale_k).reshape(-1))
                    ratio = error / (bound.astype(L) * L(2.0 ** -63))
                ratio = ratio[np.isfinite(ratio)]
                assert ratio.size and ratio.max() < 0.9, (name, n, spread, float(ratio.max()))
