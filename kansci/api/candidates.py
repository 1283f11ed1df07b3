"""The candidate formulas of a fit, as a table (``KANRegressor.equations_``), and the rule that picks one.

Where the candidates come from:

- the formula ``symbolify`` chose, exactly as found;
- the other finished (snapped) candidates of ``symbolic/formula.json``'s Pareto list, read back from their stored
  text (4 significant digits) by the safe parser, their constants refitted on the training rows;
- least-squares baselines on the training rows (weighted by ``sample_weight``): a constant and a linear function of
  every input when no candidate is one already, and a full quadratic for up to :data:`QUADRATIC_MAX_INPUTS` inputs,
  so that the table spans complexities from a constant to past the chosen formula. The linear and quadratic fits
  compete with the formulas; the constant is only a reference (see :func:`select`).

Each row has ``complexity`` (expression nodes), ``train_loss`` and ``val_loss`` (mean squared error, weighted by
``sample_weight``, on the training rows and on the held-out rows), ``score`` (kansci's
``log10(NMSE on the training rows + 1e-15) + 0.05 × complexity``; lower is better), ``equation`` (text),
``sympy_format`` (the sympy expression), ``found_by``, ``pareto`` (no other row is as simple and more accurate) and
``selected``. Rows are sorted by complexity, then training loss. Every decision reads training rows only; the
held-out rows are reported, never used to choose.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from kansci.data import Dataset
from kansci.errors import KansciError
from kansci.expr.text import parse_formula
from kansci.pipeline.candidates import score as formula_score
from kansci.pipeline.selection import CLEARLY_BETTER
from kansci.symbolic.exports import Formula, make_symbols
from kansci.symbolic.formula import polish

__all__ = ["COLUMNS", "Candidate", "QUADRATIC_MAX_INPUTS", "SELECTIONS", "gather", "select", "table"]

SELECTIONS = ("best", "accuracy", "simplest")
COLUMNS = ("complexity", "train_loss", "val_loss", "score", "equation", "sympy_format", "found_by", "pareto",
           "selected")
QUADRATIC_MAX_INPUTS = 3
POLISH_STEPS = 100  # Levenberg-Marquardt iterations that refit a stored candidate's rounded constants


@dataclass
class Candidate:
    """One candidate formula and its errors (see the module doc)."""

    formula: Formula
    found_by: str
    reference: bool = False  # the least-squares constant: what NMSE is measured against, not a model to pick
    complexity: int = 0
    train_loss: float = math.inf
    val_loss: float = math.nan
    nmse: float = math.inf
    score: float = math.inf
    pareto: bool = False


def gather(ds: Dataset, chosen: Formula | None, chosen_by: str, doc: dict[str, Any] | None,
           weights: np.ndarray | None) -> list[Candidate]:
    """Every candidate (chosen formula, stored Pareto rows, baselines), rated, de-duplicated and sorted.
    ``weights``: one per row of ``ds`` (original order) or None."""
    symbols = make_symbols(ds.input_names, ds.X)
    found = [Candidate(chosen, chosen_by)] if chosen is not None else []
    found += _stored(doc, ds, symbols)
    w_train = None if weights is None else weights[ds.train_idx]
    found += _baselines(ds, symbols, w_train, [c.formula.expr for c in found])
    unique: dict[str, Candidate] = {}
    for c in found:
        unique.setdefault(c.formula.text, c)
    for c in unique.values():
        _rate(c, ds, weights)
    cands = sorted(unique.values(), key=lambda c: (c.complexity, c.train_loss))
    best_so_far = math.inf
    for c in cands:  # sorted by complexity: on the front when more accurate than every simpler candidate
        c.pareto = c.train_loss < best_so_far
        best_so_far = min(best_so_far, c.train_loss)
    return cands


def select(cands: list[Candidate], rule: str, noise_nmse: float = 0.0) -> int:
    """The index of the candidate that ``rule`` picks (training rows only; NMSE = weighted MSE / weighted variance).
    The least-squares constant is the reference that NMSE is measured against (its NMSE is 1), not a model: it is
    picked only when there is no other candidate (with the 100x rule it would otherwise win on any noisy problem).

    - ``"accuracy"``: the lowest NMSE (ties: the simpler);
    - ``"best"``: symbolify's own rule: among the candidates not clearly less accurate than the most accurate one
      (NMSE within ``CLEARLY_BETTER`` = 100 times the lowest, or within the noise level that the structure search
      measured), the lowest score (ties: the simpler);
    - ``"simplest"``: among those same candidates, the lowest complexity (ties: the lower score).
    """
    if rule not in SELECTIONS:
        raise ValueError(f"model_selection must be one of {list(SELECTIONS)}, got {rule!r}")
    found = [i for i, c in enumerate(cands) if not c.reference] or list(range(len(cands)))
    finite = [i for i in found if math.isfinite(cands[i].nmse)]
    if not finite:
        return 0
    if rule == "accuracy":
        return min(finite, key=lambda i: (cands[i].nmse, cands[i].complexity))
    level = max(CLEARLY_BETTER * min(cands[i].nmse for i in finite), noise_nmse)
    pool = [i for i in finite if cands[i].nmse <= level]
    if rule == "best":
        return min(pool, key=lambda i: (cands[i].score, cands[i].complexity))
    return min(pool, key=lambda i: (cands[i].complexity, cands[i].score))


def table(cands: list[Candidate], selected: int | None) -> Any:
    """The rows of :data:`COLUMNS`: a pandas DataFrame when pandas is installed, else a list of dicts."""
    rows = [{"complexity": c.complexity, "train_loss": c.train_loss, "val_loss": c.val_loss, "score": c.score,
             "equation": c.formula.text, "sympy_format": c.formula.expr, "found_by": c.found_by,
             "pareto": c.pareto, "selected": k == selected} for k, c in enumerate(cands)]
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _stored(doc: dict[str, Any] | None, ds: Dataset, symbols: list[sympy.Symbol]) -> list[Candidate]:
    """The finished candidates of ``formula.json``'s Pareto list other than the chosen one, constants refitted."""
    out = []
    by_name = {s.name: s for s in symbols}
    for row in (doc or {}).get("pareto", []) or []:
        if not isinstance(row, dict) or not row.get("snapped") or row.get("chosen"):
            continue
        try:
            expr = parse_formula(str(row.get("text", "")), list(ds.input_names), symbols=by_name)
        except KansciError:
            continue  # a form the parser does not read back (e.g. sympy's Max): left out of the table
        expr, _ = polish(expr, symbols, ds.X_train, ds.y_train, steps=POLISH_STEPS)
        out.append(Candidate(Formula(expr, list(ds.input_names), ds.target_name), str(row.get("found_by", ""))))
    return out


def _degree(expr: sympy.Expr, symbols: list[sympy.Symbol]) -> int | None:
    """The total degree of ``expr`` as a polynomial in ``symbols``, or None when it is not one."""
    if not expr.is_polynomial(*symbols):
        return None
    return 0 if not expr.free_symbols else sympy.Poly(expr, *symbols).total_degree()


def _baselines(ds: Dataset, symbols: list[sympy.Symbol], w: np.ndarray | None,
               existing: list[sympy.Expr]) -> list[Candidate]:
    """Least-squares polynomials (see the module doc) on the training rows, weighted by ``w``."""
    X, y = ds.X_train, ds.y_train
    degrees = {_degree(e, symbols) for e in existing}
    wanted = [d for d in (0, 1) if d not in degrees]
    if len(symbols) <= QUADRATIC_MAX_INPUTS:
        wanted.append(2)
    names = {0: "constant", 1: "linear", 2: "quadratic"}
    out = []
    for degree in wanted:
        terms = [()] + [t for k in range(1, degree + 1)
                        for t in itertools.combinations_with_replacement(range(X.shape[1]), k)]
        A = np.stack([np.prod(X[:, list(t)], axis=1) if t else np.ones(len(X)) for t in terms], axis=1)
        b = y
        if w is not None:
            root = np.sqrt(w)
            A, b = A * root[:, None], y * root
        coef = np.linalg.lstsq(A, b, rcond=None)[0]
        expr = sum((sympy.Float(float(c)) * sympy.Mul(*(symbols[i] for i in t)) for c, t in zip(coef, terms)),
                   sympy.Integer(0))
        out.append(Candidate(Formula(expr, list(ds.input_names), ds.target_name),
                             f"least squares: {names[degree]}", reference=degree == 0))
    return out


def _rate(c: Candidate, ds: Dataset, weights: np.ndarray | None) -> None:
    """Fill complexity, losses, NMSE and score (``inf`` losses for a formula that cannot be evaluated)."""
    c.complexity = c.formula.complexity()
    for part, idx in (("train", ds.train_idx), ("val", ds.test_idx)):
        try:
            pred = c.formula(ds.X[idx])
        except (KansciError, ValueError, TypeError, ZeroDivisionError, OverflowError):
            pred = np.full(len(idx), np.nan)
        setattr(c, f"{part}_loss", _mse(ds.y[idx], pred, _part(weights, idx)))
    w_train = _part(weights, ds.train_idx)
    var = _mse(ds.y_train, np.full(len(ds.train_idx), _mean(ds.y_train, w_train)), w_train)
    c.nmse = c.train_loss / (var if var > 0 else 1.0)
    c.score = formula_score(c.nmse, c.complexity)


def _part(weights: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if weights is None else weights[idx]


def _mean(y: np.ndarray, w: np.ndarray | None) -> float:
    return float(np.mean(y)) if w is None or not np.any(w > 0) else float(np.sum(w * y) / np.sum(w))


def _mse(y: np.ndarray, pred: np.ndarray, w: np.ndarray | None) -> float:
    """Mean squared error, weighted when ``w`` has a positive weight; ``inf`` when ``pred`` is not finite."""
    if len(y) == 0:
        return math.nan
    if not np.all(np.isfinite(pred)):
        return math.inf
    err = (pred - y) ** 2
    return float(np.mean(err)) if w is None or not np.any(w > 0) else float(np.sum(w * err) / np.sum(w))
