"""The two ways dlcalc talks back about a problem.

`DlcalcError` is the user's mistake (bad number, unknown function, invalid probability...):
the core and the parsers raise it with a message meant for the user, and the CLI turns it into
one `error: ...` line on stderr and exit code 2, in exactly one place (`dlcalc.cli.main`).

`NumericWarning` explains a result that is NaN or infinite (for example infinite logits of
equal sign). The core emits it with `warnings.warn`; the CLI prints each one once as a
`warning: ...` line on stderr. The core itself never prints.
"""


from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing only: importing dlcalc stays free of the typing module
    from typing import Any, Callable, TypeVar

    T = TypeVar("T")


class DlcalcError(ValueError):
    """A problem with the user's input; the message names the offending value.

    A ValueError, so library callers can catch it as the wrong-value error it is."""


class EnvironmentFailure(Exception):
    """A failure of the environment (an unwritable file, a full device): exit code 1."""


class NumericWarning(UserWarning):
    """Why a result is NaN or infinite."""


class PathWarning(UserWarning):
    """A file path that is probably not what the user meant (a literal `~` folder)."""


def quietly(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `function` with its warnings silenced: for a second computation (a derivation, a
    Jacobian) whose warnings the first one already gave."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)
