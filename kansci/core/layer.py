"""One KAN layer: every edge (i -> j) carries ``phi_ij(x) = w_base * silu(x) + w_spline * spline_ij(x)``.

An edge can instead be *symbolic*, ``c * f(a * x + b) + d`` for a primitive ``f``, or *masked* (pruned).

* The **training forward** is one matmul of the flattened basis ``(batch, in * (G + k))`` with the coefficient
  matrix ``(in * (G + k), out)``, plus one matmul for the base branch. No ``(batch, in, out)`` tensor is built.
* :meth:`KANLayer.edge_values` is the **inspect pass**: it returns the per-edge outputs ``(batch, in, out)`` for a
  batch you choose (a subsample of training data), for pruning, symbolic fitting and plots.

All state is parameters and buffers, so ``.to(device)`` and ``state_dict`` work. Symbolic edges keep their primitive
as a small frozen data object (anything with ``name`` and ``torch(x)``); no callables are created per edge.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from kansci.core import spline


class PrimitiveLike(Protocol):
    """What a symbolic edge needs from a primitive: a name and a finite-valued torch function."""

    name: str

    def torch(self, x: torch.Tensor) -> torch.Tensor: ...


class KANLayer(nn.Module):
    """A layer of ``in_dim * out_dim`` learnable edge functions.

    Parameters: ``coef`` (in, G+k, out), ``w_base`` (in, out), ``w_spline`` (in, out), ``sym_params`` (in, out, 4)
    holding ``[a, b, c, d]`` of symbolic edges. Buffers: ``grid`` (in, G+2k+1), ``mask`` (in, out) 1 = active,
    ``sym_on`` (in, out) 1 = symbolic.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        G: int = 3,
        k: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        grid_eps: float = 0.02,
        base_fun: str = "silu",
        init_noise: float = 0.1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        if base_fun not in ("silu", "zero"):
            raise ValueError(f"base_fun must be 'silu' or 'zero', got {base_fun!r}")
        self.in_dim, self.out_dim, self.k, self.grid_eps, self.base_fun = in_dim, out_dim, k, grid_eps, base_fun
        kw = dict(dtype=dtype, device=device)
        lo = torch.full((in_dim,), float(grid_range[0]), **kw)
        hi = torch.full((in_dim,), float(grid_range[1]), **kw)
        self.register_buffer("grid", spline.uniform_grid(lo, hi, G, k))
        self.register_buffer("mask", torch.ones(in_dim, out_dim, **kw))
        self.register_buffer("sym_on", torch.zeros(in_dim, out_dim, **kw))

        def rand(*shape: int) -> torch.Tensor:  # uniform in [-1, 1], drawn on CPU for device-independent seeds
            return (torch.rand(*shape, generator=generator, dtype=dtype) * 2 - 1).to(device)

        self.coef = nn.Parameter(rand(in_dim, G + k, out_dim) * (init_noise / max(G, 1)))
        self.w_base = nn.Parameter(rand(in_dim, out_dim) / in_dim**0.5)
        if base_fun == "zero":
            self.w_base.data.zero_()
        self.w_spline = nn.Parameter(torch.ones(in_dim, out_dim, **kw) / in_dim**0.5)
        self.sym_params = nn.Parameter(torch.zeros(in_dim, out_dim, 4, **kw))
        self.symbolic: dict[tuple[int, int], PrimitiveLike] = {}
        self._groups: list[tuple[PrimitiveLike, torch.Tensor, torch.Tensor]] | None = None  # derived from symbolic

    # ----------------------------------------------------------------------------------------------------- shape
    @property
    def G(self) -> int:
        return self.grid.shape[1] - 2 * self.k - 1

    def extra_repr(self) -> str:
        return f"in={self.in_dim}, out={self.out_dim}, G={self.G}, k={self.k}, symbolic={len(self.symbolic)}"

    # --------------------------------------------------------------------------------------------------- forward
    def _numeric(self) -> torch.Tensor:
        """(in, out) weight that is 1 on active numeric edges, 0 on masked or symbolic ones."""
        return self.mask * (1 - self.sym_on)

    def _base(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x) if self.base_fun == "silu" else torch.zeros_like(x)

    def _has_numeric(self) -> bool:
        """Whether any active edge is still a spline; cached on the versions of ``mask`` and ``sym_on`` so the
        check costs no host sync per forward."""
        key = (self.mask._version, self.sym_on._version, id(self.mask), id(self.sym_on))
        if getattr(self, "_numeric_key", None) != key:
            self._numeric_key, self._numeric_any = key, bool((self._numeric() > 0).any())
        return self._numeric_any

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, in) -> (batch, out), the sum over incoming edges per output subnode."""
        assert x.dim() == 2 and x.shape[1] == self.in_dim, (x.shape, self.in_dim)
        n = x.shape[0]
        if self.symbolic and not self._has_numeric():  # all-symbolic layer: no spline work at all
            return self._symbolic_out(x)
        numeric = self._numeric()  # (in, out)
        basis = spline.bspline_basis(x, self.grid, self.k)  # (n, in, G+k)
        coef = self.coef * (self.w_spline * numeric).unsqueeze(1)  # (in, G+k, out)
        y = basis.reshape(n, -1) @ coef.reshape(-1, self.out_dim)  # (n, out)
        if self.base_fun == "silu":
            y = y + F.silu(x) @ (self.w_base * numeric)
        if self.symbolic:
            y = y + self._symbolic_out(x)
        return y

    def _symbolic_out(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of symbolic edge outputs per output subnode: (n, out). Loops over edges grouped by primitive."""
        out = x.new_zeros(x.shape[0], self.out_dim)
        for prim, ii, jj in self._symbolic_groups():
            p = self.sym_params[ii, jj]  # (e, 4)
            w = self.mask[ii, jj]  # (e,)
            v = p[:, 2] * prim.torch(p[:, 0] * x[:, ii] + p[:, 1]) + p[:, 3]  # (n, e)
            out = out.index_add(1, jj, v * w)
        return out

    def _symbolic_groups(self) -> list[tuple[PrimitiveLike, torch.Tensor, torch.Tensor]]:
        """Symbolic edges grouped by primitive as index tensors; cached until the symbolic edges change."""
        if self._groups is not None and all(ii.device == self.grid.device for _, ii, _ in self._groups):
            return self._groups
        groups: dict[str, tuple[PrimitiveLike, list[int], list[int]]] = {}
        for (i, j), prim in sorted(self.symbolic.items()):
            g = groups.setdefault(prim.name, (prim, [], []))
            g[1].append(i)
            g[2].append(j)
        dev = self.grid.device
        self._groups = [(p, torch.tensor(ii, device=dev), torch.tensor(jj, device=dev))
                        for p, ii, jj in groups.values()]
        return self._groups

    # ---------------------------------------------------------------------------------------------- inspect pass
    def spline_values(self, x: torch.Tensor) -> torch.Tensor:
        """Raw spline part ``sum_m coef * B_m(x_i)`` per edge (no weights, no mask): (n, in, out)."""
        return spline.spline_eval(x, self.grid, self.coef, self.k)

    def edge_values(self, x: torch.Tensor) -> torch.Tensor:
        """Per-edge outputs phi_ij(x_i) for a batch x (n, in): (n, in, out). Masked edges give 0."""
        assert x.dim() == 2 and x.shape[1] == self.in_dim, (x.shape, self.in_dim)
        numeric = self._numeric()
        phi = self.spline_values(x) * self.w_spline + self._base(x).unsqueeze(-1) * self.w_base  # (n, in, out)
        phi = phi * numeric
        for (i, j), prim in self.symbolic.items():
            a, b, c, d = self.sym_params[i, j]
            phi[:, i, j] = (c * prim.torch(a * x[:, i] + b) + d) * self.mask[i, j]
        return phi

    # ------------------------------------------------------------------------------------------------------ grid
    @torch.no_grad()
    def regrid(self, x: torch.Tensor, G: int | None = None, margin: float = 0.01) -> None:
        """Adapt the grid to samples x (n, in), optionally to a new size G, preserving each spline by least squares.

        Used both for grid updates (same G) and grid extension (larger G).
        """
        G = self.G if G is None else G
        old = self.spline_values(x)  # (n, in, out)
        new_grid = spline.grid_from_samples(x, G, self.k, self.grid_eps, margin=margin)
        self.coef.data = spline.coef_from_curve(x, old, new_grid, self.k)
        self.grid = new_grid

    # -------------------------------------------------------------------------------------------- symbolic edges
    @torch.no_grad()
    def set_symbolic(self, i: int, j: int, prim: PrimitiveLike, params: torch.Tensor | list[float]) -> None:
        """Make edge (i, j) the symbolic function ``c * prim(a * x + b) + d`` with params [a, b, c, d]."""
        self.symbolic[(i, j)] = prim
        self._groups = None
        self.sym_params[i, j] = torch.as_tensor(params, dtype=self.sym_params.dtype, device=self.grid.device)
        self.sym_on[i, j] = 1.0

    @torch.no_grad()
    def unset_symbolic(self, i: int, j: int) -> None:
        """Return edge (i, j) to its (unchanged) numeric spline."""
        self.symbolic.pop((i, j), None)
        self._groups = None
        self.sym_on[i, j] = 0.0
        self.sym_params[i, j] = 0.0

    def symbolic_spec(self) -> list[dict[str, Any]]:
        """Symbolic edges as plain data: ``[{"i", "j", "primitive", "expr", "spec", "params"}]``."""
        rows = []
        for (i, j), prim in sorted(self.symbolic.items()):
            rows.append(
                {
                    "i": i,
                    "j": j,
                    "primitive": prim.name,
                    "expr": getattr(prim, "expr", None),
                    "spec": prim.to_dict() if hasattr(prim, "to_dict") else None,
                    "params": [float(v) for v in self.sym_params[i, j].detach()],
                }
            )
        return rows
