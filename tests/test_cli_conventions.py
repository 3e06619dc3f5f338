"""The conventions every command shares (SPEC §1), driven through the real command line."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_user_error

COMMANDS = ["activate", "softmax", "ce", "kl", "grad", "plot"]


# ---------------------------------------------------------------- numbers in


def test_negative_numbers_work_without_double_dash(dl):
    run = dl("activate", "relu", "-2", "-1", "0", "1", "2")
    assert (run.code, run.out) == (0, "0 0 0 1 2\n")


@pytest.mark.parametrize("tokens", [["-2,-1,0,1,2"], ["[-2, -1, 0, 1, 2]"], ["[-2,", "-1,", "0,", "1,", "2]"]])
def test_commas_and_brackets_are_vectors_too(dl, tokens):
    assert dl("activate", "relu", *tokens).out == "0 0 0 1 2\n"


def test_inf_and_nan_in_any_case_are_numbers(dl):
    run = dl("activate", "relu", "-INF", "Inf", "NaN")
    assert run.out == "0 inf nan\n"
    assert "warning:" in run.err and "nan" in run.err


def test_options_may_come_before_or_after_the_numbers(dl):
    assert dl("activate", "--deriv", "relu", "-1", "1").out == dl("activate", "relu", "-1", "1", "-d").out == "0 1\n"


# ---------------------------------------------------------------- stdin batch mode


def test_stdin_lines_are_processed_independently_one_output_line_each(dl):
    run = dl("activate", "tanh", stdin="2 1 0.1\n# comment\n\n0\n-1,1\n")
    assert run.code == 0
    got = [[float(word) for word in line.split()] for line in run.out.splitlines()]
    assert got == [[math.tanh(v) for v in row] for row in ([2, 1, 0.1], [0], [-1, 1])]


def test_single_dash_reads_stdin(dl):
    assert dl("activate", "relu", "-", stdin="-1 2\n").out == "0 2\n"


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_still_processed(dl):
    run = dl("activate", "relu", stdin="1 -1\nabc 2\n3\n\n4,,5\n-6\n")
    assert run.code == 2
    assert run.out.splitlines() == ["1 0", "3", "0"]
    errors = run.err.splitlines()
    assert errors[0].startswith("error: line 2: ") and "'abc'" in errors[0]
    assert errors[1].startswith("error: line 5: ")
    assert "Traceback" not in run.err


def test_batch_json_is_one_object_per_line_with_its_line_number(dl):
    run = dl("activate", "sigmoid", "--json", stdin="0\n0 0\n")
    objects = [json.loads(line) for line in run.out.splitlines()]
    assert [o["line"] for o in objects] == [1, 2]
    assert objects[1]["y"] == [0.5, 0.5]


def test_batch_csv_has_one_header_and_a_line_column(dl):
    run = dl("activate", "relu", "-f", "csv", stdin="1 -1\n2\n")
    assert run.out.splitlines() == ["line,x,y", "1,1,1", "1,-1,0", "2,2,2"]


def test_empty_stdin_is_an_error(dl):
    assert_user_error(dl("activate", "relu", stdin=""), "no x values")


# ---------------------------------------------------------------- numbers out


def test_plain_output_round_trips_exactly(dl):
    x = [0.1, -3.7, 1e-300, 123456.789]
    run = dl("activate", "sigmoid", *map(repr, x))
    values = [float(word) for word in run.words]
    from dlcalc.activations import lookup

    assert values == lookup("sigmoid").function(np.array(x)).tolist()


def test_every_format_works(dl):
    for fmt in ["table", "plain", "csv", "json", "markdown", "latex"]:
        run = dl("activate", "sigmoid", "0", "1", "-f", fmt)
        assert run.code == 0 and run.out.strip(), fmt


def test_table_has_headers_and_uses_the_precision(dl):
    lines = dl("activate", "sigmoid", "1", "-d", "-f", "table", "--precision", "3").out.splitlines()
    assert lines[0].split() == ["x", "f(x)", "f'(x)"]
    assert lines[2].split() == ["1", "0.731", "0.197"]


def test_json_has_the_required_keys_and_is_strict(dl):
    data = json.loads(dl("activate", "leaky_relu", "-1", "inf", "--deriv", "--json").out)
    assert {"function", "params", "x", "y", "dy"} <= data.keys()
    assert data["function"] == "leaky_relu" and data["params"] == {"negative_slope": 0.01}
    assert data["x"] == [-1, "inf"] and data["y"] == [-0.01, "inf"]


def test_dtype_float32_computes_and_prints_in_float32(dl):
    run = dl("activate", "sigmoid", "1", "--dtype", "float32")
    expected = 1 / (1 + np.exp(np.float32(-1)))
    assert np.float32(run.out.strip()) == np.float32(expected)
    assert run.out.strip() == str(np.float32(expected))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("args, fragments", [
    (["activate", "sigmoud", "1"], ["unknown function 'sigmoud'", "did you mean 'sigmoid'"]),
    (["activate", "sigmoid", "1", "abc"], ["'abc'", "expected a number"]),
    (["activate", "sigmoid", "1", "-f", "xml"], ["unknown format 'xml'", "json"]),
    (["activate", "sigmoid", "1", "--precision", "0"], ["--precision"]),
    (["activate", "sigmoid", "1", "--dtype", "float16"], ["float16", "float32"]),
    (["activate", "leaky_relu", "1", "-p", "beta=2"], ["beta", "negative_slope"]),
    (["activate", "sigmoid", "1", "-p", "beta"], ["NAME=VALUE"]),
    (["activate", "sigmoid", "1", "--frobnicate"], ["--frobnicate"]),
    (["activate"], ["FUNC"]),
    (["frobnicate"], ["frobnicate"]),
])
def test_bad_input_is_one_error_line_and_exit_2(dl, args, fragments):
    assert_user_error(dl(*args), *fragments)


def test_debug_variable_enables_tracebacks(dl):
    run = dl("activate", "sigmoud", "1", env={"DLCALC_DEBUG": "1"})
    assert run.code == 2 and "Traceback" in run.err


def test_no_command_prints_help_and_exits_2(dl):
    run = dl()
    assert run.code == 2 and "activate" in run.err


# ---------------------------------------------------------------- invocation


def test_version(dl):
    from dlcalc import __version__

    import platform

    import numpy as np

    from dlcalc import exact

    lines = dl("--version").out.splitlines()
    assert lines[0] == f"dlcalc {__version__}"
    assert lines[1].startswith(f"Python {platform.python_version()} ")
    assert lines[2] == f"NumPy {np.__version__}"
    assert lines[3].startswith("extended precision: " + ("active" if exact.EXTENDED else ("off" if exact.HARDWARE_EXTENDED else "not available")))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_at_least_two_examples(dl, command):
    run = dl(command, "--help")
    assert run.code == 0
    examples = [line for line in run.out.splitlines() if line.strip().startswith(f"dlcalc {command}")
                or (line.strip().startswith("dlcalc") and f" {command}" in line)]
    assert len(examples) >= 2, run.out


def test_python_dash_m_and_the_console_script_both_run(dl_process):
    run = dl_process("activate", "relu", "-2", "2")
    assert (run.returncode, run.stdout) == (0, b"0 2\n")
    script = shutil.which("dlcalc", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    assert script, "the dlcalc console script is installed"
    assert subprocess.run([script, "activate", "relu", "3"], capture_output=True).stdout == b"3\n"


# ---------------------------------------------------------------- the environment


def test_closed_pipe_ends_quietly(tmp_path):
    command = f"seq 1 300000 | {sys.executable} -m dlcalc activate sigmoid | head -1"
    run = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60)
    assert run.stdout == b"0.7310585786300049\n"
    assert run.stderr == b""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_device_is_exit_1_with_a_clear_message():
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "dlcalc", "activate", "sigmoid", "1", "2"],
                             stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert run.returncode == 1
    assert run.stderr.decode().strip().startswith("error: cannot write output")
    assert b"Traceback" not in run.stderr


def test_terminal_output_is_a_table_and_no_colour_with_NO_COLOR():
    script = ("import pty, os, sys\n"
              "pid, fd = pty.fork()\n"
              "if pid == 0:\n"
              "    os.execv(sys.executable, [sys.executable, '-m', 'dlcalc', 'activate', 'relu', '-1', '2'])\n"
              "out = b''\n"
              "while True:\n"
              "    try:\n        chunk = os.read(fd, 1024)\n    except OSError:\n        break\n"
              "    if not chunk: break\n"
              "    out += chunk\n"
              "sys.stdout.write(out.decode())\n")
    plain_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=plain_env).stdout
    assert "x" in coloured and "f(x)" in coloured and "\033[1m" in coloured
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={**plain_env, "NO_COLOR": "1"}).stdout
    assert "f(x)" in quiet and "\033[" not in quiet


def test_batch_warnings_name_the_line_they_are_about(dl):
    run = dl("kl", stdin="0.5 0.5 ; 1 0\n0.5 0.5 ; 0.5 0.5\n1 0 ; 0 1\n")
    assert run.out.split() == ["inf", "0", "inf"]
    warnings = run.err.splitlines()
    assert warnings[0].startswith("warning: line 1: ") and "q[1] = 0" in warnings[0]
    assert warnings[1].startswith("warning: line 3: ") and "q[0] = 0" in warnings[1]
    generic = dl("activate", "relu", stdin="1\nnan\n")
    assert generic.err == "warning: line 2: the result contains nan because the input has nan\n"
