"""Symmetry: f depends on (x_i, x_j) only through x_i + x_j, x_i − x_j, x_i·x_j or x_i/x_j (the gradient-ratio tests
of :mod:`.structure`). The pair becomes one new variable u and the problem loses a column; its targets stay the
real data, and its surrogate holds x_j at its median and solves x_i from u."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import sympy
import torch

from kansci.budget import expired
from kansci.discover import structure
from kansci.discover.candidates import ALTERNATIVES, Candidate, distinct, noise_level
from kansci.discover.surrogate import Surrogate
from kansci.symbolic.formula import polish

__all__ = ["symmetric_split"]


def symmetric_split(engine: Any, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol], f: Surrogate,
                    depth: int, noise: float, Xs: torch.Tensor) -> list[Candidate]:
    """Candidates from the pairs whose symmetry test passes on the surrogate f at the test rows Xs, best statistic
    first; stops at the first that explains y within its noise. ``engine``: the solving
    :class:`~kansci.discover.engine.Engine` (typed loosely: the engine imports this module)."""
    d = X.shape[1]
    found = []
    for i, j in itertools.combinations(range(d), 2):
        if expired(engine.deadline):
            break
        best = structure.symmetry(f, Xs, i, j, engine.tol, log=engine.decisions)[0]
        if best.passed:
            found.append(best)
    out: list[Candidate] = []
    for dec in sorted(found, key=lambda dec: dec.statistic):
        cand = _merge(engine, dec, X, y, symbols, f, depth, noise)
        if cand is not None:
            out.append(cand)
            if cand.nmse <= noise_level(noise, y) or expired(engine.deadline):
                break
    return out


def _merge(engine: Any, dec: structure.Decision, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol],
           f: Surrogate, depth: int, noise: float) -> Candidate | None:
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

    engine.log(f"{'  ' * depth}symmetry: {xi}, {xj} enter as {u_expr}")
    sub = engine.solve(Xn, y, [u_sym, *[symbols[k] for k in rest]], fn, depth + 1, noise)
    if not sub:
        return None
    found = []
    for c in distinct(sub)[:ALTERNATIVES]:  # solved on the real targets: their errors can rank them
        if found and expired(engine.deadline):
            break
        polished, nmse = polish(c.expr.xreplace({u_sym: u_expr}), symbols, X, y)
        found.append(Candidate(polished, nmse, f"symmetry {u_expr}",
                               {"kind": "symmetry", "combination": str(u_expr), "statistic": dec.statistic,
                                "part": c.tree}))
    return engine.best_on_data(found, X, y)
