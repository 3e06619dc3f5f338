"""Numbers as text: the one place dlcalc turns a number into characters.

- `plain_number`: the shortest text that reads back as exactly the value in its dtype (plain,
  csv), and `plain_lines`, the same for a whole float64 matrix at C speed (batch mode);
- `people_number`: `precision` significant digits (tables, Markdown, derivations);
- `latex_number`: the same in LaTeX (`2.5 \\times 10^{-7}`, `\\infty`, `\\mathrm{NaN}`);
- `json_ready` / `dumps_json`: strict RFC 8259 JSON, non-finite numbers as strings.

A leaf module: the core (derivations) and the output layer both use it; it imports neither.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np


def _not_a_float(value: Any, yes: str, no: str) -> str | None:
    """The text of anything but a finite float (strings, booleans, integers, inf, nan)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return yes if value else no
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return None


def plain_number(value: Any, dtype: str = "float64") -> str:
    """Shortest text that reads back as exactly `value` in `dtype`; integers without `.0`."""
    special = _not_a_float(value, "true", "false")
    if special is not None:
        return special
    number = float(value)
    text = _float32_repr(number) if dtype == "float32" else repr(number)
    return text[:-2] if text.endswith(".0") else text


def plain_lines(matrix: np.ndarray) -> bytes | None:
    """Each row of a float64 matrix as one line of plain output, at C speed; None to decline.

    The bytes are exactly what `render_plain` gives for each row (numbers by `plain_number`,
    single spaces, a newline after every row). orjson writes each float with the shortest
    digits that round-trip, as repr does; only the layout differs, and is fixed here:
    - repr's exponent form (nonzero below 1e-4 in magnitude, or from 1e16 on): orjson writes it
      too below 1e-5 and from 1e16 on, with a shorter exponent (`1e-7`, `1.5e16` for repr's
      `1e-07`, `1.5e+16`), which `_repr_exponents` rewrites; in [1e-5, 1e-4) it writes the
      number positionally, so those are written by repr itself, spliced in where orjson wrote
      a placeholder (`null`, for NaN). Should an orjson version write other numbers in
      exponent form, repr rewrites every number orjson wrote so (slower, as exact);
    - integers: orjson writes `2.0` and `-0.0`, plain_number `2` and `-0`. A few are spliced
      too; when they are many (a ReLU's zeros), every `.0` before a separator is dropped.
    Declines non-finite values (JSON has no inf or nan) and matrices that are not 2-D float64.
    """
    dumps = _orjson_dumps()
    if not dumps or not isinstance(matrix, np.ndarray) or matrix.dtype != np.float64 \
            or matrix.ndim != 2 or matrix.shape[1] == 0:
        return None
    if matrix.shape[0] == 0:
        return b""
    if not np.isfinite(matrix).all():
        return None
    size = np.abs(matrix)
    exponent_form = ((size < 1e-4) & (size > 0)) | (size >= 1e16)
    band = exponent_form & (size >= 1e-5) & (size < 1e-4)
    integral = (matrix == np.floor(matrix)) & ~exponent_form
    few_integers = np.count_nonzero(integral) * 16 <= matrix.size
    spliced = band | integral if few_integers else band
    text = _dumps_with_nulls(dumps, matrix, spliced)
    if b"e" in text:
        if text.count(b"e") == np.count_nonzero(exponent_form & ~band) and b".0e" not in text:
            text = _repr_exponents(text)
        else:  # not orjson's layout as we know it: repr rewrites each number in exponent form
            text = _EXPONENT.sub(_as_repr, text)
    if spliced.any():  # finite floats: plain_number's text is repr's, minus the .0 of an integer
        shown = zip(matrix[spliced].tolist(), integral[spliced].tolist())
        text = _splice_nulls(text, [b"%r" % x if not whole else (b"%r" % x)[:-2] for x, whole in shown])
    if not few_integers:  # orjson writes 2.0, we write 2
        text = text.replace(b".0,", b",").replace(b".0]", b"]")
    return b"\n".join(text[2:-2].split(b"],[")).replace(b",", b" ") + b"\n"


def _dumps_with_nulls(dumps: Any, matrix: np.ndarray, nulls: np.ndarray) -> bytes:
    """orjson's JSON of `matrix`, with `null` (NaN) where `nulls` is true."""
    if nulls.any():
        matrix = np.where(nulls, np.nan, matrix)
    return dumps(np.ascontiguousarray(matrix), option=_OPT_SERIALIZE_NUMPY)


def _repr_exponents(text: bytes) -> bytes:
    """orjson's exponents (`e-7`, `e16`, `e-300`) as repr writes them (`e-07`, `e+16`, `e-300`):
    a sign always, at least two digits."""
    pieces = text.split(b"e")
    for i in range(1, len(pieces)):
        piece = pieces[i]
        if piece[:1] == b"-":
            if not piece[2:3].isdigit():
                pieces[i] = b"-0" + piece[1:]
        else:
            digits = piece[1:] if piece[:1] == b"+" else piece
            pieces[i] = (b"+" if digits[1:2].isdigit() else b"+0") + digits
    return b"e".join(pieces)


# a number in exponent form in orjson's output (1e16, 2.5e-7; repr writes 1e+16, 2.5e-07)
_EXPONENT = re.compile(rb"(?<=[\[,])-?[0-9.]+e[-+]?[0-9]+(?=[,\]])")
_OPT_SERIALIZE_NUMPY = 0
_dumps: Any = None


def _splice_nulls(text: bytes, replacements: list[bytes]) -> bytes:
    """`text` (orjson's output, where the numbers it must not write were NaN) with its n-th
    `null` replaced by `replacements[n]`."""
    pieces = text.split(b"null")
    joined: list[bytes] = [b""] * (2 * len(pieces) - 1)
    joined[0::2] = pieces
    joined[1::2] = replacements
    return b"".join(joined)


def _as_repr(match: "re.Match[bytes]") -> bytes:
    return repr(float(match.group())).encode()


def _orjson_dumps() -> Any:
    global _dumps, _OPT_SERIALIZE_NUMPY
    if _dumps is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - orjson is a dependency; without it, repr
            _dumps = False
        else:
            _dumps, _OPT_SERIALIZE_NUMPY = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    return _dumps


def _float32_repr(number: float) -> str:
    """Like Python's repr, with the fewest digits that identify the float32 value."""
    with np.errstate(over="ignore"):  # beyond float32's range: inf (said as a warning elsewhere)
        value = np.float32(number)
    if not np.isfinite(value):
        return repr(float(value))
    if value == 0 or 1e-4 <= abs(value) < 1e16:
        return np.format_float_positional(value, unique=True, trim="-")
    return np.format_float_scientific(value, unique=True, trim="-", exp_digits=2)


def people_number(value: Any, precision: int) -> str:
    """`precision` significant digits, for tables, Markdown and derivations."""
    special = _not_a_float(value, "yes", "no")
    return special if special is not None else f"{float(value):.{precision}g}"


def json_ready(value: Any, dtype: str = "float64") -> Any:
    """Plain Python data that `json.dumps(allow_nan=False)` accepts, numbers exact."""
    if isinstance(value, dict):
        return {str(key): json_ready(item, dtype) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item, dtype) for item in value]
    if isinstance(value, np.ndarray):
        if not value.ndim:
            return json_ready(value.item(), dtype)
        if dtype == "float64" and value.dtype.kind in "iu" or (
                value.dtype == np.float64 and dtype == "float64" and np.isfinite(value).all()):
            return value.tolist()  # already exact JSON numbers: no walk over every element
        return [json_ready(item, dtype) for item in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if dtype == "float32" and math.isfinite(number):
            number = float(_float32_repr(number))  # a float64 result beyond float32's range is inf
        if not math.isfinite(number):
            return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")
        return number
    if value is None or isinstance(value, str):
        return value
    from dlcalc.steps import Step  # here: only derivations (--explain, --steps) carry steps

    if isinstance(value, Step):
        return value.as_dict()
    return str(value)


def dumps_json(data: dict[str, Any], dtype: str = "float64") -> str:
    import json  # here, not at the top: only the json format needs it

    return json.dumps(json_ready(data, dtype), allow_nan=False, ensure_ascii=False)


def json_number_rows(values: np.ndarray, dtype: str = "float64") -> list[bytes] | None:
    """The JSON text of each row of `values`, at C speed; None to decline.

    For a (rows,) array, each number; for a (rows, k) array, each row's numbers joined by ", "
    (without the brackets). Byte for byte what `dumps_json` writes for `values[row]` (or its
    list): integers as integers; floats as repr writes them, after rounding to float32's
    shortest digits in float32 (as `json_ready` does); inf, -inf and nan as the strings "inf",
    "-inf", "nan". As in `plain_lines`, orjson writes the floats repr writes positionally, and
    repr itself the others (exponent form, non-finite), spliced in where orjson wrote `null`.
    In float32 the float32 values are written by orjson (shortest float32 digits) and read back
    as float64, which is what `float(_float32_repr(x))` is. Declines arrays of other kinds or
    shapes.
    """
    dumps = _orjson_dumps()
    if not dumps or not isinstance(values, np.ndarray) or values.ndim not in (1, 2) \
            or 0 in values.shape:
        return None
    try:
        return _json_number_rows(values, dtype, dumps)
    except TypeError:  # orjson could not write it (JSONEncodeError is a TypeError)
        return None


def _json_number_rows(values: np.ndarray, dtype: str, dumps: Any) -> list[bytes] | None:
    kind = values.dtype.kind
    if kind in "iu" and values.dtype.itemsize <= 8:
        text = dumps(np.ascontiguousarray(values), option=_OPT_SERIALIZE_NUMPY)
    elif kind == "f" and values.dtype.itemsize <= 8:
        numbers = np.ascontiguousarray(values, dtype=np.float64)
        finite = np.isfinite(numbers)
        if dtype == "float32":
            numbers = _through_float32(numbers, finite)
            finite = np.isfinite(numbers)
        size = np.abs(numbers)
        special = ~finite | ((size < 1e-4) & (size > 0)) | (size >= 1e16)
        spliced = bool(special.any())
        text = dumps(np.where(special, np.nan, numbers) if spliced else numbers,
                     option=_OPT_SERIALIZE_NUMPY)
        if b"e" in text:  # not expected (orjson's positional range covers repr's): fix it anyway
            text = _EXPONENT.sub(_as_repr, text)
        if spliced:
            text = _splice_nulls(text, [_json_special(x) for x in numbers[special].tolist()])
    else:
        return None
    text = text.replace(b",", b", ")
    if values.ndim == 1:
        return text[1:-1].split(b", ")
    return text[2:-2].split(b"], [")


def _json_special(x: float) -> bytes:
    """What `dumps_json` writes for a float orjson does not write as repr does."""
    if math.isfinite(x):
        return repr(x).encode()
    return b'"nan"' if math.isnan(x) else (b'"inf"' if x > 0 else b'"-inf"')


def _through_float32(numbers: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Each finite float64 as `float(_float32_repr(x))`: rounded to float32 (inf beyond its
    range), written with float32's shortest digits by orjson, read back as float64."""
    import orjson

    with np.errstate(over="ignore"):
        single = np.where(finite, numbers, 0).astype(np.float32)
    beyond = np.isinf(single)
    if beyond.any():
        single[beyond] = 0
    back = np.array(orjson.loads(orjson.dumps(single, option=orjson.OPT_SERIALIZE_NUMPY)),
                    dtype=np.float64).reshape(numbers.shape)
    back[beyond] = np.copysign(np.inf, numbers[beyond])
    return np.where(finite, back, numbers)



def latex_text(text: str) -> str:
    """Words inside math mode: `\\text{...}` with LaTeX's special characters made harmless."""
    return r"\text{" + text.replace("\\", "/").replace("_", r"\_").replace("{", "(").replace("}", ")") \
        .replace("&", r"\&").replace("%", r"\%").replace("#", r"\#").replace("$", r"\$") + "}"


def latex_number(value: Any, precision: int) -> str:
    if isinstance(value, str):  # a setting named in words (an optimizer and its parameters)
        return latex_text(value)
    text = people_number(value, precision)
    if text in ("inf", "-inf"):
        return text.replace("inf", r"\infty")
    if text == "nan":
        return r"\mathrm{NaN}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


