"""Structure-first discovery: split a problem by tests on its surrogate, solve the pieces, assemble and verify.

One problem is a table (X (n, k), y (n,)) in named symbols, with a differentiable surrogate ``f`` of y over the same
columns. :meth:`Engine.solve` tries, in order, and keeps every result as a candidate:

1. **Direct forms on the data:** a power law in log space (:mod:`.powerlaw`), and for one or two variables the
   exhaustive search over small expression trees (:mod:`.leaves`).
2. **Separability** of y, or of a transform of y (log|y|, 1/y, y², √y; :mod:`.transforms`), by swapping values of
   the surrogate between rows (:mod:`.separability`): a sum or a product of functions of fewer variables. Each part
   becomes a sub-problem whose data come from the surrogate with the other variables held at reference values
   (their medians), and is solved by the same engine.
3. **Symmetry** (:mod:`.symmetry`): f depends on (x_i, x_j) only through x_i+x_j, x_i−x_j, x_i·x_j or x_i/x_j. The
   pair becomes one new variable and the problem loses a column; the real targets stay the data.
4. **Affine in one variable** (:mod:`.affine`): f = a(rest) + b(rest)·h(x_i); h, a and b become sub-problems.

An assembled formula has its constants refitted on the problem's real data (:func:`kansci.symbolic.formula.polish`)
before it is scored, so errors of the surrogate in a sub-problem cost accuracy of a constant, not the structure.
Search stops at the first candidate that is *verified*: its normalized error on the data is within ``accept``
(calibrated on the surrogate's own validation error by the caller). Everything is anytime under ``deadline``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import sympy
import torch

from kansci.budget import expired, remaining
from kansci.discover import separability, structure
from kansci.discover.affine import affine_split
from kansci.discover.branches import LeafJob, Map, leaf_candidates
from kansci.discover.candidates import (
    ALTERNATIVES,
    LEAF_SHARE,
    MAX_DEPTH,
    TEST_ROWS,
    Candidate,
    combine,
    complexity,
    data_floor,
    distinct,
    done,
    independent_rows,
    merged,
    noise_level,
    noisy_ranking,
    reference,
    settled,
    split_statistic,
    transformed_surrogates,
)
from kansci.discover.powerlaw import fit_power_law
from kansci.discover.surrogate import Surrogate, evaluate, restricted
from kansci.discover.symmetry import symmetric_split
from kansci.discover.transforms import TargetTransform, other_transforms
from kansci.expr.evaluate import to_numpy
from kansci.symbolic.formula import polish

__all__ = ["Candidate", "Engine", "complexity"]

class Engine:
    """Solves problems recursively; ``decisions`` records every structure test; ``weight`` is the complexity penalty
    per expression node used to rank candidates."""

    def __init__(self, *, tol: float, accept: float, deadline: float | None, noise: float = 0.0,
                 weight: float = 0.05, log: Callable[[str], None] = lambda _: None, seed: int = 0,
                 leaf_results: int = 3, pmap: Map | None = None) -> None:
        self.tol, self.accept, self.deadline, self.weight, self.log = tol, accept, deadline, weight, log
        self.pmap = pmap  # runs the transforms' leaf searches (:mod:`.branches`); None: one after the other
        self.noise = noise  # RMS error of one surrogate value, in units of the target
        self.decisions = structure.DecisionLog()
        self.rng = np.random.default_rng(seed)
        self.leaf_results = leaf_results  # candidates kept per leaf search (more where the caller decides by CV)
        self._on_surrogate = 0  # > 0 while solving a sub-problem whose targets are surrogate values, not data

    # ------------------------------------------------------------------------------------------------ entry point
    def solve(self, X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], f: Surrogate | None,
              depth: int = 0, noise: float | None = None) -> list[Candidate]:
        """Candidates for y (n,) over X (n, k), best first by score; the first may be verified.

        ``noise`` is the RMS error of y's values (default: the surrogate's); a candidate is verified when its NMSE is
        within ``ACCEPT_FACTOR × noise² / var(y)`` (at least the engine's ``accept``), and errors below that level
        do not count in the ranking, so the simplest formula within the noise wins."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        assert X.ndim == 2 and X.shape[0] == y.shape[0] and X.shape[1] == len(symbols), (X.shape, y.shape)
        noise = self.noise if noise is None else noise
        var = float(np.var(y))
        accept = max(self.accept, noise_level(noise, y)) if var > 0 else self.accept
        cands = self._direct(X, y, symbols, accept)
        if done(cands) or f is None or depth >= MAX_DEPTH or X.shape[1] < 2 or expired(self.deadline):
            return self._ranked(cands, X, y)
        for step in (self._separable, self._symmetric, self._affine):
            cands += [replace(c, accept=accept) for c in step(X, y, list(symbols), f, depth, noise)]
            if done(cands) or expired(self.deadline):
                break
        return self._ranked(cands, X, y)

    def solve_surrogate(self, Z: np.ndarray, fn: Surrogate, symbols: Sequence[sympy.Symbol], depth: int,
                        noise: float) -> list[Candidate]:
        """A sub-problem at ``depth + 1`` whose targets are the surrogate ``fn``'s values on Z (n, k), ranked with
        the surrogate's noise standing (see :meth:`_ranked`); [] when a value is not finite."""
        zy = evaluate(fn, Z)
        if not np.all(np.isfinite(zy)):
            return []
        self._on_surrogate += 1
        try:
            return self.solve(Z, zy, symbols, fn, depth + 1, noise)
        finally:
            self._on_surrogate -= 1

    def solve_values(self, Z: np.ndarray, values: np.ndarray, symbols: Sequence[sympy.Symbol],
                     depth: int) -> list[Candidate]:
        """A sub-problem at ``depth + 1`` whose targets are estimates of a function on Z (n, k) read off the data
        (their error is smooth and far below the surrogate's), with no surrogate: the power law and the leaf search on
        the values themselves, ranked like data (errors within TIE_FACTOR of the best count equal); [] when a value
        is not finite."""
        if not np.all(np.isfinite(values)) or not np.var(values) > 0:
            return []
        Z = np.asarray(Z, dtype=np.float64)
        return self._ranked(self._direct(Z, values, symbols, self.accept, False), Z, values)

    @property
    def on_data(self) -> bool:
        """Whether the problem being solved holds real data (not a surrogate's values or estimates)."""
        return self._on_surrogate == 0

    def verified(self, c: Candidate) -> bool:
        return c.verified

    def _ranked(self, cands: list[Candidate], X: np.ndarray, y: np.ndarray) -> list[Candidate]:
        """Verified first, then by score; errors below the candidate's noise level do not count, nor, on real
        data, errors below the data's own floor (:func:`data_floor`). On surrogate values a formula that fits
        better than the surrogate's noise only fits the surrogate's own errors, so there the noise level stands.
        On noisy real data (X (n, k), y (n,)) the shared noise is taken off and excesses within it tie
        (:func:`noisy_ranking`)."""
        if self._on_surrogate:
            return sorted(cands, key=lambda c: (not c.verified, c.score(self.weight, c.accept)))
        level = min((c.accept for c in cands), default=self.accept)  # the problem's noise level
        offset, floor = noisy_ranking([c.nmse for c in cands], level, independent_rows(X, y))
        return sorted(cands, key=lambda c: (not c.verified, c.score(self.weight, floor, offset)))

    def best_on_data(self, found: list[Candidate], X: np.ndarray, y: np.ndarray) -> Candidate:
        """The best-scoring of alternatives fitted to the same data (X (n, k), y (n,)), errors within the data's
        floor counting equal (on noisy real data: excesses over the shared noise within its resolution,
        :func:`noisy_ranking`)."""
        if self._on_surrogate:
            floor = data_floor(found)
            return min(found, key=lambda c: c.score(self.weight, floor))
        offset, floor = noisy_ranking([c.nmse for c in found], self.accept, independent_rows(X, y))
        return min(found, key=lambda c: c.score(self.weight, floor, offset))

    # ------------------------------------------------------------------------------------------------ direct forms
    def _direct(self, X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], accept: float,
                transforms: bool = True) -> list[Candidate]:
        """Power law and leaf searches on y (and, with ``transforms``, on its transforms) for X (n, k), y (n,)."""
        out = []
        law = fit_power_law(X, y, symbols)
        if law is not None and math.isfinite(law.nmse):
            out.append(Candidate(law.expr, law.nmse, "power law", {"kind": "power law", "expr": str(law.expr)},
                                 accept))
        if X.shape[1] > 2:
            return out
        ts = [TargetTransform(), *(other_transforms(y) if transforms else [])]  # y itself first
        # On a surrogate's values a verified leaf ends the search. On real data a leaf verified against the
        # network's error may still be a mimic of a law that another transform fits exactly (√((1 + β)/(1 − β)) is
        # a pole in y², and a logarithm mimics it on y within the network's error), so there every transform is
        # searched unless a leaf is already exact.
        finished = settled if not self._on_surrogate else done
        if self.pmap is not None:  # the searches on y itself first, then the other transforms at once, in order
            k = next((i for i, t in enumerate(ts) if t.name != "y"), len(ts))
            for t in ts[:k]:
                if out and expired(self.deadline):
                    return out
                out += leaf_candidates(self._leaf_job(X, y, symbols, t, accept))
            if k == len(ts) or finished(out) or (out and expired(self.deadline)):
                return out
            for found in self.pmap(leaf_candidates, [self._leaf_job(X, y, symbols, t, accept) for t in ts[k:]]):
                if finished(out):
                    break
                out += found
            return out
        for t in ts:
            if (finished(out) and t.name != "y") or (out and expired(self.deadline)):
                break
            out += leaf_candidates(self._leaf_job(X, y, symbols, t, accept))
        return out

    def _leaf_job(self, X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], t: TargetTransform,
                  accept: float) -> LeafJob:
        """The leaf search on t(y) as data (:func:`.branches.leaf_candidates`), with a share of the time left."""
        seconds = LEAF_SHARE * remaining(self.deadline) if self.deadline is not None else None
        return LeafJob(X, y, tuple(symbols), t, accept, seconds, self.weight, self.leaf_results,
                       real=not self._on_surrogate)

    # ------------------------------------------------------------------------------------------------ separability
    def _test_points(self, X: np.ndarray) -> torch.Tensor:
        rows = self.rng.choice(X.shape[0], size=min(TEST_ROWS, X.shape[0]), replace=False)
        return torch.as_tensor(X[np.sort(rows)], dtype=torch.float64)

    def _separable(self, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol], f: Surrogate,
                   depth: int, base_noise: float) -> list[Candidate]:
        Xs = self._test_points(X)
        out: list[Candidate] = []
        for t, ft, noise in transformed_surrogates(y, f, Xs, base_noise):
            if expired(self.deadline):
                break
            groups, decs = separability.additive_groups(ft, Xs, noise, log=self.decisions)
            kinds = [("sum", groups, decs)]
            if t.name == "y":
                mgroups, mdecs = separability.multiplicative_groups(f, Xs, base_noise, log=self.decisions)
                kinds.append(("product", mgroups, mdecs))
            for kind, gs, pair_decs in kinds:
                if len(gs) < 2:
                    continue
                # the finest split first; when the data refute it, once more with its least certain pair merged
                split: list[tuple[int, ...]] | None = gs
                while split is not None and not (split is not gs and expired(self.deadline)):
                    self.log(f"{'  ' * depth}{kind} of {[[str(symbols[i]) for i in g] for g in split]}"
                             + (f" under {t.name}" if t.name != "y" else "")
                             + (" (least certain pair merged)" if split is not gs else ""))
                    cand = self._split(kind, split, t, ft, X, y, symbols, depth, split_statistic(split, pair_decs),
                                       noise)
                    if cand is not None:
                        out.append(cand)
                        if cand.nmse <= noise_level(base_noise, y):
                            return out
                    explained = cand is not None and cand.nmse <= max(self.accept, noise_level(base_noise, y))
                    split = merged(gs, pair_decs) if split is gs and not explained else None
        return out

    def _split(self, kind: str, groups: list[tuple[int, ...]], t: TargetTransform, ft: Surrogate, X: np.ndarray,
               y: np.ndarray, symbols: list[sympy.Symbol], depth: int, statistic: float,
               noise: float) -> Candidate | None:
        """Solve each group on the surrogate restricted to it; assemble t(y) = Σ a·g (sum) or C·Π g (product); map
        back through t's inverse and refit every constant on the real data."""
        d = X.shape[1]
        ref = reference(X, ft) if kind == "product" else np.median(X, axis=0)
        options: list[list[Candidate]] = []
        for g in groups:
            sub = self.solve_surrogate(X[:, list(g)], restricted(ft, d, g, ref), [symbols[i] for i in g], depth,
                                       noise)
            if not sub:
                return None
            options.append([replace(c, tree=c.tree | {"variables": [str(symbols[i]) for i in g], "nmse": c.nmse})
                            for c in distinct(sub)[:ALTERNATIVES]])
        for p, g in enumerate(groups):
            if len(g) <= 2 and not expired(self.deadline):
                options[p] += self._peeled(kind, p, groups, options, X, t.forward(y), symbols)
        how = f"{kind} of {len(groups)} parts" + (f" of {t.name}" if t.name != "y" else "")
        # The parts were chosen on the surrogate, where a mimic can tie with the law within the surrogate's noise.
        # Assemble the first choices, then each runner-up of one part in turn, and let the real data decide.
        picks = [[0] * len(options)] + [[k if q == p else 0 for q in range(len(options))]
                                         for p in range(len(options)) for k in range(1, len(options[p]))]
        found: list[Candidate] = []
        for pick in picks:
            if found and expired(self.deadline):
                break
            chosen = [options[p][k] for p, k in enumerate(pick)]
            inner = combine(kind, [c.expr for c in chosen], symbols, X, t.forward(y))
            if inner is None:
                continue
            polished, nmse = polish(t.sympy_inverse(inner), symbols, X, y)
            found.append(Candidate(polished, nmse, how, {"kind": kind, "transform": t.name, "statistic": statistic,
                                                         "parts": [c.tree for c in chosen]}))
        return self.best_on_data(found, X, y) if found else None

    def _peeled(self, kind: str, p: int, groups: list[tuple[int, ...]], options: list[list[Candidate]],
                X: np.ndarray, target: np.ndarray, symbols: list[sympy.Symbol]) -> list[Candidate]:
        """Part ``p`` solved again on the real data, the other parts (their first choices) peeled off: the target
        divided by their product, or minus their sum. When the other parts are exact, these data are as clean as
        the user's, so a law that the surrogate's noise hid can win here."""
        with np.errstate(all="ignore"):
            others = [to_numpy(options[q][0].expr, symbols)(X) for q in range(len(groups)) if q != p]
            rest = np.prod(others, axis=0) if kind == "product" else np.sum(others, axis=0)
            r = target / rest if kind == "product" else target - rest
        if not (np.all(np.isfinite(r)) and np.var(r) > 0):
            return []
        g = groups[p]
        Xg = X[:, list(g)]
        out = self._direct(Xg, r, [symbols[i] for i in g], self.accept)
        names = {"variables": [str(symbols[i]) for i in g], "peeled": True}
        return [replace(c, tree=c.tree | names | {"nmse": c.nmse}) for c in self._ranked(out, Xg, r)[:ALTERNATIVES]]

    def _affine(self, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol], f: Surrogate, depth: int,
                noise: float) -> list[Candidate]:
        return affine_split(self, X, y, symbols, f, depth, noise, self._test_points(X))

    def _symmetric(self, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol], f: Surrogate, depth: int,
                   noise: float) -> list[Candidate]:
        return symmetric_split(self, X, y, symbols, f, depth, noise, self._test_points(X))
