"""Separability from values of the surrogate, with a threshold set by the surrogate's own error.

For two rows a, b of the data and two variables i, j, let z = a, z_i = a with x_i taken from b, z_j likewise, z_ij
with both. Then

    additive:        D = f(z) + f(z_ij) − f(z_i) − f(z_j),  0 when f = g(.., x_i, ..) + h(.., x_j, ..)
    multiplicative:  D = log|f(z)| + log|f(z_ij)| − log|f(z_i)| − log|f(z_j)|,  0 when f = g(.., x_i, ..)·h(.., x_j, ..)

Where f changes sign or passes near zero on more than ``MAX_BAD`` of the rows, log|f| is meaningless and the product
form ``D = f(z)·f(z_ij) − f(z_i)·f(z_j)`` is used instead (``q·(E + B·v·sin θ)`` over a range where the bracket
changes sign); its noise is propagated to first order, the four errors in quadrature.

(AI Feynman tests separability the same way, by swapping values). The statistic is ``RMS(D)`` over the row pairs,
divided by the typical change of f when x_i or x_j alone is swapped, so it is dimensionless: 0 for a separable pair,
O(0.1–1) for an inseparable one. Unlike mixed second derivatives, D needs only values, whose error is what the
surrogate's validation error measures: if each value is off by about ``noise`` (RMS), D is off by about
``2·noise``. A pair passes when its statistic is at most ``base + SIGMAS · expected_D_noise / scale``. The finest
split is the connected components of the graph joining the pairs that fail.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from kansci.discover.structure import Decision, DecisionLog

__all__ = ["BASE", "SIGMAS", "additive_groups", "multiplicative_groups", "swap_statistics"]

Surrogate = Callable[[torch.Tensor], torch.Tensor]
BASE = 0.02  # the statistic an exact surrogate may show for a separable pair (curvature of its own fit)
SIGMAS = 3.0  # how many expected noise levels of D still count as zero
NEAR_ZERO = 0.05  # multiplicative test: |f| below this fraction of median |f| makes log|f| unreliable
MAX_BAD = 0.1  # ... and more than this fraction of such rows fails the test


def _components(d: int, linked: list[tuple[int, int]]) -> list[tuple[int, ...]]:
    parent = list(range(d))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in linked:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(d):
        groups.setdefault(root(i), []).append(i)
    return sorted(tuple(g) for g in groups.values())


@torch.no_grad()
def swap_statistics(f: Surrogate, X: torch.Tensor, kind: str, noise: float, n_pairs: int = 400,
                    seed: int = 0) -> list[Decision]:
    """One Decision per variable pair (i < j) for ``kind`` "additive" or "multiplicative". X (n, d) sample rows in
    the surrogate's coordinates; ``noise`` the RMS error of one surrogate value (units of f)."""
    X = torch.as_tensor(X, dtype=torch.float64)
    n, d = X.shape
    gen = np.random.default_rng(seed)
    a = torch.as_tensor(gen.integers(0, n, n_pairs))
    b = torch.as_tensor(gen.integers(0, n, n_pairs))
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    if not pairs:
        return []
    Z = X[a]  # (m, d)
    batches = []
    for i, j in pairs:
        zi, zj, zij = Z.clone(), Z.clone(), Z.clone()
        zi[:, i] = X[b, i]
        zj[:, j] = X[b, j]
        zij[:, i], zij[:, j] = X[b, i], X[b, j]
        batches += [zi, zj, zij]
    values = f(torch.cat([Z, *batches])).double()  # ((1 + 3P) m,)
    m = n_pairs
    f0 = values[:m]
    out = []
    for p, (i, j) in enumerate(pairs):
        fi, fj, fij = (values[m * (1 + 3 * p + k): m * (2 + 3 * p + k)] for k in range(3))
        out.append(_decide(kind, (i, j), f0, fi, fj, fij, noise))
    return out


def _decide(kind: str, pair: tuple[int, int], f0: torch.Tensor, fi: torch.Tensor, fj: torch.Tensor,
            fij: torch.Tensor, noise: float) -> Decision:
    name = f"{kind}_swap"
    if kind == "additive":
        D, di, dj = f0 + fij - fi - fj, fi - f0, fj - f0
        d_noise = 2.0 * noise
        detail = ""
    else:
        vals = torch.stack([f0, fi, fj, fij])
        sign = torch.sign(torch.median(f0))
        scale = float(torch.median(torch.abs(f0)))
        ok = torch.isfinite(vals).all(0) & (vals * sign > NEAR_ZERO * scale).all(0)
        bad = 1.0 - float(ok.double().mean())
        if bad <= MAX_BAD and scale > 0.0:  # log|f| is safe: compare relative changes, row by row
            L = torch.log(torch.abs(vals[:, ok]))
            D, di, dj = L[0] + L[3] - L[1] - L[2], L[1] - L[0], L[2] - L[0]
            d_noise = float(torch.sqrt(torch.mean(noise**2 * (1.0 / vals[:, ok] ** 2).sum(0))))
            detail = f"{bad:.0%} rows near f = 0 skipped" if bad else ""
        else:  # f changes sign or passes near 0: the product form, which needs no logarithm
            D, di, dj = f0 * fij - fi * fj, f0 * (fi - f0), f0 * (fj - f0)
            size = torch.sqrt(f0**2 + fij**2 + fi**2 + fj**2)  # four independent errors add in quadrature
            fin_size = torch.isfinite(size)
            d_noise = noise * float(torch.sqrt(torch.mean(size[fin_size] ** 2))) if bool(fin_size.any()) else math.inf
            detail = f"f changes sign or nears zero on {bad:.0%} of rows: product form f(z)·f(z_ij) = f(z_i)·f(z_j)"
    fin = torch.isfinite(D) & torch.isfinite(di) & torch.isfinite(dj)

    def rms(t: torch.Tensor) -> float:
        return float(torch.sqrt(torch.mean(t[fin] ** 2))) if bool(fin.any()) else 0.0

    scale = rms(di) + rms(dj)
    if scale <= 0.0:
        return Decision(name, pair, 0.0, BASE, True, "f does not change with these variables")
    stat = rms(D) / scale
    threshold = BASE + SIGMAS * d_noise / scale
    return Decision(name, pair, stat, threshold, bool(stat <= threshold), detail)


def _groups(f: Surrogate, X: torch.Tensor, kind: str, noise: float, log: DecisionLog | None,
            seed: int) -> tuple[list[tuple[int, ...]], list[Decision]]:
    decisions = swap_statistics(f, X, kind, noise, seed=seed)
    if log is not None:
        log.record(*decisions)
    d = torch.as_tensor(X).shape[1]
    return _components(d, [dec.variables for dec in decisions if not dec.passed]), decisions


def additive_groups(f: Surrogate, X: torch.Tensor, noise: float, log: DecisionLog | None = None,
                    seed: int = 0) -> tuple[list[tuple[int, ...]], list[Decision]]:
    """The finest split f = Σ g_k(x_{G_k}) that the swap test supports; (groups, pair decisions)."""
    return _groups(f, X, "additive", noise, log, seed)


def multiplicative_groups(f: Surrogate, X: torch.Tensor, noise: float, log: DecisionLog | None = None,
                          seed: int = 0) -> tuple[list[tuple[int, ...]], list[Decision]]:
    """The finest split f = Π g_k(x_{G_k}) that the swap test supports; (groups, pair decisions)."""
    return _groups(f, X, "multiplicative", noise, log, seed)
