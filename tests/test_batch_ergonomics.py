"""Batch ergonomics (issue #12 item 2, issue #15 item 4): -q/--quiet, the progress line on a
terminal stderr, --keep-lines, and warnings aggregated with bounded memory."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import assert_user_error, read_terminal
from dlcalc import runner


# ---------------------------------------------------------------- -q/--quiet

WARNING_RUNS = [
    (["softmax", "-q"], "nan 1\n1 2\n"),
    (["softmax", "-q", "--dtype", "float32"], "nan 1\n"),
    (["kl", "0.5", "0.5", "--q", "1", "0", "-q"], ""),
    (["activate", "sigmoid", "nan", "-q"], ""),
    (["ce", "-q"], "nan 1 ; 0\n"),
]


@pytest.mark.parametrize("args,stdin", WARNING_RUNS)
def test_quiet_silences_warnings_but_not_results(dl, args, stdin):
    loud = dl(*[a for a in args if a != "-q"], stdin=stdin)
    quiet = dl(*args, stdin=stdin)
    assert "warning:" in loud.err  # the case does warn
    assert quiet.err == "" and quiet.out == loud.out and quiet.code == loud.code


def test_quiet_keeps_errors(dl):
    run = dl("softmax", "--quiet", stdin="1 2\nx\n3 4\n")
    assert run.code == 2 and run.err.startswith("error: line 2:")
    assert len(run.out.splitlines()) == 2


def test_quiet_is_accepted_by_every_command(dl):
    for args in (["grad", "x**2", "--at", "x=1"], ["activate", "relu", "1"], ["softmax", "1"],
                 ["ce", "1", "2", "--target", "0"], ["kl", "1", "--q", "1"]):
        run = dl(*args, "-q")
        assert run.code == 0 and run.err == "", args


# ---------------------------------------------------------------- --keep-lines

def test_keep_lines_keeps_plain_output_aligned_with_the_input(dl):
    lines = ["1 2", "", "x", "# note", "nan 1", "0 0", "1,,2", "3 4"]
    run = dl("softmax", "--keep-lines", stdin="\n".join(lines) + "\n")
    out = run.out.split("\n")
    assert out[-1] == "" and len(out) - 1 == len(lines)  # one output line per input line
    for line, result in zip(lines, out):
        alone = dl("softmax", stdin=line + "\n")
        assert result == alone.out.rstrip("\n"), line  # bad, blank, comment: an empty line
    assert run.code == 2 and run.err.count("error:") == 2


def test_keep_lines_is_the_same_on_both_batch_paths(dl, monkeypatch):
    data = "".join(f"{i} {i + 1}\n" if i % 7 else "\n" for i in range(3000))
    fast = dl("softmax", "--keep-lines", stdin=data)
    monkeypatch.setattr(runner, "FAST", False)
    slow = dl("softmax", "--keep-lines", stdin=data)
    assert fast.out == slow.out and fast.out.count("\n") == 3000


def test_keep_lines_with_json_and_without(dl):
    run = dl("softmax", "--keep-lines", "--json", stdin="1 2\nx\n3 4\n")
    assert run.out.split("\n")[1] == "" and len(run.out.split("\n")) == 4
    plain = dl("softmax", stdin="1 2\nx\n\n3 4\n")
    assert plain.out.count("\n") == 2  # without the option, bad and blank lines leave no line
    assert_user_error(dl("softmax", "--keep-lines", "-f", "csv", stdin="1 2\n"), "--keep-lines")


# ---------------------------------------------------------------- repeated warnings

def test_repeated_warnings_are_aggregated_with_a_count(dl):
    run = dl("softmax", stdin="nan 1\n" * 1000)
    warnings = run.err.splitlines()
    shown = runner.Warnings.SHOWN
    assert len(warnings) == shown + 1
    assert all(w.startswith("warning: line ") for w in warnings)
    assert warnings[-1].startswith(f"warning: line {shown + 1}: ")
    assert warnings[-1].endswith(f"(and {1000 - shown - 1:,} more lines like it)")
    assert run.out.count("\n") == 1000


def test_every_warning_line_is_accounted_for():
    err = io.StringIO()
    said = runner.Warnings(err)
    for line in range(1, 8):
        said.say("x is 1e300", line)
    said.say("something else", 9)
    said.finish()
    text = err.getvalue().splitlines()
    assert text[-2:] == ["warning: line 9: something else",
                         "warning: line 6: x is 1e300 (and 1 more line like it)"]


def test_warnings_keep_bounded_state_however_many_lines_warn():
    said = runner.Warnings(io.StringIO())
    rng = np.random.default_rng(0)
    for line in range(20000):  # numbers differ from line to line: still one kind
        said.say(f"the logits divided by T = {rng.random():.17g} exceed float64's range", line)
        said.release()
    for line in range(2000):  # many kinds: bounded too
        said.say(f"kind{'x' * (line % 300)} of warning", line)
        said.release()
    assert len(said.said) <= runner.Warnings.SHOWN * (runner.Warnings.KINDS + 1)
    assert len(said.kinds) <= runner.Warnings.KINDS + 1
    assert not said.pending


# ---------------------------------------------------------------- progress

class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_appears_after_a_second_and_is_cleared():
    err, clock = io.StringIO(), FakeClock()
    progress = runner.Progress(err, clock)
    progress.update(1000)
    assert err.getvalue() == ""  # a short batch shows nothing
    clock.now += 2
    progress.update(50000)
    shown = err.getvalue()
    assert shown.startswith("\r50,000 lines, 25,000 lines/s, 2.0 s")
    progress.update(50001)
    assert err.getvalue() == shown  # not redrawn more often than EVERY
    progress.clear()
    assert err.getvalue().endswith("\r\x1b[K")


def _stderr_on_terminal(args: list[str], feed) -> bytes:
    """dlcalc's stderr when it is a pseudo-terminal; `feed(stdin)` writes the input."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "dlcalc", *args], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    feed(process.stdin)
    process.stdin.close()
    return read_terminal(master, process)


def _slow_input(stdin) -> None:
    stdin.write(b"1 2\n" * 1000)
    stdin.flush()
    time.sleep(3)  # the batch outlives the delay, however fast the machine and its start-up
    for _ in range(3):
        stdin.write(b"3 4\n" * 1000)
        stdin.flush()
        time.sleep(0.4)
    stdin.write(b"5 6\n")


def test_progress_line_on_a_terminal_stderr_is_cleared_at_the_end():
    err = _stderr_on_terminal(["softmax"], _slow_input)
    assert b"lines/s" in err and b"\r" in err
    assert err.endswith(b"\r\x1b[K")  # nothing of it stays on the screen


def test_no_progress_when_quiet_or_stderr_is_not_a_terminal():
    assert _stderr_on_terminal(["softmax", "-q"], _slow_input) == b""
    process = subprocess.Popen([sys.executable, "-m", "dlcalc", "softmax"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _slow_input(process.stdin)
    process.stdin.close()
    assert process.stderr.read() == b""
    process.wait(timeout=60)


def test_progress_is_cleared_before_a_warning():
    def feed(stdin):
        _slow_input(stdin)
        stdin.write(b"nan 1\n")

    err = _stderr_on_terminal(["softmax"], feed)
    before, _, after = err.partition(b"warning: ")
    assert b"lines/s" in before and before.endswith(b"\r\x1b[K")


# ---------------------------------------------------------------- bad lines at near-full speed

def _groups_by_line(chunk):
    found = {}
    for group in chunk.groups:
        matrix, operands = group.matrix(), group.operand_matrix()
        for i, number in enumerate(group.numbers):
            found[number] = (matrix[i].tobytes(), None if operands is None else operands[i].tobytes())
    return found, [(bad.number, bad.message) for bad in chunk.bad]


@pytest.mark.parametrize("every", [2, 7, 50])
def test_a_block_with_bad_lines_parses_as_line_by_line(every):
    from dlcalc import batch

    rng = np.random.default_rng(every)
    unusual = ["x 1 2", "1,,2", "# note", "nan 1", "", "1 2 ; 0", "-0 1", "[1, 2]", "1e999 1", "1 2 3"]
    lines = [unusual[i // every % len(unusual)] if i % every == 0 else
             " ".join(f"{v:.17g}" for v in rng.normal(size=1 + i % 3)) for i in range(3000)]
    block = batch.Block(5, "\n".join(lines).encode(), len(lines))
    fast, slow = batch.parse_block(block), batch.parse_block(block, fast=False)
    assert _groups_by_line(fast) == _groups_by_line(slow)
    for group in fast.groups:
        assert group.numbers == sorted(group.numbers)


def test_out_of_range_targets_give_the_same_messages_without_one_call_per_line(dl, monkeypatch):
    from dlcalc import losses

    stdin = "".join(f"{i % 5} 1 0.5 ; {(3, -1, 1.5, 7)[i // 7 % 4] if i % 7 == 0 else i % 3}\n"
                    for i in range(700))
    calls = []
    real = losses.validate_target
    monkeypatch.setattr(losses, "validate_target", lambda *a, **k: calls.append(1) or real(*a, **k))
    batched = dl("ce", stdin=stdin)
    batched_calls = len(calls)
    # the oracle: each line run alone (each distinct line once: the 700 lines repeat 35 of them)
    alone_of = {line: dl("ce", stdin=line + "\n") for line in set(stdin.splitlines())}
    alone = [alone_of[line] for line in stdin.splitlines()]
    assert batched.out == "".join(run.out for run in alone)
    expected = [run.err.replace("line 1:", f"line {n}:") for n, run in enumerate(alone, 1) if run.err]
    assert batched.err.splitlines() == "".join(expected).splitlines()
    assert batched.err.count("error:") == 100
    assert batched_calls < 10  # the 100 bad lines are not retried one by one


# ---------------------------------------------------------------- JSON batch output per group

JSON_BATCHES = [
    (["softmax"], "2 1 0.1\n1e-30 1e20\n0.00001 3\n-1e-300 5e-324\n0 0\n-2.5 1e16\nnan 1\ninf 0\n"),
    (["softmax", "--log", "-t", "0.5"], "2 1 0.1\n1e-7 -1e-5 1e300\n"),
    (["activate", "sigmoid", "--deriv"], "1 2\n1e-30 1e20\n0.00001 3\n1e-5 nan\n"),
    (["activate", "x*sigmoid(x)"], "1 2\n-1e-6 1e17\n"),
    (["activate", "leaky_relu", "-p", "alpha=0.01"], "1 -2\n-1e-9 0\n"),
    (["ce"], "2 1 0.1 ; 0\n1e-5 2 ; 1\n0 0 0 ; 2\n3 1 ; 7\n"),
    (["ce", "--target-probs", "0.7 0.2 0.1", "--grad"], "2 1 0.1\n1e-20 0 0\n"),
    (["kl", "--q", "0.5 0.5"], "0.5 0.5\n0.99999 0.00001\n1 0\n"),
    (["kl", "--logits", "--q", "1 2", "--symmetric"], "3 1\n1e-6 0\n"),
]


@pytest.mark.parametrize("args,stdin", JSON_BATCHES)
def test_json_batch_per_group_prints_what_the_line_by_line_path_prints(dl, monkeypatch, args, stdin):
    stdin = stdin * 40  # groups of many lines
    fast = dl(*args, "--json", stdin=stdin)
    monkeypatch.setattr(runner, "FAST", False)
    slow = dl(*args, "--json", stdin=stdin)
    assert fast.out == slow.out and fast.err == slow.err and fast.code == slow.code
    assert fast.out.count("\n") >= 40


def test_json_lines_declines_what_it_cannot_write_as_json_dumps():
    from dlcalc import output, reports

    report = reports.Report(columns={}, plain=[1.0], data={"name": "a, b", "x": np.array([1.0])})
    assert output.json_lines([report], [1]) is None  # a comma inside a string
    report = reports.Report(columns={}, plain=[1.0], data={"x": np.array([np.nan])})
    assert output.json_lines([report], [1]) is None  # nan: "nan" in dlcalc's JSON, null in orjson's
    report = reports.Report(columns={}, plain=[1.0], data={"x": np.array([1e-5, 2.0, 1e16, -3e-7])})
    assert output.json_lines([report], [7]) == (output.render_batch(report, 7, "json") + "\n").encode()
