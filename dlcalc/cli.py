"""The command line: parse options, call the core, hand a Report to the output layer.

Each command is one small function. What they share lives elsewhere: argv normalisation
(`dlcalc.argv`), stdin batches and exit codes (`dlcalc.runner`), formats (`dlcalc.output`).
User mistakes become one `error: ...` line and exit 2 in exactly one place, `main()`.
"""

import os
import signal
import sys
from typing import Annotated, Any, List, Optional, Tuple

import numpy as np
import typer
from typer.core import TyperCommand

try:  # Typer 0.28 and later carry their own copy of Click; older ones use Click itself.
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import NoArgsIsHelpError, UsageError

from dlcalc import __version__, argv, reports
from dlcalc.errors import DlcalcError, EnvironmentFailure, quietly
from dlcalc.output import FORMATS, Report
from dlcalc.runner import Style, Warnings, is_terminal, run_vector_command
from dlcalc.vectors import parse_assignments, parse_vector

app = typer.Typer(
    name="dlcalc",
    help="The mathematics of deep learning on the command line: activations and their "
    "derivatives, softmax, cross-entropy, KL divergence, symbolic gradients and plots.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def command_class(*vector_options: str) -> type[TyperCommand]:
    """A Click command class whose argv is normalised first (see `dlcalc.argv`)."""

    class Command(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            arity: dict[str, int] = {}
            for param in self.get_params(ctx):
                if param.param_type_name == "option":
                    for name in param.opts + param.secondary_opts:
                        arity[name] = 0 if param.is_flag or param.count else param.nargs
            normalized = argv.normalize(args, arity=arity, vector_options=frozenset(vector_options))
            return super().parse_args(ctx, normalized)

    return Command


# ---------------------------------------------------------------- options every command shares

FormatOption = Annotated[Optional[str], typer.Option(
    "--format", "-f", metavar="FORMAT",
    help="table, plain, csv, json, markdown or latex [default: table on a terminal, plain otherwise]")]
JsonOption = Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")]
PrecisionOption = Annotated[int, typer.Option(
    "--precision", metavar="N", help="Significant digits in tables and Markdown.")]
DtypeOption = Annotated[str, typer.Option(
    "--dtype", metavar="DTYPE", help="float64 or float32: compute in that precision.")]


def make_style(fmt: str | None, json_flag: bool, precision: int, dtype: str) -> Style:
    if json_flag:
        fmt = "json"
    if fmt is None:
        fmt = "table" if is_terminal(sys.stdout) else "plain"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise DlcalcError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not 1 <= precision <= 17:
        raise DlcalcError(f"--precision {precision} is out of range; give 1 to 17 digits")
    if dtype not in ("float64", "float32"):
        raise DlcalcError(f"unknown dtype {dtype!r}; choose float64 or float32")
    color = fmt == "table" and is_terminal(sys.stdout) and not os.environ.get("NO_COLOR")
    return Style(fmt=fmt, precision=precision, dtype=dtype, color=color)


def emit(report: Report, style: Style) -> int:
    from dlcalc import output

    text = output.render(report, style.fmt, precision=style.precision, dtype=style.dtype,
                         color=style.color)
    if text:
        print(text)
    return 0


def parse_params(items: list[str] | None, alpha: float | None) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items or []:
        values.update(parse_assignments(item, "-p"))
    if alpha is not None:
        values["alpha"] = alpha
    return values


def version_callback(value: bool) -> None:
    if value:
        print(f"dlcalc {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """The mathematics of deep learning on the command line.

    Vectors are numbers on the command line (2 1 0.1, 2,1,0.1 or [2, 1, 0.1]) or lines on
    standard input. Output is a table on a terminal and plain numbers in a pipeline.
    """


# ---------------------------------------------------------------- activate


@app.command(cls=command_class())
def activate(
    function: Annotated[Optional[str], typer.Argument(
        metavar="FUNC", help="A registry name (see --list) or an expression in x.")] = None,
    values: Annotated[Optional[List[str]], typer.Argument(
        metavar="X...", help="Inputs; read from stdin when absent or '-'.")] = None,
    deriv: Annotated[bool, typer.Option("--deriv", "-d", help="Also compute f'(x).")] = False,
    param: Annotated[Optional[List[str]], typer.Option(
        "--param", "-p", metavar="NAME=VALUE", help="Set a parameter (repeatable).")] = None,
    alpha: Annotated[Optional[float], typer.Option(
        "--alpha", help="The notes' α: leaky_relu's negative_slope, elu/celu's alpha.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List every function with its formulas.")] = False,
    props: Annotated[bool, typer.Option(
        "--props", help="Compare functions: range, zero-centred, max derivative, saturation.")] = False,
    saturation: Annotated[float, typer.Option(
        "--saturation", metavar="R", help="With --props: saturated where |f'| < R·max|f'|.")] = 0.01,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Derive f'(x) from the definition, naming each rule; with X values, "
        "evaluate it there too (without X, only the derivation).")] = False,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
) -> int:
    """Evaluate an activation function (and its derivative) element-wise.

    \b
    Examples:
      dlcalc activate relu -2 -1 0 1 2
      dlcalc activate sigmoid 0 1 2 --deriv
      dlcalc activate leaky_relu -1 1 --alpha 0.1
      dlcalc activate "x*sigmoid(x)" -1 0 1 --deriv
      dlcalc activate --props sigmoid tanh
      dlcalc activate sigmoid --deriv --explain
      seq -3 3 | dlcalc activate tanh
    """
    from dlcalc import activations
    from dlcalc.functions import resolve

    style = make_style(fmt, json_flag, precision, dtype)
    overrides = parse_params(param, alpha)
    if list_:
        return emit(reports.registry_report(list(activations.REGISTRY.values())), style)
    if props:
        names = ([function] if function else []) + list(values or [])
        if not names:
            raise DlcalcError("--props needs function names, for example: --props sigmoid tanh")
        if not 0 < saturation < 1:
            raise DlcalcError(f"--saturation {saturation} must be between 0 and 1, for example 0.01")
        return emit(_properties(names, overrides, saturation), style)
    if function is None:
        raise DlcalcError("missing FUNC: name a function (dlcalc activate --list) and give x values")
    chosen = resolve(function, overrides)
    if explain and values is None:  # the derivation alone: no x values to read
        return emit(_activation_explained(chosen, None), style)

    def compute(x: np.ndarray, operands: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if operands is not None:  # a stdin line 'X ; Y': activate has no second operand to apply
            raise DlcalcError("activate takes x values only; remove the ';' and what follows it")
        return x, chosen.function(x), chosen.derivative(x) if deriv else None

    def present(result: tuple, row: int) -> Report:
        x, y, dy = result
        report = reports.activation_report(chosen.label, chosen.params, x[row], y[row],
                                           None if dy is None else dy[row])
        if explain:
            report.steps = _activation_explained(chosen, (x[row], chosen.derivative(x[row]))).steps
        return report

    return run_vector_command(values, compute, present, style, what="x values",
                              plain=None if explain else
                              lambda result: result[2] if deriv else result[1])


def _activation_explained(chosen: Any, evaluated: tuple | None) -> Report:
    """f' derived from the definition (an expression: by the rules, as grad --steps does)."""
    from dlcalc import activations, symbolic_derivations

    x, dy = evaluated if evaluated is not None else ((), ())
    if chosen.label in activations.REGISTRY:
        steps = symbolic_derivations.activation_derivation(chosen.label, chosen.params, x, dy)
    else:
        from dlcalc.derivation import derivation_steps

        steps = derivation_steps(chosen.label, "x") + \
            symbolic_derivations.activation_derivation_values(x, dy)
    # The derivation is the whole answer when no x is given: plain prints its lines too.
    return Report(columns={}, plain=[("  " * step.depth) + step.text for step in steps],
                  data={"function": chosen.label, "params": chosen.params,
                        "steps": [step.as_dict() for step in steps]},
                  steps=steps, plain_one_per_line=True)


def _properties(names: list[str], overrides: dict[str, float], ratio: float) -> Report:
    from dlcalc import activations
    from dlcalc.functions import resolve_all

    chosen = resolve_all(names, overrides)
    found = [activations.properties(c.activation, c.params, saturation=ratio) for c in chosen]
    return reports.properties_report(found, ratio)


# ---------------------------------------------------------------- softmax


@app.command(cls=command_class())
def softmax(
    logits: Annotated[Optional[List[str]], typer.Argument(
        metavar="Z...", help="Logits; read from stdin when absent or '-'.")] = None,
    temperature: Annotated[float, typer.Option(
        "--temperature", "-t", metavar="T", help="Divide the logits by T first.")] = 1.0,
    log: Annotated[bool, typer.Option("--log", help="Plain output (and --jacobian) for log-softmax.")] = False,
    jacobian: Annotated[bool, typer.Option("--jacobian", help="The n×n Jacobian ∂ŷ_i/∂z_k.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Work it out step by step.")] = False,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
) -> int:
    """Softmax, log-softmax and log-sum-exp of logits, stable for any finite logits.

    \b
    Examples:
      dlcalc softmax 2 1 0.1
      dlcalc softmax 2 1 0.1 --explain
      dlcalc softmax 2 1 0.1 --log --jacobian
      dlcalc softmax 1000 0 -1000 -t 100
      printf '2 1 0.1\\n0 0\\n' | dlcalc softmax --json
    """
    from dlcalc import softmax as core
    if explain:  # imported only when used: start-up time is the tool's main cost
        from dlcalc.explain import explain_softmax

    style = make_style(fmt, json_flag, precision, dtype)
    core.validate_temperature(temperature)

    def compute(z: np.ndarray, operands: np.ndarray | None) -> tuple:
        if operands is not None:  # a stdin line 'Z ; X': softmax has no second operand to apply
            raise DlcalcError("softmax takes logits only; remove the ';' and what follows it")
        if jacobian and z.shape[-1] > MAX_JACOBIAN_CLASSES:
            raise DlcalcError(f"--jacobian of {z.shape[-1]:,} logits would have {z.shape[-1] ** 2:,} "
                              f"entries; it takes at most {MAX_JACOBIAN_CLASSES:,} logits")
        return z, core.softmax_all(z, temperature)

    def present(computed: tuple, row: int) -> Report:
        z, result = computed
        matrix = None
        if jacobian:  # one row's n×n matrix at a time: a batch's would be rows·n² numbers at once
            matrix = quietly(core.log_softmax_jacobian if log else core.softmax_jacobian,
                              z[row], temperature)
        steps: Any = ()
        if explain:
            steps = quietly(explain_softmax, z[row], temperature, log)
            if jacobian:  # the Jacobian derived in symbols (two cases), then at these logits
                from dlcalc.symbolic_derivations import softmax_jacobian_derivation

                steps = steps + softmax_jacobian_derivation(result.softmax[row], matrix, log=log,
                                                            temperature=temperature)
        return reports.softmax_report(
            z[row], temperature, result.softmax[row], result.log_softmax[row],
            result.logsumexp[row], log=log, jacobian=matrix, steps=steps)

    return run_vector_command(logits, compute, present, style, what="logits",
                              plain=None if explain else
                              lambda c: c[1].log_softmax if log else c[1].softmax)


# --jacobian prints n² numbers: 2,000 logits are already 4 million of them (32 MB as float64).
MAX_JACOBIAN_CLASSES = 2_000


# ---------------------------------------------------------------- ce

BaseOption = Annotated[str, typer.Option(
    "--base", metavar="e|2", help="Logarithm base: e (nats) or 2 (bits).")]
NormalizeOption = Annotated[bool, typer.Option(
    "--normalize", help="Divide probabilities by their sum instead of requiring it to be 1.")]


def _unit(base: str) -> str:
    if base not in ("e", "2"):
        raise DlcalcError(f"unknown --base {base!r}; choose e (nats) or 2 (bits)")
    return "nats" if base == "e" else "bits"


@app.command(cls=command_class("--target", "--target-probs"))
def ce(
    logits: Annotated[Optional[List[str]], typer.Argument(
        metavar="LOGITS...", help="Logits (or probabilities with --probs); stdin when absent or '-'.")] = None,
    target: Annotated[Optional[str], typer.Option(
        "--target", metavar="K", help="True class index (0-based); with --binary, one label per element.")] = None,
    target_probs: Annotated[Optional[str], typer.Option(
        "--target-probs", metavar="P...", help="Probability (soft) targets.")] = None,
    probs: Annotated[bool, typer.Option("--probs", help="The inputs are probabilities, not logits.")] = False,
    normalize: NormalizeOption = False,
    label_smoothing: Annotated[float, typer.Option(
        "--label-smoothing", metavar="E", help="Mix the target with the uniform distribution.")] = 0.0,
    base: BaseOption = "e",
    grad: Annotated[bool, typer.Option("--grad", help="Plain output: the gradient instead of the loss.")] = False,
    binary: Annotated[bool, typer.Option("--binary", help="Binary cross-entropy, element-wise.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Work it out step by step.")] = False,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
) -> int:
    """Cross-entropy loss and its gradient, as torch.nn.functional.cross_entropy computes it.

    In batch mode each line may carry its target after a ';': '2 1 0.1 ; 0' (a class index),
    '2 1 0.1 ; 0.7 0.2 0.1' (probability targets) or, with --binary, one label per element.

    \b
    Examples:
      dlcalc ce 2 1 0.1 --target 0
      dlcalc ce 2 1 0.1 --target 0 --grad
      dlcalc ce 2 1 0.1 --target-probs 0.7 0.2 0.1 --label-smoothing 0.1
      dlcalc ce 0.659 0.242 0.099 --probs --target 0 --normalize
      dlcalc ce 2 -1 0.5 --binary --target 1 0 1
      printf '2 1 0.1 ; 0\\n0 3 ; 1\\n' | dlcalc ce
    """
    if explain:
        from dlcalc import explain as explained
    from dlcalc import losses

    style = make_style(fmt, json_flag, precision, dtype)
    unit = _unit(base)
    if target is not None and target_probs is not None:
        raise DlcalcError("give either --target or --target-probs, not both")
    if binary and target_probs is not None:
        raise DlcalcError("--binary takes its labels with --target (one per element, 0 to 1)")
    if binary and label_smoothing != 0:
        raise DlcalcError(f"--label-smoothing {label_smoothing:g} applies to multiclass cross-entropy, "
                          "not to --binary (binary_cross_entropy has no label smoothing)")
    if binary and normalize:
        raise DlcalcError("--normalize does not apply to --binary: each element is its own "
                          "probability in [0, 1], there is no distribution to normalize")
    losses.validate_label_smoothing(label_smoothing)
    operand = None
    if target is not None:
        operand = parse_vector([target], "--target")
        if not binary and operand.size != 1:
            raise DlcalcError(f"--target takes one class index, got {operand.size} numbers; "
                              "use --target-probs for probability targets or --binary for labels")
    elif target_probs is not None:
        operand = parse_vector([target_probs], "--target-probs")

    def split(operands: np.ndarray | None, n: int) -> dict[str, Any]:
        if operands is None:
            raise DlcalcError("ce needs a target: --target K, --target-probs P..., "
                              "or '; K' after each line on stdin")
        if binary:
            return {"labels": operands}
        # one number is a class index, unless it is a one-class distribution from --target-probs
        if operands.shape[-1] == 1 and (n > 1 or target_probs is None):
            return {"target": operands[..., 0]}
        return {"target_probs": operands}

    def compute(x: np.ndarray, operands: np.ndarray | None) -> Any:
        chosen = split(operands, x.shape[-1])
        if binary:
            function = losses.binary_cross_entropy if probs else losses.binary_cross_entropy_with_logits
            return x, operands, function(x, chosen["labels"], base=base)
        if probs:
            return x, operands, losses.cross_entropy_from_probs(
                x, **chosen, label_smoothing=label_smoothing, base=base, normalize=normalize,
                normalize_target=normalize)
        return x, operands, losses.cross_entropy(x, **chosen, label_smoothing=label_smoothing, base=base,
                                                 normalize_target=normalize)

    def present(computed: tuple, row: int) -> Report:
        x, operands, result = computed
        steps: Any = ()
        if binary:
            if explain:
                steps = quietly(explained.explain_binary_cross_entropy, x[row], operands[row],
                                 base=base, probs_input=probs)
            return reports.binary_cross_entropy_report(x[row], result, row, probs_input=probs,
                                                       want_grad=grad, unit=unit, steps=steps)
        chosen = split(operands[row:row + 1], x.shape[-1])
        given = chosen["target"][0] if "target" in chosen else chosen["target_probs"][0]
        if "target_probs" in chosen and normalize:
            given = given / given.sum()  # what compute() used (it validated the sum is positive)
        if explain and grad and not probs:  # why the gradient is ŷ − y, then its numbers
            from dlcalc.symbolic_derivations import cross_entropy_gradient_derivation

            steps = cross_entropy_gradient_derivation(
                result.probs[row], result.target_distribution[row], result.grad[row],
                bits=unit == "bits")
        elif explain:
            # explain the numbers the loss was computed from: with --normalize, the normalised ones
            steps = quietly(explained.explain_cross_entropy, result.probs[row] if probs else x[row],
                             target=given if "target" in chosen else None,
                             target_probs=given if "target_probs" in chosen else None,
                             label_smoothing=label_smoothing, base=base, probs_input=probs)
        # with --probs the loss is of result.probs (normalised with --normalize): show those
        return reports.cross_entropy_report(result.probs[row] if probs else x[row], result, row,
                                            probs_input=probs,
                                            want_grad=grad, unit=unit, steps=steps,
                                            target=None if "target" in chosen else given)

    return run_vector_command(logits, compute, present, style, operand=operand,
                              what="probabilities" if probs else "logits",
                              plain=None if explain else
                              lambda c: c[2].grad if grad else c[2].loss[:, None])


# ---------------------------------------------------------------- kl


@app.command(cls=command_class("--q"))
def kl(
    p: Annotated[Optional[List[str]], typer.Argument(
        metavar="P...", help="The reference distribution P; stdin when absent or '-'.")] = None,
    q: Annotated[Optional[str], typer.Option("--q", metavar="Q...", help="The distribution Q.")] = None,
    logits: Annotated[bool, typer.Option("--logits", help="P and Q are logits (log-softmax is applied).")] = False,
    normalize: NormalizeOption = False,
    base: BaseOption = "e",
    symmetric: Annotated[bool, typer.Option(
        "--symmetric", help="Also D_KL(Q‖P) and the Jensen–Shannon divergence.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Work it out term by term.")] = False,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
) -> int:
    """KL divergence D_KL(P‖Q) = H(P,Q) − H(P), with its decomposition.

    In batch mode each line may carry its Q after a ';': '0.7 0.2 0.1 ; 0.6 0.3 0.1'.

    \b
    Examples:
      dlcalc kl 0.7 0.2 0.1 --q 0.6 0.3 0.1
      dlcalc kl 0.7 0.2 0.1 --q 0.6 0.3 0.1 --explain --base 2
      dlcalc kl 0 1 0 --q 0.659 0.242 0.099 --normalize
      dlcalc kl 2 1 0.1 --q 0 0 0 --logits --symmetric
      dlcalc softmax 2 1 0.1 | dlcalc kl - --q 0.2 0.3 0.5
    """
    from dlcalc import losses
    if explain:
        from dlcalc.explain import explain_kl

    style = make_style(fmt, json_flag, precision, dtype)
    unit = _unit(base)
    operand = None if q is None else parse_vector([q], "--q")

    def compute(x: np.ndarray, operands: np.ndarray | None) -> Any:
        if operands is None:
            raise DlcalcError("kl needs Q: --q Q... or '; Q...' after each line on stdin")
        if logits:
            return losses.kl_divergence_from_logits(x, operands, base=base, symmetric=symmetric)
        return losses.kl_divergence(x, operands, base=base, symmetric=symmetric, normalize=normalize)

    def present(result: Any, row: int) -> Report:
        steps: Any = ()
        if explain:
            steps = quietly(explain_kl, result.p[row], result.q[row], base=base, symmetric=symmetric)
        return reports.kl_report(result, row, unit=unit, steps=steps)

    return run_vector_command(p, compute, present, style, operand=operand, what="distribution P",
                              plain=None if explain else lambda result: result.kl[:, None])


# ---------------------------------------------------------------- grad


@app.command(cls=command_class("--at"))
def grad(
    expression: Annotated[str, typer.Argument(metavar="EXPR", help="A scalar expression, e.g. 'x**2*y + sin(y)'.")],
    wrt: Annotated[Optional[str], typer.Option(
        "--wrt", metavar="x,y", help="Variables to differentiate by, in order [default: all, sorted].")] = None,
    at: Annotated[Optional[str], typer.Option(
        "--at", metavar="NAME=VALUE...", help="Evaluate the gradient at this point.")] = None,
    steps: Annotated[bool, typer.Option("--steps", help="Derive step by step, naming each rule.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Compare with central finite differences (needs --at).")] = False,
    hessian: Annotated[bool, typer.Option("--hessian", help="The matrix of second partials.")] = False,
    form: Annotated[str, typer.Option(
        "--form", metavar="FORM", help="notes (σ(x)·(1 − σ(x)), −6·(2x − 3y + 4z − 6)), factored "
        "or expanded (18x + 24y − 30).")] = "notes",
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
) -> int:
    """Symbolic partial derivatives and the gradient of a scalar expression.

    The language: numbers, variables, + - * / ** ^, parentheses, exp log ln log2 log10 sqrt abs
    sin cos tan sec asin acos atan sinh cosh tanh erf sigmoid relu softplus gelu Phi phi min
    max, and the constants e and pi. Nothing you type is ever run as Python.

    \b
    Examples:
      dlcalc grad "x**2*y + sin(y)" --at x=1 y=2
      dlcalc grad "exp(-x)" --steps
      dlcalc grad "(w1*x1 + w2*x2 - y)^2" --wrt w1,w2 --at w1=0.5 w2=-1 x1=1 x2=2 y=3 --check
      dlcalc grad "x*sigmoid(x)" --hessian
      dlcalc grad "(3*x + 4*y - 5)^2" --form expanded
    """
    import sympy

    from dlcalc import derivation, symbolic
    from dlcalc.expression import parse_expression

    style = make_style(fmt, json_flag, precision, dtype)
    parsed = parse_expression(expression)
    variables = None
    if wrt is not None:
        variables = [name for name in wrt.replace(",", " ").split() if name]
        if not variables:
            raise DlcalcError("--wrt takes variable names, for example --wrt x,y")
    point = parse_assignments(at, "--at") if at is not None else None
    if check and point is None:
        raise DlcalcError("--check compares at a point: add --at, for example --at x=1 y=2")
    if point is not None:
        # A missing or stray variable is named now, not after seconds of differentiation.
        # (A constant differentiated by --wrt names takes a value for them: d/dx 5 = 0.)
        symbolic.evaluate_at([], point, variables=[s.name for s in parsed.free_symbols]
                             or variables or [])
    said = Warnings(sys.stderr)
    # Each piece of symbolic work (partials, values, --check, --hessian, each variable's --steps)
    # has its own limit; this one bounds their sum, which would otherwise grow with the number
    # of variables. The limits inside symbolic nest within it.
    seconds = 3 * symbolic.DIFFERENTIATE_SECONDS
    limit = symbolic.time_limit(seconds, f"the expression took longer than {seconds:g} s to "
                                         "differentiate and evaluate; simplify it")
    with limit:
        gradient = symbolic.gradient(parsed, variables, form)
        names = list(gradient.variables)
        if not names:
            raise DlcalcError(f"{expression!r} has no variables to differentiate by")
        partials = [gradient.partials[name] for name in names]
        values = None
        if point is not None:
            values, _ = said.run(lambda: gradient.at(point))
        checked = None
        if check:
            # the same NaN/inf as the gradient's: said once, not twice
            checked = quietly(symbolic.finite_difference_check, parsed, names, point)
        matrix = None
        if hessian:
            second = symbolic.hessian(parsed, names)
            rows = range(len(names))
            numbers = None
            if point is not None:
                numbers, _ = said.run(lambda: symbolic.evaluate_at(
                    list(second), point, set(names) | set(point)).reshape(len(names), -1))
            matrix = ([[symbolic.to_text(second[i, j]) for j in rows] for i in rows],
                      [[symbolic.to_plain(second[i, j]) for j in rows] for i in rows],
                      [[symbolic.to_latex(second[i, j]) for j in rows] for i in rows],
                      numbers)
        derivation_steps = []
        if steps:
            for name in names:
                derivation_steps += derivation.derivation_steps(parsed, name, form)
    report = reports.gradient_report(
        expression, names, [symbolic.to_text(p) for p in partials],
        [symbolic.to_plain(p) for p in partials], [symbolic.to_latex(p) for p in partials],
        at=point, values=values, check=checked, hessian=matrix, steps=derivation_steps,
        variables_latex=[symbolic.to_latex(sympy.Symbol(name)) for name in names])
    return emit(report, style)


# ---------------------------------------------------------------- plot


@app.command(cls=command_class("--logits", "-t", "--temperatures"))
def plot(
    functions: Annotated[Optional[List[str]], typer.Argument(
        metavar="FUNC...", help="Registry names or expressions in x; or 'softmax', or 'ce'.")] = None,
    deriv: Annotated[bool, typer.Option("--deriv", "-d", help="Add a panel with the derivatives.")] = False,
    x_range: Annotated[Optional[Tuple[float, float]], typer.Option(
        "--range", metavar="XMIN XMAX", help="The x range [default: -6 6; for ce, p in 0.001 1].")] = None,
    points: Annotated[int, typer.Option("--points", metavar="N", help="Samples per curve.")] = 1000,
    param: Annotated[Optional[List[str]], typer.Option(
        "--param", "-p", metavar="NAME=VALUE", help="Set a parameter (repeatable).")] = None,
    alpha: Annotated[Optional[float], typer.Option("--alpha", help="The notes' α, as in activate.")] = None,
    title: Annotated[Optional[str], typer.Option("--title", help="Title of the (left) panel.")] = None,
    dpi: Annotated[int, typer.Option("--dpi", help="Resolution of PNG output.")] = 150,
    annotate: Annotated[bool, typer.Option(
        "--annotate", help="Shade saturation zones, mark each derivative's maximum.")] = False,
    output_path: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="PATH", help="File to write: .png, .svg or .pdf "
        "[default: plots/<names>[_deriv].png]")] = None,
    logits: Annotated[Optional[str], typer.Option(
        "--logits", metavar="Z...", help="With 'softmax': the logits.")] = None,
    temperatures: Annotated[Optional[str], typer.Option(
        "--temperatures", "-t", metavar="T...", help="With 'softmax': temperatures [default: 0.5 1 2].")] = None,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
) -> int:
    """Plot functions and their derivatives, softmax temperatures, or the cross-entropy loss.

    \b
    Examples:
      dlcalc plot sigmoid tanh --deriv
      dlcalc plot sigmoid tanh --deriv --annotate -o plots/activations.png
      dlcalc plot "x*sigmoid(x)" gelu relu --deriv --annotate -o cmp.svg
      dlcalc plot softmax --logits 2 1 0.1 -t 0.5 1 2
      dlcalc plot ce
    """
    from dlcalc import plotting
    from dlcalc.functions import resolve_all

    style = make_style(fmt, json_flag, 6, "float64")
    names = list(functions or [])
    if not names:
        raise DlcalcError("name what to plot: functions (dlcalc activate --list), 'softmax' or 'ce'")
    if output_path is not None and not output_path.strip():
        raise DlcalcError("-o/--output needs a file name, for example -o plots/sigmoid.png")
    special = [name for name in names if name in ("softmax", "ce")]
    if special and len(names) > 1:
        raise DlcalcError(f"'{special[0]}' is a plot of its own; plot it alone")
    if special:
        given = [flag for flag, used in (("--deriv", deriv), ("--annotate", annotate), ("-p", param),
                                         ("--alpha", alpha is not None)) if used]
        if special == ["softmax"] and x_range is not None:
            given.append("--range")
        if given:
            raise DlcalcError(f"{given[0]} does not apply to 'dlcalc plot {special[0]}'")
    default_range = (1e-3, 1.0) if names == ["ce"] else (-6.0, 6.0)
    lo, hi = x_range if x_range is not None else default_range
    if names == ["ce"] and not 0 < lo < hi <= 1:
        raise DlcalcError(f"--range {lo:g} {hi:g} is not a range of probabilities; "
                          "give 0 < PMIN < PMAX <= 1, for example --range 0.001 1")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise DlcalcError(f"--range {lo:g} {hi:g} is empty; give XMIN < XMAX, for example --range -6 6")
    with np.errstate(over="ignore"):
        width = hi - lo
    # Wider than float64 (-1e308 1e308), or too narrow for an axis to tell its ends apart.
    if not np.isfinite(width) or width <= 1e-12 * max(abs(lo), abs(hi), 1e-270):
        raise DlcalcError(f"--range {lo!r} {hi!r} cannot be drawn: give XMIN < XMAX whose difference "
                          "is a finite number well above their rounding, for example --range -6 6")
    if not 2 <= points <= 1_000_000:
        raise DlcalcError(f"--points {points} is out of range; give 2 to 1000000")
    if (logits or temperatures) and names != ["softmax"]:
        raise DlcalcError("--logits and -t go with 'dlcalc plot softmax'")
    said = Warnings(sys.stderr)  # NaN logits and the like: one `warning:` line each
    if names == ["softmax"]:
        figure, _ = said.run(lambda: _softmax_figure(logits, temperatures, title, dpi))
    elif names == ["ce"]:
        p = np.linspace(lo, hi, points)
        figure = plotting.plot_cross_entropy(p, -np.log(p), title=title, dpi=dpi)
    else:
        chosen = resolve_all(names, parse_params(param, alpha))
        x = np.linspace(lo, hi, points)
        curves, _ = said.run(lambda: [_curve(function, x, deriv, annotate) for function in chosen])
        figure = plotting.plot_functions(curves, derivatives=deriv, annotate=annotate,
                                         title=title, dpi=dpi)
    path = output_path or plotting.default_path(names, deriv and names[0] not in ("softmax", "ce"))
    written = plotting.save_figure(figure, path)
    report = Report(columns={"path": [str(written)]}, plain=[str(written)],
                    data={"path": str(written), "functions": names})
    return emit(report, style)


def _curve(chosen: Any, x: np.ndarray, deriv: bool, annotate: bool) -> Any:
    """One function's samples and annotations, computed by the core for the plotting module."""
    from dlcalc import activations, plotting

    saturation: tuple = ()
    peak = None
    if annotate:
        try:
            found = activations.properties(chosen.activation, chosen.params)
        except DlcalcError:  # a pole or a gap (1/x, log(x)): drawn, but nothing to annotate
            found = None
        # "Saturated" is |f'| below 1% of its maximum: meaningless when the maximum is infinite
        # (x**2) or not positive (a constant), where every x would be shaded.
        if found is not None and np.isfinite(found.max_derivative) and found.max_derivative > 0:
            saturation = tuple((zone.low, zone.high) for zone in found.saturation)
            at = found.max_derivative_at
            if at.low == at.high and np.isfinite(at.low):
                peak = (at.low, found.max_derivative)
    return plotting.Curve(label=chosen.label, x=x, y=chosen.function(x),
                          dy=chosen.derivative(x) if deriv or annotate else None,
                          saturation=saturation, max_derivative=peak, kinks=chosen.kinks())


def _softmax_figure(logits: str | None, temperatures: str | None, title: str | None, dpi: int) -> Any:
    from dlcalc import plotting
    from dlcalc import softmax as core

    if logits is None:
        raise DlcalcError("plot softmax needs logits: --logits 2 1 0.1")
    z = parse_vector([logits], "--logits")
    ts = [0.5, 1.0, 2.0] if temperatures is None else parse_vector([temperatures], "-t").tolist()
    for t in ts:
        core.validate_temperature(t)
    probabilities = np.stack([core.softmax(z, t) for t in ts])
    return plotting.plot_softmax_temperatures(z, ts, probabilities, title=title, dpi=dpi)


# ---------------------------------------------------------------- entry point


def main(args: list[str] | None = None) -> None:
    """The console script: run the app, turn every failure into a message and an exit code."""
    if args is None and hasattr(signal, "SIGPIPE"):  # the program itself, not a host process
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `dlcalc ... | head -1` ends quietly
    debug = bool(os.environ.get("DLCALC_DEBUG"))
    if args is None:  # the program itself: Ctrl-C stops between two lines of output, not inside one
        from dlcalc import interrupts

        interrupts.install()
    try:
        code = app(args=args, prog_name="dlcalc", standalone_mode=False)
        code = code if isinstance(code, int) else 0
        sys.stdout.flush()
    except DlcalcError as error:
        code = _fail(f"error: {error}", 2, debug)
    except NoArgsIsHelpError as error:
        print(error.ctx.get_help() if error.ctx else "", file=sys.stderr)
        code = 2
    except UsageError as error:
        code = _fail(f"error: {error.format_message()}", 2, debug)
    except typer.Exit as error:
        code = error.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except EnvironmentFailure as error:
        code = _fail(f"error: {error}", 1, debug)
    except OSError as error:
        code = _fail(f"error: cannot write output: {error.strerror or error}", 1, debug,
                     silence_stdout=True)
    except Exception as error:  # a bug in dlcalc: still no traceback unless asked for
        code = _fail(f"error: internal error: {type(error).__name__}: {error} "
                     "(set DLCALC_DEBUG=1 for a traceback)", 70, debug)
    if args is None and code != 130:
        try:
            interrupts.finish()
        except (OSError, ValueError):
            pass
    if args is None and not debug:  # the program itself (not a caller in-process)
        _exit_without_teardown(code)
    sys.exit(code)


def _exit_without_teardown(code: int) -> None:
    """End the process at once, output flushed: tearing down NumPy and every other module at
    interpreter exit costs more than a tenth of a one-shot command's time and does nothing
    for the user. Returns (to the ordinary exit) if the output cannot be flushed."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def _fail(message: str, code: int, debug: bool, silence_stdout: bool = False) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    if silence_stdout:
        # Stdout is broken (a full device): stop the interpreter from flushing it again at exit,
        # which would print a second, uglier message.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    else:
        try:
            sys.stdout.flush()
        except OSError:
            pass
    print(message.replace("\n", " "), file=sys.stderr)
    return code
