"""The command line: parse options, call the core, hand a Report to the output layer.

Each command is one small function. What they share lives elsewhere: argv normalisation
(`dlcalc.argv`), stdin batches and exit codes (`dlcalc.runner`), formats (`dlcalc.output`).
User mistakes become one `error: ...` line and exit 2 in exactly one place, `main()`.
"""

import math
import os
import signal
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any, List, Optional, Tuple

import typer
from typer.core import TyperCommand, TyperGroup

try:  # Typer 0.28 and later carry their own copy of Click; older ones use Click itself.
    from typer._click.exceptions import BadParameter, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import BadParameter, NoArgsIsHelpError, UsageError

from dlcalc import __version__, argv, reports
from dlcalc.errors import DlcalcError, EnvironmentFailure
from dlcalc.runner import Style, is_terminal, run_report, run_vector_command, wants_stdin
from dlcalc.vectors import (assignments_in_range, number_in_dtype, parameters_in_dtype,
                            parse_assignments, parse_vector)

class _LightCoercion:
    """Typer 0.29 and later convert every option's value through a pydantic TypeAdapter built on
    first use, which imports pydantic (tens of milliseconds, more than dlcalc's own start-up
    work). dlcalc's options are plain str, int, float, bool, lists and tuples of them, which
    this converts as Typer's earlier versions (and Click) did; anything else keeps Typer's own."""

    def __init__(self, convert: Any, multi: bool):
        self.convert = convert
        self.multi = multi

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if self.multi else None
        return self.convert(value, param, ctx)

    @classmethod
    def install(cls, params: list[Any]) -> None:
        for param in params:
            if getattr(param, "_runtime_param", False) is not None or not hasattr(param, "type_descriptor"):
                continue  # Typer before 0.29 (no such path), or already built
            convert = _converter(param.type_descriptor.annotation)
            if convert is not None:
                param._runtime_param = cls(convert, bool(param.multiple or param.nargs == -1))


def _converter(annotation: Any) -> Any:
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union and len(args) == 2 and type(None) in args:
        return _converter(next(a for a in args if a is not type(None)))
    if origin in (list, tuple):
        items = [_converter(a) for a in args if a is not Ellipsis]
        if not items or any(item is None for item in items):
            return None
        if origin is list:
            return lambda value, param, ctx: [items[0](v, param, ctx) for v in value]
        return lambda value, param, ctx: tuple(f(v, param, ctx) for f, v in zip(items, value))
    kinds = {str: "text", int: "integer", float: "float", bool: "boolean"}
    if annotation not in kinds:
        return None

    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
            return value
        try:
            if annotation is bool:
                text = str(value).strip().lower()
                if text in ("1", "true", "t", "yes", "y", "on"):
                    return True
                if text in ("0", "false", "f", "no", "n", "off"):
                    return False
                raise ValueError(value)
            return annotation(value)
        except (TypeError, ValueError):
            raise BadParameter(f"{value!r} is not a valid {kinds[annotation]}.", ctx=ctx,
                               param=param) from None

    return convert


class _Group(TyperGroup):
    """The root command. Its subcommands are built when looked up (`_Subcommands`), and it adds
    dlcalc's own shell completions (function names, formats) to a subcommand's parameters, only
    while the shell asks for completions (no cost otherwise)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Subcommands()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names, in the order of the file, without building them

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _LightCoercion.install(self.get_params(ctx))
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:
            # Click >= 8.4 suggests close command names when it formats this error, and older
            # Typers write their own suggestion into the message as well: keep Click's alone.
            if getattr(error, "possibilities", None) and " Did you mean " in error.message:
                error.message = error.message.split(" Did you mean ")[0].rstrip(".") + "."
            raise

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if cmd_name == "plot" and _PROGRAM:
            _quiet_matplotlib()
        if command is not None and os.environ.get(_COMPLETE_VAR):
            for param in command.params:
                complete = _COMPLETIONS.get((cmd_name, param.name)) or _COMPLETIONS.get(("*", param.name))
                if complete is not None:
                    param._custom_shell_complete = complete
        return command


#: Every subcommand, by name: a Typer app of its own with that one command (see `subcommand`).
SUBCOMMANDS: dict[str, typer.Typer] = {}


def subcommand(*vector_options: str) -> Any:
    """`@subcommand()` above a function makes it a dlcalc command, as `@app.command()` would,
    except that its Click command (with its options and their help) is built only when it is
    looked up: a run builds the one command it runs, not all six (about a hundred options, as
    much time as the rest of dlcalc's start-up). `vector_options` as in `command_class`."""

    def register(function: Any) -> Any:
        one = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
        one.command(function.__name__, cls=command_class(*vector_options))(function)
        SUBCOMMANDS[function.__name__] = one
        return function

    return register


class _Subcommands(MutableMapping):  # type: ignore[type-arg]
    """The root's `commands` mapping (name -> Click command) with every name in SUBCOMMANDS:
    a command is built from its Typer app (`typer.main.get_command`, Typer's public way to a
    Click command) the first time it is looked up. Iterating gives the names alone."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = typer.main.get_command(SUBCOMMANDS[name])  # KeyError: no such command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("dlcalc's commands cannot be removed")

    def __contains__(self, name: object) -> bool:
        return name in SUBCOMMANDS or name in self._built

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*SUBCOMMANDS, *self._built]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*SUBCOMMANDS, *self._built]))


def _quiet_matplotlib() -> None:
    """Before `dlcalc plot` imports matplotlib: its figures use their own canvas (Agg) and
    style, so the user's MPLBACKEND cannot break them, and nothing of matplotlib's own (a bad
    matplotlibrc line, an unusable MPLCONFIGDIR or HOME, the font cache being built) is printed.
    Only the program does this; a notebook using dlcalc.plot keeps its own settings."""
    import logging

    os.environ["MPLBACKEND"] = "agg"
    logger = logging.getLogger("matplotlib")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


#: Whether this process is the dlcalc program (main() without arguments), not a host calling
#: main([...]) in-process, whose environment is left alone.
_PROGRAM = False

_COMPLETE_VAR = "_DLCALC_COMPLETE"  # set by the completion script, see `dlcalc --show-completion`


def _complete_words(words: Any) -> Any:
    def complete(ctx: Any, param: Any, incomplete: str) -> list[str]:
        return [word for word in words() if word.startswith(incomplete)]

    return complete


def _function_names() -> list[str]:
    from dlcalc import activations

    return sorted(activations.REGISTRY)


_COMPLETIONS = {
    ("activate", "function"): _complete_words(_function_names),
    ("activate", "values"): _complete_words(lambda: _function_names() if "--props" in sys.argv[1:]
                                            or "--props" in os.environ.get("COMP_WORDS", "") else []),
    ("plot", "functions"): _complete_words(lambda: _function_names() + ["softmax", "ce"]),
    ("*", "fmt"): _complete_words(lambda: list(FORMATS)),
    ("*", "dtype"): _complete_words(lambda: ["float64", "float32"]),
    ("*", "base"): _complete_words(lambda: ["e", "2"]),
}

ROOT_HELP = """The mathematics of deep learning on the command line: activations and their \
derivatives, softmax, cross-entropy, KL divergence, symbolic gradients and plots.

Vectors are numbers on the command line (2 1 0.1, 2,1,0.1 or [2, 1, 0.1]), lines on standard \
input, or a FILE (one argument that is not a number; .csv read as CSV). Output is a table on a \
terminal and plain numbers in a pipeline.

\b
Examples:
  dlcalc activate sigmoid 0 1 2 --deriv
  dlcalc softmax 2 1 0.1 -t 2
  dlcalc ce 2 1 0.1 --target 0
  dlcalc kl 0.7 0.2 0.1 --q 0.6 0.3 0.1
  dlcalc grad "x**2*y + sin(y)" --at x=1 y=2
  dlcalc plot sigmoid tanh --deriv
  seq -3 3 | dlcalc activate tanh --json
  dlcalc COMMAND --help        each command's options and examples
  dlcalc --install-completion  tab completion for bash, zsh or fish
"""

EXIT_CODES = """\b
Exit codes:
  0    success
  1    the environment failed: a file or the output could not be written
  2    a usage or input error (one `error:` line says which)
  70   an internal error (a bug in dlcalc; DLCALC_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C)"""

app = typer.Typer(
    name="dlcalc",
    cls=_Group,
    help=ROOT_HELP,
    add_completion=True,
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
            _LightCoercion.install(self.get_params(ctx))
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
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No warnings (errors are still printed).")]
KeepLinesOption = Annotated[bool, typer.Option(
    "--keep-lines", help="Batch mode: one output line per input line, empty for a bad, blank or "
    "comment line, so that the output stays aligned with the input (paste).")]

# ---------------------------------------------------------------- FILE and CSV input (dlcalc.sources)

HeaderOption = Annotated[bool, typer.Option(
    "--header", help="The input is CSV whose first line names the columns: skip it.")]
ColumnsOption = Annotated[Optional[str], typer.Option(
    "--columns", metavar="NAME,...", help="CSV columns that hold the vector [default: all but "
    "the target or Q columns]; implies --header.")]


def csv_options(header: bool, columns: str | None, operand_columns: str | None = None,
                operand_option: str = "") -> Any:
    from dlcalc import sources

    return sources.Csv(header, sources.names(columns, "--columns"),
                       sources.names(operand_columns, operand_option))


def vector_input(tokens: list[str] | None, options: Any, operand: Any = None,
                 operand_option: str = "") -> Any:
    """(tokens, stdin) for run_vector_command: a FILE argument or CSV on stdin (dlcalc.sources)."""
    from dlcalc import sources

    return sources.vector_input(tokens, sys.stdin, options, operand_given=operand is not None,
                                operand_option=operand_option)


FORMATS = ("table", "plain", "csv", "json", "markdown", "latex")

# What the command line adds to a core warning of a given kind: the option that helps.
HINTS = {"looks_like_probabilities": "if they are probabilities, add --probs"}


_QUIET = False  # -q: a warning that reaches the top is not printed either


def make_style(fmt: str | None, json_flag: bool, precision: int, dtype: str, quiet: bool = False,
               keep_lines: bool = False) -> Style:
    global _QUIET
    _QUIET = quiet
    if json_flag:
        fmt = "json"
    terminal = is_terminal(sys.stdout)
    if fmt is None:
        fmt = "table" if terminal else "plain"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise DlcalcError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not 1 <= precision <= 17:
        raise DlcalcError(f"--precision {precision} is out of range; give 1 to 17 digits")
    if dtype not in ("float64", "float32"):
        raise DlcalcError(f"unknown dtype {dtype!r}; choose float64 or float32")
    if keep_lines and fmt not in ("plain", "json"):
        raise DlcalcError(f"--keep-lines keeps plain or JSON lines aligned with the input, not {fmt}; "
                          "add -f plain or --json")
    width = None
    if terminal:
        import shutil

        width = shutil.get_terminal_size().columns
    return Style(fmt=fmt, precision=precision, dtype=dtype, color=fmt == "table" and wants_color(terminal),
                 width=width, hints=HINTS, quiet=quiet, keep_lines=keep_lines)


def wants_color(terminal: bool) -> bool:
    """Bold headers: never with NO_COLOR; always with FORCE_COLOR or CLICOLOR_FORCE; otherwise
    on a terminal that is not TERM=dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if any(os.environ.get(name, "0") not in ("", "0") for name in ("FORCE_COLOR", "CLICOLOR_FORCE")):
        return True
    return terminal and os.environ.get("TERM") != "dumb"


def parse_params(items: list[str] | None, alpha: float | None) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items or []:
        values.update(parse_assignments(item, "-p"))
    if alpha is not None:
        values["alpha"] = alpha
    return values


def version_text() -> str:
    """dlcalc's version, and what decides its numbers: Python, NumPy, the extended-precision path."""
    import platform

    import numpy as np

    from dlcalc import exact

    if exact.EXTENDED:
        extended = "active (x87 80-bit long double: results correctly rounded)"
    elif exact.HARDWARE_EXTENDED:
        extended = "off (DLCALC_FLOAT64_ONLY is set: float64 formulas)"
    else:
        extended = "not available on this machine (no 80-bit long double: float64 formulas)"
    return (f"dlcalc {__version__}\n"
            f"Python {platform.python_version()} ({platform.python_implementation()}, {platform.machine()})\n"
            f"NumPy {np.__version__}\n"
            f"extended precision: {extended}")


def version_callback(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit()


@app.callback(epilog=EXIT_CODES)
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Print the version (and Python's, NumPy's) and exit.")] = False,
) -> None:
    """The root of every command: only --version (the help is ROOT_HELP)."""


# ---------------------------------------------------------------- activate


@subcommand()
def activate(
    function: Annotated[Optional[str], typer.Argument(
        metavar="FUNC", help="A registry name (see --list) or an expression in x.")] = None,
    values: Annotated[Optional[List[str]], typer.Argument(
        metavar="X...", help="Inputs, or a FILE of them; read from stdin when absent or '-'.")] = None,
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
    header: HeaderOption = False,
    columns: ColumnsOption = None,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
    quiet: QuietOption = False,
    keep_lines: KeepLinesOption = False,
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
      dlcalc activate tanh inputs.txt
    """
    from dlcalc import activations
    from dlcalc.functions import resolve

    style = make_style(fmt, json_flag, precision, dtype, quiet, keep_lines)
    overrides = parameters_in_dtype(parse_params(param, alpha), style.dtype)
    if list_:
        return run_report(style, reports.registry_report, list(activations.REGISTRY.values()))
    if props:
        names = ([function] if function else []) + list(values or [])
        if not names:
            raise DlcalcError("--props needs function names, for example: --props sigmoid tanh")
        if not 0 < saturation < 1:
            raise DlcalcError(f"--saturation {saturation} must be between 0 and 1, for example 0.01")
        return run_report(style, reports.properties_command, names, overrides, saturation)
    if function is None:
        raise DlcalcError("missing FUNC: name a function (dlcalc activate --list) and give x values")
    chosen = _resolve_function(resolve, function, overrides)
    if explain and values is None:  # the derivation alone: no x values to read
        return run_report(style, reports.activation_derivation, chosen)
    with vector_input(values, csv_options(header, columns)) as (values, stdin):
        return run_vector_command(values, reports.ActivateCommand(chosen, deriv, explain), style,
                                  stdin=stdin)


def _resolve_function(resolve: Any, word: str, overrides: dict[str, float]) -> Any:
    """The function named `word`; a bare name the language knows (exp, sin) gets its
    expression form as a hint."""
    try:
        return resolve(word, overrides)
    except DlcalcError as error:
        from dlcalc.expression import functions

        if word.isidentifier() and word in functions() and str(error).startswith("unknown function"):
            raise DlcalcError(f"unknown activation '{word}'; to evaluate {word} of x, write it as "
                              f'an expression: dlcalc activate "{word}(x)" ...') from None
        raise


# ---------------------------------------------------------------- softmax


@subcommand()
def softmax(
    logits: Annotated[Optional[List[str]], typer.Argument(
        metavar="Z...", help="Logits, or a FILE of them; read from stdin when absent or '-'.")] = None,
    temperature: Annotated[float, typer.Option(
        "--temperature", "-t", metavar="T", help="Divide the logits by T first.")] = 1.0,
    log: Annotated[bool, typer.Option(
        "--log", help="Log-softmax replaces softmax as the plain result (and in --jacobian).")] = False,
    jacobian: Annotated[bool, typer.Option("--jacobian", help="The n×n Jacobian ∂ŷ_i/∂z_k.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Work it out step by step.")] = False,
    header: HeaderOption = False,
    columns: ColumnsOption = None,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
    quiet: QuietOption = False,
    keep_lines: KeepLinesOption = False,
) -> int:
    """Softmax, log-softmax and log-sum-exp of logits, stable for any finite logits.

    \b
    Examples:
      dlcalc softmax 2 1 0.1
      dlcalc softmax 2 1 0.1 --explain
      dlcalc softmax 2 1 0.1 --log --jacobian
      dlcalc softmax 1000 0 -1000 -t 100
      printf '2 1 0.1\\n0 0\\n' | dlcalc softmax --json
      dlcalc softmax logits.csv --header
    """
    style = make_style(fmt, json_flag, precision, dtype, quiet, keep_lines)
    temperature = number_in_dtype(temperature, style.dtype, "the temperature")
    with vector_input(logits, csv_options(header, columns)) as (logits, stdin):
        command = reports.SoftmaxCommand(temperature, log=log, jacobian=jacobian, explain=explain,
                                         one_per_line=wants_stdin(logits, stdin))
        return run_vector_command(logits, command, style, stdin=stdin)


# ---------------------------------------------------------------- distillation (kl, ce) and Gaussian KL

TemperatureOption = Annotated[Optional[float], typer.Option(
    "--temperature", "-t", metavar="T", help="Distillation: divide the logits by T first.")]
ScaleT2Option = Annotated[bool, typer.Option(
    "--scale-t2", help="Distillation: multiply the loss by T² (Hinton et al. 2015).")]


def _check_temperature(temperature: float | None, scale_t2: bool, logits: bool, needs: str) -> bool:
    """Whether -t/--scale-t2 ask for a distillation loss (checked)."""
    if temperature is None and not scale_t2:
        return False
    if not logits:
        raise DlcalcError(f"-t and --scale-t2 temper logits: add {needs}")
    from dlcalc.softmax_core import validate_temperature

    validate_temperature(1.0 if temperature is None else temperature)
    return True


def _gaussian_kl(p: list[str] | None, q: str | None, gaussian: tuple[str, str] | None,
                 q_gaussian: tuple[str, str] | None, logvar: bool, base: str, explain: bool,
                 style: Style, *, other_flags: dict[str, bool]) -> int:
    """`kl --gaussian MU SIGMA [--q-gaussian MU2 SIGMA2] [--logvar]`."""
    if gaussian is None:
        raise DlcalcError("--q-gaussian and --logvar go with --gaussian MU SIGMA, "
                          "for example --gaussian 0.5,-1 0.8,1.2")
    if p or q is not None:
        raise DlcalcError("--gaussian takes P's means and deviations itself; remove the "
                          f"{'distribution P' if p else '--q'}")
    given = [flag for flag, used in other_flags.items() if used]
    if given:
        raise DlcalcError(f"{given[0]} does not apply to --gaussian")
    second = "log-variance" if logvar else "sigma"
    q_mu = q_sigma = None  # Q = N(0, 1)
    if q_gaussian is not None:
        q_mu, q_sigma = (parse_vector([q_gaussian[0]], "--q-gaussian MU"),
                         parse_vector([q_gaussian[1]], f"--q-gaussian {second.upper()}"))
    if tuple(gaussian) == ("-", "-"):  # batch: 'MU... ; SIGMA...' on each stdin line
        command = reports.GaussianKLCommand(q_mu, q_sigma, logvar=logvar, base=base, explain=explain)
        return run_vector_command(["-"], command, style)
    mu, sigma = (parse_vector([gaussian[0]], "--gaussian MU"),
                 parse_vector([gaussian[1]], f"--gaussian {second.upper()}"))
    return run_report(style, reports.gaussian_kl, mu, sigma, q_mu, q_sigma, logvar=logvar, base=base,
                      explain=explain)


# ---------------------------------------------------------------- ce

BaseOption = Annotated[str, typer.Option(
    "--base", metavar="e|2", help="Logarithm base: e (nats) or 2 (bits).")]
NormalizeOption = Annotated[bool, typer.Option(
    "--normalize", help="Divide probabilities by their sum instead of requiring it to be 1.")]


def _unit(base: str) -> str:
    if base not in ("e", "2"):
        raise DlcalcError(f"unknown --base {base!r}; choose e (nats) or 2 (bits)")
    return "nats" if base == "e" else "bits"


@subcommand("--target", "--target-probs")
def ce(
    logits: Annotated[Optional[List[str]], typer.Argument(
        metavar="LOGITS...", help="Logits (or probabilities with --probs), or a FILE; stdin when absent or '-'.")] = None,
    target: Annotated[Optional[str], typer.Option(
        "--target", metavar="K", help="True class index (0-based); with --binary, one label per element.")] = None,
    target_probs: Annotated[Optional[str], typer.Option(
        "--target-probs", metavar="P...", help="Probability (soft) targets.")] = None,
    probs: Annotated[bool, typer.Option("--probs", help="The inputs are probabilities, not logits.")] = False,
    normalize: NormalizeOption = False,
    label_smoothing: Annotated[float, typer.Option(
        "--label-smoothing", metavar="E", help="Mix the target with the uniform distribution.")] = 0.0,
    base: BaseOption = "e",
    grad: Annotated[bool, typer.Option(
        "--grad", help="The gradient replaces the loss as the plain result.")] = False,
    binary: Annotated[bool, typer.Option("--binary", help="Binary cross-entropy, element-wise.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Work it out step by step.")] = False,
    temperature: TemperatureOption = None,
    scale_t2: ScaleT2Option = False,
    header: HeaderOption = False,
    columns: ColumnsOption = None,
    target_column: Annotated[Optional[str], typer.Option(
        "--target-column", metavar="NAME,...", help="CSV column(s) of the target: one, a class "
        "index (--binary: a label); several, probabilities or labels. Implies --header.")] = None,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
    quiet: QuietOption = False,
    keep_lines: KeepLinesOption = False,
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
      dlcalc ce 2 1 0.1 --target-probs 0.7 0.2 0.1 -t 2 --scale-t2
      dlcalc ce batch.csv --target-column label
    """
    style = make_style(fmt, json_flag, precision, dtype, quiet, keep_lines)
    _unit(base)
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
    if (temperature is not None or scale_t2) and (probs or binary):
        raise DlcalcError(f"{'-t' if temperature is not None else '--scale-t2'} divides logits by a "
                          f"temperature; it does not apply to {'--probs' if probs else '--binary'}")
    distilling = _check_temperature(temperature, scale_t2, True, "logits")
    operand = None
    if target is not None:
        operand = parse_vector([target], "--target")
        if not binary and operand.size != 1:
            raise DlcalcError(f"--target takes one class index, got {operand.size} numbers; "
                              "use --target-probs for probability targets or --binary for labels")
    elif target_probs is not None:
        operand = parse_vector([target_probs], "--target-probs")
    command = reports.CrossEntropyCommand(
        binary=binary, probs=probs, label_smoothing=label_smoothing, base=base, normalize=normalize,
        grad=grad, explain=explain, soft_target=target_probs is not None,
        temperature=(temperature or 1.0) if distilling else None, scale_t2=scale_t2)
    with vector_input(logits, csv_options(header, columns, target_column, "--target-column"),
                      operand, "--target-column") as (logits, stdin):
        return run_vector_command(logits, command, style, operand=operand, stdin=stdin)


# ---------------------------------------------------------------- kl


@subcommand("--q")
def kl(
    p: Annotated[Optional[List[str]], typer.Argument(
        metavar="P...", help="The reference distribution P, or a FILE; stdin when absent or '-'.")] = None,
    q: Annotated[Optional[str], typer.Option("--q", metavar="Q...", help="The distribution Q.")] = None,
    logits: Annotated[bool, typer.Option("--logits", help="P and Q are logits (log-softmax is applied).")] = False,
    normalize: NormalizeOption = False,
    base: BaseOption = "e",
    symmetric: Annotated[bool, typer.Option(
        "--symmetric", help="Also D_KL(Q‖P) and the Jensen–Shannon divergence.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Work it out term by term.")] = False,
    temperature: TemperatureOption = None,
    scale_t2: ScaleT2Option = False,
    gaussian: Annotated[Optional[Tuple[str, str]], typer.Option(
        "--gaussian", metavar="MU SIGMA", help="KL of diagonal Gaussians: P's means and standard "
        "deviations, each one number or a comma-joined vector (0.5,-1 0.8,1.2); '- -': one "
        "'MU... ; SIGMA...' per stdin line.")] = None,
    q_gaussian: Annotated[Optional[Tuple[str, str]], typer.Option(
        "--q-gaussian", metavar="MU SIGMA", help="With --gaussian: Q's means and standard deviations "
        "[default: 0 1, the VAE prior N(0, 1)].")] = None,
    logvar: Annotated[bool, typer.Option(
        "--logvar", help="With --gaussian: the second numbers are log-variances ln σ², as VAE code has them.")] = False,
    header: HeaderOption = False,
    columns: ColumnsOption = None,
    q_column: Annotated[Optional[str], typer.Option(
        "--q-column", metavar="NAME,...", help="CSV columns of Q; implies --header.")] = None,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
    quiet: QuietOption = False,
    keep_lines: KeepLinesOption = False,
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
      dlcalc kl 3 1 0.2 --q 2.5 1.2 0.1 --logits -t 4 --scale-t2
      dlcalc kl --gaussian 0.5,-1 0.8,1.2
      dlcalc kl --gaussian 0.5 -0.4 --logvar --q-gaussian 0 0
      printf '0.5 -1 ; 0.8 1.2\\n0 ; 1\\n' | dlcalc kl --gaussian - -
      dlcalc kl pq.csv --columns p0,p1 --q-column q0,q1
    """
    style = make_style(fmt, json_flag, precision, dtype, quiet, keep_lines)
    _unit(base)
    if gaussian is not None or q_gaussian is not None or logvar:
        return _gaussian_kl(p, q, gaussian, q_gaussian, logvar, base, explain, style,
                            other_flags={"--logits": logits, "--symmetric": symmetric,
                                         "--normalize": normalize, "-t": temperature is not None,
                                         "--scale-t2": scale_t2})
    distilling = _check_temperature(temperature, scale_t2, logits, "--logits")
    operand = None if q is None else parse_vector([q], "--q")
    command = reports.KLCommand(logits=logits, normalize=normalize, symmetric=symmetric, base=base,
                                explain=explain, scale_t2=scale_t2,
                                temperature=(temperature or 1.0) if distilling else None)
    with vector_input(p, csv_options(header, columns, q_column, "--q-column"),
                      operand, "--q-column") as (p, stdin):
        return run_vector_command(p, command, style, operand=operand, stdin=stdin)


# ---------------------------------------------------------------- options of grad --descend and plot EXPR --descend

DescendOption = Annotated[Optional[int], typer.Option(
    "--descend", metavar="N", help="Run N optimizer steps from the --at point (PyTorch's update rules); "
    "when --at names no moving variable, from each start point on stdin, one per line.")]
LrOption = Annotated[Optional[float], typer.Option(
    "--lr", metavar="LR", help="With --descend: the learning rate [default: 0.1].")]
OptimizerOption = Annotated[Optional[List[str]], typer.Option(
    "--optimizer", metavar="NAME", help="With --descend: sgd, momentum, nesterov, adagrad, rmsprop, "
    "adam or adamw [default: sgd].")]
OptimizerParamOption = Annotated[Optional[List[str]], typer.Option(
    "--param", "-p", metavar="NAME=VALUE", help="With --descend: an optimizer parameter with "
    "PyTorch's name (momentum=0.9, betas=0.9,0.999, eps=1e-8, weight_decay=0.01...); repeatable.")]
EveryOption = Annotated[Optional[int], typer.Option(
    "--every", metavar="K", help="With --descend: keep every K-th iteration (and the last).")]



# ---------------------------------------------------------------- grad


@subcommand("--at")
def grad(
    expression: Annotated[str, typer.Argument(metavar="EXPR", help="A scalar expression, e.g. 'x**2*y + sin(y)'.")],
    wrt: Annotated[Optional[str], typer.Option(
        "--wrt", metavar="x,y", help="Variables to differentiate by, in order [default: all, sorted].")] = None,
    at: Annotated[Optional[str], typer.Option(
        "--at", metavar="NAME=VALUE...", help="Evaluate the gradient at this point.")] = None,
    steps: Annotated[bool, typer.Option("--steps", help="Derive step by step, naming each rule.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Compare with central finite differences (needs --at).")] = False,
    hessian: Annotated[bool, typer.Option("--hessian", help="The matrix of second partials.")] = False,
    descend: DescendOption = None,
    lr: LrOption = None,
    optimizer: OptimizerOption = None,
    param: OptimizerParamOption = None,
    every: EveryOption = None,
    form: Annotated[str, typer.Option(
        "--form", metavar="FORM", help="notes (σ(x)·(1 − σ(x)), −6·(2x − 3y + 4z − 6)), factored "
        "or expanded (18x + 24y − 30).")] = "notes",
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    precision: PrecisionOption = 6,
    dtype: DtypeOption = "float64",
    quiet: QuietOption = False,
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
      dlcalc grad "(w1*x1 + w2*x2 - y)^2" --wrt w1,w2 --at w1=0 w2=0 x1=1 x2=2 y=3 --descend 20 --optimizer adam
      printf '1 1\\n-1 2\\n' | dlcalc grad "x^2 + 3*y^2" --wrt x,y --descend 10
      dlcalc grad "(3*x + 4*y - 5)^2" --form expanded
    """
    style = make_style(fmt, json_flag, precision, dtype, quiet)
    variables = None
    if wrt is not None:
        variables = [name for name in wrt.replace(",", " ").split() if name]
        if not variables:
            raise DlcalcError("--wrt takes variable names, for example --wrt x,y")
    point = parse_assignments(at, "--at") if at is not None else None
    if point is not None:
        assignments_in_range(point, style.dtype)
    if descend is not None or any(v is not None for v in (lr, optimizer, param, every)):
        return _descend(expression, point, variables, descend, lr, optimizer, param, every,
                        other_flags={"--steps": steps, "--check": check, "--hessian": hessian},
                        style=style)
    if check and point is None:
        raise DlcalcError("--check compares at a point: add --at, for example --at x=1 y=2")
    return run_report(style, _gradient, expression, variables, point, steps=steps, check=check,
                      hessian=hessian, form=form)


def _gradient(expression: str, variables: list[str] | None, point: dict[str, float] | None,
              **asked: Any) -> Any:
    return reports.gradient_report(reports.differentiate(expression, variables, point, **asked))


# ---------------------------------------------------------------- grad --descend (and plot)

def _descent_settings(descend: int | None, lr: float | None, every: int | None) -> tuple[int, float, int]:
    """--descend N, --lr and --every, checked: the parts of a descent the CLI names."""
    from dlcalc import descent

    if descend is None:
        raise DlcalcError("--lr, --optimizer, -p and --every go with --descend N, "
                          "for example --descend 100")
    if not 1 <= descend <= descent.MAX_STEPS:
        raise DlcalcError(f"--descend {descend}: give a number of steps from 1 to {descent.MAX_STEPS:,}")
    lr = descent.DEFAULT_LR if lr is None else lr
    if not (math.isfinite(lr) and lr > 0):
        raise DlcalcError(f"--lr {lr:g}: the learning rate must be a finite number > 0, "
                          "for example --lr 0.1")
    every = 1 if every is None else every
    if every < 1:
        raise DlcalcError(f"--every {every}: give a positive number of iterations, for example --every 10")
    return descend, lr, every


def _descend(expression: str, point: dict[str, float] | None, variables: list[str] | None,
             descend: int | None, lr: float | None, optimizer: list[str] | None,
             param: list[str] | None, every: int | None, *, other_flags: dict[str, bool],
             style: Style) -> int:
    """`grad EXPR --at ... --descend N`: the trajectory of one optimizer."""
    from dlcalc import descent

    steps, lr, every = _descent_settings(descend, lr, every)
    given = [flag for flag, used in other_flags.items() if used]
    if given:
        raise DlcalcError(f"{given[0]} does not go with --descend; run them as two commands")
    from dlcalc.expression import parse_expression

    parsed = parse_expression(expression)
    moving = variables or sorted({s.name for s in parsed.free_symbols} - set(point or {}))
    if moving and not set(moving) & set(point or {}) and not is_terminal(sys.stdin):
        # batch: each stdin line is a start point (the moving variables, in order)
        if style.dtype != "float64":
            raise DlcalcError("--descend computes in float64, as torch.optim does on float64 "
                              "tensors; remove --dtype float32")
        if len(optimizer or []) > 1:
            raise DlcalcError("grad --descend runs one --optimizer; to compare several, draw them "
                              "with dlcalc plot EXPR --descend N --optimizer A --optimizer B")
        command = reports.DescentCommand(parsed, expression, moving, point or {}, steps=steps,
                                         optimizer=(optimizer or ["sgd"])[0], lr=lr,
                                         params=descent.parse_settings(param or []), every=every)
        return run_vector_command(["-"], command, style)
    if point is None:
        raise DlcalcError("--descend starts from a point: add --at, for example --at x=1 y=2, "
                          "or pipe start points on stdin, one per line")
    if style.dtype != "float64":
        raise DlcalcError("--descend computes in float64, as torch.optim does on float64 "
                          "tensors; remove --dtype float32")
    names = optimizer or ["sgd"]
    if len(names) > 1:
        raise DlcalcError("grad --descend runs one --optimizer; to compare several, draw them "
                          "with dlcalc plot EXPR --descend N --optimizer A --optimizer B")
    return run_report(style, reports.descent, parsed, expression, point,
                      variables, steps=steps, optimizer=names[0], lr=lr,
                      params=descent.parse_settings(param or []), every=every)


# ---------------------------------------------------------------- plot


@subcommand("--logits", "-t", "--temperatures", "--at")
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
        "--output", "-o", metavar="PATH", help="File to write: .png, .svg, .pdf, .eps, .ps, .jpg, "
        ".tif, .webp, ... (any format matplotlib writes reproducibly) "
        "[default: plots/<names>[_deriv][_<what differs>].png]")] = None,
    mpl_style: Annotated[Optional[str], typer.Option(
        "--style", metavar="NAME|FILE", help="A matplotlib style (dark_background, ggplot, "
        "default, ...) or a .mplstyle file [default: dlcalc's own fixed style].")] = None,
    figsize: Annotated[Optional[Tuple[float, float]], typer.Option(
        "--figsize", metavar="W H", help="Figure size in inches.")] = None,
    transparent: Annotated[bool, typer.Option(
        "--transparent", help="Transparent background.")] = False,
    logits: Annotated[Optional[str], typer.Option(
        "--logits", metavar="Z...", help="With 'softmax': the logits.")] = None,
    temperatures: Annotated[Optional[str], typer.Option(
        "--temperatures", "-t", metavar="T...", help="With 'softmax': temperatures [default: 0.5 1 2].")] = None,
    y_range: Annotated[Optional[Tuple[float, float]], typer.Option(
        "--yrange", metavar="YMIN YMAX", help="Surfaces: the range of the second variable [default: -2 2, "
        "widened to hold the descent paths; --range is the first's].")] = None,
    surface_vars: Annotated[Optional[str], typer.Option(
        "--vars", metavar="a,b", help="Surfaces: the two variables, in axis order [default: sorted].")] = None,
    descend: DescendOption = None,
    at: Annotated[Optional[str], typer.Option(
        "--at", metavar="NAME=VALUE...", help="Surfaces: where the descent paths start.")] = None,
    optimizer: Annotated[Optional[List[str]], typer.Option(
        "--optimizer", metavar="NAME", help="Surfaces: draw this optimizer's path (repeatable) [default: sgd].")] = None,
    lr: LrOption = None,
    fmt: FormatOption = None,
    json_flag: JsonOption = False,
    quiet: QuietOption = False,
) -> int:
    """Plot functions and their derivatives, softmax temperatures, or the cross-entropy loss.

    \b
    Examples:
      dlcalc plot sigmoid tanh --deriv
      dlcalc plot sigmoid tanh --deriv --annotate -o plots/activations.png
      dlcalc plot "x*sigmoid(x)" gelu relu --deriv --annotate -o cmp.svg
      dlcalc plot softmax --logits 2 1 0.1 -t 0.5 1 2
      dlcalc plot ce
      dlcalc plot "x^2 + 3*y^2" --descend 30 --at x=1.5 y=1 --optimizer sgd --optimizer adam
    """
    from dlcalc import plotting, reports as plot_reports
    from dlcalc.functions import resolve_all

    style = make_style(fmt, json_flag, 6, "float64", quiet)
    names = list(functions or [])
    if not names:
        raise DlcalcError("name what to plot: functions (dlcalc activate --list), 'softmax' or 'ce'")
    if output_path is not None and not output_path.strip():
        raise DlcalcError("-o/--output needs a file name, for example -o plots/sigmoid.png")
    if not plotting.MIN_DPI <= dpi <= plotting.MAX_DPI:
        raise DlcalcError(f"--dpi {dpi}: give {plotting.MIN_DPI} to {plotting.MAX_DPI} "
                          f"(below {plotting.MIN_DPI} matplotlib cannot draw the text)")
    plot_reports.check_plot_sizes(functions=len(names), points=points)
    look = plotting.check_look(plotting.Look(mpl_style, figsize, transparent), dpi)
    title = plotting.check_title(title)
    surface_asked = {"--yrange": y_range is not None, "--vars": surface_vars is not None,
                     "--descend": descend is not None, "--at": at is not None,
                     "--optimizer": optimizer is not None, "--lr": lr is not None}
    if _is_surface(names, any(surface_asked.values())):
        return _plot_surface(names[0], x_range, y_range, surface_vars, points, param, descend, at,
                             optimizer, lr, title, dpi, output_path, style, look,
                             other_flags={"--deriv": deriv, "--annotate": annotate,
                                          "--alpha": alpha is not None, "--logits": logits is not None,
                                          "-t": temperatures is not None})
    used = [flag for flag, given in surface_asked.items() if given]
    if used:
        raise DlcalcError(f"{used[0]} goes with a surface: plot an expression in two variables, "
                          'for example dlcalc plot "x^2 + 3*y^2"')
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
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise DlcalcError(f"--range {lo:g} {hi:g} is empty; give XMIN < XMAX, for example --range -6 6")
    # Wider than float64 (-1e308 1e308), or too narrow for an axis to tell its ends apart.
    width = hi - lo  # a Python float: inf when it overflows, no exception
    if not math.isfinite(width) or width <= 1e-12 * max(abs(lo), abs(hi), 1e-270):
        raise DlcalcError(f"--range {lo!r} {hi!r} cannot be drawn: give XMIN < XMAX whose difference "
                          "is a finite number well above their rounding, for example --range -6 6")
    # The samples must be distinct numbers: a step below the rounding of the ends underflows.
    if (hi - lo) / (points - 1) <= 2 * math.ulp(max(abs(lo), abs(hi))):
        raise DlcalcError(f"--range {lo!r} {hi!r} with --points {points}: the step between "
                          "samples is below float64's rounding there; widen the range or lower "
                          "--points")
    # matplotlib places ticks beyond the ends of the axis: near ±1.8e308 they overflow.
    if max(abs(lo), abs(hi)) > _MAX_AXIS:
        raise DlcalcError(f"--range {lo!r} {hi!r} cannot be drawn: matplotlib's ticks beyond "
                          f"±{_MAX_AXIS:g} overflow float64; give ends within ±{_MAX_AXIS:g}")
    if (logits or temperatures) and names != ["softmax"]:
        raise DlcalcError("--logits and -t go with 'dlcalc plot softmax'")
    z = None
    ts = [0.5, 1.0, 2.0]
    if names == ["softmax"]:
        if logits is None:
            raise DlcalcError("plot softmax needs logits: --logits 2 1 0.1")
        z = parse_vector([logits], "--logits")
        if temperatures is not None:
            ts = parse_vector([temperatures], "-t").tolist()
        plot_reports.check_plot_sizes(logits=z.size, temperatures=len(ts))
    chosen = [] if special else resolve_all(names, parse_params(param, alpha))
    return run_report(style, reports.plot_report, names, functions=chosen, deriv=deriv,
                      annotate=annotate, x_range=(lo, hi), points=points, logits=z,
                      temperatures=ts, title=title, dpi=dpi, path=output_path, look=look,
                      default_range=default_range)


#: Largest |XMIN|, |XMAX| of --range that matplotlib's tick locator can place ticks around.
_MAX_AXIS = 1e307


def _is_surface(names: list[str], surface_options: bool) -> bool:
    """Whether `plot` draws a surface: one expression in more than one variable, or one
    expression with the surface options."""
    import re

    if len(names) != 1 or names[0] in ("softmax", "ce"):
        return False
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", names[0].strip()) and not surface_options:
        return False  # a registry name (or a misspelt one): the function plots say which
    from dlcalc.expression import parse_expression

    return surface_options or len(parse_expression(names[0]).free_symbols) > 1


def _plot_surface(text: str, x_range: tuple[float, float] | None, y_range: tuple[float, float] | None,
                  surface_vars: str | None, points: int, param: list[str] | None,
                  descend: int | None, at: str | None, optimizer: list[str] | None,
                  lr: float | None, title: str | None, dpi: int, output_path: str | None,
                  style: Style, look: Any = None, *, other_flags: dict[str, bool]) -> int:
    """`plot "EXPR in x and y"`: filled contours, −∇f, and descent paths."""
    from dlcalc import descent
    from dlcalc.expression import parse_expression

    given = [flag for flag, used in other_flags.items() if used]
    if given:
        raise DlcalcError(f"{given[0]} does not apply to a surface plot")
    for flag, bounds in (("--range", x_range), ("--yrange", y_range)):
        if bounds is not None and not (all(map(math.isfinite, bounds)) and bounds[0] < bounds[1]):
            raise DlcalcError(f"{flag} {bounds[0]:g} {bounds[1]:g} is empty; give MIN < MAX, "
                              f"for example {flag} -2 2")
    if not 2 <= points <= 1_000_000:
        raise DlcalcError(f"--points {points} is out of range; give 2 to 1000000")
    steps = 0
    if descend is not None or any(v is not None for v in (at, optimizer, lr)):
        steps, lr, _ = _descent_settings(descend, lr, None)
        if at is None:
            raise DlcalcError("descent paths start from a point: add --at, for example --at x=1 y=1")
    elif param:
        raise DlcalcError("-p sets optimizer parameters of descent paths: add --descend N")
    chosen = None if surface_vars is None else [v for v in surface_vars.replace(",", " ").split() if v]
    return run_report(style, reports.surface_plot_report, parse_expression(text), text, chosen,
                      x_range=x_range, y_range=y_range,
                      points=min(points, 201),  # a grid of points² samples: at most 201 per axis
                      start=parse_assignments(at, "--at") if at else None, steps=steps,
                      optimizers=optimizer or [], lr=lr, params=descent.parse_settings(param or []),
                      title=title, dpi=dpi, path=output_path, look=look)


# ---------------------------------------------------------------- entry point


def main(args: list[str] | None = None) -> int:
    """Run dlcalc, turning every failure into a message and an exit code.

    `main(["softmax", "2", "1"])` (a caller in-process: tests, notebooks) returns the exit code.
    `main()` is the program itself (`dlcalc`, `python -m dlcalc`): it takes over SIGPIPE and
    SIGINT and ends the process with the exit code.
    """
    global _PROGRAM
    program = args is None
    if program:
        from dlcalc.interrupts import standard_streams

        _PROGRAM = True
        standard_streams()
    if program and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `dlcalc ... | head -1` ends quietly
    debug = debug_enabled()
    if program:  # Ctrl-C stops between two lines of output, not inside one
        from dlcalc import interrupts

        interrupts.install()
    if args is None:  # a stdout that cannot write Unicode gets ASCII, not an encoding error
        from dlcalc.output import ascii_fallback

        ascii_fallback(sys.stdout)
        ascii_fallback(sys.stderr)
    try:
        code = _run(args, debug)
    except KeyboardInterrupt:  # in an error handler, or while the output was flushed
        code = 130
    if program:
        if code != 130:
            try:
                interrupts.finish()
            except (OSError, ValueError):
                code = code or _cannot_write()
            except KeyboardInterrupt:
                code = 130
        if not debug:
            _exit_without_teardown(code)
        sys.exit(code)
    return code


def debug_enabled() -> bool:
    """DLCALC_DEBUG turns tracebacks on only when it says so: 1, true or yes (any case)."""
    return os.environ.get("DLCALC_DEBUG", "").strip().lower() in ("1", "true", "yes")


def _run(args: list[str] | None, debug: bool) -> int:
    import warnings

    global _QUIET
    _QUIET = False  # until a command's -q says otherwise (in-process calls start afresh)

    try:
        with warnings.catch_warnings():
            # A warning that reaches the top (one not already said as a `warning:` line) is one
            # line in the user's words, never Python's "file:line: Category: text" and source.
            warnings.showwarning = _show_warning
            code = app(args=args, prog_name="dlcalc", standalone_mode=False)
        code = code if isinstance(code, int) else 0
        sys.stdout.flush()
    except DlcalcError as error:
        code = _fail(f"error: {error}", 2, debug)
    except NoArgsIsHelpError as error:
        _print_stderr(error.ctx.get_help() if error.ctx else "")
        code = 2
    except UsageError as error:
        code = _fail(f"error: {error.format_message()}", 2, debug)
    except typer.Exit as error:
        code = error.exit_code
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            code = code or _cannot_write(debug)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except SystemExit as error:  # Typer's --show-completion and --install-completion
        code = error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            code = code or _cannot_write(debug)
    except EnvironmentFailure as error:
        code = _fail(f"error: {error}", 1, debug)
    except OSError as error:
        code = _fail(f"error: cannot write output: {error.strerror or error}", 1, debug,
                     silence_stdout=True)
    except RecursionError as error:
        code = _fail(f"error: the input is nested too deeply to handle ({error})", 2, debug)
    except Exception as error:  # a bug in dlcalc: still no traceback unless asked for
        from dlcalc import interrupts

        if interrupts.received:  # Ctrl-C inside an import surfaced as some other error
            return 130
        code = _fail(f"error: internal error: {type(error).__name__}: {error} "
                     "(set DLCALC_DEBUG=1 for a traceback)", 70, debug)
    return code


def _cannot_write(debug: bool = False) -> int:
    return _fail("error: cannot write output", 1, debug, silence_stdout=True)


def _show_warning(message: Any, category: Any, filename: str, lineno: int,
                  file: Any = None, line: Any = None) -> None:
    if _QUIET or issubclass(category, (DeprecationWarning, PendingDeprecationWarning)):
        return  # a library's note to its developers (pyparsing's renames), not to our user
    _print_stderr(f"warning: {str(message).strip()}".replace("\n", " "))


def _print_stderr(text: str) -> None:
    """Print to stderr; a closed or broken stderr loses the text, not the exit code."""
    try:
        print(text, file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _exit_without_teardown(code: int) -> None:
    """End the process at once, output flushed: tearing down NumPy and every other module at
    interpreter exit costs more than a tenth of a one-shot command's time and does nothing
    for the user. Output that cannot be flushed is an error (exit 1), said if stderr works."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        code = code or _cannot_write()
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
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
        except (OSError, ValueError):
            pass
    _print_stderr(message.replace("\n", " "))
    return code
