"""The affine structure t(y) = a(r) + b(r)·h(x_i) tested and solved on the real data, when r is one variable.

Once h is known (from the surrogate), a and b are two unknown functions of one variable entering linearly, so one
linear least-squares fit on every row of the data gives both: a and b as Chebyshev series in r of degree up to
:data:`DEGREE` (:func:`varying_fit`). Its residual tests the structure on the data themselves (a wrong variable or
a wrong h leaves the fit far from the noise), and its a and b carry only the series' own error, far below the
surrogate's on exact data, where the surrogate's values tie a law with its mimic. :func:`coefficients_on_data`
solves a and b at 256 quantiles of r (not evenly spaced points: the series is loose where rows are few).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy

from kansci.discover.candidates import ALTERNATIVES, Candidate, distinct

__all__ = ["DEGREE", "VaryingFit", "varying_fit", "coefficients_on_data"]

DEGREE = 24  # the Chebyshev degree of a(r) and b(r) (at most one per 20 rows)
GRID = 256  # quantiles of r where a and b are solved


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
