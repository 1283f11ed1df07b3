"""A trained network as a differentiable function of the ORIGINAL variables, for the structure tests.

The KAN sees normalized inputs and predicts a normalized target. Structure (``x·y``, ``x/y``, ``f = g·h``) lives in
the original units, so the tests differentiate ``y = undo_y(KAN(apply_x(X)))``. Restrictions of the surrogate (some
inputs held at reference values) give the data of sub-problems.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch

from kansci.core.model import KAN
from kansci.core.spline import derivatives_of_all_orders

Surrogate = Callable[[torch.Tensor], torch.Tensor]

__all__ = ["Surrogate", "from_kan", "restricted", "evaluate"]


def from_kan(model: KAN, x_shift: np.ndarray, x_scale: np.ndarray, y_shift: float, y_scale: float) -> Surrogate:
    """``f(X)`` for X (n, d) float64 in original units -> (n,) float64, differentiable; the model is evaluated in
    float64 on its own device, with derivatives of every order (see
    :func:`kansci.core.spline.derivatives_of_all_orders`). Normalization is ``(x - shift) / scale`` for inputs and
    ``y = shift + scale * out``."""
    dev = model.device
    net = model if model.dtype == torch.float64 else copy.deepcopy(model).double()
    xs = torch.as_tensor(np.asarray(x_shift, dtype=np.float64), device=dev)
    xk = torch.as_tensor(np.asarray(x_scale, dtype=np.float64), device=dev)

    def f(X: torch.Tensor) -> torch.Tensor:
        assert X.ndim == 2 and X.shape[1] == xs.shape[0], (tuple(X.shape), xs.shape[0])
        with derivatives_of_all_orders():
            out = net((X.to(dev) - xs) / xk)[:, 0]
        return (y_shift + y_scale * out).to(X.device)

    return f


def restricted(f: Surrogate, d: int, keep: Sequence[int], reference: np.ndarray) -> Surrogate:
    """``f`` as a function of the columns ``keep`` only, every other input held at ``reference`` (d,)."""
    keep = list(keep)
    ref = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    assert ref.shape == (d,), (ref.shape, d)

    def g(Z: torch.Tensor) -> torch.Tensor:
        assert Z.ndim == 2 and Z.shape[1] == len(keep), (tuple(Z.shape), keep)
        full = ref.to(Z.device, Z.dtype).expand(Z.shape[0], d).clone()
        full[:, keep] = Z
        return f(full)

    return g


def evaluate(f: Surrogate, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """``f`` on X (n, k) as a float64 array (n,), without building a graph."""
    X = np.asarray(X, dtype=np.float64)
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch):
            out.append(f(torch.as_tensor(X[start:start + batch])).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
