"""Pure tensor functions for B-splines on per-input knot grids.

Conventions
-----------
* ``d`` inputs, each with its own knot vector of ``G + 2k + 1`` knots: ``G + 1`` *interior* knots
  ``g_0 < ... < g_G`` spanning the data range, extended by ``k`` knots on each side.
  ``grid`` has shape ``(d, G + 2k + 1)``.
* A spline of order ``k`` (degree ``k``; k=3 is cubic) on that grid has ``G + k`` basis functions.
* **Outside the interior range** ``[g_0, g_G]`` the input is clamped to the range, so a spline continues as the
  *constant* it has at the boundary (its derivative there is zero). The extension knots only shape the basis near
  the boundary. Grid updates keep training samples inside the range; the SiLU base branch of a KAN edge is not
  clamped and carries the signal beyond it.

The basis is computed locally: for each input only the ``k + 1`` non-zero B-splines of the knot interval that holds
it are evaluated (de Boor's triangular scheme), then scattered into a dense ``(batch, d, G + k)`` tensor ready for one
matmul. Derivatives with respect to ``x`` come from the same local scheme one order lower, so autograd never stores
the recursion's intermediates.
"""
from __future__ import annotations

import torch

__all__ = [
    "uniform_grid",
    "extend_grid",
    "grid_from_samples",
    "bspline_basis",
    "bspline_basis_and_derivative",
    "coef_from_curve",
    "spline_eval",
]


def extend_grid(interior: torch.Tensor, k: int) -> torch.Tensor:
    """Add ``k`` knots on each side of ``interior`` (d, G+1), spaced like the outermost uniform step.

    The step is ``(g_G - g_0) / G`` so that adaptive grids get uniformly spaced extension knots.
    Returns (d, G + 2k + 1).
    """
    assert interior.dim() == 2 and interior.shape[1] >= 2, interior.shape
    G = interior.shape[1] - 1
    h = (interior[:, -1:] - interior[:, :1]) / G  # (d, 1)
    steps = torch.arange(1, k + 1, dtype=interior.dtype, device=interior.device)  # (k,)
    left = interior[:, :1] - h * steps.flip(0)  # (d, k)
    right = interior[:, -1:] + h * steps  # (d, k)
    return torch.cat([left, interior, right], dim=1)


def uniform_grid(lo: torch.Tensor, hi: torch.Tensor, G: int, k: int) -> torch.Tensor:
    """Uniform knot grids with ``G`` intervals on ``[lo_i, hi_i]`` per input, extended by ``k``.

    lo, hi: (d,). Returns (d, G + 2k + 1).
    """
    assert lo.shape == hi.shape and lo.dim() == 1
    t = torch.linspace(0, 1, G + 1, dtype=lo.dtype, device=lo.device)  # (G+1,)
    interior = lo[:, None] + (hi - lo)[:, None] * t[None, :]  # (d, G+1)
    return extend_grid(interior, k)


def grid_from_samples(x: torch.Tensor, G: int, k: int, grid_eps: float, margin: float = 0.0) -> torch.Tensor:
    """Grid adapted to samples: ``grid_eps * uniform + (1 - grid_eps) * quantile`` interior knots.

    x: (n, d) samples. ``grid_eps = 1`` gives a uniform grid on the sample range, ``0`` a grid whose knots sit at
    sample quantiles (equal counts per interval). ``margin`` widens the range by that fraction on each side.
    Returns (d, G + 2k + 1). Degenerate (constant) inputs get a unit-width range around their value.
    """
    assert x.dim() == 2 and x.shape[0] >= 1, x.shape
    xs = torch.sort(x.detach(), dim=0).values  # (n, d)
    n = xs.shape[0]
    pos = torch.linspace(0, n - 1, G + 1, dtype=torch.float64, device=x.device).round().long()  # (G+1,)
    adaptive = xs[pos].T.to(x.dtype)  # (d, G+1)
    lo, hi = xs[0], xs[-1]  # (d,)
    span = hi - lo
    pad = margin * span
    lo, hi = lo - pad, hi + pad
    flat = span <= 1e-12 * (1 + lo.abs())
    lo = torch.where(flat, lo - 0.5, lo)
    hi = torch.where(flat, hi + 0.5, hi)
    t = torch.linspace(0, 1, G + 1, dtype=x.dtype, device=x.device)
    uniform = lo[:, None] + (hi - lo)[:, None] * t[None, :]  # (d, G+1)
    adaptive = adaptive.clone()
    adaptive[:, 0], adaptive[:, -1] = lo, hi
    adaptive = torch.where(flat[:, None], uniform, adaptive)
    interior = grid_eps * uniform + (1 - grid_eps) * adaptive
    # Quantile knots can coincide (repeated sample values); keep interior knots strictly increasing.
    min_gap = (hi - lo)[:, None] * 1e-6 / G
    interior = torch.maximum(interior, torch.cat([interior[:, :1], interior[:, :-1] + min_gap], dim=1))
    interior = torch.cummax(interior, dim=1).values
    return extend_grid(interior, k)


def _span(x: torch.Tensor, grid: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clamp x (n, d) into each grid's interior range and find its knot interval ``[t_span, t_span+1)``.

    Returns ``(xc, span)``, span (n, d) int64 in ``[k, G+k-1]``; the right end belongs to the last interval.
    """
    G = grid.shape[1] - 2 * k - 1
    lo, hi = grid[:, k], grid[:, k + G]  # (d,)
    xc = torch.minimum(torch.maximum(x, lo), hi)  # (n, d)
    interior = grid[:, k : k + G + 1].contiguous()  # (d, G+1)
    idx = torch.searchsorted(interior, xc.T.contiguous(), right=True).T - 1  # (n, d)
    return xc, idx.clamp(0, G - 1) + k


def _window(grid: torch.Tensor, span: torch.Tensor, k: int) -> torch.Tensor:
    """The 2k+2 knots around each interval in one gather: ``T[..., k + m] = t[span + m]``, m = -k..k+1.

    grid (d, G+2k+1), span (n, d) -> (n, d, 2k+2).
    """
    offs = torch.arange(-k, k + 2, device=span.device)  # (2k+2,)
    cols = torch.arange(grid.shape[0], device=span.device)[None, :, None]  # (1, d, 1)
    return grid[cols, span.unsqueeze(-1) + offs]


def _triangle(xc: torch.Tensor, T: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """de Boor's triangle on the interval of each input. xc (n, d), T (n, d, 2k+2) from :func:`_window`.

    Returns the k+1 bases of order k non-zero there (n, d, k+1), and the k bases of order k-1 (n, d, k) met on the
    way (None for k = 0), which the derivative needs.
    """
    N = [torch.ones_like(xc)]
    lower = None
    left, right = [None], [None]
    for j in range(1, k + 1):
        if j == k:
            lower = torch.stack(N, dim=-1)
        left.append(xc - T[..., k + 1 - j])  # x - t[span+1-j]
        right.append(T[..., k + j] - xc)  # t[span+j] - x
        saved = torch.zeros_like(xc)
        new = []
        for r in range(j):
            temp = N[r] / (right[r + 1] + left[j - r])
            new.append(saved + right[r + 1] * temp)
            saved = left[j - r] * temp
        new.append(saved)
        N = new
    return torch.stack(N, dim=-1), lower


def _scatter_dense(local: torch.Tensor, span: torch.Tensor, n_basis: int, k_local: int) -> torch.Tensor:
    """Place local values (n, d, k_local+1) of bases ``span - k_local + r`` into a dense (n, d, n_basis) tensor."""
    n, d, width = local.shape
    offs = torch.arange(width, device=local.device)  # (w,)
    cols = (span - k_local).unsqueeze(-1) + offs  # (n, d, w)
    dense = local.new_zeros(n, d, n_basis)
    return dense.scatter_(2, cols, local)


def _basis(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """Dense basis (n, d, G+k) at clamped inputs (no derivative)."""
    xc, span = _span(x, grid, k)
    N, _ = _triangle(xc, _window(grid, span, k), k)
    return _scatter_dense(N, span, grid.shape[1] - k - 1, k)


def bspline_basis_and_derivative(x: torch.Tensor, grid: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense basis B (n, d, G+k) and its derivative dB/dx (n, d, G+k) at clamped inputs.

    The derivative is zero where x lies outside the interior range (the spline is constant there).
    """
    n_basis = grid.shape[1] - k - 1
    xc, span = _span(x, grid, k)
    T = _window(grid, span, k)  # (n, d, 2k+2)
    N, lower = _triangle(xc, T, k)
    B = _scatter_dense(N, span, n_basis, k)
    if k == 0:
        return B, torch.zeros_like(B)
    # dB_i/dx = k * (B_{i,k-1} / (t_{i+k} - t_i) - B_{i+1,k-1} / (t_{i+k+1} - t_{i+1})) for i = span-k+r, r = 0..k.
    # lower[..., s] = B_{span-k+1+s, k-1}; pad with zeros so P[..., r] = B_{span-k+r, k-1}, r = 0..k+1.
    zeros = torch.zeros_like(lower[..., :1])
    P = torch.cat([zeros, lower, zeros], dim=-1)  # (n, d, k+2)
    # with i = span-k+r: t_i = T[..., r], t_{i+k} = T[..., r+k], t_{i+1} = T[..., r+1], t_{i+k+1} = T[..., r+k+1]
    dN = k * (P[..., :-1] / (T[..., k : 2 * k + 1] - T[..., : k + 1])
              - P[..., 1:] / (T[..., k + 1 : 2 * k + 2] - T[..., 1 : k + 2]))  # (n, d, k+1)
    dB = _scatter_dense(dN, span, n_basis, k)
    G = n_basis - k
    inside = (x >= grid[:, k]) & (x <= grid[:, k + G])  # (n, d)
    return B, dB * inside.unsqueeze(-1).to(dB.dtype)


class _Basis(torch.autograd.Function):
    """Dense B-spline basis with an analytic backward with respect to x (no recursion intermediates stored)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:  # type: ignore[override]
        if x.requires_grad:
            B, dB = bspline_basis_and_derivative(x, grid, k)
            ctx.save_for_backward(dB)
        else:
            B = _basis(x, grid, k)
            ctx.save_for_backward(None)
        return B

    @staticmethod
    def backward(ctx, grad_B: torch.Tensor):  # type: ignore[override]
        (dB,) = ctx.saved_tensors
        grad_x = None if dB is None else (grad_B * dB).sum(-1)  # (n, d)
        return grad_x, None, None


def bspline_basis(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """B-spline basis of order ``k`` at ``x`` on per-input grids.

    x: (n, d); grid: (d, G + 2k + 1). Returns (n, d, G + k). Inputs are clamped to each grid's interior range.
    Differentiable with respect to ``x`` (analytic derivative), not with respect to the grid.
    """
    assert x.dim() == 2 and grid.dim() == 2 and x.shape[1] == grid.shape[0], (x.shape, grid.shape)
    return _Basis.apply(x, grid, k)


def spline_eval(x: torch.Tensor, grid: torch.Tensor, coef: torch.Tensor, k: int) -> torch.Tensor:
    """Evaluate splines per (input, output) edge: x (n, d), coef (d, G+k, o) -> (n, d, o). Inspect use only."""
    B = bspline_basis(x, grid, k)  # (n, d, G+k)
    return torch.einsum("ndm,dmo->ndo", B, coef)


def coef_from_curve(x: torch.Tensor, y: torch.Tensor, grid: torch.Tensor, k: int, ridge: float = 1e-8) -> torch.Tensor:
    """Least-squares spline coefficients reproducing sampled curves.

    x: (n, d) inputs; y: (n, d, o) curve values per edge; returns coef (d, G+k, o) minimizing
    ``||B c - y||^2 + ridge * ||c||^2`` per input (ridge keeps bases with no samples well defined; it is scaled by
    the mean diagonal of B^T B so it is dimensionless).
    """
    assert x.dim() == 2 and y.dim() == 3 and y.shape[:2] == x.shape, (x.shape, y.shape)
    with torch.no_grad():
        B = bspline_basis(x.detach(), grid, k).permute(1, 0, 2)  # (d, n, G+k)
        A = B.transpose(1, 2) @ B  # (d, G+k, G+k)
        rhs = B.transpose(1, 2) @ y.detach().permute(1, 0, 2)  # (d, G+k, o)
        scale = A.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-300)  # (d,)
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        A = A + ridge * scale[:, None, None] * eye
        L = torch.linalg.cholesky(A)
        return torch.cholesky_solve(rhs, L).contiguous()  # (d, G+k, o)
