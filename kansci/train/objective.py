"""The training objective: the (weighted) mean squared error and the KAN paper's sparsity regularization."""
from __future__ import annotations

import torch

from kansci.core.model import KAN
from kansci.train.records import TrainSettings

__all__ = ["mse", "regularization", "objective"]


def mse(pred: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of pred and y (n, n_out); with row weights w (n, 1), the weighted mean."""
    if w is None:
        return torch.mean((pred - y) ** 2)
    return torch.sum(w * (pred - y) ** 2) / (torch.sum(w) * pred.shape[-1])


def regularization(model: KAN, x: torch.Tensor, cfg: TrainSettings) -> torch.Tensor:
    """L1 + entropy of mean |phi| per edge, summed over layers (KAN paper eq. 2.17-2.20). x: (n, n_in)."""
    total = x.new_zeros(())
    for l, layer in enumerate(model.layers):
        phi = layer.edge_values(x)  # (n, in, out)
        a = phi.abs().mean(0)  # (in, out)
        s = a.sum()
        p = a / (s + 1e-12)
        ent = -(p * torch.log(p + 1e-12)).sum()
        total = total + cfg.lamb_l1 * s + cfg.lamb_entropy * ent
        if cfg.lamb_coef:
            total = total + cfg.lamb_coef * layer.coef.abs().mean()
        x = model.combine(l + 1, layer(x))
    return total


def objective(model: KAN, x: torch.Tensor, y: torch.Tensor, reg_x: torch.Tensor | None,
              cfg: TrainSettings, w: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(data loss, regularization) on x (n, n_in), y (n, n_out) with optional row weights w (n, 1); the
    regularization on reg_x, or 0 without it."""
    loss = mse(model(x), y, w)
    return loss, regularization(model, reg_x, cfg) if reg_x is not None else loss.new_zeros(())
