"""The whole Feynman table under its units: every true formula passes the units check (except the one the
benchmark's README names), and the Buckingham reduction of every balanced equation reassembles the truth."""
from __future__ import annotations

import numpy as np
import pytest

from kansci.data.feynman import FeynmanEquation, feynman_table
from kansci.expr.evaluate import to_numpy
from kansci.units import UNBALANCED, Reduction, check_units, feynman_problem_units, reduce

EQUATIONS = feynman_table()


def sample(eq: FeynmanEquation, n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lows = np.array([lo for _, lo, _ in eq.variables])
    highs = np.array([hi for _, _, hi in eq.variables])
    return rng.uniform(lows, highs, size=(n, len(lows)))


def test_the_table_covers_every_equation() -> None:
    assert len(EQUATIONS) == 100 and UNBALANCED == {"I.43.16"}
    for eq in EQUATIONS:
        feynman_problem_units(eq)  # raises if a variable or the output has no row


@pytest.mark.parametrize("eq", EQUATIONS, ids=[eq.id for eq in EQUATIONS])
def test_true_formula_units_and_reduction(eq: FeynmanEquation) -> None:
    declared = feynman_problem_units(eq)
    expr = eq.expr()
    result = check_units(expr, declared.inputs, declared.target)
    if eq.id in UNBALANCED:
        assert result.status == "inconsistent", result.message
        return
    assert result.consistent, f"{eq.id}: {result.message}"

    red = reduce(declared.input_dims(), declared.target.dim)
    assert isinstance(red, Reduction), f"{eq.id}: {red}"
    assert red.n_groups <= len(eq.names)
    X = sample(eq)
    y = to_numpy(expr, eq.names)(X)
    phi = red.phi_from(expr)
    assert {s.name for s in phi.free_symbols} <= set(red.group_names)
    # the reduced problem: its target is Φ of its columns
    Z, t = red.group_values(X), red.target_values(X, y)
    assert red.applicable(X, y) is None
    assert np.allclose(to_numpy(phi, red.group_names)(Z), t, rtol=1e-8, atol=1e-12)
    # and the reassembled formula, in the original variables, is the truth
    restored = red.restore(phi)
    assert {s.name for s in restored.free_symbols} <= set(eq.names)
    assert np.allclose(to_numpy(restored, eq.names)(X), y, rtol=1e-8, atol=1e-12)


def test_renamed_columns_keep_their_units() -> None:
    eq = next(e for e in EQUATIONS if "I" in e.names)
    renamed = [n + "_" if n == "I" else n for n in eq.names]
    declared = feynman_problem_units(eq, renamed)
    assert list(declared.inputs) == renamed and declared.inputs["I_"].dim.format() == "kg·m²/(s³·V)"
