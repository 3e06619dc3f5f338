"""`dlcalc kl` through the real command line (SPEC §1, §5; issue #3).

Oracles: mpmath at 200 bits (Σ p·log(p/q) exactly), scipy.stats.entropy and
scipy.spatial.distance.jensenshannon, torch.nn.functional.kl_div on log-softmax, closed forms
(bits = nats / ln 2, D_KL = H(P,Q) − H(P)).
"""

from __future__ import annotations

import math
import shlex
import subprocess
import sys

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_user_error, examples, strict_json, ulps

mpmath.mp.prec = 200

P = ["0.7", "0.2", "0.1"]
Q = ["0.6", "0.3", "0.1"]


def exact_kl(p, q):
    return mpmath.fsum(mpmath.mpf(float(a)) * mpmath.log(mpmath.mpf(float(a)) / mpmath.mpf(float(b)))
                       for a, b in zip(p, q) if float(a) > 0)






# ---------------------------------------------------------------- issue #3: done when


def test_q_zero_where_p_positive_is_inf_with_a_warning_naming_the_element(dl):
    run = dl("kl", "0.5", "0.5", "--q", "1", "0")
    assert (run.code, run.out) == (0, "inf\n")
    warnings = [line for line in run.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "[1]" in warnings[0] and "q[1] = 0" in warnings[0]
    assert "nan" not in run.out + run.err and "overflow" not in run.err.lower()


def test_softmax_piped_into_kl_in_a_real_shell_equals_kl_computed_directly():
    python = shlex.quote(sys.executable)
    pipeline = f"{python} -m dlcalc softmax 2 1 0.1 | {python} -m dlcalc kl - --q 0.2 0.3 0.5"
    piped = subprocess.run(["bash", "-c", f"set -o pipefail; {pipeline}"], capture_output=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == b""
    softmax = subprocess.run([sys.executable, "-m", "dlcalc", "softmax", "2", "1", "0.1"],
                             capture_output=True, timeout=60).stdout.decode().split()
    direct = subprocess.run([sys.executable, "-m", "dlcalc", "kl", *softmax, "--q", "0.2", "0.3", "0.5"],
                            capture_output=True, timeout=60)
    assert piped.stdout == direct.stdout  # nothing is lost in the pipe: shortest round-trip repr
    # and that is KL(softmax([2, 1, 0.1]) ‖ Q) exactly
    zs = [mpmath.mpf(2), mpmath.mpf(1), mpmath.mpf(0.1)]
    total = mpmath.fsum(mpmath.exp(v) for v in zs)
    p = [mpmath.exp(v) / total for v in zs]
    exact = mpmath.fsum(a * mpmath.log(a / mpmath.mpf(b)) for a, b in zip(p, [0.2, 0.3, 0.5]))
    assert float(piped.stdout) == pytest.approx(float(exact), rel=1e-15)


# ---------------------------------------------------------------- values and options


def test_kl_and_its_decomposition_match_scipy(dl):
    from scipy.stats import entropy

    data = strict_json(dl("kl", *P, "--q", *Q, "--json").out)
    p, q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
    assert ulps(data["kl"], exact_kl(p, q)) <= 4
    assert data["kl"] == pytest.approx(entropy(p, q), rel=1e-14)
    assert data["entropy"] == pytest.approx(entropy(p), rel=1e-15)
    cross = -sum(a * math.log(b) for a, b in zip(p, q))
    assert data["cross_entropy"] == pytest.approx(cross, rel=1e-15)
    # the notes: D_KL = H(P,Q) − H(P)
    assert data["kl"] == pytest.approx(data["cross_entropy"] - data["entropy"], rel=1e-13)
    assert float(dl("kl", *P, "--q", *Q).out) == data["kl"]


def test_kl_of_a_one_hot_p_is_the_cross_entropy(dl):
    kl = float(dl("kl", "1", "0", "0", "--q", "0.659", "0.242", "0.099").out)
    assert ulps(kl, -mpmath.log(mpmath.mpf(0.659))) <= 2  # the notes: −log 0.659 = 0.417
    assert round(kl, 3) == 0.417


def test_zero_p_terms_contribute_nothing(dl):
    assert dl("kl", "0", "1", "--q", "0", "1").out == "0\n"
    run = dl("kl", "0", "0.5", "0.5", "--q", "0", "0.25", "0.75", "--json")
    data = strict_json(run.out)
    assert data["terms"][0] == 0 and run.err == ""
    assert ulps(data["kl"], exact_kl([0, 0.5, 0.5], [0, 0.25, 0.75])) <= 4


def test_normalize_accepts_unnormalised_weights(dl):
    assert_user_error(dl("kl", "0.7", "0.2", "0.2", "--q", *Q), "P sums to 1.1", "normalize")
    assert_user_error(dl("kl", *P, "--q", "6", "3", "1"), "Q[0] = 6", "greater than 1")
    run = dl("kl", "7", "2", "1", "--q", "6", "3", "1", "--normalize")
    assert run.code == 0
    assert float(run.out) == pytest.approx(float(exact_kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1])), rel=1e-14)
    table = dl("kl", "7", "2", "1", "--q", "6", "3", "1", "--normalize", "-f", "table").out
    assert "0.7" in table and "0.6" in table  # the normalised P and Q are shown


def test_logits_match_torch_kl_div_on_log_softmax(dl):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    zp, zq = [2.0, 1.0, 0.1], [0.0, 0.5, -1.0]
    got = float(dl("kl", *map(str, zp), "--q", *map(str, zq), "--logits").out)
    log_p = torch.log_softmax(torch.tensor(zp, dtype=torch.float64), 0)
    log_q = torch.log_softmax(torch.tensor(zq, dtype=torch.float64), 0)
    expected = F.kl_div(log_q, log_p, log_target=True, reduction="sum").item()
    assert got == pytest.approx(expected, rel=1e-13)


def test_logits_never_overflow(dl):
    run = dl("kl", "1000", "0", "--q", "0", "1000", "--logits")
    # P ≈ [1, e^-1000], Q ≈ [e^-1000, 1]: D_KL = log p_0 − log q_0 = 0 − (−1000)
    assert (run.out, run.err) == ("1000\n", "")
    assert "nan" not in dl("kl", "1e300", "-1e300", "--q", "-1e300", "1e300", "--logits").out


def test_base_2_is_nats_over_ln2(dl):
    from scipy.stats import entropy

    nats = strict_json(dl("kl", *P, "--q", *Q, "--json", "--symmetric").out)
    bits = strict_json(dl("kl", *P, "--q", *Q, "--json", "--symmetric", "--base", "2").out)
    for key in ("kl", "cross_entropy", "entropy", "kl_reverse", "js"):
        assert bits[key] == pytest.approx(nats[key] / math.log(2), rel=1e-14), key
    assert bits["kl"] == pytest.approx(entropy([0.7, 0.2, 0.1], [0.6, 0.3, 0.1], base=2), rel=1e-14)
    assert bits["base"] == "bits"


@pytest.mark.parametrize("base, scipy_base", [("e", None), ("2", 2)])
def test_symmetric_adds_reverse_kl_and_jensen_shannon(dl, base, scipy_base):
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import entropy

    p, q = [0.7, 0.2, 0.1], [0.1, 0.3, 0.6]
    data = strict_json(dl("kl", *map(str, p), "--q", *map(str, q), "--symmetric", "--base", base, "--json").out)
    assert data["kl_reverse"] == pytest.approx(entropy(q, p, base=scipy_base), rel=1e-14)
    # scipy's jensenshannon is the distance, the square root of the divergence
    assert data["js"] == pytest.approx(jensenshannon(p, q, base=scipy_base) ** 2, rel=1e-12)
    table = dl("kl", *map(str, p), "--q", *map(str, q), "--symmetric", "--base", base, "-f", "table").out
    assert "D_KL(Q‖P)" in table and "JS(P, Q)" in table


def test_symmetric_with_disjoint_support(dl):
    run = dl("kl", "1", "0", "--q", "0.5", "0.5", "--symmetric", "--json")
    data = strict_json(run.out)
    assert data["kl"] == pytest.approx(math.log(2), rel=1e-15)
    assert data["kl_reverse"] == "inf" and "p[1] = 0" in run.err
    assert data["js"] == pytest.approx(1.5 * math.log(2) - 0.75 * math.log(3), rel=1e-14)  # closed form


def test_explain_works_term_by_term(dl):
    text = dl("kl", *P, "--q", *Q, "--explain", "-f", "table").out
    assert "term 0: 0.7 × log(0.7 / 0.6) ≈ 0.107905" in text
    assert "term 1: 0.2 × log(0.2 / 0.3) ≈ -0.081093" in text
    assert "D_KL = H(P,Q) − H(P) = 0.828631 − 0.801819 ≈ 0.0268125" in text
    infinite = dl("kl", "0.5", "0.5", "--q", "1", "0", "--explain", "-f", "table")
    assert "p_1 = 0.5 > 0 where q_1 = 0: the term is inf" in infinite.out
    assert infinite.err.count("warning:") == 1  # the explanation does not repeat the warning
    symmetric = dl("kl", *P, "--q", *Q, "--explain", "--symmetric", "-f", "table").out
    assert "reverse" in symmetric and "Jensen–Shannon" in symmetric
    plain = dl("kl", *P, "--q", *Q, "--explain").out
    assert plain.endswith("\n" + dl("kl", *P, "--q", *Q).out) and "term 0:" in plain


# ---------------------------------------------------------------- formats


def test_json_has_the_spec_keys(dl):
    data = strict_json(dl("kl", *P, "--q", *Q, "--json").out)
    assert {"kl", "cross_entropy", "entropy"} <= data.keys()
    assert not {"kl_reverse", "js"} & data.keys()
    assert {"kl_reverse", "js"} <= strict_json(dl("kl", *P, "--q", *Q, "--json", "--symmetric").out).keys()


def test_json_is_strict_with_infinity_as_a_string(dl):
    data = strict_json(dl("kl", "0.5", "0.5", "--q", "1", "0", "--json").out)
    assert data["kl"] == "inf" and data["cross_entropy"] == "inf" and data["terms"][1] == "inf"
    assert data["entropy"] == pytest.approx(math.log(2), rel=1e-15)


@pytest.mark.parametrize("fmt, marker", [("table", "D_KL(P‖Q)"), ("plain", "0.0268"), ("csv", "i,p,q"),
                                         ("json", '"kl"'), ("markdown", "|---"), ("latex", r"\begin{array}")])
def test_every_format_renders(dl, fmt, marker):
    run = dl("kl", *P, "--q", *Q, "--symmetric", "-f", fmt)
    assert run.code == 0 and marker in run.out and run.err == ""


# ---------------------------------------------------------------- batch mode


def test_batch_lines_carry_their_own_q(dl):
    run = dl("kl", stdin="0.7 0.2 0.1 ; 0.6 0.3 0.1\n0.5 0.5 ; 0.9 0.1\n\n# comment\n1 ; 1\n")
    assert run.code == 0
    got = [float(v) for v in run.out.split()]
    assert ulps(got[0], exact_kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1])) <= 4
    assert ulps(got[1], exact_kl([0.5, 0.5], [0.9, 0.1])) <= 4
    assert got[2] == 0


def test_command_line_q_applies_to_every_line(dl):
    run = dl("kl", "--q", *Q, stdin="0.7 0.2 0.1\n1 0 0\n0.6 0.3 0.1\n")
    got = [float(v) for v in run.out.split()]
    assert ulps(got[0], exact_kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1])) <= 4
    assert ulps(got[1], -mpmath.log(mpmath.mpf(0.6))) <= 2
    assert got[2] == 0


def test_batch_bad_lines_are_reported_and_the_others_processed(dl):
    stdin = ("0.7 0.2 0.1 ; 0.6 0.3 0.1\n0.5 0.5\n0.5 0.6 ; 0.5 0.5\n0.5 0.5 ; 0.5 0.4 0.1\n"
             "0.5 -0.5 1 ; 0.2 0.3 0.5\n0.5 0.5 ; 1 0\n")
    run = dl("kl", stdin=stdin)
    assert run.code == 2
    assert [float(v) for v in run.out.split()] == [float(dl("kl", *P, "--q", *Q).out), math.inf]
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert [line.split(":")[1].strip() for line in errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert "needs Q" in errors[0] and "sums to 1.1" in errors[1]
    assert "same length" in errors[2] and "-0.5" in errors[3]
    assert "warning:" in run.err and "Traceback" not in run.err


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("args, fragments", [
    (["0.7", "0.2", "0.1"], ["needs Q", "--q"]),
    (["0.7", "0.2", "0.1", "--q", "0.6", "0.4"], ["3 elements", "2", "same length"]),
    (["0.7", "0.4", "-0.1", "--q", *Q], ["P[2] = -0.1", "negative"]),
    (["0.7", "0.2", "0.1", "--q", "0.6", "0.5", "-0.1"], ["Q[2] = -0.1"]),
    (["0.7", "0.2", "0.2", "--q", *Q], ["P sums to 1.1"]),
    (["0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.2"], ["Q sums to 1.1"]),
    (["0", "0", "--q", "0.5", "0.5", "--normalize"], ["sums to 0"]),
    (["0.5", "0.5", "--q", "0.5", "nan"], ["Q[1] = nan"]),
    (["0.5", "0.5", "--q", "0.5", "x"], ["'x'"]),
    ([*P, "--q", *Q, "--base", "10"], ["'10'", "e (nats) or 2 (bits)"]),
])
def test_every_error_is_one_line_naming_the_value_exit_2(dl, args, fragments):
    run = dl("kl", *args, stdin="")
    assert_user_error(run, *fragments)
    assert run.out == "" and len(run.err.splitlines()) == 1


# ---------------------------------------------------------------- properties


def distributions(n: int):
    return st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=n, max_size=n).filter(
        lambda w: sum(w) > 1e-3)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 6))
def test_property_kl_is_never_negative(dl, data, n):
    p = data.draw(distributions(n))
    q = data.draw(distributions(n))
    run = dl("kl", *map(repr, p), "--q", *map(repr, q), "--normalize", "--json")
    assert run.code == 0, run.err
    result = strict_json(run.out)
    kl = math.inf if result["kl"] == "inf" else result["kl"]
    assert kl >= 0  # Gibbs' inequality
    if kl == math.inf:
        assert "warning:" in run.err
    else:
        sp, sq = math.fsum(p), math.fsum(q)
        exact = exact_kl([a / sp for a in p], [b / sq for b in q])
        assert abs(kl - float(exact)) <= 1e-14 * max(1.0, float(abs(exact)))
