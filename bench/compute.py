"""Compute-only throughput of the registry functions and losses, against another checkout.

`python bench/compute.py --against /work/wt/base` times, in two child processes (one with
PYTHONPATH set to this checkout, one to the other), the numeric core a batch calls: each
function on 10^6 float64 elements (20 blocks of 5,000 lines × 10, the block size the batch
reader hands to the core: `batch.CHUNK_BYTES` of text is about 5,000 lines of 10 logits), so
the per-call limits (`rounding.MAX_EXACT`) act as they do in `dlcalc activate < file`.

Time is CPU time of the child (`time.process_time`), best of `--repeats` runs, so load from
other work on the shared machine inflates neither side much; the two checkouts alternate run by
run. Inputs are the same for both: x = 4·N(0, 1) with one element in 50 drawn from ±U(0, 1000)
(tails), logits the same, probabilities their softmax. Prints a table and the ratio
this/other; `--json` writes the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CASES = [
    "sigmoid", "sigmoid'", "tanh", "tanh'", "silu", "silu'", "mish", "mish'", "gelu", "gelu'",
    "softplus", "softplus'", "softmax", "ce", "kl",
]

CHILD = r"""
import json, sys, time
import numpy as np
from dlcalc import activations
try:
    from dlcalc import softmax_core as sm
except ImportError:
    from dlcalc import softmax as sm
from dlcalc import losses

cases, repeats, blocks, rows = json.loads(sys.argv[1])
rng = np.random.default_rng(10)
def inputs():
    x = 4.0 * rng.standard_normal((rows, 10))
    tail = rng.random((rows, 10)) < 0.02
    x[tail] = rng.uniform(-1000, 1000, tail.sum())
    return x
xs = [inputs() for _ in range(blocks)]
targets = [rng.integers(0, 10, rows) for _ in range(blocks)]
ps = [sm.softmax(np.clip(x, -30, 30)) for x in xs]
qs = [sm.softmax(np.clip(x[::-1], -30, 30)) for x in xs]

def job(case):
    if case == "softmax":
        return lambda i: sm.softmax(xs[i])
    if case == "ce":
        return lambda i: losses.cross_entropy(xs[i], target=targets[i]).grad
    if case == "kl":
        return lambda i: losses.kl_divergence(ps[i], qs[i]).kl
    name = case.rstrip("'")
    entry = activations.REGISTRY[name]
    f = entry.derivative if case.endswith("'") else entry.function
    return lambda i: f(xs[i])

out = {}
for case in cases:
    run = job(case)
    run(0)  # warm-up: imports (mpmath) and caches
    best = []
    for _ in range(repeats):
        t = time.process_time()
        for i in range(blocks):
            run(i)
        best.append(time.process_time() - t)
    out[case] = min(best)
print(json.dumps(out))
"""


def measure(checkout: Path, cases, repeats, blocks, rows) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    env.pop("DLCALC_FLOAT64_ONLY", None)
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps([cases, repeats, blocks, rows])],
                          env=env, capture_output=True, text=True, check=True, cwd=checkout)
    return json.loads(done.stdout)


END_TO_END = {
    "activate sigmoid": ["activate", "sigmoid"], "activate sigmoid --deriv": ["activate", "sigmoid", "--deriv"],
    "activate tanh": ["activate", "tanh"], "activate tanh --deriv": ["activate", "tanh", "--deriv"],
    "activate silu": ["activate", "silu"], "activate silu --deriv": ["activate", "silu", "--deriv"],
    "activate mish": ["activate", "mish"], "activate mish --deriv": ["activate", "mish", "--deriv"],
    "activate gelu": ["activate", "gelu"], "activate gelu --deriv": ["activate", "gelu", "--deriv"],
    "activate softplus": ["activate", "softplus"], "activate softplus --deriv": ["activate", "softplus", "--deriv"],
    "softmax": ["softmax"], "ce": ["ce"], "kl": ["kl"],
}


def end_to_end(checkouts: list[Path], lines: int, repeats: int, only: list[str]) -> list[str]:
    """Whole batch runs `python -m dlcalc <command> < file > /dev/null`, child CPU time
    (user + system from wait4), best of `repeats`, the checkouts alternating run by run."""
    import numpy as np
    import tempfile

    rng = np.random.default_rng(10)
    z = 4.0 * rng.standard_normal((lines, 10))
    tail = rng.random((lines, 10)) < 0.02
    z[tail] = rng.uniform(-1000, 1000, tail.sum())
    folder = Path(tempfile.mkdtemp(prefix="dlcalc-compute-"))
    plain, targeted, pairs = folder / "z.txt", folder / "zk.txt", folder / "pq.txt"
    np.savetxt(plain, z, fmt="%.17g")
    k = rng.integers(0, 10, lines)
    with open(targeted, "w") as f:
        for row, t in zip(np.loadtxt(plain, ndmin=2).tolist(), k):
            f.write(" ".join(repr(v) for v in row) + f" ; {t}\n")
    clipped = np.clip(z, -30, 30)  # P, Q: softmaxes of the logits and of their reverse, as CHILD's
    p = np.exp(clipped - clipped.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    with open(pairs, "w") as f:
        for a, b in zip(p.tolist(), p[:, ::-1].tolist()):
            f.write(" ".join(map(repr, a)) + " ; " + " ".join(map(repr, b)) + "\n")
    rows = [f"{lines:,} lines × 10 numbers (x = 4·N(0,1), 2% ±U(0,1000)), child CPU seconds, best of {repeats}",
            "", "| command | this | other | ratio this/other |", "|---|---:|---:|---:|"]
    for name in only:
        argv = END_TO_END.get(name)
        if argv is None:
            continue
        source = {"ce": targeted, "kl": pairs}.get(name, plain)
        best = [float("inf")] * len(checkouts)
        for _ in range(repeats):
            for index, checkout in enumerate(checkouts):
                env = dict(os.environ, PYTHONPATH=str(checkout))
                env.pop("DLCALC_FLOAT64_ONLY", None)
                with open(source, "rb") as fin:
                    process = subprocess.Popen([sys.executable, "-m", "dlcalc", *argv], stdin=fin,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                               env=env, cwd=checkout)
                    _, status, usage = os.wait4(process.pid, 0)
                if os.waitstatus_to_exitcode(status) != 0:
                    raise SystemExit(f"{checkout}: dlcalc {' '.join(argv)} failed")
                best[index] = min(best[index], usage.ru_utime + usage.ru_stime)
        rows.append(f"| `dlcalc {' '.join(argv)}` | {best[0]:.2f} | {best[1]:.2f} | **{best[0] / best[1]:.2f}x** |")
        print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="the other checkout (e.g. a worktree of f55cdb3)")
    parser.add_argument("--only", default=",".join(CASES))
    parser.add_argument("--repeats", type=int, default=3, help="runs per case in each child (best of)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating child runs per checkout")
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument("--batch-lines", type=int, default=0,
                        help="also time whole `dlcalc` batch runs on this many lines (e.g. 100000)")
    args = parser.parse_args()
    cases = args.only.split(",")
    this: dict[str, list[float]] = {c: [] for c in cases}
    other: dict[str, list[float]] = {c: [] for c in cases}
    for _ in range(args.rounds):
        for store, checkout in ((this, ROOT), (other, Path(args.against))):
            for case, seconds in measure(checkout, cases, args.repeats, args.blocks, args.rows).items():
                store[case].append(seconds)
    elements = args.blocks * args.rows * 10
    print(f"{elements:,} elements per case, CPU seconds, best of {args.repeats * args.rounds}")
    print("| case | this | other | ratio this/other |")
    print("|---|---:|---:|---:|")
    for case in cases:
        a, b = min(this[case]), min(other[case])
        print(f"| {case} | {a:.3f} | {b:.3f} | **{a / b:.2f}x** |")
    if args.batch_lines:
        names = [n for n in END_TO_END if n.replace("activate ", "").replace(" --deriv", "'") in cases]
        print("\n".join(end_to_end([ROOT, Path(args.against)], args.batch_lines, args.repeats, names)))
    if args.json:
        Path(args.json).write_text(json.dumps({"this": this, "other": other}, indent=1))


if __name__ == "__main__":
    main()
