"""Buckingham π groups against hand-derived ones, reassembly in the original variables, and the unbalanced case."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import sympy

from kansci.expr.evaluate import to_numpy
from kansci.units import SI, Dim, Reduction, Unbalanced, check_units, reduce

S = sympy.Symbol


def si(**exps: int) -> Dim:
    return SI.dim(exps)


LENGTH, TIME, MASS = si(m=1), si(s=1), si(kg=1)
SPEED, ACCEL, FORCE = si(m=1, s=-1), si(m=1, s=-2), si(kg=1, m=1, s=-2)
ENERGY, NONE = si(kg=1, m=2, s=-2), si()
CHARGE, PERMITTIVITY = si(A=1, s=1), si(A=2, s=4, kg=-1, m=-3)


def reduced(inputs: dict[str, Dim], target: Dim) -> Reduction:
    red = reduce(inputs, target)
    assert isinstance(red, Reduction), red
    return red


def same(a: sympy.Expr, b: sympy.Expr) -> bool:
    return sympy.simplify(a - b) == 0


# ---------------------------------------------------------------------------------------------- hand-derived laws
def test_pendulum_period() -> None:
    # T = f(L, g, m, theta0): mass cannot be balanced by anything, so it drops out; theta0 is its own group
    red = reduced({"L": LENGTH, "g": ACCEL, "m": MASS, "theta0": NONE}, TIME)
    assert red.groups == [S("theta0")] and red.group_names == ("theta0",)
    assert red.prefactor == sympy.sqrt(S("L")) / sympy.sqrt(S("g"))
    assert red.prefactor_exponents == (Fraction(1, 2), Fraction(-1, 2), 0, 0)


def test_drag_force_with_drag_coefficient() -> None:
    red = reduced({"rho": si(kg=1, m=-3), "v": SPEED, "A": si(m=2), "Cd": NONE}, FORCE)
    assert red.groups == [S("Cd")]
    assert same(red.prefactor, S("rho") * S("v") ** 2 * S("A"))


def test_drag_force_with_viscosity_gives_the_reynolds_number() -> None:
    red = reduced({"rho": si(kg=1, m=-3), "v": SPEED, "L": LENGTH, "mu": si(kg=1, m=-1, s=-1)}, FORCE)
    assert len(red.groups) == 1 and red.group_names == ("pi1",)
    assert same(red.groups[0], S("rho") * S("v") * S("L") / S("mu"))  # Re, with rho as its own variable
    assert same(red.prefactor, S("mu") * S("v") * S("L"))  # F = mu v L Φ(Re) (Stokes: Φ = 3π/Re·Re)


def test_coulombs_law() -> None:
    red = reduced({"q1": CHARGE, "q2": CHARGE, "epsilon": PERMITTIVITY, "r": LENGTH}, FORCE)
    assert red.groups == [S("q1") / S("q2")]
    assert same(red.prefactor, S("q2") ** 2 / (S("epsilon") * S("r") ** 2))
    phi = red.phi_from(S("q1") * S("q2") / (4 * sympy.pi * S("epsilon") * S("r") ** 2))
    assert same(phi, S("pi1") / (4 * sympy.pi))


def test_ideal_gas_with_moles_and_gas_constant() -> None:
    red = reduced({"n": si(mol=1), "R": si(kg=1, m=2, s=-2, mol=-1, K=-1), "T": si(K=1), "V": si(m=3)},
                  si(kg=1, m=-1, s=-2))
    assert red.groups == [] and red.n_groups == 0  # p = C·nRT/V, nothing left to search but C
    assert same(red.prefactor, S("n") * S("R") * S("T") / S("V"))


def test_ideal_gas_with_a_count_and_boltzmanns_constant() -> None:
    red = reduced({"N": NONE, "kb": si(kg=1, m=2, s=-2, K=-1), "T": si(K=1), "V": si(m=3)}, si(kg=1, m=-1, s=-2))
    assert red.groups == [S("N")]
    assert same(red.prefactor, S("kb") * S("T") / S("V"))


def test_relativistic_energy_and_reassembly() -> None:
    red = reduced({"m": MASS, "v": SPEED, "c": SPEED}, ENERGY)
    assert red.groups == [S("v") / S("c")] and red.group_names == ("pi1",)
    assert red.prefactor == S("m") * S("c") ** 2
    truth = S("m") * S("c") ** 2 / sympy.sqrt(1 - S("v") ** 2 / S("c") ** 2)
    phi = 1 / sympy.sqrt(1 - S("pi1") ** 2)
    assert same(red.phi_from(truth), phi)
    restored = red.restore(phi)
    assert restored.free_symbols == {S("m"), S("v"), S("c")}
    assert same(restored, truth)
    assert red.describe("E") == "E = c**2*m · Φ(pi1 = v/c)"


def test_groups_are_dimensionless_and_the_prefactor_has_the_targets_units() -> None:
    inputs = {"rho": si(kg=1, m=-3), "v": SPEED, "L": LENGTH, "mu": si(kg=1, m=-1, s=-1), "g": ACCEL}
    red = reduced(inputs, FORCE)
    assert red.n_groups == 2
    for group in red.groups:
        assert check_units(group, inputs, NONE).consistent
    assert check_units(red.prefactor, inputs, FORCE).consistent
    for j, g in zip(red.own, red.group_exponents):  # each own variable whole, and in no other group
        assert g[j] == 1 and sum(1 for h in red.group_exponents if h[j]) == 1 and red.prefactor_exponents[j] == 0


def test_a_group_name_never_clashes_with_an_input() -> None:
    red = reduced({"pi1": LENGTH, "x": LENGTH}, LENGTH)
    assert red.group_names == ("pi1_",) and red.groups == [S("pi1") / S("x")]
    assert same(red.restore(S("pi1_") + 1), S("pi1") + S("x"))


def test_all_dimensionless() -> None:
    red = reduced({"a": NONE, "b": NONE}, NONE)
    assert red.groups == [S("a"), S("b")] and red.prefactor == 1


# ---------------------------------------------------------------------------------------------- numbers
def test_columns_target_and_restore_agree_numerically() -> None:
    red = reduced({"m": MASS, "v": SPEED, "c": SPEED}, ENERGY)
    rng = np.random.default_rng(0)
    X = rng.uniform([1, 1, 3], [5, 2, 10], size=(50, 3))
    y = X[:, 0] * X[:, 2] ** 2 / np.sqrt(1 - (X[:, 1] / X[:, 2]) ** 2)
    Z, t = red.group_values(X), red.target_values(X, y)
    assert Z.shape == (50, 1) and np.allclose(Z[:, 0], X[:, 1] / X[:, 2])
    assert np.allclose(t, 1 / np.sqrt(1 - Z[:, 0] ** 2))
    f = to_numpy(red.restore(1 / sympy.sqrt(1 - S("pi1") ** 2)), ["m", "v", "c"])
    assert np.allclose(f(X), y)
    assert red.applicable(X, y) is None


def test_applicable_names_rows_that_cannot_be_reduced() -> None:
    red = reduced({"L": LENGTH, "g": ACCEL}, TIME)
    X = np.array([[1.0, 9.8], [-1.0, 9.8], [1.0, 0.0]])
    assert np.isnan(red.prefactor_values(X)[1])
    assert "2 of 3 rows" in red.applicable(X)
    with pytest.raises(ValueError, match="shape"):
        red.group_values(np.ones((3, 5)))


def test_to_dict_is_json() -> None:
    red = reduced({"L": LENGTH, "g": ACCEL, "theta0": NONE}, TIME)
    data = json.loads(json.dumps(red.to_dict()))
    assert data["prefactor_exponents"] == {"L": "1/2", "g": "-1/2"}
    assert data["groups"] == [{"name": "theta0", "expr": "theta0", "own": "theta0", "exponents": {"theta0": 1}}]


# ---------------------------------------------------------------------------------------------- unbalanced
def test_a_missing_constant_is_named_in_one_line() -> None:
    result = reduce({"m1": MASS, "m2": MASS, "r": LENGTH}, FORCE)  # Newton's gravity without G
    assert isinstance(result, Unbalanced)
    assert result.missing == si(s=-2)
    assert result.message == ("units: the target's dimension kg·m/s² cannot be formed from the inputs; a "
                              "dimensional constant (such as one with dimension 1/s²) may be missing")
    assert "\n" not in result.message and json.dumps(result.to_dict())


def test_unbalanced_without_inputs_and_with_mixed_bases() -> None:
    result = reduce({}, ENERGY)
    assert isinstance(result, Unbalanced) and result.missing == ENERGY
    other = Dim(("L", "M", "T"), (Fraction(1), Fraction(0), Fraction(0)))
    with pytest.raises(ValueError, match="over"):
        reduce({"x": other}, LENGTH)
