"""`python -m dlcalc` and the `dlcalc` console script.

This module is light on purpose: it makes the process safe to start (closed standard streams,
Ctrl-C during the imports) before `dlcalc.cli` imports NumPy and Typer.
"""

from __future__ import annotations

import os
import sys


def run() -> None:
    """The program: `dlcalc ...`. Exits with dlcalc's exit code; Ctrl-C at any moment is a quiet 130."""
    # `_signal` (built in, loaded with the interpreter), not `signal`, whose import could itself
    # be interrupted. Until dlcalc.cli is imported, Ctrl-C ends the process at once and quietly:
    # nothing has been written yet, and a KeyboardInterrupt inside an import can surface as some
    # other error (NumPy turns it into an ImportError).
    import _signal

    _signal.signal(_signal.SIGINT, _interrupted)
    try:
        _standard_streams()
        from dlcalc.cli import main

        _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # main() takes it over
        main()
    except KeyboardInterrupt:  # between two of main's steps
        _quiet_exit(130)


def _interrupted(signum: int, frame: object) -> None:  # noqa: ARG001 - handler signature
    os._exit(130)


def _standard_streams() -> None:
    """Give each closed standard file descriptor (0, 1, 2) a placeholder.

    A program started with a stream closed (`dlcalc ... >&-`, some supervisors and cron) would
    otherwise hand that number to the next file it opens: a plot's temporary file could become
    "standard output". The placeholder is /dev/null opened read-only: reading stdin gives no
    input, and a write to stdout or stderr fails (EBADF), which dlcalc reports as output that
    cannot be written (exit 1) instead of losing it silently.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            placeholder = os.open(os.devnull, os.O_RDONLY)
        except OSError:
            continue
        if placeholder != fd:
            os.dup2(placeholder, fd)
            os.close(placeholder)
        if getattr(sys, name) is None:
            mode = "r" if fd == 0 else "w"
            setattr(sys, name, open(fd, mode, encoding="utf-8", errors="backslashreplace",  # noqa: SIM115
                                    closefd=False))


def _quiet_exit(code: int) -> None:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError, KeyboardInterrupt):
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
