"""The command line: parse options, call the core, hand a Report to the output layer.

Each command is one small function. What they share lives elsewhere: argv normalisation
(`dlcalc.argv`), stdin batches and exit codes (`dlcalc.runner`), formats (`dlcalc.output`).
User mistakes become one `error: ...` line and exit 2 in exactly one place, `main()`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated, Any, List, Optional

import numpy as np
import typer
from typer.core import TyperCommand

try:  # Typer 0.28 and later carry their own copy of Click; older ones use Click itself.
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import NoArgsIsHelpError, UsageError

from dlcalc import __version__, argv
from dlcalc.errors import DlcalcError, EnvironmentFailure
from dlcalc.output import FORMATS, Report
from dlcalc.runner import Style, run_vector_command
from dlcalc.vectors import parse_assignments, parse_number, parse_vector

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
        fmt = "table" if _isatty(sys.stdout) else "plain"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise DlcalcError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not 1 <= precision <= 17:
        raise DlcalcError(f"--precision {precision} is out of range; give 1 to 17 digits")
    if dtype not in ("float64", "float32"):
        raise DlcalcError(f"unknown dtype {dtype!r}; choose float64 or float32")
    color = fmt == "table" and _isatty(sys.stdout) and not os.environ.get("NO_COLOR")
    return Style(fmt=fmt, precision=precision, dtype=dtype, color=color)


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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
      seq -3 3 | dlcalc activate tanh
    """
    from dlcalc import activations
    from dlcalc.functions import resolve

    style = make_style(fmt, json_flag, precision, dtype)
    overrides = parse_params(param, alpha)
    if list_:
        return emit(_registry_report(activations), style)
    if props:
        names = ([function] if function else []) + list(values or [])
        if not names:
            raise DlcalcError("--props needs function names, for example: --props sigmoid tanh")
        if not 0 < saturation < 1:
            raise DlcalcError(f"--saturation {saturation} must be between 0 and 1, for example 0.01")
        return emit(_properties_report(names, overrides, saturation), style)
    if function is None:
        raise DlcalcError("missing FUNC: name a function (dlcalc activate --list) and give x values")
    chosen = resolve(function, overrides)

    def compute(x: np.ndarray, _operands: None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        return x, chosen.function(x), chosen.derivative(x) if deriv else None

    def present(result: tuple, row: int) -> Report:
        x, y, dy = (None if array is None else array[row] for array in result)
        columns = {"x": x, "f(x)": y}
        data = {"function": chosen.label, "params": chosen.params, "x": x, "y": y}
        if deriv:
            columns["f'(x)"] = dy
            data["dy"] = dy
        return Report(columns=columns, plain=dy if deriv else y, data=data)

    return run_vector_command(values, compute, present, style, what="x values")


def _registry_report(activations: Any) -> Report:
    entries = list(activations.REGISTRY.values())
    params = ["; ".join(f"{p.name}={p.default:g}" for p in e.parameters) or "-" for e in entries]
    return Report(
        columns={
            "name": [e.name for e in entries],
            "aliases": [", ".join(e.aliases) or "-" for e in entries],
            "parameters": params,
            "f(x)": [e.formula for e in entries],
            "f'(x)": [e.derivative_formula for e in entries],
        },
        plain=[e.name for e in entries],
        data={"functions": [
            {"name": e.name, "aliases": list(e.aliases), "formula": e.formula,
             "derivative": e.derivative_formula, "latex": e.latex,
             "derivative_latex": e.derivative_latex,
             "parameters": {p.name: p.default for p in e.parameters}}
            for e in entries]},
        plain_one_per_line=True,
    )


def _properties_report(names: list[str], overrides: dict[str, float], ratio: float) -> Report:
    from dlcalc import activations

    found = []
    for name in names:
        activation = activations.lookup(name)
        params = activations.bind_parameters(activation, overrides) if overrides else \
            activations.bind_parameters(activation, {})
        found.append(activations.properties(activation, params, saturation=ratio))
    saturation = [", ".join(zone.text() for zone in p.saturation) or "none" for p in found]
    return Report(
        columns={
            "function": [p.name for p in found],
            "output range": [p.output_range.text() for p in found],
            "zero-centred": ["yes" if p.zero_centred else "no" for p in found],
            "max f'": [p.max_derivative for p in found],
            "at": [p.max_derivative_at.text() for p in found],
            f"saturated (|f'| < {ratio:g}·max)": saturation,
        },
        plain=[f"{p.name}\t{p.output_range.text()}\t{'yes' if p.zero_centred else 'no'}\t"
               f"{p.max_derivative!r}\t{p.max_derivative_at.text()}\t{zones}"
               for p, zones in zip(found, saturation)],
        data={"saturation_ratio": ratio, "properties": [p.as_dict() for p in found]},
        plain_one_per_line=True,
    )


# ---------------------------------------------------------------- entry point


def main(args: list[str] | None = None) -> None:
    """The console script: run the app, turn every failure into a message and an exit code."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `dlcalc ... | head -1` ends quietly
    debug = bool(os.environ.get("DLCALC_DEBUG"))
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
    sys.exit(code)


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
