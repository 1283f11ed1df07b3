"""Exhaustive search for small 1- and 2-variable leaves: y ≈ c·g(x; θ) + d over a grammar of tiny expression trees.

Once the structure tests have split a formula into pieces of one or two variables, each piece (a "leaf") is small
enough to solve by brute force. The grammar (:mod:`kansci.discover.leaf_grammar`) covers shapes that a single
``c·f(a·x+b)+d`` cannot, e.g. log(1+x²),
1/(1+x), √(x²+y²), x·e^{−x}, sin(x)/x, e^{−x²} and (x+y)/(1+x·y). Each tree carries at most two inner constants θ,
placed where they are not redundant with the outer affine map (a shift inside log, a scale inside exp, ...).

Fitting: the outer c, d are always solved by linear least squares. The inner θ is first scanned on a grid in units of
the data (relative to the range of the node it acts on) scored by squared correlation on a row subsample, then the
best candidates are refined on all rows by a few Levenberg-Marquardt steps on the variable-projection residual.
Ranking: ``score = log10(nmse + 1e-15) + weight·complexity`` with complexity = nodes (variables and operators) plus
inner constants. Trees whose value is undefined on the data (log of a negative, a pole) are skipped silently.
"""
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
import torch

from kansci.budget import expired
from kansci.discover.candidates import noisy_ranking
from kansci.discover.leaf_grammar import GRIDS, HUGE, Eval, Node, complexity, grammar, grid_kinds, to_sympy
from kansci.errors import DataError
from kansci.symbolic.lm import levenberg_marquardt, mean_square


@dataclass(frozen=True)
class LeafCandidate:
    """A fitted leaf: ``expr`` = c·g + d with numeric constants, its NMSE on the data, complexity and score."""

    expr: sympy.Expr
    nmse: float
    complexity: int
    score: float
    shape: str


REFINE_TOP = 45  # scanned trees refitted on every row (a law near a pole scans poorly on its coarse constants)
REFINE_WORK = 45_000  # ... or as many as this many row-refits allow, on small problems


def _row_nmse(V: np.ndarray, y: np.ndarray) -> np.ndarray:
    """NMSE (G,) of the best affine fit c·V[g] + d to y (m,), i.e. 1 − r²; inf for undefined or constant rows."""
    ok = np.isfinite(V).all(axis=1) & (np.abs(V).max(axis=1) < HUGE)
    Vc, yc = V - V.mean(axis=1, keepdims=True), y - y.mean()
    vv = np.einsum("gi,gi->g", Vc, Vc)
    ok &= vv > 1e-24 * np.einsum("gi,gi->g", V, V)
    r2 = (Vc @ yc) ** 2 / (vv * (yc @ yc))
    return np.where(ok, np.clip(1.0 - r2, 0.0, None), np.inf)


def _project(g: np.ndarray | None, y: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Residual y − (c·g + d) (n,) with c, d by least squares, or None when g is undefined or constant."""
    if g is None or not np.all(np.isfinite(g)) or np.max(np.abs(g)) >= HUGE:
        return None
    gc = g - g.mean()
    vv = gc @ gc
    if not vv > 1e-24 * (g @ g):
        return None
    c = gc @ (y - y.mean()) / vv
    d = y.mean() - c * g.mean()
    return y - c * g - d, float(c), float(d)


def _refine(fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, y: np.ndarray, iters: int = 30) -> np.ndarray:
    """Levenberg-Marquardt (:func:`kansci.symbolic.lm.levenberg_marquardt`, the project's one loop) on the inner
    constants θ (p,) of g = fn(θ) (n,), minimizing |y − (c·g + d)|² with c, d re-solved by least squares at every θ
    (variable projection). Central-difference Jacobian; an undefined residual counts as no improvement."""
    def res(t: np.ndarray) -> np.ndarray | None:
        p = _project(fn(t), y)
        return None if p is None else p[0]

    def residual(t: torch.Tensor) -> torch.Tensor:
        r = res(t.numpy())
        return torch.full((y.size,), math.inf, dtype=torch.float64) if r is None else torch.from_numpy(r)

    def jacobian_of(t: torch.Tensor) -> torch.Tensor:
        theta_ = t.numpy()
        r0 = res(theta_)
        J = np.full((y.size, theta_.size), np.nan)
        for j in range(theta_.size):
            e = np.zeros_like(theta_)
            e[j] = 1e-6 * max(1.0, abs(theta_[j]))
            rp, rm = res(theta_ + e), res(theta_ - e)
            if rp is not None and rm is not None:
                J[:, j] = (rp - rm) / (2 * e[j])
            elif r0 is not None and (rp is not None or rm is not None):
                J[:, j] = (rp - r0) / e[j] if rp is not None else (r0 - rm) / e[j]
        return torch.from_numpy(J)

    if res(theta) is None:
        return theta
    floor = 1e-30 * float(y @ y) / max(y.size, 1)  # below this the fit is exact: stop instead of chasing round-off

    def loss_of(r: torch.Tensor) -> float:
        return max(mean_square(r), floor) if bool(torch.isfinite(r).all()) else math.inf

    start = torch.from_numpy(theta.astype(np.float64))
    out, _ = levenberg_marquardt(residual, jacobian_of, start, iters, tol=1e-12, loss_of=loss_of)
    return out.numpy()


def _fingerprint(v: np.ndarray) -> bytes:
    """Same for two value vectors (n,) that differ only by an affine map c·v + d."""
    z = (v - v.mean()) / v.std()
    z = z * np.sign(z[np.argmax(np.abs(z) > 1e-6)])
    return np.round(z, 7).tobytes()


def _scan(X: np.ndarray, y: np.ndarray, trees: Sequence[Node], weight: float, deadline: float | None
          ) -> list[tuple[float, Node, np.ndarray]]:
    """Grid stage on X (m, k), y (m,): (score, tree, absolute constants of its best grid point), best first. Trees
    whose values equal an earlier constant-free tree's up to c·g + d are dropped."""
    grids: dict[tuple[str, ...], np.ndarray] = {}
    seen: set[bytes] = set()
    scanned: list[tuple[float, Node, np.ndarray]] = []
    for num, node in enumerate(trees):
        if num > 0 and expired(deadline):
            break
        kinds = tuple(grid_kinds(node))
        if kinds not in grids:
            combos = list(itertools.product(*(GRIDS[q] for q in kinds)))
            grids[kinds] = np.array(combos, dtype=np.float64).reshape(len(combos), len(kinds))
        ev = Eval(X, grids[kinds], True)
        V = np.broadcast_to(ev(node), (grids[kinds].shape[0], X.shape[0]))
        nm = _row_nmse(V, y)
        best = int(np.argmin(nm))
        key = b"" if kinds else _fingerprint(V[0])
        if not np.isfinite(nm[best]) or key in seen:
            continue
        seen.update([key] if key else [])
        err, theta = _zoom(X, y, node, kinds, grids[kinds][best], float(nm[best]), ev.abs[best])
        scanned.append((math.log10(err + 1e-15) + weight * complexity(node), node, theta))
    return sorted(scanned, key=lambda s: s[0])


def _zoom(X: np.ndarray, y: np.ndarray, node: Node, kinds: tuple[str, ...], rel: np.ndarray, err: float,
          theta: np.ndarray, points: int = 9) -> tuple[float, np.ndarray]:
    """Refine the best grid point ``rel`` (p,) one constant at a time on ``points`` values between its grid
    neighbours, so that a tree whose optimum falls between grid values (a pole close to the data) is ranked by
    roughly its best fit, not by the grid's luck. Returns (nmse, absolute constants)."""
    rel = rel.copy()
    for j, kind in enumerate(kinds):
        values = np.array(sorted(GRIDS[kind]), dtype=np.float64)
        at = int(np.argmin(np.abs(values - rel[j])))
        lo, hi = values[max(at - 1, 0)], values[min(at + 1, values.size - 1)]
        trial = np.repeat(rel[None, :], points, axis=0)
        trial[:, j] = np.linspace(lo, hi, points)
        ev = Eval(X, trial, True)
        nm = _row_nmse(np.broadcast_to(ev(node), (points, X.shape[0])), y)
        k = int(np.argmin(nm))
        if nm[k] < err:
            err, rel, theta = float(nm[k]), trial[k], ev.abs[k]
    return err, theta


def search_leaf(X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], deadline: float | None = None,
                weight: float = 0.05, max_results: int = 10, refine_top: int | None = None, subsample: int = 128,
                floor: float = 0.0, data_rows: int = 0) -> list[LeafCandidate]:
    """Rank small formulas y ≈ c·g(x) + d for X (n, k), k ∈ {1, 2}, y (n,); ``symbols`` name the k columns.

    ``deadline`` is an absolute ``time.perf_counter()`` value (None: no limit); when it passes, the best candidates
    found so far are returned (at least the simplest one is always tried). The scan runs on ``subsample`` evenly
    spaced rows, then the ``refine_top`` best are refitted on all rows (default: REFINE_TOP, more on fewer rows at
    the same cost, REFINE_WORK rows·refits: a law with a pole just outside the data scans poorly on its coarse
    constants and needs a deeper refit); the ``max_results`` best come back, best
    first, ranked by ``log10(max(nmse, floor) + 1e-15) + weight·complexity``:
    errors below ``floor`` (the noise
    level of y, when known) do not count, so the simplest formula within the noise comes first. With ``data_rows`` (the
    number of independent rows of real data; 0 for a surrogate's values) noisy data are ranked by the excess over
    the shared noise (:func:`~kansci.discover.candidates.noisy_ranking`)."""
    X = np.asarray(X, dtype=np.float64)
    X = X[:, None] if X.ndim == 1 else X
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, k = X.shape
    if k not in (1, 2) or len(symbols) != k or y.shape[0] != n or n < 3:
        raise DataError(f"leaf search: need X (n, 1|2) with n >= 3, y (n,) and one symbol per column; got X "
                        f"{X.shape}, y {y.shape}, {len(symbols)} symbols", "pass matching arrays and symbols")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise DataError("leaf search: X or y has NaN/inf values", "drop or impute those rows first")
    if not np.var(y) > 1e-30 * max(float(np.mean(y * y)), 1e-300):
        return [LeafCandidate(sympy.Float(float(y.mean())), 0.0, 0, math.log10(1e-15), "c")]
    rows = np.unique(np.linspace(0, n - 1, min(n, subsample)).round().astype(int))
    with np.errstate(all="ignore"):
        scanned = _scan(X[rows], y[rows], grammar(k), weight, deadline)
        fitted: list[tuple[float, float, Node, np.ndarray, float, float]] = []
        top = refine_top if refine_top is not None else max(REFINE_TOP, REFINE_WORK // n)
        for _, node, theta in scanned[:top]:
            late = expired(deadline)
            if late and len(fitted) >= max_results:
                break
            fn = functools.partial(lambda nd, t: Eval(X, t[None, :], False)(nd)[0], node)
            theta = _refine(fn, theta.copy(), y) if theta.size and not late else theta
            p = _project(fn(theta), y)
            if p is None:
                continue
            nmse = float(np.mean(p[0] ** 2) / np.var(y))
            fitted.append((0.0, nmse, node, theta, p[1], p[2]))
    offset, floor = noisy_ranking([f[1] for f in fitted], floor, data_rows)
    fitted = [(math.log10(max(nmse - offset, floor) + 1e-15) + weight * complexity(node), nmse, node, theta, c, d)
              for _, nmse, node, theta, c, d in fitted]
    fitted.sort(key=lambda f: f[0])
    out: dict[str, LeafCandidate] = {}
    for score, nmse, node, theta, c, d in fitted:
        g = to_sympy(node, symbols, iter([sympy.Float(float(t)) for t in theta]))
        expr = sympy.Float(c) * g + sympy.Float(d)
        shape = to_sympy(node, symbols, iter(sympy.symbols(f"k0:{theta.size}")))
        out.setdefault(str(rounded(expr, 6)), LeafCandidate(expr, nmse, complexity(node), score, f"c*({shape}) + d"))
        if len(out) == max_results:
            break
    return list(out.values())


def rounded(expr: sympy.Expr, digits: int = 3) -> sympy.Expr:
    """``expr`` with every float rounded to ``digits`` decimals (for display and for comparing with a known law)."""
    return expr.xreplace({f: sympy.Float(round(float(f), digits)) for f in expr.atoms(sympy.Float)})
