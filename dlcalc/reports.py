"""What each command has to say, as a format-free `Report` (see `dlcalc.output`).

The core computes; these functions only choose the columns of the table, the primary result
for pipelines (plain), the JSON object and the footer lines of one input vector. They compute
nothing themselves.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from dlcalc.output import Matrix, Report
from dlcalc.steps import Step


def _index(n: int) -> list[int]:
    return list(range(n))


# ---------------------------------------------------------------- activate


def activation_report(label: str, params: dict[str, float], x: np.ndarray, y: np.ndarray,
                      dy: np.ndarray | None) -> Report:
    columns: dict[str, Any] = {"x": x, "f(x)": y}
    data: dict[str, Any] = {"function": label, "params": params, "x": x, "y": y}
    if dy is not None:
        columns["f'(x)"] = dy
        data["dy"] = dy
    return Report(columns=columns, plain=y if dy is None else dy, data=data)


def registry_report(entries: Sequence[Any]) -> Report:
    def params_text(entry: Any) -> str:
        return ", ".join(f"{p.name}={p.default:g}" for p in entry.parameters) or "-"

    return Report(
        columns={
            "name": [e.name for e in entries],
            "aliases": [", ".join(e.aliases) or "-" for e in entries],
            "parameters": [params_text(e) for e in entries],
            "f(x)": [e.formula for e in entries],
            "f'(x)": [e.derivative_formula for e in entries],
        },
        plain=[e.name for e in entries],
        markdown_columns={
            "name": [f"`{e.name}`" for e in entries],
            "aliases": [", ".join(e.aliases) or "" for e in entries],
            "parameters": [params_text(e) if e.parameters else "" for e in entries],
            "f(x)": [f"${e.latex}$" for e in entries],
            "f'(x)": [f"${e.derivative_latex}$" for e in entries],
        },
        data={"functions": [
            {"name": e.name, "aliases": list(e.aliases), "summary": e.summary,
             "formula": e.formula, "derivative": e.derivative_formula, "latex": e.latex,
             "derivative_latex": e.derivative_latex,
             "parameters": {p.name: p.default for p in e.parameters}}
            for e in entries]},
        plain_one_per_line=True,
    )


def properties_report(found: Sequence[Any], ratio: float) -> Report:
    saturation = [", ".join(zone.text() for zone in p.saturation) or "none" for p in found]
    centred = [p.zero_centred for p in found]
    return Report(
        columns={
            "function": [p.name for p in found],
            "output range": [p.output_range.text() for p in found],
            "zero-centred": centred,
            "max f'": [p.max_derivative for p in found],
            "at": [p.max_derivative_at.text() for p in found],
            f"saturated (|f'| < {ratio:g}·max)": saturation,
        },
        plain=["\t".join([p.name, p.output_range.text(), c, repr(float(p.max_derivative)),
                          p.max_derivative_at.text(), s])
               for p, c, s in zip(found, centred, saturation)],
        data={"saturation_ratio": ratio, "properties": [p.as_dict() for p in found]},
        plain_one_per_line=True,
    )


# ---------------------------------------------------------------- softmax


def softmax_report(z: np.ndarray, temperature: float, softmax: np.ndarray,
                   log_softmax: np.ndarray, logsumexp: float, *, log: bool,
                   jacobian: np.ndarray | None, steps: Sequence[Step]) -> Report:
    data: dict[str, Any] = {"z": z, "temperature": temperature, "softmax": softmax,
                            "log_softmax": log_softmax, "logsumexp": logsumexp}
    matrices = []
    if jacobian is not None:
        data["jacobian"] = jacobian
        what = "log_softmax" if log else "softmax"
        matrices.append(Matrix(f"Jacobian ∂{what}_i/∂z_k (row i, column k)", jacobian,
                               [str(i) for i in range(z.size)]))
    return Report(
        columns={"i": _index(z.size), "z": z, "softmax": softmax, "log_softmax": log_softmax},
        plain=log_softmax if log else softmax,
        data=data,
        footer=[("logsumexp", logsumexp)] + ([("temperature", temperature)] if temperature != 1 else []),
        steps=steps,
        matrices=matrices,
    )


# ---------------------------------------------------------------- ce


def cross_entropy_report(inputs: np.ndarray, result: Any, row: int, *, probs_input: bool,
                         want_grad: bool, unit: str, steps: Sequence[Step],
                         target: np.ndarray | None = None) -> Report:
    """`target`: the probability targets as given (before label smoothing), if not a class index."""
    target_distribution = result.target_distribution[row]
    given = target if target is not None else target_distribution
    target = None if result.target is None else int(result.target[row])
    grad = result.grad[row]
    loss = result.loss[row]
    columns = {"i": _index(inputs.size), "p" if probs_input else "z": inputs,
               "y": target_distribution}
    if not probs_input:
        columns["ŷ"] = result.probs[row]
    columns["∂L/∂p" if probs_input else "∂L/∂z"] = grad
    return Report(
        columns=columns,
        plain=grad if want_grad else [loss],
        data={"loss": loss, "probs": result.probs[row], "grad": grad,
              "target": target if target is not None else given,
              "target_distribution": target_distribution, "base": unit},
        footer=[(f"loss ({unit})", loss)],
        steps=steps,
    )


def binary_cross_entropy_report(inputs: np.ndarray, result: Any, row: int, *, probs_input: bool,
                                want_grad: bool, unit: str, steps: Sequence[Step]) -> Report:
    columns = {"i": _index(inputs.size), "p" if probs_input else "z": inputs,
               "y": result.labels[row]}
    if not probs_input:
        columns["σ(z)"] = result.probs[row]
    columns["loss"] = result.losses[row]
    columns["∂ℓ/∂p" if probs_input else "∂ℓ/∂z"] = result.grad[row]
    return Report(
        columns=columns,
        plain=result.grad[row] if want_grad else [result.loss[row]],
        data={"loss": result.loss[row], "losses": result.losses[row], "probs": result.probs[row],
              "grad": result.grad[row], "target": result.labels[row], "base": unit},
        footer=[(f"mean loss ({unit})", result.loss[row])],
        steps=steps,
    )


# ---------------------------------------------------------------- kl


def kl_report(result: Any, row: int, *, unit: str, steps: Sequence[Step]) -> Report:
    p, q = result.p[row], result.q[row]
    kl, cross, entropy = result.kl[row], result.cross_entropy[row], result.entropy[row]
    footer = [(f"H(P,Q) cross-entropy ({unit})", cross), (f"H(P) entropy ({unit})", entropy),
              (f"D_KL(P‖Q) = H(P,Q) − H(P) ({unit})", kl)]
    data: dict[str, Any] = {"kl": kl, "cross_entropy": cross, "entropy": entropy,
                            "terms": result.terms[row], "p": p, "q": q, "base": unit}
    if result.kl_reverse is not None:
        footer += [(f"D_KL(Q‖P) ({unit})", result.kl_reverse[row]),
                   (f"JS(P, Q) ({unit})", result.js[row])]
        data["kl_reverse"] = result.kl_reverse[row]
        data["js"] = result.js[row]
    return Report(
        columns={"i": _index(p.size), "p": p, "q": q, "p·log(p/q)": result.terms[row]},
        plain=[kl],
        data=data,
        footer=footer,
        steps=steps,
    )


# ---------------------------------------------------------------- grad


def gradient_report(expression: str, variables: Sequence[str], partials_text: Sequence[str],
                    partials_plain: Sequence[str], partials_latex: Sequence[str], *,
                    at: dict[str, float] | None, values: np.ndarray | None,
                    check: tuple[np.ndarray, float] | None,
                    hessian: tuple[list[list[str]], list[list[str]], list[list[str]], np.ndarray | None] | None,
                    steps: Sequence[Step], variables_latex: Sequence[str] | None = None) -> Report:
    # Variables in LaTeX as the partials print them (w1 is w_{1}), so ∂f/∂w_{1} matches.
    names_latex = list(variables_latex) if variables_latex is not None else list(variables)
    columns: dict[str, Any] = {"variable": list(variables), "partial derivative": list(partials_text)}
    markdown: dict[str, Any] = {"variable": [f"${v}$" for v in names_latex],
                                "partial derivative": [f"$\\frac{{\\partial f}}{{\\partial {v}}} = {tex}$"
                                                       for v, tex in zip(names_latex, partials_latex)]}
    data: dict[str, Any] = {"expression": expression, "variables": list(variables),
                            "partials": dict(zip(variables, partials_plain))}
    footer: list[tuple[str, Any]] = []
    latex_lines = [rf"\frac{{\partial f}}{{\partial {v}}} &= {tex}"
                   for v, tex in zip(names_latex, partials_latex)]
    if values is not None:
        columns["value"] = values
        markdown["value"] = values
        data["at"] = at
        data["gradient"] = values
    if check is not None:
        numeric, difference = check
        columns["finite difference"] = numeric
        data["check"] = {"finite_difference": numeric, "max_relative_difference": difference}
        footer.append(("largest relative difference from central finite differences", difference))
    matrices = []
    if hessian is not None:
        text, plain, latex, numbers = hessian
        data["hessian"] = plain if numbers is None else numbers
        if numbers is not None:
            data["hessian_expressions"] = plain
        matrices.append(Matrix("Hessian ∂²f/∂v_i∂v_j",
                               np.array(text if numbers is None else numbers, dtype=object),
                               list(variables), latex=latex if numbers is None else None))
    return Report(
        columns=columns,
        plain=list(values) if values is not None else list(partials_plain),
        data=data,
        footer=footer,
        steps=steps,
        matrices=matrices,
        latex="\\begin{aligned}\n" + " \\\\\n".join(latex_lines) + "\n\\end{aligned}",
        plain_one_per_line=values is None,
        markdown_columns=markdown,
    )
