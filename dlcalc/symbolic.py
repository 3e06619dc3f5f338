r"""The symbolic engine behind `dlcalc grad` and expressions in x (SPEC §6).

Activation functions are SymPy functions of their own, so that derivatives keep their identity:
d/dx sigmoid(x) is printed as sigmoid(x)·(1 − sigmoid(x)), not as a tower of exponentials.
Each is built from its registry entry (dlcalc.activations: derivative, closed form, LaTeX name
and the stable NumPy code `numeric_function` and `evaluate_at` use); this module only takes
parsed expressions (dlcalc.expression builds them) and never parses text itself.

SymPy is imported here at module level: this module is only imported on the grad/expression
path, never by the commands that do not need it (SPEC §8).

Time bound: symbolic work on one expression runs under `time_limit`, which uses
`signal.setitimer` and SIGALRM. Signals can only be handled in the main thread of the main
interpreter and not on Windows; elsewhere the limit is silently not enforced (the size limits of
the parser still apply).
"""

from __future__ import annotations

import math
import re
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from dlcalc import special
from dlcalc.activations import numpy_forms
from dlcalc.errors import DlcalcError, NumericWarning

# Seconds allowed for differentiating one expression (and for evaluating it at a point).
DIFFERENTIATE_SECONDS = 5.0
# Seconds allowed for trying to simplify one derivative; past it the unsimplified form is kept.
SIMPLIFY_SECONDS = 1.0
# Derivatives bigger than this (SymPy's count_ops) are not even offered to `simplify`.
SIMPLIFY_MAX_OPS = 60
# The one time budget of a command's symbolic and exact numeric work as a whole: all of `grad`'s
# partials, values, checks and steps; the values of an expression at a command's x values (a
# stdin line or block); `--props` of all the functions given. The limits above bound each step
# inside it. SECURITY.md lists every limit.
WORK_SECONDS = 3 * DIFFERENTIATE_SECONDS
# A gradient descent costs steps × one evaluation of the expression and its gradient: it has a
# budget of its own, four times WORK_SECONDS (10^6 steps of x² + y² take about 15 s).
DESCENT_SECONDS = 4 * WORK_SECONDS


# --------------------------------------------------------------------------------------------
# Time bound
# --------------------------------------------------------------------------------------------


class SymbolicTimeout(DlcalcError):
    """Symbolic work on an expression took longer than its time limit."""


# Seconds between repeats of an expired time limit's alarm (see time_limit).
_ALARM_REPEAT = 0.05
# The messages of the time limits in force, innermost last (see time_limit).
_MESSAGES: list[str] = []


# Callbacks the interpreter runs between two bytecodes of the body, where an exception is
# "ignored" (printed as unraisable) instead of reaching the body: weak-reference callbacks.
_UNRAISABLE_FILES = ("_weakrefset.py", "weakref.py")


def _in_gc_callback(frame) -> bool:
    """Whether `frame` runs inside a garbage-collector callback (Hypothesis registers one) or a
    weak-reference callback, where a raised exception would be lost."""
    import gc

    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    codes.discard(None)
    while frame is not None:
        if frame.f_code in codes or frame.f_code.co_filename.endswith(_UNRAISABLE_FILES):
            return True
        frame = frame.f_back
    return False


def _alarm_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class time_limit:  # noqa: N801 - used as `with time_limit(seconds, message):`
    """Raise `SymbolicTimeout(message)` if the body runs longer than `seconds`.

    Uses SIGALRM via `signal.setitimer`, so it is enforced only in the main thread on POSIX
    systems; elsewhere the body runs unbounded. Nested limits work: an enclosing timer is
    restored afterwards with the time it had left, and an enclosing limit that runs out first
    raises its own message.

    A class rather than a generator: the timer is armed as the very last step of `__enter__`
    (an alarm due at once is cleaned up there), and every tick that lands after the body, while
    `__exit__` tidies up, is ignored; so no timer or handler outlives the `with` statement.
    """

    def __init__(self, seconds: float, message: str):
        self.seconds, self.message = seconds, message
        self.active = False

    def _on_alarm(self, signum, frame):  # noqa: ARG002 - signal handler signature
        if not self.active or (frame is not None and frame.f_code is _EXIT_CODE):
            return  # the body is over: __exit__ is tidying up
        if _in_gc_callback(frame):
            return  # it would be ignored there (and printed): the next tick raises it
        raise SymbolicTimeout(self.message)

    def __enter__(self) -> "time_limit":
        self.usable = _alarm_usable()
        if not self.usable:
            return self
        # Disarm any enclosing timer while this one is set up (setitimer returns what it had
        # left), so that no alarm fires in between; it is re-armed on the way out.
        self.outer_remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        seconds = self.seconds
        if self.outer_remaining and self.outer_remaining < seconds and _MESSAGES:
            self.message = _MESSAGES[-1]  # the enclosing limit runs out first: it is named
        if self.outer_remaining:
            seconds = min(seconds, self.outer_remaining)
        self.previous_handler = signal.signal(signal.SIGALRM, self._on_alarm)
        self.started = time.monotonic()
        _MESSAGES.append(self.message)
        self.active = True
        try:
            # The alarm repeats: an exception raised while the interpreter runs a finalizer or
            # a gc callback is "ignored" (printed as unraisable, and the limit would be lost),
            # so the next tick raises it again until it reaches the body.
            signal.setitimer(signal.ITIMER_REAL, seconds, _ALARM_REPEAT)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.usable or not self.active:
            return
        self.active = False  # from here on a tick does nothing
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous_handler)
        _MESSAGES.pop()
        if self.outer_remaining:
            left = self.outer_remaining - (time.monotonic() - self.started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), _ALARM_REPEAT)


_EXIT_CODE = time_limit.__exit__.__code__


def _too_slow(what: str, seconds: float = DIFFERENTIATE_SECONDS) -> str:
    return (f"the expression took longer than {seconds:g} s to {what}: "
            f"it exceeds the {seconds:g}-second limit; simplify it")


def over_budget(what: str, advice: str = "simplify the expression",
                seconds: float | None = None) -> str:
    """The message of an exceeded WORK_SECONDS (or `seconds`): `what` names the work."""
    seconds = WORK_SECONDS if seconds is None else seconds
    return f"{what} took longer than {seconds:g} s: it exceeds the {seconds:g}-second limit; {advice}"


def work_budget(what: str, advice: str = "simplify the expression",
                seconds: float | None = None):
    """`time_limit` with WORK_SECONDS (or `seconds`) and the `over_budget` message."""
    seconds = WORK_SECONDS if seconds is None else seconds
    return time_limit(seconds, over_budget(what, advice, seconds))


# --------------------------------------------------------------------------------------------
# Registry functions in expressions
# --------------------------------------------------------------------------------------------

# The SymPy classes of sigmoid, relu, softplus, gelu, Φ and φ are built from their registry
# entries (dlcalc.activations.symbolic_functions), and lambdify evaluates each with the entry's
# own NumPy code; erf and erfc come from dlcalc.special, so no expression needs SciPy (whose
# import costs ~180 ms).


def numpy_implementations() -> dict[str, Callable]:
    """Name → NumPy function for lambdify: every registry function expressions can call, erf."""
    return {
        **numpy_forms(),
        "erf": special.erf,
        "erfc": special.erfc,  # SymPy may rewrite 1 − erf(u) as erfc(u)
    }


def _stable_for_numerics(expr: sp.Expr) -> sp.Expr:
    """Rewrite forms that cancel in floating point into equal forms that do not.

    1 − σ(u) becomes σ(−u), 1 − Φ(u) becomes Φ(−u), 1 − tanh²(u) becomes 1/cosh²(u): at
    u = 50 the first form of σ' is 0 in float64 while the exact value is 1.9e-22.
    """

    def rewrite_add(add: sp.Add) -> sp.Expr:
        terms = list(add.args)
        if sp.S.One not in terms:
            return add
        for i, term in enumerate(terms):
            coeff, rest = term.as_coeff_Mul()
            if coeff != -1:
                continue
            replacement = None
            if getattr(type(rest), "reflection", False):  # σ(−u) = 1 − σ(u), Φ likewise
                replacement = rest.func(-rest.args[0])
            elif rest.is_Pow and rest.exp == 2 and isinstance(rest.base, sp.tanh):
                replacement = 1 / sp.cosh(rest.base.args[0]) ** 2
            if replacement is not None:
                others = [t for j, t in enumerate(terms) if j != i]
                others.remove(sp.S.One)
                return sp.Add(replacement, *others)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite_add)


def _lambdify(symbols: Sequence[sp.Symbol], expr) -> Callable:
    modules = [numpy_implementations(), "numpy"]
    if isinstance(expr, (list, tuple)):
        expr = [_stable_for_numerics(e) for e in expr]
    else:
        expr = _stable_for_numerics(expr)
    return sp.lambdify(list(symbols), expr, modules=modules)


# --------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _factor_rank(factor: sp.Expr) -> int:
    """Print numbers first, sums last: 2·x·sigmoid(x)·(1 − sigmoid(x)), as the notes write."""
    if factor.is_Number:
        return 0
    if factor.is_Add or (factor.is_Pow and factor.base.is_Add and factor.exp.is_positive):
        return 2
    return 1


def _reordered(mul: sp.Mul) -> sp.Mul:
    coeff, rest = mul.as_coeff_Mul()
    factors = sorted(rest.as_ordered_factors(), key=_factor_rank)
    return sp.Mul(*([coeff] if coeff != 1 else []), *factors, evaluate=False)


def _print_reordered_mul(printer, print_mul, expr):
    # SymPy's printers sort factors unless order is "none"; set it for this product only
    # (sums inside it are printed in the user's order again by _print_add_in_user_order).
    if not expr.is_Mul:  # LatexPrinter passes x**-1 to _print_Mul
        return print_mul(expr)
    printer._settings.setdefault("_user_order", printer._settings.get("order"))
    printer._settings["order"] = "none"
    try:
        return print_mul(_reordered(expr))
    finally:
        printer._settings["order"] = printer._settings["_user_order"]


def _print_add_in_user_order(printer, print_add, expr):
    saved = printer._settings.get("order")
    printer._settings["order"] = printer._settings.get("_user_order", saved)
    try:
        return print_add(expr)
    finally:
        printer._settings["order"] = saved


class _PlainPrinter(StrPrinter):
    """SymPy's str printer with shortest floats, sums last in products, and the language's
    function names (abs, min, max, heaviside)."""

    def _print_Mul(self, expr):
        return _print_reordered_mul(self, super()._print_Mul, expr)

    def _print_Add(self, expr, order=None):
        return _print_add_in_user_order(self, super()._print_Add, expr)

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Exp1(self, expr):
        return "e"  # SymPy's "E" would read back as a variable named E

    def _print_Heaviside(self, expr):
        return f"heaviside({self._print(expr.args[0])})"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr):
        return f"min({', '.join(self._print(a) for a in expr.args)})"


class _TextPrinter(_PlainPrinter):
    """The plain printer with `^`, superscripts and e^x."""

    def _print_Exp1(self, expr):
        return "e"

    def _print_exp(self, expr):
        arg = expr.args[0]
        if arg.is_Symbol or (arg.is_Integer and arg > 0):
            return f"e^{self._print(arg)}"
        return f"e^({self._print(arg)})"

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.as_base_exp()
        if exponent is sp.S.Half or exponent == -sp.S.Half or exponent == -1:
            return super()._print_Pow(expr, rational)
        if exponent.is_Rational and exponent < 0:
            return f"1/{self._print(sp.Pow(base, -exponent, evaluate=False))}"
        plain_base = (base.is_Symbol or (base.is_Integer and base > 0)
                      or (isinstance(base, sp.Function) and not isinstance(base, sp.exp)))
        base_text = self._print(base) if plain_base else f"({self._print(base)})"
        if exponent.is_Integer and 1 < exponent < 10:
            return base_text + str(exponent).translate(_SUPERSCRIPTS)
        exponent_text = self._print(exponent)
        if not (exponent.is_Symbol or (exponent.is_Integer and exponent > 0)):
            exponent_text = f"({exponent_text})"
        return f"{base_text}^{exponent_text}"


_MINUS = re.compile(r"(?<![0-9]e)-")


def to_text(expr: sp.Expr) -> str:
    """Readable Unicode: `2·x·y`, `x² + cos(y)`, `sigmoid(x)·(1 − sigmoid(x))`, `−e^(−x)`.

    The output uses the notes' vocabulary and can be pasted back into `parse_expression`
    (which accepts `·`, `−`, `²` and `³`), except for `heaviside` and `sign`, which only
    appear in derivatives.
    """
    text = _printed(_TextPrinter({"order": None}), expr)
    text = text.replace("*", "·")
    return _MINUS.sub("−", text)


def to_plain(expr: sp.Expr) -> str:
    """ASCII text with `*` and `**` that `parse_expression` reads back (for JSON and pipes)."""
    return _printed(_PlainPrinter({"order": None}), expr)


# Deeper results are refused before printing: SymPy's printers recurse once per level (several
# frames each), so whether a deep result prints would otherwise depend on Python's recursion
# limit and on which of its equal forms simplification happened to reach.
MAX_PRINT_DEPTH = 120


def _depth(expr: sp.Basic) -> int:
    """Levels of the expression tree, counted without recursion."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((arg, level + 1) for arg in node.args)
    return deepest


def _printed(printer, expr) -> str:
    """`printer.doprint(expr)`; a result nested more than MAX_PRINT_DEPTH levels deep is a user
    error: the derivative of a tower x^x^...^x of 120 levels cannot be printed."""
    expr = sp.sympify(expr)
    message = "the result is nested too deeply to print; simplify the expression"
    if _depth(expr) > MAX_PRINT_DEPTH:
        raise DlcalcError(f"{message} (at most {MAX_PRINT_DEPTH} levels)")
    try:
        return printer.doprint(expr)
    except RecursionError:
        raise DlcalcError(message) from None


class _LatexPrinter(LatexPrinter):
    def _print_Mul(self, expr):
        return _print_reordered_mul(self, super()._print_Mul, expr)

    def _print_Add(self, expr, order=None):
        return _print_add_in_user_order(self, super()._print_Add, expr)

    def _print_Heaviside(self, expr, exp=None):
        body = rf"H\left({self._print(expr.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _print_Float(self, expr):
        text = repr(float(expr))
        if "e" in text:
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"  # as number_text.latex_number
        return text


def to_latex(expr: sp.Expr) -> str:
    r"""LaTeX without `$`: `\sigma\left(x\right) \left(1 - \sigma\left(x\right)\right)`."""
    return _printed(_LatexPrinter(), expr)


# --------------------------------------------------------------------------------------------
# Differentiation
# --------------------------------------------------------------------------------------------


def _as_expression(expr) -> sp.Expr:
    """The symbolic layer takes parsed expressions only (dlcalc.expression.parse_expression)."""
    if isinstance(expr, str):
        raise TypeError("dlcalc.symbolic takes SymPy expressions; parse text with "
                        "dlcalc.expression.parse_expression first")
    return expr


def _variable_names(expr: sp.Expr) -> list[str]:
    return sorted(s.name for s in expr.free_symbols)


def _symbol(expr: sp.Expr, name: str) -> sp.Symbol:
    for s in expr.free_symbols:
        if s.name == name:
            return s
    return sp.Symbol(name, real=True)


def _functions_in(expr: sp.Expr) -> set[type]:
    return {type(f) for f in expr.atoms(sp.Function)}


def _integral_floats_to_integers(expr: sp.Expr) -> sp.Expr:
    """1.0·x reads better as x: a float coefficient that is a whole number becomes exact."""
    return expr.replace(
        lambda e: e.is_Float and float(e).is_integer() and abs(float(e)) < 2**53,
        lambda e: sp.Integer(int(float(e))),
    )


def _numeric_content(expr: sp.Expr) -> sp.Expr:
    """18x + 24y − 30 becomes 6·(3x + 4y − 5): only a common number is pulled out."""
    if not expr.is_Add:
        return expr
    content, primitive = expr.as_content_primitive(radical=False)
    if content == 1 or not primitive.is_Add:
        return expr
    return sp.Mul(content, primitive, evaluate=False)


def _positive_sum(expr: sp.Expr) -> sp.Expr:
    """2·(y − w1·x1 − w2·x2) becomes −2·(w1·x1 + w2·x2 − y): the sum as in the expression."""
    if not expr.is_Mul:
        return expr
    coeff, rest = expr.as_coeff_Mul()
    sums = [f for f in sp.Mul.make_args(rest) if f.is_Add]
    if not (coeff.is_Number and len(sums) == 1):
        return expr
    total = sums[0]
    flipped = sp.Add(*[-t for t in total.args])

    def negatives(c, add):
        leading = add.as_ordered_terms()[0]
        return (sum(t.could_extract_minus_sign() for t in add.args) + bool(c < 0),
                leading.could_extract_minus_sign())

    if negatives(-coeff, flipped) < negatives(coeff, total):
        others = [f for f in sp.Mul.make_args(rest) if f is not total]
        return sp.Mul(-coeff, *others, flipped, evaluate=False)
    return expr


def _load_simplify() -> None:
    """Import what `sp.simplify` imports on its first call (sympy.physics.units, the
    combinatorics behind it: over half a second on a busy machine), before its time limit is
    armed: the limit is for simplifying, and an alarm raised inside an import is lost."""
    import sympy.assumptions.wrapper  # noqa: F401
    import sympy.physics.units  # noqa: F401
    import sympy.sets.setexpr  # noqa: F401


def tidy(derivative: sp.Expr, expression: sp.Expr | None = None) -> sp.Expr:
    """Simplify a derivative with bounded effort, keeping it readable.

    Common numeric factors are pulled out (18x + 24y − 30 becomes 6·(3x + 4y − 5), as in the
    notes), with their sign when the sum then reads as in `expression`, the function
    differentiated (−6·(2x − 3y + 4z − 6)); powers keep the power rule's shape (n·x^(n−1)).
    `simplify` is tried only on small results, for at most SIMPLIFY_SECONDS, and its
    answer is kept only if it is clearly shorter and brings in no function the derivative did
    not already use (so e^(−x)/(1 + e^(−x))² does not turn into 1/(4·cosh²(x/2))).
    """
    from dlcalc.final_forms import power_rule_shape, sum_as_written

    best = _numeric_content(_integral_floats_to_integers(derivative))
    if sp.count_ops(best) <= SIMPLIFY_MAX_OPS:  # big results are left as they are: no one reads them
        best = power_rule_shape(best)
        _load_simplify()
        try:
            with time_limit(SIMPLIFY_SECONDS, _too_slow("simplify", SIMPLIFY_SECONDS)):
                candidate = _numeric_content(sp.simplify(best))
        except (SymbolicTimeout, RecursionError):
            candidate = best
        if (sp.count_ops(candidate) < 0.75 * sp.count_ops(best)
                and _functions_in(candidate) <= _functions_in(best)):
            best = power_rule_shape(candidate)
    return sum_as_written(best, expression) or _positive_sum(best)


def differentiate(expr, variable: str, form: str = "notes") -> sp.Expr:
    """∂expr/∂variable in one of `final_forms.FORMS`, within DIFFERENTIATE_SECONDS.

    "notes" (the default) renames written-out σ, tanh and softplus first, so that the
    derivative is in the notes' vocabulary (σ(x)·(1 − σ(x)), 1 − tanh²(x)); the renamed
    derivative is used only if it is proven equal to the plain one.
    """
    return final_derivative(expr, variable, form, with_plain=False)[0]


def final_derivative(expr, variable: str, form: str = "notes", with_plain: bool = True
                     ) -> tuple[sp.Expr, sp.Expr | None, list]:
    """(∂expr/∂variable in `form`, the same derivative tidied without renaming (None unless
    `with_plain` or equal to the first), the identities used to rename: a list of
    `final_forms.Recognised`)."""
    from dlcalc import final_forms

    if form not in final_forms.FORMS:
        raise DlcalcError(f"unknown form {form!r}; choose one of {', '.join(final_forms.FORMS)}")
    expr = _as_expression(expr)
    x = _symbol(expr, variable)
    _load_simplify()  # imports are not differentiating: outside the time limit
    with time_limit(DIFFERENTIATE_SECONDS, _too_slow("differentiate")):
        try:
            derivative = sp.diff(expr, x)
            plain = tidy(derivative, expr) if with_plain else None
            if form == "expanded":
                return final_forms.expanded(derivative), plain, []
            if form == "factored":
                return final_forms.power_rule_shape(final_forms.factored(derivative, expr)), plain, []
            renamed, found = final_forms.recognise(expr)
            if found:
                named = tidy(sp.diff(renamed, x), renamed)
                if final_forms.same_function(named, derivative):
                    return named, plain, found
            plain = plain if plain is not None else tidy(derivative, expr)
            return plain, plain, []
        except RecursionError:
            raise DlcalcError("the expression is nested too deeply to differentiate") from None


@dataclass(frozen=True)
class Gradient:
    """The gradient of a scalar expression: one partial derivative per variable, in order."""

    expression: sp.Expr
    variables: tuple[str, ...]
    partials: dict[str, sp.Expr]

    def at(self, point: Mapping[str, float]) -> np.ndarray:
        """The gradient vector at `point` (all variables of the expression must be given)."""
        return evaluate_at(
            [self.partials[v] for v in self.variables],
            point,
            variables=set(self.variables) | set(_variable_names(self.expression)),
            function=self.expression,
        )


def _check_wrt(expr: sp.Expr, wrt: Iterable[str] | None) -> list[str]:
    names = _variable_names(expr)
    if wrt is None:
        return names
    wrt = [w.strip() for w in wrt]
    for name in wrt:
        # A constant has no variables; d/dx c = 0 for any x named (the constant rule).
        if name not in names and (names or not name.isidentifier()):
            listing = ", ".join(names) if names else "none (the expression is constant)"
            raise DlcalcError(
                f"'{name}' is not a variable of the expression; its variables: {listing}"
            )
    duplicates = sorted({w for w in wrt if wrt.count(w) > 1})
    if duplicates:
        raise DlcalcError(f"variable '{duplicates[0]}' is given twice in --wrt")
    return wrt


def gradient(expr, wrt: Sequence[str] | None = None, form: str = "notes") -> Gradient:
    """Partial derivatives of `expr` (a SymPy expression or text) with respect to `wrt`.

    `wrt` chooses and orders the variables (default: all free variables, sorted by name); a
    name that is not a variable of the expression is a DlcalcError.
    """
    expr = _as_expression(expr)
    variables = _check_wrt(expr, wrt)
    partials: dict[str, sp.Expr] = {}
    with time_limit(DIFFERENTIATE_SECONDS, _too_slow("differentiate")):
        for name in variables:
            partials[name] = differentiate(expr, name, form)
    return Gradient(expression=expr, variables=tuple(variables), partials=partials)


def hessian(expr, variables: Sequence[str] | None = None) -> sp.Matrix:
    """The matrix of second partials ∂²f/∂v_i∂v_j, in the order of `variables`."""
    expr = _as_expression(expr)
    names = _check_wrt(expr, variables)
    symbols = [_symbol(expr, n) for n in names]
    with time_limit(DIFFERENTIATE_SECONDS, _too_slow("differentiate")):
        try:
            first = [sp.diff(expr, s) for s in symbols]
            rows = [[tidy(sp.diff(first[i], symbols[j])) for j in range(len(symbols))]
                    for i in range(len(symbols))]
        except RecursionError:
            raise DlcalcError("the expression is nested too deeply to differentiate") from None
    return sp.Matrix(rows) if rows else sp.Matrix(0, 0, [])


# --------------------------------------------------------------------------------------------
# Numeric evaluation
# --------------------------------------------------------------------------------------------


def _check_point(needed: set[str], point: Mapping[str, float]) -> None:
    listing = ", ".join(sorted(needed)) if needed else "none"
    missing = sorted(needed - set(point))
    if missing:
        raise DlcalcError(
            f"no value for variable '{missing[0]}'; give a value for each of: {listing}"
        )
    extra = sorted(set(point) - needed)
    if extra:
        raise DlcalcError(
            f"'{extra[0]}' is not a variable of the expression; its variables: {listing}"
        )


def evaluate_at(exprs, point: Mapping[str, float], variables: Iterable[str] | None = None,
                function: sp.Expr | None = None) -> np.ndarray:
    """Values (float64 array, one per expression) of `exprs` at `point`.

    Every variable of the expressions (and of `variables`, the variables of the expression
    they were derived from, so that ∂(x + y)/∂x = 1 still asks for y) must be given. A name
    that is none of these is an error too rather than silently ignored: it is almost always a
    typo or the wrong expression, and a wrong gradient printed without complaint is worse than
    an error naming the stray variable.

    Each value is the exact value rounded once to float64 (dlcalc.evaluation: mpmath at rising
    precision until the rounding is certain). Where the expressions are derivatives of
    `function` and `function` is defined at the point, a 0/0 left by differentiation is
    evaluated as its limit (d/dx x^n = n·x^n/x at x = 0). Where no finite real number results
    (poles, log of a negative number, infinite inputs) the NumPy form is used and a
    NumericWarning explains the NaN or infinity.
    """
    single = isinstance(exprs, sp.Basic)
    exprs = [exprs] if single else [sp.sympify(e) for e in exprs]
    symbols = {s.name: s for e in exprs for s in e.free_symbols}
    needed = set(symbols) | set(variables or ())
    _check_point(needed, point)
    values = {name: float(point[name]) for name in needed}
    out = np.empty(len(exprs), dtype=np.float64)
    with time_limit(DIFFERENTIATE_SECONDS, _too_slow("evaluate")):
        defined: list[bool] = []  # computed once, when a first value needs a limit
        for i, expr in enumerate(exprs):
            out[i] = _evaluate_one(expr, values, function, defined)
    return out[0] if single else out


def _evaluate_one(expr: sp.Expr, values: dict[str, float], function: sp.Expr | None = None,
                  defined: list[bool] | None = None) -> float:
    from dlcalc import evaluation

    free = sorted(expr.free_symbols, key=lambda s: s.name)
    if all(math.isfinite(values[s.name]) for s in free):
        value = evaluation.value_at(expr, values)
        if value is None and function is not None:
            if defined is None:
                defined = []
            if not defined:
                defined.append(evaluation.value_at(function, values) is not None)
            if defined[0]:
                value = evaluation.limit_at(expr, values)
        if value is not None and math.isfinite(value):
            return value
        if value is not None:  # the exact value is finite but beyond the float64 range
            _warn_not_finite(expr, free, values, value)
            return value
    with np.errstate(all="ignore"):
        value = _lambdify(free, expr)(*[np.float64(values[s.name]) for s in free])
        value = float(np.real(value)) if np.isreal(value) else math.nan
    if not math.isfinite(value):
        _warn_not_finite(expr, free, values, value)
    return value


def _warn_not_finite(expr: sp.Expr, free: Sequence[sp.Symbol], values: Mapping[str, float],
                     value: float) -> None:
    where = ", ".join(f"{s.name}={values[s.name]!r}" for s in free) or "any point"
    warnings.warn(
        NumericWarning(
            f"{to_text(expr)} is {value} at {where}: a pole, a value beyond the float64 "
            f"range, an infinite input, or a point outside the domain of log, sqrt, ..."
        ),
        stacklevel=4,
    )


def finite_difference_check(expr, variables: Sequence[str] | None, point: Mapping[str, float]
                            ) -> tuple[np.ndarray, float]:
    """Central finite differences of `expr` at `point`, and their largest relative difference
    from the symbolic gradient.

    Step h_i = ε^(1/3)·max(1, |x_i|) (ε = 2.2e-16), which balances the O(h²) truncation error
    of central differences against the rounding error ε·|f|/h. The difference of each component
    is |symbolic − numeric| / max(1, |symbolic|, |numeric|): relative for values above 1,
    absolute below, so a zero partial does not turn rounding noise into a 100% "error".
    Components that are not finite are skipped; the result is NaN if none is finite. At a kink
    (relu at 0) the central difference is the average slope and disagrees by design.
    """
    expr = _as_expression(expr)
    names = _check_wrt(expr, variables)
    grad = gradient(expr, names)
    symbolic = grad.at(point)
    all_names = sorted(set(names) | set(_variable_names(expr)))
    _check_point(set(all_names), point)
    symbols = [_symbol(expr, n) for n in all_names]
    f = _lambdify(symbols, expr)
    base = np.array([float(point[n]) for n in all_names], dtype=np.float64)
    numeric = np.empty(len(names), dtype=np.float64)

    def value(at: np.ndarray) -> float:
        # f itself correctly rounded (dlcalc.evaluation): a float64 form that overflows or
        # cancels (log(1 + e^x) at x = 1000) would make the difference quotient nan or noise.
        if np.all(np.isfinite(at)):
            from dlcalc import evaluation

            exact = evaluation.value_at(expr, dict(zip(all_names, map(float, at))))
            if exact is not None:
                return exact
        return float(f(*at))

    with np.errstate(all="ignore"), time_limit(DIFFERENTIATE_SECONDS, _too_slow("evaluate")):
        for k, name in enumerate(names):
            i = all_names.index(name)
            h = np.cbrt(np.finfo(np.float64).eps) * max(1.0, abs(base[i]))
            plus, minus = base.copy(), base.copy()
            plus[i] += h
            minus[i] -= h
            numeric[k] = (value(plus) - value(minus)) / (plus[i] - minus[i])
        scale = np.maximum(1.0, np.maximum(np.abs(symbolic), np.abs(numeric)))
        differences = np.abs(symbolic - numeric) / scale
    # A symbolic value that is not finite beside a finite difference is a disagreement, not a
    # component to skip: the largest difference is then inf.
    differences[np.isfinite(numeric) & ~np.isfinite(symbolic)] = math.inf
    compared = differences[~np.isnan(differences)]
    return numeric, (float(compared.max()) if compared.size else math.nan)


def numeric_function(expr, variable: str = "x", *, derivative: sp.Expr | None = None
                     ) -> tuple[Callable, Callable]:
    """Vectorised NumPy callables f and f' for an expression in one variable.

    Used by `activate` and `plot` for expressions such as "x*sigmoid(x)": the SymPy objects
    built by the parser are compiled with lambdify to NumPy code (activation functions and erf
    map to their stable NumPy forms, no SciPy), so evaluation on 10^6 points is one vectorised
    pass. Constant expressions broadcast to the input's shape; floating inputs keep their dtype.
    A caller that already has the derivative passes it as `derivative` (differentiating can take
    a second).
    """
    expr = _as_expression(expr)
    others = sorted(n for n in _variable_names(expr) if n != variable)
    if others:
        raise DlcalcError(
            f"expressions for activate/plot are functions of {variable}; found {others[0]}"
        )
    symbol = _symbol(expr, variable)
    if derivative is None:
        derivative = differentiate(expr, variable)
    return (_vectorised(_lambdify([symbol], expr), symbol, expr),
            _vectorised(_lambdify([symbol], derivative), symbol, derivative))


def _vectorised(compiled: Callable, symbol: sp.Symbol | None = None,
                expr: sp.Expr | None = None) -> Callable:
    """The NumPy form, and for float64 input the correctly rounded values of `expr`
    (dlcalc.evaluation.exact_array: mpmath per element where needed)."""

    def fast(x):
        with np.errstate(all="ignore"):
            y = np.asarray(compiled(x))
        if y.shape != x.shape:
            y = np.broadcast_to(y, x.shape)
        return y

    def evaluate(x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        if expr is not None and x.dtype == np.float64 and expr.free_symbols:
            from dlcalc import evaluation

            compiled_mp = evaluation.compile_mpmath([symbol], expr)
            with time_limit(DIFFERENTIATE_SECONDS, _too_slow("evaluate")):
                return evaluation.exact_array(compiled_mp, fast, x)
        y = fast(x)
        return y.astype(x.dtype, copy=True) if y.dtype != x.dtype or not y.flags.writeable else y

    evaluate.fast = fast  # type: ignore[attr-defined] - the NumPy values alone (plots out of time)
    return evaluate


def compiled(exprs, names: Sequence[str]) -> Callable:
    """`exprs` (one expression or a list) compiled once to NumPy code, a function of the
    variables `names` in that order, with the stable forms of `numeric_function`; for the
    thousands of evaluations of a descent (dlcalc.descent)."""
    if isinstance(exprs, (list, tuple)):
        exprs = [_as_expression(e) for e in exprs]
        found = {s.name: s for e in exprs for s in e.free_symbols}
    else:
        exprs = _as_expression(exprs)
        found = {s.name: s for s in exprs.free_symbols}
    return _lambdify([found.get(name, sp.Symbol(name)) for name in names], exprs)


def __getattr__(name: str) -> Any:
    """`symbolic.sigmoid`, `symbolic.Phi`, ...: the SymPy function classes the registry builds
    from its entries (`activations.symbolic_functions`), under their names in the language."""
    from dlcalc.activations import symbolic_functions

    classes = symbolic_functions()
    if name in classes:
        return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
