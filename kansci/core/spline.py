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

On CPU (float32/float64) :mod:`kansci.core.spline_kernel` computes the basis with compiled kernels; the torch code
below is the path on CUDA and the fallback, and both follow the conventions above. The basis is computed locally: for
each input only the ``k + 1`` non-zero B-splines of the knot interval that holds it are evaluated (de Boor's
triangular scheme), then written into a dense ``(batch, d, G + k)`` tensor ready for one matmul. The same pass gives
the derivatives with respect to ``x``; the backward keeps only those k+1 planes and one flat index (autograd never
stores the recursion's intermediates or a dense derivative).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from kansci.core import spline_kernel

__all__ = [
    "uniform_grid",
    "extend_grid",
    "grid_from_samples",
    "bspline_basis",
    "derivatives_of_all_orders",
    "basis_backend",
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


# compare loop up to this many intervals, searchsorted beyond (as the kernel does)
_SEARCH_ABOVE_G = spline_kernel._SEARCH_ABOVE_G


def _interval(xc: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """Interior interval index s (n, d) int64 in [0, G-1] of clamped inputs xc; the right end belongs to G-1."""
    G = grid.shape[1] - 2 * k - 1
    if G > _SEARCH_ABOVE_G:
        inner = grid[:, k + 1 : k + G].contiguous()  # (d, G-1)
        return torch.searchsorted(inner, xc.T.contiguous(), right=True).T
    s = torch.zeros(xc.shape, dtype=torch.long, device=xc.device)
    for m in range(1, G):  # G-1 compares beat searchsorted's transposes for small G
        s += xc >= grid[:, k + m]
    return s


def _local(x: torch.Tensor, grid: torch.Tensor, k: int, deriv: bool
           ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None, torch.Tensor]:
    """de Boor's triangle on the interval of each (clamped) input.

    Returns k+1 planes (n, d) of the non-zero bases ``s + r`` (r = 0..k), their x-derivatives when ``deriv``
    (zero outside the interior range, where the spline is constant), and s (n, d). The derivative of basis
    ``span - k + r`` is ``k * (temp_{r-1} - temp_r)`` with the quotients ``temp`` of the triangle's last level, so
    one pass gives both.
    """
    G = grid.shape[1] - 2 * k - 1
    lo, hi = grid[:, k], grid[:, k + G]
    xc = torch.minimum(torch.maximum(x, lo), hi)  # (n, d)
    s = _interval(xc, grid, k)
    span = s + k
    gt = grid.T.contiguous()  # (m, d): gather along dim 0 picks each input's knot
    left = [None] + [xc - torch.gather(gt, 0, span + (1 - j)) for j in range(1, k + 1)]  # x - t[span+1-j]
    right = [None] + [torch.gather(gt, 0, span + j) - xc for j in range(1, k + 1)]  # t[span+j] - x
    N, temps = [torch.ones_like(xc)], []
    for j in range(1, k + 1):
        saved, new, temps = None, [], []
        for r in range(j):
            temp = N[r] / (right[r + 1] + left[j - r])
            temps.append(temp)
            v = right[r + 1] * temp
            new.append(v if saved is None else v + saved)
            saved = left[j - r] * temp
        new.append(saved)
        N = new
    if not deriv:
        return N, None, s
    if k == 0:
        return N, [torch.zeros_like(xc)], s
    inside = ((x >= lo) & (x <= hi)).to(x.dtype) * k
    dN = [-temps[0]] + [temps[r - 1] - temps[r] for r in range(1, k)] + [temps[k - 1]]
    return N, [v * inside for v in dN], s


def _dense(N: list[torch.Tensor], s: torch.Tensor, n_basis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Write the k+1 local planes into a dense (n, d, n_basis) basis; also returns the flat index of basis s."""
    n, d = s.shape
    flat = s + torch.arange(d, device=s.device) * n_basis  # (n, d): index of basis s in row (n, i)
    flat += torch.arange(n, device=s.device).unsqueeze(1) * (d * n_basis)
    B = N[0].new_zeros(n, d, n_basis)
    out = B.view(-1)
    for r, plane in enumerate(N):
        out.put_(flat + r, plane)
    return B, flat


class _Basis(torch.autograd.Function):
    """Dense basis; saves only the k+1 derivative planes and one flat index for the analytic backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:  # type: ignore[override]
        N, dN, s = _local(x, grid, k, x.requires_grad)
        B, flat = _dense(N, s, grid.shape[1] - k - 1)
        ctx.k = k
        if dN is not None:
            ctx.save_for_backward(flat, *dN)
        return B

    @staticmethod
    def backward(ctx, grad_B: torch.Tensor):  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None
        flat, *dN = ctx.saved_tensors
        g = grad_B.reshape(-1)  # (n*d*(G+k),): read back only the k+1 non-zero positions per input
        grad_x = g.take(flat) * dN[0]
        for r in range(1, ctx.k + 1):
            grad_x = torch.addcmul(grad_x, g.take(flat + r), dN[r])
        return grad_x, None, None


def bspline_basis(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """B-spline basis of order ``k`` at ``x`` on per-input grids.

    x: (n, d); grid: (d, G + 2k + 1). Returns (n, d, G + k). Inputs are clamped to each grid's interior range.
    Differentiable with respect to ``x`` (analytic derivative), not with respect to the grid.
    """
    assert x.dim() == 2 and grid.dim() == 2 and x.shape[1] == grid.shape[0], (x.shape, grid.shape)
    if getattr(_ORDERS, "all", False):
        N, _, s = _local(x, grid, k, False)  # plain torch operations: autograd differentiates them to any order
        return _dense(N, s, grid.shape[1] - k - 1)[0]
    if k >= 1 and spline_kernel.usable(x):
        return spline_kernel.basis_with_kernel(x, grid, k)
    return _Basis.apply(x, grid, k)


_ORDERS = threading.local()


@contextmanager
def derivatives_of_all_orders() -> Iterator[None]:
    """Inside this block (in this thread), :func:`bspline_basis` is built from plain torch operations, so autograd
    gives second and higher derivatives of a network with respect to its inputs, as the structure tests need. The
    default paths have an analytic first-order backward only, which is faster for training."""
    before = getattr(_ORDERS, "all", False)
    _ORDERS.all = True
    try:
        yield
    finally:
        _ORDERS.all = before


def basis_backend(x: torch.Tensor) -> str:
    """Which implementation :func:`bspline_basis` uses for tensors like x: "numba" (compiled CPU kernel) or "torch"."""
    return "numba" if spline_kernel.usable(x) else "torch"


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
