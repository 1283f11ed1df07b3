"""A trained network as a function of the original variables (kansci.discover.surrogate)."""
from __future__ import annotations

import numpy as np
import torch

from kansci.core.model import KAN
from kansci.discover.surrogate import evaluate, from_kan, restricted


def test_surrogate_undoes_the_normalization_and_has_second_derivatives():
    model = KAN([2, 3, 1], seed=0)
    shift, scale = np.array([1.0, -2.0]), np.array([2.0, 0.5])
    f = from_kan(model, shift, scale, y_shift=3.0, y_scale=10.0)
    X = np.array([[1.5, -2.2], [0.0, -1.9], [2.0, -2.0]])
    with torch.no_grad():
        ref = 3.0 + 10.0 * model(torch.as_tensor((X - shift) / scale))[:, 0].numpy()
    np.testing.assert_allclose(evaluate(f, X), ref, rtol=1e-14)
    x = torch.as_tensor(X).requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g[:, 0].sum(), x)
    eps = 1e-6
    up, down = X.copy(), X.copy()
    up[:, 0] += eps
    down[:, 0] -= eps
    xu, xd = torch.as_tensor(up).requires_grad_(True), torch.as_tensor(down).requires_grad_(True)
    gu = torch.autograd.grad(f(xu).sum(), xu)[0]
    gd = torch.autograd.grad(f(xd).sum(), xd)[0]
    np.testing.assert_allclose(h.numpy(), ((gu - gd) / (2 * eps)).numpy(), rtol=1e-5, atol=1e-6)


def test_restriction_holds_the_other_inputs_at_the_reference():
    def f(X: torch.Tensor) -> torch.Tensor:
        return X[:, 0] + 10 * X[:, 1] + 100 * X[:, 2]

    g = restricted(f, 3, [2, 0], np.array([1.0, 2.0, 3.0]))
    out = evaluate(g, np.array([[5.0, 7.0]]))  # column 0 of Z is x2, column 1 is x0
    assert out.tolist() == [7.0 + 10 * 2.0 + 100 * 5.0]
