"""Power laws in log space (kansci.discover.powerlaw), against laws with known exponents."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy

from kansci.discover.powerlaw import fit_power_law, one_signed

SYMS = sympy.symbols("a b c d", positive=True)


def box(n=400, d=4, lo=1.0, hi=5.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, size=(n, d))


def test_exact_law_gives_rational_exponents_and_the_constant():
    X = box()
    y = X[:, 0] * X[:, 1] / (4 * np.pi * X[:, 2] * X[:, 3] ** 2)
    law = fit_power_law(X, y, SYMS)
    assert law.snapped == (Fraction(1), Fraction(1), Fraction(-1), Fraction(-2))
    assert abs(law.constant - 1 / (4 * np.pi)) < 1e-12 and law.nmse < 1e-25
    assert sympy.simplify(law.expr - sympy.Float(law.constant) * SYMS[0] * SYMS[1] / (SYMS[2] * SYMS[3] ** 2)) == 0


def test_half_and_third_powers_and_an_absent_variable():
    X = box(d=3)
    y = 2.5 * np.sqrt(X[:, 0]) / np.cbrt(X[:, 2])
    law = fit_power_law(X, y, SYMS[:3])
    assert law.snapped == (Fraction(1, 2), Fraction(0), Fraction(-1, 3))
    assert SYMS[1] not in law.expr.free_symbols


def test_noise_keeps_a_fitted_exponent_that_no_simple_rational_explains():
    X = box(n=2000, d=2)
    rng = np.random.default_rng(1)
    y = X[:, 0] ** 1.37 * X[:, 1] * (1 + 0.001 * rng.normal(size=len(X)))
    law = fit_power_law(X, y, SYMS[:2])
    assert abs(law.exponents[0] - 1.37) < 0.01
    assert law.snapped[1] == 1  # the exponent 1 is within its standard error; 1.37 is not near p/q with q <= 4
    assert any(isinstance(e, sympy.Float) for e in law.expr.atoms(sympy.Number) if abs(float(e) - 1.37) < 0.01)


def test_no_power_law_through_a_sign_change_or_zero():
    X = box(d=2)
    assert fit_power_law(X, X[:, 0] - 3.0, SYMS[:2]) is None  # y changes sign
    Z = X.copy()
    Z[:, 1] -= 3.0
    assert fit_power_law(Z, X[:, 0], SYMS[:2]) is None  # an input changes sign
    assert one_signed(np.array([1.0, 2.0])) == 1 and one_signed(np.array([-1.0, -2.0])) == -1
    assert one_signed(np.array([1.0, 0.0])) == 0 and one_signed(np.array([1.0, np.nan])) == 0


def test_negative_inputs_with_an_integer_exponent():
    X = -box(d=1)
    law = fit_power_law(X, 3 * X[:, 0] ** 2, SYMS[:1])
    assert law.snapped == (Fraction(2),) and law.nmse < 1e-25


def test_a_non_power_law_fits_badly():
    X = box(d=1)
    law = fit_power_law(X, np.exp(X[:, 0]), SYMS[:1])
    assert law.nmse > 1e-3
