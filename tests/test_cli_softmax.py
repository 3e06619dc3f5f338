"""`dlcalc softmax` through the real command line (SPEC §1, §3; issue #3).

Oracles: mpmath at 200 bits (the exact value, rounded once to float64), torch float64 and its
autograd Jacobian, the notes' worked numbers (e^2 ≈ 7.389, log Σ ≈ 2.417), closed forms.
"""

from __future__ import annotations

import math
import re

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_user_error, examples, floats, strict_json, ulps

mpmath.mp.prec = 200


def exact_softmax(z, temperature=1.0):
    """(softmax, log_softmax, logsumexp) of the float64 logits z / T, exactly (mpmath)."""
    zs = [mpmath.mpf(float(v)) / mpmath.mpf(float(temperature)) for v in z]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in zs))
    return [mpmath.exp(v - lse) for v in zs], [v - lse for v in zs], lse








# ---------------------------------------------------------------- issue #3: done when


def test_piped_softmax_prints_the_correctly_rounded_probabilities(dl):
    run = dl("softmax", "2", "1", "0.1")
    assert run.code == 0 and run.err == ""
    words = run.out.split()
    exact, _, _ = exact_softmax([2, 1, 0.1])
    # the middle value, correctly rounded (torch and the issue text print ...139, 1 ulp low)
    assert words[1] == "0.24243297070471392" == repr(float(exact[1]))
    assert all(ulps(float(w), e) <= 2 for w, e in zip(words, exact))
    assert run.out.count("\n") == 1 and len(words) == 3
    # shortest repr: every word is exactly Python's repr of the float it denotes
    assert all(repr(float(w)) == w for w in words)


def test_table_shows_the_notes_log_softmax_and_logsumexp(dl):
    run = dl("softmax", "2", "1", "0.1", "-f", "table")
    assert run.code == 0
    rows = [line.split() for line in run.out.splitlines() if re.match(r"^[0-2]\s", line)]
    assert [row[0] for row in rows] == ["0", "1", "2"]
    # the notes: log-softmax = z − log Σ e^z = −0.417, −1.417, −2.317; logsumexp 2.417
    assert [round(float(row[3]), 3) for row in rows] == [-0.417, -1.417, -2.317]
    assert [round(float(row[2]), 3) for row in rows] == [0.659, 0.242, 0.099]
    footer = re.search(r"logsumexp: (\S+)", run.out)
    assert footer and round(float(footer.group(1)), 3) == 2.417
    assert "0.71" not in run.out and "0.342" not in run.out  # the notes' slip never appears


def test_huge_logits_give_the_limit_without_overflow_or_nan(dl):
    run = dl("softmax", "1000", "0", "-1000")
    # exact: e^-1000 ≈ 5e-435 underflows to 0 in float64, so [1, 0, 0] is the correctly rounded answer
    assert (run.code, run.out, run.err) == (0, "1 0 0\n", "")
    log = dl("softmax", "1000", "0", "-1000", "--log")
    # exact: −log(1 + e^-1000 + e^-2000) ≈ −5e-435, which rounds to −0 (0 and −0 both correct)
    assert floats(log.out) == [0, -1000, -2000] and log.err == ""
    data = strict_json(dl("softmax", "1000", "0", "-1000", "--json").out)
    assert data["logsumexp"] == 1000.0
    tiny = dl("softmax", "1e300", "-1e300", "--log")
    assert tiny.out == "0 -2e+300\n" and "nan" not in tiny.out


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("option", ["-t", "--temperature"])
@pytest.mark.parametrize("temperature", [0.5, 2.0, 100.0])
def test_temperature_divides_the_logits_first(dl, option, temperature):
    torch = pytest.importorskip("torch")
    z = [2.0, 1.0, 0.1]
    run = dl("softmax", *map(str, z), option, str(temperature))
    exact, exact_log, _ = exact_softmax(z, temperature)
    got = floats(run.out)
    assert all(ulps(g, e) <= 4 for g, e in zip(got, exact))
    expected = torch.softmax(torch.tensor(z, dtype=torch.float64) / temperature, 0).tolist()
    assert np.allclose(got, expected, rtol=1e-14, atol=0)
    log = floats(dl("softmax", *map(str, z), option, str(temperature), "--log").out)
    assert all(ulps(g, e) <= 4 for g, e in zip(log, exact_log))
    data = strict_json(dl("softmax", *map(str, z), option, str(temperature), "--json").out)
    assert data["temperature"] == temperature and data["z"] == z
    assert ulps(data["logsumexp"], exact_softmax(z, temperature)[2]) <= 4


def test_temperature_softens_or_sharpens_as_the_notes_say(dl):
    sharp = floats(dl("softmax", "2", "1", "0.1", "-t", "0.5").out)
    soft = floats(dl("softmax", "2", "1", "0.1", "-t", "2").out)
    plain = floats(dl("softmax", "2", "1", "0.1").out)
    assert sharp[0] > plain[0] > soft[0] > 1 / 3
    assert "temperature: 2" in dl("softmax", "2", "1", "0.1", "-t", "2", "-f", "table").out


def test_log_prints_the_log_softmax_z_minus_logsumexp(dl):
    torch = pytest.importorskip("torch")
    z = [3.5, -1.25, 0.0, 7.0]
    got = floats(dl("softmax", *map(str, z), "--log").out)
    _, exact_log, _ = exact_softmax(z)
    assert all(ulps(g, e) <= 4 for g, e in zip(got, exact_log))
    assert np.allclose(got, torch.log_softmax(torch.tensor(z, dtype=torch.float64), 0).tolist(), rtol=1e-14)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_jacobian_matches_torch_autograd(dl, log, temperature):
    torch = pytest.importorskip("torch")
    z = [2.0, 1.0, 0.1, -0.7]
    args = ["softmax", *map(str, z), "--jacobian", "--json", "-t", str(temperature)] + (["--log"] if log else [])
    data = strict_json(dl(*args).out)
    function = torch.log_softmax if log else torch.softmax
    expected = torch.autograd.functional.jacobian(
        lambda v: function(v / temperature, 0), torch.tensor(z, dtype=torch.float64))
    assert np.allclose(data["jacobian"], expected.numpy(), rtol=1e-13, atol=1e-16)


def test_jacobian_closed_form_and_plain_output_unchanged(dl):
    z = ["2", "1", "0.1"]
    y, _, _ = exact_softmax([2, 1, 0.1])
    data = strict_json(dl("softmax", *z, "--jacobian", "--json").out)
    # the notes: ∂ŷ_i/∂z_k = ŷ_i(δ_ik − ŷ_k)
    for i in range(3):
        for k in range(3):
            assert ulps(data["jacobian"][i][k], y[i] * ((i == k) - y[k])) <= 4
    # plain: the softmax line first, then the Jacobian one row per line, exactly as the JSON
    lines = dl("softmax", *z, "--jacobian").out.splitlines()
    assert lines[0] + "\n" == dl("softmax", *z).out and len(lines) == 4
    assert [floats(line) for line in lines[1:]] == data["jacobian"]
    table = dl("softmax", *z, "--jacobian", "-f", "table").out
    assert "Jacobian" in table and "0.224719" in table and "-0.159764" in table


def test_explain_works_the_notes_example_then_the_stable_way(dl):
    run = dl("softmax", "2", "1", "0.1", "--explain", "-f", "table")
    assert run.code == 0
    text = run.out
    assert "e^(2) ≈ 7.38906" in text  # the notes: e^2 ≈ 7.389
    assert "e^(1) ≈ 2.71828" in text and "e^(0.1) ≈ 1.10517" in text
    assert "≈ 11.2125" in text  # 7.389 + 2.718 + 1.105
    assert "log 11.2125 ≈ 2.41703" in text
    stable = text.index("The stable way")
    assert "m = max_j z_j = 2" in text[stable:] and "2 + log 1.51745 ≈ 2.41703" in text[stable:]
    assert "Both ways give the same numbers" in text
    # each step is on its own line with its rule (the formula's name) beside it
    assert re.search(r"e\^\(z_0\) = e\^\(2\) ≈ 7\.38906\s+\[exponential\]", text)
    # plain: the derivation as text lines, then the numbers as without --explain
    plain = dl("softmax", "2", "1", "0.1", "--explain").out
    assert plain.endswith("\n" + dl("softmax", "2", "1", "0.1").out) and "The stable way" in plain


def test_explain_says_why_the_naive_way_fails_for_huge_logits(dl):
    run = dl("softmax", "1000", "0", "-1000", "--explain", "-f", "table")
    assert run.code == 0 and run.err == ""
    naive = run.out[:run.out.index("The stable way")]
    assert "e^(1000) ≈ inf" in naive and "overflows" in naive and "709.78" in naive
    assert "nan" in naive
    assert "Only the stable way gives the answer: softmax = [1, 0, 0]" in run.out


def test_explain_in_markdown_and_json_carries_the_formulas(dl):
    markdown = dl("softmax", "2", "1", "0.1", "--explain", "-f", "markdown").out
    assert "$" in markdown and r"\sum_j e^{z_j}" in markdown
    steps = strict_json(dl("softmax", "2", "1", "0.1", "--explain", "--json").out)["steps"]
    assert any(step["rule"] == "log-sum-exp trick" for step in steps)


# ---------------------------------------------------------------- formats


def test_json_has_the_spec_keys(dl):
    data = strict_json(dl("softmax", "2", "1", "0.1", "--json").out)
    assert {"z", "temperature", "softmax", "log_softmax", "logsumexp"} <= data.keys()
    assert "jacobian" not in data
    assert "jacobian" in strict_json(dl("softmax", "2", "1", "0.1", "--json", "--jacobian").out)
    exact, exact_log, lse = exact_softmax([2, 1, 0.1])
    assert all(ulps(g, e) <= 2 for g, e in zip(data["softmax"], exact))
    assert all(ulps(g, e) <= 4 for g, e in zip(data["log_softmax"], exact_log))
    assert ulps(data["logsumexp"], lse) <= 2


def test_json_is_strict_with_non_finite_numbers_as_strings(dl):
    run = dl("softmax", "inf", "inf", "0", "--json")
    data = strict_json(run.out)
    assert data["softmax"] == ["nan", "nan", "nan"] and data["logsumexp"] == "inf"
    assert data["z"] == ["inf", "inf", 0.0]
    assert "warning:" in run.err and "infinite logits of equal sign" in run.err


@pytest.mark.parametrize("fmt, marker", [("table", "log_softmax"), ("plain", "0.659"),
                                         ("csv", "i,z,softmax,log_softmax"), ("json", '"softmax"'),
                                         ("markdown", "|---"), ("latex", r"\begin{array}")])
def test_every_format_renders(dl, fmt, marker):
    run = dl("softmax", "2", "1", "0.1", "--jacobian", "-f", fmt)
    assert run.code == 0 and marker in run.out and run.err == ""


def test_csv_has_one_row_per_element_with_exact_numbers(dl):
    lines = dl("softmax", "2", "1", "0.1", "-f", "csv").out.splitlines()
    assert lines[0] == "i,z,softmax,log_softmax,logsumexp,temperature" and len(lines) == 4
    assert lines[2].split(",")[2] == "0.24243297070471392"


# ---------------------------------------------------------------- batch mode


def test_batch_lines_of_mixed_lengths_each_give_their_softmax(dl):
    run = dl("softmax", stdin="2 1 0.1\n\n# a comment\n0 0\n1,2,3,4\n5\n")
    assert run.code == 0
    lines = run.out.splitlines()
    assert len(lines) == 4
    for line, z in zip(lines, [[2, 1, 0.1], [0, 0], [1, 2, 3, 4], [5]]):
        exact, _, _ = exact_softmax(z)
        assert all(ulps(g, e) <= 4 for g, e in zip(floats(line), exact))
    assert lines[1] == "0.5 0.5" and lines[3] == "1"


def test_batch_bad_lines_are_reported_by_number_and_the_rest_processed(dl):
    run = dl("softmax", stdin="2 1 0.1\n2 x 1\n0 0\n\n1 ; 2\n7\n")
    assert run.code == 2
    lines = run.out.splitlines()
    assert lines[1:] == ["0.5 0.5", "1"]
    exact, _, _ = exact_softmax([2, 1, 0.1])
    assert all(ulps(g, e) <= 2 for g, e in zip(floats(lines[0]), exact))
    assert "error: line 2:" in run.err and "'x'" in run.err
    # softmax has no second operand: a ';' is an error for that line, not silently ignored
    assert "error: line 5:" in run.err and "';'" in run.err
    assert "Traceback" not in run.err
    assert len([line for line in run.err.splitlines() if line.startswith("error: ")]) == 2
    assert "softmax of one logit is always 1" in run.err  # line 6 holds one number: said once


def test_batch_json_is_one_strict_object_per_line(dl):
    run = dl("softmax", "--json", "-t", "2", stdin="2 1 0.1\n0 0\n")
    objects = [strict_json(line) for line in run.out.splitlines()]
    assert [o["line"] for o in objects] == [1, 2]
    assert all(o["temperature"] == 2.0 for o in objects)
    assert objects[1]["softmax"] == [0.5, 0.5]


@pytest.mark.long
def test_hundred_thousand_line_batch_through_a_real_process(dl_process):
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=4, size=(100_000, 10))
    logits[7] = [1000, 0, -1000, 5, 5, 5, -5, 0, 0, 1e-300]  # a row that would overflow naively
    text = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in logits)
    result = dl_process("softmax", stdin=text, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 100_000
    for row in (0, 7, 4242, 99_999):
        got = floats(lines[row])
        exact, _, _ = exact_softmax(logits[row])
        assert len(got) == 10 and all(ulps(g, e) <= 4 for g, e in zip(got, exact)), row
    assert "nan" not in result.stdout.decode() and result.stderr == b""


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("value, shown", [("0", "temperature 0"), ("-1", "temperature -1"),
                                          ("nan", "temperature nan"), ("inf", "temperature inf"),
                                          ("abc", "'abc'")])
def test_bad_temperature_is_an_error(dl, value, shown):
    run = dl("softmax", "2", "1", "0.1", "-t", value)
    assert_user_error(run, shown)
    assert run.out == ""


@pytest.mark.parametrize("args, fragments", [
    (["softmax", "2", "x", "1"], ["'x'", "number"]),
    (["softmax", "2", "1", "--dtype", "float16"], ["float16", "float32"]),
    (["softmax", "2", "1", "-f", "yaml"], ["yaml", "json"]),
    (["softmax", "2", "1", "--precision", "0"], ["--precision"]),
])
def test_bad_input_is_one_error_line(dl, args, fragments):
    assert_user_error(dl(*args), *fragments)


def test_no_logits_at_all_is_an_error(dl):
    assert_user_error(dl("softmax", stdin=""), "no logits")
    assert_user_error(dl("softmax", stdin="\n# only a comment\n"), "no logits")


# ---------------------------------------------------------------- dtype


def test_float32_softmax_is_computed_and_printed_in_float32(dl):
    torch = pytest.importorskip("torch")
    run = dl("softmax", "2", "1", "0.1", "--dtype", "float32")
    words = run.out.split()
    z32 = np.array([2, 1, 0.1], dtype=np.float32)
    exact, _, _ = exact_softmax(z32.astype(np.float64))
    reference = torch.softmax(torch.tensor(z32), 0).numpy()
    for word, e, t in zip(words, exact, reference):
        value = np.float32(word)
        assert abs(float(value) - float(e)) <= 2 * np.spacing(np.float32(float(e)))  # a framework's float32
        assert abs(value - t) <= 2 * np.spacing(t)
        assert np.format_float_positional(value, unique=True, trim="-") == word  # fewest float32 digits
    assert len(words[0]) < len("0.6590011388859679")


# ---------------------------------------------------------------- properties


finite_logits = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=8)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(z=finite_logits)
def test_property_plain_softmax_sums_to_one_and_round_trips(dl, z):
    run = dl("softmax", *[repr(v) for v in z])
    assert run.code == 0 and run.err == ""
    got = floats(run.out)
    assert len(got) == len(z) and math.fsum(got) == pytest.approx(1, abs=1e-12)
    # round trip: the plain text is the same float64 numbers the JSON object carries
    assert got == strict_json(dl("softmax", *[repr(v) for v in z], "--json").out)["softmax"]
    exact, _, _ = exact_softmax(z)
    assert all(ulps(g, e) <= 4 or abs(g - float(e)) < 1e-300 for g, e in zip(got, exact))
