"""The affine structure tested and solved on the data (kansci.discover.affine_data): a(r) + b(r)·h as one linear
least-squares fit of Chebyshev series, checked against laws whose a and b are known."""
from __future__ import annotations

import numpy as np
import sympy

from kansci.discover.affine_data import coefficients_on_data, varying_fit
from kansci.discover.engine import Engine


def _rows(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(1.1, 8.9, n), rng.uniform(1.0, 3.0, n)


def test_the_fit_recovers_a_and_b_of_an_affine_law() -> None:
    r, s = _rows()
    y = np.cos(r) + s * np.cos(r) ** 2  # x1·(cos ωt + α cos² ωt) over x1: a = cos r, b = cos² r, h = α
    fit = varying_fit(r, s, y)
    assert fit is not None and fit.nmse < 1e-18
    grid, a, b = fit.on_grid()
    assert grid[0] == r.min() and grid[-1] == r.max()
    np.testing.assert_allclose(a, np.cos(grid), atol=1e-7)
    np.testing.assert_allclose(b, np.cos(grid) ** 2, atol=1e-7)


def test_the_fit_refutes_a_variable_the_law_is_not_affine_in() -> None:
    r, s = _rows()
    y = np.cos(r * s)  # not a(r) + b(r)·h(s) for h = s
    fit = varying_fit(r, s, y)
    assert fit is not None and fit.nmse > 1e-2


def test_degenerate_inputs_give_no_fit() -> None:
    r, s = _rows(50)
    assert varying_fit(np.full(50, 2.0), s, s) is None  # r does not vary
    assert varying_fit(r, np.ones(50), r) is None  # h does not vary
    assert varying_fit(r[:10], s[:10], r[:10]) is None  # too few rows for a series


def test_a_and_b_are_solved_as_values_read_off_the_data() -> None:
    r, s = _rows()
    fit = varying_fit(r, s, np.cos(r) + s * np.cos(r) ** 2)
    assert fit is not None
    engine = Engine(tol=0.07, accept=1e-6, deadline=None)
    x = sympy.Symbol("x")
    a_cands, b_cands = coefficients_on_data(engine, fit, [x], 0)
    grid = np.linspace(1.2, 8.8, 50)
    a = sympy.lambdify(x, a_cands[0].expr, "numpy")(grid)
    b = sympy.lambdify(x, b_cands[0].expr, "numpy")(grid)
    np.testing.assert_allclose(a, np.cos(grid), atol=1e-6)  # cos x
    np.testing.assert_allclose(b, np.cos(grid) ** 2, atol=1e-6)  # (1 + cos 2x)/2
    assert all(c.how.endswith("(on the data)") for c in a_cands + b_cands)
