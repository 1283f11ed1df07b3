"""The reduced problem of :func:`kansci.units.buckingham.reduce`: ``y = P(x) · Φ(π_1, ..., π_k)``.

A :class:`Reduction` turns the original columns into the groups' columns and the target into y / P, and turns a
formula Φ found for the reduced problem back into one in the original variables (:meth:`Reduction.restore`).
Symbols are plain ``sympy.Symbol(name)``; any symbol of the same name matches.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy

from kansci.units.dims import Dim

__all__ = ["Reduction"]


def _rational(x: Fraction) -> sympy.Rational:
    return sympy.Rational(x.numerator, x.denominator)


def _by_name(expr: sympy.Expr, mapping: dict[str, sympy.Expr]) -> sympy.Expr:
    return expr.xreplace({s: mapping[s.name] for s in expr.free_symbols
                          if isinstance(s, sympy.Symbol) and s.name in mapping})


@dataclass(frozen=True)
class Reduction:
    """Dimensionless groups and the target's prefactor, over the inputs ``inputs`` (in order).

    Attributes:
        inputs: the input names, in the column order of the X arrays the methods take.
        target_dim: the target's dimension.
        prefactor_exponents: P = Π inputs[i] ** prefactor_exponents[i] (rational; 0 for unused inputs).
        group_exponents: π_g = Π inputs[i] ** group_exponents[g][i] (integers).
        own: the index of each group's own variable (in no other group, nor in P).
        group_names: the reduced problem's column names: an input's name for a group that is just that
            dimensionless input, else ``pi1``, ``pi2``, ... (never clashing with an input's name).
    """

    inputs: tuple[str, ...]
    target_dim: Dim
    prefactor_exponents: tuple[Fraction, ...]
    group_exponents: tuple[tuple[int, ...], ...]
    own: tuple[int, ...]
    group_names: tuple[str, ...]

    # ---------------------------------------------------------------------------------------------- symbolic
    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        return tuple(sympy.Symbol(n) for n in self.inputs)

    @property
    def group_symbols(self) -> tuple[sympy.Symbol, ...]:
        return tuple(sympy.Symbol(n) for n in self.group_names)

    @property
    def n_groups(self) -> int:
        """k; 0 means y = constant × P."""
        return len(self.group_exponents)

    @property
    def prefactor(self) -> sympy.Expr:
        """P in the original symbols (``c**2*m``; ``1`` for a dimensionless target)."""
        return sympy.Mul(*(s ** _rational(e) for s, e in zip(self.symbols, self.prefactor_exponents) if e != 0))

    @property
    def groups(self) -> list[sympy.Expr]:
        """π_1..π_k in the original symbols (``v/c``)."""
        return [sympy.Mul(*(s ** e for s, e in zip(self.symbols, g) if e != 0)) for g in self.group_exponents]

    def restore(self, phi: sympy.Expr) -> sympy.Expr:
        """The formula in the original variables: P · Φ(π), where ``phi`` is in the group symbols."""
        mapping = dict(zip(self.group_names, self.groups))
        return self.prefactor * _by_name(sympy.sympify(phi), mapping)

    def phi_from(self, expr: sympy.Expr) -> sympy.Expr:
        """The Φ that a formula in the original variables implies (exact when the formula is dimensionally
        consistent): the formula with every repeating variable set to 1 and each own variable written through its
        group. ``restore(phi_from(f))`` equals ``f`` for a consistent ``f`` (on positive values, for fractional
        exponents)."""
        mapping: dict[str, sympy.Expr] = {n: sympy.Integer(1) for n in self.inputs}
        for g, j, name in zip(self.group_exponents, self.own, self.group_names):
            mapping[self.inputs[j]] = sympy.Symbol(name) ** sympy.Rational(1, g[j])
        return _by_name(sympy.sympify(expr), mapping)

    # ---------------------------------------------------------------------------------------------- numeric
    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.inputs):
            raise ValueError(f"expected X of shape (n, {len(self.inputs)}) for inputs {list(self.inputs)}, got "
                             f"{X.shape}")
        return X

    @staticmethod
    def _product(X: np.ndarray, exps: tuple[Fraction, ...] | tuple[int, ...]) -> np.ndarray:
        out = np.ones(X.shape[0])
        with np.errstate(all="ignore"):
            for i, e in enumerate(exps):
                if e != 0:
                    out = out * (X[:, i] ** int(e) if Fraction(e).denominator == 1 else
                                 np.power(X[:, i], float(e)))
        return out

    def prefactor_values(self, X: np.ndarray) -> np.ndarray:
        """P on every row of X (n, d) -> (n,). A fractional exponent of a negative value gives NaN."""
        return self._product(self._check(X), self.prefactor_exponents)

    def group_values(self, X: np.ndarray) -> np.ndarray:
        """The reduced inputs: the groups on every row of X (n, d) -> (n, k), columns named ``group_names``."""
        X = self._check(X)
        return np.column_stack([self._product(X, g) for g in self.group_exponents]) if self.group_exponents \
            else np.empty((X.shape[0], 0))

    def target_values(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The reduced target y / P, (n,)."""
        with np.errstate(all="ignore"):
            return np.asarray(y, dtype=np.float64) / self.prefactor_values(X)

    def applicable(self, X: np.ndarray, y: np.ndarray | None = None) -> str | None:
        """None when the reduced columns (and target) are finite on every row; else why not, in one line (a zero
        value in a denominator, a negative value under a fractional power)."""
        X = self._check(X)
        bad = ~np.isfinite(self.group_values(X)).all(axis=1) | ~np.isfinite(self.prefactor_values(X))
        if y is not None:
            bad |= ~np.isfinite(self.target_values(X, y))
        if not bad.any():
            return None
        return (f"units: the dimensionless groups are not finite on {int(bad.sum())} of {len(bad)} rows (a zero in "
                "a denominator, or a negative value under a fractional power)")

    # ---------------------------------------------------------------------------------------------- reports
    def describe(self, target: str = "y") -> str:
        """One line: ``E = c**2*m · Φ(pi1 = v/c)``."""
        groups = ", ".join(n if sympy.Symbol(n) == g else f"{n} = {sympy.sstr(g)}"
                           for n, g in zip(self.group_names, self.groups))
        return f"{target} = {sympy.sstr(self.prefactor)} · Φ({groups})"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: prefactor and groups as text and exponents (fractions as ``"1/2"`` strings)."""
        return {
            "reduced": True,
            "inputs": list(self.inputs),
            "target_dim": self.target_dim.format(ascii=True),
            "prefactor": sympy.sstr(self.prefactor),
            "prefactor_exponents": {n: str(e) for n, e in zip(self.inputs, self.prefactor_exponents) if e != 0},
            "groups": [{"name": n, "expr": sympy.sstr(g), "own": self.inputs[j],
                        "exponents": {x: e for x, e in zip(self.inputs, exps) if e != 0}}
                       for n, g, j, exps in zip(self.group_names, self.groups, self.own, self.group_exponents)],
        }
