"""The Python API (`import dlcalc`): the CLI's numbers and messages, light import, typed, Jupyter."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dlcalc
from conftest import _run_in_process

ROOT = Path(__file__).resolve().parents[1]


def plain_numbers(*args: str) -> np.ndarray:
    run = _run_in_process(*args)
    assert run.code == 0, run.err
    return np.array([float(word) for word in run.out.split()])


# ---------------------------------------------------------------- the CLI's numbers, bit for bit


@pytest.mark.parametrize("name, params, cli_params", [
    ("sigmoid", {}, []),
    ("gelu", {}, []),
    ("leaky_relu", {"alpha": 0.1}, ["--alpha", "0.1"]),
    ("x*sigmoid(x)", {}, []),
])
@pytest.mark.parametrize("deriv", [False, True])
def test_activate_gives_the_cli_numbers(name, params, cli_params, deriv):
    x = [-3.0, -0.5, 0.0, 0.25, 2.0]
    got = dlcalc.activate(name, x, deriv=deriv, **params)
    expected = plain_numbers("activate", name, *map(repr, x), *cli_params, *(["--deriv"] if deriv else []))
    np.testing.assert_array_equal(got, expected)


def test_activate_against_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-4, 4, 33)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.silu(t)
    y.sum().backward()
    np.testing.assert_allclose(dlcalc.activate("silu", x), y.detach().numpy(), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(dlcalc.activate("silu", x, deriv=True), t.grad.numpy(), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("temperature", [1, 0.5, 3])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_gives_the_cli_numbers(temperature, log):
    z = [2.0, 1.0, 0.1, -1000.0]
    got = dlcalc.softmax(z, temperature=temperature, log=log)
    expected = plain_numbers("softmax", *map(repr, z), "-t", repr(float(temperature)), *(["--log"] if log else []))
    np.testing.assert_array_equal(got, expected)
    # and against a closed form computed independently
    shifted = (np.array(z) - max(z)) / temperature
    closed = shifted - math.log(np.exp(shifted).sum())
    np.testing.assert_allclose(got, closed if log else np.exp(closed), rtol=1e-14, atol=0)


def test_softmax_takes_a_batch_and_text():
    batch = dlcalc.softmax([[1, 2], [3, 3]])
    assert batch.shape == (2, 2)
    np.testing.assert_array_equal(batch[1], [0.5, 0.5])
    np.testing.assert_array_equal(dlcalc.softmax("2 1 0.1"), dlcalc.softmax([2, 1, 0.1]))


def test_cross_entropy_gives_the_cli_numbers_and_torchs():
    got = dlcalc.cross_entropy([2, 1, 0.1], target=0)
    assert float(got.loss) == plain_numbers("ce", "2", "1", "0.1", "--target", "0")[0]
    np.testing.assert_array_equal(got.grad, plain_numbers("ce", "2", "1", "0.1", "--target", "0", "--grad"))
    smooth = dlcalc.cross_entropy([2, 1, 0.1], target_probs=[0.7, 0.2, 0.1], label_smoothing=0.1)
    assert float(smooth.loss) == plain_numbers("ce", "2", "1", "0.1", "--target-probs", "0.7", "0.2", "0.1",
                                               "--label-smoothing", "0.1")[0]
    binary = dlcalc.cross_entropy([2, -1, 0.5], target=[1, 0, 1], binary=True)
    assert float(binary.loss) == plain_numbers("ce", "2", "-1", "0.5", "--binary", "--target", "1", "0", "1")[0]
    torch = pytest.importorskip("torch")
    expected = torch.nn.functional.cross_entropy(torch.tensor([[2, 1, 0.1]], dtype=torch.float64),
                                                 torch.tensor([0]))
    assert math.isclose(float(got.loss), float(expected), rel_tol=1e-15)


def test_kl_divergence_gives_the_cli_numbers_and_scipys():
    scipy_special = pytest.importorskip("scipy.special")
    p, q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
    got = dlcalc.kl_divergence(p, q)
    assert float(got.kl) == plain_numbers("kl", "0.7", "0.2", "0.1", "--q", "0.6", "0.3", "0.1")[0]
    assert math.isclose(float(got.kl), float(scipy_special.rel_entr(p, q).sum()), rel_tol=1e-14)
    both = dlcalc.kl_divergence([2, 1, 0.1], [0, 0, 0], logits=True, symmetric=True)
    assert both.js is not None and float(both.js) >= 0


def test_grad_gives_the_partials_and_their_values():
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        exact = float(1 + mpmath.cos(2))  # ∂/∂y of x²y + sin y at (1, 2), correctly rounded
    found = dlcalc.grad("x**2*y + sin(y)", at={"x": 1, "y": 2})
    assert found.variables == ("x", "y")
    assert found.values == {"x": 4.0, "y": exact}
    assert set(found.partials) == {"x", "y"}
    assert dlcalc.grad("x**2*y + sin(y)", at="x=1 y=2", wrt="y").values == {"y": exact}
    assert dlcalc.grad("exp(-x)").values is None
    assert "x" in str(dlcalc.grad("x**3"))


# ---------------------------------------------------------------- errors


def cli_error(*args: str) -> str:
    run = _run_in_process(*args)
    assert run.code == 2
    return run.err.strip().removeprefix("error: ")


def test_errors_are_dlcalc_errors_and_value_errors_with_the_cli_messages():
    assert issubclass(dlcalc.DlcalcError, ValueError)
    with pytest.raises(dlcalc.DlcalcError) as caught:
        dlcalc.activate("sigmoud", [1])
    assert str(caught.value) == cli_error("activate", "sigmoud", "1")
    with pytest.raises(ValueError) as caught:
        dlcalc.softmax([1, 2], temperature=0)
    assert str(caught.value) == cli_error("softmax", "1", "2", "-t", "0")
    with pytest.raises(dlcalc.DlcalcError) as caught:
        dlcalc.kl_divergence([0.5, 0.6], [0.5, 0.5])
    assert str(caught.value) == cli_error("kl", "0.5", "0.6", "--q", "0.5", "0.5")
    with pytest.raises(dlcalc.DlcalcError) as caught:
        dlcalc.grad("__import__('os')")
    assert str(caught.value) == cli_error("grad", "__import__('os')")


@pytest.mark.parametrize("bad", [[[1, 2], [3]], [1, [2, 3]], ["a", 1], [], None, {"a": 1}])
def test_ragged_or_non_numeric_input_is_a_dlcalc_error_not_numpys(bad):
    for call in (lambda: dlcalc.softmax(bad), lambda: dlcalc.activate("relu", bad),
                 lambda: dlcalc.cross_entropy(bad, target=0), lambda: dlcalc.kl_divergence(bad, [1])):
        with pytest.raises(dlcalc.DlcalcError):
            call()


def test_numeric_warnings_are_numeric_warnings():
    with pytest.warns(dlcalc.NumericWarning):
        result = dlcalc.softmax([float("inf"), float("inf")])
    assert np.isnan(result).all()


# ---------------------------------------------------------------- plots


def test_plot_returns_a_figure_that_jupyter_shows_inline(tmp_path):
    from matplotlib.figure import Figure

    figure = dlcalc.plot("sigmoid", "tanh", deriv=True, points=50)
    assert isinstance(figure, Figure)
    png = figure._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    ipython = pytest.importorskip("IPython.core.formatters")
    formatter = ipython.DisplayFormatter()
    data, _ = formatter.format(figure)
    assert data["image/png"].startswith(b"\x89PNG")
    # the file a user asks for is the CLI's file, byte for byte
    dlcalc.plot("sigmoid", "tanh", deriv=True, points=50, output=tmp_path / "api.png")
    run = _run_in_process("plot", "sigmoid", "tanh", "--deriv", "--points", "50", "-o", str(tmp_path / "cli.png"))
    assert run.code == 0, run.err
    assert (tmp_path / "api.png").read_bytes() == (tmp_path / "cli.png").read_bytes()


def test_plot_softmax_and_ce(tmp_path):
    assert dlcalc.plot("softmax", logits=[2, 1, 0.1], temperatures=[0.5, 1]).axes
    assert dlcalc.plot("ce").axes
    with pytest.raises(dlcalc.DlcalcError, match="plot of its own"):
        dlcalc.plot("softmax", "ce")


# ---------------------------------------------------------------- the package


def test_import_is_light_and_functions_load_on_first_use():
    code = ("import sys, dlcalc; heavy = ('numpy', 'sympy', 'matplotlib', 'typer', 'scipy');"
            "print([m for m in heavy if m in sys.modules]);"
            "dlcalc.softmax([1, 2]); dlcalc.activate('relu', [1]);"
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.splitlines()
    assert out == ["[]", "['numpy']"]


def test_dlcalc_softmax_is_the_function_after_every_module_is_imported():
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(dlcalc.__path__):
        if module.name != "__main__":
            importlib.import_module(f"dlcalc.{module.name}")
    for name in ("softmax", "activate", "cross_entropy", "kl_divergence", "grad", "plot"):
        assert callable(getattr(dlcalc, name)) and not isinstance(getattr(dlcalc, name), type(dlcalc)), name
    assert set(dlcalc.__all__) <= set(dir(dlcalc))


def test_py_typed_is_shipped():
    assert (ROOT / "dlcalc" / "py.typed").exists()
    assert 'dlcalc = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.long
def test_the_public_api_is_mypy_strict_clean(tmp_path):
    pytest.importorskip("mypy")
    user = tmp_path / "user.py"
    user.write_text("import dlcalc\nimport numpy as np\n"
                    "y: np.ndarray = dlcalc.softmax([2, 1, 0.1], temperature=2)\n"
                    "g = dlcalc.grad('x**2', at={'x': 1.0})\n"
                    "v: dict[str, float] | None = g.values\n"
                    "k = dlcalc.kl_divergence([0.5, 0.5], [0.9, 0.1]).kl\n")
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                          "--cache-dir", str(tmp_path / "cache"), str(ROOT / "dlcalc" / "api.py"),
                          str(ROOT / "dlcalc" / "__init__.py"), str(user)],
                         capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(ROOT)})
    assert run.returncode == 0, run.stdout + run.stderr


def test_main_returns_the_exit_code_in_process():
    from dlcalc.cli import main

    assert main(["softmax", "1", "2", "--json"]) == 0
    assert main(["softmax", "x"]) == 2
    assert main(["--version"]) == 0


# ---------------------------------------------------------------- the README's Python examples


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_python_api_examples_run_as_written(tmp_path, monkeypatch):
    blocks = readme_python_blocks()
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        # lines `>>> expr` / expected output pairs are checked like doctests; other code runs
        import doctest

        if ">>>" in block:
            test = doctest.DocTestParser().get_doctest(block, namespace, "README", "README.md", 0)
            runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
            runner.run(test, out=lambda text: pytest.fail(text))
            namespace.update(test.globs)
            assert runner.failures == 0
        else:
            exec(compile(block, "README.md", "exec"), namespace)  # the README's own code, not user text
