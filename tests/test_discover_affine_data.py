"""The affine structure tested and solved on the data (kansci.discover.affine_data): a(r) + b(r)·h as one linear
least-squares fit of Chebyshev series, checked against laws whose a and b are known."""
from __future__ import annotations

import numpy as np
import sympy

from kansci.discover.affine_data import coefficients_on_data, h_on_data, rank_one_fit, varying_fit
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


def test_the_rank_one_fit_reads_h_off_the_data_from_a_poor_start() -> None:
    rng = np.random.default_rng(3)
    r, x = rng.uniform(0.2, 5.0, 1500), rng.uniform(-4.0, 4.0, 1500)
    y = 1 + r**2 - 2 * r * np.cos(x)  # a squared distance: a = 1 + r², b = −2r, h = cos x
    fit = rank_one_fit(r, x, y)  # started from h = x, which is not cos x
    assert fit is not None and fit.nmse < 1e-20
    grid, h = fit.on_grid()
    assert grid[0] == x.min() and grid[-1] == x.max()
    A = np.column_stack([np.cos(grid), np.ones_like(grid)])  # h is cos x up to an affine map
    coef = np.linalg.lstsq(A, h, rcond=None)[0]
    np.testing.assert_allclose(A @ coef, h, atol=1e-9 * np.ptp(h))


def test_the_rank_one_fit_refutes_a_law_with_no_affine_form() -> None:
    r, s = _rows()
    fit = rank_one_fit(r, s, np.cos(r * s))  # cos(r·s) has no a(r) + b(r)·h(s) form
    assert fit is not None and fit.nmse > 1e-3
    assert rank_one_fit(r, np.full(r.size, 2.0), r) is None  # x does not vary


def test_h_is_solved_as_values_read_off_the_data() -> None:
    rng = np.random.default_rng(4)
    r, x = rng.uniform(0.05, 0.65, 1200), rng.uniform(0.4, 7.5, 1200)
    y = (1 - r * x) / np.sqrt(1 - r**2)  # a Lorentz transformation in its groups: affine in x
    fit = rank_one_fit(r, x, y, np.sin(x) * 0.1 + x)
    assert fit is not None and fit.nmse < 1e-20
    engine = Engine(tol=0.07, accept=1e-9, deadline=None)
    sym = sympy.Symbol("x")
    cands = h_on_data(engine, fit, sym, 0)
    assert cands and cands[0].how.endswith("(on the data)")
    grid = np.linspace(0.5, 7.4, 40)
    h = sympy.lambdify(sym, cands[0].expr, "numpy")(grid)
    slope, offset = np.polyfit(grid, h, 1)  # h is x up to an affine map
    np.testing.assert_allclose(slope * grid + offset, h, atol=1e-8 * np.ptp(h))
