"""Buckingham π: dimensionless groups and the target's prefactor, from the dimension matrix.

With inputs x_1..x_n of dimensions D (bases × inputs, rank r) and a target of dimension t, every dimensionally
consistent law is ``y = P(x) · Φ(π_1, ..., π_k)`` with k = n - r. :func:`reduce` chooses the groups and P:

- **Groups.** The exponent vectors of the π's are an exact integer basis of the nullspace of D. Among all such
  bases it takes one where each group has an *own* variable (exponent 1 after clearing denominators where possible,
  absent from every other group) and the other r variables (the *repeating* ones) make up the rest. It tries every
  choice of own variables whose complement spans the dimensions and keeps the simplest by, in order: fewest groups
  whose own exponent is not 1, smallest total |exponent| of groups and prefactor, an integer prefactor, smallest
  sum of squared exponents, own variables earliest in the input order. Each group is divided by the gcd of its
  exponents and signed so that its own exponent is positive. A dimensionless input is always a group on its own.
- **Prefactor.** P is the product of the repeating variables with the target's dimension (unique once they are
  chosen): ``m·c²`` for E(m, v, c), with π = v/c.

When t is not in the column space of D, no P exists (usually a dimensional constant is missing): :func:`reduce`
returns :class:`Unbalanced`, whose one-line ``message`` names the target's dimension and the simplest dimension a
missing constant could have; the caller searches without the reduction.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from kansci.units.dims import Dim, UnitSpec
from kansci.units.exact import gram, integerize, inverse, rank, solve_normal
from kansci.units.reduction import Reduction

__all__ = ["reduce", "reductions", "Reduction", "Unbalanced", "MAX_BASES"]

#: The most own-variable choices tried; beyond it the first valid ones in input order are scored.
MAX_BASES = 5000


@dataclass(frozen=True)
class Unbalanced:
    """The target's dimension cannot be formed from the inputs'. ``missing``: the simplest dimension a constant
    factor would need to have (target ÷ a product of small integer powers of the inputs)."""

    target_dim: Dim
    missing: Dim
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"reduced": False, "target_dim": self.target_dim.format(ascii=True),
                "missing_dim": self.missing.format(ascii=True), "message": self.message}


def _dim(value: Dim | UnitSpec) -> Dim:
    return value.dim if isinstance(value, UnitSpec) else value


def reduce(dims_in: Mapping[str, Dim | UnitSpec], dim_out: Dim | UnitSpec) -> Reduction | Unbalanced:
    """Dimensionless groups and prefactor for inputs ``{name: Dim}`` (in input order) and the target's dimension.

    Returns a :class:`~kansci.units.reduction.Reduction`, or :class:`Unbalanced` when the target's dimension is
    not a product of powers of the inputs' dimensions. Raises ValueError when the dimensions use different bases.
    """
    found = reductions(dims_in, dim_out, 1)
    return found if isinstance(found, Unbalanced) else found[0]


def reductions(dims_in: Mapping[str, Dim | UnitSpec], dim_out: Dim | UnitSpec,
               limit: int) -> list[Reduction] | Unbalanced:
    """The ``limit`` simplest reductions (by the order :func:`reduce` uses; the first is its choice), each with
    its own choice of repeating variables: the same law seen through other groups, e.g. (u/c, v/c) besides
    (c/u, v/u). :class:`Unbalanced` as for :func:`reduce`."""
    names = tuple(dims_in)
    dims = [_dim(d) for d in dims_in.values()]
    target = _dim(dim_out)
    for name, d in zip(names, dims):
        if d.names != target.names:
            raise ValueError(f"the dimension of {name!r} is over ({', '.join(d.names)}), the target's over "
                             f"({', '.join(target.names)})")
    cols = [list(d.exps) for d in dims]  # one column of D per input
    r = rank(cols)
    if rank([*cols, list(target.exps)]) > r:
        return _unbalanced(cols, target)
    n = len(names)
    scored: list[tuple[tuple[object, ...], tuple[int, ...], list[list[int]], list[Fraction]]] = []
    for count, pivots in enumerate(itertools.combinations(range(n), r)):
        if count >= MAX_BASES and scored:
            break
        basis_cols = [cols[i] for i in pivots]
        g_inv = inverse(gram(basis_cols))
        if g_inv is None:
            continue
        own = tuple(j for j in range(n) if j not in pivots)
        groups = []
        for j in own:
            coef = solve_normal(basis_cols, g_inv, [-x for x in cols[j]])
            vec = [Fraction(0)] * n
            vec[j] = Fraction(1)
            for i, a in zip(pivots, coef):
                vec[i] = a
            groups.append(integerize(vec))
        pref = [Fraction(0)] * n
        for i, a in zip(pivots, solve_normal(basis_cols, g_inv, list(target.exps))):
            pref[i] = a
        scored.append((_score(own, groups, pref), own, groups, pref))
    assert scored  # the pivot columns of D always qualify
    scored.sort(key=lambda s: s[0])
    return [Reduction(inputs=names, target_dim=target, prefactor_exponents=tuple(pref),
                      group_exponents=tuple(tuple(g) for g in groups), own=own,
                      group_names=_group_names(names, own, groups))
            for _, own, groups, pref in scored[:max(1, limit)]]


def _score(own: tuple[int, ...], groups: list[list[int]], pref: list[Fraction]) -> tuple[object, ...]:
    not_whole = sum(g[j] != 1 for j, g in zip(own, groups))
    l1 = sum(abs(v) for g in groups for v in g) + sum(abs(p) for p in pref)
    l2 = sum(v * v for g in groups for v in g) + sum(p * p for p in pref)
    fractional = any(p.denominator != 1 for p in pref)
    return (not_whole, l1, fractional, l2, own)


def _group_names(names: tuple[str, ...], own: tuple[int, ...], groups: list[list[int]]) -> tuple[str, ...]:
    """An input's own name for a group that is just that input, else pi1, pi2, ... (never an input's name)."""
    out: list[str] = []
    taken = set(names)
    k = 0
    for j, g in zip(own, groups):
        if sum(v != 0 for v in g) == 1 and g[j] == 1:
            out.append(names[j])
            continue
        k += 1
        name = f"pi{k}"
        while name in taken:
            name += "_"
        taken.add(name)
        out.append(name)
    return tuple(out)


def _unbalanced(cols: list[list[Fraction]], target: Dim) -> Unbalanced:
    """The simplest target ÷ Π x_i^c_i over small integers c_i of an independent set of inputs."""
    independent: list[list[Fraction]] = []
    for c in cols:
        if rank([*independent, c]) > len(independent):
            independent.append(c)
    scale = 1
    for v in [*independent, list(target.exps)]:
        for x in v:
            scale = math.lcm(scale, x.denominator)
    t = np.array([int(x * scale) for x in target.exps], dtype=np.int64)
    best = t
    if independent:
        d = np.array([[int(x * scale) for x in c] for c in independent], dtype=np.int64)  # (r, b)
        span = 2 if len(independent) <= 5 else 1
        grid = np.array(list(itertools.product(range(-span, span + 1), repeat=len(independent))), dtype=np.int64)
        resid = t[None, :] - grid @ d  # (combos, b)
        key = np.lexsort((np.abs(grid).sum(axis=1), np.abs(resid).sum(axis=1), (resid != 0).sum(axis=1)))
        best = resid[key[0]]
    missing = Dim(target.names, tuple(Fraction(int(v), scale) for v in best))
    message = (f"units: the target's dimension {target.format()} cannot be formed from the inputs; a dimensional "
               f"constant (such as one with dimension {missing.format()}) may be missing")
    return Unbalanced(target, missing, message)
