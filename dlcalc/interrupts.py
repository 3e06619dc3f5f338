"""Ctrl-C ends a batch between two lines of output, never inside one.

Python raises KeyboardInterrupt wherever the program happens to be: between the two writes of a
`print` (the text, then its newline), or inside the write of a large block, after the pipe took
only part of it. Either way the reader downstream gets a cut line. Here the standard streams are
wrapped so that the real stream only ever receives whole lines, each in one write during which a
first Ctrl-C is held back (the line is finished, then KeyboardInterrupt is raised); a second
Ctrl-C stops at once, so a consumer that stopped reading cannot make the program unstoppable.
Text after the last newline is held until its newline comes (or `finish` is called).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


#: Whether Ctrl-C arrived (once install() took SIGINT over): a KeyboardInterrupt raised inside an
#: import can reach the top as another error (NumPy makes it an ImportError), still an interrupt.
received = False


class _Guard:
    """A critical section for writes: SIGINT inside it is deferred to its end (once)."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False

    def on_sigint(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - handler signature
        global received
        received = True
        if self.depth and not self.pending:
            self.pending = True
            return
        raise KeyboardInterrupt

    def __enter__(self) -> None:
        self.depth += 1

    def __exit__(self, kind: Any, *_: Any) -> bool:
        self.depth -= 1
        if not self.depth and self.pending and kind is None:
            self.pending = False
            raise KeyboardInterrupt
        return False


class _Bytes:
    """The binary layer of a wrapped stream: each write is whole and guarded."""

    def __init__(self, buffer: Any, guard: _Guard):
        self._buffer = buffer
        self._guard = guard

    def write(self, data: bytes) -> int:
        # With PYTHONUNBUFFERED=1 this layer is the raw file, whose write may take only part of
        # the data (a signal arriving while a pipe is full): write the rest too.
        view = memoryview(data)
        with self._guard:
            while view:
                written = self._buffer.write(view)
                view = view[written if written is not None else 0:]
        return len(data)

    def flush(self) -> None:
        with self._guard:
            self._buffer.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._buffer, name)


class _WholeLines:
    """A text stream that hands the real one whole lines only, each in one guarded write."""

    def __init__(self, stream: Any, guard: _Guard):
        self._stream = stream
        self._guard = guard
        self._partial: list[str] = []
        buffer = getattr(stream, "buffer", None)
        self.buffer = None if buffer is None else _Bytes(buffer, guard)

    def write(self, text: str) -> int:
        head, newline, tail = text.rpartition("\n")
        if not newline:
            self._partial.append(text)
            return len(text)
        whole = "".join(self._partial) + head + newline
        self._partial = [tail] if tail else []
        with self._guard:
            self._stream.write(whole)
        return len(text)

    def flush(self) -> None:
        with self._guard:
            self._stream.flush()

    def finish(self) -> None:
        """Write what is left after the last newline (the normal end of the program)."""
        if self._partial:
            text, self._partial = "".join(self._partial), []
            with self._guard:
                self._stream.write(text)
        self.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install() -> bool:
    """Wrap sys.stdout and sys.stderr and take over SIGINT; False where that is not possible
    (not the main thread, no SIGINT)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False  # someone (a debugger, an embedding program) has its own handler
    guard = _Guard()
    try:
        signal.signal(signal.SIGINT, guard.on_sigint)
    except ValueError:  # not the main thread
        return False
    sys.stdout = _WholeLines(sys.stdout, guard)
    sys.stderr = _WholeLines(sys.stderr, guard)
    return True


def finish() -> None:
    """At a normal end: write any text still waiting for its newline."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _WholeLines):
            stream.finish()


def standard_streams() -> None:
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
