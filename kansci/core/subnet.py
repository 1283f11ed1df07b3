"""One output of a KAN as a KAN of its own: :func:`output_subnet`.

A model trained on several targets has one output node per target. The network of target ``j`` is the same model
with only the last layer's edges into output ``j`` kept: the hidden layers are shared and unchanged (pruning then
removes the hidden nodes that do not feed output ``j``), so ``output_subnet(model, j)(x)`` equals
``model(x)[:, j:j+1]`` (to the last bits: the output layer's matmul has one column instead of k).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from kansci.core.model import KAN

__all__ = ["output_subnet"]


@torch.no_grad()
def output_subnet(model: KAN, j: int) -> KAN:
    """A copy of ``model`` restricted to output ``j``: input (batch, n_in) -> output (batch, 1). The output layer
    must be all sum nodes (as every kansci model's is). ``model`` itself is not changed."""
    n_sum, n_mult = model.width[-1]
    if n_mult:
        raise ValueError("output_subnet needs an output layer of sum nodes only")
    if not 0 <= j < n_sum:
        raise IndexError(f"output {j} is out of range: the model has {n_sum} outputs")
    sub = copy.deepcopy(model)
    if n_sum == 1:
        return sub
    layer = sub.layers[-1]
    keep = slice(j, j + 1)
    for name in ("coef", "w_base", "w_spline", "sym_params"):  # (in, G+k, 1), (in, 1), (in, 1), (in, 1, 4)
        old = getattr(layer, name)
        part = old.data[:, :, keep] if name == "coef" else old.data[:, keep]
        setattr(layer, name, nn.Parameter(part.clone(), requires_grad=old.requires_grad))
    layer.mask = layer.mask[:, keep].clone()  # buffers: (in, 1)
    layer.sym_on = layer.sym_on[:, keep].clone()
    layer.out_dim = 1
    layer.symbolic = {(i, 0): prim for (i, jj), prim in layer.symbolic.items() if jj == j}
    layer._groups = None
    sub.width[-1] = (1, 0)
    return sub
