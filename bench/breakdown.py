"""Where the time of `dlcalc softmax` goes: `python bench/breakdown.py LOGITS_FILE`.

A harness outside the product: it calls dlcalc's batch pieces on the file one stage at a time
with timers around each (the product has no timers in it), for

- the fast path: blocks read as dlcalc reads them, parsed by orjson (`batch.parse_block`), one
  `softmax_all` per block, formatted by `output.plain_lines`, written to /dev/null;
- the simple path (the fast path switched off) on the first 20,000 lines: the line-by-line
  parser, the same compute, one Report and `render_plain` per line;
- the NumPy one-liner's stages on the same lines: `np.loadtxt`, the softmax, `np.savetxt`;

and the start-up of a one-shot command split into the interpreter, NumPy + Typer, dlcalc's own
imports, the command's work, and the interpreter's teardown (which dlcalc skips). Prints
Markdown.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

SAMPLE_LINES = 20_000


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def fast_path(path: Path) -> tuple[dict[str, float], int]:
    from dlcalc import batch, output
    from dlcalc.softmax_core import softmax_all

    spent = dict.fromkeys(["read", "parse", "compute", "format", "write"], 0.0)
    lines = 0
    with open(path, "rb") as stream, open(os.devnull, "wb") as sink:
        blocks = batch.read_blocks(stream)
        while True:
            block, seconds = timed(next, blocks, None)
            spent["read"] += seconds
            if block is None:
                break
            chunk, seconds = timed(batch.parse_block, block)
            spent["parse"] += seconds
            for group in chunk.groups:
                lines += len(group.numbers)
                with warnings.catch_warnings(record=True):
                    result, seconds = timed(softmax_all, group.matrix().astype("float64"))
                spent["compute"] += seconds
                text, seconds = timed(output.plain_lines, result.softmax)
                spent["format"] += seconds
                _, seconds = timed(sink.write, text)
                spent["write"] += seconds
    return spent, lines


def simple_path(data: bytes) -> tuple[dict[str, float], int]:
    from dlcalc import batch, output, reports
    from dlcalc.softmax_core import softmax_all

    spent = dict.fromkeys(["read", "parse", "compute", "format", "write"], 0.0)
    block = batch.Block(1, data.rstrip(b"\n"), data.count(b"\n"))
    pairs, spent["read"] = timed(block.lines)
    chunk, spent["parse"] = timed(batch.parse_chunk, pairs)
    lines = 0
    sink = io.StringIO()
    for group in chunk.groups:
        lines += len(group.numbers)
        with warnings.catch_warnings(record=True):
            z, seconds = timed(lambda: group.matrix().astype("float64"))
            result, more = timed(softmax_all, z)
        spent["compute"] += seconds + more
        start = time.perf_counter()
        texts = [output.render_plain(reports.softmax_report(
            z[row], 1.0, result.softmax[row], result.log_softmax[row], result.logsumexp[row],
            log=False, jacobian=None, steps=())) for row in range(len(z))]
        spent["format"] += time.perf_counter() - start
        _, seconds = timed(lambda: [print(text, file=sink) for text in texts])
        spent["write"] += seconds
    return spent, lines


def numpy_path(data: bytes) -> tuple[dict[str, float], int]:
    spent = dict.fromkeys(["read", "parse", "compute", "format", "write"], 0.0)
    z, spent["parse"] = timed(np.loadtxt, io.BytesIO(data))

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p, spent["compute"] = timed(softmax, z)
    sink = io.StringIO()
    _, spent["format"] = timed(lambda: np.savetxt(sink, p, fmt="%.17g"))
    return spent, len(z)


def startup() -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    probe = """
import time, sys
t0 = time.perf_counter()
import numpy, typer
t1 = time.perf_counter()
import dlcalc.cli
t2 = time.perf_counter()
try:
    dlcalc.cli.main(["softmax", "2", "1", "0.1"])
except SystemExit:
    pass
t3 = time.perf_counter()
print(f"{t1 - t0} {t2 - t1} {t3 - t2}", file=sys.stderr)
"""
    parts: list[tuple[float, ...]] = []
    bare, floor, floor_exit = [], [], []

    def wall(argv: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    for _ in range(9):
        bare.append(wall([sys.executable, "-c", "pass"]))
        floor.append(wall([sys.executable, "-c", "import numpy, typer"]))
        floor_exit.append(wall([sys.executable, "-c", "import numpy, typer, os; os._exit(0)"]))
        result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        parts.append(tuple(float(x) for x in result.stderr.split()[-3:]))
    teardown = statistics.median(a - b for a, b in zip(floor, floor_exit)) * 1000
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    return [
        "| start-up piece | ms |", "|---|---:|",
        f"| interpreter (`python -c pass`, with this machine's site hooks) | {ms(bare):.0f} |",
        f"| NumPy + Typer imports (in-process timer) | {ms([p[0] for p in parts]):.0f} |",
        f"| dlcalc's own imports (in-process) | {ms([p[1] for p in parts]):.1f} |",
        f"| `softmax 2 1 0.1`: Typer builds the CLI, parses, computes, prints (in-process) | "
        f"{ms([p[2] for p in parts]):.1f} |",
        f"| interpreter teardown after `import numpy, typer` (the floor minus the floor ending in "
        f"os._exit, paired); dlcalc skips it | {teardown:.0f} |",
    ]


def in_process(path: Path, repeats: int) -> list[float]:
    """Seconds for `dlcalc softmax < path` run in this process (no interpreter start-up)."""
    import dlcalc.cli

    times = []
    for _ in range(repeats):
        saved = sys.stdin, sys.stdout
        with open(path, "rb") as source, open(os.devnull, "wb") as sink:
            sys.stdin = io.TextIOWrapper(source, encoding="utf-8")
            sys.stdout = io.TextIOWrapper(sink, encoding="utf-8")
            start = time.perf_counter()
            try:
                dlcalc.cli.main(["softmax"])
            except SystemExit:
                pass
            finally:
                sys.stdout.flush()
                times.append(time.perf_counter() - start)
                sys.stdin, sys.stdout = saved
    return times


def scaling(paths: list[Path]) -> None:
    """Per-line time of the batch path alone: (T(n lines) - T(1 line)) / n, in-process."""
    one = paths[0]
    print("| lines | in-process seconds | µs per line (minus the 1-line run) |")
    print("|---:|---:|---:|")
    per_line = []
    for path in paths[1:]:
        n = path.read_bytes().count(b"\n")
        repeats = 3 if n >= 10**6 else max(5, min(41, 4_000_000 // (n * 50)))
        pairs = []
        for _ in range(repeats):  # alternate: the 1-line run, then this file
            base = in_process(one, 1)[0]
            pairs.append((in_process(path, 1)[0], base))
        seconds = statistics.median(a for a, _ in pairs)
        net = statistics.median(a - b for a, b in pairs)
        per_line.append(net / n * 1e6)
        print(f"| {n:,} | {seconds:.4f} | {net / n * 1e6:.2f} |")
    spread = max(per_line) / min(per_line)
    print()
    print(f"SPREAD {spread:.3f}")


def main() -> None:
    if sys.argv[1] == "scaling":
        scaling([Path(p) for p in sys.argv[2:]])
        return
    path = Path(sys.argv[1])
    data = path.read_bytes()
    cut = -1
    for _ in range(SAMPLE_LINES):
        cut = data.find(b"\n", cut + 1)
        if cut < 0:
            cut = len(data) - 1
            break
    sample = data[:cut + 1]
    fast, fast_lines = fast_path(path)
    simple, simple_lines = simple_path(sample)
    numpy_, numpy_lines = numpy_path(sample)
    print(f"In-process, per line of 10 logits (fast path over all {fast_lines:,} lines of the "
          f"file; simple path and NumPy stages over the first {simple_lines:,}).")
    print()
    print("| stage | dlcalc fast path (µs/line) | dlcalc simple path (µs/line) | NumPy one-liner (µs/line) |")
    print("|---|---:|---:|---:|")
    for stage in fast:
        label = {"read": "read (blocks of whole lines)", "parse": "parse (numbers → float64 matrix)",
                 "compute": "compute (softmax)", "format": "format (shortest round-trip text)",
                 "write": "write (to /dev/null)"}[stage]
        numpy_cell = "—" if stage in ("read", "write") else f"{numpy_[stage] / numpy_lines * 1e6:.2f}"
        if stage == "parse":
            label += "; NumPy: `loadtxt` reads and parses"
        if stage == "format":
            label += "; NumPy: `savetxt` formats and writes"
        print(f"| {label} | {fast[stage] / fast_lines * 1e6:.2f} | {simple[stage] / simple_lines * 1e6:.2f} | "
              f"{numpy_cell} |")
    print(f"| **total** | **{sum(fast.values()) / fast_lines * 1e6:.2f}** | "
          f"**{sum(simple.values()) / simple_lines * 1e6:.2f}** | **{sum(numpy_.values()) / numpy_lines * 1e6:.2f}** |")
    print()
    print("One-shot start-up, medians of 9 rounds:")
    print()
    for line in startup():
        print(line)


if __name__ == "__main__":
    main()
