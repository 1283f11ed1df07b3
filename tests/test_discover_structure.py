"""Structure tests on exact closed-form surrogates and on surrogates perturbed to mimic 1% error.

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
    additive_groups,
    additive_separability,
    calibrated_tolerance,
    multiplicative_groups,
    multiplicative_separability,
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


# name -> (f, additive, multiplicative, single combination, passing symmetry or None)
CASES = {
    "x+y^2": (lambda Z: x(Z) + y(Z) ** 2, True, False, True, None),
    "x*sin(y)": (lambda Z: x(Z) * torch.sin(y(Z)), False, True, True, None),
    "exp(x+y)": (lambda Z: torch.exp(x(Z) + y(Z)), False, True, True, "sum"),
    "sin(x+y)": (lambda Z: torch.sin(x(Z) + y(Z)), False, False, True, "sum"),
    "tanh(x/y)": (lambda Z: torch.tanh(x(Z) / y(Z)), False, False, True, "ratio"),
    "cos(x*y)": (lambda Z: torch.cos(x(Z) * y(Z)), False, False, True, "product"),
    "x-y": (lambda Z: x(Z) - y(Z), True, False, True, "difference"),
    "sqrt(x^2+y^2)": (lambda Z: torch.sqrt(x(Z) ** 2 + y(Z) ** 2), False, False, True, None),
    "x/(1+y)+y": (lambda Z: x(Z) / (1 + y(Z)) + y(Z), False, False, False, None),
}
X2 = sample(400, 0.5, 2.5, 2)


@pytest.mark.parametrize("noisy", [False, True], ids=["exact", "noise1pct"])
@pytest.mark.parametrize("name", list(CASES))
def test_known_functions(name: str, noisy: bool) -> None:
    f, additive, multiplicative, single, sym = CASES[name]
    g, tol = surrogate_and_tol(f, X2, noisy)
    log = DecisionLog()
    assert additive_separability(g, X2, [0], [1], tol, log=log).passed is additive
    mult = multiplicative_separability(g, X2, [0], [1], tol, log=log)
    assert mult.passed is multiplicative, mult
    assert single_combination(g, X2, tol, log=log).passed is single
    ranked = symmetry(g, X2, 0, 1, tol, log=log)
    assert [d.statistic for d in ranked] == sorted(d.statistic for d in ranked)
    passing = [d.test.removeprefix("symmetry_") for d in ranked if d.passed]
    assert passing == ([sym] if sym else []), ranked
    assert len(log.decisions) == 3 + 4
    json.dumps(log.to_json())  # every decision is JSON-ready


@pytest.mark.parametrize("noisy", [False, True], ids=["exact", "noise1pct"])
def test_three_variable_groups(noisy: bool) -> None:
    """x·y + z: additive groups {x, y}, {z}; not a single combination (the x/z gradient ratio depends on y)."""
    X = sample(400, 0.5, 2.5, 3, seed=3)
    g, tol = surrogate_and_tol(lambda Z: Z[:, 0] * Z[:, 1] + Z[:, 2], X, noisy)
    groups, decs = additive_groups(g, X, tol)
    assert groups == [(0, 1), (2,)]
    assert [d.variables for d in decs] == [(0, 1), (0, 2), (1, 2)]
    assert [d.passed for d in decs] == [False, True, True]
    assert additive_separability(g, X, [0, 1], [2], tol).passed
    assert not additive_separability(g, X, [0], [1, 2], tol).passed
    assert not single_combination(g, X, tol).passed


def test_multiplicative_groups_three_variables() -> None:
    """x·exp(y)·(1+z²) splits into three factors; x·y + z has no multiplicative split."""
    X = sample(300, 0.5, 2.0, 3, seed=4)
    tol = calibrated_tolerance(0.0)
    assert multiplicative_groups(lambda Z: Z[:, 0] * torch.exp(Z[:, 1]) * (1 + Z[:, 2] ** 2), X, tol)[0] == [
        (0,), (1,), (2,)]
    assert multiplicative_groups(lambda Z: Z[:, 0] * Z[:, 1] + Z[:, 2], X, tol)[0] == [(0, 1, 2)]


def test_multiplicative_refuses_sign_changes_and_zeros() -> None:
    X = sample(300, -2.0, 2.0, 2, seed=5)
    dec = multiplicative_separability(lambda Z: Z[:, 0] * Z[:, 1], X, [0], [1], 0.1)
    assert not dec.passed and "sign" in dec.detail and dec.to_json()["statistic"] is None
    Xp = sample(300, 0.0, 2.0, 2, seed=6)
    near_zero = multiplicative_separability(lambda Z: Z[:, 0] ** 4 * Z[:, 1], Xp, [0], [1], 0.1)
    assert not near_zero.passed and "near zero" in near_zero.detail
    groups, decs = multiplicative_groups(lambda Z: Z[:, 0] * Z[:, 1], X, 0.1)
    assert groups == [(0, 1)] and len(decs) == 1 and not decs[0].passed


def test_statistics_are_scale_free() -> None:
    """Rescaling f and the inputs leaves every statistic unchanged; so does shifting f, except for log|f|."""
    s = torch.tensor([3.0, 0.2], dtype=torch.float64)

    def f(Z):
        return torch.sqrt(Z[:, 0] ** 2 + Z[:, 1] ** 2) + Z[:, 0] * Z[:, 1]

    def scaled(Z):
        return 7.0 * f(Z / s)

    def shifted(Z):
        return scaled(Z) - 2.0

    Xs = X2 * s
    for g, test in ((shifted, lambda h, Z: additive_separability(h, Z, [0], [1], 0.1)),
                    (scaled, lambda h, Z: multiplicative_separability(h, Z, [0], [1], 0.1)),
                    (shifted, lambda h, Z: single_combination(h, Z, 0.1)),
                    (shifted, lambda h, Z: symmetry(h, Z, 0, 1, 0.1, combinations=("product",))[0])):
        a, b = test(f, X2).statistic, test(g, Xs).statistic
        assert a > 1e-3 and b == pytest.approx(a, rel=1e-9)


def test_irrelevant_variable_and_batching() -> None:
    """A variable f ignores is separable from everything and skipped by the single-combination test; small batches
    give the same numbers as one batch."""
    X = sample(200, 0.5, 2.0, 3, seed=7)

    def f(Z):
        return torch.exp(Z[:, 0] * Z[:, 1])

    groups, _ = additive_groups(f, X, 0.05)
    assert groups == [(0, 1), (2,)]
    dec = single_combination(f, X, 0.05)
    assert dec.passed and "no effect: [2]" in dec.detail
    a = additive_separability(f, X, [0], [1], 0.05, batch_size=17).statistic
    assert a == pytest.approx(additive_separability(f, X, [0], [1], 0.05).statistic, rel=1e-12)


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

    assert additive_separability(constant, X, [0], [1, 2], 0.1).statistic == 0.0
    assert symmetry(constant, X, 0, 1, 0.1)[0].statistic == 0.0
    assert single_combination(constant, X, 0.1).passed

    def partial(Z):  # NaN where x0 < 0.5
        return torch.log(Z[:, 0] - 0.5) * Z[:, 1]

    dec = additive_separability(partial, X, [0], [1], 0.1)
    assert not dec.passed and "non-finite" in dec.detail and math.isfinite(dec.statistic)
    assert multiplicative_separability(partial, X, [0], [1], 0.1).passed is False
    assert len(symmetry(partial, X, 0, 1, 0.1)) == 4
    assert single_combination(lambda Z: Z[:, 0] * Z[:, 1], X[:1], 0.1).passed  # no spread: nothing to test
