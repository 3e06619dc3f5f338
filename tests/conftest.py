"""Running dlcalc as a user does: in-process through `main()` (fast) or as a real process."""

from __future__ import annotations

import functools
import io
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import settings

from dlcalc.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def words(self) -> list[str]:
        return self.out.split()


def _run_in_process(*args: str, stdin: bytes | str = b"", env: dict[str, str] | None = None) -> Run:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    fake_in = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    fake_out, fake_err = io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    saved_env = dict(os.environ)
    os.environ.update(env or {})
    sys.stdin, sys.stdout, sys.stderr = fake_in, fake_out, fake_err
    try:
        code = main([str(arg) for arg in args])
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        os.environ.clear()
        os.environ.update(saved_env)
    return Run(code, fake_out.getvalue(), fake_err.getvalue())


LONG_TESTS = os.environ.get("DLCALC_LONG_TESTS", "").strip().lower() in ("1", "true", "yes")

# Property tests: a modest number of examples by default, four times as many in the long run
# (DLCALC_LONG_TESTS=1, as CI runs it). No deadline: a loaded machine (two test workers, other
# jobs) makes any per-example time limit flaky, and no test here is about speed.
settings.register_profile("dlcalc", max_examples=25, deadline=None)
settings.register_profile("dlcalc-long", max_examples=100, deadline=None)
settings.load_profile("dlcalc-long" if LONG_TESTS else "dlcalc")


def read_terminal(master: int, process: subprocess.Popen) -> bytes:
    """Everything a child wrote to the pseudo-terminal whose master end is `master`, until it
    closed; then wait for the child and close the master."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed (Linux: EIO)
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(master)
    return b"".join(chunks)


@functools.cache
def bench_accuracy():
    """bench/accuracy.py as a module: its mpmath references of every registry function."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("dlcalc_bench_accuracy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def examples(n: int) -> int:
    """`max_examples` for a property test that asks for `n` in the long run: a quarter of it
    (at least 10) in the default run."""
    return n if LONG_TESTS else max(10, n // 4)


def pytest_collection_modifyitems(config, items):
    """Tests marked `long` (10^5-line batches, the mypy check) run only with DLCALC_LONG_TESTS=1,
    as CI runs them; the default suite stays a few minutes on two cores."""
    if LONG_TESTS:
        return
    skip = pytest.mark.skip(reason="long test: set DLCALC_LONG_TESTS=1 to run it (CI does)")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def dl():
    """`dl("softmax", "2", "1", stdin=...)` -> Run(code, out, err), stdout not a terminal."""
    return _run_in_process


def run_process(*args: str, stdin: bytes | str | None = b"", env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "dlcalc", *map(str, args)], input=data,
                          capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def dl_process():
    return run_process


def assert_user_error(run: Run, *fragments: str, code: int = 2) -> None:
    """One `error: ...` line naming what was wrong, the right exit code, no traceback."""
    assert run.code == code, (run.code, run.err)
    lines = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert lines, run.err
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert fragment in run.err, (fragment, run.err)


# ---------------------------------------------------------------- small helpers for the tests


def ulps(a: float, b) -> float:
    """Distance from a to the exact value b in units of the last place of float(b)."""
    b = float(b)
    if a == b:
        return 0.0
    return abs(a - b) / np.spacing(abs(b)) if b != 0 else math.inf


def floats(text: str) -> list[float]:
    return [float(word) for word in text.split()]


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity literals: RFC 8259 has none."""

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def fast_and_simple(args: list[str] | tuple[str, ...], stdin: bytes = b"") -> tuple[Run, Run]:
    """`dlcalc ARGS` on `stdin` run twice: on the fast batch path and on the line-by-line one."""
    from dlcalc import runner

    saved = runner.FAST
    try:
        runner.FAST = True
        fast = _run_in_process(*args, stdin=stdin)
        runner.FAST = False
        simple = _run_in_process(*args, stdin=stdin)
    finally:
        runner.FAST = saved
    return fast, simple


def on_both_batch_paths(args: list[str] | tuple[str, ...], stdin: bytes = b"") -> Run:
    """The run on the fast batch path, checked equal to the run on the line-by-line one."""
    fast, simple = fast_and_simple(args, stdin)
    assert (fast.code, fast.out, fast.err) == (simple.code, simple.out, simple.err)
    return fast


@pytest.fixture
def figures(monkeypatch):
    """The Figures a plot command saves, in order (the file is still written)."""
    from dlcalc import plotting

    saved = []
    original = plotting.save_figure

    def recording(fig, path):
        saved.append(fig)
        return original(fig, path)

    monkeypatch.setattr(plotting, "save_figure", recording)
    return saved
