"""The README is the user's manual: every example in it is run and its output compared."""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dlcalc import exact

from conftest import _run_in_process

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "readme_examples.py"


def load():
    spec = importlib.util.spec_from_file_location("readme_examples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


README = load()
TEXT = README.README.read_text()
BLOCKS = [m.group(2) for m in README.BLOCK.finditer(TEXT)]
GENERATED = [(m.group(2), m.group(3)) for m in README.GENERATED.finditer(TEXT)]
EXTENDED_ONLY = pytest.mark.skipif(
    not exact.EXTENDED, reason="the README prints the x87 path's correctly rounded digits; the "
    "float64 path (DLCALC_FLOAT64_ONLY=1) may differ in the last one")


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 10 and GENERATED


def _drift(expected: str, new: str) -> str:
    import difflib

    diff = "".join(difflib.unified_diff(expected.splitlines(True), new.splitlines(True), n=1))
    return "README examples drifted (python scripts/readme_examples.py --update):\n" + diff[:4000]


def run(command: str, folder: str) -> str:
    """What `README.run` prints (bash in `folder`), with a plain `dlcalc ARGS` run in-process:
    the same `dlcalc.cli.main` in the same folder and environment (NO_COLOR, COLUMNS, empty stdin,
    stdout not a terminal), without a fresh interpreter for each example."""
    stdin = b""
    args = README.plain_dlcalc(command)
    if args is None and (piped := README.printf_into_dlcalc(command)):  # printf's bytes by bash
        printf, args = piped
        stdin = subprocess.run(["bash", "-c", printf], cwd=folder, capture_output=True,
                               check=True, stdin=subprocess.DEVNULL).stdout
    if args is None:
        return README.run(command, folder)
    here = os.getcwd()
    os.chdir(folder)
    try:
        done = _run_in_process(*args, stdin=stdin, env=README.ENV)
    finally:
        os.chdir(here)
    return done.out + done.err


@pytest.mark.parametrize("command, words", [
    ('dlcalc grad "x**2*y + sin(y)" --at x=1 y=2', ["grad", "x**2*y + sin(y)", "--at", "x=1", "y=2"]),
    ("dlcalc activate 'x*$y' -1", ["activate", "x*$y", "-1"]),
    ("dlcalc plot relu --figsize 8 3 -o relu.eps", ["plot", "relu", "--figsize", "8", "3", "-o", "relu.eps"]),
    ("dlcalc softmax 2 1 | tail -1", None),
    ("dlcalc softmax 2 1 2>&1", None),
    ("dlcalc softmax 2 1 > out.txt", None),
    ("dlcalc softmax 2 1; echo", None),
    ("dlcalc softmax 2 1 &", None),
    ("NO_COLOR= dlcalc softmax 2 1", None),
    ("printf '1' | dlcalc softmax", None),
    ("dlcalc softmax $(echo 1)", None),
    ('dlcalc grad "x*$y"', None),
    ("dlcalc softmax *.txt", None),
    ("dlcalc softmax {1,2}", None),
    ("dlcalc softmax ~/x", None),
    ("dlcalc softmax 1 # 2", None),
    ("dlcalc softmax 1\\ 2", None),
    ("dlcalc softmax 'unclosed", None),
    ("dlcalcx softmax 1", None),
    ("python -m dlcalc softmax 1", None),
])
def test_only_a_plain_dlcalc_command_runs_in_process(command, words):
    assert README.plain_dlcalc(command) == words


@pytest.mark.parametrize("command, parts", [
    ("printf '1 2\\n' | dlcalc softmax -t 2", ("printf '1 2\\n'", ["softmax", "-t", "2"])),
    ("printf '1 2\\n'|dlcalc kl - -", ("printf '1 2\\n'", ["kl", "-", "-"])),
    ("printf '1' | dlcalc softmax | tail -1", None),
    ("printf '1' | dlcalc softmax 2>&1", None),
    ("printf '1' || dlcalc softmax", None),
    ("seq 3 | dlcalc softmax", None),
    ("printf '1' | NO_COLOR= dlcalc softmax", None),
    ("printf \"$x\" | dlcalc softmax", None),
    ("printf '1' > f | dlcalc softmax", None),
    ("dlcalc softmax 1 | dlcalc softmax", None),
])
def test_only_printf_into_a_plain_dlcalc_command_runs_in_process(command, parts):
    assert README.printf_into_dlcalc(command) == parts


# One test per console block (each runs in a fresh folder of its own, as the script runs it), so
# that the blocks' commands spread over the test workers; together they are the whole README, as
# `python scripts/readme_examples.py` checks it.
@EXTENDED_ONLY
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"block{i + 1}")
def test_readme_examples_print_what_the_readme_says(index, tmp_path):
    """Every example; those piping into jq only where jq is installed (see the next test)."""
    body = BLOCKS[index]
    new = README.render_block(body, str(tmp_path), run)
    if new != body:
        pytest.fail(_drift(body, new))


@EXTENDED_ONLY
@pytest.mark.parametrize("index", range(len(GENERATED)), ids=lambda i: f"generated{i + 1}")
def test_generated_regions_are_what_their_command_prints(index, tmp_path):
    command, body = GENERATED[index]
    new = run(command, str(tmp_path))
    if new != body:
        pytest.fail(_drift(body, new))


@pytest.mark.skipif(shutil.which("jq") is None,
                    reason="the README examples piping into jq need jq (apt-get install jq; brew install jq)")
def test_readme_jq_examples_were_run_with_jq():
    readme = load()
    assert readme.jq_commands(readme.README.read_text())  # the recipes exist, and ran above


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_command():
    text = (SCRIPT.parent.parent / "README.md").read_text()
    assert "pip install . && dlcalc softmax 2 1 0.1" in text
    test_command = "pip install -e '.[test]' && python -m pytest"
    assert test_command in text
    assert test_command in (SCRIPT.parent.parent / ".ci" / "run").read_text()
