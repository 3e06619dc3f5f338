"""`dlcalc activate --props`: the notes' comparison table of activations (output range,
zero-centring, maximum derivative, saturation zones), computed from a registry entry's function
and derivative. Loaded only when properties are asked for."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from dlcalc.activations import Activation, bind_parameters, kink_points
from dlcalc.errors import DlcalcError
from dlcalc.number_text import people_number



def _number_text(value: float) -> str:
    """An interval's end as the table shows it: 6 digits, a real minus sign, ∞."""
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    return people_number(value, 6).replace("-", "−")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    low_closed: bool
    high_closed: bool

    @property
    def is_point(self) -> bool:
        return self.low == self.high

    def text(self) -> str:
        """Interval notation: "(0, 1)", "[0, ∞)"; a point as "x = 0" (or "x → ∞")."""
        if self.is_point:
            if math.isinf(self.low):
                return f"x → {_number_text(self.low)}"
            return f"x = {_number_text(self.low)}"
        left = "[" if self.low_closed else "("
        right = "]" if self.high_closed else ")"
        return f"{left}{_number_text(self.low)}, {_number_text(self.high)}{right}"

    def condition_text(self) -> str:
        """As a condition on x: "x > 0", "x ≤ −1", "−1 < x < 1", "x = 0"."""
        if self.is_point:
            return self.text()
        low_op = "≤" if self.low_closed else "<"
        high_op = "≤" if self.high_closed else "<"
        if math.isinf(self.low) and math.isinf(self.high):
            return "all x"
        if math.isinf(self.low):
            return f"x {high_op} {_number_text(self.high)}"
        if math.isinf(self.high):
            return f"x {'≥' if self.low_closed else '>'} {_number_text(self.low)}"
        return f"{_number_text(self.low)} {low_op} x {high_op} {_number_text(self.high)}"

    def as_dict(self) -> dict:
        return {
            "low": float(self.low),
            "high": float(self.high),
            "low_closed": bool(self.low_closed),
            "high_closed": bool(self.high_closed),
            "text": self.text(),
        }


@dataclass(frozen=True)
class Properties:
    name: str
    output_range: Interval
    zero_centred: str  # "yes" (f is odd), "partly" (f takes negative values), "no"
    max_derivative: float
    max_derivative_at: Interval  # the first place where f' reaches its maximum
    saturation: tuple[Interval, ...]  # tails where |f'| < ratio·max|f'| out to ±∞, 2 decimals
    saturation_ratio: float
    params: dict = field(default_factory=dict)
    max_derivative_where: tuple[Interval, ...] = ()  # every place (softshrink has two)

    def as_dict(self) -> dict:
        return {
            "function": self.name,
            "params": dict(self.params),
            "output_range": self.output_range.as_dict(),
            "zero_centred": self.zero_centred,
            "max_derivative": float(self.max_derivative),
            "max_derivative_at": self.max_derivative_at.as_dict(),
            "max_derivative_where": [i.as_dict() for i in self.max_derivative_where],
            "saturation": [i.as_dict() for i in self.saturation],
            "saturation_ratio": float(self.saturation_ratio),
        }


def _zero_centring(f, grid, limits, low) -> str:
    """"yes" if f is odd (to rounding, on the grid and at ±∞), "partly" if f takes negative
    values, "no" otherwise."""
    if low >= 0.0:
        return "no"
    with np.errstate(all="ignore"):
        right, left = f(grid), f(-grid)
    scale = np.maximum(np.abs(right), np.abs(left))
    odd = (np.all(np.abs(right + left) <= 1e-12 * scale)
           and (limits[0] == -limits[1]))
    return "yes" if odd else "partly"


_FAR = 1e150  # "x → ±∞" for limits: beyond every kink and overflow-free in every function


def _limit(f, sign: float) -> float:
    value = float(f(np.array([sign * _FAR]))[0])
    if abs(value) > 1e100:
        # huge: unbounded if it still grows further out (x, x²), else a huge constant (1e300)
        further = float(f(np.array([sign * _FAR * 1e150]))[0])
        if not math.isfinite(further) or abs(further) > abs(value):
            return math.copysign(math.inf, value)
        return value
    if abs(value) < 1e-100:
        return 0.0
    return value


def _golden_section(g, a: float, b: float, iterations: int = 80) -> float:
    """The x in [a, b] maximising a unimodal g."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    gc, gd = g(c), g(d)
    for _ in range(iterations):
        if gc >= gd:
            b, d, gd = d, c, gc
            c = b - ratio * (b - a)
            gc = g(c)
        else:
            a, c, gc = c, d, gd
            d = a + ratio * (b - a)
            gd = g(d)
    return (a + b) / 2.0


def _bisect(predicate, outside: float, inside: float, iterations: int = 80) -> float:
    """The boundary between a point where predicate is False and one where it is True."""
    for _ in range(iterations):
        middle = (outside + inside) / 2.0
        if middle in (outside, inside):
            break
        if predicate(middle):
            inside = middle
        else:
            outside = middle
    return (outside + inside) / 2.0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True in mask."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e) - 1) for s, e in zip(changes[::2], changes[1::2])]


def _region(grid, first, last, predicate, kinks, round_to=None) -> Interval:
    """The interval covered by a run grid[first..last] where predicate holds, ends refined.

    An end at a kink is closed iff the predicate holds there; elsewhere the end is a crossing
    found by bisection, where the strict predicate fails, so it is open. Runs touching the
    grid's edge extend to ±∞.
    """

    def end(outside, inside):
        between = [k for k in kinks if min(outside, inside) <= k <= max(outside, inside)]
        if between:
            k = between[0]
            return k, bool(predicate(k))
        return _bisect(predicate, outside, inside), False

    if first == 0:
        low, low_closed = -math.inf, False
    else:
        low, low_closed = end(grid[first - 1], grid[first])
    if last == len(grid) - 1:
        high, high_closed = math.inf, False
    else:
        high, high_closed = end(grid[last + 1], grid[last])
    if round_to is not None:
        low, high = (v if math.isinf(v) else round(v, round_to) for v in (low, high))
    return Interval(float(low), float(high), low_closed, high_closed)


def properties(
    activation: Activation, params: Mapping[str, float], saturation: float = 0.01
) -> Properties:
    """Output range, zero-centring, maximum derivative and saturation zones, computed.

    Method: f and f' on a fine grid over [−L, L] (L ≥ 20 and beyond every kink), limits at ±∞
    from x = ±1e150, interior extrema refined by golden section, saturation boundaries by
    bisection (or at a kink). A bound reached only as x → ±∞ is open (tanh(20) rounds to 1.0,
    but tanh'(20) > 0, so 1 is not attained); a bound attained where f' = 0 on a flat piece
    (relu's 0) or at an interior extremum (mish's minimum) is closed.

    Zero-centred: "yes" when f is odd (f(−x) = −f(x), so its outputs are balanced around 0 for
    inputs balanced around 0: tanh, softsign, hardtanh), "partly" when f takes negative values
    but is not odd (elu, gelu, silu, leaky_relu: outputs reach below 0, but less far than above),
    "no" when f is never negative (sigmoid, relu, softplus).

    Saturation: a tail (−∞, a) or (b, ∞) on which |f'(x)| < ratio·max|f'| all the way out to
    ±∞, where gradients vanish for good. Places inside the line where f' passes through 0 (the
    minimum of gelu, silu, mish, hardswish) or dead zones between two live parts (softshrink's
    [−λ, λ]) are not saturation: the gradient grows again on both sides.
    Ranges are reported as one interval (threshold with value < 0 is really {v} ∪ (t, ∞)).
    """
    if not 0 < saturation < 1:
        raise DlcalcError(f"saturation ratio must be between 0 and 1, got {saturation:g}")
    bound = bind_parameters(activation, params)

    def f(x):
        return activation.function(np.asarray(x, dtype=np.float64), **bound)

    def df(x):
        return activation.derivative(np.asarray(x, dtype=np.float64), **bound)

    def f1(x):
        return float(f(np.array([x]))[0])

    def df1(x):
        return float(df(np.array([x]))[0])

    kinks = sorted(set(kink_points(activation, bound)))
    span = max([20.0] + [2.0 * abs(k) + 1.0 for k in kinks])
    grid = np.union1d(np.linspace(-span, span, 40001), np.array(kinks + [0.0]))
    with np.errstate(all="ignore"):
        values, slopes = f(grid), df(grid)
    undefined = ~(np.isfinite(values) & np.isfinite(slopes))
    if undefined.any():  # a pole or a gap (1/x, log(x)): range and saturation make no sense
        where = float(grid[np.argmax(undefined)])
        raise DlcalcError(f"--props needs a function that is finite on the whole real line; "
                          f"{activation.name} is not (at x = {where:g})")
    limits = (_limit(f, -1.0), _limit(f, 1.0))

    def bound_of_range(sign: float) -> tuple[float, bool]:
        # sign = −1 for the lower bound, +1 for the upper one (work on sign·f, find its max).
        signed = sign * values
        i = int(np.argmax(signed))
        best, limit = signed[i], max(sign * limits[0], sign * limits[1])
        if best > limit:  # an interior extremum: attained; refine it
            if values[i] == values[max(i - 1, 0)] or values[i] == values[min(i + 1, len(grid) - 1)]:
                return sign * best, True
            lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
            x_best = _golden_section(lambda x: sign * f1(x), lo, hi)
            return sign * max(best, sign * f1(x_best)), True
        if best == limit and slopes[i] == 0:  # the limit value is taken on a flat piece
            return sign * best, True
        return sign * limit, False

    low, low_closed = bound_of_range(-1.0)
    high, high_closed = bound_of_range(1.0)
    output_range = Interval(float(low), float(high), bool(low_closed), bool(high_closed))
    zero_centred = _zero_centring(f, grid, limits, low)

    # Maximum derivative: on the grid, or only approached at ±∞ (squareplus' → 1).
    derivative_limits = (_limit(df, -1.0), _limit(df, 1.0))
    peak = float(np.max(slopes))
    where: list[Interval] = []
    if max(derivative_limits) > peak:
        peak = max(derivative_limits)
        for sign, value in zip((-1.0, 1.0), derivative_limits):
            if value == peak:
                where.append(Interval(sign * math.inf, sign * math.inf, False, False))
    else:
        for first, last in _runs(slopes == peak):
            if first == last and grid[first] not in kinks and 0 < first < len(grid) - 1:
                x_best = _golden_section(df1, grid[first - 1], grid[first + 1])
                if df1(x_best) > peak:
                    peak = df1(x_best)
                else:
                    x_best = grid[first]
                x_best = round(x_best, 6) + 0.0
                where.append(Interval(x_best, x_best, True, True))
            elif first == last:
                where.append(Interval(float(grid[first]), float(grid[first]), True, True))
            else:
                top = peak
                region = _region(grid, first, last, lambda x: df1(x) == top, kinks)
                ends_at_kinks = all(
                    math.isinf(v) or v in kinks for v in (region.low, region.high)
                ) or first == 0 and last == len(grid) - 1
                if ends_at_kinks:
                    where.append(region)
                elif first == 0 or last == len(grid) - 1:
                    # f' rounds to its supremum far out (tanhshrink' = tanh² → 1): a limit.
                    infinity = -math.inf if first == 0 else math.inf
                    where.append(Interval(infinity, infinity, False, False))
                else:  # a peak so flat that f' rounds to its maximum over a short run
                    middle = round((region.low + region.high) / 2.0, 6) + 0.0
                    where.append(Interval(middle, middle, True, True))
    largest = max(peak, float(np.max(np.abs(slopes))), *(abs(v) for v in derivative_limits))
    level = saturation * largest

    def saturated(x):
        return abs(df1(x)) < level

    def is_tail(first, last):
        # a run on the grid's edge that stays below the level out to the limit at ±∞
        return (first == 0 and abs(derivative_limits[0]) < level
                or last == len(grid) - 1 and abs(derivative_limits[1]) < level)

    zones = () if not math.isfinite(largest) else tuple(  # f' unbounded (x²): nothing saturates
        _region(grid, first, last, saturated, kinks, round_to=2)
        for first, last in _runs(np.abs(slopes) < level) if is_tail(first, last)
    )
    return Properties(
        name=activation.name,
        output_range=output_range,
        zero_centred=zero_centred,
        max_derivative=float(peak),
        max_derivative_at=where[0],
        saturation=zones,
        saturation_ratio=float(saturation),
        params=dict(bound),
        max_derivative_where=tuple(where),
    )
