"""The units check of a formula: sums, powers, functions, constants and the target."""
from __future__ import annotations

import json

import sympy

from kansci.units import FEYNMAN_BASIS, SI, UnitSpec, check_units
from kansci.units.dims import Dim

x, t, m, a, v, A, n, theta = sympy.symbols("x t m a v A n theta")
UNITS = {"x": SI.dim({"m": 1}), "t": SI.dim({"s": 1}), "m": SI.dim({"kg": 1}), "a": SI.dim({"m": 1, "s": -2}),
         "v": SI.dim({"m": 1, "s": -1}), "A": SI.dim({"m": 2}), "n": SI.dim({}), "theta": SI.dim({})}
NEWTON = UnitSpec(SI.dim({"kg": 1, "m": 1, "s": -2}), text="N")


def check(expr: sympy.Expr, target: object = None):
    return check_units(expr, UNITS, target)  # type: ignore[arg-type]


def test_consistent_formula_names_the_target_units_as_declared() -> None:
    result = check(m * a, NEWTON)
    assert result.consistent and result.message == "units: consistent (N)" and result.problem == ""
    assert check(m * a).message == "units: consistent (kg·m/s²)"
    assert check(2.5 * m * a + m * v / t, NEWTON.dim).message == "units: consistent (kg·m/s²)"


def test_adding_metres_to_seconds_is_reported() -> None:
    result = check(x + t)
    assert result.status == "inconsistent" and not result.consistent
    assert "adds " in result.message and "m (x)" in result.message and "s (t)" in result.message
    assert "\n" not in result.message


def test_a_constant_term_is_dimensionless() -> None:
    assert not check(x + 1.5).consistent
    assert check(1 - v ** 2 / (x / t) ** 2, SI.dim({})).consistent


def test_floating_constants_carry_no_units() -> None:
    result = check(9.81 * t ** 2, SI.dim({"m": 1}))
    assert not result.consistent
    assert result.message == "units: inconsistent: the formula has dimension s², the target m"


def test_transcendental_of_a_dimensional_argument() -> None:
    for fn in (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tanh, sympy.atan, sympy.asin):
        result = check(fn(x))
        assert not result.consistent and "must be dimensionless" in result.message, fn
    assert check(x * sympy.exp(-a * t ** 2 / x) * sympy.cos(theta), SI.dim({"m": 1})).consistent


def test_powers() -> None:
    assert check(sympy.sqrt(A), SI.dim({"m": 1})).consistent
    assert check(x ** sympy.Rational(3, 2)).dim == SI.dim({"m": sympy.Rational(3, 2)})
    assert check(x ** 0.5).dim == SI.dim({"m": sympy.Rational(1, 2)})
    assert "non-rational power" in check(x ** sympy.pi).message
    assert "non-rational power" in check(x ** 0.4142135623).message
    assert "symbolic power" in check(x ** n).message
    assert check(theta ** n).consistent and check(2 ** n).consistent
    assert "exponent" in check(theta ** x).message


def test_functions_that_keep_dimensions() -> None:
    assert check(sympy.Abs(x), SI.dim({"m": 1})).consistent
    assert check(sympy.Max(x, v * t), SI.dim({"m": 1})).consistent
    assert not check(sympy.Max(x, t)).consistent
    assert check(sympy.sign(x)).dim == SI.dim({})
    assert check(sympy.atan2(x, v * t)).consistent and not check(sympy.atan2(x, t)).consistent


def test_unknown_symbols_and_nodes() -> None:
    result = check(x * sympy.Symbol("z"))
    assert result.status == "unknown" and "'z'" in result.message
    assert check(sympy.Piecewise((x, x > 0), (0, True))).status == "unknown"


def test_zero_and_constants() -> None:
    assert check(sympy.Integer(0), NEWTON).consistent
    assert check_units(sympy.pi, {}, basis=SI.names).message == "units: consistent (dimensionless)"


def test_other_basis_and_json() -> None:
    units = {"q": FEYNMAN_BASIS.dim({"m": 2, "s": -2, "kg": 1, "V": -1}), "Volt": FEYNMAN_BASIS.dim({"V": 1})}
    result = check_units(sympy.Symbol("q") * sympy.Symbol("Volt"), units, FEYNMAN_BASIS.dim({"kg": 1, "m": 2,
                                                                                            "s": -2}))
    assert result.consistent
    data = json.loads(json.dumps(result.to_dict()))
    assert data == {"status": "consistent", "consistent": True, "message": "units: consistent (kg·m²/s²)",
                    "dim": "kg*m^2/s^2", "target_dim": "kg*m^2/s^2", "problem": ""}


def test_dim_formatting() -> None:
    assert SI.dim({"kg": 1, "m": 2, "s": -2}).format() == "kg·m²/s²"
    assert SI.dim({"s": -1, "A": -1}).format() == "1/(s·A)"
    assert SI.dim({"m": sympy.Rational(1, 2)}).format(ascii=True) == "m^(1/2)"
    assert Dim.none(SI).format() == "dimensionless" and Dim.none(SI).format(ascii=True) == "1"
