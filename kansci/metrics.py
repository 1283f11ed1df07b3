"""Goodness of fit on arrays, the one implementation everyone uses (pipeline metrics, the API's ``score``, plots and
benchmark scoring). numpy only, a base layer.

Non-finite values: :func:`r2_score` and :func:`regression_metrics` score a prediction that is not finite everywhere
as ``-inf`` R² and ``inf`` RMSE (a formula that overflows or leaves its domain on some rows is not a fit), and a
constant target gives R² ``nan`` (it is undefined). :func:`r2_finite` is for figures, which show what they can: it
scores the finite pairs only and says how many it left out.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["nmse", "r2_finite", "r2_score", "regression_metrics", "rmse"]


def _pair(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    if y.shape != pred.shape:
        raise ValueError(f"y has {y.size} values but pred has {pred.size}")
    return y, pred


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """``1 - SS_res / SS_tot`` of ``pred`` (n,) for ``y`` (n,); ``-inf`` if ``pred`` is not finite everywhere, ``nan``
    if ``y`` is constant."""
    y, pred = _pair(y, pred)
    if not np.all(np.isfinite(pred)):
        return -math.inf
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return math.nan
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Root-mean-square error; ``inf`` if ``pred`` is not finite everywhere."""
    y, pred = _pair(y, pred)
    if not np.all(np.isfinite(pred)):
        return math.inf
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def nmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean squared error divided by the variance of ``y`` (``1 - R²`` for a non-constant ``y``); ``inf`` if ``pred``
    is not finite everywhere. A constant ``y`` is divided by 1 instead of 0."""
    y, pred = _pair(y, pred)
    if not np.all(np.isfinite(pred)):
        return math.inf
    var = float(np.var(y))
    return float(np.mean((y - pred) ** 2)) / (var if var > 0 else 1.0)


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """``{"rmse": ..., "r2": ...}`` with the conventions above."""
    return {"rmse": rmse(y, pred), "r2": r2_score(y, pred)}


def r2_finite(y: np.ndarray, pred: np.ndarray) -> tuple[float, int]:
    """R² over the pairs where both values are finite, and how many pairs were left out. ``nan`` when fewer than two
    pairs remain or ``y`` is constant on them."""
    y, pred = _pair(y, pred)
    ok = np.isfinite(y) & np.isfinite(pred)
    left_out = int((~ok).sum())
    if int(ok.sum()) < 2:
        return math.nan, left_out
    return r2_score(y[ok], pred[ok]), left_out
