r"""KL divergence between diagonal Gaussians (SPEC §5, `kl --gaussian`): the VAE term.

    D_KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = ½·(σ₁²/σ₂² + (μ₁ − μ₂)²/σ₂² − 1 + ln(σ₂²/σ₁²))

per dimension, summed over the dimensions of a diagonal Gaussian; Q defaults to N(0, 1), which
makes it the regulariser of a variational auto-encoder, ½·Σ(σ² + μ² − 1 − ln σ²). Values are
those of `torch.distributions.kl_divergence(Normal(μ₁, σ₁), Normal(μ₂, σ₂))`.

Stability. With t = ln(σ₁²/σ₂²) the formula is ½·(e^t − 1 − t) + ½·((μ₁ − μ₂)/σ₂)²: two terms
of one sign, so their sum never cancels. The first is computed as expm1(t) − t, and for
|t| < ½ as its series Σ_{k≥2} t^k/k!, because where σ₁ ≈ σ₂ the textbook form
r − 1 − ln r (r = σ₁²/σ₂²) loses every digit: at σ₁ = 1 + 1e-9, σ₂ = 1 it gives 0 or 2.2e-16
where the exact value is 2e-18. t itself comes without cancellation: from standard deviations
as 2·log1p((σ₁ − σ₂)/σ₂) when they are close (then σ₁ − σ₂ is exact) and 2·ln(σ₁/σ₂)
otherwise, from log-variances (the
`logvar` of VAE code) as logvar₁ − logvar₂ (exact when close).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlcalc.errors import DlcalcError
from dlcalc.steps import Step

# Terms of Σ_{k≥2} t^k/k! for |t| < ½: the 20th is below 2^-53 of the first.
_SERIES_TERMS = 20


@dataclass(frozen=True)
class GaussianKL:
    """KL(P‖Q) of diagonal Gaussians: `kl` the sum of the per-dimension `terms`; `variance_terms`
    ½(σ₁²/σ₂² − 1 − ln(σ₁²/σ₂²)) and `mean_terms` ½(μ₁ − μ₂)²/σ₂² add up to `terms`."""

    mu: np.ndarray
    sigma: np.ndarray
    q_mu: np.ndarray
    q_sigma: np.ndarray
    log_variance_ratio: np.ndarray  # t = ln(σ₁²/σ₂²)
    variance_terms: np.ndarray
    mean_terms: np.ndarray
    terms: np.ndarray
    kl: float
    base: str = "e"


def _expm1_minus_x(t: np.ndarray) -> np.ndarray:
    """e^t − 1 − t without cancellation (≥ 0 for every t)."""
    t = np.asarray(t, dtype=np.float64)
    small = np.abs(t) < 0.5
    with np.errstate(all="ignore"):
        direct = np.expm1(t) - t
    ts = np.where(small, t, 0.0)
    term = ts * ts / 2
    total = np.zeros_like(ts)
    for k in range(3, _SERIES_TERMS + 3):  # Horner would be shorter; this adds small to large
        total = total + term
        term = term * ts / k
    return np.where(small, total, direct)


def _mp_gaussian(logvar: bool, bits: bool, what: str, n: int = 1):
    """A result of `gaussian_kl` by its definition in mpmath, of args (μ₁…, s₁…, μ₂…, s₂…)
    (n dimensions; s: standard deviations, or log-variances with `logvar`)."""
    def value(*args):
        import mpmath

        mu, s1, q_mu, s2 = (args[k * n:(k + 1) * n] for k in range(4))
        if what == "sigma":
            return mpmath.exp(s1[0] / 2)
        ts = [a - b if logvar else 2 * mpmath.log(a / b) for a, b in zip(s1, s2)]
        if what == "t":
            return ts[0]
        sd2 = [mpmath.exp(b / 2) if logvar else b for b in s2]
        variance = [(mpmath.expm1(t) - t) / 2 for t in ts]
        mean = [((a - b) / c) ** 2 / 2 for a, b, c in zip(mu, q_mu, sd2)]
        found = {"variance": variance[0], "mean": mean[0], "term": variance[0] + mean[0],
                 "kl": mpmath.fsum(variance) + mpmath.fsum(mean)}[what]
        return found / mpmath.log(2) if bits else found
    return value


def _rounded_once(mu, s1, q_mu, s2, logvar: bool, bits: bool, sigma1, sigma2):
    """(σ₁, σ₂, t, variance terms, mean terms, terms, KL) of the float64 formulas above, computed
    in x87 long double and rounded once (`rounding.round_each`: the doubtful ones by mpmath).

    Bounds in long-double ulps: e^(s/2) 2 (expl); t = 2·log1p((σ₁ − σ₂)/σ₂) or 2·ln(σ₁/σ₂) 5
    (the difference exact, the quotient ½, the log 2 magnified at most 1.4 and 2.5 times), or
    s₁ − s₂ ½; ½(e^t − 1 − t) 16 of itself for |t| < ½ (twice t's error, the series 2) and of
    ½(|e^t − 1| + |t|) beyond (expm1 − t cancels up to 8.4-fold); ½((μ₁ − μ₂)/σ₂)² 8 (the
    quotient squared); a term 16 of the sum of those scales, KL 16 + n of their total;
    ÷ ln 2 for bits: 2 more."""
    from dlcalc import rounding

    L = np.longdouble
    n = mu.size
    args = mu.tolist() + s1.tolist() + q_mu.tolist() + s2.tolist()
    extra = 2 if bits else 0
    ln2 = np.log(L(2))

    def base(value):
        return value / ln2 if bits else value

    def each(what):
        return lambda i: (_mp_gaussian(logvar, bits and what not in ("sigma", "t"), what),
                          [mu[i], s1[i], q_mu[i], s2[i]])

    with np.errstate(all="ignore"):
        S1, S2, D = s1.astype(L), s2.astype(L), mu.astype(L) - q_mu.astype(L)
        if logvar:
            T = S1 - S2
            sd1, sd2 = (rounding.round_each(np.exp(S / 2), lambda i, k=k: (_mp_gaussian(False, False, "sigma"),
                                                                          [0.0, args[k * n + i], 0.0, 0.0]), ulps=4)
                        for k, S in ((1, S1), (3, S2)))
            inverse = np.exp(-S2 / 2)
            t = None
        else:
            close = np.abs(s1 - s2) < 0.5 * s2
            T = 2 * np.where(close, np.log1p((S1 - S2) / S2), np.log(S1 / S2))
            sd1, sd2 = sigma1, sigma2
            inverse = 1 / S2
            t = rounding.round_each(T, each("t"), ulps=6)
        small = np.abs(T) < 0.5
        series = np.zeros_like(T)
        term = T * T / 2
        for k in range(3, 27):  # 24 terms: below 2^-70 of the first for |t| < ½
            series += term
            term = term * T / k
        em1 = np.expm1(T)
        V = np.where(small, series, em1 - T) / 2
        v_scale = np.where(small, V, (np.abs(em1) + np.abs(T)) / 2)
        scaled = D * inverse
        M = scaled * scaled / 2
        variance = rounding.round_each(base(V), each("variance"), ulps=16 + extra, scale=base(v_scale))
        mean = rounding.round_each(base(M), each("mean"), ulps=8 + extra)
        terms = rounding.round_each(base(V + M), each("term"), ulps=16 + extra, scale=base(v_scale + M))
        kl = rounding.round_each(base(np.sum(V + M)), lambda i: (_mp_gaussian(logvar, bits, "kl", n), args),
                                 ulps=16 + n + extra, scale=base(np.sum(v_scale + M)))
    return sd1, sd2, t, variance, mean, terms, float(kl[0])


def _as_vector(values, name: str) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.ndim != 1 or array.size == 0:
        raise DlcalcError(f"{name} must be a vector of one or more numbers")
    if not np.isfinite(array).all():
        i = int(np.flatnonzero(~np.isfinite(array))[0])
        raise DlcalcError(f"{name}[{i}] = {float(array[i])!r} is not a finite number")
    return array


def gaussian_kl(mu, sigma, q_mu=0.0, q_sigma=1.0, *, logvar: bool = False,
                base: str = "e") -> GaussianKL:
    """KL(N(mu, sigma²) ‖ N(q_mu, q_sigma²)) summed over dimensions (see the module docstring).

    `sigma` and `q_sigma` are standard deviations (> 0), or log-variances ln σ² with
    `logvar=True`. Scalars broadcast against vectors (the default Q is N(0, 1) in every
    dimension). `base` "2" gives bits.
    """
    if base not in ("e", "2"):
        raise DlcalcError(f"unknown base {base!r}; choose e (nats) or 2 (bits)")
    what = "log-variance" if logvar else "sigma"
    arrays = [_as_vector(mu, "mu"), _as_vector(sigma, what), _as_vector(q_mu, "Q's mu"),
              _as_vector(q_sigma, f"Q's {what}")]
    sizes = {a.size for a in arrays} - {1}
    if len(sizes) > 1:
        raise DlcalcError("mu, sigma and Q's mu and sigma must have the same length "
                          f"(or one number each); got lengths {', '.join(str(a.size) for a in arrays)}")
    n = sizes.pop() if sizes else 1
    mu, s1, q_mu, s2 = (np.broadcast_to(a, (n,)).astype(np.float64) for a in arrays)
    if not logvar:
        for values, name in ((s1, "sigma"), (s2, "Q's sigma")):
            if np.any(values <= 0):
                i = int(np.flatnonzero(values <= 0)[0])
                raise DlcalcError(f"{name}[{i}] = {float(values[i])!r}: a standard deviation must be > 0 "
                                  "(or give log-variances ln σ², which may be any number)")
    with np.errstate(all="ignore"):
        if logvar:
            t = s1 - s2
            inverse_sd2 = np.exp(-0.5 * s2)  # 1/σ₂
            sigma1, sigma2 = np.exp(0.5 * s1), np.exp(0.5 * s2)
        else:
            close = np.abs(s1 - s2) < 0.5 * s2  # log1p where σ₁/σ₂ ≈ 1, log of the ratio elsewhere
            t = 2 * np.where(close, np.log1p((s1 - s2) / s2), np.log(s1 / s2))
            inverse_sd2 = 1 / s2
            sigma1, sigma2 = s1, s2
        variance_terms = 0.5 * _expm1_minus_x(t)
        scaled = (mu - q_mu) * inverse_sd2
        mean_terms = 0.5 * (scaled * scaled)
        terms = variance_terms + mean_terms
        kl = float(math.fsum(terms.tolist())) if np.isfinite(terms).all() else float(np.sum(terms))
    if base == "2":
        variance_terms, mean_terms, terms = (a / math.log(2) for a in (variance_terms, mean_terms, terms))
        kl = kl / math.log(2)
    from dlcalc import exact

    if exact.EXTENDED:  # the same forms in x87 long double, each result rounded once
        exact_t = t if logvar else None  # from log-variances t = s₁ − s₂ is a correctly rounded difference
        sigma1, sigma2, t, variance_terms, mean_terms, terms, kl = _rounded_once(
            mu, s1, q_mu, s2, logvar, base == "2", sigma1, sigma2)
        t = t if exact_t is None else exact_t
    return GaussianKL(mu=mu, sigma=sigma1, q_mu=q_mu, q_sigma=sigma2, log_variance_ratio=t,
                      variance_terms=variance_terms, mean_terms=mean_terms, terms=terms, kl=kl,
                      base=base)


def explain_gaussian_kl(result: GaussianKL) -> list[Step]:
    """The formula, the stable form, each dimension's two terms and their sum, the total."""
    from dlcalc.number_text import latex_number, people_number

    def text(value: float) -> str:
        return people_number(value, 6)

    def tex(value: float) -> str:
        return latex_number(value, 6)

    unit = "bits" if result.base == "2" else "nats"
    steps = [
        Step(text="D_KL(N(μ₁,σ₁²) ‖ N(μ₂,σ₂²)) = ½(σ₁²/σ₂² − 1 − ln(σ₁²/σ₂²)) + ½(μ₁ − μ₂)²/σ₂²",
             latex=r"D_{KL} = \tfrac12\left(\frac{\sigma_1^2}{\sigma_2^2} - 1 - \ln\frac{\sigma_1^2}"
                   r"{\sigma_2^2}\right) + \tfrac12\,\frac{(\mu_1-\mu_2)^2}{\sigma_2^2}",
             rule="Gaussian KL"),
        Step(text="variance term with t = ln(σ₁²/σ₂²): ½(e^t − 1 − t), no cancellation when σ₁ ≈ σ₂",
             latex=r"t = \ln\frac{\sigma_1^2}{\sigma_2^2},\quad \tfrac12(e^t - 1 - t)",
             rule="stable form"),
    ]
    columns = (result.mu, result.sigma, result.q_mu, result.q_sigma, result.log_variance_ratio,
               result.variance_terms, result.mean_terms, result.terms)
    for i in range(result.terms.size):
        m1, s1, m2, s2, t, v, m, k = (text(a[i]) for a in columns)
        l_m1, l_s1, l_m2, l_s2, l_t, l_v, l_m, l_k = (tex(a[i]) for a in columns)
        steps.append(Step(
            text=f"i={i}: μ₁={m1}, σ₁={s1}, μ₂={m2}, σ₂={s2}: t = {t}; "
                 f"variance term {v} + mean term {m} = {k}",
            latex=rf"i={i}:\ \mu_1={l_m1},\ \sigma_1={l_s1},\ \mu_2={l_m2},\ \sigma_2={l_s2}:\ "
                  rf"t={l_t};\ {l_v} + {l_m} = {l_k}",
            rule="term", depth=1))
    steps.append(Step(text=f"D_KL = Σ_i terms = {text(result.kl)} {unit}",
                      latex=rf"D_{{KL}} = \sum_i = {tex(result.kl)}\ \text{{{unit}}}", rule="sum"))
    return steps
