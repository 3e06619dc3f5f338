"""KL between diagonal Gaussians (oracles: torch.distributions.kl_divergence, mpmath)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from dlcalc.errors import DlcalcError
from dlcalc.gaussian import explain_gaussian_kl, gaussian_kl
from tests.conftest import assert_user_error, floats, strict_json


def exact_kl(mu1, s1, mu2, s2) -> float:
    """The closed form at 700 digits (enough for a mean difference of 1e-300 beside the ½ it
    is added to), summed over dimensions, rounded once."""
    with mpmath.workdps(700):
        total = mpmath.mpf(0)
        for a, b, c, d in zip(mu1, s1, mu2, s2):
            a, b, c, d = map(mpmath.mpf, (a, b, c, d))
            total += mpmath.log(d / b) + (b ** 2 + (a - c) ** 2) / (2 * d ** 2) - mpmath.mpf(1) / 2
        return float(total)


@pytest.mark.parametrize("mu,sigma,q_mu,q_sigma", [
    ([0.5, -1.0], [0.8, 1.2], [0.0, 0.0], [1.0, 1.0]),
    ([3.0], [0.1], [-2.0], [5.0]),
    ([0.0, 1.0, 2.0], [2.0, 0.5, 3.0], [1.0, 1.0, 1.0], [0.3, 0.7, 1.5]),
])
def test_matches_torch_distributions_kl_divergence(mu, sigma, q_mu, q_sigma):
    torch = pytest.importorskip("torch")
    from torch.distributions import Normal, kl_divergence

    def t(values):
        return torch.tensor(values, dtype=torch.float64)

    theirs = kl_divergence(Normal(t(mu), t(sigma)), Normal(t(q_mu), t(q_sigma))).sum().item()
    ours = gaussian_kl(mu, sigma, q_mu, q_sigma).kl
    assert ours == pytest.approx(theirs, rel=1e-14)
    assert ours == pytest.approx(exact_kl(mu, sigma, q_mu, q_sigma), rel=4e-16)


def test_the_default_q_is_the_standard_normal_the_vae_term():
    mu, sigma = np.array([0.3, -0.7]), np.array([0.9, 1.4])
    vae = 0.5 * np.sum(sigma ** 2 + mu ** 2 - 1 - np.log(sigma ** 2))  # the VAE paper's form
    assert gaussian_kl(mu, sigma).kl == pytest.approx(vae, rel=1e-14)


def test_log_variance_input_gives_the_same_kl():
    mu, sigma = [0.5, -1.0], [0.8, 1.2]
    logvar = [2 * math.log(s) for s in sigma]
    assert gaussian_kl(mu, logvar, 0.0, 0.0, logvar=True).kl == pytest.approx(
        gaussian_kl(mu, sigma).kl, rel=1e-14)


@pytest.mark.parametrize("sigma", [1 + 1e-9, 1 - 1e-12, 1 + 2 ** -40, 1.001])
def test_nearly_equal_deviations_do_not_cancel(sigma):
    # r − 1 − ln r loses every digit here; the exact value is about (σ − 1)²
    exact = exact_kl([0.0], [sigma], [0.0], [1.0])
    assert gaussian_kl(0.0, sigma).kl == pytest.approx(exact, rel=1e-14)


@settings(max_examples=examples(200), deadline=None)
@given(st.floats(-5, 5), st.floats(-8, 8), st.floats(-5, 5), st.floats(-8, 8))
def test_non_negative_zero_only_for_equal_gaussians_and_exact(mu1, log_s1, mu2, log_s2):
    s1, s2 = math.exp(log_s1), math.exp(log_s2)
    found = gaussian_kl(mu1, s1, mu2, s2).kl
    assert found >= 0
    assert found == pytest.approx(exact_kl([mu1], [s1], [mu2], [s2]), rel=1e-13, abs=1e-300)
    assert gaussian_kl(mu1, s1, mu1, s1).kl == 0


@pytest.mark.parametrize("sigma,fragment", [([0.0], "sigma[0] = 0.0"), ([1.0, -2.0], "sigma[1] = -2.0")])
def test_non_positive_deviation_is_an_error(sigma, fragment):
    with pytest.raises(DlcalcError, match=r"must be > 0") as raised:
        gaussian_kl([0.0] * len(sigma), sigma)
    assert fragment in str(raised.value)


def test_lengths_must_agree():
    with pytest.raises(DlcalcError, match="same length"):
        gaussian_kl([0.0, 1.0], [1.0, 1.0, 1.0])


def test_explain_shows_the_formula_and_each_term():
    steps = explain_gaussian_kl(gaussian_kl([0.5, -1.0], [0.8, 1.2]))
    assert "ln(σ₁²/σ₂²)" in steps[0].text
    assert sum(step.rule == "term" for step in steps) == 2
    assert "0.705822" in steps[-1].text  # ½(0.64 + 0.25 − 1 − ln 0.64) + ½(1.44 + 1 − 1 − ln 1.44)


# ---------------------------------------------------------------- the command


def test_cli_gaussian_in_every_format(dl):
    plain = dl("kl", "--gaussian", "0.5,-1", "0.8,1.2")
    assert plain.code == 0
    assert floats(plain.out) == [pytest.approx(exact_kl([0.5, -1], [0.8, 1.2], [0, 0], [1, 1]), rel=1e-15)]
    data = strict_json(dl("kl", "--gaussian", "0.5,-1", "0.8,1.2", "--json").out)
    assert data["kl"] == float(plain.out) and len(data["terms"]) == 2
    for fmt in ("table", "csv", "markdown", "latex"):
        run = dl("kl", "--gaussian", "0.5,-1", "0.8,1.2", "--explain", "-f", fmt)
        assert run.code == 0 and run.out.strip(), fmt


def test_cli_gaussian_with_q_and_logvar(dl):
    run = dl("kl", "--gaussian", "0.5", "-0.4", "--logvar", "--q-gaussian", "1", "0.2")
    expected = exact_kl([0.5], [math.exp(-0.2)], [1.0], [math.exp(0.1)])
    assert run.code == 0 and float(run.out) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("args,fragment", [
    (["--gaussian", "0", "-1"], "must be > 0"),
    (["--gaussian", "0", "0"], "must be > 0"),
    (["--q-gaussian", "0", "1"], "--gaussian MU SIGMA"),
    (["--gaussian", "0,1", "1,1,1"], "same length"),
    (["--gaussian", "0", "1", "--logits"], "--logits does not apply"),
    (["0.5", "0.5", "--gaussian", "0", "1"], "remove the distribution P"),
])
def test_cli_gaussian_errors(dl, args, fragment):
    assert_user_error(dl("kl", *args), fragment)


# ---------------------------------------------------------------- batch: kl --gaussian - -

BATCH = [("0.5 -1", "0.8 1.2"), ("3", "0.1"), ("0 1 2", "2 0.5 3"), ("1e-300", "1")]


def _one_shot(dl, mu: str, sigma: str, *more: str):
    return dl("kl", "--gaussian", mu.replace(" ", ","), sigma.replace(" ", ","), *more)


@pytest.mark.parametrize("more", [[], ["--logvar"], ["--q-gaussian", "1", "2"], ["--base", "2"]])
def test_batch_plain_is_one_shot_line_by_line(dl, more):
    stdin = "".join(f"{mu} ; {sigma}\n" for mu, sigma in BATCH)
    run = dl("kl", "--gaussian", "-", "-", *more, stdin=stdin)
    assert run.code == 0 and run.err == ""
    lines = run.out.splitlines()
    assert len(lines) == len(BATCH)
    for line, (mu, sigma) in zip(lines, BATCH):
        assert line == _one_shot(dl, mu, sigma, *more).out.strip()


def test_batch_values_are_the_closed_form(dl):
    stdin = "".join(f"{mu} ; {sigma}\n" for mu, sigma in BATCH)
    run = dl("kl", "--gaussian", "-", "-", "--q-gaussian", "1", "2", stdin=stdin)
    for value, (mu, sigma) in zip(floats(run.out), BATCH):
        m, s = floats(mu), floats(sigma)
        assert value == pytest.approx(exact_kl(m, s, [1.0] * len(m), [2.0] * len(m)), rel=1e-14)


def test_batch_json_is_one_shot_object_per_line(dl):
    stdin = "".join(f"{mu} ; {sigma}\n" for mu, sigma in BATCH)
    run = dl("kl", "--gaussian", "-", "-", "--logvar", "--json", stdin=stdin)
    assert run.code == 0
    objects = [strict_json(line) for line in run.out.splitlines()]
    assert [o.pop("line") for o in objects] == [1, 2, 3, 4]
    for found, (mu, sigma) in zip(objects, BATCH):
        assert found == strict_json(_one_shot(dl, mu, sigma, "--logvar", "--json").out)


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "latex"])
def test_batch_every_format(dl, fmt):
    run = dl("kl", "--gaussian", "-", "-", "--explain", "-f", fmt, stdin="0.5 ; 0.8\n1 2 ; 1 1\n")
    assert run.code == 0 and run.out.strip()


def test_batch_bad_lines_are_named_and_the_others_processed(dl):
    stdin = "0.5 ; 0.8\n1 ; 2\n0 ; -1\n1 2 ; 1 1 1\n0.5\n3 ; 0.1\n"
    run = dl("kl", "--gaussian", "-", "-", stdin=stdin)
    assert run.code == 2
    assert run.out.splitlines() == [_one_shot(dl, mu, sigma).out.strip()
                                    for mu, sigma in [("0.5", "0.8"), ("1", "2"), ("3", "0.1")]]
    errors = run.err.splitlines()
    assert errors[0].startswith("error: line 3: ") and "must be > 0" in errors[0]
    assert errors[1].startswith("error: line 4: ") and "same length" in errors[1]
    assert errors[2].startswith("error: line 5: ") and "';'" in errors[2]
    assert len(errors) == 3


@pytest.mark.skipif(not __import__("dlcalc.exact", fromlist=["EXTENDED"]).EXTENDED,
                    reason="correct rounding needs the x87 long double (float64 elsewhere: a few ulp)")
def test_every_printed_number_is_correctly_rounded_against_mpmath():
    # the float64 formulas were a few ulp off (2 of the 4 numbers of the README's example);
    # now each is the exact value rounded once, σ₁ ≈ σ₂ and log-variances and bits included
    from dlcalc.rounding import to_float64

    rng = np.random.default_rng(12)
    wrong = []
    for trial in range(60):
        n = int(rng.integers(1, 4))
        logvar, bits = trial % 2 == 1, trial % 3 == 0
        mu, q_mu = rng.standard_normal(n), rng.standard_normal(n)
        s1 = rng.standard_normal(n) if logvar else np.exp(rng.standard_normal(n))
        s2 = s1 + 1e-9 * rng.standard_normal(n) if trial % 4 == 0 else (
            rng.standard_normal(n) if logvar else np.exp(rng.standard_normal(n)))
        r = gaussian_kl(mu, s1, q_mu, s2, logvar=logvar, base="2" if bits else "e")
        with mpmath.workprec(200):
            M, S1, QM, S2 = ([mpmath.mpf(float(v)) for v in a] for a in (mu, s1, q_mu, s2))
            ln = mpmath.log(2) if bits else 1
            T = [a - b if logvar else 2 * mpmath.log(a / b) for a, b in zip(S1, S2)]
            sd1 = [mpmath.exp(a / 2) if logvar else a for a in S1]
            sd2 = [mpmath.exp(b / 2) if logvar else b for b in S2]
            V = [(mpmath.expm1(t) - t) / 2 / ln for t in T]
            E = [((a - b) / c) ** 2 / 2 / ln for a, b, c in zip(M, QM, sd2)]
            expected = {"sigma": sd1, "q_sigma": sd2, "log_variance_ratio": T, "variance_terms": V,
                        "mean_terms": E, "terms": [v + e for v, e in zip(V, E)], "kl": [mpmath.fsum(V + E)]}
            for name, values in expected.items():
                got = np.atleast_1d(getattr(r, name)).tolist()
                wrong += [(trial, name, g, e) for g, e in zip(got, values) if g != to_float64(e)]
    assert not wrong, wrong[:5]
