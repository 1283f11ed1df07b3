"""Choosing the final formula among finished candidates, with the noise of the data in view.

**The noise estimate** (:func:`estimate_noise`): where rows repeat the same inputs, the pooled variance of their
targets (replicates measure the noise directly). Otherwise the trained network's error on its validation rows, an
upper bound: it is the noise plus whatever the network has not learned.

**The rule** (:func:`choose`):

- **Enough rows** (``SMALL_TABLE`` or more training rows): among the candidates whose training NMSE is within
  ``CLEARLY_BETTER`` × the most accurate one's, or within the noise level, the best score wins (score = log10 NMSE
  + a penalty per expression node). Parsimony decides among formulas that explain the data comparably well, never
  against one that explains it far better. On noisy data (the best formula fits no better than the noise), the
  noise all formulas share is taken off first: the score uses the excess NMSE over the best one, and excesses that
  the number of rows cannot resolve tie (:func:`~kansci.discover.candidates.noisy_ranking`).
- **Few rows:** training error cannot tell a law from a formula that bends to fit a dozen noisy points. Each
  candidate's constants are refitted with every row left out in turn (leave-one-out; k-fold with ``FOLDS`` folds
  above ``LOO_MAX`` rows), and the error on the left-out rows is its cross-validation error. The simplest candidate
  (fewest expression nodes) whose CV error is within one standard error of the lowest wins: the one-standard-error
  rule of Breiman et al. (1984).

The chosen rule and its numbers are returned for the record (``symbolic/metrics.json``: ``selection``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from kansci.discover.candidates import independent_rows, noisy_ranking
from kansci.expr.evaluate import to_numpy
from kansci.symbolic.exports import Formula
from kansci.symbolic.formula import polish
from kansci.symbolic.uncertainty import constant_table

__all__ = ["CLEARLY_BETTER", "FOLDS", "LOO_MAX", "SMALL_TABLE", "NoiseEstimate", "choose", "cv_errors",
           "estimate_noise", "with_unsnapped"]

SMALL_TABLE = 30  # below this many training rows, candidates are chosen by cross-validation
LOO_MAX = 15  # leave-one-out up to this many rows, FOLDS-fold above
FOLDS = 5
CLEARLY_BETTER = 100.0  # a candidate this much more accurate (NMSE) than another rules the other out
CV_REFIT_STEPS = 60  # Levenberg-Marquardt iterations per fold refit


@dataclass(frozen=True)
class NoiseEstimate:
    """RMS noise of the targets (in their units) and where it came from (``replicates`` or ``network``)."""

    rms: float
    source: str
    detail: str = ""

    def nmse(self, y: np.ndarray) -> float:
        return self.rms**2 / max(float(np.var(y)), 1e-300)

    def to_json(self) -> dict[str, Any]:
        return {"rms": self.rms, "source": self.source, "detail": self.detail}


def estimate_noise(X: np.ndarray, y: np.ndarray, network_val_nmse: float) -> NoiseEstimate:
    """Noise of y (n,) over X (n, d): pooled replicate variance when at least two rows share their inputs,
    else sqrt(network_val_nmse × var(y))."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    assert X.ndim == 2 and X.shape[0] == y.shape[0], (X.shape, y.shape)
    _, group, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    group = group.reshape(-1)
    dof = int(np.sum(counts[counts > 1] - 1))
    if dof >= 2:
        means = np.bincount(group, weights=y) / counts
        ss = float(np.sum((y - means[group]) ** 2))
        groups = int(np.sum(counts > 1))
        return NoiseEstimate(math.sqrt(ss / dof), "replicates", f"{groups} repeated input rows, {dof} degrees of "
                                                               "freedom")
    rms = math.sqrt(max(network_val_nmse, 0.0) * float(np.var(y)))
    return NoiseEstimate(rms, "network", "validation error of the trained network (an upper bound)")


def _folds(n: int, seed: int) -> list[np.ndarray]:
    if n <= LOO_MAX:
        return [np.array([i]) for i in range(n)]
    order = np.random.default_rng(seed).permutation(n)
    return [order[k::FOLDS] for k in range(FOLDS)]


def cv_errors(expr: sympy.Expr, symbols: list[sympy.Symbol], X: np.ndarray, y: np.ndarray,
              seed: int = 0) -> tuple[float, float]:
    """(mean, standard error) over rows of the squared error on left-out rows, each fold's constants refitted on
    the other rows (X (n, d), y (n,)). A formula without constants is evaluated as it is."""
    n = y.shape[0]
    errs = np.full(n, np.inf)
    for held in _folds(n, seed):
        keep = np.setdiff1d(np.arange(n), held)
        fitted, nmse = polish(expr, symbols, X[keep], y[keep], steps=CV_REFIT_STEPS)
        if not math.isfinite(nmse):
            return math.inf, math.inf
        with np.errstate(all="ignore"):
            pred = np.asarray(to_numpy(fitted, symbols)(X[held]), dtype=np.float64).reshape(-1)
        errs[held] = (pred - y[held]) ** 2
    if not np.all(np.isfinite(errs)):
        return math.inf, math.inf
    return float(np.mean(errs)), float(np.std(errs, ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def with_unsnapped(candidates: list[dict[str, Any]], X: np.ndarray, y: np.ndarray,
                   symbols: list[sympy.Symbol]) -> list[dict[str, Any]]:
    """The candidates without repeats, each followed by its form before snapping when that differs: on a few rows
    a snap (an exponent to 9/4) may be what makes a law predict badly, and cross-validation should see the law with
    the constant free as well. X (n, d), y (n,) are the training rows."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in candidates:
        f: Formula = c["formula"]
        if f.text not in seen:
            seen.add(f.text)
            out.append(c)
        free = dict(c.get("stages", [])).get("polished")
        if free is None:
            continue
        g = Formula(free, list(f.input_names), f.target)
        if g.text in seen:
            continue
        seen.add(g.text)
        _, nmse = polish(free, symbols, X, y, steps=0)
        g = Formula(free, list(f.input_names), f.target, constant_table(free, symbols, X, y))
        out.append({**c, "formula": g, "nmse": nmse, "snaps": [], "how": f"{c['how']} (constants unsnapped)"})
    return out


@dataclass
class Selection:
    """The chosen candidate and how: ``rule`` names it, ``table`` has one row per candidate."""

    best: dict[str, Any]
    rule: str
    noise: NoiseEstimate
    table: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "noise": self.noise.to_json(), "candidates": self.table}


def choose(candidates: list[dict[str, Any]], X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol],
           noise: NoiseEstimate, accept_nmse: float = 0.0, seed: int = 0,
           prefer: Callable[[dict[str, Any]], bool] | None = None) -> Selection:
    """The final formula among finished candidates (dicts with ``formula``, ``nmse``, ``score``) fitted on the
    training rows X (n, d), y (n,); see the module doc for the rule. With ``prefer`` (e.g. "its units are
    consistent"), only the candidates it accepts compete, unless it accepts none."""
    assert candidates, "no candidates to choose from"
    if prefer is not None:
        candidates = [c for c in candidates if prefer(c)] or candidates
    n = y.shape[0]
    noise_nmse = max(noise.nmse(y), accept_nmse)
    if n >= SMALL_TABLE:
        most_accurate = min(c["nmse"] for c in candidates)
        level = max(CLEARLY_BETTER * most_accurate, noise_nmse)
        pool = [c for c in candidates if c["nmse"] <= level]
        offset, floor = noisy_ranking([c["nmse"] for c in pool], noise_nmse, independent_rows(X, y))

        def key(c: dict[str, Any]) -> float:
            if offset <= 0 or not math.isfinite(c["nmse"]):
                return c["score"]
            penalty = c["score"] - math.log10(c["nmse"] + 1e-15)  # the score's own complexity term
            return math.log10(max(c["nmse"] - offset, floor) + 1e-15) + penalty

        best = min(pool, key=key)
        table = [{"formula": c["formula"].text, "train_nmse": c["nmse"], "score": key(c),
                  "considered": c in pool} for c in candidates]
        rule = (f"best score among candidates within {CLEARLY_BETTER:g}x the lowest training NMSE or within the "
                f"noise level ({noise_nmse:.2e})")
        if offset > 0:
            rule += (f"; noisy data: scored by the excess NMSE over the best ({offset:.3e}), excesses below "
                     f"{floor:.2e} tying")
        return Selection(best, rule, noise, table)
    rows = []
    for c in candidates:
        mean, se = cv_errors(c["formula"].expr, symbols, X, y, seed)
        rows.append((c, mean, se, c["formula"].complexity()))
    finite = [r for r in rows if math.isfinite(r[1])]
    if not finite:
        best = min(candidates, key=lambda c: c["score"])
        return Selection(best, "no candidate could be cross-validated; best training score", noise,
                         [{"formula": c["formula"].text, "cv_mse": None} for c in candidates])
    low = min(finite, key=lambda r: r[1])
    bar = low[1] + low[2]
    best = min((r for r in finite if r[1] <= bar), key=lambda r: (r[3], r[1]))[0]
    how = "leave-one-out" if n <= LOO_MAX else f"{FOLDS}-fold"
    rule = (f"{how} cross-validation on {n} training rows: the simplest candidate whose CV error is within one "
            f"standard error of the lowest ({low[1]:.3g} + {low[2]:.3g})")
    table = [{"formula": c["formula"].text, "cv_mse": m, "cv_se": s, "complexity": k, "train_nmse": c["nmse"]}
             for c, m, s, k in rows]
    return Selection(best, rule, noise, table)
