"""Fit every edge against every primitive at once: ``phi(x) ≈ c·f(a·x + b) + d``.

Pipeline (all batched over edges; the only Python loops run over primitives, search rounds and edge chunks):

1. **Grid search** of (a, b) on a deterministic subsample of ``search_samples`` points per edge (the sorted samples
   at evenly spaced ranks, so the extremes are always included). For each candidate, ``(c, d)`` is the linear least
   squares solution, so a candidate is scored by the squared correlation of ``f(a·x+b)`` with ``y``. The symmetry of
   ``f`` shrinks the search: ``"none"`` searches a ``grid_size²`` grid over (a, b); ``"scale"`` (powers, log, abs,
   sgn) searches ``a ∈ {-1, +1}`` × ``2·grid_size+1`` values of b; ``"shift"`` (exp) searches ``2·grid_size+1``
   values of a with b = 0; ``"linear"`` and ``"constant"`` are solved exactly with a = 1, b = 0 (and c = 0 for a
   constant).
2. **Zoom** into ± one grid step around each of the ``top_k`` best local maxima of the coarse grid (one round),
   then ``zoom_rounds - 1`` more rounds around the best of them.
3. **Widen**: when the coarse best lies on the boundary of its box, the box is doubled around it on that axis and
   searched again (up to ``widen_rounds`` times). The box is also doubled around its centre when the best squared
   correlation is below ``widen_below`` (an optimum far outside the box need not show at its boundary: sin(20x + 1)
   with a in (-10, 10) peaks inside, at a sidelobe); such poor fits keep widening only while it halves the
   unexplained variance. The best candidate over all rounds is kept.
4. **Polish** on all samples: Levenberg–Marquardt in variable-projection form, i.e. (c, d) are always the closed-form
   least-squares optimum for the current (a, b) and LM moves (a, b) (analytic derivative from sympy, autograd as
   fallback). A step is kept only if it lowers the residual. Parameters made redundant by a symmetry stay fixed.

Limit forms: some primitives reach another's shape in a limit of their parameters (tanh's tail is an exponential,
cos near its peak a parabola, arctanh near 1 a log, anything with a → 0 a line). The polish may follow such a limit
until the R² ties with the true primitive to rounding, with large |b| or |c|; rank ties by complexity.

Validity: a candidate is valid only if the whole interval ``[min(a·x+b), max(a·x+b)]`` over the edge's samples lies
in the primitive's domain (this implies every sample does; an interval that jumps over a pole is also rejected) and
the unguarded ``f`` is finite on every sample. Nothing is clamped to fake a fit. An edge/primitive pair without any
valid candidate gets ``valid=False`` and the constant fit ``(a, b, c, d) = (1, 0, 0, mean(y))`` with R² = 0, so no
NaN appears in any output.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy
import torch

from kansci.errors import FitError, FormulaError
from kansci.expr.evaluate import to_torch
from kansci.symbolic.primitives import Primitive, X

__all__ = ["EdgeFits", "fit_edges"]

_CHUNK = 1 << 22  # max elements of one (edges, candidates, samples) block in the grid search
#: A fit counts only if std(f(a x + b)) >= this fraction of max |f(a x + b)| on the samples (see _result).
MIN_RELATIVE_VARIATION = 1e-3


@dataclass
class EdgeFits:
    """Fits of E edges against P primitives.

    Attributes:
        names: the P primitive names, in library order.
        params: (E, P, 4) fitted ``[a, b, c, d]`` of ``c·f(a·x+b)+d``.
        r2: (E, P) coefficient of determination on all samples (1 - SSE/SST; 1 if SSE = SST = 0, else 0 if SST = 0).
        rmse: (E, P) root mean squared residual.
        complexity: (P,) primitive complexities.
        valid: (E, P) bool; False where no (a, b) keeps every sample inside the primitive's domain.
    """

    names: list[str]
    params: torch.Tensor
    r2: torch.Tensor
    rmse: torch.Tensor
    complexity: torch.Tensor
    valid: torch.Tensor
    mimic: torch.Tensor | None = None  # (E, P) bool: f barely varies on the samples (a Taylor-polynomial stand-in)

    def table(self, e: int) -> list[dict[str, object]]:
        """Rows for edge ``e`` sorted by R² (best first; ties within 1e-12 by complexity), invalid fits last."""
        rows = [
            {"name": n, "a": float(p[0]), "b": float(p[1]), "c": float(p[2]), "d": float(p[3]), "r2": float(r),
             "rmse": float(s), "complexity": int(k), "valid": bool(v), "mimic": bool(m)}
            for n, p, r, s, k, v, m in zip(self.names, self.params[e], self.r2[e], self.rmse[e], self.complexity,
                                           self.valid[e], self._mimic()[e])
        ]
        return sorted(rows, key=lambda r: (not r["valid"], -round(r["r2"], 12), r["complexity"]))

    def _mimic(self) -> torch.Tensor:
        return self.mimic if self.mimic is not None else torch.zeros_like(self.valid)

    def best(self, e: int) -> dict[str, object]:
        """The first row of :meth:`table` (the best valid fit of edge ``e``)."""
        return self.table(e)[0]


def fit_edges(
    x: torch.Tensor,
    y: torch.Tensor,
    library: Mapping[str, Primitive] | Sequence[Primitive],
    *,
    a_range: tuple[float, float] = (-10.0, 10.0),
    b_range: tuple[float, float] = (-10.0, 10.0),
    grid_size: int = 31,
    zoom_rounds: int = 2,
    widen_rounds: int = 3,
    polish_steps: int = 20,
    search_samples: int | None = 64,
    widen_below: float = 0.5,
    top_k: int = 4,
) -> EdgeFits:
    """Fit ``y ≈ c·f(a·x+b)+d`` for every edge (row) and every primitive ``f`` of ``library``.

    Args:
        x, y: (E, N) edge inputs and outputs, one edge per row (floating, finite; any device).
        library: primitives to try (a name→Primitive mapping or a sequence).
        a_range, b_range: initial search box of (a, b); widened when the best lies on its boundary.
        grid_size: points per axis of the 2-D coarse grid (1-D searches use ``2·grid_size+1``).
        zoom_rounds, widen_rounds, polish_steps: see the module docstring.
        search_samples: samples per edge used in the grid search (None = all); the polish uses all samples.
        widen_below: also widen the box when the best squared correlation found is below this (the optimum may
            lie far outside the box without the boundary showing it, e.g. a sine of high frequency).
        top_k: number of local maxima of the coarse grid that are zoomed (the best after zooming wins).

    Returns:
        :class:`EdgeFits` with tensors on ``x``'s device and dtype.
    """
    prims = list(library.values()) if isinstance(library, Mapping) else list(library)
    x, y = _check_inputs(x, y)
    if grid_size < 3 or zoom_rounds < 0 or widen_rounds < 0 or polish_steps < 0 or top_k < 1:
        raise ValueError("grid_size >= 3 and non-negative round/step counts are required")
    E, N = x.shape
    P = len(prims)
    if N == 0:
        raise ValueError("fit_edges needs at least one sample per edge")
    if P == 0:
        empty = x.new_zeros(E, 0)
        return EdgeFits([], x.new_zeros(E, 0, 4), empty, empty, torch.zeros(0, dtype=torch.long, device=x.device),
                        empty.bool())
    # Search and polish on x / max|x| per edge, so the (a, b) box means the same at any input scale (an edge whose
    # inputs span [-2, 2] still finds arcsin(x / 2)); a is mapped back at the end.
    scale = x.abs().amax(-1).clamp_min(torch.finfo(x.dtype).tiny)  # (E,)
    x_orig, x = x, x / scale[:, None]
    ab = torch.zeros(E, P, 2, dtype=x.dtype, device=x.device)
    ab[..., 0] = 1.0
    found = torch.ones(E, P, dtype=torch.bool, device=x.device)
    kinds = [_kind(p) for p in prims]
    if E:
        xs, ys = _subsample(x, y, search_samples)  # (E, Ns)
        for p, (prim, kind) in enumerate(zip(prims, kinds)):
            if kind not in ("linear", "constant"):
                ab[:, p], found[:, p] = _search(prim, kind, xs, ys, a_range, b_range, grid_size, zoom_rounds,
                                                widen_rounds, widen_below, top_k)
    polish = torch.tensor([k not in ("linear", "constant") for k in kinds], device=x.device)
    ab = _polish(prims, kinds, ab, x, y, found & polish, polish_steps)
    # back to original x units: a/s in general; for scale-symmetric primitives keep a = ±1 and move s into b
    # (f(±x/s + b) = α f(±x + b s) + β, and (c, d) are refit below); linear and constant ones stay canonical
    kind_t = torch.tensor([{"scale": 1, "linear": 2, "constant": 2}.get(k, 0) for k in kinds], device=x.device)
    s_col = scale[:, None]
    a_new = torch.where(kind_t == 0, ab[..., 0] / s_col, ab[..., 0])
    b_new = torch.where(kind_t == 1, ab[..., 1] * s_col, ab[..., 1])
    ab = torch.stack([a_new, b_new], -1)
    return _result(prims, kinds, ab, found, x_orig, y)


def _result(prims: Sequence[Primitive], kinds: Sequence[str], ab: torch.Tensor, found: torch.Tensor, x: torch.Tensor,
            y: torch.Tensor) -> EdgeFits:
    """Closed-form (c, d) and metrics for the final (a, b) (E, P, 2) of every pair; invalid pairs get the constant
    fit (a, b, c, d) = (1, 0, 0, mean y), as do constant primitives (exactly)."""
    (E, N), P = x.shape, len(prims)
    pid = torch.arange(P, device=x.device).repeat(E)  # (E*P,) all pairs, edge-major
    cd, sse, ok, f, _, var = _linear_fit(prims, pid, ab.reshape(E * P, 2), x.repeat_interleave(P, 0),
                                         y.repeat_interleave(P, 0))
    # A primitive whose output barely moves relative to its size on the samples (cos near 0, exp of a tiny slope)
    # is only its own Taylor polynomial there: such a "mimic" fit is not a discovery of that primitive.
    affine = torch.tensor([k in ("linear", "constant") for k in kinds], device=x.device).repeat(E)
    moves = torch.sqrt(var / N) >= MIN_RELATIVE_VARIATION * f.abs().amax(-1)
    mimic = (~(moves | affine)).view(E, P)
    cd, sse, ok = cd.view(E, P, 2), sse.view(E, P), ok.view(E, P)
    const = torch.tensor([k == "constant" for k in kinds], device=x.device)
    theta, ok = torch.cat([ab, cd], -1), (ok & found) | const  # (E, P, 4)
    fitted = ok & ~const
    ymean = y.mean(-1)  # (E,)
    ones, zeros = torch.ones_like(ymean), torch.zeros_like(ymean)
    theta = torch.where(fitted[..., None], theta, torch.stack([ones, zeros, zeros, ymean], -1)[:, None, :])
    sst = ((y - ymean[:, None]) ** 2).sum(-1, keepdim=True)  # (E, 1)
    sse = torch.where(fitted, sse, sst)
    # SST at rounding level means constant data: R² = 1 for a fit as exact, 0 otherwise
    tiny = N * (16 * torch.finfo(x.dtype).eps * y.abs().amax(-1, keepdim=True)) ** 2  # (E, 1)
    flat = sst <= tiny
    r2 = torch.where(flat, (sse <= tiny).to(x.dtype), 1 - sse / torch.where(flat, 1.0, sst)).clamp(min=0.0)
    complexity = torch.tensor([p.complexity for p in prims], dtype=torch.long, device=x.device)
    return EdgeFits([p.name for p in prims], theta, r2, torch.sqrt(sse / N), complexity, ok, mimic & ok)


def _check_inputs(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.dim() != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must both be (edges, samples); got {tuple(x.shape)} and {tuple(y.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    y = y.to(x)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise FitError("edge samples contain NaN or inf", "the model diverged; retrain with a smaller learning rate")
    return x, y


@functools.cache
def _kind(prim: Primitive) -> str:
    """The primitive's symmetry, upgraded to 'constant'/'linear' when its expression is one."""
    if prim.symmetry != "none":
        return prim.symmetry
    e = prim.sympy()
    if not e.free_symbols:
        return "constant"
    return "linear" if e.is_polynomial(X) and sympy.degree(e, X) == 1 else "none"


def _subsample(x: torch.Tensor, y: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(E, N) → (E, n): samples at evenly spaced ranks of x (min and max included)."""
    N = x.shape[1]
    if n is None or n >= N:
        return x, y
    order = torch.argsort(x, dim=1)  # (E, N)
    ranks = torch.linspace(0, N - 1, max(n, 2), device=x.device).round().long()  # (n,)
    pick = order[:, ranks]  # (E, n)
    return x.gather(1, pick), y.gather(1, pick)


def _axis(box: torch.Tensor, n: int) -> torch.Tensor:
    """(E, 2) intervals → (E, n) evenly spaced points."""
    t = torch.linspace(0, 1, n, dtype=box.dtype, device=box.device)
    return box[:, :1] + (box[:, 1:] - box[:, :1]) * t


def _search(prim: Primitive, kind: str, xs: torch.Tensor, ys: torch.Tensor, a_range: tuple[float, float],
            b_range: tuple[float, float], G: int, zoom_rounds: int, widen_rounds: int, widen_below: float,
            top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Coarse grid + zoom + widening for one primitive. xs, ys: (E, Ns). Returns (E, 2) best (a, b), (E,) found."""
    E, dt, dev = xs.shape[0], xs.dtype, xs.device
    free_a, free_b = kind in ("none", "shift"), kind in ("none", "scale")
    n_coarse = G if free_a and free_b else 2 * G + 1
    n_zoom = max(5, (G // 3) | 1)
    box = torch.tensor([a_range, b_range], dtype=dt, device=dev).expand(E, 2, 2).clone()  # (E, [a, b], [lo, hi])
    best = torch.zeros(E, 2, dtype=dt, device=dev)
    best_score = torch.full((E,), -1.0, dtype=dt, device=dev)
    todo = torch.arange(E, device=dev)
    yc = ys - ys.mean(-1, keepdim=True)
    for w in range(widen_rounds + 1):
        m = len(todo)
        A = _axis(box[todo, 0], n_coarse) if free_a else torch.tensor([[-1.0, 1.0] if kind == "scale" else [1.0]],
                                                                    dtype=dt, device=dev).expand(m, -1)
        B = _axis(box[todo, 1], n_coarse) if free_b else torch.zeros(m, 1, dtype=dt, device=dev)
        Na, Nb = A.shape[1], B.shape[1]
        grid = _score_grid(prim, xs[todo], yc[todo], A, B)  # (m, Na*Nb)
        top = grid.argmax(-1)
        on_a = ((top // Nb == 0) | (top // Nb == Na - 1)) & free_a  # the coarse best touches the box boundary
        on_b = ((top % Nb == 0) | (top % Nb == Nb - 1)) & free_b
        idx = _peaks(grid.view(m, Na, Nb), top_k)  # (m, K) the best local maxima; the first zoom refines each
        K = idx.shape[1]
        a, b = A.gather(1, idx // Nb).reshape(-1), B.gather(1, idx % Nb).reshape(-1)  # (m*K,)
        score = grid.gather(1, idx).reshape(-1)
        step = ((box[todo, :, 1] - box[todo, :, 0]) / (n_coarse - 1)).repeat_interleave(K, 0)  # (m*K, 2)
        for r in range(zoom_rounds):
            rows = todo.repeat_interleave(K) if r == 0 else todo
            Az = _axis(torch.stack([a - step[:, 0], a + step[:, 0]], -1), n_zoom) if free_a else a[:, None]
            Bz = _axis(torch.stack([b - step[:, 1], b + step[:, 1]], -1), n_zoom) if free_b else b[:, None]
            s, j = _score_grid(prim, xs[rows], yc[rows], Az, Bz).max(-1)
            better = s > score
            score = torch.where(better, s, score)
            a = torch.where(better, Az.gather(1, (j // Bz.shape[1])[:, None])[:, 0], a)
            b = torch.where(better, Bz.gather(1, (j % Bz.shape[1])[:, None])[:, 0], b)
            step = step * 2 / (n_zoom - 1)
            if r == 0:  # keep only the best of the K refined candidates
                score, k = score.view(m, K).max(-1)
                a, b = a.view(m, K).gather(1, k[:, None])[:, 0], b.view(m, K).gather(1, k[:, None])[:, 0]
                step, K = step.view(m, K, 2)[:, 0], 1
        if K > 1:  # zoom_rounds == 0
            score, k = score.view(m, K).max(-1)
            a, b = a.view(m, K).gather(1, k[:, None])[:, 0], b.view(m, K).gather(1, k[:, None])[:, 0]
        prev = best_score[todo]
        improve = score > prev
        best_score[todo] = torch.where(improve, score, prev)
        best[todo] = torch.where(improve[:, None], torch.stack([a, b], -1), best[todo])
        # a poor fit keeps widening only while widening pays (unexplained variance at least halves)
        poor = (score < widen_below) & ((w == 0) | (1 - score < 0.5 * (1 - prev)))
        widen = (on_a | on_b | poor) & (score >= 0)
        if w == widen_rounds or not bool(widen.any()):
            break
        old = box[todo][widen]  # (k, 2, 2)
        width = old[..., 1] - old[..., 0]  # (k, 2)
        around_best = torch.stack([a, b], -1)[widen][..., None] + torch.stack([-width, width], -1)
        around_mid = old.mean(-1, keepdim=True) + torch.stack([-width, width], -1)
        touch = torch.stack([on_a, on_b], -1)[widen][..., None]  # (k, 2, 1)
        grow = torch.tensor([free_a, free_b], device=dev)[:, None] & (touch | poor[widen][:, None, None])
        todo = todo[widen]
        box[todo] = torch.where(touch, around_best, torch.where(grow, around_mid, old))
    return best, best_score >= 0


def _peaks(grid: torch.Tensor, k: int) -> torch.Tensor:
    """Flat indices (m, k) of the k highest local maxima of scores (m, Na, Nb) (padded with the global best)."""
    m = grid.shape[0]
    pooled = torch.nn.functional.max_pool2d(grid[:, None], 3, stride=1, padding=1)[:, 0]  # 3x3 neighbourhood max
    cand = torch.where((grid >= pooled) & (grid >= 0), grid, -2.0).view(m, -1)
    val, idx = cand.topk(min(k, cand.shape[1]), dim=-1)
    return torch.where(val > -2, idx, grid.view(m, -1).argmax(-1, keepdim=True))


def _score_grid(prim: Primitive, xs: torch.Tensor, yc: torch.Tensor, A: torch.Tensor, B: torch.Tensor
                ) -> torch.Tensor:
    """Score all (a, b) in A (m, Na) × B (m, Nb) on samples xs (m, Ns) against centred yc (m, Ns).

    Returns scores (m, Na*Nb) (index ia*Nb + ib): squared correlation in [0, 1], or -1 where invalid.
    """
    m, Ns = xs.shape
    Na, Nb = A.shape[1], B.shape[1]
    xlo, xhi = xs.amin(-1), xs.amax(-1)  # (m,)
    za, zb = A[:, :, None] * xlo[:, None, None] + B[:, None, :], A[:, :, None] * xhi[:, None, None] + B[:, None, :]
    zlo, zhi = torch.minimum(za, zb), torch.maximum(za, zb)
    dom_ok = (prim.interval_valid(zlo, zhi) & _spread(zlo, zhi)).reshape(m, Na * Nb)
    sst = (yc * yc).sum(-1)  # (m,)
    rhs = torch.stack([torch.ones_like(yc), yc], -1)  # (m, Ns, 2)
    scores = []
    per = max(1, _CHUNK // max(1, Na * Nb * Ns))
    for i in range(0, m, per):  # chunks of edges bound the memory of the (m, Na, Nb, Ns) block
        sl = slice(i, i + per)
        z = torch.addcmul(B[sl, None, :, None], A[sl, :, None, None], xs[sl, None, None, :])  # (k, Na, Nb, Ns)
        _clamp_(z, prim)  # out-of-domain candidates are masked by dom_ok; clamping avoids slow NaN arithmetic
        f = prim.raw(z).reshape(z.shape[0], Na * Nb, Ns)  # (k, C, Ns)
        s2 = torch.einsum("kcn,kcn->kc", f, f)  # (k, C)
        s1, sy = (f @ rhs[sl]).unbind(-1)  # (k, C) each
        var = s2 - s1 * s1 / Ns
        ok = dom_ok[sl] & torch.isfinite(s2) & (var > 1e-10 * s2) & (sst[sl, None] > 0)
        r = sy / torch.sqrt(torch.where(ok, var, 1.0)) / torch.sqrt(torch.where(sst[sl, None] > 0, sst[sl, None], 1.0))
        scores.append(torch.where(ok, r * r, -1.0))
    return torch.cat(scores)


def _spread(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The argument a·x+b must vary by more than rounding noise (sqrt(eps) relative); otherwise f(a·x+b) is only
    its own linearization and c blows up (e.g. c·sin(1e-16·x) = x)."""
    tol = torch.finfo(lo.dtype).eps ** 0.5
    return (hi - lo) > tol * torch.maximum(torch.maximum(lo.abs(), hi.abs()), torch.ones_like(lo))


def _clamp_(z: torch.Tensor, prim: Primitive) -> torch.Tensor:
    """Clamp z into the primitive's domain interval in place (only where that interval is bounded)."""
    lo, hi = prim.domain
    if lo > -math.inf or hi < math.inf:
        z.clamp_(lo, hi)
    return z


def _groups(pid: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
    """(primitive index, row indices) for the pairs pid (Q,), one entry per primitive present."""
    return [(p, (pid == p).nonzero()[:, 0]) for p in pid.unique().tolist()]


def _evaluate(prims: Sequence[Primitive], pid: torch.Tensor, ab: torch.Tensor, x: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """f_pid(a·x+b) for Q (edge, primitive) pairs: pid (Q,), ab (Q, 2), x (Q, N).

    Returns values (Q, N) (0 where invalid) and validity (Q,)."""
    z = ab[:, :1] * x + ab[:, 1:]  # (Q, N)
    lo, hi = z.amin(-1), z.amax(-1)  # (Q,) hull of a·x+b
    f, dom = torch.empty_like(z), torch.empty_like(lo, dtype=torch.bool)
    for p, rows in _groups(pid):
        f[rows] = prims[p].raw(_clamp_(z[rows], prims[p]))  # z[rows] is a copy, clamped in place
        dom[rows] = prims[p].interval_valid(lo[rows], hi[rows])
    ok = dom & _spread(lo, hi) & torch.isfinite(f).all(-1)
    return torch.where(ok[:, None], f, 0.0), ok


def _linear_fit(prims: Sequence[Primitive], pid: torch.Tensor, ab: torch.Tensor, x: torch.Tensor, y: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
    """Least-squares (c, d) for fixed (a, b) of Q pairs: pid (Q,), ab (Q, 2), x and y (Q, N).

    Returns (cd (Q, 2), sse (Q,) (+inf where invalid), ok (Q,), f (Q, N), fc = f - mean f (Q, N), var = Σ fc² (Q,)).
    A degenerate (numerically constant) f gives c = 0, d = mean(y).
    """
    f, ok = _evaluate(prims, pid, ab, x)  # (Q, N)
    fm = f.mean(-1, keepdim=True)
    fc = f - fm
    var = (fc * fc).sum(-1)
    ym = y.mean(-1)  # (Q,)
    cov = (fc * (y - ym[:, None])).sum(-1)
    eps = torch.finfo(x.dtype).eps
    nondeg = ok & (var > x.shape[1] * (8 * eps * f.abs().amax(-1)) ** 2) & (var > 0)
    c = torch.where(nondeg, cov / torch.where(nondeg, var, 1.0), 0.0)
    c = torch.where(torch.isfinite(c), c, 0.0)
    d = ym - c * fm[:, 0]
    r = c[:, None] * f + d[:, None] - y
    sse = (r * r).sum(-1)
    ok = ok & torch.isfinite(sse)
    return torch.stack([c, d], -1), torch.where(ok, sse, torch.inf), ok, f, fc, torch.where(nondeg, var, 0.0)


@functools.cache
def _derivative(prim: Primitive) -> Callable[[torch.Tensor], torch.Tensor]:
    """f' as a torch function: sympy derivative (DiracDelta → 0), or autograd when it has no torch form."""
    xr = sympy.Symbol("x", real=True)
    d = sympy.diff(prim.sympy(xr), xr).replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    try:
        return to_torch(d, [xr])
    except FormulaError:  # no torch form of the derivative: differentiate with autograd
        def grad(z: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                zz = z.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(prim.raw(zz).sum(), zz, allow_unused=True)
            return torch.zeros_like(z) if g is None else g
        return grad


def _polish(prims: Sequence[Primitive], kinds: Sequence[str], ab: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
            active: torch.Tensor, steps: int) -> torch.Tensor:
    """Levenberg–Marquardt on all four parameters in variable-projection form: (c, d) are always the closed-form
    optimum for the current (a, b), and LM steps (a, b) with the Jacobian projected off span{1, f} (Kaufman).

    Works on the flat list of ``active`` (E, P) pairs and drops each pair once a step gains less than 1e-8 of its
    SSE or the damping saturates. Only steps that lower the SSE are kept. A parameter made redundant by the
    primitive's symmetry stays fixed (a = ±1 for "scale", b = 0 for "shift"). Returns the polished ab (E, P, 2)."""
    e_idx, pid = active.nonzero(as_tuple=True)  # (Q,) pairs to polish
    if steps == 0 or len(pid) == 0:
        return ab
    free = torch.tensor([[k != "scale", k != "shift"] for k in kinds], dtype=x.dtype, device=x.device)[pid]  # (Q, 2)
    th, xq, yq = ab[e_idx, pid], x[e_idx], y[e_idx]  # (Q, 2), (Q, N), (Q, N)
    cd, sse, act, f, fc, var = _linear_fit(prims, pid, th, xq, yq)
    lam = torch.full_like(sse, 1e-3)
    eye = torch.eye(2, dtype=x.dtype, device=x.device)
    for _ in range(steps):
        live = act.nonzero()[:, 0]  # (L,) pairs still improving
        if len(live) == 0:
            break
        p_l, x_l, y_l, t_l, cd_l, f_l, fc_l = pid[live], xq[live], yq[live], th[live], cd[live], f[live], fc[live]
        z = t_l[:, :1] * x_l + t_l[:, 1:]  # (L, N)
        fp = torch.empty_like(z)
        for p, rows in _groups(p_l):
            fp[rows] = _derivative(prims[p])(z[rows])
        cfp = cd_l[:, :1] * fp
        J = torch.stack([cfp * x_l, cfp], -1) * free[live][:, None, :]  # (L, N, 2) d residual / d(a, b)
        J = torch.nan_to_num(J, nan=0.0, posinf=0.0, neginf=0.0)
        J = J - J.mean(-2, keepdim=True)  # project off the constant ...
        v = var[live]
        J = J - fc_l[..., None] * ((fc_l[..., None] * J).sum(-2, keepdim=True) / torch.where(v > 0, v, 1.0)[
            :, None, None])  # ... and off f: the directions that c and d absorb
        r = cd_l[:, :1] * f_l + cd_l[:, 1:] - y_l  # (L, N)
        JtJ = J.transpose(-1, -2) @ J  # (L, 2, 2)
        g = (J.transpose(-1, -2) @ r[..., None])[..., 0]  # (L, 2)
        diag = JtJ.diagonal(dim1=-2, dim2=-1)
        damp = lam[live][:, None] * diag + 1e-14 * diag.amax(-1, keepdim=True)
        L, info = torch.linalg.cholesky_ex(JtJ + damp[..., None] * eye)
        step = torch.cholesky_solve(g[..., None], L)[..., 0]
        new = t_l - torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
        cd_n, sse_n, ok_n, f_n, fc_n, var_n = _linear_fit(prims, p_l, new, x_l, y_l)
        old = sse[live]
        acc = (info == 0) & torch.isfinite(step).all(-1) & ok_n & (sse_n < old)  # (L,)
        th[live], cd[live] = torch.where(acc[:, None], new, t_l), torch.where(acc[:, None], cd_n, cd_l)
        f[live], fc[live] = torch.where(acc[:, None], f_n, f_l), torch.where(acc[:, None], fc_n, fc_l)
        var[live], sse[live] = torch.where(acc, var_n, v), torch.where(acc, sse_n, old)
        lam[live] = torch.where(acc, lam[live] * 0.3, lam[live] * 10).clamp(1e-12, 1e12)
        act[live] = ~(acc & (old - sse_n <= 1e-8 * old)) & (lam[live] < 1e10)
    ab = ab.clone()
    ab[e_idx, pid] = th
    return ab
