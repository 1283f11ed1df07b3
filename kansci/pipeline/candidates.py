"""Candidate formulas, whichever path proposed them: tidy, refit the constants on the training rows, snap them to
simple values, refit again, and score. The same treatment for every candidate makes their scores comparable.

Score: ``log10(NMSE on the training rows + 1e-15) + FORMULA_NODE_WEIGHT × expression nodes`` (lower is better). A
formula that cannot be evaluated everywhere scores ``inf``.
"""
from __future__ import annotations

import math
import time
from typing import Any

import sympy

from kansci.budget import remaining
from kansci.config import Config
from kansci.data import Dataset
from kansci.symbolic.exports import Formula
from kansci.symbolic.formula import final_simplify, polish, snap_constants, tidy

__all__ = ["FORMULA_NODE_WEIGHT", "finish", "score"]

FORMULA_NODE_WEIGHT = 0.05
MIN_SIMPLIFY_S = 0.5  # a simplification past the deadline still gets this long (it usually needs far less)


def score(nmse: float, complexity: int) -> float:
    return math.log10(nmse + 1e-15) + FORMULA_NODE_WEIGHT * complexity if math.isfinite(nmse) else math.inf


def _after(deadline: float | None) -> float | None:
    """A refit past the deadline still gets a short grace (a formula with unpolished constants scores badly)."""
    return None if deadline is None else max(deadline, time.perf_counter() + MIN_SIMPLIFY_S)


def finish(raw: sympy.Expr, ds: Dataset, symbols: list[sympy.Symbol], cfg: Config,
           deadline: float | None = None) -> dict[str, Any]:
    """``raw`` (in ``symbols``, original units) -> ``{"formula", "nmse", "score", "stages", "snaps"}``."""
    sym = cfg.symbolic
    X_fit, y_fit = ds.X_train, ds.y_train
    # sympy's simplification gets the configured time, but never much more than what is left of the deadline
    timeout = max(MIN_SIMPLIFY_S, min(sym.simplify_timeout_s, remaining(deadline)))
    stages = [("assembled", raw)]
    expr = tidy(raw, timeout)
    expr, nmse = polish(expr, symbols, X_fit, y_fit, deadline=_after(deadline))
    stages.append(("polished", expr))
    snaps: list[dict] = []
    if sym.snap:
        expr, _, snaps = snap_constants(expr, symbols, X_fit, y_fit, tol=sym.snap_tol, timeout_s=timeout,
                                        deadline=deadline)
        expr = final_simplify(expr, timeout)
        expr, nmse = polish(expr, symbols, X_fit, y_fit, deadline=_after(deadline))
        stages.append(("snapped", expr))
    formula = Formula(expr, list(ds.input_names), ds.target_name)
    return {"formula": formula, "nmse": nmse, "score": score(nmse, formula.complexity()), "stages": stages,
            "snaps": snaps}
