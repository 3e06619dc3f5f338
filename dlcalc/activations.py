r"""The activation registry: every element-wise activation once, with its derivative beside it.

Each entry holds the function, its analytic derivative, both formulas (Unicode and LaTeX), its
parameters with PyTorch's names and defaults, aliases and the points where the derivative jumps.
`dlcalc activate`, `--list`, `--props`, `plot` (its labels), expressions and `grad` (through
each entry's `SymbolicForm`, from which the SymPy function is built), `--steps`, the losses and
the README table all read `REGISTRY`: adding a function is one `register(...)` call here.

Definitions are PyTorch's (``torch.nn.functional.*``), including its thresholds (softplus) and its
autograd values at kinks (relu'(0) = 0, leaky_relu'(0) = negative_slope, hardswish'(-3) = 0, ...),
plus JAX's squareplus, sparse_plus and sparse_sigmoid.

Numerics: float64 results are the exact values of those definitions to a few ulp over the whole
range. Each function is written in a stable form (the formula in its docstring, the stable form in
its body): σ(x)·σ(−x) as e^(−|x|)/(1 + e^(−|x|))², sech² through e^(−2|x|), Φ through erfc and
erfcx with e^(−x²/2) corrected for the rounding of x², softplus through log1p, x − tanh x by a
series near 0. Where an argument of exp is a rounded product (β·x in softplus, the cubic inside
gelu_tanh), it is carried as an unevaluated sum of two floats, because e^(u+δ) = e^u·(1 + δ) and a
rounding error δ of u ≈ −600 would otherwise cost 600 ulp. float32 input is computed in float32
and returned as float32. NaN in gives NaN out. erfc, erfcx and Φ come from dlcalc.special
(NumPy, Cody's approximations), not SciPy, whose import would double the start-up of gelu.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple
from dataclasses import dataclass, field

import numpy as np

from dlcalc.errors import DlcalcError
from dlcalc import exact
from dlcalc.exact import finite_error, two_product, two_sum
from dlcalc.special import erfcx, ndtr, normal_long, normal_ratio_dd

__all__ = [
    "Activation",
    "Parameter",
    "REGISTRY",
    "SymbolicForm",
    "bind_parameters",
    "evaluate",
    "kink_points",
    "lookup",
    "register",
    "symbolic_functions",
]


# ---------------------------------------------------------------------------------------------
# Registry records


# Small immutable records are NamedTuples: a frozen dataclass costs about a millisecond of every
# command's start-up to create, and this module is on every activate's path.
class Parameter(NamedTuple):
    name: str  # PyTorch's name, e.g. "negative_slope", "beta", "threshold", "lambd", "min_val"
    default: float
    description: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SymbolicForm:
    r"""How a function enters expressions and `dlcalc grad`, as a SymPy function of one argument.

    Every callable receives the sympy module (imported only when an expression is parsed, never
    by `dlcalc activate sigmoid 1`) and the argument x:

    closed_form(sp, x):    the formula, for evaluation to any precision (evalf) and `rewrite`;
    derivative(sp, f, x):  f'(x), with f the mapping name → SymPy function class, so that a
                           derivative keeps its names: σ' = sigmoid(x)·(1 − sigmoid(x)); it
                           must be the derivative the entry's NumPy code computes (relu'(0) = 0:
                           Heaviside(x, 0));
    values(sp, x):         the exact value at special points (σ(0) = 1/2), or None;
    rewrite_as, rewritten(sp, f, x): `expr.rewrite(rewrite_as)` gives rewritten (default: the
                           closed form);
    parameters:            the entry's parameters for the NumPy form in expressions (softplus:
                           threshold = ∞, the smooth function a derivative needs);
    reflection:            f(−x) = 1 − f(x) (σ, Φ), so 1 − f(u) is evaluated as f(−u).
    """

    closed_form: Callable
    derivative: Callable
    values: Callable | None = None
    rewrite_as: str = "exp"
    rewritten: Callable | None = None
    parameters: Mapping[str, float] = field(default_factory=dict)
    reflection: bool = False


@dataclass(frozen=True)
class Activation:
    name: str  # canonical: PyTorch's functional name
    function: Callable[..., np.ndarray]  # f(x, **params): same shape and dtype as x
    derivative: Callable[..., np.ndarray]  # f'(x, **params), with autograd's values at kinks
    formula: str
    derivative_formula: str
    latex: str
    derivative_latex: str
    parameters: tuple[Parameter, ...] = ()
    aliases: tuple[str, ...] = ()
    summary: str = ""
    kinks: Callable[..., tuple[float, ...]] | tuple = ()  # where f' is discontinuous
    label: str = ""  # the name in plot legends and titles, as the notes write it ("GELU")
    latex_name: str = ""  # the function's name in LaTeX (r"\sigma"); default \operatorname{name}
    symbolic: SymbolicForm | None = None  # set: expressions and `grad` can call it by name
    check: Callable[..., str | None] | None = None  # bound parameters → what is wrong, or None

    @property
    def plot_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


REGISTRY: dict[str, Activation] = {}


def _elementwise(raw: Callable[..., np.ndarray], parameters: tuple[Parameter, ...]):
    """Wrap a raw NumPy formula: float array in, same dtype and shape out, defaults filled in.

    Intermediate infinities (e^(−x) for x = −1000, 0·∞ guarded later...) are expected and
    harmless inside the stable forms, so NumPy's RuntimeWarnings are silenced here. NaN inputs
    are passed through explicitly, because piecewise derivatives (np.where(x > 0, 1, slope))
    would otherwise turn them into numbers.
    """
    defaults = {p.name: p.default for p in parameters}

    @functools.wraps(raw)
    def wrapped(x, **params):
        x = _as_float_array(x)
        values = {**defaults, **params}
        with np.errstate(all="ignore"):
            y = np.asarray(raw(x, **values), dtype=x.dtype)
            if y.shape != x.shape:
                y = np.broadcast_to(y, x.shape)
            return np.where(np.isnan(x), x, y)

    return wrapped


def register(
    name, function, derivative, *, formula, derivative_formula, latex, derivative_latex,
    parameters=(), aliases=(), summary="", kinks=(), label="", latex_name="", symbolic=None,
    check=None,
) -> Activation:
    """Add an activation: the one place it is defined. Every command reads the entry.

    ``function(x, **parameters)`` and ``derivative(x, **parameters)`` are raw NumPy formulas
    (wrapped here: dtype kept, defaults filled in, NaN passed through); ``check(**parameters)``
    returns what is wrong with a parameter setting, or None; ``symbolic`` (a `SymbolicForm`)
    makes the function callable in expressions and `grad`; ``label`` names it in plots.
    """
    entry = REGISTRY[name] = Activation(
        name=name,
        function=_elementwise(function, parameters),
        derivative=_elementwise(derivative, parameters),
        formula=formula,
        derivative_formula=derivative_formula,
        latex=latex,
        derivative_latex=derivative_latex,
        parameters=parameters,
        aliases=aliases,
        summary=summary,
        kinks=kinks,
        label=label,
        latex_name=latex_name,
        symbolic=symbolic,
        check=check,
    )
    return entry


def _as_float_array(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype in (np.float32, np.float64):
        return x
    if x.dtype == np.float16:
        return x.astype(np.float32)
    return x.astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Numerical building blocks


def _two_product(a, b):
    """a·b as p + e exactly (dlcalc.exact), broadcast; e is 0 where p is not finite."""
    p, e = two_product(*np.broadcast_arrays(a, b))
    return p, finite_error(e)


def _two_sum(a, b):
    """a + b as s + e exactly (dlcalc.exact); e is 0 where s is not finite."""
    s, e = two_sum(a, b)
    return s, finite_error(e)


def _constant(high: float, low: float, dtype) -> tuple:
    """A constant given as an unevaluated double-double sum, in the working precision."""
    if dtype == np.float64:
        return high, low
    high32 = float(np.float32(high))
    return high32, float(np.float32((high - high32) + low))


class _RootExpansion(NamedTuple):
    """A derivative's Taylor series at its zero: f'(root + h) = Σ_k c_k·h^k, |h| ≤ radius.

    ``root`` and every c_k are double-doubles (high, low), computed with mpmath at 500 bits;
    c_0 = f'(root) is ~1e-34, not exactly 0, because the expansion is taken at the
    double-double root itself.
    """

    root: tuple[float, float]
    radius: float
    coefficients: tuple[tuple[float, float], ...]


def _taylor_at_root(x, expansion: _RootExpansion):
    """Σ c_k·h^k for h = x − root, by compensated Horner (Graillat, Langlois & Louvet 2005).

    h = x − root is carried exactly as h + h_low (two-sum, then the root's low part), the
    rounding error of every product and sum of the Horner loop is collected in a second
    polynomial, and h_low enters through the first-order term p'(h)·h_low. The result is as
    accurate as Horner's rule in twice the working precision, then rounded once: within an ulp
    or so of the exact f'(x) even where f'(x) → 0, where Φ(x) + x·φ(x) and its kind cancel.
    """
    dtype = x.dtype
    root_high, root_low = _constant(*expansion.root, dtype)
    h, h_low = _two_sum(x, np.asarray(-root_high, dtype=dtype))
    h_low = h_low - root_low
    coefficients = [_constant(high, low, dtype) for high, low in expansion.coefficients]
    total = np.full_like(x, coefficients[-1][0])
    error = np.full_like(x, coefficients[-1][1])
    for high, low in reversed(coefficients[:-1]):
        product, product_error = _two_product(total, h)
        total, sum_error = _two_sum(product, np.asarray(high, dtype=dtype))
        error = error * h + (product_error + sum_error + low)
    slope = coefficients[1][0] + 2.0 * coefficients[2][0] * h  # p'(h) to the accuracy h_low needs
    return total + (error + slope * h_low)


def _near_root(x, value, expansion: _RootExpansion):
    """``value`` (f' by its general formula) with the points near f''s zero replaced by the series."""
    inside = np.abs(x - expansion.root[0]) <= expansion.radius
    if not inside.any():
        return value
    value = np.array(value, dtype=x.dtype)
    value[inside] = _taylor_at_root(x[inside], expansion)
    return value


def _mul_limit(a, b):
    """a·b, but 0 where either factor is 0: the limit of (decaying)·(growing) at x = ±∞."""
    product = a * b
    return np.where((a == 0) | (b == 0), 0.0, product)


def _exp_of_sum(high, low):
    """e^(high + low) for a small correction low: e^high·(1 + low)."""
    return np.exp(high) * (1.0 + low)


def _sigmoid_of_sum(high, low):
    """σ(high + low) without overflow: e^(−|v|) is in (0, 1], so the sum never cancels."""
    z = np.exp(-np.abs(high)) * (1.0 - np.sign(high) * low)
    return np.where(high >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _exp_minus_abs_long(v, factor=None):
    """e^(−|v|) (or e^(−factor·|v|), factor a power of two) in long double, for a v that holds
    float64 values (a float64 array's long-double copy): −factor·|v| is formed in float64, where
    it is exact (or −inf, whose e^ is 0 as in long double), and converted once — a third of the
    cost of three long-double passes."""
    a = np.atleast_1d(np.abs(np.asarray(v).astype(np.float64)))  # an array (0-d: a scalar)
    if factor is not None:
        with np.errstate(over="ignore"):
            a *= factor
    np.negative(a, out=a)
    return np.exp(a.astype(np.longdouble))


def _sigmoid_long(v, z):
    """σ(v) from z = e^(−|v|): 1/(1 + z) for v ≥ 0, z/(1 + z) below, one division per element."""
    numerator = np.where(v >= 0, 1, z).astype(z.dtype, copy=False)
    return np.divide(numerator, 1 + z, out=numerator)


# Double-double forms: the second stage of rounding.round_once for the elements the long double
# cannot decide (~1%). Each takes float64 x and returns (hi, lo, scale[, k]): the value 2^k·(hi +
# lo) within rounding.REFINE_BOUND·|scale| (scale None: of |hi|), hi NaN where the form does not
# apply. Where e^(−|x|) is below e^−600 (its double-double low part would be subnormal) the
# formulas take e^(−|x|) = 0, which is their limit to far better than 2⁻⁹⁰ on the side where the
# value does not vanish; on the side where it does, the value is c·e^(−|x|)·(1 + O(|x|e^(−|x|)))
# with a simple c (1, x, 1 + x, ...), computed as 2^k·(c·m) by `_dd_tail`.
_DD_EXP_LIMIT = 600.0


def _dd_exp_of(a):
    """(e^a − 1, e^a, beyond) in double-double for a double-double a ≤ 0 (a > 0 is taken as 0);
    beyond: a < −600, where they are taken as −1 and 0."""
    beyond = a[0] < -_DD_EXP_LIMIT
    inside = ~beyond & (a[0] < 0)
    em1, z = exact.dd_expm1_parts(np.where(inside, a[0], 0.0), np.where(inside, a[1], 0.0))
    em1 = (np.where(beyond, -1.0, em1[0]), np.where(beyond, 0.0, em1[1]))
    z = (np.where(beyond, 0.0, z[0]), np.where(beyond, 0.0, z[1]))
    return em1, z, beyond


def _dd_exp_minus_abs(x, factor=1.0):
    """_dd_exp_of(a) for a = −factor·|x| (factor a power of two: a is exact)."""
    return _dd_exp_of(_minus_abs(x, factor))


def _dd_tail(value, tail, a, coefficient):
    """`value` = (hi, lo, scale), with the elements where `tail` replaced by coefficient·e^a
    (a and coefficient double-doubles) as 2^k·(hi + lo): (hi, lo, scale, k)."""
    hi, lo, scale = value
    k = np.zeros(np.shape(hi), dtype=np.int64)
    if not np.any(tail):
        return hi, lo, scale, k
    m, power = exact.dd_exp_scaled(np.where(tail, a[0], 0.0), np.where(tail, a[1], 0.0))
    t = exact.dd_mul(m, coefficient)
    hi, lo = np.where(tail, t[0], hi), np.where(tail, t[1], lo)
    if scale is not None:
        scale = np.where(tail, np.abs(t[0]), scale)
    return hi, lo, scale, np.where(tail, power, k)


def _dd(value):
    """A float64 array as a double-double."""
    value = np.asarray(value, dtype=np.float64)
    return value, np.zeros_like(value)


def _minus_abs(x, factor=1.0):
    return _dd(-factor * np.abs(x))


def _dd_where(condition, a, b):
    return np.where(condition, a[0], b[0]), np.where(condition, a[1], b[1])


def _dd_sigmoid_pair(v_hi, z):
    """σ(v) and σ(−v) from z = e^(−|v|) (double-double): 1/(1 + z) and z/(1 + z)."""
    d = exact.dd_add_d(z, 1.0)
    one = exact.dd_div((np.ones_like(z[0]), np.zeros_like(z[0])), d)
    other = exact.dd_div(z, d)
    positive = v_hi >= 0
    return _dd_where(positive, one, other), _dd_where(positive, other, one)


def _dd_result(value, scale=None):
    return value[0], value[1], scale


def _sigmoid_dd(x):
    _, z, beyond = _dd_exp_minus_abs(x)
    value = _dd_result(_dd_sigmoid_pair(x, z)[0])
    return _dd_tail(value, beyond & (x < 0), _minus_abs(x), _dd(np.ones_like(x)))


def _sigmoid_derivative_dd(x):
    _, z, beyond = _dd_exp_minus_abs(x)
    d = exact.dd_add_d(z, 1.0)
    value = _dd_result(exact.dd_div(z, exact.dd_mul(d, d)))
    return _dd_tail(value, beyond, _minus_abs(x), _dd(np.ones_like(x)))


def _tanh_dd(x):
    """tanh|x| = −m/(2 + m), m = e^(−2|x|) − 1 (no cancellation), with x's sign."""
    m, _, _ = _dd_exp_minus_abs(x, 2.0)
    t = exact.dd_div(exact.dd_neg(m), exact.dd_add_d(m, 2.0))
    sign = np.where(x < 0, -1.0, 1.0)
    tiny = np.abs(x) < 2.0 ** -900  # tanh x = x(1 − x²/3): never doubtful; mpmath if it were
    return np.where(tiny, np.nan, t[0] * sign), t[1] * sign, None


def _tanh_derivative_dd(x):
    _, z, beyond = _dd_exp_minus_abs(x, 2.0)
    d = exact.dd_add_d(z, 1.0)
    value = _dd_result(exact.dd_div((4.0 * z[0], 4.0 * z[1]), exact.dd_mul(d, d)))
    return _dd_tail(value, beyond, _minus_abs(x, 2.0), _dd(np.full_like(x, 4.0)))


def _silu_dd(x):
    _, z, beyond = _dd_exp_minus_abs(x)
    value = _dd_result(exact.dd_mul_d(_dd_sigmoid_pair(x, z)[0], x))
    return _dd_tail(value, beyond & (x < 0), _minus_abs(x), _dd(x))


def _silu_derivative_dd(x):
    """σ(x)·(1 + x·σ(−x)); the bracket cancels near −1.278, so the bound is relative to
    σ(x)·(1 + |x|·σ(−x)). Tail (x < −600): e^x·(1 + x)."""
    _, z, beyond = _dd_exp_minus_abs(x)
    s, c = _dd_sigmoid_pair(x, z)
    value = exact.dd_mul(s, exact.dd_add_d(exact.dd_mul_d(c, x), 1.0))
    value = _dd_result(value, s[0] * (1.0 + np.abs(x) * c[0]))
    return _dd_tail(value, beyond & (x < 0), _minus_abs(x), exact.two_sum(x, 1.0))


def _dd_mish_terms(x):
    """tanh(softplus(x)), sech²(softplus(x)), σ(x) (double-double) and where they apply, as
    _tanh_softplus_terms: t = e^(−|x|), (1 + 2t)/(1 + 2t + 2t²) for x > 0, n/(n + 2) below,
    n = t(t + 2)."""
    _, t, beyond = _dd_exp_minus_abs(x)
    positive = x > 0
    two_t = (2.0 * t[0], 2.0 * t[1])
    top = exact.dd_add_d(two_t, 1.0)
    d = exact.dd_add(top, exact.dd_mul(two_t, t))
    n = exact.dd_mul(t, exact.dd_add_d(t, 2.0))
    n2 = exact.dd_add_d(n, 2.0)
    tanh_sp = exact.dd_div(_dd_where(positive, top, n), _dd_where(positive, d, n2))
    one_t = exact.dd_add_d(t, 1.0)
    inner = exact.dd_div(_dd_where(positive, exact.dd_mul(t, one_t), one_t), _dd_where(positive, d, n2))
    square = exact.dd_mul(inner, inner)
    sech2 = (4.0 * square[0], 4.0 * square[1])
    sigma = _dd_sigmoid_pair(x, t)[0]
    return tanh_sp, sech2, sigma, beyond & ~positive


def _mish_dd(x):
    """Tail (x < −600): tanh(softplus(x)) = e^x·(1 + O(e^x)), so x·e^x."""
    tanh_sp, _, _, tail = _dd_mish_terms(x)
    return _dd_tail(_dd_result(exact.dd_mul_d(tanh_sp, x)), tail, _minus_abs(x), _dd(x))


def _mish_derivative_dd(x):
    """tanh(sp) + x·sech²(sp)·σ(x); the terms cancel near −1.192: bound relative to their
    magnitudes' sum."""
    tanh_sp, sech2, sigma, tail = _dd_mish_terms(x)
    second = exact.dd_mul_d(exact.dd_mul(sech2, sigma), x)
    value = _dd_result(exact.dd_add(tanh_sp, second), np.abs(tanh_sp[0]) + np.abs(second[0]))
    return _dd_tail(value, tail, _minus_abs(x), exact.two_sum(x, 1.0))  # tail: e^x·(1 + x)


def _dd_softplus_parts(x, beta):
    """v = β·x and −|v| (double-double), z = e^(−|v|) (0 below e^−600) and where it is so."""
    v = exact.two_product(x, np.asarray(beta, dtype=np.float64))
    a = _dd_where(v[0] < 0, v, exact.dd_neg(v))  # −|v|
    beyond = a[0] < -_DD_EXP_LIMIT
    _, z = exact.dd_expm1_parts(np.where(beyond, 0.0, a[0]), np.where(beyond, 0.0, a[1]))
    z = (np.where(beyond, 0.0, z[0]), np.where(beyond, 0.0, z[1]))
    return v, a, z, beyond


def _softplus_dd(beta, threshold):
    def refine(x):  # tail (β·x < −600): log1p(e^v)/β = e^v/β
        v, a, z, beyond = _dd_softplus_parts(x, beta)
        value = exact.dd_log1p(z[0], z[1])
        positive = v[0] > 0
        value = _dd_where(positive, exact.dd_add(v, value), value)
        b = _dd(np.full_like(x, float(beta)))
        if beta != 1:
            value = exact.dd_div(value, b)
        above = v[0] > threshold  # PyTorch: x itself
        value = _dd_where(above, _dd(x), value)
        inverse = exact.dd_div(_dd(np.ones_like(x)), b)
        return _dd_tail(_dd_result(value), beyond & ~positive & ~above, a, inverse)
    return refine


def _softplus_derivative_dd(beta, threshold):
    def refine(x):  # tail (β·x < −600): σ(v) = e^v
        v, a, z, beyond = _dd_softplus_parts(x, beta)
        value = _dd_sigmoid_pair(v[0], z)[0]
        above = v[0] > threshold
        value = _dd_where(above, _dd(np.ones_like(x)), value)
        return _dd_tail(_dd_result(value), beyond & (v[0] < 0) & ~above, a, _dd(np.ones_like(x)))
    return refine


def _dd_negated(form):
    """−f for a form f's result (hi, lo, scale[, k])."""
    return (-form[0], -form[1]) + tuple(form[2:])


def _dd_pieces(x, pieces, cut):
    """A piecewise form: `pieces` = (below, middle, above) double-doubles, taken for x ≤ cut[0],
    between, and x ≥ cut[1]."""
    below, middle, above = pieces
    value = _dd_where(x <= cut[0], below, _dd_where(x >= cut[1], above, middle))
    return _dd_result(value)


def _dd_shifted(x, m, c):
    """m·x + c exactly (m a power of two): two_sum."""
    return exact.two_sum(m * x, np.float64(c))


_SIX = (6.0, 0.0)


def _dd_linear_over_six(x, m, above):
    """(m·x + 3)/6 on (−3, 3), 0 below, `above` from 3 (hardsigmoid, hardswish'). y = m·x + 3 is
    exact and y/6 within 2⁻¹⁰⁴. The value is often exactly a float64 midpoint (y a multiple of 3
    with 56 bits), which no error bound decides: where 6·q = y holds exactly for the quotient
    q = hi + lo (two_product and two_sum with no rounding error anywhere), scale 0 tells
    rounding.refined that q is exact, and it rounds the tie to even."""
    y = _dd_shifted(x, m, 3.0)
    q = exact.dd_div(y, _SIX)
    p, e = exact.two_product(q[0], 6.0)
    low, low_error = exact.two_product(q[1], 6.0)
    s1, e1 = exact.two_sum(y[0], -p)
    s2, e2 = exact.two_sum(s1, y[1])
    s3, e3 = exact.two_sum(s2, -e)
    verified = (s3 == low) & (low_error == 0) & (e1 == 0) & (e2 == 0) & (e3 == 0)
    hi, lo, _ = _dd_pieces(x, (_dd(0 * x), q, _dd(0 * x + above)), (-3.0, 3.0))
    return hi, lo, np.where(verified | (x <= -3) | (x >= 3), 0.0, np.abs(hi))


def _dd_softsign(x, derivative=False):
    """x/(1 + |x|) or 1/(1 + |x|)², 1 + |x| exact (two_sum): a division and a product, 2⁻¹⁰²."""
    d = _dd_shifted(np.abs(x), 1.0, 1.0)
    if derivative:
        return _dd_result(exact.dd_div(_dd(np.ones_like(x)), exact.dd_mul(d, d)))
    return _dd_result(exact.dd_div(_dd(x), d))


# tanhshrink for |x| < 2: x³·S(x²)/cosh x, S = Σ 2n/(2n+1)!·x^(2n−2) (as _TANHSHRINK_SERIES),
# all terms positive; the first term left out after 22, 46/47!·4²², is below 2⁻¹⁴⁰ of S.
_TANHSHRINK_TERMS = 22


def _dd_tanhshrink(x):
    """x − tanh x: x³·S/cosh x for |x| < 2 (nothing cancels: ~50 operations, 2⁻⁹⁷), x − tanh x
    above (|x − tanh x| > 1 and |tanh x| < 1 there: tanh's 2⁻¹⁰⁰ stays below 2⁻⁹⁹ of the value)."""
    near = np.abs(x) < 2.0
    t = np.where(near, x, 0.0)
    square = exact.two_product(t, t)
    series = exact.dd_constant(2 * _TANHSHRINK_TERMS, math.factorial(2 * _TANHSHRINK_TERMS + 1))
    series = (np.full_like(t, series[0]), np.full_like(t, series[1]))
    for n in range(_TANHSHRINK_TERMS - 1, 0, -1):
        series = exact.dd_add(exact.dd_mul(series, square),
                              exact.dd_constant(2 * n, math.factorial(2 * n + 1)))
    _, z, _ = _dd_exp_minus_abs(t)  # cosh t = (z + 1/z)/2, z = e^(−|t|) ≥ e^−2
    cosh = exact.dd_add(z, exact.dd_div(_dd(np.ones_like(t)), z))
    cosh = (0.5 * cosh[0], 0.5 * cosh[1])
    small = exact.dd_div(exact.dd_mul(exact.dd_mul_d(square, t), series), cosh)
    tanh = _tanh_dd(np.where(near, 2.0, x))
    far = exact.dd_add_d(exact.dd_neg(tanh[:2]), np.where(near, 2.0, x))
    value = _dd_where(near, small, far)
    tiny = np.abs(x) < 2.0 ** -300  # x³ underflows: mpmath (never doubtful: x³/3 is subnormal or 0)
    return np.where(tiny, np.nan, value[0]), value[1], None


def _dd_tanh_squared(x):
    t = _tanh_dd(x)
    return _dd_result(exact.dd_mul(t[:2], t[:2]))


def _dd_squareplus(x, b, derivative=False):
    """s = √(x² + b) (exact.dd_sqrt, 2⁻¹⁰³); (x + s)/2 and (1 + x/s)/2 for x ≥ 0, b/(2(s − x))
    and b/(2s(s − x)) for x < 0: no cancellation on either side (~10 operations, 2⁻¹⁰⁰).
    Beyond |x| = 2⁵⁰⁰ (x² would overflow), s = |x| + b/(2|x|) to within b²/(8|x|⁴) relative."""
    huge = np.abs(x) > 2.0 ** 500
    inner = np.where(huge, 1.0, x)
    root = exact.dd_sqrt(exact.dd_add_d(exact.two_product(inner, inner), np.float64(b)))
    far = exact.fast_two_sum(np.abs(x), b / (2.0 * np.abs(x)))
    root = _dd_where(huge, far, root)
    negative = x < 0
    gap = exact.dd_add_d(root, -x)  # s − x, for x < 0
    if derivative:
        positive = exact.dd_add_d(exact.dd_div(_dd(x), root), 1.0)
        negative_side = exact.dd_div(_dd(np.full_like(x, b)), exact.dd_mul(root, gap))
    else:
        positive = exact.dd_add_d(root, x)
        negative_side = exact.dd_div(_dd(np.full_like(x, b)), gap)
    value = _dd_where(negative, negative_side, positive)
    return 0.5 * value[0], 0.5 * value[1], None


def _dd_exponential_unit(x, s, c, q=None, derivative=False):
    """ELU's shape as a form: s·x for x > 0, c·(e^q − 1) for x ≤ 0, or its slope s and c·e^q
    (q = x unless given, a double-double ≤ 0; s and c double-doubles). e^q − 1 and e^q are within
    2⁻¹⁰⁰ (exact.dd_expm1_parts) and each product adds 2⁻¹⁰⁴: nothing cancels. Below q = −600,
    c·(e^q − 1) is −c to within 2⁻⁸⁶⁵ relative, and c·e^q is the exact tail (`_dd_tail`)."""
    q = _dd(np.minimum(x, 0.0)) if q is None else q
    em1, z, beyond = _dd_exp_of(q)
    positive = x > 0
    if derivative:
        value = _dd_where(positive, s, exact.dd_mul(c, z))
        return _dd_tail(_dd_result(value), beyond & ~positive, q, c)
    return _dd_result(_dd_where(positive, exact.dd_mul_d(s, x), exact.dd_mul(c, em1)))


def _sigmoid(x):
    z = np.exp(-np.abs(x))  # _sigmoid_of_sum(x, 0) without the correction: the same values
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _sigmoid_derivative(x):
    # σ(x)·σ(−x) = e^(−|x|) / (1 + e^(−|x|))²: no 1 − σ(x), which is 0 in float64 for x > 37.
    z = np.exp(-np.abs(x))
    return z / ((1.0 + z) * (1.0 + z))


def _softplus_of_sum(high, low):
    """log(1 + e^v) for v = high + low: max(v, 0) + log1p(e^(−|v|))."""
    z = np.exp(-np.abs(high)) * (1.0 - np.sign(high) * low)
    return (np.maximum(high, 0.0) + np.where(high > 0, low, 0.0)) + np.log1p(z)


def _exp_minus_half_square(x):
    """e^(−x²/2), with the rounding error of x² put back: e^(−(s + e)/2) = e^(−s/2)·(1 − e/2)."""
    square, error = _two_product(x, x)
    return np.exp(-0.5 * square) * (1.0 - 0.5 * error)


def _sech_squared(x):
    # sech²x = 4e^(−2|x|)/(1 + e^(−2|x|))², not 1 − tanh²x (0 in float64 for |x| > 19).
    z = np.exp(-2.0 * np.abs(x))
    return 4.0 * z / ((1.0 + z) * (1.0 + z))


_SQRT1_2 = 0.7071067811865476  # 1/√2
_INV_SQRT_2PI = 0.3989422804014327  # 1/√(2π)


def _normal_cdf_and_pdf(x):
    """Φ(x) and φ(x), each to a few ulp of its own size.

    Φ(x) = erfc(−x/√2)/2 loses digits for x ≪ 0, where the small relative error of −x/√2 is
    magnified by 2z² in erfc(z); dlcalc.special.ndtr uses erfcx(−x/√2)·e^(−x²/2)/2 there
    instead, because erfcx is insensitive to its argument and e^(−x²/2) is computed with the
    exact error of x² (and −x/√2 is carried in double-double elsewhere).
    """
    return ndtr(x), _INV_SQRT_2PI * _exp_minus_half_square(x)


# ---------------------------------------------------------------------------------------------
# The activations, each function beside its derivative


def sigmoid(x):
    r"""σ(x) = 1 / (1 + e^(−x)).

    Stable form: 1/(1 + e^(−x)) for x ≥ 0 and e^x/(1 + e^x) for x < 0, so e^(±x) never overflows.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            return _sigmoid_long(v, _exp_minus_abs_long(v))

        return rounding.extended_path(x, approx, lambda mp, u: 1 / (1 + mp.exp(-u)), _sigmoid,
                                      refine=_sigmoid_dd)

    return _sigmoid(x)


def sigmoid_derivative(x):
    r"""σ'(x) = σ(x)·σ(−x), computed as e^(−|x|)/(1 + e^(−|x|))² (σ'(50) = 1.93e-22, not 0)."""
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            z = _exp_minus_abs_long(v)
            d = 1 + z
            np.multiply(d, d, out=d)
            return np.divide(z, d, out=z)

        return rounding.extended_path(
            x, approx, lambda mp, u: mp.exp(-abs(u)) / (1 + mp.exp(-abs(u))) ** 2,
            _sigmoid_derivative, refine=_sigmoid_derivative_dd)

    return _sigmoid_derivative(x)


register(
    "sigmoid", sigmoid, sigmoid_derivative,
    formula="σ(x) = 1 / (1 + e^(−x))",
    derivative_formula="σ'(x) = σ(x)·(1 − σ(x))",
    latex=r"\sigma(x) = \frac{1}{1 + e^{-x}}",
    derivative_latex=r"\sigma'(x) = \sigma(x)\,(1 - \sigma(x))",
    aliases=("logistic",),
    summary="logistic sigmoid, squashes to (0, 1)",
    latex_name=r"\sigma",
    symbolic=SymbolicForm(
        closed_form=lambda sp, x: 1 / (1 + sp.exp(-x)),
        derivative=lambda sp, f, x: f["sigmoid"](x) * (1 - f["sigmoid"](x)),
        values=lambda sp, x: _limits_0_half_1(sp, x),
        reflection=True,
    ),
)


def tanh(x):
    r"""tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x))."""
    from dlcalc import rounding

    if rounding.extended(x):
        return rounding.extended_path(x, np.tanh, lambda mp, u: mp.tanh(u), np.tanh,
                                      refine=_tanh_dd)

    return np.tanh(x)


def tanh_derivative(x):
    r"""tanh'(x) = 1 − tanh²(x) = sech²(x), computed from e^(−2|x|) (tanh'(20) = 1.70e-17, not 0).

    Near 0, 4z/(1 + z)² with z = e^(−2|x|) ≈ 1 can round an ulp above 1, the true maximum
    (sech²x ≤ 1); in the float64 form 1 is then the nearer value, so the result is capped there.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            z = _exp_minus_abs_long(v, 2)
            d = 1 + z
            np.multiply(d, d, out=d)
            z *= 4
            return np.divide(z, d, out=z)

        return rounding.extended_path(x, approx, lambda mp, u: 1 / mp.cosh(u) ** 2, _sech_squared,
                                      refine=_tanh_derivative_dd)

    return np.minimum(_sech_squared(x), 1.0)


register(
    "tanh", tanh, tanh_derivative,
    formula="tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x))",
    derivative_formula="tanh'(x) = 1 − tanh²(x)",
    latex=r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
    derivative_latex=r"\tanh'(x) = 1 - \tanh^2(x)",
    summary="hyperbolic tangent, zero-centred, squashes to (−1, 1)",
)


def relu(x):
    r"""relu(x) = max(0, x)."""
    return np.maximum(x, 0.0)


def relu_derivative(x):
    r"""relu'(x) = 1 if x > 0 else 0 (PyTorch: relu'(0) = 0)."""
    return np.where(x > 0, 1.0, 0.0)


register(
    "relu", relu, relu_derivative,
    formula="relu(x) = max(0, x)",
    derivative_formula="relu'(x) = 1 if x > 0, else 0",
    latex=r"\mathrm{relu}(x) = \max(0, x)",
    derivative_latex=r"\mathrm{relu}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}",
    summary="rectified linear unit",
    kinks=(0.0,),
    label="ReLU",
    latex_name=r"\operatorname{ReLU}",
    symbolic=SymbolicForm(
        closed_form=lambda sp, x: sp.Max(x, 0),
        derivative=lambda sp, f, x: sp.Heaviside(x, 0),  # relu'(0) = 0, as above
        values=lambda sp, x: sp.Max(x, 0) if x.is_Number else None,
        rewrite_as="Max",
    ),
)


def leaky_relu(x, negative_slope):
    r"""leaky_relu(x) = x if x > 0 else negative_slope·x (the notes' α, 0.01 to 0.1)."""
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_derivative(x, negative_slope):
    r"""leaky_relu'(x) = 1 if x > 0 else negative_slope (PyTorch: the slope at 0)."""
    return np.where(x > 0, 1.0, negative_slope)


register(
    "leaky_relu", leaky_relu, leaky_relu_derivative,
    formula="leaky_relu(x) = x if x > 0, else α·x",
    derivative_formula="leaky_relu'(x) = 1 if x > 0, else α",
    latex=r"\mathrm{leaky\_relu}(x) = \begin{cases} x & x > 0 \\ \alpha x & x \le 0 \end{cases}",
    derivative_latex=(
        r"\mathrm{leaky\_relu}'(x) = \begin{cases} 1 & x > 0 \\ \alpha & x \le 0 \end{cases}"
    ),
    parameters=(
        Parameter("negative_slope", 0.01, "slope α for x ≤ 0", aliases=("alpha", "slope")),
    ),
    aliases=("leakyrelu", "lrelu"),
    summary="ReLU with a small slope α for negative inputs",
    kinks=(0.0,),
    label="Leaky ReLU",
)


def prelu(x, weight):
    r"""prelu(x) = x if x > 0 else weight·x (one shared weight; 0.25 is PyTorch's init)."""
    return np.where(x > 0, x, weight * x)


def prelu_derivative(x, weight):
    r"""prelu'(x) = 1 if x > 0 else weight (PyTorch: the weight at 0)."""
    return np.where(x > 0, 1.0, weight)


register(
    "prelu", prelu, prelu_derivative,
    formula="prelu(x) = x if x > 0, else a·x",
    derivative_formula="prelu'(x) = 1 if x > 0, else a",
    latex=r"\mathrm{prelu}(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}",
    derivative_latex=r"\mathrm{prelu}'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}",
    parameters=(Parameter("weight", 0.25, "learned slope a (PyTorch's initial value)"),),
    summary="leaky ReLU with a learned slope (evaluated at a given weight)",
    kinks=(0.0,),
)


def _dd_rrelu(x, lower, upper):
    """x for x > 0, m·x below, m = (l + u)/2 exact in double-double: one product, 2⁻¹⁰⁴."""
    slope = exact.two_sum(np.float64(lower), np.float64(upper))
    slope = (0.5 * slope[0], 0.5 * slope[1])
    return _dd_result(_dd_where(x > 0, _dd(x), exact.dd_mul_d(slope, x)))


def rrelu(x, lower, upper):
    r"""rrelu(x) = x if x > 0 else ((lower + upper)/2)·x: PyTorch's eval mode (training=False)."""
    from dlcalc import rounding

    if rounding.extended(x):
        slope = (rounding.LONG(lower) + rounding.LONG(upper)) / 2
        return rounding.extended_path(
            x, lambda v: np.where(v > 0, v, slope * v),
            lambda mp, u: u if u > 0 else (mp.mpf(lower) + mp.mpf(upper)) / 2 * u,
            lambda t: np.where(t > 0, t, (0.5 * (lower + upper)) * t),
            refine=lambda t: _dd_rrelu(t, lower, upper))

    return np.where(x > 0, x, (0.5 * (lower + upper)) * x)


def rrelu_derivative(x, lower, upper):
    r"""rrelu'(x) = 1 if x > 0 else (lower + upper)/2.

    Correctly rounded in float64 as it stands: lower + upper is rounded once (ties to even) and
    halving it is exact (for |lower + upper| ≥ 2⁻¹⁰²¹, below which the halves are subnormal).
    """
    return np.where(x > 0, 1.0, 0.5 * (lower + upper))


register(
    "rrelu", rrelu, rrelu_derivative,
    formula="rrelu(x) = x if x > 0, else ((l + u)/2)·x   (eval mode)",
    derivative_formula="rrelu'(x) = 1 if x > 0, else (l + u)/2",
    latex=(
        r"\mathrm{rrelu}(x) = \begin{cases} x & x > 0 \\ \frac{l + u}{2} x & x \le 0 \end{cases}"
    ),
    derivative_latex=(
        r"\mathrm{rrelu}'(x) = \begin{cases} 1 & x > 0 \\ \frac{l + u}{2} & x \le 0 \end{cases}"
    ),
    parameters=(
        Parameter("lower", 1.0 / 8.0, "lower bound l of the random slope"),
        Parameter("upper", 1.0 / 3.0, "upper bound u of the random slope"),
    ),
    summary="randomized leaky ReLU, deterministic eval mode: slope (l + u)/2",
    kinks=(0.0,),
    check=lambda lower, upper: (
        f"lower must be ≤ upper, got lower={lower:g}, upper={upper:g}" if lower > upper else None),
)


def relu6(x):
    r"""relu6(x) = min(max(0, x), 6)."""
    return np.clip(x, 0.0, 6.0)


def relu6_derivative(x):
    r"""relu6'(x) = 1 if 0 < x < 6 else 0 (PyTorch: 0 at both kinks)."""
    return np.where((x > 0) & (x < 6), 1.0, 0.0)


register(
    "relu6", relu6, relu6_derivative,
    formula="relu6(x) = min(max(0, x), 6)",
    derivative_formula="relu6'(x) = 1 if 0 < x < 6, else 0",
    latex=r"\mathrm{relu6}(x) = \min(\max(0, x), 6)",
    derivative_latex=r"\mathrm{relu6}'(x) = \begin{cases} 1 & 0 < x < 6 \\ 0 & \text{otherwise} \end{cases}",
    summary="ReLU capped at 6",
    kinks=(0.0, 6.0),
    label="ReLU6",
)


def elu(x, alpha):
    r"""elu(x) = x if x > 0 else α·(e^x − 1); expm1 keeps e^x − 1 accurate near 0."""
    from dlcalc import rounding

    if rounding.extended(x):
        a = rounding.LONG(alpha)
        return rounding.extended_path(
            x, lambda v: np.where(v > 0, v, a * np.expm1(np.minimum(v, 0))),
            lambda mp, u: u if u > 0 else mp.mpf(alpha) * mp.expm1(u),
            lambda t: np.where(t > 0, t, alpha * np.expm1(np.minimum(t, 0.0))),
            refine=lambda t: _dd_exponential_unit(t, _ONE_DD, _dd(alpha)))

    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_derivative(x, alpha):
    r"""elu'(x) = 1 if x > 0 else α·e^x (PyTorch: α at 0)."""
    from dlcalc import rounding

    if rounding.extended(x):
        a = rounding.LONG(alpha)
        return rounding.extended_path(
            x, lambda v: np.where(v > 0, 1, a * np.exp(np.minimum(v, 0))),
            lambda mp, u: 1 if u > 0 else mp.mpf(alpha) * mp.exp(u),
            lambda t: np.where(t > 0, 1.0, alpha * np.exp(np.minimum(t, 0.0))),
            refine=lambda t: _dd_exponential_unit(t, _ONE_DD, _dd(alpha), derivative=True))

    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


register(
    "elu", elu, elu_derivative,
    formula="elu(x) = x if x > 0, else α·(e^x − 1)",
    derivative_formula="elu'(x) = 1 if x > 0, else α·e^x",
    latex=r"\mathrm{elu}(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}",
    derivative_latex=(
        r"\mathrm{elu}'(x) = \begin{cases} 1 & x > 0 \\ \alpha e^{x} & x \le 0 \end{cases}"
    ),
    parameters=(Parameter("alpha", 1.0, "value approached as x → −∞ is −α"),),
    summary="exponential linear unit",
    kinks=(0.0,),  # f' jumps there unless α = 1; even then f'' does,
    label="ELU",
)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_SCALE_ALPHA = 1.7580993408473768  # scale·α of the decimal constants, correctly rounded
_ONE_DD = (1.0, 0.0)


def _selu_dd_constants():
    """λ and λ·α of the decimal constants as double-doubles (to 2⁻¹⁰⁶), by integer arithmetic."""
    scale, alpha = 10507009873554804934193349852946, 16732632423543772848170429916717
    return exact.dd_constant(scale, 10 ** 31), exact.dd_constant(scale * alpha, 10 ** 62)


def selu(x):
    r"""selu(x) = scale·(x if x > 0 else α·(e^x − 1)), α ≈ 1.6733, scale ≈ 1.0507."""
    from dlcalc import rounding

    if rounding.extended(x):
        scale = rounding.LONG("1.0507009873554804934193349852946")
        scale_alpha = rounding.LONG("1.75809934084737685994021752081")

        def exact(mp, u):
            s = mp.mpf("1.0507009873554804934193349852946")
            return s * u if u > 0 else s * mp.mpf("1.6732632423543772848170429916717") * mp.expm1(u)

        return rounding.extended_path(
            x, lambda v: np.where(v > 0, scale * v, scale_alpha * np.expm1(np.minimum(v, 0))), exact,
            lambda t: np.where(t > 0, _SELU_SCALE * t, _SELU_SCALE_ALPHA * np.expm1(np.minimum(t, 0.0))),
            refine=lambda t: _dd_exponential_unit(t, *_selu_dd_constants()))

    return np.where(x > 0, _SELU_SCALE * x, _SELU_SCALE_ALPHA * np.expm1(np.minimum(x, 0.0)))


def selu_derivative(x):
    r"""selu'(x) = scale if x > 0 else scale·α·e^x (PyTorch: scale·α at 0)."""
    from dlcalc import rounding

    if rounding.extended(x):
        scale = rounding.LONG("1.0507009873554804934193349852946")
        scale_alpha = rounding.LONG("1.75809934084737685994021752081")

        def exact(mp, u):
            s = mp.mpf("1.0507009873554804934193349852946")
            return s if u > 0 else s * mp.mpf("1.6732632423543772848170429916717") * mp.exp(u)

        return rounding.extended_path(
            x, lambda v: np.where(v > 0, scale, scale_alpha * np.exp(np.minimum(v, 0))), exact,
            lambda t: np.where(t > 0, _SELU_SCALE, _SELU_SCALE_ALPHA * np.exp(np.minimum(t, 0.0))),
            refine=lambda t: _dd_exponential_unit(t, *_selu_dd_constants(), derivative=True))

    return np.where(x > 0, _SELU_SCALE, _SELU_SCALE_ALPHA * np.exp(np.minimum(x, 0.0)))


register(
    "selu", selu, selu_derivative,
    formula="selu(x) = λ·x if x > 0, else λ·α·(e^x − 1)   (α ≈ 1.6733, λ ≈ 1.0507)",
    derivative_formula="selu'(x) = λ if x > 0, else λ·α·e^x",
    latex=(
        r"\mathrm{selu}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 "
        r"\end{cases}"
    ),
    derivative_latex=(
        r"\mathrm{selu}'(x) = \lambda \begin{cases} 1 & x > 0 \\ \alpha e^{x} & x \le 0 \end{cases}"
    ),
    summary="scaled ELU with self-normalising constants",
    kinks=(0.0,),
    label="SELU",
)


def _divide_exactly(x, alpha):
    """x/α as q + r/α with the rounding error of the quotient, so that e^(x/α) stays exact."""
    q = x / alpha
    p, e = _two_product(q, np.asarray(alpha, dtype=x.dtype))
    return q, np.where(np.isfinite(q), ((x - p) - e) / alpha, 0.0)


def _dd_over(x, alpha):
    """min(x, 0)/α in double-double (2⁻¹⁰⁴; e^q magnifies it by |q| ≤ 600: 2⁻⁹⁵)."""
    return exact.dd_div(_dd(np.minimum(x, 0.0)), _dd(np.full_like(x, alpha)))


def celu(x, alpha):
    r"""celu(x) = max(0, x) + min(0, α·(e^(x/α) − 1)); x itself where |x/α| < 2⁻⁶⁰ (the rest of
    the series is below a quarter of x's ulp, and x/α may be subnormal)."""
    from dlcalc import rounding

    if rounding.extended(x):
        q, q_low = _divide_exactly(np.minimum(x, 0.0), alpha)
        q_long, q_low_long = q.astype(rounding.LONG), q_low.astype(rounding.LONG)
        a = rounding.LONG(alpha)
        tiny = a * rounding.LONG(2.0 ** -60)
        return rounding.extended_path(
            x, lambda v: np.where((v > 0) | (np.abs(v) < tiny), v,
                                  a * (np.expm1(q_long) + np.exp(q_long) * q_low_long)),
            lambda mp, u: u if u > 0 else mp.mpf(alpha) * mp.expm1(u / mp.mpf(alpha)),
            lambda t: np.where(t > 0, t, -alpha),
            refine=lambda t: _dd_exponential_unit(t, _ONE_DD, _dd(alpha), _dd_over(t, alpha)))

    q, q_low = _divide_exactly(np.minimum(x, 0.0), alpha)
    negative = alpha * (np.expm1(q) + np.exp(q) * q_low)
    # |x/α| < 2⁻⁶⁰: celu(x) = x·(1 + x/2α + …) rounds to x (x/α itself may be subnormal)
    return np.where((x > 0) | (np.abs(x) < alpha * 2.0 ** -60), x, negative)


def celu_derivative(x, alpha):
    r"""celu'(x) = 1 if x > 0 else e^(x/α) (1 at 0, as PyTorch)."""
    from dlcalc import rounding

    if rounding.extended(x):
        q, q_low = _divide_exactly(np.minimum(x, 0.0), alpha)
        q_long, q_low_long = q.astype(rounding.LONG), q_low.astype(rounding.LONG)
        return rounding.extended_path(
            x, lambda v: np.where(v > 0, 1, np.exp(q_long) * (1 + q_low_long)),
            lambda mp, u: 1 if u > 0 else mp.exp(u / mp.mpf(alpha)),
            lambda t: np.where(t > 0, 1.0, 0.0),
            refine=lambda t: _dd_exponential_unit(t, _ONE_DD, _ONE_DD, _dd_over(t, alpha), True))

    q, q_low = _divide_exactly(np.minimum(x, 0.0), alpha)
    return np.where(x > 0, 1.0, _exp_of_sum(q, q_low))


register(
    "celu", celu, celu_derivative,
    formula="celu(x) = max(0, x) + min(0, α·(e^(x/α) − 1))",
    derivative_formula="celu'(x) = 1 if x > 0, else e^(x/α)",
    latex=r"\mathrm{celu}(x) = \max(0, x) + \min\left(0, \alpha \left(e^{x/\alpha} - 1\right)\right)",
    derivative_latex=(
        r"\mathrm{celu}'(x) = \begin{cases} 1 & x > 0 \\ e^{x/\alpha} & x \le 0 \end{cases}"
    ),
    parameters=(Parameter("alpha", 1.0, "scale α of the negative part (not 0)"),),
    summary="continuously differentiable ELU",
    kinks=(0.0,),  # f' is continuous, f'' is not,
    label="CELU",
    check=lambda alpha: "alpha must not be 0 (celu divides by it)" if alpha == 0 else None,
)


# GELU in two stages (dlcalc.rounding): Φ(x) and φ(x) in x87 long double (dlcalc.special
# ._normal_long), rounded once, and for the elements that rounding cannot decide, Φ = φ·R in
# double-double (R = Φ/φ from dlcalc.special.normal_ratio_dd, φ from the double-double exp).
#
# The first stage's error bound, in long-double ulps (2⁻⁶³) of |value|, or for gelu' of
# Φ + |x|·φ (the sum's terms cancel). By the argument: Cody's rational approximations of erf and
# erfcx err by at most 0.011·2⁻⁵³ = 11.3·2⁻⁶³ (C/D, 0.47 < |x|/√2 ≤ 4; P/Q 5.1, A/B 3.1:
# measured with mpmath, dlcalc/special.py), their evaluation adds about 2⁻¹⁰⁰ (double-double)
# or at most ~2 ulps (long-double Horner sums of positive terms), and the rest is about six
# roundings of half an ulp (expl within 0.6) on terms that do not cancel: ≲ 15 ulps for gelu;
# for gelu' Cody's error enters through Φ alone, at most 0.55 of Φ + |x|·φ where it is largest
# (x ≤ −0.66): ≲ 10 ulps. Measured against the double-double second stage on 45 million points
# of [−40, 40] (dense around the formula switches |x| = 0.66291 and 5.65685, the worst
# stretches −3 < x < −1.5 and −1 < x < −0.4, gelu''s zero, the tails): at most 13.3 (gelu, at
# x ≈ −2.19) and 6.4 (gelu', at x ≈ −0.663). The bounds used are twice those, above the
# argument's too.
_GELU_MEASURED_ULPS = 13.3
_GELU_DERIVATIVE_MEASURED_ULPS = 6.4
_GELU_ULPS = 2.0 * _GELU_MEASURED_ULPS
_GELU_DERIVATIVE_ULPS = 2.0 * _GELU_DERIVATIVE_MEASURED_ULPS
_GELU_LIMIT = 40.0  # beyond: Φ = 0 or 1 to 2⁻⁵⁰⁰ and φ·x is below the subnormals
_INV_SQRT_2PI_DD = (0.3989422804014327, -2.49232720227773e-17)  # 1/√(2π)


def _gelu_long(x, cdf, pdf):
    return x * cdf


def _gelu_first_stage(x):
    """x·Φ(x) in long double for float64 x, x itself beyond 40; the limits at ±∞ and NaN too."""
    value = normal_long(x, _gelu_long, density=False)
    beyond = x > _GELU_LIMIT
    if beyond.any():
        value[beyond] = x[beyond]
    return value


def _dd_normal(x):
    """φ(x) = 2^k·m (double-double m, integer k) and R(−|x|) = Φ(−|x|)/φ(x) in double-double,
    for |x| ≤ 40: x² is exact (two-product), so e^(−x²/2) is within ~2⁻¹⁰² (exact.dd_exp_scaled),
    and R within 2⁻⁹⁵ (special.normal_ratio_dd)."""
    square, square_low = two_product(x, x)
    m, k = exact.dd_exp_scaled(-0.5 * square, -0.5 * square_low)
    return exact.dd_mul(m, _INV_SQRT_2PI_DD), k, normal_ratio_dd(-np.abs(x))


def _gelu_dd(x):
    """x·φ(x)·R(x) for x < 0; x·(1 − φ(x)·R(−x)) for x ≥ 0, where φ(x)·R(−x) = 1 − Φ(x) ≤ ½
    does not cancel: no operation cancels, so the bound is relative to the value (~15 operations
    of 2⁻¹⁰⁴ after R's 2⁻⁹⁵). Returned as 2^k·(hi + lo) with x = 2^e·f, f in [½, 1), taken as f
    and its 2^e put into k, so that hi stays near 1 for the smallest x and the subnormal results
    too. NaN beyond ±40, where the first stage is never in doubt."""
    inside = np.abs(x) <= _GELU_LIMIT
    x = np.where(inside, x, 0.0)
    f, e = np.frexp(x)
    m, k, r = _dd_normal(x)
    m_r = exact.dd_mul(m, r)
    upper = (np.ldexp(m_r[0], k), np.ldexp(m_r[1], k))  # 1 − Φ(x): subnormal only when ≪ 2⁻¹⁰⁶
    positive = exact.dd_mul_d(exact.dd_add_d(exact.dd_neg(upper), 1.0), f)
    negative = exact.dd_mul_d(m_r, f)
    below = x < 0
    hi, lo = _dd_where(below, negative, positive)
    return np.where(inside, hi, np.nan), lo, None, e.astype(np.int64) + np.where(below, k, 0)


_GELU_DERIVATIVE_ROOT = _RootExpansion(  # generated with mpmath at 500 bits
    root=(-0.7517915246935645, 1.4956759177009883e-17),
    radius=0.45,
    coefficients=(
        (-2.3231813233627685e-34, -1.619920332713936e-50), (0.4314939923140469, 2.7308688141129613e-17),
        (0.388284982990552, 2.3344842362524718e-17), (-0.018199676398671087, 6.243663267436529e-20),
        (-0.1140082332972217, -2.4817360568307065e-18), (-0.014771522148244337, -3.015929177426792e-19),
        (0.019421679838189067, -1.5961314670842394e-18), (0.004539228379125415, 2.9752687850469732e-19),
        (-0.002239538068073497, -1.0619935987268271e-19), (-0.0007448268386746817, 2.630576619512487e-20),
        (0.00018633974623233514, -7.585398505239956e-21), (8.615947861116571e-05, 2.4748674390833653e-21),
        (-1.121438018842664e-05, -7.62658739802124e-22), (-7.74846130700372e-06, 1.406867812838164e-22),
        (4.3284506257392273e-07, 2.1361322755678257e-23), (5.702764979242107e-07, 5.276469566186036e-24),
        (-1.6044265494246427e-09, -7.580006549103797e-26), (-3.5459866461783865e-08, -1.1985573532428018e-24),
        (-1.396942086426202e-09, 1.8723420095703697e-26), (1.90319840501314e-09, -2.424921710459461e-26),
        (1.4506418938779426e-10, -1.2153810261118126e-26), (-8.950037692726255e-11, -4.212567030345502e-27),
        (-9.950340824808053e-12, -7.947092183667394e-28),
    ),
)


def _gelu_derivative_long(x, cdf, pdf):
    """Φ + x·φ, and Φ + |x|·φ: the scale of its error."""
    term = x * pdf
    return cdf + term, cdf + np.abs(term)


def _gelu_derivative_dd(x):
    """φ(x)·(R(x) + x) for x < 0, as 2^k·m·(R(x) + x): the bracket cancels near x₀ = −0.75, so
    the bound is relative to m·(R(x) + |x|). 1 + φ(x)·(x − R(−x)) for x ≥ 0 (the value is at
    least ½, the bracket's product at most ~0.3): bound relative to 1 + φ(x)·(x + R(−x)). NaN
    beyond ±40."""
    inside = np.abs(x) <= _GELU_LIMIT
    x = np.where(inside, x, 0.0)
    m, k, r = _dd_normal(x)
    below = x < 0
    negative = exact.dd_mul(m, exact.dd_add_d(r, x))
    negative_scale = m[0] * (r[0] + np.abs(x))
    phi = (np.ldexp(m[0], k), np.ldexp(m[1], k))
    positive = exact.dd_add_d(exact.dd_mul(phi, exact.dd_add_d(exact.dd_neg(r), x)), 1.0)
    positive_scale = 1.0 + phi[0] * (x + r[0])
    hi, lo = _dd_where(below, negative, positive)
    scale = np.where(below, negative_scale, positive_scale)
    return np.where(inside, hi, np.nan), lo, scale, np.where(below, k, 0)


def gelu(x):
    r"""gelu(x) = x·Φ(x), Φ the standard normal CDF (exact GELU, approximate='none').

    float64 on x86-64: correctly rounded (gelu(−10) = −7.619853024160526e-23, torch's −0): x·Φ(x)
    in x87 long double within _GELU_ULPS long-double ulps, rounded once, and the ~3.5% of
    elements within that bound of a rounding boundary again in double-double (`_gelu_dd`), the
    rare ones it cannot decide in mpmath (dlcalc.rounding). Elsewhere, and for float32: Φ from
    erfc, or from erfcx·e^(−x²/2) for x < −1, within 2 ulp.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        return rounding.round_once(x, _gelu_first_stage(x), lambda mp, u: u * mp.ncdf(u),
                                   _GELU_ULPS, refine=_gelu_dd)
    return _gelu_float64(x)


def _gelu_float64(x):
    return np.copysign(_mul_limit(x, ndtr(x)), x)  # sign of x, also when Φ(x) underflows: −0


def gelu_derivative(x):
    r"""gelu'(x) = Φ(x) + x·φ(x), φ the standard normal density.

    float64 on x86-64: correctly rounded, as gelu: Φ(x) + x·φ(x) in x87 long double, within
    _GELU_DERIVATIVE_ULPS long-double ulps of Φ + |x|·φ, rounded once; the elements in doubt
    (~3%), among them all those close to the zero x₀ = −0.75179, where the sum cancels (200-fold
    at x₀ ± 0.002, without bound closer in), go to `_gelu_derivative_dd` and the few it cannot
    decide to mpmath. Elsewhere, and for float32: for x < −1, Φ(x) + x·φ(x) =
    e^(−x²/2)·(erfcx(−x/√2)/2 + x/√(2π)), one Gaussian factor times a bracket that does not
    cancel (its two terms differ by a factor x² ≥ 1); for |x − x₀| ≤ 0.45 the Taylor series at
    x₀, summed in compensated arithmetic, within an ulp or so where the sum cancels.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        value, scale = normal_long(x, _gelu_derivative_long)  # ±∞: the values at ±40, 1 and −0
        return rounding.round_once(x, value, lambda mp, u: mp.ncdf(u) + u * mp.npdf(u),
                                   _GELU_DERIVATIVE_ULPS, scale, refine=_gelu_derivative_dd)
    return _gelu_derivative_float64(x)


def _gelu_derivative_float64(x):
    cdf, pdf = _normal_cdf_and_pdf(x)
    value = np.array(cdf + _mul_limit(x, pdf), dtype=x.dtype)
    far = x < -1.0
    if far.any():
        x_far = x[far]
        bracket = 0.5 * erfcx(-x_far * _SQRT1_2) + _INV_SQRT_2PI * x_far
        # gelu' < 0 below its zero x₀ = −0.75: an underflowed value is −0, as rounded
        value[far] = -np.abs(_mul_limit(_exp_minus_half_square(x_far), bracket))
    return _near_root(x, value, _GELU_DERIVATIVE_ROOT)


register(
    "gelu", gelu, gelu_derivative,
    formula="gelu(x) = x·Φ(x),  Φ(x) = (1 + erf(x/√2)) / 2",
    derivative_formula="gelu'(x) = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2) / √(2π)",
    latex=r"\mathrm{gelu}(x) = x\,\Phi(x) = \frac{x}{2}\left(1 + \operatorname{erf}\frac{x}{\sqrt{2}}\right)",
    derivative_latex=r"\mathrm{gelu}'(x) = \Phi(x) + x\,\varphi(x), \quad \varphi(x) = \frac{e^{-x^2/2}}{\sqrt{2\pi}}",
    summary="Gaussian error linear unit, exact form x·Φ(x)",
    label="GELU",
    latex_name=r"\operatorname{GELU}",
    symbolic=SymbolicForm(
        closed_form=lambda sp, x: x * sp.erfc(-x / sp.sqrt(2)) / 2,
        derivative=lambda sp, f, x: f["Phi"](x) + x * f["phi"](x),
        values=lambda sp, x: sp.S.Zero if x.is_zero else None,
        rewrite_as="Phi",
        rewritten=lambda sp, f, x: x * f["Phi"](x),
    ),
)


_GELU_TWO_C = (1.5957691216057308, -9.96930880911092e-17)  # 2·√(2/π) as a double-double
_GELU_KAPPA = (0.044715, 2.1960211427085595e-18)  # 0.044715 as a double-double


def _gelu_tanh_argument(x):
    """2u = 2·√(2/π)·(x + 0.044715·x³) as high + low, with every rounding error kept."""
    two_c_high, two_c_low = _constant(*_GELU_TWO_C, x.dtype)
    kappa_high, kappa_low = _constant(*_GELU_KAPPA, x.dtype)
    square, square_low = _two_product(x, x)
    k_square, k_square_low = _two_product(np.asarray(kappa_high, dtype=x.dtype), square)
    k_square_low = k_square_low + kappa_high * square_low + kappa_low * square
    inner, inner_low = _two_sum(np.asarray(1.0, dtype=x.dtype), k_square)
    inner_low = inner_low + k_square_low
    v, v_low = _two_product(x, inner)
    v_low = v_low + x * inner_low
    w, w_low = _two_product(np.asarray(two_c_high, dtype=x.dtype), v)
    w_low = w_low + two_c_high * v_low + two_c_low * v
    finite = np.isfinite(w)  # for |x| ≳ 1e103, x³ overflows: 2u = ±∞, no correction
    w_low = np.where(finite, w_low, 0.0)
    high = w + w_low
    low = w_low - (high - w)
    return high, np.where(finite, low, 0.0)


def _sigmoid_pair_long(high, low):
    """(σ(u), σ(−u)) of u = high + low (low ≪ high) in long double: gelu_tanh and its
    derivative read tanh(u) as 2σ(2u) − 1 without cancelling."""
    z = np.exp(-np.abs(high)) * (1 - np.sign(high) * low)
    return np.where(high >= 0, 1 / (1 + z), z / (1 + z)), np.where(high >= 0, z / (1 + z), 1 / (1 + z))


def _dd_gelu_tanh(x, derivative=False):
    """x·σ(2u), or σ(2u)·(1 + x·2c(1 + 3κx²)·σ(−2u)) (bound relative to σ(2u)·(1 + |…|): the
    bracket cancels near −0.75), in double-double. 2u = w from _gelu_tanh_argument is within
    ~2⁻¹⁰³ (every rounding error kept but products of two low parts), which e^(−|w|) magnifies by
    |w| ≤ 600: 2⁻⁹⁴; the rest adds ~15 operations of 2⁻¹⁰⁴. Tail (w < −600): σ(w) = e^w, σ(−w) = 1,
    so x·e^w and e^w·(1 + x·2c(1 + 3κx²))."""
    w = _gelu_tanh_argument(x)
    a = _dd_where(w[0] < 0, w, exact.dd_neg(w))  # −|w|
    _, z, beyond = _dd_exp_of(a)
    s, c = _dd_sigmoid_pair(w[0], z)
    tail = beyond & (w[0] < 0)
    if not derivative:
        return _dd_tail(_dd_result(exact.dd_mul_d(s, x)), tail, a, _dd(x))
    three_kappa = exact.dd_mul_d(_GELU_KAPPA, 3.0)
    inner = exact.dd_add_d(exact.dd_mul(three_kappa, exact.two_product(x, x)), 1.0)
    slope = exact.dd_mul_d(exact.dd_mul(_GELU_TWO_C, inner), x)  # x·2u'
    second = exact.dd_mul(slope, c)
    value = _dd_result(exact.dd_mul(s, exact.dd_add_d(second, 1.0)), s[0] * (1.0 + np.abs(second[0])))
    return _dd_tail(value, tail, a, exact.dd_add_d(slope, 1.0))


def gelu_tanh(x):
    r"""gelu_tanh(x) = x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (approximate='tanh').

    Computed as x·σ(2u), since 1 + tanh(u) = 2σ(2u) does not cancel for u ≪ 0; 2u is carried
    in double-double because e^(2u) magnifies its rounding error by |2u| (≈ 600 at x = −20).
    """
    from dlcalc import rounding

    if rounding.extended(x):
        high, low = _gelu_tanh_argument(x)
        h, lo = high.astype(rounding.LONG), low.astype(rounding.LONG)

        def exact(mp, u):
            w = mp.sqrt(2 / mp.pi) * (u + mp.mpf("0.044715") * u ** 3)
            return u / (1 + mp.exp(-2 * w))

        return rounding.extended_path(x, lambda v: v * _sigmoid_pair_long(h, lo)[0], exact,
                                      lambda t: np.where(t > 0, t, -0.0), refine=_dd_gelu_tanh)

    high, low = _gelu_tanh_argument(x)
    return _mul_limit(x, _sigmoid_of_sum(high, low))


_GELU_TANH_DERIVATIVE_ROOT = _RootExpansion(  # generated with mpmath at 500 bits
    root=(-0.7524614220710163, 3.635560509207687e-17),
    radius=0.4,
    coefficients=(
        (1.0938874569160835e-33, 6.346824716030854e-50), (0.4304000910248585, 2.028254970529195e-17),
        (0.38751844613578895, -2.562359819429644e-17), (-0.01578285352184803, 1.1902204872943008e-18),
        (-0.11394448308095899, 1.585986862413252e-18), (-0.01661932834305256, -1.4557501957762594e-18),
        (0.019682309459833118, -5.390313190618037e-19), (0.005261059254921912, -4.689306162932466e-20),
        (-0.0024227318458750974, 1.1387249704735172e-19), (-0.0009274420230205449, -5.889912558456146e-21),
        (0.00026392764052681053, -2.9282189335546566e-21), (0.00012425227802639782, 9.130144913127787e-22),
        (-3.4956171694436116e-05, -1.2221272832665503e-21), (-1.5950896871645105e-05, -3.4957230921481306e-24),
        (5.918611710894005e-06, 8.036247605618022e-24), (2.4335516344299543e-06, 1.2238857738389555e-22),
        (-9.898647747433667e-07, 7.010954250568202e-23), (-4.3102482988029016e-07, 1.0970075544446084e-23),
        (1.4157556987729473e-07, -2.3749751624840556e-26), (7.520740909289922e-08, -4.515646053534529e-24),
        (-1.6978217459781023e-08, 1.0209635115140864e-24), (-1.196180847972441e-08, 2.230961359421923e-25),
        (1.7637802707907564e-09, 3.5909701662150827e-26), (1.744987137846621e-09, 6.591125593698182e-26),
        (-1.708811216951738e-10, 7.221136310473912e-27), (-2.433873557833449e-10, 7.13570497853059e-27),
        (1.687283177355558e-11, -1.4192521040640552e-27),
    ),
)


def gelu_tanh_derivative(x):
    r"""gelu_tanh'(x) = σ(2u)·(1 + 2x·u'·σ(−2u)), u = √(2/π)(x + 0.044715x³), u' = √(2/π)(1 + 0.134145x²).

    The same value as (1 + tanh u)/2 + x/2·(1 − tanh²u)·u', written without 1 − tanh. The
    bracket cancels around the zero x₀ = −0.75246; for |x − x₀| ≤ 0.4 the Taylor series at x₀
    is summed in compensated arithmetic instead.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        high, low = _gelu_tanh_argument(x)
        h, lo = high.astype(rounding.LONG), low.astype(rounding.LONG)
        two_c = rounding.LONG(_GELU_TWO_C[0]) + rounding.LONG(_GELU_TWO_C[1])
        three_kappa = 3 * rounding.LONG("0.044715")

        def approx(v):
            s, c = _sigmoid_pair_long(h, lo)
            second = v * two_c * (1 + three_kappa * v * v) * c
            return s * (1 + second), s * (1 + np.abs(second))

        def exact(mp, u):
            c = mp.sqrt(2 / mp.pi)
            w = c * (u + mp.mpf("0.044715") * u ** 3)
            s = 1 / (1 + mp.exp(-2 * w))
            return s * (1 + 2 * u * c * (1 + 3 * mp.mpf("0.044715") * u ** 2) * (1 - s))

        return rounding.extended_path(x, approx, exact, lambda t: np.where(t > 0, 1.0, 0.0),
                                      refine=lambda t: _dd_gelu_tanh(t, derivative=True))

    high, low = _gelu_tanh_argument(x)
    kappa = _GELU_KAPPA[0]
    two_u_prime = _GELU_TWO_C[0] * (1.0 + 3.0 * kappa * x * x)
    bracket = 1.0 + _mul_limit(x * two_u_prime, _sigmoid_of_sum(-high, -low))
    return _near_root(x, _mul_limit(_sigmoid_of_sum(high, low), bracket), _GELU_TANH_DERIVATIVE_ROOT)


register(
    "gelu_tanh", gelu_tanh, gelu_tanh_derivative,
    formula="gelu_tanh(x) = x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))",
    derivative_formula=(
        "gelu_tanh'(x) = (1 + tanh u)/2 + x/2·(1 − tanh²u)·u',  "
        "u = √(2/π)·(x + 0.044715·x³),  u' = √(2/π)·(1 + 0.134145·x²)"
    ),
    latex=(
        r"\mathrm{gelu}_{\tanh}(x) = \frac{x}{2}\left(1 + \tanh\left(\sqrt{2/\pi}"
        r"\,(x + 0.044715 x^3)\right)\right)"
    ),
    derivative_latex=(
        r"\mathrm{gelu}_{\tanh}'(x) = \frac{1 + \tanh u}{2} + \frac{x}{2}(1 - \tanh^2 u)\,u',"
        r"\quad u = \sqrt{2/\pi}\,(x + 0.044715 x^3)"
    ),
    aliases=("gelu_approximate", "gelu_approx", "approximate_gelu"),
    summary="GELU, tanh approximation (PyTorch approximate='tanh')",
    label="GELU (tanh)",
)


def silu(x):
    r"""silu(x) = x·σ(x)."""
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            s = _sigmoid_long(v, _exp_minus_abs_long(v))
            return np.multiply(v, s, out=s)

        return rounding.extended_path(x, approx, lambda mp, u: u / (1 + mp.exp(-u)),
                                      lambda t: _mul_limit(t, _sigmoid(t)), refine=_silu_dd)

    return _mul_limit(x, _sigmoid(x))


_SILU_DERIVATIVE_ROOT = _RootExpansion(  # generated with mpmath at 500 bits
    root=(-1.2784645427610737, -1.0946994183093437e-16),
    radius=0.4,
    coefficients=(
        (8.51157325282578e-34, 4.928806459144339e-50), (0.2178117057198001, -3.9743327958808616e-18),
        (0.1466487969969469, -1.1662011480926915e-17), (0.018874814223782312, 1.1069706214013017e-18),
        (-0.015222655223188032, 4.698392245771958e-19), (-0.006606589138356696, -1.596795560382834e-19),
        (0.000126627410081122, -8.900566155019281e-21), (0.0007985218818397998, -3.5379751508859697e-20),
        (0.00018570724361186496, -6.824698836400941e-21), (-4.090534237428612e-05, 2.3506964917592553e-23),
        (-2.9733542213263917e-05, 7.095818778220658e-22), (-2.942631888842464e-06, 1.0990938146986353e-22),
        (2.346029682463866e-06, -6.513725444528059e-23), (8.599695028268575e-07, 4.530225360632052e-23),
        (-3.051244750055421e-08, -2.20024161825976e-24), (-9.266646309267441e-08, 4.9317143978726744e-24),
        (-1.8877622907727957e-08, -7.475103090227958e-25), (4.619379769031606e-09, -7.934349758815072e-26),
        (2.9177603026903803e-09, -2.6264386139280127e-26), (2.3648315053103244e-10, 1.7234743875217867e-26),
        (-2.251366201881081e-10, -8.184283446890237e-27), (-7.50344609385287e-11, 1.4217267069873303e-27),
        (3.998547874723996e-12, 2.483160739233732e-28),
    ),
)


def silu_derivative(x):
    r"""silu'(x) = σ(x)·(1 + x·(1 − σ(x))), with 1 − σ(x) computed as σ(−x).

    The bracket cancels around the zero x₀ = −1.27846; for |x − x₀| ≤ 0.4 the Taylor series at
    x₀ is summed in compensated arithmetic instead.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            z = _exp_minus_abs_long(v)
            d = 1 + z
            one, other = 1 / d, np.divide(z, d, out=z)
            positive = v >= 0
            s, c = np.where(positive, one, other), np.where(positive, other, one)
            return s * (1 + v * c), s * (1 + np.abs(v) * c)  # the bracket cancels near −1.278

        return rounding.extended_path(
            x, approx, lambda mp, u: (1 + u * (1 - 1 / (1 + mp.exp(-u)))) / (1 + mp.exp(-u)),
            lambda t: _mul_limit(_sigmoid(t), 1.0 + _mul_limit(t, _sigmoid(-t))),
            refine=_silu_derivative_dd)

    general = _mul_limit(_sigmoid(x), 1.0 + _mul_limit(x, _sigmoid(-x)))
    return _near_root(x, general, _SILU_DERIVATIVE_ROOT)


register(
    "silu", silu, silu_derivative,
    formula="silu(x) = x·σ(x)",
    derivative_formula="silu'(x) = σ(x)·(1 + x·(1 − σ(x)))",
    latex=r"\mathrm{silu}(x) = x\,\sigma(x)",
    derivative_latex=r"\mathrm{silu}'(x) = \sigma(x)\left(1 + x\,(1 - \sigma(x))\right)",
    aliases=("swish",),
    summary="sigmoid-weighted linear unit (swish)",
    label="SiLU",
)


def _tanh_softplus_terms(x):
    """tanh(softplus(x)) and sech²(softplus(x)) without cancellation for any x.

    With n = e^x·(e^x + 2): tanh(log(1 + e^x)) = n/(n + 2) and sech² = 4(1 + e^x)²/(n + 2)².
    For x > 0 the same fractions are divided through by e^(2x), with t = e^(−x):
    (1 + 2t)/(1 + 2t + 2t²) and 4t²(1 + t)²/(1 + 2t + 2t²)².
    """
    t = np.exp(-np.abs(x))
    n = t * (t + 2.0)  # x ≤ 0
    negative_tanh = n / (n + 2.0)
    negative_sech2 = 4.0 * ((1.0 + t) / (n + 2.0)) ** 2
    d = 1.0 + 2.0 * t + 2.0 * t * t  # x > 0
    positive_tanh = (1.0 + 2.0 * t) / d
    positive_sech2 = 4.0 * (t * (1.0 + t) / d) ** 2
    positive = x > 0
    return np.where(positive, positive_tanh, negative_tanh), np.where(
        positive, positive_sech2, negative_sech2
    )


def mish(x):
    r"""mish(x) = x·tanh(softplus(x)) = x·tanh(log(1 + e^x))."""
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):  # (1 + 2t)/(1 + 2t + 2t²) for v > 0, n/(n + 2) below, n = t(t + 2)
            t = _exp_minus_abs_long(v)
            two_t = 2 * t
            top = 1 + two_t
            positive = v > 0
            n = t * (t + 2)
            numerator = np.where(positive, top, n)
            np.multiply(two_t, t, out=two_t)
            np.add(top, two_t, out=top)
            np.add(n, 2, out=n)
            denominator = np.where(positive, top, n)
            np.divide(numerator, denominator, out=numerator)
            return np.multiply(v, numerator, out=numerator)

        def exact(mp, u):
            return u * mp.tanh(mp.log1p(mp.exp(u)))

        return rounding.extended_path(x, approx, exact, lambda t: np.where(t > 0, t, -0.0),
                                      refine=_mish_dd)

    tanh_sp, _ = _tanh_softplus_terms(x)
    return _mul_limit(x, tanh_sp)


_MISH_DERIVATIVE_ROOT = _RootExpansion(  # generated with mpmath at 500 bits
    root=(-1.1924312145154952, -4.8484829848031044e-17),
    radius=0.65,
    coefficients=(
        (5.06911428663561e-34, 3.6885955201730613e-50), (0.2669479140495345, 1.5332816617135587e-17),
        (0.20473126408010586, 3.823755128643402e-18), (0.04190782104360987, 2.5437052337220936e-18),
        (-0.020271822716684245, -1.0865826138465655e-18), (-0.01582112656173338, -1.0926651201187327e-18),
        (-0.0033606849270232685, -1.2256450878624756e-19), (0.0010924055409445854, 7.493491361479288e-20),
        (0.0009898181021289196, 3.4214138674888805e-20), (0.00025412936386191073, 4.572467466471456e-21),
        (-4.1961496031696126e-05, -3.0485054770849926e-21), (-5.582891567360688e-05, 3.588376219176287e-22),
        (-1.72992708103044e-05, -1.573647738049187e-22), (9.427361327376651e-07, 3.0463976222566786e-23),
        (2.9088199364912223e-06, -7.044208429544996e-23), (1.071676702702074e-06, -9.347062118555735e-23),
        (2.6879417855557728e-08, -1.3852105973095884e-24), (-1.4117255919499382e-07, -5.4532072789931845e-24),
        (-6.174424363104907e-08, -9.42460907645247e-25), (-5.460186173028381e-09, -9.955925201250911e-26),
        (6.3895954615089855e-09, -3.742617966811054e-26), (3.3604012383661332e-09, -1.2423224369958457e-26),
        (4.817646300218697e-10, 2.4148822087270878e-26), (-2.6751871594311224e-10, 1.1766450233474239e-26),
        (-1.7442209713382678e-10, 8.038388609392894e-27), (-3.3904729895707114e-11, 2.700619815339216e-27),
        (1.0101727316036154e-11, 8.0237445120167475e-28), (8.681382594457511e-12, -3.263922158616574e-28),
        (2.124385967466607e-12, 1.7741783650013557e-28), (-3.20344479568135e-13, -2.2046343581112395e-30),
        (-4.153673469447499e-13, -1.2861800106430696e-29),
    ),
)


def mish_derivative(x):
    r"""mish'(x) = tanh(softplus(x)) + x·sech²(softplus(x))·σ(x).

    The two terms cancel around the zero x₀ = −1.19243; for |x − x₀| ≤ 0.65 the Taylor series
    at x₀ is summed in compensated arithmetic instead.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):  # _tanh_softplus_terms in long double, one branch's operations per element
            t = _exp_minus_abs_long(v)
            positive = v > 0
            two_t = 2 * t
            top = 1 + two_t
            n = t * (t + 2)
            numerator = np.where(positive, top, n)
            np.multiply(two_t, t, out=two_t)
            np.add(top, two_t, out=top)  # d = 1 + 2t + 2t² (v > 0)
            np.add(n, 2, out=n)  # n + 2 (v ≤ 0)
            denominator = np.where(positive, top, n)
            # one division: with r = 1/D, tanh(sp) = numerator·r and x·sech²(sp)·σ(x) =
            # 4x·(1 + t)·w·r², w = t² for v > 0 and t below (sech² = 4(1 + t)²·(t² or 1)·r², σ =
            # (1 or t)/(1 + t)): fewer roundings than the three quotients, within the same bound
            r = np.divide(1, denominator, out=denominator)
            tanh_sp = np.multiply(numerator, r, out=numerator)
            w = np.where(positive, t * t, t)
            second = 4 * v * (1 + t) * w * r * r
            return tanh_sp + second, np.abs(tanh_sp) + np.abs(second)

        def exact(mp, u):
            sp_ = mp.log1p(mp.exp(u))
            return mp.tanh(sp_) + u / mp.cosh(sp_) ** 2 / (1 + mp.exp(-u))

        return rounding.extended_path(x, approx, exact, lambda t: np.where(t > 0, 1.0, 0.0),
                                      refine=_mish_derivative_dd)

    tanh_sp, sech2_sp = _tanh_softplus_terms(x)
    return _near_root(x, tanh_sp + _mul_limit(x, sech2_sp * _sigmoid(x)), _MISH_DERIVATIVE_ROOT)


register(
    "mish", mish, mish_derivative,
    formula="mish(x) = x·tanh(softplus(x))",
    derivative_formula="mish'(x) = tanh(softplus(x)) + x·sech²(softplus(x))·σ(x)",
    latex=r"\mathrm{mish}(x) = x \tanh\left(\ln(1 + e^{x})\right)",
    derivative_latex=(
        r"\mathrm{mish}'(x) = \tanh(\mathrm{sp}(x)) + x\,\operatorname{sech}^2(\mathrm{sp}(x))"
        r"\,\sigma(x), \quad \mathrm{sp}(x) = \ln(1 + e^{x})"
    ),
    summary="self-regularised non-monotonic activation",
)


def softplus(x, beta, threshold):
    r"""softplus(x) = (1/β)·log(1 + e^(β·x)), or x itself where β·x > threshold (as PyTorch).

    Stable form: max(v, 0) + log1p(e^(−|v|)) with v = β·x carried in double-double.
    The comparison β·x > threshold uses the rounded product, exactly like PyTorch.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        high, low = _two_product(x, np.asarray(beta, dtype=x.dtype))
        h, lo = high.astype(rounding.LONG), low.astype(rounding.LONG)

        exact_product = not low.any()  # β·x exact (β = 1): the low-part terms below are 0

        def approx(v):
            z = _exp_minus_abs_long(high)
            value = np.maximum(high, 0).astype(rounding.LONG)  # exact in float64
            if not exact_product:
                z *= 1 - np.sign(h) * lo
                value += np.where(h > 0, lo, 0)
            value += np.log1p(z, out=z)
            if beta != 1:
                value /= rounding.LONG(beta)
            above = high > threshold
            return np.where(above, v, value) if above.any() else value

        def exact(mp, u):
            if float(u) * beta > threshold:
                return u
            b = mp.mpf(beta)
            return mp.log1p(mp.exp(b * u)) / b if b * u < 0 else u + mp.log1p(mp.exp(-b * u)) / b

        return rounding.extended_path(
            x, approx, exact,
            lambda t: np.where(t * beta > threshold, t, np.where(t * beta > 0, t, 0.0)),
            refine=_softplus_dd(beta, threshold))

    v, v_low = _two_product(x, np.asarray(beta, dtype=x.dtype))
    return np.where(v > threshold, x, _softplus_of_sum(v, v_low) / beta)


def softplus_derivative(x, beta, threshold):
    r"""softplus'(x) = σ(β·x), or 1 where β·x > threshold (PyTorch: σ at the threshold itself)."""
    from dlcalc import rounding

    if rounding.extended(x):

        high, low = _two_product(x, np.asarray(beta, dtype=x.dtype))
        exact_product = not low.any()  # β·x exact (β = 1): no correction for the low part

        def sigma(v):  # σ(high + low) in long double, low ≪ high
            z = _exp_minus_abs_long(high)
            if not exact_product:
                z *= 1 - np.sign(high) * low.astype(rounding.LONG)
            value = _sigmoid_long(high, z)
            above = high > threshold
            return np.where(above, 1, value) if above.any() else value

        def exact(mp, u):
            if float(u) * beta > threshold:
                return 1
            return 1 / (1 + mp.exp(-mp.mpf(beta) * u))

        return rounding.extended_path(
            x, sigma, exact,
            lambda t: np.where(t * beta > 0, 1.0, 0.0),
            refine=_softplus_derivative_dd(beta, threshold))

    v, v_low = _two_product(x, np.asarray(beta, dtype=x.dtype))
    return np.where(v > threshold, 1.0, _sigmoid_of_sum(v, v_low))


register(
    "softplus", softplus, softplus_derivative,
    formula="softplus(x) = (1/β)·log(1 + e^(β·x)), or x where β·x > threshold",
    derivative_formula="softplus'(x) = σ(β·x), or 1 where β·x > threshold",
    latex=r"\mathrm{softplus}(x) = \frac{1}{\beta}\log\left(1 + e^{\beta x}\right)",
    derivative_latex=r"\mathrm{softplus}'(x) = \sigma(\beta x)",
    parameters=(
        Parameter("beta", 1.0, "sharpness β (> 0)"),
        Parameter("threshold", 20.0, "above β·x > threshold the function is x itself"),
    ),
    summary="smooth ReLU, log(1 + e^x)",
    kinks=lambda beta, threshold: (threshold / beta,),
    label="Softplus",
    latex_name=r"\operatorname{softplus}",
    # in expressions: the smooth log(1 + e^x) itself (β = 1, no linear branch above the
    # threshold), since a symbolic derivative needs one formula
    symbolic=SymbolicForm(
        closed_form=lambda sp, x: sp.log(1 + sp.exp(x)),
        derivative=lambda sp, f, x: f["sigmoid"](x),
        values=lambda sp, x: sp.log(2) if x.is_zero else None,
        rewrite_as="log",
        parameters={"threshold": math.inf},
    ),
    check=lambda beta, threshold: f"beta must be > 0, got {beta:g}" if beta <= 0 else None,
)


def squareplus(x, b):
    r"""squareplus(x) = (x + √(x² + b)) / 2 (JAX).

    For x < 0 the sum cancels, so it is written as b / (2·(√(x² + b) − x)); √(x² + b) is
    hypot(x, √b), which does not overflow for |x| up to the largest float.
    """
    from dlcalc import rounding

    if rounding.extended(x):
        bl = rounding.LONG(b)

        def approx(v):
            s = np.sqrt(v * v + bl)
            return np.where(v < 0, bl / (2 * (s - v)), (v + s) / 2)

        return rounding.extended_path(
            x, approx, lambda mp, u: (u + mp.sqrt(u * u + mp.mpf(b))) / 2,
            lambda t: np.where(t > 0, t, 0.0), refine=lambda t: _dd_squareplus(t, b))

    s = np.hypot(x, math.sqrt(b))
    return np.where(x < 0, b / (2.0 * (s - x)), 0.5 * x + 0.5 * s)


def squareplus_derivative(x, b):
    r"""squareplus'(x) = (1 + x/√(x² + b)) / 2, written as b / (2·s·(s − x)) for x < 0."""
    from dlcalc import rounding

    if rounding.extended(x):
        bl = rounding.LONG(b)

        def approx(v):
            s = np.sqrt(v * v + bl)
            return np.where(v < 0, bl / (2 * s * (s - v)), (1 + v / s) / 2)

        return rounding.extended_path(
            x, approx, lambda mp, u: (1 + u / mp.sqrt(u * u + mp.mpf(b))) / 2,
            lambda t: np.where(t > 0, 1.0, 0.0), refine=lambda t: _dd_squareplus(t, b, True))

    s = np.hypot(x, math.sqrt(b))
    ratio = np.where(np.isinf(x), np.sign(x), x / s)
    return np.where(x < 0, b / (2.0 * s * (s - x)), 0.5 * (1.0 + ratio))


register(
    "squareplus", squareplus, squareplus_derivative,
    formula="squareplus(x) = (x + √(x² + b)) / 2",
    derivative_formula="squareplus'(x) = (1 + x/√(x² + b)) / 2",
    latex=r"\mathrm{squareplus}(x) = \frac{x + \sqrt{x^2 + b}}{2}",
    derivative_latex=r"\mathrm{squareplus}'(x) = \frac{1}{2}\left(1 + \frac{x}{\sqrt{x^2 + b}}\right)",
    parameters=(Parameter("b", 4.0, "smoothness b (> 0)"),),
    aliases=("square_plus",),
    summary="JAX's algebraic smooth ReLU",
    check=lambda b: f"b must be > 0, got {b:g}" if b <= 0 else None,
)


def softsign(x):
    r"""softsign(x) = x / (1 + |x|)."""
    from dlcalc import rounding

    if rounding.extended(x):
        return rounding.extended_path(x, lambda v: v / (1 + np.abs(v)),
                                      lambda mp, u: u / (1 + abs(u)), np.sign, refine=_dd_softsign)

    return np.where(np.isinf(x), np.sign(x), x / (1.0 + np.abs(x)))


def softsign_derivative(x):
    r"""softsign'(x) = 1 / (1 + |x|)²."""
    from dlcalc import rounding

    if rounding.extended(x):
        return rounding.extended_path(x, lambda v: 1 / ((1 + np.abs(v)) * (1 + np.abs(v))),
                                      lambda mp, u: 1 / (1 + abs(u)) ** 2, lambda t: np.zeros_like(t),
                                      refine=lambda t: _dd_softsign(t, derivative=True))

    return 1.0 / ((1.0 + np.abs(x)) * (1.0 + np.abs(x)))


register(
    "softsign", softsign, softsign_derivative,
    formula="softsign(x) = x / (1 + |x|)",
    derivative_formula="softsign'(x) = 1 / (1 + |x|)²",
    latex=r"\mathrm{softsign}(x) = \frac{x}{1 + |x|}",
    derivative_latex=r"\mathrm{softsign}'(x) = \frac{1}{(1 + |x|)^2}",
    aliases=("soft_sign",),
    summary="algebraic squashing to (−1, 1)",
    label="Softsign",
)


def logsigmoid(x):
    r"""logsigmoid(x) = log σ(x) = −softplus(−x) = min(x, 0) − log1p(e^(−|x|))."""
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            return np.minimum(v, 0) - np.log1p(np.exp(-np.abs(v)))

        return rounding.extended_path(
            x, approx, lambda mp, u: -mp.log1p(mp.exp(-u)) if u > 0 else u - mp.log1p(mp.exp(u)),
            lambda t: np.minimum(t, 0.0) - np.log1p(np.exp(-np.abs(t))),
            refine=lambda t: _dd_negated(_softplus_dd(1.0, math.inf)(-t)))  # −softplus(−x)

    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def logsigmoid_derivative(x):
    r"""logsigmoid'(x) = 1 − σ(x) = σ(−x)."""
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            z = np.exp(-np.abs(v))
            return np.where(v <= 0, 1 / (1 + z), z / (1 + z))

        return rounding.extended_path(x, approx, lambda mp, u: 1 / (1 + mp.exp(u)),
                                      lambda t: _sigmoid(-t), refine=lambda t: _sigmoid_dd(-t))

    return _sigmoid(-x)


register(
    "logsigmoid", logsigmoid, logsigmoid_derivative,
    formula="logsigmoid(x) = log(1 / (1 + e^(−x)))",
    derivative_formula="logsigmoid'(x) = 1 − σ(x)",
    latex=r"\mathrm{logsigmoid}(x) = \log \frac{1}{1 + e^{-x}}",
    derivative_latex=r"\mathrm{logsigmoid}'(x) = 1 - \sigma(x)",
    aliases=("log_sigmoid",),
    summary="log of the sigmoid, −softplus(−x)",
    label="LogSigmoid",
)


def hardsigmoid(x):
    r"""hardsigmoid(x) = relu6(x + 3) / 6."""
    from dlcalc import rounding

    if rounding.extended(x):
        return rounding.extended_path(x, lambda v: np.clip(v + 3, 0, 6) / 6,
                                      lambda mp, u: min(max(u + 3, 0), 6) / 6,
                                      lambda t: np.clip(t + 3.0, 0.0, 6.0) / 6.0,
                                      refine=lambda t: _dd_linear_over_six(t, 1.0, 1.0))

    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def hardsigmoid_derivative(x):
    r"""hardsigmoid'(x) = 1/6 if −3 < x < 3 else 0 (PyTorch: 0 at ±3; it rounds 1/6 to float32)."""
    return np.where((x > -3) & (x < 3), 1.0 / 6.0, 0.0)


register(
    "hardsigmoid", hardsigmoid, hardsigmoid_derivative,
    formula="hardsigmoid(x) = min(max(0, x + 3), 6) / 6",
    derivative_formula="hardsigmoid'(x) = 1/6 if −3 < x < 3, else 0",
    latex=r"\mathrm{hardsigmoid}(x) = \frac{\min(\max(0, x + 3), 6)}{6}",
    derivative_latex=(
        r"\mathrm{hardsigmoid}'(x) = \begin{cases} 1/6 & -3 < x < 3 \\ 0 & \text{otherwise} "
        r"\end{cases}"
    ),
    aliases=("hard_sigmoid",),
    summary="piecewise-linear sigmoid",
    kinks=(-3.0, 3.0),
    label="Hardsigmoid",
)


def hardtanh(x, min_val, max_val):
    r"""hardtanh(x) = min(max(x, min_val), max_val)."""
    return np.clip(x, min_val, max_val)


def hardtanh_derivative(x, min_val, max_val):
    r"""hardtanh'(x) = 1 if min_val < x < max_val else 0 (PyTorch: 0 at both ends)."""
    return np.where((x > min_val) & (x < max_val), 1.0, 0.0)


register(
    "hardtanh", hardtanh, hardtanh_derivative,
    formula="hardtanh(x) = min(max(x, min_val), max_val)",
    derivative_formula="hardtanh'(x) = 1 if min_val < x < max_val, else 0",
    latex=r"\mathrm{hardtanh}(x) = \min(\max(x, a), b)",
    derivative_latex=r"\mathrm{hardtanh}'(x) = \begin{cases} 1 & a < x < b \\ 0 & \text{otherwise} \end{cases}",
    parameters=(
        Parameter("min_val", -1.0, "lower clip a"),
        Parameter("max_val", 1.0, "upper clip b (> min_val)"),
    ),
    aliases=("hard_tanh",),
    summary="piecewise-linear tanh (clip)",
    kinks=lambda min_val, max_val: (min_val, max_val),
    label="Hardtanh",
    check=lambda min_val, max_val: (
        f"min_val must be < max_val, got min_val={min_val:g}, max_val={max_val:g}"
        if min_val >= max_val else None),
)


def hardswish(x):
    r"""hardswish(x) = x·relu6(x + 3) / 6."""
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            return np.where(v <= -3, 0, np.where(v >= 3, v, v * (v + 3) / 6))

        return rounding.extended_path(
            x, approx, lambda mp, u: 0 if u <= -3 else (u if u >= 3 else u * (u + 3) / 6),
            lambda t: np.where(t <= -3, 0.0, t),
            refine=lambda t: _dd_pieces(t, (
                _dd(0 * t), exact.dd_div(exact.dd_mul_d(_dd_shifted(t, 1.0, 3.0), t), _SIX), _dd(t)),
                (-3.0, 3.0)))

    return np.where(x <= -3, 0.0, np.where(x >= 3, x, x * (x + 3.0) / 6.0))


def hardswish_derivative(x):
    r"""hardswish'(x) = 0 if x ≤ −3, (2x + 3)/6 if −3 < x < 3, 1 if x ≥ 3 (PyTorch at ±3)."""
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            return np.where(v <= -3, 0, np.where(v >= 3, 1, (2 * v + 3) / 6))

        return rounding.extended_path(
            x, approx, lambda mp, u: 0 if u <= -3 else (1 if u >= 3 else (2 * u + 3) / 6),
            lambda t: np.where(t <= -3, 0.0, 1.0),
            refine=lambda t: _dd_linear_over_six(t, 2.0, 1.0))

    return np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, (2.0 * x + 3.0) / 6.0))


register(
    "hardswish", hardswish, hardswish_derivative,
    formula="hardswish(x) = x·min(max(0, x + 3), 6) / 6",
    derivative_formula="hardswish'(x) = 0 if x ≤ −3, (2x + 3)/6 if −3 < x < 3, 1 if x ≥ 3",
    latex=r"\mathrm{hardswish}(x) = \frac{x \min(\max(0, x + 3), 6)}{6}",
    derivative_latex=(
        r"\mathrm{hardswish}'(x) = \begin{cases} 0 & x \le -3 \\ \frac{2x + 3}{6} & -3 < x < 3 "
        r"\\ 1 & x \ge 3 \end{cases}"
    ),
    aliases=("hard_swish", "hard_silu", "hardsilu"),
    summary="piecewise-quadratic swish",
    kinks=(-3.0, 3.0),
    label="Hardswish",
)


# 2n/(2n+1)!, n = 1..14: x·cosh x − sinh x = Σ 2n·x^(2n+1)/(2n+1)!, all terms of one sign.
_TANHSHRINK_SERIES = (
    0.3333333333333333, 0.03333333333333333, 0.0011904761904761906, 2.2045855379188714e-05,
    2.505210838544172e-07, 1.9270852604185937e-09, 1.0706029224547743e-11,
    4.498331606952833e-14, 1.4797143443923793e-16, 3.9145882126782523e-19,
    8.509974375387505e-22, 1.5472680682522736e-24, 2.387759364586842e-27,
    3.166789608205361e-30,
)


def tanhshrink(x):
    r"""tanhshrink(x) = x − tanh(x).

    For |x| < 2, x − tanh x cancels; it is computed as (x·cosh x − sinh x)/cosh x with the
    numerator's Taylor series, whose terms are all of one sign (tanhshrink(1e-8) = 3.3e-25).
    """
    from dlcalc import rounding

    if rounding.extended(x):
        def approx(v):
            square = v * v
            series = np.zeros_like(v)
            for n in range(14, 0, -1):  # 2n/(2n+1)!, as _TANHSHRINK_SERIES, in long double
                series = series * square + rounding.LONG(2 * n) / rounding.LONG(math.factorial(2 * n + 1))
            near = v * square * series / np.cosh(np.minimum(np.abs(v), 2))
            return np.where(np.abs(v) < 2, near, v - np.tanh(v))

        return rounding.extended_path(x, approx, lambda mp, u: u - mp.tanh(u),
                                      lambda t: t - np.tanh(t), ulps=16.0, refine=_dd_tanhshrink)

    square = x * x
    series = np.zeros_like(x)
    for coefficient in reversed(_TANHSHRINK_SERIES):
        series = series * square + coefficient
    near = x * square * series / np.cosh(np.minimum(np.abs(x), 2.0))
    return np.where(np.abs(x) < 2.0, near, x - np.tanh(x))


def tanhshrink_derivative(x):
    r"""tanhshrink'(x) = 1 − sech²(x) = tanh²(x), with no cancellation near 0."""
    from dlcalc import rounding

    if rounding.extended(x):
        return rounding.extended_path(x, lambda v: np.tanh(v) ** 2, lambda mp, u: mp.tanh(u) ** 2,
                                      lambda t: np.ones_like(t), refine=_dd_tanh_squared)

    t = np.tanh(x)
    return t * t


register(
    "tanhshrink", tanhshrink, tanhshrink_derivative,
    formula="tanhshrink(x) = x − tanh(x)",
    derivative_formula="tanhshrink'(x) = tanh²(x)",
    latex=r"\mathrm{tanhshrink}(x) = x - \tanh(x)",
    derivative_latex=r"\mathrm{tanhshrink}'(x) = \tanh^2(x)",
    aliases=("tanh_shrink",),
    summary="x minus tanh x",
    label="Tanhshrink",
)


def softshrink(x, lambd):
    r"""softshrink(x) = x − λ if x > λ, x + λ if x < −λ, else 0."""
    return np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0))


def softshrink_derivative(x, lambd):
    r"""softshrink'(x) = 1 if |x| > λ else 0 (PyTorch: 0 at ±λ)."""
    return np.where((x > lambd) | (x < -lambd), 1.0, 0.0)


register(
    "softshrink", softshrink, softshrink_derivative,
    formula="softshrink(x) = x − λ if x > λ, x + λ if x < −λ, else 0",
    derivative_formula="softshrink'(x) = 1 if |x| > λ, else 0",
    latex=(
        r"\mathrm{softshrink}(x) = \begin{cases} x - \lambda & x > \lambda \\ x + \lambda & "
        r"x < -\lambda \\ 0 & \text{otherwise} \end{cases}"
    ),
    derivative_latex=(
        r"\mathrm{softshrink}'(x) = \begin{cases} 1 & |x| > \lambda \\ 0 & \text{otherwise} "
        r"\end{cases}"
    ),
    parameters=(Parameter("lambd", 0.5, "half-width λ of the dead zone (≥ 0)", ("lambda",)),),
    aliases=("soft_shrink",),
    summary="soft thresholding",
    kinks=lambda lambd: (-lambd, lambd),
    label="Softshrink",
    check=lambda lambd: f"lambd must be ≥ 0, got {lambd:g}" if lambd < 0 else None,
)


def hardshrink(x, lambd):
    r"""hardshrink(x) = x if |x| > λ else 0."""
    return np.where((x > lambd) | (x < -lambd), x, 0.0)


def hardshrink_derivative(x, lambd):
    r"""hardshrink'(x) = 1 if |x| > λ else 0 (PyTorch: 0 at ±λ)."""
    return np.where((x > lambd) | (x < -lambd), 1.0, 0.0)


register(
    "hardshrink", hardshrink, hardshrink_derivative,
    formula="hardshrink(x) = x if |x| > λ, else 0",
    derivative_formula="hardshrink'(x) = 1 if |x| > λ, else 0",
    latex=r"\mathrm{hardshrink}(x) = \begin{cases} x & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
    derivative_latex=(
        r"\mathrm{hardshrink}'(x) = \begin{cases} 1 & |x| > \lambda \\ 0 & \text{otherwise} "
        r"\end{cases}"
    ),
    parameters=(Parameter("lambd", 0.5, "half-width λ of the dead zone (≥ 0)", ("lambda",)),),
    aliases=("hard_shrink",),
    summary="hard thresholding",
    kinks=lambda lambd: (-lambd, lambd),
    label="Hardshrink",
    check=lambda lambd: f"lambd must be ≥ 0, got {lambd:g}" if lambd < 0 else None,
)


def threshold(x, threshold, value):
    r"""threshold(x) = x if x > threshold else value.

    PyTorch's F.threshold has no defaults; dlcalc uses threshold = 0 and value = 0 (then it is
    relu).
    """
    return np.where(x > threshold, x, value)


def threshold_derivative(x, threshold, value):
    r"""threshold'(x) = 1 if x > threshold else 0 (PyTorch: 0 at the threshold)."""
    return np.where(x > threshold, 1.0, 0.0)


register(
    "threshold", threshold, threshold_derivative,
    formula="threshold(x) = x if x > t, else v",
    derivative_formula="threshold'(x) = 1 if x > t, else 0",
    latex=r"\mathrm{threshold}(x) = \begin{cases} x & x > t \\ v & x \le t \end{cases}",
    derivative_latex=r"\mathrm{threshold}'(x) = \begin{cases} 1 & x > t \\ 0 & x \le t \end{cases}",
    parameters=(
        Parameter("threshold", 0.0, "t: inputs above it pass (no default in PyTorch)"),
        Parameter("value", 0.0, "v: the output at or below t (no default in PyTorch)"),
    ),
    summary="x above a threshold, a constant below",
    kinks=lambda threshold, value: (threshold,),
)


def _dd_sparse_plus(x):
    """(x + 1)²/4 with x + 1 exact: one product (2⁻¹⁰⁴)."""
    s = _dd_shifted(x, 1.0, 1.0)
    square = exact.dd_mul(s, s)
    return _dd_pieces(x, (_dd(0 * x), (0.25 * square[0], 0.25 * square[1]), _dd(x)), (-1.0, 1.0))


def sparse_plus(x):
    r"""sparse_plus(x) = 0 if x ≤ −1, (x + 1)²/4 if −1 < x < 1, x if x ≥ 1 (JAX)."""
    from dlcalc import rounding

    if rounding.extended(x):
        return rounding.extended_path(
            x, lambda v: np.where(v <= -1, 0, np.where(v >= 1, v, (v + 1) * (v + 1) / 4)),
            lambda mp, u: 0 if u <= -1 else (u if u >= 1 else (u + 1) ** 2 / 4),
            lambda t: np.where(t > 0, t, 0.0), refine=_dd_sparse_plus)

    return np.where(x <= -1, 0.0, np.where(x >= 1, x, 0.25 * (x + 1.0) * (x + 1.0)))


def sparse_plus_derivative(x):
    r"""sparse_plus'(x) = sparse_sigmoid(x) = clip((x + 1)/2, 0, 1) (continuous)."""
    return 0.5 * np.clip(x + 1.0, 0.0, 2.0)


register(
    "sparse_plus", sparse_plus, sparse_plus_derivative,
    formula="sparse_plus(x) = 0 if x ≤ −1, (x + 1)²/4 if −1 < x < 1, x if x ≥ 1",
    derivative_formula="sparse_plus'(x) = 0 if x ≤ −1, (x + 1)/2 if −1 < x < 1, 1 if x ≥ 1",
    latex=(
        r"\mathrm{sparse\_plus}(x) = \begin{cases} 0 & x \le -1 \\ \frac{(x + 1)^2}{4} & "
        r"-1 < x < 1 \\ x & x \ge 1 \end{cases}"
    ),
    derivative_latex=(
        r"\mathrm{sparse\_plus}'(x) = \begin{cases} 0 & x \le -1 \\ \frac{x + 1}{2} & "
        r"-1 < x < 1 \\ 1 & x \ge 1 \end{cases}"
    ),
    aliases=("sparseplus",),
    summary="JAX's piecewise-quadratic smooth ReLU",
)


def sparse_sigmoid(x):
    r"""sparse_sigmoid(x) = clip((x + 1)/2, 0, 1) (JAX), the derivative of sparse_plus."""
    return 0.5 * np.clip(x + 1.0, 0.0, 2.0)


def sparse_sigmoid_derivative(x):
    r"""sparse_sigmoid'(x) = 1/2 if −1 < x < 1 else 0 (0 at ±1, like PyTorch's hardtanh)."""
    return np.where((x > -1) & (x < 1), 0.5, 0.0)


register(
    "sparse_sigmoid", sparse_sigmoid, sparse_sigmoid_derivative,
    formula="sparse_sigmoid(x) = min(max((x + 1)/2, 0), 1)",
    derivative_formula="sparse_sigmoid'(x) = 1/2 if −1 < x < 1, else 0",
    latex=r"\mathrm{sparse\_sigmoid}(x) = \min\left(\max\left(\frac{x + 1}{2}, 0\right), 1\right)",
    derivative_latex=(
        r"\mathrm{sparse\_sigmoid}'(x) = \begin{cases} \frac{1}{2} & -1 < x < 1 \\ 0 & "
        r"\text{otherwise} \end{cases}"
    ),
    aliases=("sparsesigmoid",),
    summary="JAX's piecewise-linear sigmoid",
    kinks=(-1.0, 1.0),
)


def identity(x):
    r"""identity(x) = x."""
    return x.copy()


def identity_derivative(x):
    r"""identity'(x) = 1."""
    return np.ones_like(x)


register(
    "identity", identity, identity_derivative,
    formula="identity(x) = x",
    derivative_formula="identity'(x) = 1",
    latex=r"\mathrm{identity}(x) = x",
    derivative_latex=r"\mathrm{identity}'(x) = 1",
    aliases=("linear",),
    summary="the input unchanged",
)


# ---------------------------------------------------------------------------------------------
# Expressions and `dlcalc grad`: each entry's SymPy function, built from the entry on demand


class SymbolicHelper(NamedTuple):
    """A function of expressions that is not an activation (Φ and φ, which gelu' is made of)."""

    name: str
    function: Callable[[np.ndarray], np.ndarray]
    latex_name: str
    symbolic: SymbolicForm


def _normal_density(x):
    return _INV_SQRT_2PI * _exp_minus_half_square(_as_float_array(x))


SYMBOLIC_HELPERS: dict[str, SymbolicHelper] = {
    "Phi": SymbolicHelper(
        "Phi", ndtr, r"\Phi",
        SymbolicForm(
            closed_form=lambda sp, x: sp.erfc(-x / sp.sqrt(2)) / 2,
            derivative=lambda sp, f, x: f["phi"](x),
            values=lambda sp, x: _limits_0_half_1(sp, x),
            rewrite_as="erf",
            rewritten=lambda sp, f, x: (1 + sp.erf(x / sp.sqrt(2))) / 2,
            reflection=True,
        ),
    ),
    "phi": SymbolicHelper(
        "phi", _normal_density, r"\phi",
        SymbolicForm(
            closed_form=lambda sp, x: sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi),
            derivative=lambda sp, f, x: -x * f["phi"](x),
        ),
    ),
}


def _limits_0_half_1(sp, x):
    """σ and Φ at 0 and ±∞: 1/2, 1 and 0."""
    if x.is_zero:
        return sp.S.Half
    if x is sp.S.Infinity:
        return sp.S.One
    if x is sp.S.NegativeInfinity:
        return sp.S.Zero
    return None


_SYMBOLIC_CLASSES: dict[tuple, dict[str, type]] = {}


def _symbolic_sources() -> dict[str, tuple[str, SymbolicForm]]:
    """name → (LaTeX name, form) of every entry that expressions can call, helpers last."""
    sources = {
        name: (entry.latex_name or rf"\operatorname{{{name}}}", entry.symbolic)
        for name, entry in REGISTRY.items() if entry.symbolic is not None
    }
    sources.update({h.name: (h.latex_name, h.symbolic) for h in SYMBOLIC_HELPERS.values()})
    return sources


def symbolic_functions() -> dict[str, type]:
    """name → SymPy function class for every entry with a `SymbolicForm`, and Φ and φ.

    Built on first use from the entries (so SymPy is imported only on the expression path), and
    rebuilt if the registry changes. Each class carries the entry's derivative (`fdiff`), closed
    form (`evalf`, `rewrite`), LaTeX name and `numpy` (the entry's NumPy function).
    """
    sources = _symbolic_sources()
    key = tuple((name, id(form)) for name, (_, form) in sources.items())
    classes = _SYMBOLIC_CLASSES.get(key)
    if classes is None:
        classes = _build_symbolic_classes(sources)
        _SYMBOLIC_CLASSES[key] = classes
    return classes


def numpy_forms() -> dict[str, Callable]:
    """name → the NumPy function an expression's call of that name is evaluated with."""
    forms = {}
    for name, entry in REGISTRY.items():
        if entry.symbolic is not None:
            parameters = dict(entry.symbolic.parameters)
            forms[name] = (functools.partial(entry.function, **parameters) if parameters
                           else entry.function)
    forms.update({h.name: h.function for h in SYMBOLIC_HELPERS.values()})
    return forms


def _build_symbolic_classes(sources) -> dict[str, type]:
    import sympy as sp

    classes: dict[str, type] = {}

    def make(name, latex_name, form):
        def eval_(cls, x):
            return form.values(sp, x) if form.values is not None else None

        def fdiff(self, argindex=1):
            return form.derivative(sp, classes, self.args[0])

        def closed_form(cls, x):
            return form.closed_form(sp, x)

        def _eval_evalf(self, prec):
            if not self.args[0].is_number:
                return None
            return form.closed_form(sp, self.args[0])._eval_evalf(prec)

        def _eval_is_extended_real(self):
            return self.args[0].is_extended_real

        def _latex(self, printer, exp=None):
            body = rf"{latex_name}\left({printer._print(self.args[0])}\right)"
            return body if exp is None else rf"{body}^{{{exp}}}"

        def rewrite(self, x, **kwargs):
            if form.rewritten is not None:
                return form.rewritten(sp, classes, x)
            return form.closed_form(sp, x)

        return type(name, (sp.Function,), {
            "__doc__": f"{name} from dlcalc's registry: derivative, closed form and LaTeX.",
            "__module__": __name__,
            "nargs": 1,
            "latex_name": latex_name,
            "reflection": form.reflection,
            "registry_function": True,
            "eval": classmethod(eval_),
            "fdiff": fdiff,
            "closed_form": classmethod(closed_form),
            "_eval_evalf": _eval_evalf,
            "_eval_is_extended_real": _eval_is_extended_real,
            "_latex": _latex,
            f"_eval_rewrite_as_{form.rewrite_as}": rewrite,
        })

    for name, (latex_name, form) in sources.items():
        classes[name] = make(name, latex_name, form)
    return classes


# ---------------------------------------------------------------------------------------------
# Looking up names and binding parameters


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _names() -> dict[str, str]:
    """Every accepted spelling (canonical names and aliases) -> canonical name."""
    names = {}
    for activation in REGISTRY.values():
        for spelling in (activation.name, *activation.aliases):
            names[_key(spelling)] = activation.name
    return names


def lookup(name: str) -> Activation:
    """The registry entry for a canonical name or alias (case-insensitive, '-' same as '_')."""
    names = _names()
    key = _key(name)
    if key not in names:
        compact = {spelling.replace("_", ""): canonical for spelling, canonical in names.items()}
        if key.replace("_", "") in compact:
            return REGISTRY[compact[key.replace("_", "")]]
        close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{names[close[0]]}'?"
        else:
            hint = "known: " + ", ".join(REGISTRY) + "."
        raise DlcalcError(
            f"unknown function '{name}'; {hint} (dlcalc activate --list shows all)"
        )
    return REGISTRY[names[key]]


def _parameter_list(activation: Activation) -> str:
    return ", ".join(
        p.name + (f" (alias {', '.join(p.aliases)})" if p.aliases else "")
        for p in activation.parameters
    )


def bind_parameters(activation: Activation, overrides: Mapping[str, float]) -> dict[str, float]:
    """The activation's parameter defaults updated by `overrides` (names or aliases), validated."""
    by_spelling = {}
    for parameter in activation.parameters:
        for spelling in (parameter.name, *parameter.aliases):
            by_spelling[_key(spelling)] = parameter.name
    values = {p.name: float(p.default) for p in activation.parameters}
    given: dict[str, str] = {}
    for spelling, raw in overrides.items():
        key = _key(str(spelling))
        if key not in by_spelling:
            if not activation.parameters:
                raise DlcalcError(
                    f"{activation.name} takes no parameters (got '{spelling}')"
                )
            raise DlcalcError(
                f"{activation.name} has no parameter '{spelling}'; "
                f"valid: {_parameter_list(activation)}"
            )
        name = by_spelling[key]
        if name in given and given[name] != spelling:
            raise DlcalcError(
                f"{activation.name} parameter '{name}' given twice ('{given[name]}' and "
                f"'{spelling}')"
            )
        given[name] = spelling
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise DlcalcError(
                f"{activation.name} parameter '{spelling}' must be a number, got '{raw}'"
            ) from None
        if not math.isfinite(value):
            raise DlcalcError(
                f"{activation.name} parameter '{spelling}' must be finite, got {value}"
            )
        values[name] = value
    _validate(activation, values)
    return values


def _validate(activation: Activation, values: dict[str, float]) -> None:
    if activation.check is not None:
        problem = activation.check(**values)
        if problem:
            raise DlcalcError(f"{activation.name}: {problem}")


def kink_points(activation: Activation, params: Mapping[str, float]) -> tuple[float, ...]:
    """Points where the derivative is discontinuous, for bound parameters."""
    kinks = activation.kinks
    if callable(kinks):
        kinks = kinks(**bind_parameters(activation, params))
    return tuple(float(k) for k in kinks)


def evaluate(
    activation: Activation, x: np.ndarray, params: Mapping[str, float], derivative: bool = False
) -> np.ndarray:
    """f(x) or f'(x) element-wise; float32 stays float32, anything else is computed in float64."""
    bound = bind_parameters(activation, params)
    function = activation.derivative if derivative else activation.function
    return function(_as_float_array(x), **bound)
