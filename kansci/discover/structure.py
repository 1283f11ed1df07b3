"""Structure tests on a differentiable surrogate by autograd: symmetry and single-combination shape, plus the
:class:`Decision` record every structure test (here and in :mod:`kansci.discover.separability`) returns.

Separability (sums and products of functions of fewer variables) is tested from values, not derivatives, in
:mod:`kansci.discover.separability`.

The surrogate is any callable ``f(X) -> y`` taking a float64 tensor (n, d) and returning (n,), differentiable by torch
autograd and row-wise (row k of the output depends on row k of the input only). Every test turns a structural claim
into an identity between derivatives, measures how far the surrogate is from it with a dimensionless statistic and
compares that with an explicit tolerance ``tol``. The statistics are built so that an exact structure gives ~0
(round-off) and a clearly different one gives O(0.1-1); :func:`calibrated_tolerance` turns the surrogate's own
validation error into the tolerance, because an imperfect surrogate bends its derivatives in proportion to its error.

Notation: ``g_i = ∂f/∂x_i`` at each sample, ``σ_i`` the standard deviation of column i of X, ``RMS`` the root mean
square over the samples, and ``e_i = RMS(g_i)·σ_i`` the "effect" of x_i (units of f).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

Surrogate = Callable[[torch.Tensor], torch.Tensor]
# Numerical-zero guard for ratios of effects, relative to the largest effect (not a tolerance: it only avoids 0/0).
_TINY = 1e-12


@dataclass(frozen=True)
class Decision:
    """One structure test: what was tested (``test``, ``variables``), the measured ``statistic``, the ``threshold``
    it was compared with, the verdict (``passed`` = statistic <= threshold) and a human-readable ``detail``."""

    test: str
    variables: tuple
    statistic: float
    threshold: float
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists, NaN/inf become None)."""
        def plain(v: Any) -> Any:
            return [plain(u) for u in v] if isinstance(v, (tuple, list)) else v

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"test": self.test, "variables": plain(self.variables), "statistic": num(self.statistic),
                "threshold": num(self.threshold), "passed": bool(self.passed), "detail": self.detail}


@dataclass
class DecisionLog:
    """Every decision taken, in order, so a discovery run can explain why it chose a structure."""

    decisions: list[Decision] = field(default_factory=list)

    def record(self, *decisions: Decision) -> None:
        self.decisions.extend(decisions)

    def to_json(self) -> list[dict[str, Any]]:
        return [d.to_json() for d in self.decisions]


def calibrated_tolerance(val_nmse: float, base: float = 0.05, slope: float = 5.0, cap: float = 1.0) -> float:
    """Statistic threshold for a surrogate whose normalized MSE on held-out rows is ``val_nmse``.

    Rule: ``tol = min(cap, base + slope * sqrt(val_nmse))``. ``sqrt(val_nmse)`` is the surrogate's relative RMS error;
    a smooth error of relative size r that varies on the scale of the data moves the derivative statistics here by
    O(r) to a few r (each derivative multiplies it by the error's frequency in units of the data spread), hence the
    slope: 1% surrogate error (val_nmse = 1e-4) gives tol = 0.10. ``base`` absorbs the approximation error of an
    excellent surrogate; ``cap`` keeps a very poor surrogate from accepting everything."""
    return float(min(cap, base + slope * math.sqrt(max(float(val_nmse), 0.0))))


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.square().mean(0).sqrt() if t.shape[0] else torch.zeros(t.shape[1:], dtype=t.dtype)


def _sigma(X: torch.Tensor) -> torch.Tensor:
    return X.std(0, unbiased=False) if X.shape[0] > 1 else torch.zeros(X.shape[1], dtype=X.dtype)


def _record(log: DecisionLog | None, decs: list[Decision]) -> list[Decision]:
    if log is not None:
        log.record(*decs)
    return decs


def _grad_or_zeros(out: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """d(sum out)/dx, or zeros when out does not depend on x at all (constant or linear pieces)."""
    if not out.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph, retain_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _call(f: Surrogate, x: torch.Tensor) -> torch.Tensor:
    y = f(x)
    if y.numel() != x.shape[0]:
        raise ValueError(f"surrogate returned {tuple(y.shape)} for input {tuple(x.shape)}; expected ({x.shape[0]},)")
    return y.reshape(-1)


def derivatives(f: Surrogate, X: torch.Tensor, hess_rows: Sequence[int] = (), batch_size: int = 512
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Values (n,), gradients (n, d) and the Hessian rows ``hess_rows`` (n, len(hess_rows), d) of f at X, in batches
    of ``batch_size`` rows so memory stays bounded. Rows of X are independent, so d(sum_k g_i[k])/dX is H_i. per row."""
    X = torch.as_tensor(X, dtype=torch.float64)
    vals, grads, hess = [], [], []
    for s in range(0, X.shape[0], batch_size):
        xb = X[s:s + batch_size].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            y = _call(f, xb)
            g = _grad_or_zeros(y, xb, create_graph=bool(hess_rows))
            h = [_grad_or_zeros(g[:, r], xb, create_graph=False) for r in hess_rows]
        vals.append(y.detach())
        grads.append(g.detach())
        hess.append(torch.stack(h, 1).detach() if h else xb.new_zeros(xb.shape[0], 0, xb.shape[1]))
    return torch.cat(vals), torch.cat(grads), torch.cat(hess)


def _finite_rows(*ts: torch.Tensor) -> torch.Tensor:
    ok = torch.ones(ts[0].shape[0], dtype=torch.bool)
    for t in ts:
        ok &= torch.isfinite(t.reshape(t.shape[0], -1)).all(1)
    return ok


# u(x_i, x_j) and the direction of its gradient (∂u/∂x_i, ∂u/∂x_j), up to a positive per-sample factor.
_COMBINATIONS: dict[str, tuple[str, Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]]] = {
    "sum": ("x_i + x_j", lambda a, b: (torch.ones_like(a), torch.ones_like(b))),
    "difference": ("x_i - x_j", lambda a, b: (torch.ones_like(a), -torch.ones_like(b))),
    "product": ("x_i * x_j", lambda a, b: (b, a)),
    "ratio": ("x_i / x_j", lambda a, b: (b, -a)),  # (1/x_j, -x_i/x_j²) times x_j²
}


def symmetry(f: Surrogate, X: torch.Tensor, i: int, j: int, tol: float,
             combinations: Sequence[str] = ("sum", "difference", "product", "ratio"), batch_size: int = 512,
             log: DecisionLog | None = None) -> list[Decision]:
    """Does f depend on (x_i, x_j) only through u(x_i, x_j)? One Decision per candidate u, best (lowest) first.

    f = F(u, rest) iff (g_i, g_j) is parallel to ∇u. Statistic: the gradient-weighted RMS sine of the angle between
    them in standardized coordinates (x/σ), ``sqrt(Σ (ĝ_i·â_j − ĝ_j·â_i)² / Σ (ĝ_i² + ĝ_j²))`` with ĝ = σ·g and
    â = σ·∇u / |σ·∇u|: in [0, 1], 0 for an exact symmetry.
    X (n, d) must be in the coordinates where u is meant (product and ratio need the original, unnormalized units)."""
    X = torch.as_tensor(X, dtype=torch.float64)
    v, g, _ = derivatives(f, X, (), batch_size)
    sigma = _sigma(X)
    g = g * sigma  # derivatives in standardized coordinates, so the statistic is invariant to rescaling inputs
    out = []
    for name in combinations:
        text, grad_u = _COMBINATIONS[name]
        ai, aj = grad_u(X[:, i], X[:, j])
        ai, aj = ai * sigma[i], aj * sigma[j]
        norm = torch.sqrt(ai * ai + aj * aj)
        ok = (norm > 0) & _finite_rows(v, g[:, [i, j]])
        gi, gj, ai, aj, norm = g[ok, i], g[ok, j], ai[ok], aj[ok], norm[ok]
        cross = (gi * aj - gj * ai) / norm
        den = float((gi * gi + gj * gj).sum())
        stat = math.sqrt(float((cross * cross).sum()) / den) if den > 0 else 0.0
        detail = f"u = {text}" + ("; f does not depend on x_i, x_j" if den <= 0 else "")
        out.append(Decision(f"symmetry_{name}", (int(i), int(j)), stat, tol, bool(stat <= tol), detail))
    return _record(log, sorted(out, key=lambda dec: dec.statistic))


def _ratio_derivatives(f: Surrogate, xb: torch.Tensor, r: int, j: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                               torch.Tensor]:
    """For R = log|g_r| − log|g_j|: gradients (b, 2) of f in (r, j), ∇R (b, d) and ∂_r∂_j R (b,)."""
    with torch.enable_grad():
        g = _grad_or_zeros(_call(f, xb), xb, create_graph=True)
        R = torch.log(g[:, r].abs().clamp_min(1e-300)) - torch.log(g[:, j].abs().clamp_min(1e-300))
        dR = _grad_or_zeros(R, xb, create_graph=True)
        m = _grad_or_zeros(dR[:, j], xb, create_graph=False)[:, r]
    return g[:, [r, j]].detach(), dR.detach(), m.detach()


def single_combination(f: Surrogate, X: torch.Tensor, tol: float, near_zero: float = 0.01,
                       max_bad_fraction: float = 0.5, batch_size: int = 512, log: DecisionLog | None = None
                       ) -> Decision:
    """Is f = G(φ_1(x_1) + … + φ_d(x_d)) (a [d,1,1] KAN)? X: (n, d).

    Then g_i/g_j = φ_i'(x_i)/φ_j'(x_j), so R_ij = log|g_i| − log|g_j| is a function of x_i plus one of x_j. The test
    pairs every relevant variable j with the reference r (largest effect; the other pairs follow by subtraction) and
    measures ``max(RMSw(∂_r∂_j R)·σ_r·σ_j, max_k RMSw(∂_k R)·σ_k)`` (k ∉ {r, j}; third derivatives of f):
    dimensionless, 0 for the exact shape. RMSw weights each row by ``(min(1, |g_r|/RMS g_r)·min(1, |g_j|/RMS g_j))⁴``
    because R's derivatives blow up like 1/g² near stationary points, where a surrogate's error dominates; rows with
    a relative gradient below ``near_zero`` are dropped, and the test fails when that is more than
    ``max_bad_fraction`` of them. Variables with no effect at all (φ_j constant) are skipped."""
    X = torch.as_tensor(X, dtype=torch.float64)
    n, d = X.shape
    v0, g0, _ = derivatives(f, X, (), batch_size)
    sigma = _sigma(X)
    e = _rms(g0[_finite_rows(v0, g0)]) * sigma
    relevant = [k for k in range(d) if float(e[k]) > _TINY * float(e.max())] if d else []
    if len(relevant) < 2:
        return _record(log, [Decision("single_combination", tuple(range(d)), 0.0, tol, True,
                                      "fewer than two relevant variables")])[0]
    r = max(relevant, key=lambda k: float(e[k]))
    pair_stats: list[tuple[float, tuple[int, int]]] = []
    note = ""
    for j in (k for k in relevant if k != r):
        parts = [_ratio_derivatives(f, X[s:s + batch_size].detach().clone().requires_grad_(True), r, j)
                 for s in range(0, n, batch_size)]
        gp, dR, m = (torch.cat([p[q] for p in parts]) for q in range(3))
        fin = _finite_rows(gp, dR, m)
        rel = gp.abs() / _rms(gp[fin]).clamp_min(1e-300)
        ok = fin & (rel >= near_zero).all(1)
        bad = 1.0 - int(ok.sum()) / max(n, 1)
        if bad > max_bad_fraction:
            pair_stats.append((math.inf, (r, j)))
            note = f"; pair ({r},{j}): near-zero gradients on {bad:.0%} of samples (> {max_bad_fraction:.0%})"
            break
        w = rel[ok].clamp(max=1.0).prod(1) ** 4
        w = w / w.sum().clamp_min(1e-300)
        s_pair = float((w * m[ok].square()).sum().sqrt() * sigma[r] * sigma[j])
        others = [k for k in relevant if k not in (r, j)]
        if others:
            s_pair = max(s_pair, float(((w[:, None] * dR[ok][:, others].square()).sum(0).sqrt() * sigma[others]).max()))
        pair_stats.append((s_pair, (r, j)))
    stat, worst = max(pair_stats)
    skipped = [k for k in range(d) if k not in relevant]
    detail = f"reference x{r}; worst pair {worst}" + (f"; no effect: {skipped}" if skipped else "") + note
    return _record(log, [Decision("single_combination", tuple(range(d)), stat, tol, bool(stat <= tol), detail)])[0]
