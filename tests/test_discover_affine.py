"""The affine-in-one-variable test and split: known laws against their own exact values."""
from __future__ import annotations

import time

import numpy as np
import pytest
import sympy
import torch

from kansci.discover.affine import affine_statistic
from kansci.discover.engine import Engine

ROWS = torch.as_tensor(np.random.default_rng(0).uniform(0.2, 2.0, (300, 3)))


@pytest.mark.parametrize("f, affine_in", [
    (lambda Z: Z[:, 1] * Z[:, 0] + torch.sin(Z[:, 2]), {0, 1, 2}),               # linear in x0, sums elsewhere
    (lambda Z: Z[:, 1] + Z[:, 2] * torch.cos(Z[:, 0]), {0, 1, 2}),               # affine in cos(x0)
    (lambda Z: (Z[:, 0] * Z[:, 1] + 1) / (Z[:, 0] + 1) * torch.exp(Z[:, 2]), {0, 1, 2}),
    # centre of mass: = x1 + (1 − x1)/(x0 + 1), affine in 1/(x0 + 1) too; a product is the case a = 0
    (lambda Z: torch.exp(Z[:, 0] * Z[:, 1]) + Z[:, 2] ** 2, {2}),
    (lambda Z: torch.sqrt(Z[:, 0] ** 2 + Z[:, 1] ** 2 + Z[:, 2] ** 2), set()),
])
def test_statistic_separates_affine_from_curved_dependence(f, affine_in: set[int]) -> None:
    decisions = [affine_statistic(f, ROWS, i, noise=0.0) for i in range(3)]
    assert {d.variables[0] for d in decisions if d.passed} == affine_in, [(d.statistic, d.passed) for d in decisions]
    assert all(d.statistic < 1e-8 for d in decisions if d.passed)
    assert all(d.statistic > 0.02 for d in decisions if not d.passed)


def test_noise_raises_the_threshold_not_the_statistic() -> None:
    def f(Z: torch.Tensor) -> torch.Tensor:
        return torch.exp(Z[:, 0] * Z[:, 1])

    quiet, loud = affine_statistic(f, ROWS, 0, 0.0), affine_statistic(f, ROWS, 0, 1.0)
    assert quiet.statistic == loud.statistic and loud.threshold > quiet.threshold and loud.passed


def test_engine_solves_a_law_that_is_neither_sum_nor_product() -> None:
    """(p1·p2 + 1)/(p1 + 1), the reduced centre of mass, is affine in p2 with coefficients 1/(p1+1), p1/(p1+1)."""
    X = np.random.default_rng(1).uniform(0.2, 5.0, (800, 2))
    p1, p2 = sympy.symbols("p1 p2", real=True)
    truth = (p1 * p2 + 1) / (p1 + 1)

    def f(Z: torch.Tensor) -> torch.Tensor:
        return (Z[:, 0] * Z[:, 1] + 1) / (Z[:, 0] + 1)

    y = f(torch.as_tensor(X)).numpy()
    engine = Engine(tol=0.05, accept=1e-10, deadline=time.perf_counter() + 60)
    best = engine.solve(X, y, [p1, p2], f)[0]
    assert best.nmse < 1e-12 and best.how.startswith("affine")
    assert any(d.test == "affine_in_one" and d.passed for d in engine.decisions.decisions)
    value = sympy.lambdify([p1, p2], best.expr - truth)(*X.T)
    assert np.max(np.abs(value)) < 1e-6
