"""SRBench-style scoring of a found formula against a known truth, and the failure taxonomy of the benchmark.

Three verdicts per formula:

* **strict** (SRBench 2021 rule): after rounding the found formula's floats (``|c| < 1e-4`` -> 0, others to 3
  decimals), ``truth - found`` or ``found / truth`` simplifies to a constant in sympy. One deliberate difference: a
  ratio of 0 does not count (SRBench accepts a formula whose constants all round to 0, because 0/truth is "constant").
  The benchmark additionally requires test R² > 0.5, as SRBench does (see :func:`score_formula`). A second
  difference: when the difference holds hyperbolic functions, it is also simplified after rewriting them as
  exponentials, since sympy's ``simplify`` alone does not see identities such as 1/(2·tanh(x/2)) − 1/2 = 1/(e^x − 1).
  A third: when neither rule holds and a side holds a root, ``truth² − found²`` simplifying to 0 also counts, provided
  both sides have the same sign at every test point (``strict_how`` = ``"squares"``). Then found = truth wherever
  they are evaluated: sympy cannot equate √((c + v)/(c − v)) with (1 + v/c)/√(1 − v²/c²), which needs c > v.
* **robust**: on random points of the sampling box, ``found - truth`` or ``found - r*truth`` (``r`` = median ratio)
  varies by less than ``1e-6`` times the spread (std) of the truth. No rounding, so constants such as 8.854e-12 are
  judged right; the tolerance is relative to the truth's own variation, so a nearly constant truth cannot be matched
  by a constant.
* **accuracy**: R² > 0.999 on clean test data.

Symbols are compared by name only (assumptions such as ``positive=True`` are dropped first), like SRBench, which
parses both sides into plain symbols. Every sympy call that can hang runs under a time limit (SIGALRM, main thread
only; elsewhere unbounded, which is why the benchmark scores inside its time-limited task process).
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import sympy

from kansci.budget import time_limit
from kansci.errors import FormulaError
from kansci.expr.evaluate import to_numpy
from kansci.metrics import r2_score

ROUND_ZERO = 1e-4       # SRBench: floats below this (in magnitude) become 0
ROUND_DECIMALS = 3      # SRBench: other floats are rounded to this many decimals
ROBUST_TOL = 1e-6       # robust check: allowed spread, relative to std(truth)
R2_SYMBOLIC = 0.5       # SRBench: a symbolic solution also needs test R² above this
R2_ACCURACY = 0.999     # accuracy solution: clean test R² above this
R2_FIT = 0.999          # taxonomy: below this the KAN itself "never fit well"

_HYPERBOLIC = (sympy.tanh, sympy.coth, sympy.sinh, sympy.cosh, sympy.sech, sympy.csch)

FAILURES: dict[str, str] = {
    "kan_fit": "KAN never fit well (network test R² < 0.999)",
    "pruned_input": "pruning removed a needed input",
    "primitive": "wrong primitive on an edge (structure wrong)",
    "constants": "right shape, constants did not snap",
    "timeout": "time budget ran out",
    "error": "error",
}


def plain(expr: sympy.Expr, positive: Collection[str] = ()) -> sympy.Expr:
    """``expr`` with every symbol replaced by a ``sympy.Symbol`` of the same name: positive for the names in
    ``positive`` (variables sampled on a positive range), assumption-free otherwise."""
    return expr.xreplace({s: sympy.Symbol(s.name, positive=True) if s.name in positive else sympy.Symbol(s.name)
                          for s in expr.free_symbols if isinstance(s, sympy.Symbol)})


def round_constants(expr: sympy.Expr) -> sympy.Expr:
    """SRBench rounding of the floats in ``expr``: ``|c| < 1e-4`` -> 0, others rounded to 3 decimals (integral
    results become sympy Integers). Exact numbers (Rationals, ``pi``) are left alone, as in SRBench."""
    reps: dict[sympy.Basic, sympy.Basic] = {}
    for f in expr.atoms(sympy.Float):
        v = float(f)
        if abs(v) < ROUND_ZERO:
            reps[f] = sympy.Integer(0)
        else:
            r = round(v, ROUND_DECIMALS)
            reps[f] = sympy.Integer(int(r)) if r == int(r) else sympy.Float(r)
    return expr.xreplace(reps)


def _finite_constant(e: sympy.Expr, *, nonzero: bool) -> bool:
    if e.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return False
    if nonzero and e.is_zero:
        return False
    return bool(e.is_constant())


def symbolic_match(truth: sympy.Expr, found: sympy.Expr, *, positive: Collection[str] = (),
                   timeout_s: float = 20.0) -> tuple[bool, str]:
    """The SRBench rule (see module docstring). Returns ``(matched, how)`` with ``how`` one of ``"difference"``,
    ``"ratio"``, ``"no"`` or ``"timeout"`` (sympy ran past ``timeout_s``; counted as not matched).

    Variables named in ``positive`` are positive symbols: both formulas are only claimed on the sampled domain, and
    there ``sqrt(a)*sqrt(b)`` is ``sqrt(a*b)`` (for complex symbols sympy cannot equate them)."""
    truth, found = plain(truth, positive), round_constants(plain(found, positive))
    try:
        with time_limit(timeout_s):
            diff, ratio = round_constants(truth - found), round_constants(found / truth)
            if _finite_constant(diff, nonzero=False):
                return True, "difference"
            if _finite_constant(ratio, nonzero=True):
                return True, "ratio"
            diff = round_constants(sympy.simplify(diff, ratio=1))
            if _finite_constant(diff, nonzero=False):
                return True, "difference"
            ratio = round_constants(sympy.simplify(ratio, ratio=1))
            if _finite_constant(ratio, nonzero=True):
                return True, "ratio"
            if diff.has(*_HYPERBOLIC):  # simplify alone cannot show e.g. 1/(2·tanh(x/2)) − 1/2 = 1/(e^x − 1)
                diff = round_constants(sympy.simplify(diff.rewrite(sympy.exp), ratio=1))
                if _finite_constant(diff, nonzero=False):
                    return True, "difference"
    except (TimeoutError, RecursionError):
        return False, "timeout"
    return False, "no"


def squares_match(truth: sympy.Expr, found: sympy.Expr, *, positive: Collection[str] = (),
                  timeout_s: float = 20.0) -> bool:
    """Whether ``truth² − found²`` simplifies to 0 (found's floats rounded as in :func:`symbolic_match`), for
    formulas with a root in them (elsewhere the rules of :func:`symbolic_match` suffice). Equal squares give equal
    formulas only where the signs agree: the caller checks that on its points."""
    truth, found = plain(truth, positive), round_constants(plain(found, positive))
    if not any(isinstance(p, sympy.Pow) and not p.exp.is_integer for p in (truth - found).atoms(sympy.Pow)):
        return False
    try:
        with time_limit(timeout_s):
            diff = sympy.simplify(sympy.expand(truth**2 - found**2), ratio=1)
            return bool(diff == 0 or sympy.simplify(sympy.together(diff)) == 0)
    except (TimeoutError, RecursionError):
        return False


def evaluate(expr: sympy.Expr, names: Sequence[str], X: np.ndarray) -> np.ndarray:
    """``expr`` (any symbols, matched to ``names`` by name) evaluated on ``X`` (n, d) -> (n,) float64 by
    :func:`kansci.expr.evaluate.to_numpy`; invalid operations give NaN/inf without warnings, and an expression that
    cannot be evaluated at all (an unknown function, a complex constant, a symbol that is not in ``names``) gives NaN
    everywhere."""
    X = np.asarray(X, dtype=np.float64)
    try:
        fn = to_numpy(expr, list(names))
    except FormulaError:
        return np.full(X.shape[0], np.nan)
    return fn(X)


def numeric_match(truth: sympy.Expr, found: sympy.Expr, names: Sequence[str],
                  box: Sequence[tuple[float, float]], *, n: int = 1000, seed: int = 0,
                  tol: float = ROBUST_TOL) -> tuple[bool, float]:
    """Robust check on ``n`` uniform points of ``box`` ((low, high) per name). Returns ``(matched, spread)`` where
    spread is the smaller of ``ptp(found - truth)`` and ``ptp(found - r*truth)`` (``r`` = median of found/truth),
    both divided by ``std(truth)``; inf when values are not finite."""
    rng = np.random.default_rng(seed)
    lo = np.array([b[0] for b in box], dtype=np.float64)
    hi = np.array([b[1] for b in box], dtype=np.float64)
    X = rng.uniform(lo, hi, size=(n, len(names)))  # (n, d)
    t, f = evaluate(truth, names, X), evaluate(found, names, X)
    scale = float(np.std(t))
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(f))) or scale == 0.0:
        return False, float("inf")
    spread = float(np.ptp(f - t)) / scale
    with np.errstate(all="ignore"):
        r = float(np.median(f / t)) if np.all(t != 0) else 0.0
    if r != 0.0 and np.isfinite(r):
        spread = min(spread, float(np.ptp(f - r * t)) / (abs(r) * scale))
    return spread < tol, spread


def skeleton(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every constant subtree replaced by one symbol ``C`` (several in one sum/product merge), so two
    formulas that differ only in their numbers get equal skeletons."""
    c = sympy.Symbol("C")
    if not expr.free_symbols:
        return c
    if expr.is_Symbol:
        return expr
    args = [skeleton(a) for a in expr.args]
    if expr.is_Add or expr.is_Mul:
        args = [a for a in args if a != c] + ([c] if c in args else [])
    return expr.func(*args, evaluate=False)


def same_shape(truth: sympy.Expr, found: sympy.Expr, *, timeout_s: float = 10.0) -> bool:
    """True if ``found`` has the truth's tree up to numbers (directly or after ``simplify`` of both)."""
    truth, found = plain(truth), plain(found)
    if skeleton(truth) == skeleton(found):
        return True
    try:
        with time_limit(timeout_s):
            return skeleton(sympy.simplify(truth)) == skeleton(sympy.simplify(found))
    except (TimeoutError, RecursionError):
        return False


def score_formula(truth: sympy.Expr, found: sympy.Expr, names: Sequence[str], box: Sequence[tuple[float, float]],
                  X_test: np.ndarray, y_test: np.ndarray, *, seed: int = 0, timeout_s: float = 20.0) -> dict[str, Any]:
    """All verdicts for one formula. ``X_test`` (n, d) in ``names`` order, ``y_test`` (n,) clean targets.

    Returns a dict: formula_test_r2, strict (SRBench rule incl. R² > 0.5), strict_how, robust (incl. R² > 0.5),
    robust_spread, accuracy, complexity (sympy node count of ``found``), truth_complexity, same_shape (only
    computed when neither strict nor robust), missing_inputs (truth variables absent from ``found``). The sympy
    checks are skipped when R² <= 0.5, since no symbolic solution can pass then."""
    predicted = evaluate(found, names, X_test)
    r2 = r2_score(np.asarray(y_test, dtype=np.float64), predicted)
    if r2 > R2_SYMBOLIC:
        positive = {name for name, (low, _) in zip(names, box) if low > 0}
        matched, how = symbolic_match(truth, found, positive=positive, timeout_s=timeout_s)
        if not matched and how == "no" and np.all(np.sign(predicted) == np.sign(np.asarray(y_test))) \
                and squares_match(truth, found, positive=positive, timeout_s=timeout_s):
            matched, how = True, "squares"
    else:  # strict needs R² > 0.5 anyway: spare sympy the work
        matched, how = False, "skipped (R² <= 0.5)"
    robust, spread = numeric_match(truth, found, names, box, seed=seed)
    strict = bool(matched and r2 > R2_SYMBOLIC)
    robust = bool(robust and r2 > R2_SYMBOLIC)
    found_names = {s.name for s in found.free_symbols}
    return {
        "formula_test_r2": r2, "strict": strict, "strict_how": how, "robust": robust, "robust_spread": spread,
        "accuracy": bool(r2 > R2_ACCURACY), "complexity": sum(1 for _ in sympy.preorder_traversal(found)),
        "truth_complexity": sum(1 for _ in sympy.preorder_traversal(truth)),
        "same_shape": bool(not strict and not robust and same_shape(truth, found, timeout_s=timeout_s / 2)),
        "missing_inputs": sorted(s.name for s in truth.free_symbols if s.name not in found_names),
    }


def classify(*, strict: bool, status: str, fit_r2: float | None, removed_inputs: Sequence[str] = (),
             needed_inputs: Sequence[str] = (), robust: bool = False, same_shape: bool = False) -> str:
    """First broken stage of an unsolved task ("" when solved by the strict rule); a key of :data:`FAILURES`.

    Stages in pipeline order: the KAN fit (``fit_r2`` < 0.999), pruning (a needed input removed), then, for runs
    that stopped early, ``timeout``/``error``; for finished runs, ``constants`` (robust match but strict miss, or
    the truth's tree up to numbers) else ``primitive``."""
    if strict and status == "ok":
        return ""
    if fit_r2 is not None and not fit_r2 >= R2_FIT:   # NaN counts as a bad fit
        return "kan_fit"
    if set(removed_inputs) & set(needed_inputs):
        return "pruned_input"
    if status in ("timeout", "error"):
        return status
    return "constants" if robust or same_shape else "primitive"
