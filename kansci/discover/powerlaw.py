"""Power laws read off in log space: ``y = C · Π x_i^a_i`` is linear in ``log|x_i|`` with slopes ``a_i``.

Where the target keeps one sign and each input keeps one sign away from zero, a least-squares line through
``(log|x|, log|y|)`` gives the exponents directly, whatever the orders of magnitude involved. Exponents are then
read as simple rationals (denominators up to :data:`DENOMINATORS`) when the data support it: each exponent is
replaced by the nearest simple rational only if that stays within its own uncertainty (standard error of the slope,
scaled by :data:`SNAP_SIGMAS`), so noisy data keep fitted numbers rather than an invented ``1/3``. The constant ``C``
is fitted last, in the original space, by linear least squares.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy

__all__ = ["DENOMINATORS", "PowerLaw", "fit_power_law", "one_signed"]

DENOMINATORS = (1, 2, 3, 4)  # exponents are read as p/q with these q (|p/q| <= MAX_EXPONENT)
MAX_EXPONENT = 6
SNAP_SIGMAS = 4.0  # an exponent snaps when the rational lies within this many standard errors
ABS_SNAP = 1e-6  # ...or within this absolute distance (noise-free data have standard errors near 0)


@dataclass(frozen=True)
class PowerLaw:
    """``expr`` = C·Π x_i^a_i in ``symbols``; ``exponents`` as fitted, ``snapped`` as used (Fraction, 0 = absent);
    ``nmse`` is the mean squared error in the original space over the variance of y."""

    expr: sympy.Expr
    exponents: tuple[float, ...]
    stderr: tuple[float, ...]
    snapped: tuple[Fraction, ...]
    constant: float
    nmse: float


def one_signed(v: np.ndarray) -> int:
    """+1 or -1 when every value is finite, nonzero and of that sign; 0 otherwise."""
    if v.size == 0 or not np.all(np.isfinite(v)):
        return 0
    if np.all(v > 0):
        return 1
    if np.all(v < 0):
        return -1
    return 0


def _nearest_rational(a: float) -> Fraction:
    best = Fraction(round(a))
    for q in DENOMINATORS[1:]:
        f = Fraction(round(a * q), q)
        if abs(float(f) - a) < abs(float(best) - a):
            best = f
    return best


def fit_power_law(X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol]) -> PowerLaw | None:
    """The power law through X (n, d), y (n,), or None when the data do not allow one (a sign change or a zero in y
    or in an input, too few rows, or a singular design)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, d = X.shape
    assert len(symbols) == d and y.shape == (n,), (X.shape, y.shape, len(symbols))
    sy = one_signed(y)
    signs = [one_signed(X[:, i]) for i in range(d)]
    if sy == 0 or 0 in signs or n < d + 3:
        return None
    A = np.column_stack([np.ones(n), np.log(np.abs(X))])
    ly = np.log(np.abs(y))
    coef, _, rank, _ = np.linalg.lstsq(A, ly, rcond=None)
    if rank < d + 1:
        return None
    resid = ly - A @ coef
    dof = max(n - d - 1, 1)
    s2 = float(resid @ resid) / dof
    try:
        cov = s2 * np.linalg.inv(A.T @ A)
    except np.linalg.LinAlgError:
        return None
    stderr = np.sqrt(np.clip(np.diag(cov)[1:], 0.0, None))
    snapped = []
    for a, se in zip(coef[1:], stderr):
        r = _nearest_rational(float(a))
        close = abs(float(r) - a) <= max(SNAP_SIGMAS * se, ABS_SNAP)
        snapped.append(r if close and abs(r) <= MAX_EXPONENT else None)
    exps = [float(r) if r is not None else float(a) for r, a in zip(snapped, coef[1:])]
    if any(sign < 0 and not e.is_integer() for sign, e in zip(signs, exps)):
        return None  # a negative base needs an integer exponent to stay real
    with np.errstate(all="ignore"):
        g = np.prod(np.power(X, np.array(exps)), axis=1)
    if not np.all(np.isfinite(g)) or not float(g @ g) > 0:
        return None
    C = float(g @ y) / float(g @ g)
    var = float(np.var(y))
    nmse = float(np.mean((y - C * g) ** 2)) / (var if var > 0 else 1.0)
    body = sympy.Integer(1)
    for sym, r, e in zip(symbols, snapped, exps):
        if r is not None:
            if r != 0:
                body *= sym ** sympy.Rational(r.numerator, r.denominator)
        else:
            body *= sym ** sympy.Float(e)
    return PowerLaw(sympy.Float(C) * body, tuple(float(a) for a in coef[1:]), tuple(float(s) for s in stderr),
                    tuple(r if r is not None else Fraction(0) for r in snapped), C,
                    nmse if math.isfinite(nmse) else math.inf)
