"""Every way of starting dlcalc works or fails cleanly (issue 15, item 1), the shell integration
(completion, --version, --help) and the files plot leaves behind (issue 15, item 5)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import _run_in_process

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ENV.pop("DLCALC_DEBUG", None)
ENTRY = [sys.executable, "-m", "dlcalc"]


def start(args, *, env=None, preexec=None, stdin=subprocess.DEVNULL, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*ENTRY, *args], env={**ENV, **(env or {})}, stdin=stdin,
                          capture_output=True, timeout=120, preexec_fn=preexec, **kw)


def shell(command: str, env=None) -> subprocess.CompletedProcess:
    """A command line through /bin/sh, for its redirections (`>&-` closes a stream)."""
    full = f"{sys.executable} -m dlcalc {command}"
    return subprocess.run(["/bin/sh", "-c", full], env={**ENV, **(env or {})}, capture_output=True,
                          timeout=120)


def assert_clean(run, code: int) -> None:
    err = run.stderr.decode(errors="replace")
    assert run.returncode == code, (run.returncode, err)
    assert "Traceback" not in err and "Error:" not in err.replace("error:", ""), err


# ---------------------------------------------------------------- closed standard streams


def test_stdout_closed_is_exit_1_with_one_error_line():
    run = shell("softmax 1 2 >&-")
    assert_clean(run, 1)
    lines = run.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write output"), lines


def test_stderr_closed_still_runs_and_keeps_the_exit_codes():
    run = shell("softmax 1 2 2>&-")
    assert run.returncode == 0 and run.stdout.split() == [b"0.2689414213699951", b"0.7310585786300049"]
    assert shell("softmax x 2>&-").returncode == 2


def test_stdin_closed_is_empty_input_not_a_crash():
    run = shell("softmax <&-")
    assert_clean(run, 2)
    assert run.stderr.decode().startswith("error:")


def test_every_stream_closed():
    run = shell("softmax 1 2 <&- >&- 2>&-")
    assert run.returncode == 1


def test_a_closed_stdout_is_not_reused_by_a_plot_file(tmp_path):
    target = tmp_path / "p.png"
    run = shell(f"plot sigmoid --points 20 -o {target} >&-")
    assert run.returncode == 1  # the path could not be printed
    assert target.read_bytes().startswith(b"\x89PNG")


# ---------------------------------------------------------------- Ctrl-C, environment, encodings


def test_ctrl_c_at_any_moment_after_start_is_a_quiet_130_or_a_finished_run():
    """SIGINT at 12 moments from the first line of dlcalc's code to the end of the run."""
    code = ("import sys; from dlcalc.__main__ import run; sys.stderr.write('ready\\n'); "
            "sys.stderr.flush(); sys.argv = ['dlcalc', 'softmax', '1', '2']; run()")
    for i in range(12):
        process = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stderr.readline() == b"ready\n"
        time.sleep(i * 0.025)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode in (0, 130), (i, process.returncode, err)
        assert err == b"", (i, err)
        if process.returncode == 0:
            assert out.split() == [b"0.2689414213699951", b"0.7310585786300049"]


def test_no_home_and_hostile_matplotlib_settings_print_nothing_of_matplotlibs(tmp_path):
    rc = tmp_path / "matplotlibrc"
    rc.write_text("lines.linewidth: banana\nno.such.key: 1\nbackend: junk\n")
    env = {key: value for key, value in ENV.items() if key != "HOME"}
    env.update(MPLBACKEND="junk", MATPLOTLIBRC=str(rc), MPLCONFIGDIR="/dev/null/nowhere")
    run = subprocess.run([*ENTRY, "plot", "sigmoid", "--points", "50", "-o", str(tmp_path / "a.png")],
                         env=env, capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == b""
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    # the same figure as in a clean environment: dlcalc's own style, not the rc file's
    clean = start(["plot", "sigmoid", "--points", "50", "-o", str(tmp_path / "b.png")])
    assert clean.returncode == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize("env", [
    {"PYTHONIOENCODING": "ascii"},
    {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    {"LC_ALL": "tr_TR.UTF-8", "PYTHONIOENCODING": "latin-1"},
])
@pytest.mark.parametrize("args", [
    ["softmax", "1", "2", "-f", "table", "--explain"],
    ["kl", "0.5", "0.5", "--q", "0.9", "0.1", "-f", "table"],
    ["activate", "sigmoud", "1"],
])
def test_any_locale_and_encoding_gives_the_output_in_ascii_if_need_be(env, args):
    run = start(args, env=env)
    assert run.returncode in (0, 2)
    assert b"Traceback" not in run.stderr and b"internal error" not in run.stderr
    assert run.stdout or run.stderr.startswith(b"error:")
    if env.get("PYTHONIOENCODING") == "ascii":
        run.stdout.decode("ascii")  # every byte ASCII
        run.stderr.decode("ascii")


@pytest.mark.parametrize("value, traceback", [("1", True), ("true", True), ("YES", True), ("0", False),
                                              ("false", False), ("no", False), ("", False), ("off", False)])
def test_dlcalc_debug_is_on_only_for_1_true_yes(value, traceback, monkeypatch):
    from dlcalc import cli

    monkeypatch.setenv("DLCALC_DEBUG", value)
    assert cli.debug_enabled() is traceback


# ---------------------------------------------------------------- --version, --help, completion


def test_version_names_python_numpy_and_the_extended_path():
    run = start(["--version"])
    assert_clean(run, 0)
    lines = run.stdout.decode().splitlines()
    assert lines[0].startswith("dlcalc ") and lines[1].startswith("Python ") and lines[2].startswith("NumPy ")
    assert lines[3].startswith("extended precision: ")


def test_top_level_help_has_examples_and_exit_codes():
    out = _run_in_process("--help").out
    assert "Examples:" in out and "dlcalc softmax 2 1 0.1" in out
    for code in ("0", "1", "2", "70", "130"):
        assert f"\n    {code} " in out, code
    assert "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize("shell_name", ["bash", "zsh", "fish"])
def test_the_completion_script_is_generated(shell_name):
    # Typer's switch for naming the shell instead of detecting it from the parent process
    run = start(["--show-completion", shell_name], env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert_clean(run, 0)
    script = run.stdout.decode()
    assert "_DLCALC_COMPLETE" in script and "dlcalc" in script


def complete(words: str) -> list[str]:
    parts = words.split(" ")
    run = start([], env={"_DLCALC_COMPLETE": "complete_bash", "COMP_WORDS": words,
                         "COMP_CWORD": str(len(parts) - 1)})
    assert run.returncode == 0, run.stderr
    return run.stdout.decode().split()


def test_completion_of_commands_function_names_and_formats():
    assert complete("dlcalc so") == ["softmax"]
    assert {"sigmoid", "silu"} <= set(complete("dlcalc activate si"))
    assert {"softmax", "softplus"} <= set(complete("dlcalc plot so"))
    assert complete("dlcalc softmax 1 2 -f js") == ["json"]
    assert complete("dlcalc kl --format mark") == ["markdown"]


# ---------------------------------------------------------------- what a one-shot command loads and builds
# Start-up time is measured in bench/run.py (latency); these tests prove the structure that keeps
# it at the floor (issues 12, 13, 15: "start-up of the existing commands unchanged").

#: Never on the path of a one-shot command without its flags: the heavy libraries, and the parts
#: of dlcalc that only other commands, flags or stdin batches use.
NOT_AT_START_UP = {"sympy", "matplotlib", "mpmath", "scipy", "rich", "pydantic", "dlcalc.steps",
                   "dlcalc.symbolic", "dlcalc.expression", "dlcalc.derivation", "dlcalc.explain",
                   "dlcalc.plotting", "dlcalc.batch", "dlcalc.descent", "dlcalc.surface", "dlcalc.api",
                   "dlcalc.gaussian", "dlcalc.distillation", "dlcalc.symbolic_derivations"}
ONE_SHOT = {  # the commands of bench/run.py's latency table, and what else each must not load
    ("softmax", "2", "1", "0.1"): {"dlcalc.activations", "dlcalc.functions", "dlcalc.losses"},
    ("activate", "sigmoid", "0"): {"dlcalc.losses", "dlcalc.softmax_core"},
    ("activate", "gelu", "0"): {"dlcalc.losses", "dlcalc.softmax_core"},
    ("ce", "2", "1", "0.1", "--target", "0"): {"dlcalc.activations", "dlcalc.functions"},
    ("kl", "0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.1"): {"dlcalc.activations", "dlcalc.functions"},
}


@pytest.mark.parametrize("args", list(ONE_SHOT), ids=lambda args: " ".join(args[:2]))
def test_a_one_shot_command_loads_only_what_it_uses(args):
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "dlcalc", *args], env=ENV,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()
                if line.startswith("import time:")}
    assert "dlcalc.cli" in imported  # the list is real
    packages = {name.split(".")[0] for name in imported}
    assert not (NOT_AT_START_UP | ONE_SHOT[args]) & (imported | packages)


BUILT = """
import sys
import typer.main
from dlcalc import cli

built = []
real = typer.main.get_command
typer.main.get_command = lambda app: built.append(app) or real(app)
code = cli.main(sys.argv[1:])
print(code, sorted(name for name, app in cli.SUBCOMMANDS.items() if app in built), file=sys.stderr)
"""


def built_commands(*args: str) -> str:
    run = subprocess.run([sys.executable, "-c", BUILT, *args], env=ENV, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=120)
    return run.stderr.splitlines()[-1]


def test_a_command_builds_only_its_own_click_command():
    """Typer would turn all six commands' options into Click parameters on every run; dlcalc
    builds the one that runs (cli.subcommand)."""
    assert built_commands("softmax", "2", "1", "0.1") == "0 ['softmax']"
    assert built_commands("kl", "0.7", "0.3", "--q", "0.5", "0.5") == "0 ['kl']"
    assert built_commands("softmax", "--help") == "0 ['softmax']"
    assert built_commands("--version") == "0 []"
    assert built_commands("sofmax", "1") == "2 []"  # the suggestion comes from the names alone


def test_help_and_completion_still_see_every_command():
    assert built_commands("--help") == "0 ['activate', 'ce', 'grad', 'kl', 'plot', 'softmax']"
    out = _run_in_process("--help").out
    listed = out.split("Commands:", 1)[1].split()
    for name in ("activate", "softmax", "ce", "kl", "grad", "plot"):
        assert name in listed, name
    assert complete("dlcalc ") == ["activate", "softmax", "ce", "kl", "grad", "plot"]
    run = _run_in_process("sofmax", "1")
    assert run.code == 2 and run.err.startswith("error: No such command 'sofmax'. Did you mean 'softmax'?")
    assert run.err.count("Did you mean") == 1, run.err  # Click and old Typer each suggest


# ---------------------------------------------------------------- plot files left as they were


def test_a_replaced_file_keeps_its_mode(tmp_path, dl):
    target = tmp_path / "private.png"
    target.write_bytes(b"old")
    target.chmod(0o600)
    assert dl("plot", "sigmoid", "--points", "20", "-o", str(target)).code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes().startswith(b"\x89PNG")


def test_a_path_ending_in_a_slash_is_refused(tmp_path, dl):
    run = dl("plot", "sigmoid", "-o", f"{tmp_path}/name.png/")
    assert run.code == 2 and run.err.startswith("error:") and "ends in '/'" in run.err
    assert list(tmp_path.iterdir()) == []


def test_a_literal_tilde_is_written_with_a_warning(tmp_path, dl, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = dl("plot", "sigmoid", "--points", "20", "-o", "~/x.png")
    assert run.code == 0
    assert (tmp_path / "~" / "x.png").exists()
    assert run.err.startswith("warning:") and "literal '~'" in run.err and len(run.err.splitlines()) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_save_leaves_no_temporary_file(tmp_path, signum):
    """As Ctrl-C does (tests/test_faults.py). The save is slowed down (a 1,000,000-point curve as
    SVG) so that the signal lands in it."""
    target = tmp_path / "big.svg"
    process = subprocess.Popen([*ENTRY, "plot", "sigmoid", "--points", "1000000", "-o", str(target)],
                               env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 100
    while not list(tmp_path.glob(".big.svg.*.tmp")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signum)
    process.communicate(timeout=100)
    assert not list(tmp_path.glob(".*.tmp")), list(tmp_path.iterdir())
    if process.returncode != 0:  # it was interrupted, not finished first
        assert process.returncode in (-signum, 128 + signum, 130)
        assert not target.exists()
