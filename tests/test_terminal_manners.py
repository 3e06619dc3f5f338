"""Terminal manners and hints for a new user (SPEC §1 "Numbers out", issue #11 items 3 and 4):
a result before its warning, output that fits the terminal, ASCII where Unicode cannot go,
colour only when wanted, and a helpful word where a new user goes wrong."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import _run_in_process, assert_user_error, read_terminal, run_process
from dlcalc import output, reports
from dlcalc.activations import REGISTRY


def on_terminal(*args: str, columns: int = 80, env: dict[str, str] | None = None) -> str:
    """dlcalc's stdout when it is a terminal `columns` wide (a pseudo-terminal)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    environment = {**os.environ, "COLUMNS": str(columns), "LINES": "24"}
    for name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"):
        environment.pop(name, None)
    environment.update(env or {})
    process = subprocess.Popen([sys.executable, "-m", "dlcalc", *args], stdout=slave,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=environment)
    os.close(slave)
    return read_terminal(master, process).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("args", [["kl", "0.5", "0.5", "--q", "1", "0"], ["softmax", "inf", "0", "inf"]])
def test_the_result_comes_before_its_warning_in_one_stream(args):
    run = subprocess.run([sys.executable, "-m", "dlcalc", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=60)
    lines = run.stdout.decode().splitlines()
    assert run.returncode == 0 and len(lines) == 2
    assert not lines[0].startswith("warning:") and lines[1].startswith("warning: ")


def test_registry_list_and_steps_fit_an_80_column_table():
    listing = output.render(reports.registry_report(list(REGISTRY.values())), "table", width=80)
    assert max(len(line) for line in listing.splitlines()) <= 80
    assert "…" in listing  # abbreviated, not dropped: every function is still listed
    assert all(name in listing for name in REGISTRY)
    piped = output.render(reports.registry_report(list(REGISTRY.values())), "table")
    assert max(len(line) for line in piped.splitlines()) > 80  # full width when not a terminal
    found = reports.differentiate("x*sigmoid(x)^2 + log(1 + exp(x))", steps=True)
    steps = output.render(reports.gradient_report(found), "table", width=80)
    assert max(len(line) for line in steps.splitlines()) <= 80


def test_on_a_terminal_tables_fit_and_plot_prints_its_path(tmp_path):
    listing = on_terminal("activate", "--list", columns=80)
    assert listing.count("\n") > len(REGISTRY)
    assert max(len(line) for line in listing.splitlines()) <= 80 + len("\033[1m\033[0m")
    path = tmp_path / "s.png"
    assert on_terminal("plot", "sigmoid", "-o", str(path), "--points", "20").strip() == str(path)


def test_colour_only_when_wanted():
    assert "\033[1m" in on_terminal("softmax", "2", "1")
    assert "\033[" not in on_terminal("softmax", "2", "1", env={"TERM": "dumb"})
    assert "\033[" not in on_terminal("softmax", "2", "1", env={"NO_COLOR": "1"})
    assert "\033[1m" in _run_in_process("softmax", "2", "1", "-f", "table", env={"FORCE_COLOR": "1"}).out
    assert "\033[1m" in _run_in_process("softmax", "2", "1", "-f", "table", env={"CLICOLOR_FORCE": "1"}).out
    assert "\033[" not in _run_in_process("softmax", "2", "1", "-f", "table").out


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
@pytest.mark.parametrize("args", [["kl", "0.7", "0.3", "--q", "0.5", "0.5", "-f", "table"],
                                  ["activate", "--props", "sigmoid", "tanh"],
                                  ["grad", "x**2*y", "--steps"],
                                  ["softmax", "2", "1", "0.1", "--explain"],
                                  ["activate", "--list", "-f", "table"]])
def test_a_stdout_without_unicode_gets_ascii_not_a_crash(encoding, args):
    run = run_process(*args, env={"PYTHONIOENCODING": encoding})
    assert run.returncode == 0, run.stderr
    run.stdout.decode(encoding)  # what it wrote is in its encoding
    assert b"?" not in run.stdout  # every symbol had a stand-in


def test_props_plain_is_single_space_separated(dl):
    out = dl("activate", "--props", "sigmoid", "tanh").out
    assert "\t" not in out and "  " not in out
    assert out.splitlines()[0].split(" ")[:4] == ["sigmoid", "(0,", "1)", "no"]


# ---------------------------------------------------------------- hints


def test_an_expression_function_given_as_an_activation_gets_its_expression_form(dl):
    assert_user_error(dl("activate", "exp", "1"), '"exp(x)"')


def test_a_misspelt_function_in_an_expression_gets_did_you_mean(dl):
    assert_user_error(dl("grad", "sigmod(x)"), "did you mean sigmoid?")


@pytest.mark.parametrize("expression, fix", [("2x", "2*x"), ("x + 2.5y", "2.5*y"), ("3x^2", "3*x")])
def test_a_number_against_a_name_is_told_to_write_the_star(dl, expression, fix):
    run = dl("grad", expression)
    assert_user_error(run, fix)
    assert "literal" not in run.err and "decimal" not in run.err


def test_a_column_of_single_numbers_into_softmax_says_how_to_join_them(dl):
    run = dl("softmax", stdin="1\n2\n3\n")
    assert run.out == "1\n1\n1\n"
    assert run.err.count("warning:") == 1 and "always 1" in run.err and "paste" in run.err
    assert dl("softmax", "5").err == ""  # one logit typed on purpose: no lecture


def test_probabilities_given_as_logits_are_pointed_at_probs(dl):
    run = dl("ce", "0.7", "0.2", "0.1", "--target", "0")
    assert run.code == 0 and "look like probabilities" in run.err and "--probs" in run.err
    assert dl("ce", "0.7", "0.2", "0.1", "--target", "0", "--probs").err == ""
    assert dl("ce", "2", "1", "0.1", "--target", "0").err == ""
