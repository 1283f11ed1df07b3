"""Candidate formulas of the structure-first engine, and the helpers that assemble, compare and rank them.

A :class:`Candidate` is one formula for one (sub-)problem with its normalized error on that problem's data; the
engine (:mod:`.engine`) collects them, assembles parts of a split (:func:`combine`) and ranks them by score with a
noise floor (errors within the noise, or within the data's own floor, do not count).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
import torch

from kansci.discover import structure
from kansci.discover.surrogate import Surrogate, evaluate
from kansci.discover.transforms import TargetTransform, other_transforms
from kansci.expr.evaluate import to_numpy

ACCEPT_FACTOR = 1.5  # a formula within 1.5x the noise variance explains its data as well as they can be explained
MAX_DEPTH = 4  # nested splits (sum of products of symmetric pairs ...); deeper problems go to the direct fit
TEST_ROWS = 256  # sample points for the derivative tests
LEAF_SHARE = 0.25  # a leaf search gets at most this share of the time left
ALTERNATIVES = 3  # candidates per part that a split or merge tries on the real data
TIE_FACTOR = 3.0  # errors within this factor of the best candidate's count as equal (see data_floor)
NUMERIC_FLOOR = 1e-12  # NMSE below which float64 refits cannot tell formulas apart
EXACT_FACTOR = 100.0  # a fit within 100x the numeric floor is exact: no other transform of y can do better
RESOLUTION = 16.0  # 4·z² with z = 2: an excess NMSE below RESOLUTION × noise / rows is within the noise (see below)


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
    accept: float = 0.0  # the NMSE within which this candidate's problem counts as solved (its noise level)

    @property
    def verified(self) -> bool:
        return self.nmse <= self.accept

    @property
    def complexity(self) -> int:
        return complexity(self.expr)

    def score(self, weight: float, floor: float = 0.0, offset: float = 0.0) -> float:
        """``log10(max(nmse − offset, floor) + 1e-15) + weight × complexity``: errors below ``floor`` (the noise of
        the data, or of the surrogate that made them) do not count, so among formulas within it the simplest wins;
        ``offset`` is the noise every formula shares on noisy data (see :func:`noisy_ranking`)."""
        if not math.isfinite(self.nmse):
            return math.inf
        return math.log10(max(self.nmse - offset, floor) + 1e-15) + weight * self.complexity


def torch_transform(t: TargetTransform) -> Callable[[torch.Tensor], torch.Tensor]:
    sign = float(getattr(t, "sign", 1) or 1)
    table = {"y": lambda v: v, "log|y|": lambda v: torch.log(v * sign), "1/y": lambda v: 1.0 / v,
             "y^2": lambda v: v * v, "sqrt(y)": lambda v: torch.sqrt(v)}
    return table[t.name]


def combine(kind: str, parts: list[sympy.Expr], symbols: Sequence[sympy.Symbol], X: np.ndarray,
             target: np.ndarray) -> sympy.Expr | None:
    """Σ a_k·part_k + b (sum) or C·Π part_k (product) with the coefficients solved by linear least squares against
    ``target`` (n,) on X: a good start for the nonlinear refit, whatever constant offsets the parts carry."""
    values = [to_numpy(p, symbols)(X) for p in parts]
    if not all(np.all(np.isfinite(v)) for v in values):
        return None
    if kind == "sum":
        A = np.column_stack([*values, np.ones(X.shape[0])])
        coef = np.linalg.lstsq(A, target, rcond=None)[0]
        return sympy.Add(*[sympy.Float(float(a)) * p for a, p in zip(coef[:-1], parts)]) + sympy.Float(float(coef[-1]))
    g = np.prod(values, axis=0)
    gg = float(g @ g)
    if not gg > 0:
        return None
    return sympy.Float(float(g @ target) / gg) * sympy.Mul(*parts)


def noise_level(noise: float, y: np.ndarray) -> float:
    """The NMSE within which a formula explains y (n,) as well as its noise allows: ACCEPT_FACTOR x noise² / var(y)."""
    return ACCEPT_FACTOR * noise**2 / max(float(np.var(y)), 1e-300)


def reference(X: np.ndarray, f: Surrogate, rows: int = 512) -> np.ndarray:
    """Where to hold the other variables of a product's part: the row nearest the column medians (in units of the
    columns' spreads) among those where |f| is at least its median, so that no factor is near zero there."""
    Z = X[:rows]
    v = np.abs(evaluate(f, Z))
    ok = np.isfinite(v) & (v >= np.nanmedian(v))
    if not ok.any():
        return np.median(X, axis=0)
    spread = np.where(np.std(X, axis=0) > 0, np.std(X, axis=0), 1.0)
    dist = np.sum(((Z - np.median(X, axis=0)) / spread) ** 2, axis=1)
    return Z[np.argmin(np.where(ok, dist, np.inf))]


def data_floor(cands: Sequence[Candidate]) -> float:
    """The error below which the candidates' own data cannot rank them: TIE_FACTOR × the best NMSE (at least
    NUMERIC_FLOOR). A formula that fits the data far better than the surrogate does shows that the data are cleaner
    than the surrogate's noise, so the surrogate's noise level must not hide that difference (an exact law against
    a mimic that fits only as well as the surrogate)."""
    best = min((c.nmse for c in cands if math.isfinite(c.nmse)), default=math.inf)
    return _tie_floor(best) if math.isfinite(best) else 0.0


def _tie_floor(best: float) -> float:
    return max(TIE_FACTOR * best, NUMERIC_FLOOR)


def noisy_ranking(nmses: Sequence[float], floor: float, rows: int) -> tuple[float, float]:
    """(offset, floor) for ranking formulas fitted to the same real data of ``rows`` independent rows by
    ``log10(max(nmse − offset, floor))`` (+ complexity), given the usual noise ``floor``.

    Where the best formula fits the data to within TIE_FACTOR of that floor, the data are noisy and the floor would
    tie every formula within the noise, the law with a mimic that fits 10% worse. But on n rows with noise ν (NMSE)
    a formula whose excess error over the law is e shows it in the paired sum of squares at e·n against a noise of
    2·√(e·n·ν): the excess is resolved at z standard errors once e > 4z²·ν/n. So the noise the formulas share (the
    best one's NMSE) is taken off, and excesses below RESOLUTION × ν / n tie. Elsewhere (exact data, where the law
    fits far below the floor, or no noise level is known) the data's own floor stands, as in :func:`data_floor`:
    (0, TIE_FACTOR × best)."""
    finite = [v for v in nmses if math.isfinite(v)]
    if rows <= 0 or not finite:
        return 0.0, floor
    best = min(finite)
    if floor <= 0 or TIE_FACTOR * best < floor:  # exact (or no noise known): down to the data's own floor
        return 0.0, _tie_floor(best)
    return best, max(RESOLUTION * best / rows, NUMERIC_FLOOR)


def independent_rows(X: np.ndarray, y: np.ndarray) -> int:
    """The effective number of independent rows of (X (n, k), y (n,)): n for distinct rows; for rows drawn with
    repeats (weighted rows), Kish's (Σc)²/Σc² over the multiplicities c of the distinct rows."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    rows = np.column_stack([np.asarray(X, dtype=np.float64).reshape(y.shape[0], -1), y])
    _, counts = np.unique(rows, axis=0, return_counts=True)
    c = counts.astype(np.float64)
    return int(round(float(c.sum() ** 2 / np.sum(c**2)))) if c.size else 0


def distinct(cands: Sequence[Candidate]) -> list[Candidate]:
    """``cands`` without repeats of the same formula (first kept)."""
    seen: set[str] = set()
    return [c for c in cands if not (str(c.expr) in seen or seen.add(str(c.expr)))]


def done(cands: list[Candidate]) -> bool:
    return any(c.verified for c in cands)


def settled(cands: list[Candidate]) -> bool:
    """Some candidate fits its data exactly (NMSE within EXACT_FACTOR × NUMERIC_FLOOR)."""
    return any(c.nmse <= EXACT_FACTOR * NUMERIC_FLOOR for c in cands)


def split_statistic(groups: list[tuple[int, ...]], decisions: list[structure.Decision]) -> float:
    """The largest statistic among the pairs that the split separates (each passed its swap test)."""
    where = {i: k for k, g in enumerate(groups) for i in g}
    across = [d.statistic for d in decisions if len(d.variables) == 2 and all(isinstance(v, int) for v in d.variables)
              and where.get(d.variables[0]) != where.get(d.variables[1])]
    return max(across, default=0.0)


def merged(groups: list[tuple[int, ...]], decisions: list[structure.Decision]) -> list[tuple[int, ...]] | None:
    """``groups`` (at least three) with the two joined whose separation was least certain: the largest ratio of a
    swap statistic to its threshold among the pairs across them. The swap tests pass within the surrogate's noise, so
    a loose network can split a part the data do not split (1 + α·π₂ passes as a product of α and π₂); the next
    coarser split is then the likeliest true one. None for fewer than three groups."""
    if len(groups) < 3:
        return None
    where = {i: k for k, g in enumerate(groups) for i in g}
    across = [(d.statistic / d.threshold, where[d.variables[0]], where[d.variables[1]]) for d in decisions
              if len(d.variables) == 2 and d.threshold > 0 and all(v in where for v in d.variables)
              and where[d.variables[0]] != where[d.variables[1]]]
    if not across:
        return None
    _, a, b = max(across)
    joined = tuple(sorted(groups[a] + groups[b]))
    return sorted([g for k, g in enumerate(groups) if k not in (a, b)] + [joined])


@torch.no_grad()
def transformed_noise(t: Callable[[torch.Tensor], torch.Tensor], f: Surrogate, X: torch.Tensor,
                       noise: float) -> float:
    """RMS change of t(f) when f moves by its error ``noise``: the error of the transformed surrogate."""
    v = f(X)
    return float(torch.sqrt(torch.nanmean((t(v + noise) - t(v)) ** 2)))


def composed(t: Callable[[torch.Tensor], torch.Tensor], f: Surrogate) -> Surrogate:
    def ft(Z: torch.Tensor) -> torch.Tensor:
        return t(f(Z))

    return ft


def transformed_surrogates(y: np.ndarray, f: Surrogate, X: torch.Tensor, noise: float
                           ) -> Iterator[tuple[TargetTransform, Surrogate, float]]:
    """y itself, then each transform t that applies to y (n,): (t, the surrogate of t(y), its noise at the rows X),
    the order in which the structure tests try them."""
    for t in [TargetTransform(), *other_transforms(y)]:
        tt = torch_transform(t)
        yield t, composed(tt, f), noise if t.name == "y" else transformed_noise(tt, f, X, noise)
