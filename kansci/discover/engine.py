"""Structure-first discovery: split a problem by tests on its surrogate, solve the pieces, assemble and verify.

One problem is a table (X (n, k), y (n,)) in named symbols, with a differentiable surrogate ``f`` of y over the same
columns. :meth:`Engine.solve` tries, in order, and keeps every result as a candidate:

1. **Direct forms on the data:** a power law in log space (:mod:`.powerlaw`), and for one or two variables the
   exhaustive search over small expression trees (:mod:`.leaves`).
2. **Separability** of y, or of a transform of y (log|y|, 1/y, y², √y; :mod:`.transforms`), by mixed partials of the
   surrogate (:mod:`.structure`): a sum or a product of functions of fewer variables. Each part becomes a
   sub-problem whose data come from the surrogate with the other variables held at reference values (their
   medians), and is solved by the same engine.
3. **Symmetry:** f depends on (x_i, x_j) only through x_i+x_j, x_i−x_j, x_i·x_j or x_i/x_j. The pair becomes one new
   variable and the problem loses a column; the real targets stay the data.

An assembled formula has its constants refitted on the problem's real data (:func:`kansci.symbolic.formula.polish`)
before it is scored, so errors of the surrogate in a sub-problem cost accuracy of a constant, not the structure.
Search stops at the first candidate that is *verified*: its normalized error on the data is within ``accept``
(calibrated on the surrogate's own validation error by the caller). Everything is anytime under ``deadline``.
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
import torch

from kansci.budget import expired, remaining
from kansci.discover import structure
from kansci.discover.leaves import search_leaf
from kansci.discover.powerlaw import fit_power_law
from kansci.discover.surrogate import Surrogate, evaluate, restricted
from kansci.discover.transforms import TargetTransform, candidate_transforms
from kansci.symbolic.formula import polish

__all__ = ["Candidate", "Engine", "complexity"]

MAX_DEPTH = 4  # nested splits (sum of products of symmetric pairs ...); deeper problems go to the direct fit
TEST_ROWS = 256  # sample points for the derivative tests
LEAF_SHARE = 0.25  # a leaf search gets at most this share of the time left


def complexity(expr: sympy.Expr) -> int:
    """Number of nodes of the expression tree (symbols, numbers and operations)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


@dataclass
class Candidate:
    """A formula for one problem: ``expr`` in the problem's symbols, its NMSE on the problem's data, and how it was
    found (``how``: one line; ``tree``: the decomposition, JSON-ready)."""

    expr: sympy.Expr
    nmse: float
    how: str
    tree: dict[str, Any] = field(default_factory=dict)

    @property
    def complexity(self) -> int:
        return complexity(self.expr)

    def score(self, weight: float) -> float:
        return math.log10(self.nmse + 1e-15) + weight * self.complexity if math.isfinite(self.nmse) else math.inf


def _torch_transform(t: TargetTransform) -> Callable[[torch.Tensor], torch.Tensor]:
    sign = float(getattr(t, "sign", 1) or 1)
    table = {"y": lambda v: v, "log|y|": lambda v: torch.log(v * sign), "1/y": lambda v: 1.0 / v,
             "y^2": lambda v: v * v, "sqrt(y)": lambda v: torch.sqrt(v)}
    return table[t.name]


def _composed(t: Callable[[torch.Tensor], torch.Tensor], f: Surrogate) -> Surrogate:
    def ft(Z: torch.Tensor) -> torch.Tensor:
        return t(f(Z))

    return ft


class Engine:
    """Solves problems recursively; ``decisions`` records every structure test; ``weight`` is the complexity penalty
    per expression node used to rank candidates."""

    def __init__(self, *, tol: float, accept: float, deadline: float | None, weight: float = 0.05,
                 log: Callable[[str], None] = lambda _: None, seed: int = 0) -> None:
        self.tol, self.accept, self.deadline, self.weight, self.log = tol, accept, deadline, weight, log
        self.decisions = structure.DecisionLog()
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------------------------------------ entry point
    def solve(self, X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], f: Surrogate | None,
              depth: int = 0) -> list[Candidate]:
        """Candidates for y (n,) over X (n, k), best first by score; the first may be verified (nmse <= accept)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        assert X.ndim == 2 and X.shape[0] == y.shape[0] and X.shape[1] == len(symbols), (X.shape, y.shape)
        cands = self._direct(X, y, symbols)
        if self._done(cands) or f is None or depth >= MAX_DEPTH or X.shape[1] < 2 or expired(self.deadline):
            return self._ranked(cands)
        for step in (self._separable, self._symmetric):
            cands += step(X, y, list(symbols), f, depth)
            if self._done(cands) or expired(self.deadline):
                break
        return self._ranked(cands)

    def verified(self, c: Candidate) -> bool:
        return c.nmse <= self.accept

    def _done(self, cands: list[Candidate]) -> bool:
        return any(self.verified(c) for c in cands)

    def _ranked(self, cands: list[Candidate]) -> list[Candidate]:
        return sorted(cands, key=lambda c: (not self.verified(c), c.score(self.weight)))

    # ------------------------------------------------------------------------------------------------ direct forms
    def _direct(self, X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol]) -> list[Candidate]:
        out = []
        law = fit_power_law(X, y, symbols)
        if law is not None and math.isfinite(law.nmse):
            out.append(Candidate(law.expr, law.nmse, "power law", {"kind": "power law", "expr": str(law.expr)}))
        if X.shape[1] <= 2 and not self._done(out):
            stop = time.perf_counter() + LEAF_SHARE * remaining(self.deadline)
            budget = stop if self.deadline is not None else None
            for leaf in search_leaf(X, y, symbols, deadline=budget, weight=self.weight, max_results=3):
                out.append(Candidate(leaf.expr, leaf.nmse, f"leaf {leaf.shape}", {"kind": "leaf", "shape": leaf.shape,
                                                                                    "expr": str(leaf.expr)}))
        return out

    # ------------------------------------------------------------------------------------------------ separability
    def _test_points(self, X: np.ndarray) -> torch.Tensor:
        rows = self.rng.choice(X.shape[0], size=min(TEST_ROWS, X.shape[0]), replace=False)
        return torch.as_tensor(X[np.sort(rows)], dtype=torch.float64)

    def _separable(self, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol], f: Surrogate,
                   depth: int) -> list[Candidate]:
        Xs = self._test_points(X)
        out: list[Candidate] = []
        transforms = candidate_transforms(y) if np.all(np.isfinite(y)) else []
        for t in [TargetTransform(), *transforms]:
            if expired(self.deadline):
                break
            ft = _composed(_torch_transform(t), f)
            groups, _ = structure.additive_groups(ft, Xs, self.tol, log=self.decisions)
            kinds = [("sum", groups)]
            if t.name == "y":
                mgroups, _ = structure.multiplicative_groups(f, Xs, self.tol, log=self.decisions)
                kinds.append(("product", mgroups))
            for kind, gs in kinds:
                if len(gs) < 2:
                    continue
                self.log(f"{'  ' * depth}{kind} of {[[str(symbols[i]) for i in g] for g in gs]}"
                         + (f" under {t.name}" if t.name != "y" else ""))
                cand = self._split(kind, gs, t, ft, X, y, symbols, depth)
                if cand is not None:
                    out.append(cand)
                    if self.verified(cand):
                        return out
        return out

    def _split(self, kind: str, groups: list[tuple[int, ...]], t: TargetTransform, ft: Surrogate, X: np.ndarray,
               y: np.ndarray, symbols: list[sympy.Symbol], depth: int) -> Candidate | None:
        """Solve each group on the surrogate restricted to it; assemble t(y) = Σ a·g (sum) or C·Π g (product); map
        back through t's inverse and refit every constant on the real data."""
        d = X.shape[1]
        ref = np.median(X, axis=0)
        parts, trees = [], []
        for g in groups:
            sub_f = restricted(ft, d, g, ref)
            Z = X[:, list(g)]
            zy = evaluate(sub_f, Z)
            if not np.all(np.isfinite(zy)):
                return None
            sub = self.solve(Z, zy, [symbols[i] for i in g], sub_f, depth + 1)
            if not sub:
                return None
            parts.append(sub[0].expr)
            trees.append(sub[0].tree | {"variables": [str(symbols[i]) for i in g], "nmse": sub[0].nmse})
        if kind == "sum":
            inner = sympy.Add(*[sympy.Float(1.0) * p for p in parts]) + sympy.Float(0.0)
        else:
            inner = sympy.Float(1.0) * sympy.Mul(*parts)
        expr = t.sympy_inverse(inner)
        polished, nmse = polish(expr, symbols, X, y)
        how = f"{kind} of {len(groups)} parts" + (f" of {t.name}" if t.name != "y" else "")
        return Candidate(polished, nmse, how, {"kind": kind, "transform": t.name, "parts": trees})

    # ------------------------------------------------------------------------------------------------ symmetry
    def _symmetric(self, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol], f: Surrogate,
                   depth: int) -> list[Candidate]:
        Xs = self._test_points(X)
        d = X.shape[1]
        found = []
        for i, j in itertools.combinations(range(d), 2):
            if expired(self.deadline):
                break
            best = structure.symmetry(f, Xs, i, j, self.tol, log=self.decisions)[0]
            if best.passed:
                found.append(best)
        out: list[Candidate] = []
        for dec in sorted(found, key=lambda dec: dec.statistic):
            cand = self._merge(dec, X, y, symbols, f, depth)
            if cand is not None:
                out.append(cand)
                if self.verified(cand) or expired(self.deadline):
                    break
        return out

    def _merge(self, dec: structure.Decision, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol],
               f: Surrogate, depth: int) -> Candidate | None:
        """Replace (x_i, x_j) by u = op(x_i, x_j) and solve the smaller problem on the real targets. The smaller
        problem's surrogate holds x_j at its median and solves x_i from u."""
        i, j = dec.variables
        op = dec.test.removeprefix("symmetry_")
        xi, xj = symbols[i], symbols[j]
        u_expr = {"sum": xi + xj, "difference": xi - xj, "product": xi * xj, "ratio": xi / xj}[op]
        with np.errstate(all="ignore"):
            u = {"sum": X[:, i] + X[:, j], "difference": X[:, i] - X[:, j], "product": X[:, i] * X[:, j],
                 "ratio": X[:, i] / X[:, j]}[op]
        if not np.all(np.isfinite(u)):
            return None
        rest = [k for k in range(X.shape[1]) if k not in (i, j)]
        Xn = np.column_stack([u, X[:, rest]])
        u_sym = sympy.Dummy(f"u_{xi}_{xj}", real=True)
        xj_ref = float(np.median(X[:, j]))
        solve_i = {"sum": lambda v: v - xj_ref, "difference": lambda v: v + xj_ref, "product": lambda v: v / xj_ref,
                   "ratio": lambda v: v * xj_ref}[op]

        def fn(Z: torch.Tensor) -> torch.Tensor:
            full = torch.empty(Z.shape[0], X.shape[1], dtype=Z.dtype, device=Z.device)
            full[:, i] = solve_i(Z[:, 0])
            full[:, j] = xj_ref
            full[:, rest] = Z[:, 1:]
            return f(full)

        self.log(f"{'  ' * depth}symmetry: {xi}, {xj} enter as {u_expr}")
        sub = self.solve(Xn, y, [u_sym, *[symbols[k] for k in rest]], fn, depth + 1)
        if not sub:
            return None
        expr = sub[0].expr.xreplace({u_sym: u_expr})
        polished, nmse = polish(expr, symbols, X, y)
        return Candidate(polished, nmse, f"symmetry {u_expr}",
                         {"kind": "symmetry", "combination": str(u_expr), "statistic": dec.statistic,
                          "part": sub[0].tree})
