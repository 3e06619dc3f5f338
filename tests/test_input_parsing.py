"""Numbers are read the same way everywhere (issue 15): on the command line, on stdin, by the
fast block parser and by the line parser; float32 input is checked against float32's range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import assert_user_error, on_both_batch_paths
from dlcalc.batch import Block, parse_chunk, parse_fast


both_paths = on_both_batch_paths


# ---------------------------------------------------------------- empty fields


@pytest.mark.parametrize("token", [",1", ",,1", "1,,", "1,", "1,,2", "1, ,2", "[1,]", "[,1]"])
def test_an_empty_field_is_an_error_on_the_command_line_in_every_position(dl, token):
    assert_user_error(dl("softmax", token), "empty element", repr(token))


@pytest.mark.parametrize("line", [b",1", b",,1", b"1,,", b"1,", b"1,,2", b"1 2 ; 0,", b"1 2 ; ,0",
                                  b"1 2, ; 0"])
def test_an_empty_field_is_an_error_on_a_stdin_line_on_both_parsers(line):
    data = b"1 2 ; 1\n" + line + b"\n2 1 ; 0\n"
    run = both_paths(["ce"], data)
    assert run.code == 2
    assert run.err.startswith("error: line 2: ") and "empty" in run.err
    assert len(run.out.split()) == 2  # lines 1 and 3 still answered
    block = Block(1, data.rstrip(b"\n"), 3)
    assert parse_fast(block) is None  # the fast parser declines, the line parser names the line
    assert [bad.number for bad in parse_chunk(block.lines()).bad] == [2]


def test_a_row_pasted_from_a_list_of_lists_keeps_its_trailing_comma(dl):
    assert dl("softmax", "[0, 0],").words == ["0.5", "0.5"]


# ---------------------------------------------------------------- line ends


@pytest.mark.parametrize("data", [b"1 2\r3 4\r", b"1 2\r3 4", b"1 2\xe2\x80\xa83 4\n",
                                  b"1 2\xe2\x80\xa93 4\n", b"1 2\xc2\x853 4\n"])
def test_other_line_breaks_never_merge_two_vectors_into_one(data):
    run = both_paths(["softmax"], data)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("error: line 1: a line break U+")


def test_crlf_line_endings_are_still_line_ends(dl):
    run = both_paths(["softmax"], b"0 0\r\n1 1\r\n")
    assert run.code == 0 and run.out == "0.5 0.5\n0.5 0.5\n"


@pytest.mark.parametrize("comment", [b"# caf\xe9", b"#\xff\xfe", b"  # \x80 latin-1 header", b"#"])
def test_a_comment_line_is_skipped_whatever_its_bytes(comment):
    run = both_paths(["softmax"], comment + b"\n0 0\n")
    assert (run.code, run.out, run.err) == (0, "0.5 0.5\n", "")


def test_invalid_utf8_outside_a_comment_is_still_an_error_on_its_line(dl):
    run = dl("softmax", stdin=b"0 0\n1 \xff\n")
    assert run.code == 2 and "error: line 2: not valid UTF-8" in run.err


# ---------------------------------------------------------------- one operand, one place


@pytest.mark.parametrize("args, line, line_value, cli_value", [
    (["kl", "--q", "0.5", "0.5"], b"0.5 0.5 ; 0.25 0.75", "0.25 0.75", "0.5 0.5"),
    (["ce", "--target", "1"], b"2 1 ; 0", "0", "1"),
    (["ce", "--target-probs", "0.5,0.5"], b"2 1 ; 1 0", "1 0", "0.5 0.5"),
])
def test_an_operand_after_a_semicolon_beside_one_on_the_command_line_is_an_error_naming_both(
        args, line, line_value, cli_value):
    run = both_paths(args, b"0.5 0.5\n" + line + b"\n")
    assert run.code == 2 and "Traceback" not in run.err
    assert len(run.out.split()) == 1  # the line without ';' takes the command line's operand
    errors = [line for line in run.err.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and errors[0].startswith("error: line 2: ")
    assert f"gives {line_value} after ';'" in errors[0] and f"command line gives {cli_value}" in errors[0]


# ---------------------------------------------------------------- constants are expressions


@pytest.mark.parametrize("word, value", [("pi", math.pi), ("e", math.e), ("2", 2.0)])
def test_constants_are_expressions_like_numbers(dl, word, value):
    run = dl("activate", word, "1", "-5")
    assert run.code == 0, run.err
    assert [float(v) for v in run.words] == [value, value]
    assert float(dl("activate", word, "1", "--deriv").out) == 0.0


# ---------------------------------------------------------------- warnings say what is true


def test_a_nan_from_an_infinite_input_does_not_claim_a_nan_input(dl):
    run = dl("activate", "x*sigmoid(x)", "-inf")
    assert "warning:" in run.err
    assert "nan input" not in run.err.lower() and "input does" not in run.err
    assert "the input has inf" in run.err


def test_a_nan_input_is_named_as_nan(dl):
    run = dl("activate", "x*sigmoid(x)", "nan")
    assert "the input has nan" in run.err


# ---------------------------------------------------------------- float32 range


@pytest.mark.parametrize("args", [
    ["softmax", "1", "1e39"], ["activate", "relu", "-1e39"], ["ce", "1", "1e39", "--target", "0"],
    ["kl", "1", "--q", "3.5e38"], ["ce", "1", "2", "--binary", "--target", "1", "1e39"],
])
def test_a_number_beyond_float32_is_an_error_naming_it_as_float64_does(dl, args):
    run = dl(*args, "--dtype", "float32")
    assert_user_error(run, "is beyond the range of float32")
    assert "RuntimeWarning" not in run.err and run.out == ""


def test_float32_range_is_checked_per_batch_line(dl):
    run = dl("softmax", "--dtype", "float32", stdin=b"0 0\n1e39 0\n0 0 ; 1\n3e38 0\n")
    errors = run.err.splitlines()
    assert run.code == 2
    assert errors[0].startswith("error: line 2: '1e+39' is beyond the range of float32")
    assert errors[1].startswith("error: line 3: ")
    assert run.out.splitlines() == ["0.5 0.5", "1 0"]


def test_the_largest_float32_and_values_that_round_to_it_are_accepted(dl):
    largest = float(np.finfo(np.float32).max)
    run = dl("activate", "relu", repr(largest), "3.4028235e38", "--dtype", "float32")
    assert run.code == 0 and [np.float32(v) for v in run.words] == [np.float32(largest)] * 2


def test_a_parameter_is_validated_in_float32(dl):
    assert_user_error(dl("activate", "softplus", "1", "-p", "beta=1e-300", "--dtype", "float32"),
                      "beta", "is 0 in float32")
    ok = dl("activate", "softplus", "1", "-p", "beta=1e-300")  # fine in float64
    assert ok.code == 0


def test_no_python_warning_text_reaches_stderr_in_a_real_process(dl_process):
    done = dl_process("softmax", "--dtype", "float32", stdin=b"1 2\n1e39 1\n-inf inf\n")
    err = done.stderr.decode()
    assert done.returncode == 2
    assert "Warning:" not in err and "runner.py" not in err
    assert all(line.startswith(("error:", "warning:")) for line in err.splitlines()), err
