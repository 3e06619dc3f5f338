"""Fuzzing every parser (issue #7): random text, random tokens of each grammar, and mutations of
valid inputs. Whatever the input, the only exception that may escape is DlcalcError (which the
CLI turns into one `error:` line), each input is answered within a bounded time, and valid
inputs round-trip: plain output reads back as the same floats, an expression printed by
`symbolic.to_plain` reads back as the same expression.

The number of examples per test is `DLCALC_FUZZ_EXAMPLES` (default 30, and 100 in the long run
that CI makes with DLCALC_LONG_TESTS=1); a long campaign is, for example:

    DLCALC_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -q

(see SECURITY.md). The whole-CLI fuzz runs a tenth as many examples, each a real command.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import LONG_TESTS, _run_in_process
from dlcalc import batch, vectors
from dlcalc.errors import DlcalcError
from dlcalc.output import plain_number

EXAMPLES = int(os.environ.get("DLCALC_FUZZ_EXAMPLES", "100" if LONG_TESTS else "30"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=list(HealthCheck))

# Seconds any one input may take: a hang or a catastrophic blow-up, not a slow machine (the
# parsers answer in microseconds; a 20,000-example campaign on a loaded machine once saw a 1 s
# pause on a trivial input). The expression parser has its own limit (expression.PARSE_SECONDS).
PARSER_SECONDS = 5.0
EXPRESSION_SECONDS = 8.0


class Timed:
    def __init__(self, limit: float):
        self.limit = limit

    def __enter__(self):
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.started
        assert elapsed < self.limit, f"took {elapsed:.2f} s (limit {self.limit} s)"
        return False


def same_floats(a, b) -> bool:
    """Bit-for-bit equal float lists (nan equals nan, -0.0 differs from 0.0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and a.tobytes() == b.tobytes() or (
        a.shape == b.shape and all(
            (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))
            for x, y in zip(a.tolist(), b.tolist())))


# ---------------------------------------------------------------- strategies: numbers and vectors

floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.floats(-1e3, 1e3),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-5, 1e16, 1.7976931348623157e308, 0.1, 1 / 3]),
)


def spellings(value: float) -> st.SearchStrategy[str]:
    """Ways a user or a program writes `value` that mean exactly that float."""
    if math.isnan(value):
        return st.sampled_from(["nan", "NaN", "NAN", "+nan", "-nan"])
    if math.isinf(value):
        signs = ["-"] if value < 0 else ["", "+"]
        return st.sampled_from([sign + word for sign in signs for word in ("inf", "Inf", "INF")])
    candidates = [repr(value), plain_number(value), "%.17g" % value, "%.17e" % value, "%.17E" % value]
    if math.copysign(1, value) > 0:
        candidates.append("+" + repr(value))
    if float(int(value)) == value and abs(value) < 1e15:
        candidates.append(str(int(value)) + ".")
    return st.sampled_from([c for c in candidates if same_floats([float(c)], [value])])


written_number = floats.flatmap(lambda v: st.tuples(st.just(v), spellings(v)))
separator = st.sampled_from([" ", ",", "\t", ", ", " , ", "  "])


@st.composite
def written_vector(draw) -> tuple[list[float], str]:
    pairs = draw(st.lists(written_number, min_size=1, max_size=12))
    seps = [draw(separator) for _ in pairs[1:]]
    text = pairs[0][1] + "".join(s + t for s, (_, t) in zip(seps, pairs[1:]))
    ends = ["", " "]
    if draw(st.booleans()):
        text = "[" + text + "]"
        ends.append(",")  # a row pasted from a list of lists; a bare "1," has an empty field
    text = draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(ends))
    return [v for v, _ in pairs], text


# Characters a mutation inserts: the grammar's own, the separators, and the usual suspects.
NASTY = list("0123456789.eE+-,;[]() \t\r#_xX/\\'\"") + [
    "\x00", "\x7f", "\u00a0", "\u2212", "\ufeff", "\u0660", "１", "inf", "nan", "1e999", "-0", "\n"]


@st.composite
def mutated(draw, base: st.SearchStrategy[str]) -> str:
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(st.sampled_from(NASTY))
        if action == "insert":
            text = text[:position] + piece + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + 1:]
        elif action == "replace":
            text = text[:position] + piece + text[position + 1:]
        else:
            text = text[:position] + text[position:position + 5] * 2 + text[position + 5:]
    return text


# ---------------------------------------------------------------- dlcalc.vectors


def vector_or_error(text: str):
    with Timed(PARSER_SECONDS):
        try:
            result = vectors.parse_vector([text])
        except DlcalcError as error:
            assert str(error)
            return None
    assert result.dtype == np.float64 and result.ndim == 1 and result.size >= 1
    return result


@fuzz
@given(st.text(max_size=200))
def test_vector_parser_on_random_text_returns_floats_or_a_dlcalc_error(text):
    vector_or_error(text)


@fuzz
@given(st.lists(st.text(max_size=20), max_size=6))
def test_vector_parser_on_random_tokens_returns_floats_or_a_dlcalc_error(tokens):
    with Timed(PARSER_SECONDS):
        try:
            result = vectors.parse_vector(tokens)
        except DlcalcError:
            return
    assert result.dtype == np.float64 and result.size >= 1


@fuzz
@given(written_vector())
def test_vector_parser_reads_every_spelling_of_the_grammar_exactly(written):
    values, text = written
    assert same_floats(vector_or_error(text), values), text


@fuzz
@given(mutated(written_vector().map(lambda w: w[1])))
def test_vector_parser_on_mutated_vectors_returns_floats_or_a_dlcalc_error(text):
    result = vector_or_error(text)
    if result is not None:  # what is accepted is what float() reads in each word
        words = vectors.split_vector_text(text)
        assert same_floats(result, [float(w) for w in words])


@fuzz
@given(st.text(max_size=60), st.text(max_size=30))
def test_number_and_assignment_parsers_return_values_or_a_dlcalc_error(token, what):
    for parse in (lambda: vectors.parse_number(token, what), lambda: vectors.parse_assignments(token, what)):
        with Timed(PARSER_SECONDS):
            try:
                parse()
            except DlcalcError:
                pass


@fuzz
@given(st.lists(floats, min_size=1, max_size=20))
def test_plain_output_reads_back_as_the_same_floats(values):
    text = " ".join(plain_number(v) for v in values)
    assert same_floats(vectors.parse_vector([text]), values), text


@fuzz
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=20))
def test_float32_plain_output_reads_back_as_the_same_float32_values(values):
    text = " ".join(plain_number(np.float32(v), "float32") for v in values)
    back = vectors.parse_vector([text]).astype(np.float32)
    assert same_floats(back.astype(np.float64), np.float32(values).astype(np.float64)), text


# ---------------------------------------------------------------- dlcalc.batch


def line_or_error(raw: bytes):
    with Timed(PARSER_SECONDS):
        try:
            parsed = batch.parse_line(raw)
        except DlcalcError as error:
            assert str(error)
            return "error"
    if parsed is not None:
        vector, operand = parsed
        assert vector.dtype == np.float64 and vector.size >= 1
        assert operand is None or (operand.dtype == np.float64 and operand.size >= 1)
    return parsed


@fuzz
@given(st.binary(max_size=300))
def test_line_parser_on_random_bytes_returns_a_vector_nothing_or_a_dlcalc_error(raw):
    line_or_error(raw)


@st.composite
def written_line(draw) -> tuple[list[float], list[float] | None, bytes]:
    values, text = draw(written_vector())
    operand = None
    if draw(st.booleans()):
        operand, operand_text = draw(written_vector())
        text += draw(st.sampled_from([";", " ; ", "; ", " ;"])) + operand_text
    ending = draw(st.sampled_from(["", "\r"]))
    return values, operand, (text + ending).encode()


@fuzz
@given(written_line())
def test_line_parser_reads_every_spelling_of_the_grammar_exactly(written):
    values, operand, raw = written
    vector, read_operand = line_or_error(raw)
    assert same_floats(vector, values), raw
    assert (read_operand is None) == (operand is None)
    if operand is not None:
        assert same_floats(read_operand, operand), raw


chunk_lines = st.lists(st.one_of(
    written_line().map(lambda w: w[2]),
    mutated(written_line().map(lambda w: w[2].decode())).map(lambda t: t.replace("\n", " ").encode()),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")),
    st.sampled_from([b"", b"   ", b"# comment", b"\t#x", b"\r", b"1 2 ; 3", b";", b"1;", b";1"]),
), max_size=40)


@fuzz
@given(chunk_lines, st.integers(1, 10**6))
def test_chunk_parser_accounts_for_every_line_once_in_order(lines, first):
    numbered = list(enumerate(lines, start=first))
    with Timed(PARSER_SECONDS):
        chunk = batch.parse_chunk(numbered)
    good = [n for group in chunk.groups for n in group.numbers]
    bad = [b.number for b in chunk.bad]
    expected_good, expected_bad = [], []
    for number, raw in numbered:  # the oracle: each line parsed alone
        parsed = line_or_error(raw)
        if parsed == "error":
            expected_bad.append(number)
        elif parsed is not None:
            expected_good.append(number)
    assert sorted(good) == expected_good and bad == expected_bad
    for group in chunk.groups:
        assert group.numbers == sorted(group.numbers)
        matrix = group.matrix()
        assert matrix.shape[0] == len(group.numbers)
        for row, number in enumerate(group.numbers):
            assert same_floats(matrix[row], line_or_error(lines[number - first])[0])


@pytest.mark.skipif(not hasattr(batch, "parse_fast"), reason="no fast batch parser")
@fuzz
@given(chunk_lines.filter(bool))
def test_fast_block_parser_agrees_with_the_line_parser_whenever_it_accepts(lines):
    block = batch.Block(1, b"\n".join(lines), len(lines))
    groups = batch.parse_fast(block)
    if groups is None:
        return
    slow = batch.parse_chunk(block.lines())
    assert not slow.bad
    fast_rows = {n: (g.matrix()[i], None if g.operand_matrix() is None else g.operand_matrix()[i])
                 for g in groups for i, n in enumerate(g.numbers)}
    slow_rows = {n: (g.matrix()[i], None if g.operand_matrix() is None else g.operand_matrix()[i])
                 for g in slow.groups for i, n in enumerate(g.numbers)}
    assert fast_rows.keys() == slow_rows.keys()
    for n, (vector, operand) in slow_rows.items():
        assert same_floats(fast_rows[n][0], vector)
        assert (fast_rows[n][1] is None) == (operand is None)
        if operand is not None:
            assert same_floats(fast_rows[n][1], operand)


# ---------------------------------------------------------------- dlcalc.expression

FUNCTION_ARITY = {"exp": 1, "log": 1, "ln": 1, "log2": 1, "log10": 1, "sqrt": 1, "abs": 1,
                  "sin": 1, "cos": 1, "tan": 1, "sec": 1, "asin": 1, "acos": 1, "atan": 1,
                  "sinh": 1, "cosh": 1, "tanh": 1, "erf": 1, "sigmoid": 1, "relu": 1,
                  "softplus": 1, "gelu": 1, "Phi": 1, "phi": 1, "min": 2, "max": 2}
atoms = st.one_of(
    st.sampled_from(["x", "y", "z", "w1", "x2", "e", "pi", "alpha"]),
    st.integers(0, 10**6).map(str),
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0.5", "1e-3", "2.5E2", "3"]),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.builds(lambda a, op, b: f"{a}{op}{b}", children,
                       st.sampled_from([" + ", "-", "*", " / ", "**", "^", " · ", "−"]), children)
    unary = st.builds(lambda op, a: f"{op}{a}", st.sampled_from(["-", "+", "−"]), children)
    paren = children.map(lambda a: f"({a})")
    call1 = st.builds(lambda f, a: f"{f}({a})",
                      st.sampled_from([f for f, n in FUNCTION_ARITY.items() if n == 1]), children)
    call2 = st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["min", "max", "log"]),
                      children, children)
    square = children.map(lambda a: f"({a})²")
    return st.one_of(binary, unary, paren, call1, call2, square)


grammar_expressions = st.recursive(atoms, _combine, max_leaves=12)


def expression_or_error(text: str):
    from dlcalc.expression import parse_expression

    with Timed(EXPRESSION_SECONDS):
        try:
            expr = parse_expression(text)
        except DlcalcError as error:
            assert str(error)
            return None
    import sympy as sp

    assert isinstance(expr, sp.Basic)
    return expr


@fuzz
@given(st.text(max_size=120))
def test_expression_parser_on_random_text_returns_an_expression_or_a_dlcalc_error(text):
    expression_or_error(text)


@fuzz
@given(st.lists(st.sampled_from(list("xy01.e+-*/^()_ ,") + ["sin", "exp", "max", "log", "**", "__",
                                                           "lambda", "[", "]", "'", "9**9", "1e308"]),
                max_size=30).map("".join))
def test_expression_parser_on_random_tokens_returns_an_expression_or_a_dlcalc_error(text):
    expression_or_error(text)


@fuzz
@given(grammar_expressions)
def test_expressions_of_the_grammar_print_and_read_back_as_the_same_expression(text):
    from dlcalc import expression, symbolic

    expr = expression_or_error(text)
    if expr is None:  # division by zero, a number too large, log base 1: named errors
        return
    printed = symbolic.to_plain(expr)
    import re

    # Arithmetic may build exact numbers (11**145)² longer than a literal may be typed.
    longest_integer = max((len(d) for d in re.findall(r"\d+", printed)), default=0)
    if len(printed) > expression.MAX_LENGTH or longest_integer > expression.MAX_INTEGER_DIGITS:
        return
    again = expression_or_error(printed)
    assert again is not None, (text, printed)
    assert again == expr, (text, printed, again)


@fuzz
@given(mutated(grammar_expressions))
def test_expression_parser_on_mutated_expressions_returns_an_expression_or_a_dlcalc_error(text):
    expression_or_error(text)


# ---------------------------------------------------------------- the whole command line

COMMANDS = ["activate", "softmax", "ce", "kl", "grad", "plot"]
TOKENS = st.one_of(
    st.sampled_from(["2", "1", "0.1", "-1", "0", "1e-3", "inf", "-inf", "nan", "abc", "1..2",
                     "[1,", "2]", "2,1,0.1", "-", "--", ";", "", " ", "0.7", "0.3", "3", "-0"]),
    st.sampled_from(["sigmoid", "tanh", "relu", "gelu", "leaky_relu", "softplus", "hardtanh",
                     "nosuch", "x*sigmoid(x)", "x**2*y + sin(y)", "exp(-x)", "x**", "1/0",
                     "x=1", "y=2", "x=abc", "beta=2", "alpha=0.1", "softmax", "ce"]),
    st.sampled_from(["--deriv", "-d", "-p", "--alpha", "--list", "--props", "--saturation",
                     "--format", "-f", "json", "plain", "csv", "table", "markdown", "latex", "xml",
                     "--json", "--precision", "--dtype", "float32", "float64", "-t",
                     "--temperature", "--log", "--jacobian", "--explain", "--target",
                     "--target-probs", "--probs", "--normalize", "--label-smoothing", "--base",
                     "e", "--grad", "--binary", "--q", "--logits", "--symmetric", "--wrt", "--at",
                     "--steps", "--check", "--hessian", "--range", "--points", "--title", "--dpi",
                     "--annotate", "-o", "out.png", "out.svg", "out.gif", "--help", "--version",
                     "--bogus", "-z"]),
)


@settings(max_examples=max(10, EXAMPLES // 10), deadline=None, derandomize=EXAMPLES <= 100,
          suppress_health_check=list(HealthCheck))
@given(st.sampled_from(COMMANDS), st.lists(TOKENS, max_size=8), st.binary(max_size=60))
def test_random_command_lines_exit_0_1_or_2_and_never_show_a_traceback(
        tmp_path_factory, command, tokens, stdin):
    folder = tmp_path_factory.mktemp("fuzz")
    saved = os.getcwd()
    os.chdir(folder)
    try:
        run = _run_in_process(command, *tokens, stdin=stdin)
    finally:
        os.chdir(saved)
    assert run.code in (0, 1, 2), (command, tokens, run.code, run.err)
    assert "Traceback" not in run.err and "internal error" not in run.err, (command, tokens, run.err)
    if run.code != 0:
        assert "error:" in run.err or "Usage:" in run.err, (command, tokens, run.err)


# ---------------------------------------------------------------- the whole command line, flag by flag
#
# Each command with each of its flags (those that landed with files, descent, surfaces,
# distillation, Gaussian KL, derivations included), each flag with plausible and hostile values,
# in random order, with random standard input and file arguments. The properties (issue #15,
# item 7): exit code 0, 1 or 2; no traceback; every line on stderr is a `warning:` or an
# `error:` line. CI runs a few dozen command lines (a few seconds); DLCALC_FUZZ_EXAMPLES runs
# a quarter of its value (DLCALC_FUZZ_EXAMPLES=20000: 5,000 command lines).

NUMBERS = ["2", "1", "0.1", "-1", "0", "1e-3", "inf", "-inf", "nan", "1e308", "-1e308", "1e-320",
           "5e-324", "abc", "1..2", "", "0.5", "3", "-0", "1,2", "[1,", "2]", "1e39"]
EXPRESSIONS = ["x**2 + y**2", "x*y", "exp(x)", "log(x)", "x**2", "sin(x)*y", "x/y", "1/x",
               "x*sigmoid(x)", "relu(x)", "abs(x)", "x**", "sqrt(x)", "__import__('os')", "3", ""]
FUNCTIONS = ["sigmoid", "tanh", "relu", "gelu", "elu", "silu", "softplus", "leaky_relu", "nosuch",
             "x*tanh(x)", "exp(x)", "log(x)", "x**", "1/x"]
VALUES = {
    "--temperature": NUMBERS, "-t": NUMBERS, "--temperatures": NUMBERS,
    "--target": ["0", "1", "2", "-1", "5", "0.5", "nan", "x", ""],
    "--target-probs": NUMBERS, "--q": NUMBERS, "--label-smoothing": ["0", "0.1", "1", "2", "-0.1", "nan"],
    "--base": ["e", "2", "10", ""], "--saturation": ["0.01", "0", "1", "0.5", "nan", "-1"],
    "-p": ["alpha=0.1", "beta=2", "beta=0", "beta=1e-300", "nosuch=1", "=", "beta", "b1=0.5",
           "momentum=0.9", "eps=0", "weight_decay=-1"],
    "--alpha": NUMBERS, "--columns": ["a", "a,b", "nope", "", "0"], "--target-column": ["t", "nope"],
    "--q-column": ["q0,q1", "nope"],
    "--format": ["plain", "json", "csv", "table", "markdown", "latex", "xml"], "-f": ["json", "table", "latex"],
    "--precision": ["1", "6", "17", "0", "99", "x"], "--dtype": ["float32", "float64", "float16"],
    "--gaussian": NUMBERS, "--q-gaussian": NUMBERS, "--wrt": ["x", "y", "x,y", "z", ","],
    "--at": ["x=1", "y=2", "x=0", "x=inf", "x=1e308", "x=abc", "z=1", "="],
    "--descend": ["1", "3", "50", "0", "-1", "x"], "--lr": ["0.1", "5", "0", "-1", "nan", "1e308"],
    "--optimizer": ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "bogus"],
    "--every": ["1", "2", "0", "-1"], "--form": ["notes", "factored", "expanded", "bogus"],
    "--range": ["-3", "3", "0", "1", "1e308", "nan", "-1e308"], "--yrange": ["-3", "3", "0", "nan"],
    "--points": ["2", "50", "1", "0", "x"], "--title": ["t", "$x$", "{" * 20, "$\\frac{$"],
    "--dpi": ["50", "1", "0", "1001"], "-o": ["out.png", "out.svg", "out.pdf", "out.gif", "dir/",
                                             "missing/out.png", ""],
    "--logits": NUMBERS, "--vars": ["x,y", "x", "a,b"],
}
FLAGS = {
    "activate": ["-d", "-p", "--alpha", "--list", "--props", "--saturation", "--explain", "--header",
                 "--columns"],
    "softmax": ["-t", "--log", "--jacobian", "--explain", "--header", "--columns"],
    "ce": ["--binary", "--target", "--target-probs", "--probs", "--normalize", "--label-smoothing",
           "--base", "--grad", "--explain", "-t", "--scale-t2", "--header", "--columns",
           "--target-column"],
    "kl": ["--q", "--logits", "--normalize", "--base", "--symmetric", "--explain", "-t", "--scale-t2",
           "--gaussian", "--q-gaussian", "--logvar", "--header", "--columns", "--q-column"],
    "grad": ["--wrt", "--at", "--steps", "--check", "--hessian", "--descend", "--lr", "--optimizer",
             "-p", "--every", "--form"],
    "plot": ["-d", "--range", "--points", "-p", "--title", "--dpi", "--annotate", "-o", "--logits",
             "-t", "--yrange", "--vars", "--descend", "--at", "--optimizer", "--lr"],
}
COMMON = ["-f", "--format", "--json", "--precision", "--dtype", "--bogus"]
FILES = ["numbers.txt", "data.csv", "missing.txt", "empty.txt", "junk.bin", "-", "."]
STDIN = st.one_of(st.binary(max_size=40),
                  st.sampled_from([b"", b"1 2 3\n", b"1 2\n3 4\n", b"a,b\n1,2\nx,3\n", b"1 2 ; 0\n",
                                   b"1\r2\r", b"0.5 0.5 ; 0.5 0.5\n", b"\xff\xfe\n1\n", b"#c\n\n"]))


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(FLAGS)))
    positional = {"grad": EXPRESSIONS, "plot": FUNCTIONS + ["softmax", "ce"]}.get(command, NUMBERS)
    words: list[list[str]] = []
    if command == "activate":
        words.append([draw(st.sampled_from(FUNCTIONS))])
    for _ in range(draw(st.integers(0, 3))):
        words.append([draw(st.sampled_from(positional + FILES))])
    for flag in draw(st.lists(st.sampled_from(FLAGS[command] + COMMON), max_size=5)):
        values = VALUES.get(flag)
        count = 0 if values is None else draw(st.integers(0, 2 if flag != "--range" else 3))
        words.append([flag] + [draw(st.sampled_from(values)) for _ in range(count)])
    order = draw(st.permutations(words))
    return [command] + [word for group in order for word in group], draw(STDIN)


def _files(folder) -> None:
    (folder / "numbers.txt").write_text("1 2 3\n-1 0 1\n", encoding="utf-8")
    (folder / "data.csv").write_text("a,b,t,q0,q1,p0,p1\n1,2,0,0.5,0.5,0.5,0.5\n", encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / "junk.bin").write_bytes(bytes(range(256)))


@settings(max_examples=max(30, EXAMPLES // 4), deadline=None, derandomize=EXAMPLES <= 100,
          suppress_health_check=list(HealthCheck))
@given(command_lines())
def test_whole_command_lines_with_every_flag_exit_0_1_or_2_with_only_warning_and_error_lines(
        tmp_path_factory, drawn):
    argv, stdin = drawn
    folder = tmp_path_factory.mktemp("argv")
    _files(folder)
    saved = os.getcwd()
    os.chdir(folder)
    try:
        run = _run_in_process(*argv, stdin=stdin)
    finally:
        os.chdir(saved)
    assert run.code in (0, 1, 2), (argv, stdin, run.code, run.err)
    assert "Traceback" not in run.err and "internal error" not in run.err, (argv, run.err)
    strays = [line for line in run.err.splitlines() if not line.startswith(("warning:", "error:"))]
    assert not strays, (argv, stdin, run.err)
