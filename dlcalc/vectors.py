"""Reading numbers and vectors as users type them.

A vector arrives as separate tokens (`2 1 0.1`), as one comma-separated token (`2,1,0.1`), as
a bracketed list (`[2, 1, 0.1]`, whether the shell keeps it in one token or splits it), or as
any mix of these. Numbers are integers, decimals, scientific notation and inf/-inf/nan in any
case. Anything else is a `DlcalcError` naming the token and what would be accepted.
"""

from __future__ import annotations

import math
import re

import numpy as np

from dlcalc.errors import DlcalcError

# Stricter than float(): no underscores ("1_000"), no "infinity", no embedded spaces.
# ASCII digits only: float() would also take full-width or Arabic-Indic ones.
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|nan)",
                     re.IGNORECASE | re.ASCII)
_SEPARATORS = re.compile(r"[,\s]+")

ACCEPTED = "a number such as 2, -0.5, 1e-3, inf, -inf or nan"


def parse_number(token: str, what: str = "number") -> float:
    """One number; `what` names it in the error (for example "--temperature")."""
    text = token.strip()
    if not _NUMBER.fullmatch(text):
        raise DlcalcError(f"cannot read {_quote(token)} as a {what}; expected {ACCEPTED}")
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise DlcalcError(f"{_quote(token)} is beyond the range of float64 (about ±1.8e308); "
                          "write inf or -inf for an infinity")
    return value


def split_vector_text(text: str) -> list[str]:
    """The number tokens of one vector written with spaces, tabs, commas and brackets."""
    body = text.strip()
    if body.startswith("["):
        body = body.rstrip(", \t")  # "[2, 1, 0.1]," is a row pasted from a list of lists
        if not body.endswith("]"):
            raise DlcalcError(f"unbalanced bracket in {_quote(text)}; write a list as [2, 1, 0.1]")
        body = body[1:-1]
    elif body.endswith("]"):
        raise DlcalcError(f"unbalanced bracket in {_quote(text)}; write a list as [2, 1, 0.1]")
    body = body.strip()
    if not body.strip(","):  # "," or "[,]": no number at all
        return []
    # A comma always stands between two numbers: ",1", "1,,2" and "1," each have an empty field.
    if body.startswith(",") or body.endswith(",") or re.search(r",\s*,", body):
        raise DlcalcError(f"empty element in {_quote(text)}: a comma stands between two numbers")
    return _SEPARATORS.split(body)


def parse_vector(tokens: list[str] | tuple[str, ...], what: str = "vector") -> np.ndarray:
    """A float64 vector from command-line tokens; an empty vector is an error."""
    words = split_vector_text(" ".join(tokens))
    if not words:
        raise DlcalcError(f"empty {what}: give at least one number, for example 2 1 0.1")
    return np.array([parse_number(word) for word in words], dtype=np.float64)


_RANGES = {"float64": "about ±1.8e308", "float32": "about ±3.4e38"}


def in_dtype(values: np.ndarray, dtype: str, what: str = "") -> np.ndarray:
    """`values` (float64) converted to `dtype`; a finite value beyond its range is an error.

    The conversion rounds to nearest, as NumPy's cast does, but a finite number that would
    become an infinity is refused with the number named, as `parse_number` refuses 1e309 in
    float64 (NumPy's own cast would warn on stderr and go on with inf). `.rows` on the error
    lists the rows (first axis of a matrix) holding such a number.
    """
    if values.dtype == np.dtype(dtype):
        return values
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        converted = values.astype(dtype)
    overflow = np.isinf(converted) & np.isfinite(values)
    if overflow.any():
        bad = values[overflow].flat[0]
        named = f"{what} {_quote(repr(float(bad)))}".lstrip()
        error = DlcalcError(f"{named} is beyond the range of {dtype} "
                            f"({_RANGES.get(dtype, 'its range')}); write inf or -inf for an infinity")
        if values.ndim == 2:
            error.rows = np.flatnonzero(overflow.any(axis=1)).tolist()  # type: ignore[attr-defined]
        raise error
    return converted


def number_in_dtype(value: float, dtype: str, what: str) -> float:
    """One setting (a parameter, a temperature) rounded to `dtype`, as the computation will see
    it: beyond its range, or a non-zero value that becomes 0 there, is an error naming `what`."""
    number = float(in_dtype(np.array([value]), dtype, what)[0])
    if number == 0 and value != 0:
        raise DlcalcError(f"{what} {value!r} is 0 in {dtype} (its smallest positive number is "
                          f"about {float(np.finfo(dtype).smallest_subnormal):.1e}); give a larger "
                          "magnitude or compute in float64")
    return number


def parameters_in_dtype(values: dict[str, float], dtype: str) -> dict[str, float]:
    """`-p` settings rounded to `dtype` (see `number_in_dtype`)."""
    return {name: number_in_dtype(value, dtype, f"the value of {name}")
            for name, value in values.items()}


def assignments_in_range(values: dict[str, float], dtype: str) -> dict[str, float]:
    """`--at` values checked against `dtype`'s range, as vectors are (not rounded to it: the
    symbolic work is done in float64)."""
    for name, value in values.items():
        in_dtype(np.array([value]), dtype, f"the value of {name}")
    return values


def parse_assignments(text: str, what: str = "--at") -> dict[str, float]:
    """`x=1,y=2` (or `x=1 y=2`) as a dict; used by `-p NAME=VALUE` and `grad --at`."""
    values: dict[str, float] = {}
    for item in _SEPARATORS.split(text.strip()):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DlcalcError(f"{what} takes NAME=VALUE pairs such as x=1; got {_quote(item)}")
        if name.strip() in values:  # x=1 x=2 is a typo, not "the last one wins"
            raise DlcalcError(f"{what} gives {name.strip()} twice; give each name once")
        values[name.strip()] = parse_number(value, f"value of {name.strip()}")
    if not values:
        raise DlcalcError(f"{what} takes NAME=VALUE pairs such as x=1")
    return values


def _quote(token: str, limit: int = 40) -> str:
    shown = token if len(token) <= limit else token[:limit] + "..."
    return repr(shown)
