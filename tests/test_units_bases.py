"""Other dimensionless bases (kansci.pipeline.units_bases): the same law through other groups, searched with the
network trained on the chosen ones. Checked on relativistic velocity addition, w = (u + v)/(1 + u·v/c²), which is
(a + b)/(1 + a·b) in the groups (u/c, v/c) and a tangle in (c/u, v/u)."""
from __future__ import annotations

import numpy as np
import sympy
import torch

from kansci.data import dataset_from_arrays
from kansci.expr.evaluate import to_numpy
from kansci.pipeline.units_bases import _in_basis, other_bases, surrogate_in
from kansci.pipeline.units_step import RunUnits
from kansci.units import SI, DeclaredUnits, Reduction, UnitSpec, reduce, reductions

SPEED = SI.dim({"m": 1, "s": -1})
INPUTS = {"c": SPEED, "v": SPEED, "u": SPEED}


def _law(X: np.ndarray) -> np.ndarray:
    c, v, u = X.T
    return (u + v) / (1 + u * v / c**2)


def _bases() -> tuple[Reduction, Reduction]:
    found = reductions(INPUTS, SPEED, 3)
    assert isinstance(found, list) and len(found) == 3
    chosen = reduce(INPUTS, SPEED)
    assert found[0] == chosen
    by_groups = {tuple(sympy.sstr(g) for g in r.groups): r for r in found}
    assert set(by_groups) == {("c/u", "v/u"), ("v/c", "u/c"), ("c/v", "u/v")}, set(by_groups)  # own in input order
    return chosen, by_groups[("v/c", "u/c")]


def test_reductions_list_every_basis_simplest_first() -> None:
    chosen, alt = _bases()
    assert sympy.sstr(chosen.prefactor) == "u" and sympy.sstr(alt.prefactor) == "c"


def test_the_network_of_one_basis_is_a_surrogate_for_another() -> None:
    chosen, alt = _bases()
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(3, 10, 200), rng.uniform(1, 2, 200), rng.uniform(1, 2, 200)])
    y = _law(X)

    def phi(pi: torch.Tensor) -> torch.Tensor:  # the chosen basis's exact Φ(c/u, v/u) = w/u
        p1, p2 = pi[:, 0], pi[:, 1]
        return (1 + p2) / (1 + p2 / p1**2)

    f_alt = surrogate_in(alt, chosen, phi)
    Z = torch.as_tensor(alt.group_values(X))
    b, a = Z[:, 0], Z[:, 1]  # v/c, u/c
    np.testing.assert_allclose(f_alt(Z).numpy(), ((a + b) / (1 + a * b)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(f_alt(Z).numpy(), alt.target_values(X, y), rtol=1e-12)


def test_a_formula_in_another_basis_is_rewritten_for_the_chosen_groups() -> None:
    chosen, alt = _bases()
    b, a = alt.group_symbols  # v/c, u/c
    symbols = [sympy.Symbol(n, positive=True) for n in chosen.group_names]
    phi = _in_basis((a + b) / (1 + a * b), alt, chosen, symbols)
    assert phi.free_symbols <= set(symbols)
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(3, 10, 50), rng.uniform(1, 2, 50), rng.uniform(1, 2, 50)])
    got = to_numpy(phi, symbols)(chosen.group_values(X))
    np.testing.assert_allclose(got, chosen.target_values(X, _law(X)), rtol=1e-12)


def test_other_bases_skip_the_chosen_one() -> None:
    chosen, alt = _bases()
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.uniform(3, 10, 40), rng.uniform(1, 2, 40), rng.uniform(1, 2, 40)])
    ds = dataset_from_arrays(X, _law(X), input_names=["c", "v", "u"], target_name="w")
    declared = DeclaredUnits(SI, {n: UnitSpec(d) for n, d in INPUTS.items()}, UnitSpec(SPEED), "w")
    units = RunUnits(declared, chosen, ds)
    others = other_bases(units)
    assert alt in others and chosen not in others and len(others) == 2
