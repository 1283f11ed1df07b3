"""Merging the least certain pair of groups when the data refute a split (kansci.discover.candidates.merged), and
the engine taking the coarser split: swap tests pass within the surrogate's noise, so a loose surrogate can split a
part that the data do not split."""
from __future__ import annotations

import time

import numpy as np
import sympy
import torch

from kansci.discover.candidates import merged
from kansci.discover.engine import Engine
from kansci.discover.structure import Decision


def test_the_least_certain_pair_of_groups_is_merged() -> None:
    def swap(i: int, j: int, statistic: float, threshold: float) -> Decision:
        return Decision("multiplicative_swap", (i, j), statistic, threshold, statistic <= threshold)

    groups = [(0,), (1,), (2, 3)]
    decisions = [swap(0, 1, 0.01, 0.1), swap(0, 2, 0.02, 0.1), swap(1, 2, 0.17, 0.27), swap(1, 3, 0.05, 0.2),
                 swap(2, 3, 0.9, 0.1)]  # (2, 3) failed: within one group, so it cannot be the pair merged
    # ratios across groups: 0.1 for (0)-(1), 0.2 for (0)-(2, 3), 0.63 for (1)-(2, 3)
    assert merged(groups, decisions) == [(0,), (1, 2, 3)]
    assert merged([(0,), (1,)], decisions) is None  # two groups: merging leaves nothing to split
    assert merged(groups, []) is None


def test_a_wrong_three_way_product_gives_way_to_the_coarser_split() -> None:
    """p·(1 + a/q) over a surrogate with a wide enough noise allowance that a and q pass as separable: the data
    refute the product of three, and the coarser product p·g(a, q) is the law."""
    def fn(Z: torch.Tensor) -> torch.Tensor:
        return Z[:, 0] * (1 + 0.3 * Z[:, 1] / Z[:, 2])

    rng = np.random.default_rng(0)
    X = rng.uniform(1.0, 3.0, size=(600, 3))
    y = fn(torch.as_tensor(X)).numpy()
    symbols = [sympy.Symbol(s, positive=True) for s in ("p", "a", "q")]
    noise = 0.02 * float(np.std(y))  # the surrogate's stated error: loose enough to let (a, q) pass
    engine = Engine(tol=0.05, accept=1e-12, deadline=time.perf_counter() + 30.0, noise=noise)
    found = engine.solve(X, y, symbols, fn)
    best = found[0]
    assert best.nmse < 1e-20, (best.expr, best.nmse)
    assert "product of 2 parts" in best.how, best.how
    fresh = np.random.default_rng(1).uniform(0.5, 4.0, size=(50, 3))  # also outside the sampled box
    got = sympy.lambdify(symbols, best.expr, "numpy")(*fresh.T)
    np.testing.assert_allclose(got, fn(torch.as_tensor(fresh)).numpy(), rtol=1e-9)
