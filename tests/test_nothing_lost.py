"""Nothing is lost in a pipeline (issue #7): in batch mode every input line that is not blank and
not a comment yields exactly one output line or one line-numbered error, in input order, however
the good and bad lines are mixed, whatever their lengths, across the chunks the input is read in.

The input is 100,000 lines drawn (with a fixed seed) from templates: good lines of many lengths,
with their target after ';' or not, bad numbers, missing and out-of-range targets, invalid
UTF-8, blank and comment lines, CRLF endings. The oracle for each good line is dlcalc's answer to
that line alone; the oracle for order is the line number each JSON object and each error carries,
read from one stream holding stdout and stderr as they were written.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from conftest import _run_in_process

LINES = 100_000

# 10^5 lines through real processes: opt-in (DLCALC_LONG_TESTS=1), as CI runs it.
pytestmark = pytest.mark.long

GOOD = [
    b"2 1 0.1 ; 0",
    b"0 0 ; 1",
    b"1e-3,2,3,4 ; 3",
    b"[1, 2, 3] ; 2",
    b"5\t4\t3 ; 0.2 0.3 0.5",
    b"-1000 1000 ; 0",
    b"nan 1 ; 1",
    b"-inf 0 ; 0",
    b" ".join(str(i % 17 - 8).encode() for i in range(300)) + b" ; 7",
    b"2 1 0.1 ; 0\r",
]
BAD = [
    b"abc ; 0",
    b"1..2 3 ; 0",
    b"2 1 0.1",
    b"2 1 ; 5",
    b"2 1 ; 0.5",
    b"2 1 ;",
    b"\xff\xfe 1 ; 0",
    b"1;2;3",
    b"[1, 2 ; 0",
    b"0 0 ; 0.5 0.6",
]
SKIPPED = [b"", b"   ", b"\t", b"# a comment", b"  # indented comment", b"\r"]


def mixed_input(seed: int = 20240607) -> tuple[bytes, list[tuple[int, str, bytes]]]:
    """The input, and for each answered line its number, 'good' or 'bad', and its template."""
    rng = random.Random(seed)
    lines, expected = [], []
    for number in range(1, LINES + 1):
        kind = rng.choices(["good", "bad", "skipped"], weights=[70, 20, 10])[0]
        line = rng.choice({"good": GOOD, "bad": BAD, "skipped": SKIPPED}[kind])
        lines.append(line)
        if kind != "skipped":
            expected.append((number, kind, line))
    return b"\n".join(lines) + b"\n", expected


@pytest.fixture(scope="module")
def mixed():
    return mixed_input()


@pytest.fixture(scope="module")
def answers():
    """dlcalc's plain answer to each good template alone: the oracle for each good line."""
    found = {}
    for line in GOOD:
        run = _run_in_process("ce", stdin=line + b"\n")
        assert run.code == 0, (line, run.err)
        assert run.out.count("\n") == 1
        found[line] = run.out
    for line in BAD:
        run = _run_in_process("ce", stdin=line + b"\n")
        assert run.code == 2 and run.out == "" and run.err.startswith("error: line 1: "), (line, run.err)
    return found


def test_the_mix_is_what_it_claims(mixed):
    data, expected = mixed
    assert data.count(b"\n") == LINES and len(data) > 1 << 20  # more than one read chunk
    kinds = {kind for _, kind, _ in expected}
    assert kinds == {"good", "bad"} and len(expected) > 0.85 * LINES
    assert {line for _, _, line in expected} == set(GOOD) | set(BAD)


def _numbered(line: str) -> int:
    return int(line.split()[2].rstrip(":"))


def test_every_answered_line_gives_one_answer_or_one_numbered_error_in_order(mixed, answers):
    data, expected = mixed
    # stdout and stderr in one pipe, as `2>&1` gives them: the order between the two is observable
    run = subprocess.run([sys.executable, "-m", "dlcalc", "ce"], input=data, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=300)
    assert run.returncode == 2
    seen = []
    for line in run.stdout.decode().splitlines(keepends=True):
        if line.startswith("error: line "):
            seen.append(("bad", _numbered(line)))
        elif not line.startswith("warning: "):  # each warning is said once, not per line
            seen.append(("good", line))
    assert "Traceback" not in run.stdout.decode()
    assert len(seen) == len(expected)
    assert seen == [("bad", number) if kind == "bad" else ("good", answers[line])
                    for number, kind, line in expected]


def test_with_stdout_and_stderr_apart_the_same_answers_and_errors_are_written(mixed, answers):
    """In two places (`> out 2> err`) no one sees the order between them: a block's errors are
    written together after its results. Every answer and every numbered error is still there,
    each in input order on its own stream."""
    data, expected = mixed
    run = subprocess.run([sys.executable, "-m", "dlcalc", "ce"], input=data, capture_output=True,
                         timeout=300)
    assert run.returncode == 2
    errors = [line for line in run.stderr.decode().splitlines() if line.startswith("error: line ")]
    assert [_numbered(line) for line in errors] == [n for n, kind, _ in expected if kind == "bad"]
    good = run.stdout.decode().splitlines(keepends=True)
    assert good == [answers[line] for _, kind, line in expected if kind != "bad"]


def test_json_batch_numbers_every_answer_and_error_in_order(mixed):
    data, expected = mixed
    head = b"\n".join(data.split(b"\n")[:20_000]) + b"\n"  # JSON is slower per line: a fifth
    run = subprocess.run([sys.executable, "-m", "dlcalc", "ce", "--format", "json"], input=head,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert run.returncode == 2
    seen: list[tuple[int, str]] = []
    for line in run.stdout.decode().splitlines():
        if line.startswith("error: line "):
            seen.append((_numbered(line), "bad"))
        elif line.startswith("{"):
            seen.append((json.loads(line)["line"], "good"))
        else:
            assert line.startswith("warning: "), line
    assert seen == [(number, kind) for number, kind, _ in expected if number <= 20_000]
