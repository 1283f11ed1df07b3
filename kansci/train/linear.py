"""The closed-form stage of a linear model: one least-squares solve instead of optimizer steps.

A model that is linear in its coefficients (:func:`is_linear`) trained to convergence reaches its least-squares
optimum, so training solves for it directly (:func:`solve_linear`), on at most
:data:`kansci.train.rows.SOLVE_ROWS` seeded rows.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from kansci.core import spline
from kansci.core.model import KAN


def is_linear(model: KAN) -> bool:
    """Whether the output is linear in the spline coefficients and base weights: one layer, no multiplication
    nodes, no symbolic edges."""
    return len(model.layers) == 1 and model.width[1][1] == 0 and not model.layers[0].symbolic


@torch.no_grad()
def solve_linear(model: KAN, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> None:
    """Set a linear model (:func:`is_linear`) to its least-squares optimum on x (n, n_in), y (n, n_out), weighted by
    rows w (n, 1) when given: every active edge gets ``w_spline = 1`` and its coefficients (and base weight) from one
    least-squares solve per output. Masked edges keep their parameters."""
    layer = model.layers[0]
    root_w = None if w is None else torch.sqrt(w)  # weighted least squares = plain least squares on rows * sqrt(w)
    basis = spline.bspline_basis(x, layer.grid, layer.k)  # (n, in, G+k)
    n, nb = x.shape[0], basis.shape[2]
    for j in range(layer.out_dim):
        on = torch.nonzero(layer.mask[:, j] > 0)[:, 0]  # active inputs of output j
        if len(on) == 0:
            continue
        cols = [basis[:, on].reshape(n, -1)] + ([F.silu(x[:, on])] if layer.base_fun == "silu" else [])
        A, b = torch.cat(cols, 1), y[:, j:j + 1]
        if root_w is not None:
            A, b = A * root_w, b * root_w
        sol = _lstsq(A, b).to(layer.coef)
        layer.coef[on, :, j] = sol[: len(on) * nb].view(len(on), nb)
        layer.w_spline[on, j] = 1.0
        if layer.base_fun == "silu":
            layer.w_base[on, j] = sol[len(on) * nb:]


def _lstsq(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least-squares solution of A (n, p) x = b (n, 1), as (p,): SVD-based (gelsd) in float64 on the
    CPU, because A is rank deficient (the B-splines of every input sum to one) and QR drivers lose accuracy there."""
    return torch.linalg.lstsq(A.double().cpu(), b.double().cpu(), driver="gelsd").solution[:, 0]
