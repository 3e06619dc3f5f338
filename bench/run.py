"""dlcalc against its floors, side by side, in one run: `python bench/run.py` (`--quick`: short).

What it measures (SPEC.md §8, issue #6), each figure a median over repeated runs in which the
commands alternate (round after round, in a shuffled order), so that a change of load on the
machine hits every command alike; ratios are medians of the per-round ratios:

1. one-shot latency of each command against its floor (starting Python with what the command
   cannot do without) and against the PyTorch one-liner a user would type instead (skipped
   without torch), with each child's peak RSS;
2. batch throughput: 1,000,000 lines of 10 logits on stdin through `dlcalc softmax`, `dlcalc ce`
   (with `; k` targets) and `dlcalc activate gelu`, against the NumPy one-liner
   `np.savetxt(sys.stdout, softmax(np.loadtxt(sys.stdin)), fmt="%.17g")`: seconds, MB/s of
   input, peak RSS, and a check that dlcalc's output round-trips exactly;
3. bad and warning lines (issue #15 item 4): a batch where 1 line in 7 is bad, or has an
   out-of-range `ce` target, or warns, against the clean batch; `--json` against plain; the peak
   RSS of a batch whose every line warns (`--lines`, default 10^6);
4. scaling: time against the number of lines (10^3 .. 10^6) and of columns (10 .. 10,000), and
   where the time of a line goes (bench/breakdown.py: read, parse, compute, format, write).

Children run with the environment a user's shell has: PYTHONDONTWRITEBYTECODE and
PYTHONUNBUFFERED (set by some sandboxes and CI images) are removed, and every command runs once
before timing so its bytecode is cached. The tables are printed and written to bench/RESULTS.md
with the machine they ran on and the load average seen during the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

FLOOR_NUMPY_TYPER = "import numpy, typer"
FLOOR_SYMPY = ("import sympy, numpy; x, y = sympy.symbols('x y'); f = x**2*y + sympy.sin(y); "
               "print([float(sympy.diff(f, v).subs({x: 1, y: 2})) for v in (x, y)])")
FLOOR_MATPLOTLIB = """
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
x = np.linspace(-6, 6, 1000)
s, t = 1 / (1 + np.exp(-x)), np.tanh(x)
fig = Figure(figsize=(10, 4.2), dpi=150, layout="constrained")
FigureCanvasAgg(fig)
left, right = fig.subplots(1, 2)
left.plot(x, s, label="sigmoid"); left.plot(x, t, label="tanh")
left.set_title("Sigmoid & Tanh"); left.legend(); left.grid(True)
right.plot(x, s * (1 - s), label="sigmoid'"); right.plot(x, 1 - t**2, label="tanh'")
right.set_title("Their Derivatives"); right.legend(); right.grid(True)
fig.savefig(OUT, dpi=150)
"""
TORCH_SOFTMAX = "import torch; print(torch.softmax(torch.tensor([2, 1, 0.1]), 0))"
TORCH_SIGMOID = "import torch; print(torch.sigmoid(torch.tensor([0.0])))"
TORCH_GRAD = ("import torch; x = torch.tensor(1., requires_grad=True); "
              "y = torch.tensor(2., requires_grad=True); "
              "(x**2*y + torch.sin(y)).backward(); print(x.grad, y.grad)")
TORCH_PLOT = FLOOR_MATPLOTLIB.replace("import numpy as np", "import numpy as np, torch").replace(
    "s, t = 1 / (1 + np.exp(-x)), np.tanh(x)",
    "xt = torch.linspace(-6, 6, 1000)\ns, t = torch.sigmoid(xt).numpy(), torch.tanh(xt).numpy()")
NUMPY_ONE_LINER = ("import sys, numpy as np; z = np.loadtxt(sys.stdin); e = np.exp(z - z.max(1, keepdims=True)); "
                   "np.savetxt(sys.stdout, e / e.sum(1, keepdims=True), fmt='%.17g')")


# ---------------------------------------------------------------- running a child


THIS_TREE = False  # --this-tree: children run this checkout's dlcalc (PYTHONPATH), not the installed one


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "DLCALC_DEBUG")}
    env.pop("PYTHONPATH", None)
    if THIS_TREE:
        env["PYTHONPATH"] = str(ROOT)
    return env


def dlcalc_command() -> list[str]:
    """The installed console script (the interpreter's own, not a shell shim), else -m."""
    script = Path(sysconfig.get_path("scripts")) / "dlcalc"
    if script.exists() and script.read_bytes()[:2] == b"#!" and b"python" in script.read_bytes()[:200]:
        return [str(script)]
    return [PY, "-m", "dlcalc"]


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    code: int
    cpu: float = float("nan")  # user + system seconds of the child (and of /usr/bin/time)


TIME = Path("/usr/bin/time")


def run(argv: list[str], stdin: Path | None = None, stdout: Path | None = None,
        cwd: Path | None = None) -> Sample:
    """Wall time from fork to exit, and the child's peak RSS.

    The peak RSS comes from /usr/bin/time (GNU time, `%M`): a child's ru_maxrss includes what it
    inherited at fork, so measured from this Python process (itself ~100 MB with NumPy and the
    inputs) every child would seem at least that big; /usr/bin/time forks from a few MB. Without
    it, wait4's figure is used and marked as an upper bound.
    """
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    fout = open(stdout, "wb") if stdout else subprocess.DEVNULL
    memory_file = None
    if TIME.exists():
        memory_file = tempfile.NamedTemporaryFile(prefix="dlcalc-bench-rss-", delete=False)
        memory_file.close()
        argv = [str(TIME), "-f", "%M", "-o", memory_file.name] + argv
    try:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL,
                                   env=child_env(), cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        for f in (fin, fout):
            if hasattr(f, "close"):
                f.close()
    rss = usage.ru_maxrss / 1024
    if memory_file is not None:
        try:
            rss = int(Path(memory_file.name).read_text().split()[-1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(memory_file.name)
    return Sample(seconds, rss, process.returncode, usage.ru_utime + usage.ru_stime)


@dataclass
class Case:
    name: str
    argv: list[str]
    stdin: Path | None = None
    stdout: Path | None = None
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def rss(self) -> float:
        return statistics.median(s.rss_mb for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)


class Load:
    """The load average seen during the run (other engineers share the machine)."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def note(self) -> None:
        self.seen.append(os.getloadavg()[0])

    def text(self) -> str:
        if not self.seen:
            return "n/a"
        return (f"1-min load average {min(self.seen):.2f} to {max(self.seen):.2f} "
                f"(median {statistics.median(self.seen):.2f}) on {os.cpu_count()} CPUs")


def rounds(cases: list[Case], repeats: int, load: Load, label: str) -> None:
    """Every case once per round, in a shuffled order, `repeats` rounds (after one warm-up)."""
    rng = random.Random(6)
    for case in cases:  # warm-up: bytecode caches, page cache, font caches
        sample = run(case.argv, case.stdin, case.stdout)
        if sample.code != 0:
            raise SystemExit(f"{case.name}: exit {sample.code}: {shlex.join(case.argv)}")
    for index in range(repeats):
        order = cases[:]
        rng.shuffle(order)
        load.note()
        for case in order:
            case.samples.append(run(case.argv, case.stdin, case.stdout))
        print(f"  {label}: round {index + 1}/{repeats} done", file=sys.stderr)


def paired_ratio(case: Case, base: Case) -> float:
    """Median over rounds of case/base, each pair measured in the same round."""
    return statistics.median(a.seconds / b.seconds for a, b in zip(case.samples, base.samples))


def paired_cpu_ratio(case: Case, base: Case) -> float:
    """As paired_ratio, of CPU time (user + system): less moved by other work on the machine."""
    return statistics.median(a.cpu / b.cpu for a, b in zip(case.samples, base.samples))


# ---------------------------------------------------------------- the machine


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("numpy", "typer", "orjson", "scipy", "sympy", "matplotlib", "torch"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = "absent"
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return [
        f"- CPU: {cpu}, nproc {os.cpu_count()}, memory {memory}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()} ({PY})",
        "- " + ", ".join(f"{name} {v}" for name, v in versions.items()),
        f"- dlcalc run as: `{shlex.join(dlcalc_command())}`",
    ]


# ---------------------------------------------------------------- input files


def write_matrix(path: Path, z: np.ndarray, targets: np.ndarray | None = None) -> None:
    """One line per row, numbers as repr writes them (what `dlcalc softmax` prints)."""
    with open(path, "wb") as f:
        for start in range(0, len(z), 50_000):
            block = z[start:start + 50_000].tolist()
            if targets is None:
                lines = [" ".join(map(repr, row)) for row in block]
            else:
                lines = [" ".join(map(repr, row)) + f" ; {k}"
                         for row, k in zip(block, targets[start:start + 50_000].tolist())]
            f.write(("\n".join(lines) + "\n").encode())


def make_inputs(folder: Path, lines: int, column_total: int) -> dict[str, Path]:
    rng = np.random.default_rng(2024)
    z = rng.standard_normal((lines, 10)) * 3
    files = {"z": folder / f"logits_{lines}x10.txt", "ce": folder / f"targets_{lines}x10.txt"}
    write_matrix(files["z"], z)
    write_matrix(files["ce"], z, rng.integers(0, 10, lines))
    data = files["z"].read_bytes()
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    for n in (10**3, 10**4, 10**5, 10**6):
        if n <= lines:
            files[f"lines{n}"] = folder / f"lines_{n}.txt"
            files[f"lines{n}"].write_bytes(data[:ends[n - 1] + 1])
    files["lines1"] = folder / "lines_1.txt"
    files["lines1"].write_bytes(data[:data.index(b"\n") + 1])
    for columns in (10, 100, 1000, 10000):
        rows = max(1, column_total // columns)
        path = folder / f"columns_{columns}.txt"
        write_matrix(path, rng.standard_normal((rows, columns)) * 3)
        files[f"columns{columns}"] = path
    return files


# ---------------------------------------------------------------- sections


def latency(repeats: int, load: Load, workdir: Path) -> tuple[list[str], list[dict]]:
    dl = dlcalc_command()
    torch = shutil.which(PY) and _has("torch")
    plot_out = workdir / "x.png"
    floor_plot = workdir / "floor.png"
    torch_plot = workdir / "torch.png"
    cases = {
        "numpy+typer": Case("python -c 'import numpy, typer'", [PY, "-c", FLOOR_NUMPY_TYPER]),
        "softmax": Case("dlcalc softmax 2 1 0.1", dl + ["softmax", "2", "1", "0.1"]),
        "sigmoid": Case("dlcalc activate sigmoid 0", dl + ["activate", "sigmoid", "0"]),
        "ce": Case("dlcalc ce 2 1 0.1 --target 0", dl + ["ce", "2", "1", "0.1", "--target", "0"]),
        "kl": Case("dlcalc kl 0.7 0.2 0.1 --q 0.6 0.3 0.1",
                   dl + ["kl", "0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.1"]),
        "gelu": Case("dlcalc activate gelu 0", dl + ["activate", "gelu", "0"]),
        "sympy": Case("python -c 'import sympy, numpy; diff ...'", [PY, "-c", FLOOR_SYMPY]),
        "grad": Case('dlcalc grad "x**2*y + sin(y)" --at x=1 y=2',
                     dl + ["grad", "x**2*y + sin(y)", "--at", "x=1", "y=2"]),
        "matplotlib": Case("python matplotlib script (2 panels, Agg)",
                           [PY, "-c", FLOOR_MATPLOTLIB.replace("OUT", repr(str(floor_plot)))]),
        "plot": Case("dlcalc plot sigmoid tanh --deriv -o x.png",
                     dl + ["plot", "sigmoid", "tanh", "--deriv", "-o", str(plot_out)]),
    }
    if torch:
        cases.update({
            "torch softmax": Case("python -c 'import torch; torch.softmax(...)'", [PY, "-c", TORCH_SOFTMAX]),
            "torch sigmoid": Case("python -c 'import torch; torch.sigmoid(...)'", [PY, "-c", TORCH_SIGMOID]),
            "torch grad": Case("python -c 'import torch; ... backward()'", [PY, "-c", TORCH_GRAD]),
            "torch plot": Case("python torch + matplotlib script",
                               [PY, "-c", TORCH_PLOT.replace("OUT", repr(str(torch_plot)))]),
        })
    rounds(list(cases.values()), repeats, load, "latency")
    c = cases
    rows = [
        ("softmax", "numpy+typer", 1.15, "torch softmax"),
        ("sigmoid", "numpy+typer", 1.15, "torch sigmoid"),
        ("ce", "numpy+typer", 1.15, "torch softmax"),
        ("kl", "numpy+typer", 1.15, "torch softmax"),
        ("gelu", "numpy+typer", 1.15, "torch sigmoid"),
        ("grad", "sympy", 1.3, "torch grad"),
        ("plot", "matplotlib", 1.15, "torch plot"),
    ]
    lines = ["| command | median | peak RSS | floor | floor median | ratio to floor (paired) | goal | "
             "PyTorch one-liner | ratio to PyTorch |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    records = []
    for key, floor, goal, torch_key in rows:
        case, base = c[key], c[floor]
        ratio = paired_ratio(case, base)
        torch_case = c.get(torch_key)
        torch_text = (f"{torch_case.seconds * 1000:.0f} ms, {torch_case.rss:.0f} MB" if torch_case
                      else "skipped (no torch)")
        torch_ratio = f"{paired_ratio(case, torch_case):.2f}x" if torch_case else "-"
        verdict = "meets" if ratio <= goal else "MISSES"
        lines.append(f"| `{case.name}` | {case.seconds * 1000:.0f} ms | {case.rss:.0f} MB | "
                     f"`{base.name}` | {base.seconds * 1000:.0f} ms | **{ratio:.2f}x** | "
                     f"≤ {goal}x ({verdict}) | {torch_text} | {torch_ratio} |")
        records.append({"command": case.name, "ratio": ratio, "goal": goal})
    interpreter = run([PY, "-c", "pass"])
    lines.append("")
    lines.append(f"Bare interpreter (`python -c pass`, this machine's site-packages): "
                 f"{interpreter.seconds * 1000:.0f} ms.")
    return lines, records


def descent(repeats: int, load: Load) -> tuple[list[str], list[dict]]:
    """The cost of `grad --descend`: 10,000 steps of each of two optimizers against one step,
    the same command otherwise (so start-up, SymPy and differentiating cancel out)."""
    dl = dlcalc_command()
    loss = ["grad", "(1-x)^2 + 100*(y-x^2)^2", "--at", "x=-1.2", "y=1.5", "--lr", "0.0005"]
    cases = {
        "one": Case("1 step (sgd)", dl + loss + ["--descend", "1"]),
        "sgd": Case("10,000 steps (sgd), last row printed", dl + loss + ["--descend", "10000", "--every", "10000"]),
        "adam": Case("10,000 steps (adam), last row printed",
                     dl + loss + ["--descend", "10000", "--every", "10000", "--optimizer", "adam"]),
    }
    rounds(list(cases.values()), repeats, load, "descent")
    base = cases["one"]
    lines = ["`dlcalc grad \"(1-x)^2 + 100*(y-x^2)^2\" --at x=-1.2 y=1.5 --descend N` (Rosenbrock):", "",
             "| run | median | minus the 1-step run (paired) |", "|---|---:|---:|"]
    records = []
    for key, case in cases.items():
        extra = statistics.median(a.seconds - b.seconds for a, b in zip(case.samples, base.samples))
        lines.append(f"| {case.name} | {case.seconds * 1000:.0f} ms | "
                     f"{'' if key == 'one' else f'{extra * 1000:.0f} ms'} |")
        records.append({"command": case.name, "extra": extra})
    worst = max(r["extra"] for r in records[1:])
    lines += ["", f"Goal: 10,000 steps add well under a second: {'meets' if worst < 0.5 else 'MISSES'} "
              f"(at most {worst * 1000:.0f} ms)."]
    return lines, records


def _has(module: str) -> bool:
    return subprocess.run([PY, "-c", f"import {module}"], capture_output=True,
                          env=child_env()).returncode == 0


def batch(files: dict[str, Path], repeats: int, load: Load, workdir: Path,
          lines_count: int) -> tuple[list[str], list[dict]]:
    dl = dlcalc_command()
    out = {name: workdir / f"out_{name}.txt" for name in ("numpy", "softmax", "ce", "gelu")}
    cases = {
        "numpy": Case("NumPy one-liner (loadtxt, stable softmax, savetxt %.17g)",
                      [PY, "-c", NUMPY_ONE_LINER], files["z"], out["numpy"]),
        "softmax": Case("dlcalc softmax", dl + ["softmax"], files["z"], out["softmax"]),
        "ce": Case("dlcalc ce (lines 'z ; k')", dl + ["ce"], files["ce"], out["ce"]),
        "gelu": Case("dlcalc activate gelu", dl + ["activate", "gelu"], files["z"], out["gelu"]),
    }
    rounds(list(cases.values()), repeats, load, "batch")
    size_mb = files["z"].stat().st_size / 1e6
    ce_mb = files["ce"].stat().st_size / 1e6
    base = cases["numpy"]
    lines = [f"{lines_count:,} lines × 10 logits ({size_mb:.0f} MB; {ce_mb:.0f} MB with `; k` targets), "
             "output to a file.", "",
             "| command | seconds | MB/s in | peak RSS | ratio to NumPy one-liner (paired) | ratio of medians |",
             "|---|---:|---:|---:|---:|---:|"]
    records = []
    for key, case in cases.items():
        mb = ce_mb if key == "ce" else size_mb
        ratio = paired_ratio(case, base)
        lines.append(f"| {case.name} | {case.seconds:.2f} | {mb / case.seconds:.1f} | "
                     f"{case.rss:.0f} MB | {ratio:.2f}x | {case.seconds / base.seconds:.2f}x |")
        records.append({"command": case.name, "ratio": ratio, "rss": case.rss})
    lines += ["", "Goal: `dlcalc softmax` ≤ 0.5x the one-liner's time with peak RSS ≤ 150 MB: "
              + ("meets" if records[1]["ratio"] <= 0.5 and records[1]["rss"] <= 150 else "MISSES")
              + f" ({records[1]['ratio']:.2f}x, {records[1]['rss']:.0f} MB)."]
    lines.append(round_trip_check(files["z"], out["softmax"]))
    return lines, records


def round_trip_check(source: Path, printed: Path) -> str:
    """Read dlcalc's printed softmax back and compare it bit for bit with softmax_all's values."""
    code = f"""
import numpy as np
from dlcalc.softmax_core import softmax_all
z = np.loadtxt({str(source)!r}, ndmin=2)
back = np.loadtxt({str(printed)!r}, ndmin=2)
exact = softmax_all(z).softmax
same = back.shape == exact.shape and back.tobytes() == exact.tobytes()
print("yes" if same else "NO", back.size)
"""
    result = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=child_env())
    words = result.stdout.split()
    if result.returncode != 0 or not words:
        return f"Round-trip check failed to run: {result.stderr.strip()[-300:]}"
    return (f"Round trip: reading dlcalc's output back gives softmax_all's float64 values bit for "
            f"bit: **{words[0]}** ({int(words[1]):,} numbers).")


def hostile(files: dict[str, Path], repeats: int, load: Load, workdir: Path,
            lines_count: int) -> tuple[list[str], list[dict]]:
    """Bad lines, out-of-range targets, warning lines and JSON output against the clean batch."""
    dl = dlcalc_command()
    clean, targets = files["z"], files["ce"]
    inputs = {"bad": workdir / "bad_1_in_7.txt", "badce": workdir / "bad_target_1_in_7.txt",
              "warn7": workdir / "warn_1_in_7.txt", "warn": workdir / "warn_every_line.txt"}
    for source, name, change in ((clean, "bad", lambda line: b"x" + line),
                                 (targets, "badce", lambda line: line.rsplit(b";", 1)[0] + b"; 99"),
                                 (clean, "warn7", lambda line: b"nan " + line),
                                 (clean, "warn", lambda line: b"nan " + line)):
        with open(source, "rb") as fin, open(inputs[name], "wb") as fout:
            for index, line in enumerate(fin):
                if name == "warn" or index % 7 == 0:
                    line = change(line.rstrip(b"\n")) + b"\n"
                fout.write(line)
    sink = workdir / "out_hostile.txt"
    cases = {
        "clean": Case("softmax, clean", dl + ["softmax"], clean, sink),
        "bad": Case("softmax, 1 line in 7 bad", dl + ["softmax"], inputs["bad"], sink),
        "warn7": Case("softmax, 1 line in 7 warns (nan)", dl + ["softmax"], inputs["warn7"], sink),
        "json": Case("softmax --json, clean", dl + ["softmax", "--json"], clean, sink),
        "ce": Case("ce, clean", dl + ["ce"], targets, sink),
        "badce": Case("ce, 1 target in 7 out of range", dl + ["ce"], inputs["badce"], sink),
        "jsonce": Case("ce --json, clean", dl + ["ce", "--json"], targets, sink),
        "gelu": Case("activate gelu, clean", dl + ["activate", "gelu"], clean, sink),
        "jsongelu": Case("activate gelu --json, clean", dl + ["activate", "gelu", "--json"], clean, sink),
        "warn": Case("softmax, every line warns", dl + ["softmax"], inputs["warn"], sink),
    }
    rng = random.Random(7)
    for index in range(repeats):  # as rounds(), but bad lines exit 2 by design
        order = list(cases.values())
        rng.shuffle(order)
        load.note()
        for case in order:
            case.samples.append(run(case.argv, case.stdin, case.stdout))
        print(f"  hostile: round {index + 1}/{repeats} done", file=sys.stderr)
    pairs = {"bad": "clean", "warn7": "clean", "json": "clean", "badce": "ce", "jsonce": "ce",
             "jsongelu": "gelu", "warn": "clean"}
    goals = {"bad": 1.5, "badce": 1.5, "json": 3.0, "jsonce": 3.0, "jsongelu": 3.0}
    lines = [f"{lines_count:,} lines × 10 logits, output to a file, stderr discarded. Goals are of "
             "the wall-clock ratio; the CPU-time (user + system) ratio moves less with load.", "",
             "| batch | seconds | CPU s | peak RSS | ratio to its clean batch (paired) | CPU ratio | goal |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    records = []
    for key, case in cases.items():
        if key in pairs:
            ratio = paired_ratio(case, cases[pairs[key]])
            cpu_ratio = paired_cpu_ratio(case, cases[pairs[key]])
            goal = goals.get(key)
            verdict = "" if goal is None else f"≤ {goal:g}x: {'meets' if ratio <= goal else 'MISSES'}"
            lines.append(f"| {case.name} | {case.seconds:.2f} | {case.cpu:.2f} | {case.rss:.0f} MB | "
                         f"{ratio:.2f}x | {cpu_ratio:.2f}x | {verdict} |")
        else:
            ratio = 1.0
            lines.append(f"| {case.name} | {case.seconds:.2f} | {case.cpu:.2f} | {case.rss:.0f} MB | "
                         "1 | 1 | |")
        records.append({"batch": case.name, "ratio": ratio, "rss": case.rss})
    lines += ["", f"Peak RSS of {lines_count:,} lines that each warn: {cases['warn'].rss:.0f} MB "
              f"(clean: {cases['clean'].rss:.0f} MB); repeated warnings are aggregated, so memory does "
              "not grow with their number."]
    return lines, records


def warn_peak(files: dict[str, Path], load: Load, workdir: Path, lines_count: int) -> list[str]:
    """The peak RSS of a batch whose every line warns, beside the clean batch: each run once
    (after a warm-up of one line), the short way to the figure `hostile` gives at full size."""
    dl = dlcalc_command()
    warn = workdir / "warn_every_line.txt"
    with open(files["z"], "rb") as fin, open(warn, "wb") as fout:
        for line in fin:
            fout.write(b"nan " + line)
    sink = workdir / "out_peak.txt"
    run(dl + ["softmax"], files["lines1"], sink)
    load.note()
    clean = run(dl + ["softmax"], files["z"], sink)
    load.note()
    warned = run(dl + ["softmax"], warn, sink)
    load.note()
    return [f"`dlcalc softmax` on {lines_count:,} lines × 10 logits, output to a file, stderr "
            "discarded; one run each.", "",
            "| batch | seconds | CPU s | peak RSS |", "|---|---:|---:|---:|",
            f"| clean | {clean.seconds:.2f} | {clean.cpu:.2f} | {clean.rss_mb:.0f} MB |",
            f"| every line warns (`nan` first) | {warned.seconds:.2f} | {warned.cpu:.2f} | "
            f"{warned.rss_mb:.0f} MB |"]


def scaling(files: dict[str, Path], repeats: int, load: Load) -> tuple[list[str], list[dict]]:
    dl = dlcalc_command()
    sizes = sorted(int(k[5:]) for k in files if k.startswith("lines") and k != "lines1")
    cases = {"start": Case("1 line", dl + ["softmax"], files["lines1"])}
    for n in sizes:
        cases[f"lines{n}"] = Case(f"{n:,} lines × 10", dl + ["softmax"], files[f"lines{n}"])
    for columns in (10, 100, 1000, 10000):
        cases[f"columns{columns}"] = Case(f"columns {columns}", dl + ["softmax"], files[f"columns{columns}"])
    rounds(list(cases.values()), repeats, load, "scaling")
    start = cases["start"]
    lines = ["Whole runs (`dlcalc softmax < file`, wall clock, start-up included):", "",
             "| input | seconds | µs per line |", "|---|---:|---:|",
             f"| 1 line (start-up) | {start.seconds:.3f} | |"]
    for n in sizes:
        case = cases[f"lines{n}"]
        lines.append(f"| {case.name} | {case.seconds:.3f} | {case.seconds / n * 1e6:.2f} |")
    lines += ["", "The batch path alone (in-process, bench/breakdown.py: each run minus a 1-line run "
              "paired with it, so start-up and Typer are out):", ""]
    result = subprocess.run([PY, str(HERE / "breakdown.py"), "scaling", str(files["lines1"])]
                            + [str(files[f"lines{n}"]) for n in sizes],
                            capture_output=True, text=True, env=child_env(), cwd=ROOT)
    spread = float("nan")
    for line in result.stdout.splitlines():
        if line.startswith("SPREAD"):
            spread = float(line.split()[1])
        else:
            lines.append(line)
    if result.returncode != 0:
        lines.append(f"(in-process scaling failed: {result.stderr.strip()[-300:]})")
    while lines and not lines[-1].strip():
        lines.pop()
    lines += ["", f"Time per line varies by **{spread:.2f}x** from {sizes[0]:,} to {sizes[-1]:,} lines "
              f"(goal ≤ 1.5x: {'meets' if spread <= 1.5 else 'MISSES'}).",
              "", "Columns (same total of numbers, whole runs):", "",
              "| columns × lines | seconds | ns per number (minus the 1-line run) |", "|---|---:|---:|"]
    for columns in (10, 100, 1000, 10000):
        case = cases[f"columns{columns}"]
        rows = files[f"columns{columns}"].read_bytes().count(b"\n")
        net = statistics.median(a.seconds - b.seconds for a, b in zip(case.samples, start.samples))
        lines.append(f"| {columns:,} × {rows:,} | {case.seconds:.3f} | {net / (rows * columns) * 1e9:.0f} |")
    return lines, [{"spread": spread}]


def breakdown(files: dict[str, Path], key: str) -> list[str]:
    result = subprocess.run([PY, str(HERE / "breakdown.py"), str(files[key])], capture_output=True,
                            text=True, env=child_env(), cwd=ROOT)
    if result.returncode != 0:
        return [f"breakdown failed: {result.stderr.strip()[-500:]}"]
    return result.stdout.rstrip("\n").splitlines()


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 lines and fewer rounds (a few minutes)")
    parser.add_argument("--repeats", type=int, help="rounds of one-shot runs (default 21, quick 7)")
    parser.add_argument("--lines", type=int, help="lines of the batch input (default 1,000,000)")
    parser.add_argument("--only", default="latency,descent,batch,hostile,scaling,breakdown",
                        help="comma-separated sections to run (also warnpeak: the peak RSS of a "
                             "batch whose every line warns alone, one run)")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="Markdown file to write")
    parser.add_argument("--this-tree", action="store_true",
                        help="run this checkout's dlcalc (PYTHONPATH) instead of the installed one")
    args = parser.parse_args()
    global THIS_TREE
    THIS_TREE = args.this_tree
    repeats = args.repeats or (7 if args.quick else 21)
    batch_repeats = 3 if args.quick else 5
    lines_count = args.lines or (100_000 if args.quick else 1_000_000)
    sections = set(args.only.split(","))
    load = Load()
    load.note()
    began = time.time()
    report = ["# dlcalc benchmark", "",
              f"`python bench/run.py{' --quick' if args.quick else ''}` on "
              f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(began))}.", "", "## Machine", ""]
    report += machine()
    with tempfile.TemporaryDirectory(prefix="dlcalc-bench-") as tmp:
        workdir = Path(tmp)
        files = {}
        if sections & {"batch", "hostile", "warnpeak", "scaling", "breakdown"}:
            print(f"writing inputs ({lines_count:,} lines) to {workdir} ...", file=sys.stderr)
            files = make_inputs(workdir, lines_count, 100_000 if args.quick else 1_000_000)
        if "latency" in sections:
            lines, _ = latency(repeats, load, workdir)
            report += ["", "## One-shot latency", "",
                       f"Medians of {repeats} rounds; ratios are medians of per-round ratios.", ""] + lines
        if "descent" in sections:
            lines, _ = descent(repeats, load)
            report += ["", "## Gradient descent", "", f"Medians of {repeats} rounds.", ""] + lines
        if "batch" in sections:
            lines, _ = batch(files, batch_repeats, load, workdir, lines_count)
            report += ["", "## Batch throughput and memory", "", f"Medians of {batch_repeats} rounds.", ""] + lines
        if "hostile" in sections:
            lines, _ = hostile(files, batch_repeats, load, workdir, lines_count)
            report += ["", "## Bad lines, warning lines and JSON", "",
                       f"Medians of {batch_repeats} rounds; ratios are medians of per-round ratios.", ""] + lines
        if "warnpeak" in sections:
            report += ["", "## Peak memory of a batch whose every line warns", ""] + \
                warn_peak(files, load, workdir, lines_count)
        if "scaling" in sections:
            lines, _ = scaling(files, batch_repeats, load)
            report += ["", "## Scaling", "", f"`dlcalc softmax`, medians of {batch_repeats} rounds.", ""] + lines
        if "breakdown" in sections:
            key = "lines100000" if "lines100000" in files else "z"
            report += ["", "## Where the time goes", ""] + breakdown(files, key)
    load.note()
    report += ["", "## Load", "",
               f"{load.text()}; the run took {time.time() - began:.0f} s. Other work shares this "
               "machine, so absolute times move with it; the paired ratios move much less.", ""]
    text = "\n".join(report)
    print(text)
    target = Path(args.results)
    if target.exists() and "\n## Accuracy\n" in target.read_text():  # bench/accuracy.py's section
        text = text.rstrip("\n") + "\n\n## Accuracy\n" + target.read_text().split("\n## Accuracy\n", 1)[1]
    target.write_text(text)
    print(f"\nwritten to {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
