"""The fast batch path (C-speed parse and plain output) prints exactly what the simple path does.

The oracle is dlcalc itself with the fast path switched off (`runner.FAST = False`): the
line-by-line parser of `dlcalc.vectors` and `plain_number` (repr) per value. Every input below
runs through both, and stdout, stderr and the exit code must be identical, byte for byte.
"""

from __future__ import annotations

import io
import os
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import _run_in_process, examples, fast_and_simple
from dlcalc import batch, number_text
from dlcalc.batch import Block, parse_chunk, parse_fast, read_blocks
from dlcalc.output import plain_lines, render_plain
from dlcalc.reports import Report


both_paths = fast_and_simple


def assert_same(args: list[str], stdin: bytes):
    fast, simple = both_paths(args, stdin)
    assert fast.out == simple.out, (args, stdin[:200])
    assert fast.err == simple.err, (args, stdin[:200])
    assert fast.code == simple.code
    return fast


# ---------------------------------------------------------------- random inputs

special_floats = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
                                  1e-5, 9.999999999999999e-05, 1e-4, 1e16, 9999999999999998.0,
                                  1.7976931348623157e308, float("inf"), float("-inf"),
                                  float("nan"), 1.0, 100.0, 0.1, 1 / 3])
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
                   st.floats(-50, 50), special_floats)


def spell(value: float, style: int) -> str:
    if style == 0 or not np.isfinite(value):
        return repr(value)
    if style == 1:
        return "%.17g" % value
    if style == 2:
        return "%.3g" % value
    if style == 3:
        return "%E" % value
    return str(int(value)) if value == int(value) and abs(value) < 1e30 else repr(value)


odd_tokens = st.sampled_from(["-0", "+1", ".5", "5.", "01", "1e5", "1E-3", "1e400", "-1e400",
                              "1e-400", "-1e-400", "inf", "-Inf", "NaN", "0", "-0.0", "1e-0",
                              "18446744073709551617", "123456789012345678901234567890",
                              "0.1000000000000000055511151231257827", "9007199254740993",
                              "2.2250738585072011e-308", "abc", "1_000", "--1", "1e", "-", "."])
tokens = st.one_of(st.builds(spell, floats, st.integers(0, 4)), odd_tokens,
                   st.integers(-10**25, 10**25).map(str))
separators = st.sampled_from([" ", " ", " ", ",", ", ", "\t", "  ", " ,", ",,"])


@st.composite
def vector_text(draw, max_size: int = 6) -> str:
    words = draw(st.lists(tokens, min_size=1, max_size=max_size))
    text = words[0]
    for word in words[1:]:
        text += draw(separators) + word
    return text


@st.composite
def line(draw, operands: bool) -> str:
    kind = draw(st.integers(0, 20))
    if kind == 0:
        return draw(st.sampled_from(["", "# a comment", "   ", "\t", "[1, 2]", "1 2 ;", "; 3",
                                     "1;2;3", ",", "1,2,", " 1 2", "1 2 ", "é", "1\r2"]))
    text = draw(vector_text())
    if operands and draw(st.integers(0, 6)):
        text += draw(st.sampled_from([" ; ", ";", "; ", " ;", " ;  "])) + draw(vector_text(3))
    return text


@st.composite
def stdin_text(draw, operands: bool = False, regular: bool = False) -> bytes:
    """Lines of numbers; with `regular`, mostly equal-length well-formed lines (the fast case)."""
    if regular:
        n = draw(st.integers(1, 5))
        rows = draw(st.lists(st.lists(floats, min_size=n, max_size=n), min_size=1, max_size=30))
        style = draw(st.integers(0, 4))
        sep = draw(st.sampled_from([" ", ",", ", ", "\t"]))
        lines = [sep.join(spell(v, style) for v in row) for row in rows]
        if operands:
            lines = [f"{text} ; {draw(st.integers(0, n - 1))}" for text in lines]
        extra = draw(st.lists(st.tuples(st.integers(0, len(lines)), line(operands)), max_size=3))
        for at, text in extra:
            lines.insert(at, text)
    else:
        lines = draw(st.lists(line(operands), min_size=1, max_size=12))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, ""]))
    return text.encode("utf-8")


settings_ = settings(max_examples=examples(40), deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings_
@given(stdin_text(regular=True))
@example(b"0.1 0.2 0.3\n-0 1\n1e-05 1e+16\n")
@example(b"1 2 3\r\n4 5 6\r\n\r\n7 8 9")
def test_softmax_prints_the_same_bytes_on_both_paths(data):
    assert_same(["softmax"], data)


@settings_
@given(stdin_text())
def test_any_text_gives_the_same_output_errors_and_exit_code_on_both_paths(data):
    assert_same(["activate", "relu"], data)


@settings_
@given(stdin_text(regular=True))
def test_activate_and_its_derivative_print_the_same_bytes_on_both_paths(data):
    assert_same(["activate", "sigmoid"], data)
    assert_same(["activate", "tanh", "--deriv"], data)


@settings_
@given(stdin_text(operands=True, regular=True))
@example(b"2 1 0.1 ; 0\n0 3 ; 1\n")
@example(b"2 1 0.1 ; 0\n0 3 ; 1\n1 1\n")
def test_cross_entropy_with_targets_after_semicolons_prints_the_same_bytes(data):
    assert_same(["ce"], data)
    assert_same(["ce", "--grad"], data)


@settings_
@given(stdin_text(operands=True))
def test_semicolon_lines_of_any_kind_give_the_same_result_on_both_paths(data):
    assert_same(["kl", "--normalize"], data)
    assert_same(["softmax", "--log"], data)


def test_a_large_batch_with_bad_lines_interleaved_is_identical_across_blocks(monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 4096)  # many blocks, some with bad lines
    rng = np.random.default_rng(7)
    z = rng.standard_normal((3000, 10)) * 5
    lines = [" ".join(map(repr, row)) for row in z.tolist()]
    lines[17] = "1 2 abc"
    lines[1000] = "# a comment"
    lines[2000] = ""
    lines[2500] = "inf 1 2 3 4 5 6 7 8 9"
    lines[2600] = "1 2 3"  # another length: its own group
    data = ("\n".join(lines) + "\n").encode()
    run = assert_same(["softmax"], data)
    assert run.code == 2 and run.err.startswith("error: line 18: ")
    assert len(run.out.splitlines()) == 2997
    targets = [f"{text} ; {k}" for text, k in zip(lines, rng.integers(0, 10, 3000))]
    targets[5] = targets[5].replace(";", "; 11 ;")
    assert_same(["ce"], ("\n".join(targets) + "\n").encode())
    assert_same(["activate", "gelu"], data)


def test_results_that_are_not_finite_fall_back_to_the_simple_path_with_their_warnings():
    data = b"1 2\n1000 2\n-1000 0\n"
    run = assert_same(["activate", "exp(x)"], data)
    assert "inf" in run.out.split() and "warning:" in run.err


def test_float32_and_other_formats_give_the_same_output_on_both_paths():
    data = b"2 1 0.1\n0 3 1e-7\n1,2,3\n"
    for args in (["softmax", "--dtype", "float32"], ["softmax", "--json"], ["softmax", "-f", "csv"],
                 ["softmax", "-f", "table"], ["softmax", "--explain"]):
        assert_same(args, data)


# ---------------------------------------------------------------- the parser alone


@settings(max_examples=examples(300), deadline=None)
@given(stdin_text(operands=True) | stdin_text(operands=True, regular=True) | stdin_text(regular=True))
def test_the_fast_parser_gives_the_groups_of_the_line_parser_or_declines(data):
    data = data[:-1] if data.endswith(b"\n") else data
    block = Block(1, data, data.count(b"\n") + 1)
    fast = parse_fast(block)
    if fast is None:
        return
    slow = parse_chunk(block.lines())
    assert slow.bad == []
    assert [g.numbers for g in fast] == [g.numbers for g in slow.groups]
    for f, s in zip(fast, slow.groups):
        assert f.matrix().tobytes() == s.matrix().tobytes()  # bit for bit, -0.0 included
        fo, so = f.operand_matrix(), s.operand_matrix()
        assert (fo is None) == (so is None)
        if fo is not None:
            assert fo.tobytes() == so.tobytes()


@pytest.mark.parametrize("text", [
    b"0.3771906632801799 -0.39631458987390566 1.9212679513298463",  # dlcalc's own plain output
    b"2 1 0.1 ; 0\n0 3 1 ; 2",  # ce with targets
    b"1,2,3\n4,5,6",  # CSV
    b"1, 2, 3\r\n4, 5, 6\r\n",  # CRLF
    b"1\t2\n3\t4",
    b"-1.5e-07 2E+10 3",
    b"1 2\n\n3 4",  # a blank line
    b"1 2\n3 4 5",  # two lengths
])
def test_ordinary_input_takes_the_fast_parser(text):
    text = text.rstrip(b"\n")
    assert parse_fast(Block(1, text, text.count(b"\n") + 1)) is not None


@pytest.mark.parametrize("text", [b"-0 1", b"1 inf", b"# c\n1", b"[1, 2]", b"1  2", b"1e400",
                                  b"+1", b".5", b"1 ;", b"; 1", b"1 2\n3 ; 4", b"1;2;3\n4"])
def test_unusual_input_is_left_to_the_line_parser(text):
    assert parse_fast(Block(1, text, text.count(b"\n") + 1)) is None


def test_without_orjson_everything_still_works_line_by_line(monkeypatch):
    monkeypatch.setattr(batch, "_loads", False)
    monkeypatch.setattr(number_text, "_dumps", False)
    assert parse_fast(Block(1, b"2 1 0.1", 1)) is None
    assert plain_lines(np.array([[0.5]])) is None
    run = _run_in_process("softmax", stdin=b"2 1 0.1\n1 2\n")
    one_by_one = _run_in_process("softmax", "2", "1", "0.1").out + _run_in_process("softmax", "1", "2").out
    assert run.code == 0 and run.out == one_by_one


# ---------------------------------------------------------------- the formatter alone


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)
                         | special_floats.filter(np.isfinite), min_size=3, max_size=3),
                min_size=1, max_size=20))
@example([[1e-5, 1e16, -0.0], [10.00001, 0.0001, 123.0]])
def test_plain_lines_are_render_plain_of_each_row(rows):
    matrix = np.array(rows, dtype=np.float64)
    expected = "".join(render_plain(Report({}, row, {})) + "\n" for row in matrix)
    assert plain_lines(matrix).decode() == expected


def test_plain_lines_round_trip_random_bit_patterns_exactly():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**64, size=(20_000, 10), dtype=np.uint64)
    matrix = bits.view(np.float64)
    matrix = np.where(np.isfinite(matrix), matrix, 0.5)
    back = np.array([line.split() for line in plain_lines(matrix).decode().splitlines()],
                    dtype=np.float64)
    assert back.tobytes() == matrix.tobytes()
    sample = matrix[::100]
    assert plain_lines(sample).decode() == "".join(
        render_plain(Report({}, row, {})) + "\n" for row in sample)


def _plain_of_each_row(matrix):
    return "".join(render_plain(Report({}, row, {})) + "\n" for row in matrix)


def test_plain_lines_with_many_integers_and_every_exponent_layout():
    """The paths of the formatter: a few integers spliced, many (a ReLU's zeros) by dropping
    `.0`; exponents of one and three digits, both signs; the band [1e-5, 1e-4) by repr."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2000, 10)) * 10.0 ** rng.integers(-320, 300, (2000, 10))
    relu = np.maximum(rng.standard_normal((2000, 10)), 0.0)  # half of them 0
    band = rng.uniform(1e-5, 1e-4, (50, 10)) * rng.choice([-1, 1], (50, 10))
    edges = np.array([[1e-5, -1e-5, 9.999999999999999e-05, 1e-4, 1e16, -1e16, 9999999999999998.0,
                       5e-324, -0.0, 0.0]])
    for matrix in (x, relu, band, edges, np.vstack([x[:100], np.round(x[100:200])])):
        assert plain_lines(matrix).decode() == _plain_of_each_row(matrix)


def test_plain_lines_trust_no_other_exponent_layout(monkeypatch):
    """An orjson that wrote other numbers in exponent form (here 0.25 as `2.5e-1`): the
    formatter notices (one `e` too many) and lets repr write them all."""
    dumps = number_text._orjson_dumps()

    def other_dumps(matrix, option=None):
        return dumps(matrix, option=option).replace(b"0.25", b"2.5e-1")

    monkeypatch.setattr(number_text, "_dumps", other_dumps)
    matrix = np.array([[5e-05, 1e16, 2.0, 0.5], [1.5e-300, -3e-7, 0.25, -0.0]])
    assert plain_lines(matrix).decode() == _plain_of_each_row(matrix)


def test_plain_lines_decline_what_json_cannot_say():
    assert plain_lines(np.array([[1.0, np.nan]])) is None
    assert plain_lines(np.array([[np.inf]])) is None
    assert plain_lines(np.array([[1, 2]], dtype=np.float32)) is None
    assert plain_lines(np.array([1.0, 2.0])) is None


# ---------------------------------------------------------------- streaming


def test_a_block_is_answered_without_waiting_for_more_input():
    """Output starts before input ends: a slow producer's first line is a block of its own."""
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(read_fd, "rb")
    got: list[Block] = []

    def consume():
        for block in read_blocks(stream):
            got.append(block)
            break

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    os.write(write_fd, b"1 2 3\n")
    thread.join(timeout=10)
    try:
        assert not thread.is_alive(), "read_blocks waited for more input"
        assert got[0].text == b"1 2 3" and got[0].first == 1
    finally:
        os.close(write_fd)
        stream.close()


def test_a_fast_producer_gives_blocks_of_up_to_chunk_bytes(monkeypatch, tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"1 2 3 4 5 6 7 8 9\n" * 200_000)
    with open(path, "rb") as stream:
        blocks = list(read_blocks(stream))
    assert sum(b.count for b in blocks) == 200_000
    assert max(len(b.text) for b in blocks) <= batch.CHUNK_BYTES
    assert len(blocks) <= 4 + 200_000 * 18 // batch.CHUNK_BYTES


def test_blocks_hold_whole_lines_numbered_across_reads(monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 7)
    blocks = list(read_blocks(io.BytesIO(b"\xef\xbb\xbf1 2\n3 4 5\n6\n\n7")))
    lines = [pair for b in blocks for pair in b.lines()]
    assert lines == [(1, b"1 2"), (2, b"3 4 5"), (3, b"6"), (4, b""), (5, b"7")]
