"""Faults of the environment (issue #7): a closed pipe, a full device, Ctrl-C in the middle of a
batch, plot paths that cannot be written, a plot write that fails halfway. Each ends the way a
well-made Unix tool ends: quietly for a closed pipe, exit 1 and one clear `error:` line for a
device or file that cannot be written, exit 130 for Ctrl-C, never a traceback, never a partial
line or a partial file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

DLCALC = [sys.executable, "-m", "dlcalc"]


def shell(command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout)


# ---------------------------------------------------------------- a closed output pipe


@pytest.mark.parametrize("producer, command, first_line", [
    ("seq 1 300000", "activate sigmoid", b"0.7310585786300049"),
    ("yes '2 1 0.1' | head -200000", "softmax", b"0.6590011388859679 0.24243297070471392 0.098565890409318"),
    ("yes '2 1 0.1 ; 0' | head -200000", "ce --json", b'{"line": 1,'),
    ("yes '0.5 0.5' | head -200000", "kl --q 0.9 0.1 --format table", b"line 1:"),
], ids=["activate-plain", "softmax-plain", "ce-json", "kl-table"])
def test_a_closed_output_pipe_ends_the_batch_quietly(producer, command, first_line):
    run = shell(f"set -o pipefail; {producer} | {sys.executable} -m dlcalc {command} | head -1; "
                "echo \"status ${PIPESTATUS[1]}\" >&2")
    out, err = run.stdout, run.stderr.decode()
    assert out.startswith(first_line), out[:200]
    assert out.count(b"\n") == 1
    # killed by SIGPIPE (141) or a quiet exit 0: never an error message or a traceback
    assert err.strip() in ("status 141", "status 0"), err


def test_a_closed_pipe_during_one_large_result_ends_quietly():
    # 400 logits: a 400 × 400 Jacobian, 3.8 MB of CSV, some 60 times a pipe's buffer
    run = shell(f"{sys.executable} -m dlcalc softmax --jacobian --format csv "
                f"$(seq -s, 1 400) | head -c 100; echo \"status ${{PIPESTATUS[0]}}\" >&2")
    assert len(run.stdout) == 100
    assert run.stderr.decode().strip() in ("status 141", "status 0"), run.stderr


# ---------------------------------------------------------------- a full device

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


@needs_dev_full
@pytest.mark.parametrize("args, stdin", [
    (["activate", "sigmoid", "1", "2"], None),
    (["softmax"], b"2 1 0.1\n" * 50_000),
    (["ce", "--format", "json"], b"2 1 0.1 ; 0\n" * 2_000),
    (["grad", "x**2*y + sin(y)", "--at", "x=1", "y=2"], None),
    (["activate", "--list"], None),
], ids=["one-shot", "batch-plain", "batch-json", "grad", "list"])
def test_a_full_device_is_exit_1_with_one_clear_message(args, stdin):
    with open("/dev/full", "wb") as full:
        run = subprocess.run(DLCALC + args, input=stdin, stdout=full, stderr=subprocess.PIPE,
                             timeout=120)
    err = run.stderr.decode()
    assert run.returncode == 1, err
    assert err.splitlines() == ["error: cannot write output: No space left on device"], err


# ---------------------------------------------------------------- Ctrl-C in a long batch


def _interrupt_a_running_batch(after_lines: int) -> tuple[int, bytes, bytes]:
    """Feed `dlcalc softmax` lines without end, send SIGINT once `after_lines` lines came out."""
    process = subprocess.Popen(DLCALC + ["softmax"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    out = bytearray()
    enough = threading.Event()

    def feed():
        line = b"2 1 0.1 -3 7.5\n"
        try:
            while process.poll() is None:
                process.stdin.write(line * 2000)
                process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def drain():
        while True:
            data = process.stdout.read1(1 << 16)
            if not data:
                break
            out.extend(data)
            if out.count(b"\n") >= after_lines:
                enough.set()
        enough.set()

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    for thread in threads:
        thread.start()
    assert enough.wait(60), "no output from the batch"
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=30)
    finally:
        process.kill()
    threads[1].join(10)
    err = process.stderr.read()
    return code, bytes(out), err


@pytest.mark.parametrize("after_lines", [1, 20_000])
def test_ctrl_c_during_a_long_batch_is_exit_130_and_only_whole_lines_were_printed(after_lines):
    code, out, err = _interrupt_a_running_batch(after_lines)
    assert code == 130, (code, err)
    assert b"Traceback" not in err and b"Error" not in err, err
    assert out.endswith(b"\n"), out[-200:]
    lines = out.decode().splitlines()
    assert len(lines) >= after_lines
    # the oracle: every line is the whole softmax of '2 1 0.1 -3 7.5', as one run prints it
    whole = subprocess.run(DLCALC + ["softmax", "2", "1", "0.1", "-3", "7.5"], capture_output=True).stdout
    assert set(lines) == {whole.decode().strip()}


# ---------------------------------------------------------------- plot paths


def test_a_plot_into_a_missing_folder_creates_it(dl, tmp_path):
    path = tmp_path / "new" / "deeper" / "still" / "sigmoid.png"
    run = dl("plot", "sigmoid", "--points", "50", "-o", str(path))
    assert (run.code, run.out, run.err) == (0, f"{path}\n", "")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in path.parent.iterdir()) == ["sigmoid.png"]  # no temporary left


@pytest.mark.parametrize("where", ["under-a-regular-file", "in-proc", "is-a-folder"])
def test_a_plot_path_that_cannot_be_written_is_exit_1_and_leaves_nothing(dl, tmp_path, where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a regular file")
    path = {"under-a-regular-file": blocker / "plots" / "sigmoid.png",
            "in-proc": Path("/proc/dlcalc-cannot-write-here.png"),
            "is-a-folder": tmp_path / "folder.png"}[where]
    if where == "is-a-folder":
        path.mkdir()
    before = sorted(tmp_path.rglob("*"))
    run = dl("plot", "sigmoid", "--points", "50", "-o", str(path))
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert run.code == 1, run.err
    assert len(errors) == 1 and f"cannot write {path}" in errors[0], run.err
    assert "Traceback" not in run.err and run.out == ""
    assert sorted(tmp_path.rglob("*")) == before  # no partial file, no temporary
    assert blocker.read_text() == "a regular file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_plot_into_a_read_only_folder_is_exit_1_and_leaves_nothing(dl, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        run = dl("plot", "sigmoid", "--points", "50", "-o", str(folder / "sigmoid.png"))
        assert run.code == 1 and "cannot write" in run.err and "Traceback" not in run.err
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


class _HalfWritten(Exception):
    pass


def _failing_savefig(failure: BaseException):
    """A Figure.savefig that writes part of a file, then fails as a disk or a user would."""

    def savefig(self, stream, *args, **kwargs):
        stream.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 4096)
        stream.flush()
        raise failure

    return savefig


@pytest.mark.parametrize("failure, code, message", [
    (OSError(28, "No space left on device"), 1, "No space left on device"),
    (KeyboardInterrupt(), 130, None),
], ids=["disk-full", "ctrl-c"])
@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "replacing-a-file"])
def test_an_interrupted_plot_write_leaves_no_partial_file(dl, tmp_path, monkeypatch, failure, code,
                                                          message, existing):
    from matplotlib.figure import Figure

    path = tmp_path / "sigmoid.png"
    if existing:
        path.write_bytes(b"the previous plot")
    monkeypatch.setattr(Figure, "savefig", _failing_savefig(failure))
    run = dl("plot", "sigmoid", "--points", "50", "-o", str(path))
    assert run.code == code, run.err
    assert "Traceback" not in run.err and run.out == ""
    if message:
        errors = [line for line in run.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0] and str(path) in errors[0], run.err
    # the old file is kept whole, or there is none; no temporary file is left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == (["sigmoid.png"] if existing else [])
    if existing:
        assert path.read_bytes() == b"the previous plot"



@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning])
def test_a_librarys_deprecation_warning_never_reaches_the_user(dl, tmp_path, monkeypatch, category):
    """A dependency's note to its own developers (pyparsing 3.3 deprecating what matplotlib 3.9
    calls, say) is not the user's business: the plot is written and stderr stays empty."""
    import warnings

    from dlcalc import plotting

    real = plotting.check_title

    def noisy(title):
        warnings.warn("'parseString' deprecated - use 'parse_string'", category, stacklevel=2)
        return real(title)

    monkeypatch.setattr(plotting, "check_title", noisy)
    out = tmp_path / "f.svg"
    run = dl("plot", "sigmoid", "--title", "$x^2$", "-o", str(out))
    assert run.code == 0, run.err
    assert run.err == ""
    assert out.stat().st_size > 0
