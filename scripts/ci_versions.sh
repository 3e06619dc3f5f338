#!/bin/sh
# Run the test suite in a fresh virtual environment at the LOWEST versions pyproject.toml
# declares (every ">=X" pinned to "==X", runtime and test dependencies alike) or at the LATEST
# versions the package index offers.
#
#   scripts/ci_versions.sh lowest [pytest arguments...]
#   scripts/ci_versions.sh latest [pytest arguments...]
#
# Environment: PYTHON (the interpreter, default python3), DLCALC_VENV (where to build the
# environment, default .venv-lowest / .venv-latest in the checkout), DLCALC_LONG_TESTS (default 1:
# CI runs the long tests too), DLCALC_EXTRA_PACKAGES (also installed, e.g. "torch==2.13.0").
set -eu

mode=${1:-}
case "$mode" in
    lowest|latest) shift ;;
    *) echo "usage: $0 lowest|latest [pytest arguments...]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
venv=${DLCALC_VENV:-$root/.venv-$mode}

"$python" -m venv --clear "$venv"
pip="$venv/bin/python -m pip"
$pip install --quiet --upgrade pip

requirements=$("$venv/bin/python" - "$root/pyproject.toml" "$mode" <<'PY'
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
mode = sys.argv[2]
# The requirement strings of [project] dependencies and of the test extra: "name>=version".
block = text.split("[project]", 1)[1]
deps = re.search(r"^dependencies = \[(.*?)^\]", block, re.S | re.M).group(1)
test = re.search(r"^test = \[(.*?)\]", block, re.S | re.M).group(1)
for spec in re.findall(r'"([A-Za-z0-9_.-]+\s*>=\s*[^",;]+)"', deps + test):
    name, version = (part.strip() for part in spec.split(">="))
    print(f"{name}=={version}" if mode == "lowest" else name)
PY
)
echo "installing ($mode):" $requirements
# shellcheck disable=SC2086 - one requirement per word
$pip install --quiet --upgrade $requirements ${DLCALC_EXTRA_PACKAGES:-}
$pip list --format=freeze | grep -i -E '^(typer|click|numpy|sympy|matplotlib|orjson|pytest|pytest-xdist|execnet|hypothesis|mpmath|scipy)==' || true

cd "$root"
# dlcalc itself is used from the checkout (not installed): what is tested is what is here.
PYTHONPATH="$root" DLCALC_LONG_TESTS=${DLCALC_LONG_TESTS:-1} \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
