"""Autograd structure tests (symmetry, single combination, derivatives) on exact closed-form surrogates and on
surrogates perturbed to mimic 1% error. Separability is tested by swapping values: tests/test_discover_separability.py.

Each closed form is written in torch and used as the surrogate itself; the perturbed version adds a smooth random
function of relative RMS 1e-2, and its tolerance comes from calibrated_tolerance of the NMSE measured on held-out
rows, as a discovery run would do with a trained model.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from kansci.discover.structure import (
    Decision,
    DecisionLog,
    calibrated_tolerance,
    derivatives,
    single_combination,
    symmetry,
)


def sample(n: int, lo: float, hi: float, d: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, d, generator=gen, dtype=torch.float64)


def perturbed(f, X: torch.Tensor, rel: float = 1e-2, seed: int = 1):
    """f plus a smooth random sum of sinusoids (frequencies ~1 per standard deviation of the data) scaled to
    relative RMS ``rel`` of f's spread on X."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(6, X.shape[1], generator=gen, dtype=torch.float64) / X.std(0)
    b = 2 * math.pi * torch.rand(6, generator=gen, dtype=torch.float64)
    a = torch.randn(6, generator=gen, dtype=torch.float64)
    mu = X.mean(0)

    def wave(Z: torch.Tensor) -> torch.Tensor:
        return torch.sin((Z - mu) @ W.T + b) @ a

    with torch.no_grad():
        k = rel * f(X).std() / wave(X).square().mean().sqrt()
    return lambda Z: f(Z) + k * wave(Z)


def surrogate_and_tol(f, X: torch.Tensor, noisy: bool):
    """(surrogate, tolerance): exact f with the base tolerance, or the perturbed f with the tolerance calibrated on
    its NMSE against f on fresh rows."""
    if not noisy:
        return f, calibrated_tolerance(0.0)
    g = perturbed(f, X)
    held = sample(500, float(X.min()), float(X.max()), X.shape[1], seed=99)
    with torch.no_grad():
        nmse = float((g(held) - f(held)).square().mean() / f(held).var())
    assert 3e-5 < nmse < 3e-4  # "1% noise"
    return g, calibrated_tolerance(nmse)


def x(Z):
    return Z[:, 0]


def y(Z):
    return Z[:, 1]


# name -> (f, single combination, passing symmetry or None)
CASES = {
    "x+y^2": (lambda Z: x(Z) + y(Z) ** 2, True, None),
    "x*sin(y)": (lambda Z: x(Z) * torch.sin(y(Z)), True, None),
    "exp(x+y)": (lambda Z: torch.exp(x(Z) + y(Z)), True, "sum"),
    "sin(x+y)": (lambda Z: torch.sin(x(Z) + y(Z)), True, "sum"),
    "tanh(x/y)": (lambda Z: torch.tanh(x(Z) / y(Z)), True, "ratio"),
    "cos(x*y)": (lambda Z: torch.cos(x(Z) * y(Z)), True, "product"),
    "x-y": (lambda Z: x(Z) - y(Z), True, "difference"),
    "sqrt(x^2+y^2)": (lambda Z: torch.sqrt(x(Z) ** 2 + y(Z) ** 2), True, None),
    "x/(1+y)+y": (lambda Z: x(Z) / (1 + y(Z)) + y(Z), False, None),
}
X2 = sample(400, 0.5, 2.5, 2)


@pytest.mark.parametrize("noisy", [False, True], ids=["exact", "noise1pct"])
@pytest.mark.parametrize("name", list(CASES))
def test_known_functions(name: str, noisy: bool) -> None:
    f, single, sym = CASES[name]
    g, tol = surrogate_and_tol(f, X2, noisy)
    log = DecisionLog()
    assert single_combination(g, X2, tol, log=log).passed is single
    ranked = symmetry(g, X2, 0, 1, tol, log=log)
    assert [d.statistic for d in ranked] == sorted(d.statistic for d in ranked)
    passing = [d.test.removeprefix("symmetry_") for d in ranked if d.passed]
    assert passing == ([sym] if sym else []), ranked
    assert len(log.decisions) == 1 + 4
    json.dumps(log.to_json())  # every decision is JSON-ready


@pytest.mark.parametrize("noisy", [False, True], ids=["exact", "noise1pct"])
def test_three_variables_not_single_combination(noisy: bool) -> None:
    """x·y + z is not a single combination (the x/z gradient ratio depends on y); the exact x·y·z is one
    (exp(log x + log y + log z)). With 1% noise x·y·z sits at the tolerance (third derivatives amplify the error),
    so only the exact case is asserted for it."""
    X = sample(400, 0.5, 2.5, 3, seed=3)
    g, tol = surrogate_and_tol(lambda Z: Z[:, 0] * Z[:, 1] + Z[:, 2], X, noisy)
    assert not single_combination(g, X, tol).passed
    if not noisy:
        assert single_combination(lambda Z: Z[:, 0] * Z[:, 1] * Z[:, 2], X, tol).passed


def test_statistics_are_scale_free() -> None:
    """Rescaling and shifting f and rescaling the inputs leaves every statistic unchanged."""
    s = torch.tensor([3.0, 0.2], dtype=torch.float64)

    def f(Z):
        return torch.sqrt(Z[:, 0] ** 2 + Z[:, 1] ** 2) + Z[:, 0] * Z[:, 1]

    def scaled(Z):
        return 7.0 * f(Z / s)

    def shifted(Z):
        return scaled(Z) - 2.0

    Xs = X2 * s
    for g, test in ((shifted, lambda h, Z: single_combination(h, Z, 0.1)),
                    (shifted, lambda h, Z: symmetry(h, Z, 0, 1, 0.1, combinations=("product",))[0])):
        a, b = test(f, X2).statistic, test(g, Xs).statistic
        assert a > 1e-3 and b == pytest.approx(a, rel=1e-9)


def test_irrelevant_variable_and_batching() -> None:
    """A variable f ignores is skipped by the single-combination test; small batches give the same numbers as one
    batch."""
    X = sample(200, 0.5, 2.0, 3, seed=7)

    def f(Z):
        return torch.exp(Z[:, 0] * Z[:, 1])

    dec = single_combination(f, X, 0.05)
    assert dec.passed and "no effect: [2]" in dec.detail
    assert single_combination(f, X, 0.05, batch_size=17).statistic == pytest.approx(dec.statistic, rel=1e-12)
    v, g, h = derivatives(f, X, (0, 1))
    assert v.shape == (200,) and g.shape == (200, 3) and h.shape == (200, 2, 3)
    e = torch.exp(X[:, 0] * X[:, 1])
    assert torch.allclose(g[:, 0], X[:, 1] * e) and torch.allclose(h[:, 0, 1], e * (1 + X[:, 0] * X[:, 1]))
    assert not g[:, 2].any() and not h[:, :, 2].any()  # the ignored variable
    for a, b in zip((v, g, h), derivatives(f, X, (0, 1), batch_size=17)):
        assert torch.allclose(a, b, rtol=1e-12, atol=0.0)


def test_calibrated_tolerance_rule() -> None:
    assert calibrated_tolerance(0.0) == pytest.approx(0.05)
    assert calibrated_tolerance(1e-4) == pytest.approx(0.10)
    assert calibrated_tolerance(1e-6) < calibrated_tolerance(1e-4) < calibrated_tolerance(1e-2)
    assert calibrated_tolerance(10.0) == 1.0 and calibrated_tolerance(-1.0) == pytest.approx(0.05)


def test_decision_json() -> None:
    d = Decision("additive", ((0, 1), (2,)), 0.25, 0.1, False, "worst pair (0, 2)")
    assert json.loads(json.dumps(d.to_json())) == {"test": "additive", "variables": [[0, 1], [2]], "statistic": 0.25,
                                                   "threshold": 0.1, "passed": False, "detail": "worst pair (0, 2)"}


def test_degenerate_surrogates_still_give_decisions() -> None:
    """Constant f, a constant input column, undefined values on some rows, a single row: decisions, no exceptions."""
    X = sample(60, 0.0, 1.0, 3, seed=8)
    X[:, 2] = 1.0

    def constant(Z):
        return torch.zeros(Z.shape[0], dtype=Z.dtype) + 2.0

    _, g, h = derivatives(constant, X, (0,))
    assert not g.any() and not h.any()
    assert symmetry(constant, X, 0, 1, 0.1)[0].statistic == 0.0
    assert single_combination(constant, X, 0.1).passed

    def partial(Z):  # NaN where x0 < 0.5
        return torch.log(Z[:, 0] - 0.5) * Z[:, 1]

    sym = symmetry(partial, X, 0, 1, 0.1)
    assert all(math.isfinite(d.statistic) for d in sym)
    assert len(symmetry(partial, X, 0, 1, 0.1)) == 4
    assert single_combination(lambda Z: Z[:, 0] * Z[:, 1], X[:1], 0.1).passed  # no spread: nothing to test
