"""--explain derivations: the notes' worked numbers appear in the steps, steps agree with the
core's results, overflow is explained, and every step is well-formed data."""

import re
import subprocess
import sys

import numpy as np
import pytest

from dlcalc.errors import DlcalcError
from dlcalc.explain import explain_binary_cross_entropy, explain_cross_entropy, explain_kl, explain_softmax
from dlcalc.steps import Step

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def numbers_in(steps):
    return [float(x) for s in steps for x in NUMBER.findall(s.text)]


def shows(steps, value, rel=5e-4):
    """Some number in the steps' text equals `value` to the 4–6 digits shown."""
    return any(abs(x - value) <= rel * abs(value) for x in numbers_in(steps))


def test_softmax_explanation_shows_the_notes_hand_computation():
    steps = explain_softmax([2, 1, 0.1])
    # the notes' numbers: e^2 ≈ 7.389, Σ ≈ 11.21, ŷ ≈ 0.659 0.242 0.0986, log Σ ≈ 2.417, log-softmax
    for value in (7.389056, 2.718282, 1.105171, 11.21251, 0.659001, 0.242433, 0.0985659, 2.41703,
                  -0.41703, -1.41703, -2.31703):
        assert shows(steps, value), value
    assert "7.389" in steps[1].text and "11.21" in " ".join(s.text for s in steps)
    rules = [s.rule for s in steps]
    assert "max shift" in rules and "log-sum-exp trick" in rules and "log-softmax identity" in rules
    assert steps[-1].text.startswith("Both ways give the same numbers")


def test_softmax_explanation_of_overflowing_logits_says_why_the_stable_way_is_used():
    steps = explain_softmax([1000, 0, -1000])
    text = "\n".join(s.text for s in steps)
    assert "e^(1000) ≈ inf" in text and "overflows" in text and "nan" in text
    assert steps[-1].text.startswith("Only the stable way") and steps[-1].text.endswith("[1, 0, 0]")


def test_softmax_explanation_with_temperature_divides_first():
    steps = explain_softmax([2, 1, 0.1], temperature=2)
    assert steps[0].rule == "temperature" and "[1, 0.5, 0.05]" in steps[0].text


def test_log_softmax_explanation_concludes_with_log_softmax():
    assert "log-softmax = [-0.41703, -1.41703, -2.31703]" in explain_softmax([2, 1, 0.1], log=True)[-1].text


def test_cross_entropy_explanation_gives_0_4170_not_the_notes_slip():
    steps = explain_cross_entropy([2, 1, 0.1], target=0)
    assert any(s.rule == "pick the true class" for s in steps)
    negate = next(s for s in steps if s.rule == "negate")
    assert "0.41703" in negate.text
    assert not shows(steps, 0.342)
    # gradient ŷ − y element by element
    assert "0.659001 − 1 ≈ -0.340999" in " ".join(s.text for s in steps)


def test_cross_entropy_explanation_for_soft_targets_sums_the_terms():
    steps = explain_cross_entropy([2, 1, 0.1], target_probs=[0.7, 0.2, 0.1])
    total = next(s for s in steps if s.text.startswith("L = −Σ_i y_i·log ŷ_i"))
    expected = -(np.array([0.7, 0.2, 0.1]) * np.array([-0.4170300162778335, -1.4170300162778335, -2.3170300162778335])).sum()
    assert shows([total], expected, rel=1e-5)


def test_cross_entropy_explanation_of_probabilities_uses_minus_y_over_p():
    steps = explain_cross_entropy([0.7, 0.2, 0.1], target=0, probs_input=True)
    assert any("−1 / 0.7 ≈ -1.42857" in s.text for s in steps)


def test_binary_cross_entropy_explanation_shows_each_loss_mean_and_gradient():
    steps = explain_binary_cross_entropy([1.0, -2.0], [1, 0])
    assert shows(steps, 0.313262) and shows(steps, 0.126928) and shows(steps, 0.220095)
    assert shows(steps, -0.268941)  # σ(1) − 1


def test_kl_explanation_decomposes_the_notes_example():
    steps = explain_kl([0.7, 0.2, 0.1], [0.6, 0.3, 0.1], symmetric=True)
    text = "\n".join(s.text for s in steps)
    assert "0.7 × log(0.7 / 0.6) ≈ 0.107905" in text
    assert "D_KL = H(P,Q) − H(P) = 0.828631 − 0.801819 ≈ 0.0268125" in text
    assert any(s.rule == "Jensen–Shannon" for s in steps)


def test_kl_explanation_names_the_zero_rules():
    steps = explain_kl([0.5, 0.5, 0.0], [0.5, 0.0, 0.5])
    rules = [s.rule for s in steps]
    assert "0·log(0/q) = 0" in rules and "p > 0 with q = 0" in rules


def test_every_step_is_well_formed_data():
    for steps in (explain_softmax([3, -1e6]), explain_cross_entropy([1, 2], target=1, base="2"),
                  explain_kl([1, 0], [0.5, 0.5], base="2"), explain_binary_cross_entropy([0.2], [1], probs_input=True)):
        for s in steps:
            assert isinstance(s, Step) and s.text and s.latex and "$" not in s.latex and s.depth >= 0


def test_explain_rejects_a_batch():
    with pytest.raises(DlcalcError, match="one vector at a time"):
        explain_softmax([[1, 2], [3, 4]])


def test_importing_the_core_does_not_import_scipy_sympy_or_matplotlib():
    code = ("import sys, dlcalc.softmax_core, dlcalc.losses, dlcalc.explain; "
            "print([m for m in ('scipy', 'sympy', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
