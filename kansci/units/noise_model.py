"""How noisy is each row of a Buckingham-reduced problem? Row weights for fitting Φ where y = P·Φ(π) + noise.

When y carries additive noise of standard deviation σ, the reduced target Φ = y / P carries noise σ / |P|: rows
with a small prefactor are far noisier than rows with a large one (a factor of 10⁵ in variance when P spans 300x).
An unweighted fit of Φ then spends its accuracy on the noisiest rows, and a mimic ties with the law. The remedy is
weighted least squares with weights 1 / Var(Φ_i), which makes the fit of Φ minimize the error of y itself when the
noise is additive in y. Real noise may instead be relative (then Φ's noise does not depend on P), and on exact data
the errors are the network's own, smooth in π; in both cases every row should count the same.

So the variance model is ``Var(Φ_i) = a + b / P_i²`` and its parameters are estimated from the residuals r of a first,
unweighted fit (feasible generalized least squares), from pairs of rows that are nearest neighbours in π (a
difference-based variance estimate): the part of r that is smooth in π (the fit's own error) cancels in r_i − r_j to
first order, so ``E[(r_i − r_j)²] = 2a + b·(1/P_i² + 1/P_j²)``, a linear regression over the pairs (P varies
freely at fixed π). In more than one dimension nearest neighbours are not near enough for a smooth error to
cancel, and a fit's error can correlate with P through where P's rows lie in π; so the rows are weighted only when
the residuals look like noise, uncorrelated between neighbours (rank correlation below three standard errors,
3/√pairs, and below 0.3),
and b is positive at three standard errors (a heteroscedasticity-robust error: the squared differences are heavy-
tailed). Otherwise every weight is 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NoiseModel", "fit_noise_model", "resample_rows", "SIGNIFICANCE", "MAX_ROWS"]

SIGNIFICANCE = 3.0  # standard errors by which b must exceed 0 before the rows are weighted
MAX_ROWS = 2000  # rows used for the nearest-neighbour pairs (a seeded subsample above that)
MAX_RHO = 0.3  # the largest rank correlation of neighbours' residuals that still reads as noise


@dataclass(frozen=True)
class NoiseModel:
    """``Var(Φ_i) = a + b / P_i²`` (a, b in units of Φ²); ``t`` is b over its standard error, ``pairs`` the number
    of neighbour pairs it was read from, ``applied`` whether the rows are weighted."""

    a: float
    b: float
    t: float
    pairs: int
    applied: bool
    rho: float = 0.0  # rank correlation of neighbours' residuals (near 0 for noise, near 1 for a fit's smooth error)

    def weights(self, P: np.ndarray) -> np.ndarray:
        """Row weights 1 / Var(Φ_i) for prefactor values P (n,), scaled to mean 1; all ones when not applied."""
        P = np.asarray(P, dtype=np.float64).reshape(-1)
        if not self.applied:
            return np.ones(P.shape[0])
        w = 1.0 / (self.a + self.b / P**2)
        return w / float(np.mean(w))

    def effective_rows(self, P: np.ndarray) -> float:
        """Kish's effective sample size of the weights: (Σw)² / Σw²."""
        w = self.weights(P)
        return float(np.sum(w) ** 2 / np.sum(w**2))

    def to_dict(self) -> dict[str, Any]:
        return {"model": "Var(phi) = a + b / P^2", "a": self.a, "b": self.b, "t": self.t, "pairs": self.pairs,
                "neighbour_correlation": self.rho, "weighted": self.applied}

    def describe(self) -> str:
        if not self.applied:
            return (f"no noise that grows as 1/P^2 (t = {self.t:.1f}, neighbours' residuals correlated "
                    f"{self.rho:.2f}): every row counts the same")
        return (f"noise of y/P grows as 1/P^2 (b = {self.b:.3g}, t = {self.t:.1f}): rows are weighted by "
                f"1/({self.a:.3g} + b/P^2), so the fit of the groups minimizes the error of the target itself")


def _nearest(S: np.ndarray) -> np.ndarray:
    """Index of each row's nearest other row in S (n, k), in blocks to bound memory."""
    n = S.shape[0]
    out = np.empty(n, dtype=np.int64)
    sq = np.sum(S**2, axis=1)
    for s in range(0, n, 512):
        d = sq[s:s + 512, None] - 2.0 * S[s:s + 512] @ S.T + sq[None, :]
        d[np.arange(d.shape[0]), np.arange(s, s + d.shape[0])] = np.inf
        out[s:s + 512] = np.argmin(d, axis=1)
    return out


def fit_noise_model(Z: np.ndarray, residual: np.ndarray, P: np.ndarray, seed: int = 0) -> NoiseModel:
    """The variance model of Φ from a first fit's residuals (n,) at group values Z (n, k) and prefactors P (n,)."""
    Z = np.asarray(Z, dtype=np.float64)
    r = np.asarray(residual, dtype=np.float64).reshape(-1)
    P = np.asarray(P, dtype=np.float64).reshape(-1)
    assert Z.ndim == 2 and Z.shape[0] == r.shape[0] == P.shape[0], (Z.shape, r.shape, P.shape)
    ok = np.all(np.isfinite(Z), axis=1) & np.isfinite(r) & np.isfinite(P) & (P != 0)
    Z, r, P = Z[ok], r[ok], P[ok]
    if Z.shape[0] > MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(Z.shape[0], MAX_ROWS, replace=False))
        Z, r, P = Z[rows], r[rows], P[rows]
    n = Z.shape[0]
    if n < 10:
        return NoiseModel(float(np.mean(r**2)) if n else 0.0, 0.0, 0.0, 0, False)
    sd = Z.std(axis=0)
    S = (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    j = _nearest(S)
    i = np.arange(n)
    pairs = np.unique(np.sort(np.stack([i, j], axis=1), axis=1), axis=0)  # (i, j) and (j, i) once
    u = 1.0 / P**2
    scale = float(np.mean(u))
    un = u / scale
    i, j = pairs[:, 0], pairs[:, 1]
    d2 = (r[i] - r[j]) ** 2  # E = 2a + b·(1/P_i² + 1/P_j²): the smooth error of the fit cancels in r_i − r_j
    A = np.stack([np.full(i.shape[0], 2.0), un[i] + un[j]], axis=1)
    m = pairs.shape[0]
    gram = A.T @ A
    if m < 3 or np.linalg.cond(gram) > 1e12:
        return NoiseModel(float(np.mean(r**2)), 0.0, 0.0, int(m), False)
    (an, bn), *_ = np.linalg.lstsq(A, d2, rcond=None)
    e = d2 - A @ np.array([an, bn])
    # heteroscedasticity-robust (HC0) standard error: d2 is heavy-tailed and 1/P² gives a few pairs great leverage
    bread = np.linalg.inv(gram)
    meat = (A * (e**2)[:, None]).T @ A
    se = math.sqrt(max(float((bread @ meat @ bread)[1, 1]), 0.0))
    t = float(bn) / se if se > 0 else (math.inf if bn > 0 else 0.0)
    b = max(float(bn), 0.0) / scale
    a = max(float(an), 0.0)
    rank = np.argsort(np.argsort(r)).astype(np.float64)  # Spearman: the noise's spread varies by orders of magnitude
    rho = float(np.corrcoef(rank[i], rank[j])[0, 1]) if np.ptp(r) > 0 else 1.0
    # neighbours' residuals uncorrelated (noise, not the fit's error): below three standard errors, and below
    # MAX_RHO in any case (on a few pairs three standard errors allow a strong correlation)
    noise_like = rho * math.sqrt(m) < SIGNIFICANCE and rho < MAX_RHO
    applied = bool(bn > 0 and t >= SIGNIFICANCE and noise_like and (a > 0 or b > 0))
    return NoiseModel(a, b, float(t), int(m), applied, rho)


def resample_rows(rows: np.ndarray, weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """``len(rows)`` draws from ``rows`` (n,) with probabilities ∝ ``weights`` (n,), by systematic resampling with a
    seeded offset; sorted. An unweighted least-squares fit on the drawn rows is a weighted fit on the originals."""
    rows = np.asarray(rows)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    assert rows.shape[0] == w.shape[0] and np.all(w >= 0) and w.sum() > 0, (rows.shape, w.shape)
    n = rows.shape[0]
    edges = np.cumsum(w) / w.sum()
    points = (np.random.default_rng(seed).random() + np.arange(n)) / n
    picks = np.minimum(np.searchsorted(edges, points, side="right"), n - 1)
    return np.sort(rows[picks])
