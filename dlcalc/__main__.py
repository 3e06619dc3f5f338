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
    try:  # first: a Ctrl-C that lands before the handler below is in place is caught here
        import _signal

        _signal.signal(_signal.SIGINT, _interrupted)
        from dlcalc.interrupts import standard_streams

        standard_streams()
        from dlcalc.cli import main

        _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # main() takes it over
        main()
    except KeyboardInterrupt:  # between two of main's steps
        _quiet_exit(130)


def _interrupted(signum: int, frame: object) -> None:  # noqa: ARG001 - handler signature
    os._exit(130)


def _quiet_exit(code: int) -> None:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError, KeyboardInterrupt):
        pass
    os._exit(code)


# Armed at import too: the console script imports `run` and then calls it, and a Ctrl-C between
# the two would otherwise print Python's KeyboardInterrupt traceback. This module is only the
# program's entry (the API never imports it), so the handler is the program's from here on.
import _signal  # noqa: E402 - after the functions it installs

_signal.signal(_signal.SIGINT, _interrupted)

if __name__ == "__main__":
    run()
