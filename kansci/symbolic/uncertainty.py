"""How sure a formula is of its fitted constants, and which simple values the data allow them to be.

**Covariance.** The standard nonlinear-least-squares covariance at the optimum, with the residual ``r = f(X; c) - y``
(n,) and its Jacobian ``J = dr/dc`` (n, p) over the formula's Float constants ``c`` (p,)::

    s^2 = sum(r^2) / (n - p),    Cov(c) = s^2 (J^T J)^+,    stderr_k = sqrt(Cov_kk)

``s`` is the noise estimate: the residual RMS of the fit (or a noise level given by the caller). ``J`` comes from
torch autograd on the compiled formula. The pseudo-inverse is taken from the SVD of ``J`` with unit-norm columns;
singular values below :data:`RCOND` times the largest count as zero, and a constant with a share above
:data:`NULL_SHARE` in that null space (it can move without changing the fit, e.g. ``c1`` and ``c2`` of
``c1*exp(c2 + x)``) is unidentifiable: its stderr is ``inf``. With ``n <= p`` there is no noise estimate and every
stderr is ``inf``.

**Floors.** Noise-free data fit to round-off, so ``s`` is floored at :data:`NOISE_FLOOR` times std(y) and every
stderr at :data:`REL_FLOOR` times ``|c|`` (float64 arithmetic and the optimizer cannot promise more). Exact data
therefore still snap ``3.14159265358979`` to ``pi``.

**Snapping with evidence** (:func:`snap_targets`). A value ``t`` is a snap target of ``c +- stderr`` only when

1. it is covered: ``|t - c| <= COVERAGE * stderr`` (:data:`COVERAGE` = 3 standard errors); and
2. it is not there by chance: simple values are dense (with denominators up to 12 and eight bases, some ``p/q * b``
   lies within 0.3 % of any number), so the expected number of values at least as simple as ``t`` inside the
   interval, ``2 * COVERAGE * stderr * density``, must be at most :data:`LOOK_ELSEWHERE`. ``density`` counts, per
   unit of the constant's mantissa, the values ``p/q * b`` and ``p/(q*b)`` of every family (base ``b``, denominator
   ``q``) whose description length ``log2(q) + bits(b)`` is not larger than ``t``'s.

``0`` (the term goes) is a target whenever it is covered. An unidentifiable constant may take 0, +-1 or its nearest
integer, as any value fits as well as another. Targets come simplest first; the caller still checks the fit after
refitting the other constants (:func:`kansci.symbolic.formula.snap_constants`).

**Honest digits** (:func:`format_constant`): the stderr keeps two significant digits when its leading three digits
are below 355, else one (the Particle Data Group's rule), and the value is rounded at the same decimal place.

torch is imported only when a covariance is computed, so :class:`~kansci.symbolic.exports.Formula` (which formats
constants with this module) stays importable without it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from kansci.errors import FormulaError

if TYPE_CHECKING:
    import torch

__all__ = ["COVERAGE", "LOOK_ELSEWHERE", "NOISE_FLOOR", "REL_FLOOR", "ConstantFit", "SnapTarget", "constant_table",
           "fit_uncertainty", "format_constant", "residual_function", "snap_targets"]

COVERAGE = 3.0  #: a target must lie within this many standard errors of the fitted value
REL_FLOOR = 1e-9  #: no stderr is below this fraction of the constant's magnitude
NOISE_FLOOR = 1e-7  #: no noise estimate is below this fraction of std(y) (normalized MSE 1e-14)
LOOK_ELSEWHERE = 0.05  #: the most expected chance hits of values at least as simple as a target, in its interval
RCOND = 1e-10  #: singular values of the column-scaled Jacobian below this fraction of the largest count as zero
NULL_SHARE = 1e-6  #: a constant with more than this share of its direction in the null space is unidentifiable
MAX_DENOMINATOR = 12
MAX_DIGITS = 15  #: significant digits shown at most (float64 holds about 16)

FAILS = (FormulaError, ValueError, TypeError, RuntimeError, OverflowError, ZeroDivisionError)


# --------------------------------------------------------------------------------------------------- covariance
def residual_function(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray
                      ) -> tuple[list[sympy.Float], Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """``expr``'s Float constants (sorted by sympy's default key), the residual ``c (p,) -> f(X; c) - y`` (n,) on
    X (n, d), y (n,), and the constants' current values (p,) as float64."""
    import torch

    from kansci.expr.evaluate import to_torch

    floats = sorted(expr.atoms(sympy.Float), key=sympy.default_sort_key)
    params = sympy.symbols(f"_c0:{len(floats)}")
    fn = to_torch(expr.xreplace(dict(zip(floats, params))), [*symbols, *params])
    cols = [torch.as_tensor(X[:, k], dtype=torch.float64) for k in range(X.shape[1])]
    yt = torch.as_tensor(y, dtype=torch.float64)

    def residual(theta: torch.Tensor) -> torch.Tensor:
        return fn(*cols, *theta) - yt

    return floats, residual, torch.tensor([float(f) for f in floats], dtype=torch.float64)


@dataclass(frozen=True)
class ConstantFit:
    """The constants of one formula with their uncertainties: ``floats`` (p,) as in the expression, ``stderr`` (p,)
    (``inf`` = unidentifiable), ``cov`` (p, p), the noise estimate ``noise`` (RMS, y's units), ``n`` rows, the
    residual sum of squares ``rss``."""

    floats: tuple[sympy.Float, ...]
    stderr: np.ndarray
    cov: np.ndarray
    noise: float
    n: int
    rss: float

    @property
    def values(self) -> np.ndarray:
        return np.array([float(f) for f in self.floats])

    def stderr_of(self, f: sympy.Float) -> float:
        return float(self.stderr[self.floats.index(f)])


def _unscaled_covariance(J: np.ndarray) -> np.ndarray:
    """``(J^T J)^+`` for J (n, p) by the SVD of J with unit-norm columns; ``inf`` on the diagonal (and ``nan`` off
    it) for the constants that are unidentifiable (see the module doc)."""
    p = J.shape[1]
    norms = np.linalg.norm(J, axis=0)
    live = np.flatnonzero(np.isfinite(norms) & (norms > 0))
    out = np.full((p, p), np.nan)
    np.fill_diagonal(out, np.inf)
    if live.size == 0:
        return out
    _, S, Vt = np.linalg.svd(J[:, live] / norms[live], full_matrices=False)
    rank = int(np.sum(S > RCOND * S[0])) if S.size and S[0] > 0 else 0
    Vr = Vt[:rank].T  # (q, rank)
    C = (Vr / S[:rank] ** 2) @ Vr.T / np.outer(norms[live], norms[live])
    ok = 1.0 - np.sum(Vr**2, axis=1) <= NULL_SHARE  # (q,) nothing of its direction in the null space
    good = live[ok]
    out[np.ix_(good, good)] = C[np.ix_(ok, ok)]
    return out


def fit_uncertainty(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray, *,
                    noise: float | None = None) -> ConstantFit:
    """Standard errors of ``expr``'s Float constants on X (n, d), y (n,), at their current values (which should be
    the least-squares optimum, e.g. after :func:`kansci.symbolic.formula.polish`). ``noise``: the RMS noise of y
    when known; else the residual estimate ``s``. Raises FormulaError (or ValueError, ...) if ``expr`` cannot be
    evaluated."""
    from kansci.symbolic.lm import jacobian

    floats, residual, c = residual_function(expr, symbols, X, y)
    n, p = len(y), len(floats)
    r = residual(c).detach().reshape(-1).numpy()
    if r.shape != (n,):
        r = np.broadcast_to(r, (n,))
    rss = float(np.sum(r**2))
    floor = NOISE_FLOOR * float(np.std(y))
    if noise is not None:
        s = max(float(noise), floor)
    else:
        s = math.sqrt(rss / (n - p)) if n > p and math.isfinite(rss) else math.inf
        s = max(s, floor)
    if p == 0:
        return ConstantFit((), np.zeros(0), np.zeros((0, 0)), s, n, rss)
    J = jacobian(residual, c).detach().numpy().reshape(n, p) if np.all(np.isfinite(r)) else np.full((n, p), np.nan)
    if not np.all(np.isfinite(J)) or not math.isfinite(s):
        cov = np.full((p, p), np.nan)
        np.fill_diagonal(cov, np.inf)
    else:
        cov = s**2 * _unscaled_covariance(J)
    with np.errstate(invalid="ignore"):
        stderr = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.inf))
    stderr = np.maximum(stderr, REL_FLOOR * np.abs(c.numpy()))
    return ConstantFit(tuple(floats), stderr, cov, s, n, rss)


# ------------------------------------------------------------------------------------------------------ snapping
_BASES: tuple[tuple[sympy.Expr, float], ...] = (
    (sympy.Integer(1), 0.0), (sympy.pi, 1.0), (sympy.E, 1.5), (sympy.sqrt(2), 2.0), (sympy.sqrt(3), 2.0),
    (sympy.sqrt(sympy.pi), 2.5), (sympy.sqrt(2 * sympy.pi), 2.5), (sympy.pi**2, 2.5))


def _families() -> list[tuple[float, sympy.Expr, bool, int, float]]:
    """Every family ``p/q * b`` (reciprocal: ``p/(q*b)``) as (bits, b, reciprocal, q, cumulative density): the
    density counts members per unit of all families with at most these bits. Sorted by bits."""
    fams = []
    for base, bits in _BASES:
        b = float(base)
        for recip in (False,) if b == 1.0 else (False, True):
            for q in range(1, MAX_DENOMINATOR + 1):
                fams.append((bits + math.log2(q) + recip, base, recip, q, q * b if recip else q / b))
    fams.sort(key=lambda t: t[0])
    return [(bits, base, recip, q, sum(d for bb, *_, d in fams if bb <= bits + 1e-12))
            for bits, base, recip, q, _ in fams]


_FAMILIES = _families()


@dataclass(frozen=True)
class SnapTarget:
    """A simple value ``value`` for a constant: ``bits`` (its description length; -1 for 0), ``sigmas`` (its
    distance from the fitted value in standard errors) and ``chance`` (the expected chance hits, see module doc)."""

    value: sympy.Expr
    bits: float
    sigmas: float
    chance: float


def snap_targets(v: float, stderr: float, coverage: float = COVERAGE) -> list[SnapTarget]:
    """The simple values a constant ``v +- stderr`` may be snapped to, simplest first (see the module doc)."""
    if not math.isfinite(v):
        return []
    sigma = max(float(stderr), REL_FLOOR * abs(v))
    if v == 0:
        return [SnapTarget(sympy.Integer(0), -1.0, 0.0, 0.0)]
    out: list[SnapTarget] = []
    if abs(v) <= coverage * sigma:
        out.append(SnapTarget(sympy.Integer(0), -1.0, abs(v) / sigma, 0.0))
    if not math.isfinite(sigma):  # unidentifiable: any value fits as well as another
        near = [sympy.Integer(int(math.copysign(1, v)))]
        if abs(v) < 1e15:
            near.append(sympy.Integer(round(v)))
        out += [SnapTarget(t, 0.0, math.nan, math.inf) for i, t in enumerate(near) if t != 0 and t not in near[:i]]
        return out
    # constants far from 1 are snapped by their mantissa: v = m * 10**k, so 3.0000000029e12 -> 3*10**12
    k = math.floor(math.log10(abs(v))) if not 0.01 <= abs(v) < 100 else 0
    scale, m, w = sympy.Integer(10) ** k, v / 10.0**k, coverage * sigma / 10.0**k
    found = []
    for bits, base, recip, q, density in _FAMILIES:
        chance = 2 * w * density
        if chance > LOOK_ELSEWHERE:
            break
        unit = 1 / float(base) if recip else float(base)  # the value of p/q times q
        lo, hi = sorted(((m - w) * q / unit, (m + w) * q / unit))
        for p in range(math.ceil(lo), math.floor(hi) + 1):
            if p == 0 or math.gcd(p, q) != 1:
                continue
            t = sympy.Rational(p, q) * (1 / base if recip else base)
            found.append(SnapTarget(t * scale, bits, abs(float(t) - m) / (sigma / 10.0**k), chance))
    found.sort(key=lambda s: (s.bits, s.sigmas))
    return out + [s for i, s in enumerate(found) if s.value not in [f.value for f in found[:i]]]


# ------------------------------------------------------------------------------------------------ honest digits
def format_constant(value: float, stderr: float | None) -> tuple[str, str]:
    """``(value, stderr)`` as text with honest digits, e.g. (107.345, 2.13) -> ("107.3", "2.1"), (0.08123, 0.0041)
    -> ("0.081", "0.004"); an unknown or infinite stderr gives (4 significant digits, "inf")."""
    if stderr is None or not math.isfinite(stderr) or not math.isfinite(value):
        return f"{value:.4g}", "inf"
    if stderr <= 0:
        return repr(float(value)), "0"
    e = math.floor(math.log10(stderr))
    lead = stderr / 10.0 ** (e - 2)
    if lead >= 949.5:
        e, lead = e + 1, 100.0
    nsig = 2 if lead < 354.5 else 1
    d = e - nsig + 1  # decimal exponent of the last digit shown
    mag = math.floor(math.log10(abs(value))) if value != 0 else d
    if mag - d + 1 > MAX_DIGITS:  # as precise as float64 allows: all the value's digits, the stderr in brief
        return f"{value:.{MAX_DIGITS}g}", f"{stderr:.2g}"
    if -4 <= mag < 6 and -12 <= d:
        places = max(0, -d)
        err = f"{round(stderr, -d):.{places}f}" if d >= -6 else f"{stderr:.{nsig - 1}e}"
        return f"{round(value, -d):.{places}f}", err
    top = max(mag, e)
    digits = max(0, top - d)
    return f"{value / 10.0**top:.{digits}f}e{top}", f"{stderr / 10.0**top:.{digits}f}e{top}"


def _entry(value: float, stderr: float, snapped: bool, exact: str | None) -> dict[str, Any]:
    v, s = format_constant(value, stderr if math.isfinite(stderr) else None)
    text = f"{v} ± {s}"
    return {"value": float(value), "stderr": float(stderr) if math.isfinite(stderr) else None, "snapped": snapped,
            "exact": exact, "text": f"{exact} (fitted {text})" if snapped else text}


class _FloatOrder(StrPrinter):
    """Records the magnitudes of the Floats in the order ``str`` prints them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[float, int] = {}

    def _print_Float(self, expr: sympy.Float) -> str:
        self.seen.setdefault(abs(float(expr)), len(self.seen))
        return "c"


def _print_order(expr: sympy.Expr) -> dict[float, int]:
    """|constant| -> its place in the printed formula (first appearance)."""
    printer = _FloatOrder()
    printer.doprint(expr)
    return printer.seen


def constant_table(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray,
                   snaps: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The ``formula.json`` list of constants: each Float of ``expr``, in the order the formula prints them, as
    ``{value, stderr, snapped: False, exact: None, text}`` (``stderr`` None when unidentifiable), then each snap of
    ``snaps`` (the log of :func:`kansci.symbolic.formula.snap_constants`) as ``{value, stderr, snapped: True,
    exact: "pi/2", text}``."""
    try:
        fit = fit_uncertainty(expr, symbols, X, y)
        rows = [(float(f), float(s)) for f, s in zip(fit.floats, fit.stderr)]
    except FAILS:
        rows = [(float(f), math.inf) for f in sorted(expr.atoms(sympy.Float), key=sympy.default_sort_key)]
    order = _print_order(expr)
    rows.sort(key=lambda r: order.get(abs(r[0]), len(order)))
    out = [_entry(v, s, False, None) for v, s in rows]
    for snap in snaps:
        se = snap.get("stderr")
        out.append(_entry(float(snap["constant"]), math.inf if se is None else float(se), True,
                          str(snap["snapped_to"])))
    return out
