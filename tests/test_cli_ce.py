"""`dlcalc ce` through the real command line (SPEC §1, §4; issue #3).

Oracles: mpmath at 200 bits (−log softmax exactly), torch.nn.functional.cross_entropy /
binary_cross_entropy(_with_logits) in float64 with autograd gradients, the notes' numbers
(−log 0.659 = 0.417, gradient ŷ − y), closed forms (bits = nats / ln 2).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_user_error, examples, floats, strict_json, ulps

mpmath.mp.prec = 200

Z = ["2", "1", "0.1"]


def exact_log_softmax(z):
    zs = [mpmath.mpf(float(v)) for v in z]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in zs))
    return [v - lse for v in zs]








def torch_ce(z, **kwargs):
    """(loss, gradient) of torch's F.cross_entropy for one sample, in float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits = torch.tensor([z], dtype=torch.float64, requires_grad=True)
    target = kwargs.pop("target")
    if isinstance(target, int):
        target = torch.tensor([target])
    else:
        target = torch.tensor([target], dtype=torch.float64)
    loss = F.cross_entropy(logits, target, **kwargs)
    loss.backward()
    return loss.item(), logits.grad[0].tolist()


# ---------------------------------------------------------------- issue #3: done when


def test_cross_entropy_of_the_notes_example_is_0_417_not_the_slip(dl):
    run = dl("ce", *Z, "--target", "0")
    assert run.code == 0 and run.err == ""
    exact = -exact_log_softmax([2, 1, 0.1])[0]  # −log 0.659 = 0.41703
    assert ulps(float(run.out), exact) <= 2
    assert round(float(run.out), 5) == 0.41703
    for fmt in ("plain", "table", "json", "markdown", "csv", "latex"):
        assert "0.342" not in dl("ce", *Z, "--target", "0", "-f", fmt, "--explain").out


def test_grad_prints_y_hat_minus_y(dl):
    run = dl("ce", *Z, "--target", "0", "--grad")
    got = floats(run.out)
    log_y = exact_log_softmax([2, 1, 0.1])
    exact = [mpmath.exp(v) - (i == 0) for i, v in enumerate(log_y)]  # the notes: ŷ − y
    assert all(ulps(g, e) <= 4 for g, e in zip(got, exact))
    loss, grad = torch_ce([2, 1, 0.1], target=0, reduction="sum")
    assert np.allclose(got, grad, rtol=1e-14)
    assert math.fsum(got) == pytest.approx(0, abs=1e-15)


def test_huge_opposite_logits_give_2e300_without_overflow(dl):
    run = dl("ce", "-1e300", "1e300", "--target", "0")
    assert (run.code, run.out, run.err) == (0, "2e+300\n", "")  # log-softmax: −1e300 − 1e300
    assert floats(dl("ce", "-1e300", "1e300", "--target", "0", "--grad").out) == [-1, 1]
    assert dl("ce", "-1e300", "1e300", "--target", "1").out == "0\n"
    assert dl("ce", "1000", "0", "-1000", "--target", "2").out == "2000\n"


# ---------------------------------------------------------------- options


def test_soft_targets_match_torch(dl):
    target = [0.7, 0.2, 0.1]
    data = strict_json(dl("ce", *Z, "--target-probs", *map(str, target), "--json").out)
    loss, grad = torch_ce([2, 1, 0.1], target=target, reduction="sum")
    assert data["loss"] == pytest.approx(loss, rel=1e-14)
    assert np.allclose(data["grad"], grad, rtol=1e-13, atol=1e-17)
    exact = -mpmath.fsum(mpmath.mpf(t) * v for t, v in zip(target, exact_log_softmax([2, 1, 0.1])))
    assert ulps(data["loss"], exact) <= 4
    assert data["target"] == target


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 1.0])
def test_label_smoothing_matches_torch(dl, epsilon):
    for target_args, target in ((["--target", "1"], 1), (["--target-probs", "0.7", "0.2", "0.1"], [0.7, 0.2, 0.1])):
        data = strict_json(dl("ce", *Z, *target_args, "--label-smoothing", str(epsilon), "--json").out)
        loss, grad = torch_ce([2, 1, 0.1], target=target, label_smoothing=epsilon, reduction="sum")
        assert data["loss"] == pytest.approx(loss, rel=1e-14)
        assert np.allclose(data["grad"], grad, rtol=1e-13, atol=1e-16)
        assert data["target"] == target  # as given; the smoothed one is target_distribution
        assert math.fsum(data["target_distribution"]) == pytest.approx(1, abs=1e-15)


def test_base_2_gives_bits_nats_over_ln2(dl):
    nats = float(dl("ce", *Z, "--target", "0").out)
    bits = float(dl("ce", *Z, "--target", "0", "--base", "2").out)
    assert bits == pytest.approx(nats / math.log(2), rel=1e-15)
    grad_nats = floats(dl("ce", *Z, "--target", "0", "--grad").out)
    grad_bits = floats(dl("ce", *Z, "--target", "0", "--grad", "--base", "2").out)
    assert np.allclose(grad_bits, np.array(grad_nats) / math.log(2), rtol=1e-15)
    assert "loss (bits)" in dl("ce", *Z, "--target", "0", "--base", "2", "-f", "table").out
    assert strict_json(dl("ce", *Z, "--target", "0", "--base", "2", "--json").out)["base"] == "bits"


def test_probs_input_is_minus_log_p_with_gradient_minus_y_over_p(dl):
    data = strict_json(dl("ce", "0.5", "0.3", "0.2", "--probs", "--target", "1", "--json").out)
    assert ulps(data["loss"], -mpmath.log(mpmath.mpf(0.3))) <= 1
    assert data["grad"] == [0.0, -1 / 0.3, 0.0]  # ∂(−log p_1)/∂p = −y/p
    assert data["probs"] == [0.5, 0.3, 0.2]


def test_probs_are_validated_unless_normalized(dl):
    assert_user_error(dl("ce", "0.7", "0.2", "0.2", "--probs", "--target", "0"), "sums to 1.1", "normalize")
    assert_user_error(dl("ce", "0.7", "0.4", "-0.1", "--probs", "--target", "0"), "-0.1", "negative")
    assert_user_error(dl("ce", "2", "1", "0.1", "--probs", "--target", "0"), "2", "greater than 1")
    run = dl("ce", "0.7", "0.2", "0.2", "--probs", "--target", "0", "--normalize", "--json")
    data = strict_json(run.out)
    assert ulps(data["loss"], -mpmath.log(mpmath.mpf(0.7) / (mpmath.mpf(0.7) + 2 * mpmath.mpf(0.2)))) <= 2
    assert data["probs"] == pytest.approx([0.7 / 1.1, 0.2 / 1.1, 0.2 / 1.1], rel=1e-15)
    # the table and the gradient are about the same (normalised) p
    table = dl("ce", "0.7", "0.2", "0.2", "--probs", "--target", "0", "--normalize", "-f", "table").out
    assert "0.636364" in table and "-1.57143" in table


def test_normalize_also_normalizes_probability_targets(dl):
    data = strict_json(dl("ce", *Z, "--target-probs", "7", "2", "1", "--normalize", "--json").out)
    assert data["loss"] == strict_json(dl("ce", *Z, "--target-probs", "0.7", "0.2", "0.1", "--json").out)["loss"]
    assert data["target"] == pytest.approx([0.7, 0.2, 0.1], rel=1e-15)
    assert_user_error(dl("ce", *Z, "--target-probs", "0.5", "0.6", "0.1"), "sums to 1.2")
    explained = dl("ce", *Z, "--target-probs", "7", "2", "1", "--normalize", "--explain", "-f", "table")
    assert explained.code == 0 and "0.80703" in explained.out


def test_binary_with_logits_matches_torch(dl):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, y = [2.0, -1.0, 0.5, -30.0], [1.0, 0.0, 1.0, 0.25]
    data = strict_json(dl("ce", *map(str, z), "--binary", "--target", *map(str, y), "--json").out)
    logits = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(y, dtype=torch.float64)
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    losses.sum().backward()
    assert np.allclose(data["losses"], losses.tolist(), rtol=1e-14)
    assert data["loss"] == pytest.approx(F.binary_cross_entropy_with_logits(logits, labels).item(), rel=1e-14)
    assert np.allclose(data["grad"], logits.grad.tolist(), rtol=1e-13)  # σ(z) − y
    assert np.allclose(data["probs"], torch.sigmoid(logits).tolist(), rtol=1e-14)
    assert data["target"] == y
    plain = dl("ce", *map(str, z), "--binary", "--target", *map(str, y))
    assert float(plain.out) == data["loss"]
    assert floats(dl("ce", *map(str, z), "--binary", "--target", *map(str, y), "--grad").out) == data["grad"]


def test_binary_with_extreme_logits_is_exact(dl):
    run = dl("ce", "1000", "-1000", "--binary", "--target", "0", "1")
    assert (run.out, run.err) == ("1000\n", "")  # softplus(1000) = 1000 each; PyTorch agrees
    assert floats(dl("ce", "1000", "-1000", "--binary", "--target", "0", "1", "--grad").out) == [1, -1]


def test_binary_with_probs_matches_torch(dl):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p, y = [0.9, 0.2, 0.5, 0.999], [1.0, 0.0, 1.0, 0.3]
    data = strict_json(dl("ce", *map(str, p), "--probs", "--binary", "--target", *map(str, y), "--json").out)
    probs = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(y, dtype=torch.float64)
    losses = F.binary_cross_entropy(probs, labels, reduction="none")
    losses.sum().backward()
    assert np.allclose(data["losses"], losses.tolist(), rtol=1e-13)
    assert data["loss"] == pytest.approx(F.binary_cross_entropy(probs, labels).item(), rel=1e-14)
    closed = [-t / q + (1 - t) / (1 - q) for q, t in zip(p, y)]  # −y/p + (1−y)/(1−p)
    assert np.allclose(data["grad"], closed, rtol=1e-12)
    assert np.allclose(data["grad"], probs.grad.tolist(), rtol=1e-12)


def test_binary_labels_are_one_per_element_as_in_torch(dl):
    # torch.nn.functional.binary_cross_entropy_with_logits refuses a target of another size;
    # SPEC §4: "--target giving 0/1 (or soft) labels per element".
    assert_user_error(dl("ce", "2", "-1", "--binary", "--target", "1"), "1 labels but there are 2 inputs")
    assert dl("ce", "2", "-1", "--binary", "--target", "1", "1").code == 0


def test_explain_derives_pick_the_true_class_and_negate(dl):
    run = dl("ce", *Z, "--target", "0", "--explain", "-f", "table")
    text = run.out
    assert "log ŷ_0 = 2 − 2.41703 ≈ -0.41703" in text
    assert "the true class is 0: y = [1, 0, 0]" in text
    assert "pick the true class: log ŷ_0 ≈ -0.41703" in text
    assert "negate: L = −log ŷ_0 ≈ 0.41703" in text
    assert "∂L/∂z_i = ŷ_i − y_i" in text and "0.659001 − 1 ≈ -0.340999" in text
    binary = dl("ce", "2", "-1", "--binary", "--target", "1", "0", "--explain", "-f", "table").out
    assert "σ(z_i) − y_i" in binary and "mean" in binary
    probs = dl("ce", "0.659", "0.242", "0.099", "--probs", "--target", "0", "--explain", "-f", "table").out
    assert "−y_i / p_i" in probs and "0.417032" in probs


# ---------------------------------------------------------------- formats


def test_json_has_the_spec_keys(dl):
    data = strict_json(dl("ce", *Z, "--target", "0", "--json").out)
    assert {"loss", "probs", "grad", "target"} <= data.keys() and "losses" not in data
    assert data["target"] == 0
    assert data["probs"] == strict_json(dl("softmax", *Z, "--json").out)["softmax"]
    binary = strict_json(dl("ce", "2", "-1", "--binary", "--target", "1", "0", "--json").out)
    assert {"loss", "probs", "grad", "target", "losses"} <= binary.keys()


def test_json_is_strict_with_an_infinite_loss(dl):
    run = dl("ce", "0", "1", "0", "--probs", "--target", "0", "--json")
    data = strict_json(run.out)
    assert data["loss"] == "inf" and data["grad"][0] == "-inf"
    assert "warning:" in run.err and "p[0] = 0" in run.err


@pytest.mark.parametrize("fmt, marker", [("table", "loss (nats)"), ("plain", "0.417"), ("csv", "i,z,y,y_hat"),
                                         ("json", '"loss"'), ("markdown", "|---"), ("latex", r"\begin{array}")])
@pytest.mark.parametrize("extra", [[], ["--binary"]])
def test_every_format_renders(dl, fmt, marker, extra):
    run = dl("ce", *(["2", "1", "0.1", "--target", "0"] if not extra else ["2", "-1", "--target", "1", "0"]),
             *extra, "-f", fmt)
    assert run.code == 0 and run.out.strip() and run.err == ""
    if not extra:
        assert marker in run.out


# ---------------------------------------------------------------- batch mode


def test_batch_lines_carry_their_own_targets(dl):
    run = dl("ce", stdin="2 1 0.1 ; 0\n0 3 ; 1\n2 1 0.1 ; 0.7 0.2 0.1\n# skip\n\n1 2 3 4 ; 3\n")
    assert run.code == 0, run.err
    got = floats(run.out)
    assert len(got) == 4
    assert ulps(got[0], -exact_log_softmax([2, 1, 0.1])[0]) <= 2
    assert ulps(got[1], -exact_log_softmax([0, 3])[1]) <= 2
    soft = -mpmath.fsum(mpmath.mpf(t) * v for t, v in zip([0.7, 0.2, 0.1], exact_log_softmax([2, 1, 0.1])))
    assert ulps(got[2], soft) <= 4
    assert ulps(got[3], -exact_log_softmax([1, 2, 3, 4])[3]) <= 2


def test_command_line_target_applies_to_every_line_of_any_length(dl):
    run = dl("ce", "--target", "1", stdin="2 1 0.1\n1 2\n3 4 5 6\n")
    got = floats(run.out)
    for value, z in zip(got, [[2, 1, 0.1], [1, 2], [3, 4, 5, 6]]):
        assert ulps(value, -exact_log_softmax(z)[1]) <= 2
    # a line's own target beside the command line's is an error naming both (neither wins)
    both = dl("ce", "--target", "1", stdin="2 1 0.1 ; 0\n")
    assert both.code == 2 and "gives 0 after ';'" in both.err and "command line gives 1" in both.err
    mixed = dl("ce", "--target-probs", "0.5", "0.5", stdin="5 1 ; 1\n5 1\n")
    assert mixed.code == 2 and mixed.err.startswith("error: line 1: ")
    assert ulps(floats(mixed.out)[0], -sum(exact_log_softmax([5, 1])) / 2) <= 2


def test_batch_bad_lines_are_reported_and_the_others_processed(dl):
    stdin = "2 1 0.1 ; 0\n2 1 0.1 ; 5\n0 0 0 ; 0.5 0.6 0.1\n2 1 ; 0.5\n1 x ; 0\n2 1\n0 0 ; 1\n"
    run = dl("ce", stdin=stdin)
    assert run.code == 2
    assert floats(run.out) == [float(dl("ce", *Z, "--target", "0").out), math.log(2)]
    errors = run.err.splitlines()
    assert [line.split(":")[1].strip() for line in errors] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert "target 5 is out of range" in errors[0] and "sums to 1.2" in errors[1]
    assert "'x'" in errors[3] and "needs a target" in errors[4]
    assert "Traceback" not in run.err


def test_batch_binary_labels_per_line(dl):
    run = dl("ce", "--binary", "--json", stdin="2 -1 ; 1 0\n0.5 ; 1\n")
    objects = [strict_json(line) for line in run.out.splitlines()]
    assert objects[0]["loss"] == strict_json(dl("ce", "2", "-1", "--binary", "--target", "1", "0", "--json").out)["loss"]
    assert objects[1]["losses"] == pytest.approx([math.log1p(math.exp(-0.5))], rel=1e-15)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("args, fragments", [
    (["--target", "3"], ["target 3", "out of range", "[0, 3)"]),
    (["--target", "-1"], ["target -1", "[0, 3)"]),
    (["--target", "1.5"], ["target 1.5", "not an integer"]),
    (["--target", "nan"], ["target nan"]),
    (["--target", "x"], ["'x'"]),
    (["--target", "0", "1"], ["one class index", "--target-probs"]),
    (["--target", "0", "--target-probs", "1", "0", "0"], ["--target", "--target-probs", "not both"]),
    (["--target-probs", "1", "0"], ["2 elements", "3 classes"]),
    (["--target-probs", "0.5", "0.6", "-0.1"], ["-0.1", "negative"]),
    (["--target-probs", "0.5", "0.6", "0.1"], ["sums to 1.2"]),
    (["--target-probs", "0", "0", "0", "--normalize"], ["sums to 0"]),
    ([], ["needs a target", "--target"]),
    (["--target", "0", "--base", "10"], ["'10'", "e (nats) or 2 (bits)"]),
    (["--target", "0", "--label-smoothing", "1.5"], ["1.5", "[0, 1]"]),
    (["--target", "0", "--label-smoothing", "-0.1"], ["-0.1", "[0, 1]"]),
    (["--target", "0", "--label-smoothing", "nan"], ["nan", "[0, 1]"]),
    (["--target", "0", "--label-smoothing", "abc"], ["'abc'"]),
    (["--binary", "--target", "1", "0"], ["2 labels", "3 inputs"]),
    (["--binary", "--target", "1", "0", "1.5"], ["1.5", "[0, 1]"]),
    (["--binary", "--target", "1", "0", "-0.5"], ["-0.5", "[0, 1]"]),
    (["--binary"], ["needs a target"]),
    (["--binary", "--target-probs", "1", "0", "1"], ["--binary", "--target"]),
    (["--binary", "--target", "1", "0", "1", "--label-smoothing", "0.1"], ["--label-smoothing", "--binary"]),
    (["--binary", "--target", "1", "0", "1", "--normalize"], ["--normalize", "--binary"]),
])
def test_every_error_is_one_line_naming_the_value_exit_2(dl, args, fragments):
    run = dl("ce", *Z, *args, stdin="")
    assert_user_error(run, *fragments)
    assert run.out == "" and len(run.err.splitlines()) == 1


def test_binary_probabilities_outside_0_1_are_errors(dl):
    assert_user_error(dl("ce", "0.9", "1.2", "--probs", "--binary", "--target", "1", "0"), "1.2")


def test_bad_options_fail_before_reading_any_line(dl):
    run = dl("ce", "--label-smoothing", "2", stdin="2 1 0.1 ; 0\n1 2 ; 1\n")
    assert_user_error(run, "label smoothing 2")
    assert "line" not in run.err and len(run.err.splitlines()) == 1


# ---------------------------------------------------------------- dtype


def test_float32_cross_entropy(dl):
    torch = pytest.importorskip("torch")
    run = dl("ce", *Z, "--target", "0", "--dtype", "float32", "--json")
    data = strict_json(run.out)
    z32 = np.array([2, 1, 0.1], dtype=np.float32)
    exact = np.float32(float(-exact_log_softmax(z32.astype(np.float64))[0]))
    assert abs(np.float32(data["loss"]) - exact) <= 2 * np.spacing(exact)
    reference = torch.nn.functional.cross_entropy(torch.tensor(z32)[None], torch.tensor([0])).item()
    # torch's float32 is itself 2 ulp below the exact value here
    assert abs(np.float32(data["loss"]) - np.float32(reference)) <= 4 * np.spacing(exact)
    plain = dl("ce", *Z, "--target", "0", "--dtype", "float32").out.strip()
    assert np.float32(plain) == np.float32(data["loss"]) and len(plain) <= 10


# ---------------------------------------------------------------- properties


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(z=st.lists(st.floats(min_value=-50, max_value=50, allow_nan=False), min_size=2, max_size=8),
       data=st.data())
def test_property_gradient_sums_to_zero_and_loss_is_minus_log_softmax(dl, z, data):
    k = data.draw(st.integers(0, len(z) - 1))
    run = dl("ce", *[repr(v) for v in z], "--target", str(k), "--json")
    result = strict_json(run.out)
    # Σ(ŷ − y) = Σŷ − 1 = 0
    assert math.fsum(result["grad"]) == pytest.approx(0, abs=1e-12)
    assert result["loss"] >= 0
    exact = -exact_log_softmax(z)[k]
    assert ulps(result["loss"], exact) <= 4 or abs(result["loss"] - float(exact)) < 1e-300


def test_many_bad_targets_in_a_batch_are_each_reported_and_the_good_lines_answered(dl):
    # One line in three has an out-of-range target: the core names all of them at once, so
    # the good lines are still computed together (and give what they give alone).
    lines = [f"{i % 7} {i % 3} 0.5 ; {3 if i % 3 == 0 else i % 3}" for i in range(300)]
    run = dl("ce", stdin="\n".join(lines) + "\n")
    assert run.code == 2
    bad = [int(line.split(":")[1].split()[1]) for line in run.err.splitlines()]
    assert bad == [i + 1 for i in range(300) if i % 3 == 0]
    good = [line for i, line in enumerate(lines) if i % 3 != 0]
    assert run.out == dl("ce", stdin="\n".join(good) + "\n").out
