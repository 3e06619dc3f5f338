r"""Knowledge distillation (SPEC §5 and §4, `kl --logits -t T --scale-t2`, `ce -t T`).

Hinton, Vinyals & Dean (2015) soften both the teacher's and the student's logits with a
temperature T before the softmax, and multiply the loss by T², because the gradients of the
softened targets scale as 1/T²: the factor keeps their size as T changes. In PyTorch:

    F.kl_div(F.log_softmax(s / T), F.log_softmax(t / T), log_target=True, reduction="sum") * T**2

which is D_KL(softmax(t/T) ‖ softmax(s/T))·T², the teacher t being P and the student s being Q,
and with soft targets ``F.cross_entropy(s / T, y, reduction="sum") * T**2``. The divided
logits are rounded once each, as z / T is in PyTorch; the rest is dlcalc's stable KL and
cross-entropy (`dlcalc.losses`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dlcalc import losses
from dlcalc.softmax_core import as_float_array, validate_temperature
from dlcalc.steps import Step


def tempered(z: np.ndarray, temperature: float) -> np.ndarray:
    """z / T, one rounding per logit, as PyTorch's ``z / T``."""
    t = validate_temperature(temperature)
    return z if t == 1 else z / z.dtype.type(t)


def distillation_kl(teacher_logits, student_logits, temperature: float = 1.0,
                    scale_t2: bool = False, base: str = "e", symmetric: bool = False) -> losses.KL:
    """D_KL(softmax(t/T) ‖ softmax(s/T)), times T² with `scale_t2`. ``p`` and ``q`` of the
    result are the tempered softmaxes; every value (cross-entropy, entropy, terms, the reverse
    KL and JS) carries the factor, so that D_KL = H(P,Q) − H(P) still holds."""
    zp = as_float_array(teacher_logits, "P logits")
    zq = as_float_array(student_logits, "Q logits")
    result = losses.kl_divergence_from_logits(tempered(zp, temperature), tempered(zq, temperature),
                                              base=base, symmetric=symmetric)
    if not scale_t2:
        return result
    factor = result.kl.dtype.type(float(temperature) ** 2)
    scaled = {name: getattr(result, name) * factor
              for name in ("kl", "cross_entropy", "entropy", "terms", "kl_reverse", "js")
              if getattr(result, name) is not None}
    return dataclasses.replace(result, **scaled)


def distillation_cross_entropy(logits, temperature: float = 1.0, scale_t2: bool = False,
                               **targets) -> losses.CrossEntropy:
    """Cross-entropy of softmax(z/T) against the targets (`target` or `target_probs`,
    `label_smoothing`, `base` as in `losses.cross_entropy`), times T² with `scale_t2`.
    ``probs`` is softmax(z/T); ``grad`` is ∂L/∂z for the logits as given: (ŷ − y)/T, times T²."""
    z = as_float_array(logits, "logits")
    result = losses.cross_entropy(tempered(z, temperature), **targets)
    t = result.loss.dtype.type(float(temperature))
    factor = t * t if scale_t2 else t.dtype.type(1)
    return dataclasses.replace(result, loss=result.loss * factor, grad=result.grad / t * factor)


def explain_temperature(logits: dict[str, np.ndarray], softmaxes: dict[str, np.ndarray],
                        temperature: float) -> list[Step]:
    """The tempered softmaxes, one step each: `logits` and `softmaxes` by name (P, Q, ŷ)."""
    from dlcalc.number_text import latex_number, people_number

    def vector(values: np.ndarray, number) -> str:
        return "[" + ", ".join(number(v, 6) for v in values) + "]"

    t = people_number(temperature, 6)
    steps = [Step(text=f"divide the logits by the temperature T = {t}, then softmax",
                  latex=rf"T = {latex_number(temperature, 6)}:\ \mathrm{{softmax}}(z/T)",
                  rule="temperature")]
    for name, z in logits.items():
        steps.append(Step(
            text=f"{name} = softmax({vector(z, people_number)} / {t}) = {vector(softmaxes[name], people_number)}",
            latex=rf"{name} = \mathrm{{softmax}}({vector(z, latex_number)} / {latex_number(temperature, 6)})"
                  rf" = {vector(softmaxes[name], latex_number)}",
            rule="tempered softmax", depth=1))
    return steps


def explain_scale(value: float, temperature: float, scaled: float, what: str = "D_KL") -> Step:
    from dlcalc.number_text import latex_number, people_number

    return Step(text=f"{what} × T² = {people_number(value, 6)} × {people_number(temperature, 6)}² "
                     f"= {people_number(scaled, 6)}",
                latex=rf"{what} \times T^2 = {latex_number(value, 6)} \times "
                      rf"{latex_number(temperature, 6)}^2 = {latex_number(scaled, 6)}",
                rule="T² scaling (Hinton et al. 2015)")


def explain_gradient(grad: np.ndarray, temperature: float, scale_t2: bool) -> Step:
    """∂L/∂z of the logits as given: the chain rule through z/T."""
    from dlcalc.number_text import latex_number, people_number

    values = ", ".join(people_number(v, 6) for v in grad)
    if scale_t2:
        return Step(text=f"gradient w.r.t. the given logits: ∂L/∂z = T²·(ŷ − y)/T = T·(ŷ − y) = [{values}]",
                    latex=r"\frac{\partial L}{\partial z} = T\,(\hat y - y) = ["
                          + ", ".join(latex_number(v, 6) for v in grad) + "]",
                    rule="chain rule through z/T")
    return Step(text=f"gradient w.r.t. the given logits: ∂L/∂z = (ŷ − y)/T = [{values}]",
                latex=r"\frac{\partial L}{\partial z} = (\hat y - y)/T = ["
                      + ", ".join(latex_number(v, 6) for v in grad) + "]",
                rule="chain rule through z/T")
