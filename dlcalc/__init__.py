"""dlcalc: the mathematics of deep learning on the command line, and as a Python library.

    >>> import dlcalc
    >>> dlcalc.softmax([2, 1, 0.1])            # doctest: +SKIP
    array([0.65900114, 0.24243297, 0.09856589])

The functions (see :mod:`dlcalc.api`) are loaded on first use, so ``import dlcalc`` itself
imports neither NumPy nor SymPy nor matplotlib: a script that only asks for ``__version__``,
and the command line's start-up, pay nothing for them.
"""

from __future__ import annotations

from dlcalc.errors import DlcalcError, NumericWarning

__version__ = "0.1.0"

__all__ = [
    "DlcalcError",
    "Gradient",
    "NumericWarning",
    "__version__",
    "activate",
    "cross_entropy",
    "grad",
    "kl_divergence",
    "plot",
    "softmax",
]

# Not `from typing import TYPE_CHECKING`: `import dlcalc` stays free of the typing module, and
# the console script's start (where Ctrl-C must be handled) as short as it can be.
TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ loads them on first use
    from dlcalc.api import (
        Gradient as Gradient,
        activate as activate,
        cross_entropy as cross_entropy,
        grad as grad,
        kl_divergence as kl_divergence,
        plot as plot,
        softmax as softmax,
    )

_API = frozenset({"Gradient", "activate", "cross_entropy", "grad", "kl_divergence", "plot", "softmax"})


def __getattr__(name: str) -> object:
    if name in _API:
        from dlcalc import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    raise AttributeError(f"module 'dlcalc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
