"""The README is the user's manual: every example in it is run and its output compared."""

import importlib.util
import shutil
from pathlib import Path

import pytest

from dlcalc import exact

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "readme_examples.py"


def load():
    spec = importlib.util.spec_from_file_location("readme_examples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not exact.EXTENDED, reason="the README prints the x87 path's correctly rounded "
                    "digits; the float64 path (DLCALC_FLOAT64_ONLY=1) may differ in the last one")
def test_readme_examples_print_what_the_readme_says():
    """Every example; those piping into jq only where jq is installed (see the next test)."""
    readme = load()
    text = readme.README.read_text()
    assert text.count("```console") >= 10
    new = readme.rendered(text)
    if new != text:
        import difflib

        diff = "".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True), n=1))
        pytest.fail("README examples drifted (python scripts/readme_examples.py --update):\n" + diff[:4000])


@pytest.mark.skipif(shutil.which("jq") is None,
                    reason="the README examples piping into jq need jq (apt-get install jq; brew install jq)")
def test_readme_jq_examples_were_run_with_jq():
    readme = load()
    assert readme.jq_commands(readme.README.read_text())  # the recipes exist, and ran above


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_command():
    text = (SCRIPT.parent.parent / "README.md").read_text()
    assert "pip install . && dlcalc softmax 2 1 0.1" in text
    test_command = "pip install -e '.[test]' && python -m pytest"
    assert test_command in text
    assert test_command in (SCRIPT.parent.parent / ".ci" / "run").read_text()
