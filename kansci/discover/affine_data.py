"""The affine structure t(y) = a(r) + b(r)·h(x_i) tested and solved on the real data, when r is one variable.

Once h is known (from the surrogate), a and b are two unknown functions of one variable entering linearly, so one
linear least-squares fit on every row of the data gives both: a and b as Chebyshev series in r of degree up to
:data:`DEGREE` (:func:`varying_fit`). Its residual tests the structure on the data themselves (a wrong variable or
a wrong h leaves the fit far from the noise), and its a and b carry only the series' own error, far below the
surrogate's on exact data, where the surrogate's values tie a law with its mimic. :func:`coefficients_on_data`
solves a and b at 256 quantiles of r (not evenly spaced points: the series is loose where rows are few).

h itself can come from the data too (:func:`rank_one_fit`). With h also a Chebyshev series in x_i, the model
a(r) + b(r)·h(x) is bilinear in the coefficients: with h fixed it is the linear fit above, with b fixed it is linear in
(a, h). Alternating the two fits, then Gauss-Newton steps on all coefficients at once, gives h to the precision of
the data, where the surrogate's slice along x_i carries the network's error (a linear h lost there to sin, tanh and
atan mimics that fit the network's wiggles). h is only defined up to an affine map (a + b·(s·h + k) is the same
model), which the leaf search absorbs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy

from kansci.discover.candidates import ALTERNATIVES, Candidate, distinct

__all__ = ["DEGREE", "VaryingFit", "varying_fit", "coefficients_on_data", "RankOneFit", "rank_one_fit",
           "h_on_data"]

DEGREE = 24  # the Chebyshev degree of a(r) and b(r) (at most one per 20 rows)
GRID = 256  # quantiles of r where a and b are solved
ALTERNATING = 30  # alternating least-squares sweeps before the joint Gauss-Newton steps
NEWTON = 20  # joint Gauss-Newton steps at most


@dataclass(frozen=True)
class VaryingFit:
    """t(y) ≈ a(r) + b(r)·h: Chebyshev coefficients of a and b on r's range [lo, hi], and the fit's NMSE."""

    a: np.ndarray
    b: np.ndarray
    lo: float
    hi: float
    nmse: float
    points: np.ndarray  # where a and b are read: GRID quantiles of the rows' r (a series is loose where rows are few)

    def on_grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(r, a(r), b(r)) at the quantiles of r."""
        r = self.points
        V = np.polynomial.chebyshev.chebvander((2 * r - self.lo - self.hi) / (self.hi - self.lo), len(self.a) - 1)
        return r, V @ self.a, V @ self.b


def _cheb(v: np.ndarray, lo: float, hi: float, deg: int) -> np.ndarray:
    return np.polynomial.chebyshev.chebvander((2 * v - lo - hi) / (hi - lo), deg)


def varying_fit(r: np.ndarray, hv: np.ndarray, target: np.ndarray) -> VaryingFit | None:
    """The least-squares fit of target (n,) by a(r) + b(r)·hv over rows r (n,), hv (n,); None when r or hv does
    not vary, or too few rows are finite."""
    with np.errstate(all="ignore"):
        ok = np.isfinite(hv) & np.isfinite(target) & np.isfinite(r)
    r, hv, target = r[ok], hv[ok], target[ok]
    deg = min(DEGREE, r.size // 20)
    if deg < 1 or not np.ptp(r) > 0 or not np.std(hv) > 0 or not np.var(target) > 0:
        return None
    lo, hi = float(np.min(r)), float(np.max(r))
    V = np.polynomial.chebyshev.chebvander((2 * r - lo - hi) / (hi - lo), deg)
    A = np.concatenate([V, V * hv[:, None]], axis=1)
    coef, *_ = np.linalg.lstsq(A, target, rcond=None)
    nmse = float(np.mean((A @ coef - target) ** 2) / np.var(target))
    points = np.unique(np.quantile(r, np.linspace(0.0, 1.0, GRID)))
    return VaryingFit(coef[:deg + 1], coef[deg + 1:], lo, hi, nmse, points)


def coefficients_on_data(engine: Any, fit: VaryingFit, syms: list[sympy.Symbol],
                         depth: int) -> tuple[list[Candidate], list[Candidate]]:
    """(candidates for a, for b) from ``fit``, solved by ``engine`` (an :class:`~kansci.discover.engine.Engine`)
    as values read off the data."""
    r, a, b = fit.on_grid()
    G = r[:, None]
    bs = distinct(engine.solve_values(G, b, syms, depth))[:ALTERNATIVES]
    as_ = distinct(engine.solve_values(G, a, syms, depth))[:ALTERNATIVES] if bs else []
    return ([replace(c, how=c.how + " (on the data)") for c in as_],
            [replace(c, how=c.how + " (on the data)") for c in bs])


@dataclass(frozen=True)
class RankOneFit:
    """t(y) ≈ a(r) + b(r)·h(x): h as Chebyshev coefficients on x's range [lo, hi], the fit's NMSE, and the GRID
    quantiles of x where h is read."""

    h: np.ndarray
    lo: float
    hi: float
    nmse: float
    points: np.ndarray

    def on_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, h(x)) at the quantiles of x."""
        return self.points, _cheb(self.points, self.lo, self.hi, len(self.h) - 1) @ self.h


def rank_one_fit(r: np.ndarray, x: np.ndarray, target: np.ndarray, start: np.ndarray | None = None
                 ) -> RankOneFit | None:
    """The least-squares fit of target (n,) by a(r) + b(r)·h(x) over rows r (n,), x (n,), with a, b and h all
    Chebyshev series; ``start`` (n,) are starting values of h (default x itself). None when r or x does not vary,
    or too few rows are finite."""
    with np.errstate(all="ignore"):
        ok = np.isfinite(r) & np.isfinite(x) & np.isfinite(target)
        if start is not None:
            ok &= np.isfinite(start)
    r, x, target = r[ok], x[ok], target[ok]
    deg = min(DEGREE, r.size // 20)
    var = float(np.var(target)) if target.size else 0.0
    if deg < 1 or not np.ptp(r) > 0 or not np.ptp(x) > 0 or not var > 0:
        return None
    rlo, rhi, xlo, xhi = float(np.min(r)), float(np.max(r)), float(np.min(x)), float(np.max(x))
    Vr, Vx = _cheb(r, rlo, rhi, deg), _cheb(x, xlo, xhi, deg)
    m = deg + 1
    hv = (start[ok] if start is not None else x).astype(np.float64)
    if not np.std(hv) > 0:
        return None
    ch = np.linalg.lstsq(Vx, (hv - np.mean(hv)) / np.std(hv), rcond=None)[0]
    cb = np.zeros(m)
    ca = np.zeros(m)
    for _ in range(ALTERNATING):  # b given h, then h given b (a with each)
        hv = Vx @ ch
        coef = np.linalg.lstsq(np.concatenate([Vr, Vr * hv[:, None]], axis=1), target, rcond=None)[0]
        ca, cb = coef[:m], coef[m:]
        bv = Vr @ cb
        coef = np.linalg.lstsq(np.concatenate([Vr, Vx * bv[:, None]], axis=1), target, rcond=None)[0]
        ca, ch = coef[:m], coef[m:]
    theta = np.concatenate([ca, cb, ch])

    def residual(th: np.ndarray) -> np.ndarray:
        return Vr @ th[:m] + (Vr @ th[m:2 * m]) * (Vx @ th[2 * m:]) - target

    res = residual(theta)
    sse = float(res @ res)
    for _ in range(NEWTON):  # Gauss-Newton on all coefficients; the gauge (scale and offset of h) takes min-norm
        J = np.concatenate([Vr, Vr * (Vx @ theta[2 * m:])[:, None], Vx * (Vr @ theta[m:2 * m])[:, None]], axis=1)
        step = np.linalg.lstsq(J, -res, rcond=None)[0]
        for scale in (1.0, 0.5, 0.25):
            trial = theta + scale * step
            r_new = residual(trial)
            if float(r_new @ r_new) < sse:
                theta, res, sse = trial, r_new, float(r_new @ r_new)
                break
        else:
            break
    if not math.isfinite(sse):
        return None
    points = np.unique(np.quantile(x, np.linspace(0.0, 1.0, GRID)))
    return RankOneFit(theta[2 * m:], xlo, xhi, sse / target.size / var, points)


def h_on_data(engine: Any, fit: RankOneFit, sym: sympy.Symbol, depth: int) -> list[Candidate]:
    """Candidates for h from ``fit``, solved by ``engine`` as values read off the data."""
    x, h = fit.on_grid()
    found = distinct(engine.solve_values(x[:, None], h, [sym], depth))[:ALTERNATIVES]
    return [replace(c, how=c.how + " (on the data)") for c in found]
