"""Distillation: temperature on both logits and the T² factor (oracle: PyTorch, float64)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcalc.distillation import distillation_cross_entropy, distillation_kl
from tests.conftest import assert_user_error, floats, strict_json

torch = pytest.importorskip("torch")
F = torch.nn.functional

TEACHER = [3.0, 1.0, -2.0, 0.5]
STUDENT = [0.5, 2.0, 1.0, -1.0]


def torch_kl(teacher, student, temperature, scale):
    s, t = torch.tensor(student, dtype=torch.float64), torch.tensor(teacher, dtype=torch.float64)
    kl = F.kl_div(F.log_softmax(s / temperature, -1), F.log_softmax(t / temperature, -1),
                  log_target=True, reduction="sum")
    return (kl * temperature ** 2 if scale else kl).item()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0, 10.0])
@pytest.mark.parametrize("scale", [False, True])
def test_kl_matches_pytorch_distillation_loss(temperature, scale):
    ours = distillation_kl(TEACHER, STUDENT, temperature, scale).kl
    assert float(ours) == pytest.approx(torch_kl(TEACHER, STUDENT, temperature, scale), rel=1e-14)


@pytest.mark.parametrize("temperature", [0.5, 2.0, 4.0])
def test_cross_entropy_with_soft_targets_matches_pytorch_loss_and_gradient(temperature):
    targets = np.array([0.6, 0.1, 0.05, 0.25])
    z = torch.tensor(STUDENT, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy((z / temperature)[None], torch.tensor(targets)[None], reduction="sum")
    (loss * temperature ** 2).backward()
    ours = distillation_cross_entropy(STUDENT, temperature, True, target_probs=targets)
    assert float(ours.loss) == pytest.approx(loss.item() * temperature ** 2, rel=1e-14)
    np.testing.assert_allclose(ours.grad, z.grad.numpy(), rtol=1e-13, atol=1e-16)


def test_the_tempered_distributions_are_the_softmax_of_logits_over_t():
    found = distillation_kl(TEACHER, STUDENT, 2.0)
    expected = torch.softmax(torch.tensor(TEACHER, dtype=torch.float64) / 2, -1).numpy()
    np.testing.assert_allclose(found.p, expected, rtol=1e-15)


def test_the_identity_kl_equals_cross_entropy_minus_entropy_survives_the_t2_factor():
    found = distillation_kl(TEACHER, STUDENT, 3.0, True)
    assert float(found.kl) == pytest.approx(float(found.cross_entropy - found.entropy), rel=1e-12)


def test_cli_kl_with_temperature_and_scale(dl):
    run = dl("kl", *TEACHER, "--q", *STUDENT, "--logits", "-t", "4", "--scale-t2")
    assert run.code == 0
    assert floats(run.out) == [pytest.approx(torch_kl(TEACHER, STUDENT, 4.0, True), rel=1e-14)]
    data = strict_json(dl("kl", *TEACHER, "--q", *STUDENT, "--logits", "-t", "4", "--json").out)
    assert data["temperature"] == 4 and data["scale_t2"] is False
    explained = dl("kl", *TEACHER, "--q", *STUDENT, "--logits", "-t", "4", "--explain", "-f", "table")
    assert "softmax([3, 1, -2, 0.5] / 4)" in explained.out


def test_cli_ce_with_temperature(dl):
    run = dl("ce", *STUDENT, "--target-probs", "0.6", "0.1", "0.05", "0.25", "-t", "2", "--scale-t2")
    z = torch.tensor(STUDENT, dtype=torch.float64)
    expected = F.cross_entropy((z / 2)[None], torch.tensor([[0.6, 0.1, 0.05, 0.25]],
                                                           dtype=torch.float64)).item() * 4
    assert run.code == 0 and float(run.out) == pytest.approx(expected, rel=1e-14)
    for fmt in ("table", "markdown", "latex", "csv", "json"):
        assert dl("ce", *STUDENT, "--target", "1", "-t", "2", "--explain", "-f", fmt).code == 0


@pytest.mark.parametrize("args,fragment", [
    (["kl", "0.5", "0.5", "--q", "0.4", "0.6", "-t", "2"], "add --logits"),
    (["kl", "1", "2", "--q", "0", "0", "--logits", "-t", "0"], "temperature"),
    (["ce", "0.5", "0.5", "--probs", "--target", "0", "-t", "2"], "--probs"),
    (["ce", "1", "-1", "--binary", "--target", "1", "0", "--scale-t2"], "--binary"),
])
def test_cli_temperature_errors(dl, args, fragment):
    assert_user_error(dl(*args), fragment)
