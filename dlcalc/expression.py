"""A safe parser for the expression language of `dlcalc grad` and expressions in x (SPEC §6).

User text never reaches eval, exec, sympify or parse_expr (all of which evaluate Python). The
text is parsed by `ast.parse(..., mode="eval")` into a syntax tree that is only read; a
whitelist of node kinds is accepted and the SymPy expression is built from it here, node by
node, with checks that keep any input from hanging the program or exhausting memory.

Language: numbers, variables (identifiers), + - * / ** ^ (`^` is power), parentheses, the
functions in `functions()` (SymPy's and the registry's) and the constants e and pi. For text pasted from dlcalc's own output,
`·` and `×` are read as `*`, `−` as `-`, and `²`, `³` as `**2`, `**3`.
"""

from __future__ import annotations

import ast
import math
import sys

import sympy as sp

from dlcalc.activations import symbolic_functions
from dlcalc.errors import DlcalcError
from dlcalc.symbolic import time_limit

# Limits: each keeps a hostile or accidental input from hanging or exhausting memory.
MAX_LENGTH = 2_000  # characters of input
MAX_NESTING = 100  # depth of parentheses, and of the syntax tree (see MAX_TREE_DEPTH)
MAX_TREE_DEPTH = 200  # depth of the syntax tree (a sum of n terms is n deep)
MAX_NODES = 1_000  # nodes of the syntax tree
MAX_INTEGER_DIGITS = 300  # digits of an integer literal
MAX_NUMBER_BITS = 10_000  # size of an exact rational built by arithmetic (about 3,000 digits)
MAX_SYMBOLIC_EXPONENT = 1_000  # |n| in u**n when u is not a plain number
# Seconds allowed for building the SymPy objects: within the size limits, min/max of a few
# dozen variables still take SymPy minutes to order (max(max(x0, x1), ...) of 64 names: 100 s).
PARSE_SECONDS = 2.0

_ONE_ARGUMENT = (1, 1)


def _log(*args):
    return sp.log(*args)


# name -> (builder, (fewest, most) arguments; most None for any number)
_SYMPY_FUNCTIONS: dict[str, tuple[object, tuple[int, int | None]]] = {
    "exp": (sp.exp, _ONE_ARGUMENT),
    "log": (_log, (1, 2)),
    "ln": (sp.log, _ONE_ARGUMENT),
    "log2": (lambda x: sp.log(x, 2), _ONE_ARGUMENT),
    "log10": (lambda x: sp.log(x, 10), _ONE_ARGUMENT),
    "sqrt": (sp.sqrt, _ONE_ARGUMENT),
    "abs": (sp.Abs, _ONE_ARGUMENT),
    "sin": (sp.sin, _ONE_ARGUMENT),
    "cos": (sp.cos, _ONE_ARGUMENT),
    "tan": (sp.tan, _ONE_ARGUMENT),
    "sec": (sp.sec, _ONE_ARGUMENT),
    "asin": (sp.asin, _ONE_ARGUMENT),
    "acos": (sp.acos, _ONE_ARGUMENT),
    "atan": (sp.atan, _ONE_ARGUMENT),
    "sinh": (sp.sinh, _ONE_ARGUMENT),
    "cosh": (sp.cosh, _ONE_ARGUMENT),
    "tanh": (sp.tanh, _ONE_ARGUMENT),
    "erf": (sp.erf, _ONE_ARGUMENT),
}
_MIN_MAX = {"min": (sp.Min, (2, None)), "max": (sp.Max, (2, None))}


def functions() -> dict[str, tuple[object, tuple[int, int | None]]]:
    """Every function of the language: SymPy's, the registry's (sigmoid, relu, ...), min, max."""
    registry = {name: (cls, _ONE_ARGUMENT) for name, cls in symbolic_functions().items()}
    return {**_SYMPY_FUNCTIONS, **registry, **_MIN_MAX}


CONSTANTS: dict[str, sp.Expr] = {"e": sp.E, "pi": sp.pi}

def _function_list() -> str:
    return ", ".join(functions())


def _language() -> str:
    return ("expressions use numbers, variables, + - * / ^ (or **), parentheses, "
            f"the constants e and pi and the functions {_function_list()}")

# Characters rewritten before parsing, with what they become (`^` is power, not Python's xor).
_REWRITES = {"^": "**", "·": "*", "×": "*", "−": "-", "²": "**2", "³": "**3"}

_NODE_NAMES = {
    ast.Attribute: "'.' (attribute access)",
    ast.Subscript: "'[...]' (subscript)",
    ast.Lambda: "'lambda'",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.List: "'[...]' (a list)",
    ast.Tuple: "',' (a tuple)",
    ast.Set: "'{...}' (a set)",
    ast.Dict: "'{...}' (a dict)",
    ast.Compare: "a comparison",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "'if ... else'",
    ast.Starred: "'*' (unpacking)",
    ast.NamedExpr: "':=' (assignment)",
    ast.Await: "'await'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield from'",
    ast.Slice: "':' (a slice)",
}

_OPERATOR_NAMES = {
    ast.FloorDiv: "'//'",
    ast.Mod: "'%'",
    ast.MatMult: "'@'",
    ast.LShift: "'<<'",
    ast.RShift: "'>>'",
    ast.BitOr: "'|'",
    ast.BitAnd: "'&'",
    ast.BitXor: "'^'",
    ast.Invert: "'~'",
    ast.Not: "'not'",
}


class _Source:
    """The rewritten text handed to `ast`, and the way back to the user's columns."""

    def __init__(self, text: str):
        pieces: list[str] = []
        self.original_index: list[int] = []  # rewritten char index -> user's char index
        for i, ch in enumerate(text):
            if ch in "\t\r\n":
                ch = " "  # one line, same columns
            piece = _REWRITES.get(ch, ch)
            pieces.append(piece)
            self.original_index.extend([i] * len(piece))
        self.original_index.append(len(text))
        self.text = "".join(pieces)
        self.user_text = text
        self._utf8 = self.text.encode("utf-8")

    def column_of_char(self, char_index: int) -> int:
        """1-based column in the user's text of a 0-based character index of `self.text`."""
        char_index = max(0, min(char_index, len(self.original_index) - 1))
        return self.original_index[char_index] + 1

    def column(self, node: ast.AST) -> int:
        """1-based column in the user's text of a node (ast counts UTF-8 bytes)."""
        byte_offset = getattr(node, "col_offset", 0)
        char_index = len(self._utf8[:byte_offset].decode("utf-8", errors="ignore"))
        return self.column_of_char(char_index)

    def token(self, node: ast.AST) -> str:
        start = self.column(node) - 1
        end_offset = getattr(node, "end_col_offset", None)
        if end_offset is None:
            return self.user_text[start : start + 1]
        end_char = len(self._utf8[:end_offset].decode("utf-8", errors="ignore"))
        end = self.original_index[min(end_char, len(self.original_index) - 1)]
        return self.user_text[start:end]


def parse_expression(text: str) -> sp.Expr:
    """Parse `text` into a SymPy expression, safely.

    Variables become real SymPy symbols. Raises DlcalcError naming the offending token and its
    1-based column, and what the language accepts, for anything outside the language or beyond
    the limits (length, nesting, tree size, number size, exponent size).
    """
    if not isinstance(text, str):
        raise DlcalcError("the expression must be text")
    if len(text) > MAX_LENGTH:
        raise DlcalcError(
            f"the expression is {len(text):,} characters long; at most {MAX_LENGTH:,} are accepted"
        )
    if not text.strip():
        raise DlcalcError(f"the expression is empty; {_language()}")
    for i, ch in enumerate(text):
        if not ch.isprintable() and ch not in "\t\r\n":
            raise DlcalcError(
                f"character {ch!r} at column {i + 1} is not part of the expression language"
            )
    _check_parentheses(text)
    source = _Source(text)
    try:
        tree = ast.parse(source.text, mode="eval")
    except SyntaxError as error:
        raise _syntax_error(source, error) from None
    except (RecursionError, MemoryError):
        raise DlcalcError(f"the expression is nested too deeply (at most {MAX_NESTING} levels)")
    _check_tree_size(source, tree)
    builder = _Builder(source)
    try:
        with time_limit(PARSE_SECONDS, f"the expression took longer than {PARSE_SECONDS:g} s to "
                        "read; simplify it (for example fewer arguments to min and max)"):
            expr = builder.build(tree.body)
    except RecursionError:
        raise DlcalcError(
            f"the expression is nested too deeply (at most {MAX_NESTING} levels)"
        ) from None
    if expr.has(sp.zoo, sp.nan):
        raise DlcalcError("the expression is undefined (it divides by zero)")
    for power in expr.atoms(sp.Pow):  # (x**251)**4 builds what x**1004 typed would be refused as
        if (power.exp.is_Number and not power.base.is_Number
                and abs(power.exp) > MAX_SYMBOLIC_EXPONENT):
            raise DlcalcError(
                f"the expression computes the power {sp.sstr(power)}, whose exponent is too large; "
                f"at most {MAX_SYMBOLIC_EXPONENT} in absolute value is accepted"
            )
    tiny = {f: sp.Float(float(f)) for f in expr.atoms(sp.Float) if abs(float(f)) < sys.float_info.min}
    if tiny:  # below float64's normal range SymPy keeps digits float64 has not: keep float64's
        expr = expr.xreplace(tiny)
    if expr.has(sp.I):  # the language is real; an imaginary unit can only come from a domain error
        raise DlcalcError("the expression is not real-valued (a square root, logarithm or power "
                          "of a negative number?); the language computes with real numbers")
    return expr


def _check_parentheses(text: str) -> None:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise DlcalcError(
                    f"'{ch}' at column {i + 1} nests parentheses more than {MAX_NESTING} deep"
                )
        elif ch in ")]}":
            depth -= 1


def _syntax_error(source: _Source, error: SyntaxError) -> DlcalcError:
    stripped = source.user_text.rstrip()
    if stripped and stripped[-1] in "+-*/^·×−":
        # Python points at column 1 for "x + 1 -"; the missing operand is at the end.
        operator = "**" if stripped.endswith("**") else stripped[-1]
        return DlcalcError(f"missing operand after {operator!r} at column "
                           f"{len(stripped) - len(operator) + 1} (the end of the expression); "
                           f"{_language()}")
    offset = error.offset or 1
    column = source.column_of_char(offset - 1)
    user = source.user_text
    token = user[column - 1] if 0 < column <= len(user) else ""
    if not token or token.isspace():
        where = f"at column {column}" if column <= len(user) else "at the end"
    else:
        where = f"at column {column} ({token!r})"
    reason = (error.msg or "invalid syntax").split(".")[0]
    if reason.startswith("invalid syntax"):
        reason = "invalid syntax"
    import re

    # "2x", "3(x+1)": a number written against what it multiplies, as on paper
    implicit = re.search(r"(?<![\w.])(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*([A-Za-z_(])", user)
    if implicit and (reason == "invalid syntax" or "literal" in reason):
        number, after = implicit.groups()
        return DlcalcError(f"multiplication needs a '*' after the number at column "
                           f"{implicit.start(1) + 1}: write {number}*{after} for {number} times "
                           f"{after}; {_language()}")
    if "literal" in reason:  # Python's words for a number it cannot read
        reason = "a malformed number"
    return DlcalcError(f"{reason} {where}; {_language()}")


def _check_tree_size(source: _Source, tree: ast.AST) -> None:
    count = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise DlcalcError(f"the expression is too large (more than {MAX_NODES} parts)")
        if depth > MAX_TREE_DEPTH:
            raise DlcalcError(
                f"the expression is nested too deeply at column {source.column(node)} "
                f"(at most {MAX_TREE_DEPTH} levels of operators)"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Builder:
    """Builds SymPy objects from a whitelisted syntax tree; everything else is an error."""

    def __init__(self, source: _Source):
        self.source = source
        self.symbols: dict[str, sp.Symbol] = {}

    def fail(self, node: ast.AST, what: str) -> DlcalcError:
        column = self.source.column(node)
        if isinstance(node, ast.Attribute):
            column = self._column_after(node.value)  # the '.' itself
        return DlcalcError(
            f"{what} at column {column} is not part of the expression language; {_language()}"
        )

    def _column_after(self, node: ast.AST) -> int:
        """Column of the first character after `node` that is not a space or ')'."""
        utf8 = self.source.text.encode("utf-8")
        char_index = len(utf8[: node.end_col_offset].decode("utf-8", errors="ignore"))
        text = self.source.text
        while char_index < len(text) and (text[char_index].isspace() or text[char_index] == ")"):
            char_index += 1
        return self.source.column_of_char(char_index)

    def build(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.checked(node, -self.build(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand)
            raise self.fail(node, _OPERATOR_NAMES.get(type(node.op), "this operator"))
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, _NODE_NAMES.get(type(node), f"'{self.source.token(node)}'"))

    def number(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        column = self.source.column(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = {str: "a string", bytes: "a string", complex: "an imaginary number"}.get(
                type(value), f"'{self.source.token(node)}'"
            )
            raise self.fail(node, kind)
        if isinstance(value, int):
            if len(self.source.token(node)) > MAX_INTEGER_DIGITS:
                raise DlcalcError(
                    f"the number at column {column} has more than {MAX_INTEGER_DIGITS} digits"
                )
            return sp.Integer(value)
        if not math.isfinite(value):
            raise DlcalcError(
                f"the number {self.source.token(node)!r} at column {column} is too large for "
                "float64"
            )
        return sp.Float(value)

    def name(self, node: ast.Name) -> sp.Expr:
        name = node.id
        column = self.source.column(node)
        if name.startswith("__") or name.startswith("_"):
            raise DlcalcError(
                f"'{name}' at column {column} is not a valid variable name (names may not "
                f"start with '_'); {_language()}"
            )
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in functions():
            raise DlcalcError(
                f"'{name}' at column {column} is a function; call it as {name}(...) "
                f"or choose another variable name"
            )
        if name not in self.symbols:
            self.symbols[name] = sp.Symbol(name, real=True)
        return self.symbols[name]

    def binary(self, node: ast.BinOp) -> sp.Expr:
        op = type(node.op)
        if op not in (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow):
            raise DlcalcError(
                f"{_OPERATOR_NAMES.get(op, 'this operator')} at column "
                f"{self._operator_column(node)} is not part of the expression language; "
                f"{_language()}"
            )
        left = self.build(node.left)
        right = self.build(node.right)
        if op is ast.Add:
            return self.checked(node, left + right)
        if op is ast.Sub:
            return self.checked(node, left - right)
        if op is ast.Mult:
            return self.checked(node, left * right)
        if op is ast.Div:
            if right.is_zero:
                raise DlcalcError(
                    f"division by zero at column {self._operator_column(node)}"
                )
            return self.checked(node, left / right)
        self.check_power(node, left, right)
        return self.checked(node, left**right)

    def _operator_column(self, node: ast.BinOp) -> int:
        return self._column_after(node.left)  # the operator sits right after the left operand

    def check_power(self, node: ast.BinOp, base: sp.Expr, exponent: sp.Expr) -> None:
        if not exponent.is_Number:
            return
        column = self._operator_column(node)
        magnitude = abs(float(exponent)) if exponent.is_Float else abs(exponent)
        if base.is_Rational:
            if base in (0, 1, -1):
                return
            if exponent.is_Integer or exponent.is_Float:
                bits = max(abs(base.p), abs(base.q)).bit_length()
                if magnitude * bits > MAX_NUMBER_BITS:
                    raise DlcalcError(
                        f"the power at column {column} is too large: "
                        f"{sp.sstr(base)}^{sp.sstr(exponent)} would have about "
                        f"{int(min(magnitude * bits * 0.30103, 1e300)):,} digits; at most "
                        f"{MAX_NUMBER_BITS * 3 // 10:,} are accepted"
                    )
            return
        if base.is_Float:
            if magnitude * abs(math.log2(abs(float(base)) or 1.0)) > 1000:
                raise DlcalcError(f"the power at column {column} is too large for float64")
            return
        if magnitude > MAX_SYMBOLIC_EXPONENT:
            raise DlcalcError(
                f"the exponent {sp.sstr(exponent)} at column {column} is too large; "
                f"at most {MAX_SYMBOLIC_EXPONENT} in absolute value is accepted"
            )

    def checked(self, node: ast.AST, result: sp.Expr) -> sp.Expr:
        """Refuse exact numbers that grew beyond MAX_NUMBER_BITS (10**300 * 10**300 * ...)."""
        if result.is_Rational and max(
            abs(result.p).bit_length(), abs(result.q).bit_length()
        ) > MAX_NUMBER_BITS:
            raise DlcalcError(
                f"the number computed at column {self.source.column(node)} is too large "
                f"(more than {MAX_NUMBER_BITS * 3 // 10:,} digits)"
            )
        if result.is_Float and not math.isfinite(float(result)):
            raise DlcalcError(
                f"the number computed at column {self.source.column(node)} is too large for "
                "float64"
            )
        if result.is_Float and abs(float(result)) < sys.float_info.min:
            # SymPy's floats go far below float64's (exp(-746.0) is 1e-324 there, 0 in float64):
            # keep what float64 holds, as every evaluation will, so the result prints exactly.
            return sp.Float(float(result))
        if (result.is_number and not result.has(sp.zoo, sp.nan)
                and result.is_extended_real is False):
            # sqrt(-1), log(-2.0), asin(2): the language is real-valued, and NumPy would later
            # drop the imaginary part without a word (x*sqrt(-1.0) at x = 1 printed 0).
            raise DlcalcError(
                f"'{self.source.token(node)}' at column {self.source.column(node)} is not a real "
                f"number ({sp.sstr(result)}); the arguments of sqrt, log, asin, ... must lie in "
                "their real domain"
            )
        return result

    def call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.fail(node.func, _NODE_NAMES[ast.Attribute])
            raise self.fail(node, "calling something other than a function name")
        name = node.func.id
        column = self.source.column(node)
        known = functions()
        if name not in known:
            if name in CONSTANTS:
                raise DlcalcError(f"'{name}' at column {column} is a constant, not a function")
            import difflib

            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise DlcalcError(
                f"unknown function '{name}' at column {column}; {hint}functions: {_function_list()}"
            )
        if node.keywords:
            keyword = node.keywords[0]
            label = f"'{keyword.arg}='" if keyword.arg else "'**' (unpacking)"
            raise self.fail(keyword, f"keyword argument {label}")
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.fail(argument, _NODE_NAMES[ast.Starred])
        builder, (fewest, most) = known[name]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            if fewest == most:
                wanted = f"{fewest} argument" + ("s" if fewest != 1 else "")
            elif most is None:
                wanted = f"at least {fewest} arguments"
            else:
                wanted = f"{fewest} or {most} arguments"
            raise DlcalcError(
                f"{name} at column {column} takes {wanted}, got {count}"
            )
        args = [self.build(argument) for argument in node.args]
        if name == "log" and len(args) == 2 and (args[1].is_zero or args[1] == 1):
            raise DlcalcError(f"log at column {column}: the base must not be 0 or 1")
        if name == "log" and len(args) == 2 and args[1].is_extended_positive is False:
            raise DlcalcError(f"log at column {column}: the base "
                              f"{self.source.token(node.args[1])!r} is not positive; the "
                              "logarithm of a real number needs a base > 0")
        try:
            result = builder(*args)
        except DlcalcError:  # already the user's message (DlcalcError is a ValueError)
            raise
        except (ValueError, TypeError, ArithmeticError) as error:  # min(0, log(0)): not comparable
            raise DlcalcError(f"{name} at column {column} cannot be computed: {error}") from None
        return self.checked(node, result)
