"""Candidate formulas, whichever path proposed them: tidy, refit the constants on the training rows, snap them to
simple values (only where the constants' own uncertainties allow it, :mod:`kansci.symbolic.uncertainty`), refit
again, and score. The same treatment for every candidate makes their scores comparable. The finished formula carries
its constants with their standard errors (``Formula.constants``).

Score: ``log10(NMSE on the training rows + 1e-15) + FORMULA_NODE_WEIGHT × expression nodes`` (lower is better). A
formula that cannot be evaluated everywhere scores ``inf``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy

from kansci.budget import remaining, with_grace
from kansci.config import Config
from kansci.data import Dataset
from kansci.symbolic.exports import Formula
from kansci.symbolic.formula import final_simplify, polish, snap_constants, tidy
from kansci.symbolic.uncertainty import constant_table

__all__ = ["FORMULA_NODE_WEIGHT", "finish", "score"]

FORMULA_NODE_WEIGHT = 0.05
FIT_ROWS = 20_000  # training rows the constants are polished and snapped on (a seeded subsample above that)
CHUNK = 65_536  # rows per chunk when a formula is scored on every training row
MIN_SIMPLIFY_S = 0.5  # a simplification past the deadline still gets this long (it usually needs far less)


def _nmse(formula: Formula, X: np.ndarray, y: np.ndarray) -> float:
    """NMSE of ``formula`` on X (n, d), y (n,) in chunks; inf where it cannot be evaluated."""
    try:
        with np.errstate(all="ignore"):
            sse = sum(float(np.sum((np.broadcast_to(formula(X[s:s + CHUNK]), y[s:s + CHUNK].shape)
                                    - y[s:s + CHUNK]) ** 2)) for s in range(0, len(y), CHUNK))
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        return math.inf
    nmse = sse / len(y) / (float(np.var(y)) or 1.0)
    return nmse if math.isfinite(nmse) else math.inf


def score(nmse: float, complexity: int) -> float:
    return math.log10(nmse + 1e-15) + FORMULA_NODE_WEIGHT * complexity if math.isfinite(nmse) else math.inf


def _after(deadline: float | None) -> float | None:
    """A refit past the deadline still gets a short grace (a formula with unpolished constants scores badly)."""
    return with_grace(deadline, MIN_SIMPLIFY_S)


def finish(raw: sympy.Expr, ds: Dataset, symbols: list[sympy.Symbol], cfg: Config,
           deadline: float | None = None) -> dict[str, Any]:
    """``raw`` (in ``symbols``, original units) -> ``{"formula", "nmse", "score", "stages", "snaps"}``."""
    sym = cfg.symbolic
    X_all, y_all = ds.X_train, ds.y_train
    X_fit, y_fit = X_all, y_all
    if X_all.shape[0] > FIT_ROWS:  # constants are fitted on a seeded subsample; the score uses every training row
        rows = np.sort(np.random.default_rng(cfg.seed).choice(X_all.shape[0], FIT_ROWS, replace=False))
        X_fit, y_fit = X_all[rows], y_all[rows]
    # sympy's simplification gets the configured time, but never much more than what is left of the deadline
    timeout = max(MIN_SIMPLIFY_S, min(sym.simplify_timeout_s, remaining(deadline)))
    stages = [("assembled", raw)]
    expr = tidy(raw, timeout)
    expr, nmse = polish(expr, symbols, X_fit, y_fit, deadline=_after(deadline))
    stages.append(("polished", expr))
    snaps: list[dict] = []
    if sym.snap:
        # past the deadline, snapping still gets the short grace: on exact data it takes milliseconds, and an
        # unsnapped `1.0*b + 5e-18` is a worse answer than a late one
        expr, _, snaps = snap_constants(expr, symbols, X_fit, y_fit, tol=sym.snap_tol, timeout_s=timeout,
                                        deadline=_after(deadline))
        expr = final_simplify(expr, timeout)
        expr, nmse = polish(expr, symbols, X_fit, y_fit, deadline=_after(deadline))
        stages.append(("snapped", expr))
    formula = Formula(expr, list(ds.input_names), ds.target_name, constant_table(expr, symbols, X_fit, y_fit, snaps))
    if X_fit.shape[0] < X_all.shape[0]:
        nmse = _nmse(formula, X_all, y_all)
    return {"formula": formula, "nmse": nmse, "score": score(nmse, formula.complexity()), "stages": stages,
            "snaps": snaps}
