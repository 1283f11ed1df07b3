"""Affine dependence on one variable: f(x) = a(r) + b(r)·h(x_i), with r the other variables.

Laws such as x' = (x − u·t)/√(1 − u²/c²), the centre of mass (m₁r₁ + m₂r₂)/(m₁ + m₂) or I₁ + I₂ + 2√(I₁I₂)·cos δ
are neither sums nor products of functions of fewer variables, but each is affine in a function of one variable
(x, r₁, cos δ) with coefficients that depend on the others. Sums (b constant) and products (a = 0) are the special
cases that :mod:`.separability` already splits.

**Test, from values** (like the swap tests): for two rows r, r' of the other variables and three values s₀, s₁, s₂ of
x_i, write Δ_k(r) = f(s_k, r) − f(s₀, r). If f is affine in h(x_i), Δ_k(r) = b(r)·(h(s_k) − h(s₀)), so

    D = Δ₂(r)·Δ₁(r') − Δ₂(r')·Δ₁(r) = 0.

The statistic is RMS(D) over random (r, r', s) draws divided by RMS(|Δ₂(r)·Δ₁(r')| + |Δ₂(r')·Δ₁(r)|): 0 for an
affine dependence, O(0.1–1) otherwise. Each value is off by about ``noise``, so D is off by about
``noise·√(2·Σ Δ²)`` to first order; the threshold is ``BASE + SIGMAS`` noise levels, as for the swap tests.

**Split.** h comes from f along x_i with the others at their reference row (a 1-variable sub-problem, solved up to
an affine map; its additive constant is dropped, since a + b·(h + k) = (a + k·b) + b·h would mix b into a). With
two values s₀, s₁ of x_i (the 10th and 90th percentiles) and the solved H:
b(r) = (f(s₁, r) − f(s₀, r)) / (H(s₁) − H(s₀)) and a(r) = f(s₀, r) − b(r)·H(s₀), two sub-problems in the other
variables, solved by the same engine. The assembly a + b·H has its constants refitted on the real data.

Test and split also run on the transforms of y that the separability tests use (y², 1/y, log|y|, √y): the distance
√(x₁² + x₂² − 2x₁x₂·cos θ) is affine in cos θ once squared. The assembly is then mapped back before the refit.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import sympy
import torch

from kansci.budget import expired
from kansci.discover.affine_data import VaryingFit, coefficients_on_data, h_on_data, rank_one_fit, varying_fit
from kansci.discover.candidates import (
    ALTERNATIVES,
    Candidate,
    combine,
    data_floor,
    distinct,
    noise_level,
    transformed_surrogates,
)
from kansci.discover.separability import BASE, SIGMAS
from kansci.discover.structure import Decision
from kansci.discover.surrogate import Surrogate, restricted
from kansci.discover.transforms import TargetTransform
from kansci.expr.evaluate import to_numpy
from kansci.symbolic.formula import polish

__all__ = ["affine_statistic", "affine_split"]


@torch.no_grad()
def affine_statistic(f: Surrogate, X: torch.Tensor, i: int, noise: float, n_draws: int = 400,
                     seed: int = 0) -> Decision:
    """Is f affine in some h(x_i)? X (n, d) sample rows; ``noise`` the RMS error of one value of f."""
    X = torch.as_tensor(X, dtype=torch.float64)
    n, d = X.shape
    gen = np.random.default_rng(seed)
    r, r2 = (torch.as_tensor(gen.integers(0, n, n_draws)) for _ in range(2))
    # s₀, s₁, s₂ from the low, middle and high thirds of x_i: spread values show curvature best
    third = torch.sort(X[:, i]).values[torch.as_tensor(gen.integers(0, max(n // 3, 1), (3, n_draws)))
                                       + torch.as_tensor([[0], [n // 3], [2 * n // 3]])]
    batches = []
    for rows in (r, r2):
        for k in range(3):
            z = X[rows].clone()
            z[:, i] = third[k]
            batches.append(z)
    v = f(torch.cat(batches)).double().reshape(6, n_draws)  # f(s_k, r) for k = 0..2, then f(s_k, r')
    d1, d2 = v[1] - v[0], v[2] - v[0]
    e1, e2 = v[4] - v[3], v[5] - v[3]
    D = d2 * e1 - e2 * d1
    size = (d2 * e1).abs() + (e2 * d1).abs()
    fin = torch.isfinite(D) & torch.isfinite(size)
    name = "affine_in_one"
    if not bool(fin.any()):
        return Decision(name, (int(i),), math.inf, BASE, False, "f is not finite on the test rows")
    scale = float(torch.sqrt(torch.mean(size[fin] ** 2)))
    if scale <= 0.0:
        return Decision(name, (int(i),), 0.0, BASE, False, "f does not change with this variable")
    stat = float(torch.sqrt(torch.mean(D[fin] ** 2))) / scale
    # first-order error of D: each Δ carries 2 value errors; D = Δ₂e₁ − e₂Δ₁
    d_noise = noise * float(torch.sqrt(torch.mean(2.0 * (d1**2 + d2**2 + e1**2 + e2**2)[fin])))
    threshold = BASE + SIGMAS * d_noise / scale
    return Decision(name, (int(i),), stat, threshold, bool(stat <= threshold), "f = a(rest) + b(rest)·h(x_i)")


def affine_split(engine: Any, X: np.ndarray, y: np.ndarray, symbols: list[sympy.Symbol], f: Surrogate,
                 depth: int, noise: float, Xs: torch.Tensor) -> list[Candidate]:
    """Candidates from the variables whose test passes on y or on a transform of it (y², 1/y, log|y|, √y, as for
    the separability tests): on each, at most the two smallest statistics are split; stops at the first candidate
    that explains y within its noise. ``engine`` is the :class:`~kansci.discover.engine.Engine` solving the problem
    (typed loosely: the engine imports this module); its ``solve_surrogate`` solves the sub-problems."""
    out: list[Candidate] = []
    for t, ft, t_noise in transformed_surrogates(y, f, Xs, noise):
        if expired(engine.deadline):
            break
        decisions = [affine_statistic(ft, Xs, i, t_noise, seed=int(engine.rng.integers(1 << 31)))
                     for i in range(X.shape[1])]
        engine.decisions.record(*decisions)
        for dec in sorted((dec for dec in decisions if dec.passed), key=lambda dec: dec.statistic)[:2]:
            if expired(engine.deadline):
                break
            i = dec.variables[0]
            engine.log(f"{'  ' * depth}affine in a function of {symbols[i]}"
                       + (f" under {t.name}" if t.name != "y" else ""))
            cand = _solve_affine(engine, X, y, t, symbols, ft, depth, t_noise, i, dec.statistic)
            if cand is not None:
                out.append(cand)
                if cand.nmse <= max(engine.accept, noise_level(noise, y)):  # explains y to its noise: done
                    return out
    return out


def _h_of(expr: sympy.Expr) -> sympy.Expr:
    """h without its additive constant: a + b·(h + k) is (a + k·b) + b·h, so a constant in h would mix b into a."""
    offset, rest_h = expr.as_coeff_Add()
    return rest_h if rest_h != 0 and offset.is_Number else expr


def _h_from_data(engine: Any, r: np.ndarray, x: np.ndarray, target: np.ndarray, h_cands: list[Candidate],
                 sym: sympy.Symbol, depth: int) -> list[Candidate]:
    """Candidates for h read off the data by the rank-one fit a(r) + b(r)·h(x) (r, x, target (n,)), started from x
    itself and from the surrogate's best h; [] when neither start fits the data within the engine's accept level."""
    starts: list[np.ndarray | None] = [None]
    if h_cands:
        with np.errstate(all="ignore"):
            starts.append(to_numpy(h_cands[0].expr, [sym])(x[:, None]))
    fits = [fit for s in starts if (fit := rank_one_fit(r, x, target, s)) is not None]
    if not fits:
        return []
    best = min(fits, key=lambda fit: fit.nmse)
    if best.nmse > engine.accept:
        return []
    return h_on_data(engine, best, sym, depth)


def _solve_affine(engine: Any, X: np.ndarray, y: np.ndarray, t: TargetTransform, symbols: list[sympy.Symbol],
                  f: Surrogate, depth: int, noise: float, i: int, statistic: float) -> Candidate | None:
    """t(y) = a + b·h(x_i) with f the surrogate of t(y): h, then b and a on the surrogate; assembled, mapped back
    through t's inverse and refitted on y."""
    d = X.shape[1]
    target = t.forward(y)
    rest = [k for k in range(d) if k != i]
    ref = np.median(X, axis=0)
    along = restricted(f, d, [i], ref)  # f along x_i, the other variables at their medians
    h_cands = distinct(engine.solve_surrogate(X[:, [i]], along, [symbols[i]], depth, noise))[:ALTERNATIVES]
    tried: list[tuple[Candidate, VaryingFit | None]] = [(hc, None) for hc in h_cands]
    if len(rest) == 1 and engine.on_data:  # the data themselves can test a + b·h and give h, a and b (affine_data)
        h_cands = _h_from_data(engine, X[:, rest[0]], X[:, i], target, h_cands, symbols[i], depth) + h_cands
        fitted = [(hc, varying_fit(X[:, rest[0]], to_numpy(_h_of(hc.expr), [symbols[i]])(X[:, [i]]), target))
                  for hc in distinct(h_cands)]
        fitted = [(hc, fit) for hc, fit in fitted if fit is not None]
        # best first; fits within the data's floor tie (an exact h and its mimic asin(ε·x)/ε differ by rounding)
        floor = data_floor([replace(hc, nmse=fit.nmse) for hc, fit in fitted])
        tried = sorted(fitted, key=lambda p: (max(p[1].nmse, floor), p[0].complexity))
        if not tried or tried[0][1].nmse > max(engine.accept, noise_level(noise, target)):
            engine.log(f"{'  ' * depth}  the data are not a(r) + b(r)·h({symbols[i]}) for any h found")
            return None
    s0, s1 = np.quantile(X[:, i], [0.1, 0.9])
    found: list[Candidate] = []
    for hc, fit in tried:
        if found and (expired(engine.deadline) or min(c.nmse for c in found) <= engine.accept):
            break
        h_expr = _h_of(hc.expr)
        H = to_numpy(h_expr, [symbols[i]])
        with np.errstate(all="ignore"):
            h0, h1 = (float(H(np.array([[v]]))[0]) for v in (s0, s1))
        if not (math.isfinite(h0) and math.isfinite(h1) and abs(h1 - h0) > 0):
            continue

        def at(value: float) -> Surrogate:
            def g(Z: torch.Tensor) -> torch.Tensor:
                full = torch.empty(Z.shape[0], d, dtype=Z.dtype, device=Z.device)
                full[:, rest] = Z
                full[:, i] = value
                return f(full)
            return g

        f0, f1 = at(float(s0)), at(float(s1))

        def b_fn(Z: torch.Tensor, f0: Surrogate = f0, f1: Surrogate = f1, dh: float = h1 - h0) -> torch.Tensor:
            return (f1(Z) - f0(Z)) / dh

        def a_fn(Z: torch.Tensor, f0: Surrogate = f0, b_fn: Surrogate = b_fn, h0: float = h0) -> torch.Tensor:
            return f0(Z) - b_fn(Z) * h0

        Z, syms = X[:, rest], [symbols[k] for k in rest]
        on_data = coefficients_on_data(engine, fit, syms, depth) if fit is not None else ([], [])
        bs = on_data[1] + distinct(engine.solve_surrogate(Z, b_fn, syms, depth, noise))[:ALTERNATIVES]
        as_ = on_data[0] + distinct(engine.solve_surrogate(Z, a_fn, syms, depth, noise))[:ALTERNATIVES] if bs else []
        if not (bs and as_):
            continue
        tree = {"kind": "affine", "transform": t.name, "variable": str(symbols[i]), "statistic": statistic}
        for ac, bc in [(as_[0], bs[0]), *((a, bs[0]) for a in as_[1:]), *((as_[0], b) for b in bs[1:])]:
            if found and expired(engine.deadline):
                break
            start = combine("sum", [ac.expr, bc.expr * h_expr], symbols, X, target)  # α·a + β·b·h + γ
            if start is None:
                continue
            polished, nmse = polish(t.sympy_inverse(start), symbols, X, y)
            how = f"affine in h({symbols[i]})" + (f" of {t.name}" if t.name != "y" else "")
            found.append(Candidate(polished, nmse, how,
                                   tree | {"parts": [hc.tree, ac.tree, bc.tree]}))
    return engine.best_on_data(found, X, y) if found else None
