"""Snapping with evidence (:func:`kansci.symbolic.formula.snap_constants`): a constant becomes a simple value only
when that value lies within its own uncertainty and is not there by chance; otherwise it stays a fitted number."""
from __future__ import annotations

import math

import numpy as np
import sympy

from kansci.symbolic.formula import snap_candidates, snap_constants
from kansci.symbolic.uncertainty import fit_uncertainty

x, z = sympy.symbols("x z", real=True)
TOL = 1e-14  # the default symbolic.snap_tol


def noisy(truth: np.ndarray, level: float, seed: int) -> np.ndarray:
    """``truth`` plus Gaussian noise of ``level`` × RMS(truth)."""
    rng = np.random.default_rng(seed)
    return truth + level * np.sqrt(np.mean(truth**2)) * rng.standard_normal(truth.shape)


def test_candidates_need_coverage_and_no_chance() -> None:
    assert snap_candidates(3.14159265358979) == [sympy.pi]           # exact data: the float64 floor
    assert snap_candidates(2.0000000001) == [sympy.Integer(2)]
    assert snap_candidates(3.1416, 0.001) == [sympy.pi]               # covered, and pi is not there by chance
    assert snap_candidates(3.16, 0.001) == []                         # pi is 18 standard errors away
    assert snap_candidates(3.16, 0.02) == []                          # covered, but so wide a window finds pi by chance
    assert snap_candidates(3.2, 0.002) == []                          # 16/5 is covered, but such values are dense
    assert snap_candidates(0.004, 0.002) == [sympy.Integer(0)]        # not significant: the term may go
    assert snap_candidates(0.5003, 0.001)[0] == sympy.Rational(1, 2)
    assert snap_candidates(2.9999999e12, 1e5) == [3 * sympy.Integer(10) ** 12]
    assert snap_candidates(1.3, math.inf)[:2] == [sympy.Integer(0), sympy.Integer(1)]  # unidentifiable: simplest


def test_exact_pi_becomes_pi() -> None:
    X = np.linspace(0.1, 3, 200)[:, None]
    y = np.pi * X[:, 0] ** 2
    expr, nmse, log = snap_constants(sympy.Float(3.14159265358979) * x**2, [x], X, y, tol=TOL)
    assert expr == sympy.pi * x**2 and nmse < 1e-20
    assert log[0]["snapped_to"] == "pi"


def test_true_3_2_with_noise_stays_a_number() -> None:
    """1 % noise: 3.2 is fitted to about ±0.002, so pi (0.058 away) is far outside its interval."""
    X = np.linspace(0.5, 2.0, 200)[:, None]
    y = noisy(3.2 * X[:, 0], 0.01, seed=1)
    expr, _, log = snap_constants(sympy.Float(3.0) * x, [x], X, y, tol=TOL)
    assert not expr.has(sympy.pi) and not log
    (c,) = expr.atoms(sympy.Float)
    fit = fit_uncertainty(expr, [x], X, y)
    assert abs(float(c) - 3.2) < 3 * fit.stderr[0] and abs(float(c) - math.pi) > 10 * fit.stderr[0]


def test_true_pi_with_noise_may_become_pi() -> None:
    """1 % noise on 400 rows: stderr about 0.0016; pi lies within it and so simple a value is rarely there by
    chance, so the constant becomes pi."""
    X = np.linspace(0.5, 2.0, 400)[:, None]
    y = noisy(np.pi * X[:, 0], 0.01, seed=2)
    expr, _, log = snap_constants(sympy.Float(3.1) * x, [x], X, y, tol=TOL)
    assert expr == sympy.pi * x, expr
    assert log[0]["sigmas"] < 3 and log[0]["stderr"] < 0.002


def test_few_noisy_rows_keep_the_number() -> None:
    """The same law on 8 rows with 5 % noise: the interval is wide, pi is not evidenced, the number stays."""
    X = np.linspace(0.5, 2.0, 8)[:, None]
    y = noisy(np.pi * X[:, 0], 0.05, seed=3)
    expr, _, _ = snap_constants(sympy.Float(3.0) * x, [x], X, y, tol=TOL)
    assert not expr.has(sympy.pi) and len(expr.atoms(sympy.Float)) == 1


def test_insignificant_term_goes_significant_one_stays() -> None:
    X = np.linspace(0.0, 2.0, 300)[:, None]
    start = sympy.Float(2.0) * x + sympy.Float(0.01) * x**3
    y = noisy(2 * X[:, 0], 0.01, seed=4)                      # no cubic term in the data
    expr, _, log = snap_constants(start, [x], X, y, tol=TOL)
    assert not expr.has(x**3) and any(e["snapped_to"] == "0" for e in log)
    y = noisy(2 * X[:, 0] + 0.05 * X[:, 0] ** 3, 0.01, seed=4)  # a small but measured cubic term
    expr, _, _ = snap_constants(start, [x], X, y, tol=TOL)
    assert expr.has(x**3)
    (c3,) = [float(f) for f in expr.atoms(sympy.Float) if abs(float(f) - 0.05) < 0.02]
    assert abs(c3 - 0.05) < 0.01


def test_unidentifiable_constants_snap_to_a_simple_form() -> None:
    """c1·sin(x)² + c2·cos(x)² + c3 on exact data 2·sin(x)² + 3: sin² + cos² = 1, so one of the three can be
    anything; it becomes 0, the others absorb it, and then snap to their exact values."""
    X = np.linspace(-2, 2, 100)[:, None]
    y = 2 * np.sin(X[:, 0]) ** 2 + 3
    start = sympy.Float(1.7) * sympy.sin(x) ** 2 + sympy.Float(-0.3) * sympy.cos(x) ** 2 + sympy.Float(3.3)
    expr, nmse, log = snap_constants(start, [x], X, y, tol=TOL)
    assert not expr.atoms(sympy.Float) and nmse < 1e-20, expr
    assert len(sympy.Add.make_args(expr)) == 2 and log[0]["snapped_to"] == "0" and log[0]["stderr"] is None
