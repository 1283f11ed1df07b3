"""Dimensions as exact exponent vectors over a chosen set of base dimensions.

A :class:`Basis` names the base dimensions (the columns of a units table: ``m, s, kg, T, V`` in the AI Feynman
layout, ``m, s, kg, A, K, mol, cd`` for SI). Where a base's meaning is known (:data:`KNOWN_BASES`), the basis can
also take in unit strings, which are parsed into SI exponents first and then re-expressed in the basis.
A :class:`Dim` is one dimension: a tuple of :class:`fractions.Fraction` exponents, one per base. A
:class:`UnitSpec` is what a column was declared with: its dimension plus how it was written.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import sympy

__all__ = ["Basis", "Dim", "UnitSpec", "SI_NAMES", "SI", "FEYNMAN_BASIS", "KNOWN_BASES", "as_fraction"]

#: The seven SI base dimensions, as unit symbols, in the order of every SI exponent vector in this package.
SI_NAMES: tuple[str, ...] = ("m", "s", "kg", "A", "K", "mol", "cd")


def _si(**exps: int) -> tuple[Fraction, ...]:
    return tuple(Fraction(exps.get(n, 0)) for n in SI_NAMES)


#: Base-dimension names whose meaning is known, as SI exponent vectors. ``T`` is temperature, as in the AI Feynman
#: units table (not tesla); ``V`` is the volt, the AI Feynman table's fifth base.
KNOWN_BASES: dict[str, tuple[Fraction, ...]] = {
    "m": _si(m=1), "s": _si(s=1), "kg": _si(kg=1), "A": _si(A=1), "K": _si(K=1), "mol": _si(mol=1),
    "cd": _si(cd=1), "T": _si(K=1), "V": _si(kg=1, m=2, s=-3, A=-1),
    "length": _si(m=1), "time": _si(s=1), "mass": _si(kg=1), "current": _si(A=1), "temperature": _si(K=1),
    "substance": _si(mol=1), "luminosity": _si(cd=1),
}

# display order: mass, length, time first (kg·m²/s²), then the rest in the basis' own order
_DISPLAY_FIRST = ("kg", "mass", "m", "length", "s", "time")
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def as_fraction(value: object) -> Fraction:
    """An exact exponent from an int, Fraction, sympy Rational/Integer or a float that is a simple fraction."""
    if isinstance(value, bool):
        raise TypeError("a bool is not an exponent")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, (float, sympy.Float)):
        approx = Fraction(float(value)).limit_denominator(1000)
        if abs(float(approx) - float(value)) > 1e-9 * max(1.0, abs(float(value))):
            raise ValueError(f"exponent {value} is not a simple fraction")
        return approx
    raise TypeError(f"not an exponent: {value!r}")


@dataclass(frozen=True)
class Basis:
    """Named base dimensions. ``si[i]`` is base ``i`` as an SI exponent vector (over :data:`SI_NAMES`), or None
    when its meaning is unknown (then unit strings cannot be expressed in this basis)."""

    names: tuple[str, ...]
    si: tuple[tuple[Fraction, ...] | None, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"repeated base dimension in {self.names}")
        if not self.si:
            object.__setattr__(self, "si", tuple(KNOWN_BASES.get(n) for n in self.names))
        if len(self.si) != len(self.names):
            raise ValueError("one SI vector per base dimension")

    @classmethod
    def named(cls, names: Iterable[str]) -> Basis:
        """A basis of these names; the meanings of :data:`KNOWN_BASES` are filled in."""
        return cls(tuple(names))

    @property
    def unknown(self) -> tuple[str, ...]:
        """The bases whose meaning is not known."""
        return tuple(n for n, v in zip(self.names, self.si) if v is None)

    @cached_property
    def _si_matrix(self) -> sympy.Matrix | None:
        if self.unknown or not self.names:
            return None
        return sympy.Matrix([[sympy.Rational(x.numerator, x.denominator) for x in v] for v in self.si]).T

    def from_si(self, vector: Sequence[Fraction]) -> Dim | None:
        """The dimension with these SI exponents, in this basis; None when the basis cannot express it (a base of
        unknown meaning, or a dimension outside the span of the bases)."""
        matrix = self._si_matrix
        if all(x == 0 for x in vector):
            return Dim.none(self)
        if matrix is None:
            return None
        rhs = sympy.Matrix([sympy.Rational(x.numerator, x.denominator) for x in vector])
        try:
            sol, params = matrix.gauss_jordan_solve(rhs)
        except ValueError:
            return None
        sol = sol.subs({p: 0 for p in params})
        return Dim(self.names, tuple(as_fraction(x) for x in sol))

    def dim(self, exponents: Mapping[str, object] | Sequence[object]) -> Dim:
        """A dimension from ``{base: exponent}`` (missing bases are 0) or from one exponent per base, in order."""
        if isinstance(exponents, Mapping):
            unknown = [k for k in exponents if k not in self.names]
            if unknown:
                raise KeyError(f"not a base dimension of ({', '.join(self.names)}): {', '.join(unknown)}")
            return Dim(self.names, tuple(as_fraction(exponents.get(n, 0)) for n in self.names))
        values = list(exponents)
        if len(values) != len(self.names):
            raise ValueError(f"expected {len(self.names)} exponents for ({', '.join(self.names)}), got {len(values)}")
        return Dim(self.names, tuple(as_fraction(v) for v in values))


@dataclass(frozen=True)
class Dim:
    """A dimension: exact exponents over the named bases. ``*``, ``/`` and ``**`` (rational powers) combine
    dimensions of one basis; ``format()`` writes ``kg·m²/s²`` (or ``kg*m^2/s^2`` with ``ascii=True``)."""

    names: tuple[str, ...]
    exps: tuple[Fraction, ...]

    @classmethod
    def none(cls, basis: Basis | Sequence[str]) -> Dim:
        """The dimensionless dimension of a basis."""
        names = tuple(basis.names if isinstance(basis, Basis) else basis)
        return cls(names, (Fraction(0),) * len(names))

    @property
    def dimensionless(self) -> bool:
        return all(e == 0 for e in self.exps)

    def as_dict(self) -> dict[str, Fraction]:
        """The non-zero exponents, ``{base: exponent}``."""
        return {n: e for n, e in zip(self.names, self.exps) if e != 0}

    def _same(self, other: Dim) -> None:
        if self.names != other.names:
            raise ValueError(f"dimensions over different bases: ({', '.join(self.names)}) and "
                             f"({', '.join(other.names)})")

    def __mul__(self, other: Dim) -> Dim:
        self._same(other)
        return Dim(self.names, tuple(a + b for a, b in zip(self.exps, other.exps)))

    def __truediv__(self, other: Dim) -> Dim:
        self._same(other)
        return Dim(self.names, tuple(a - b for a, b in zip(self.exps, other.exps)))

    def __pow__(self, power: object) -> Dim:
        p = as_fraction(power)
        return Dim(self.names, tuple(e * p for e in self.exps))

    def format(self, ascii: bool = False) -> str:
        """``kg·m²/s²``; ``dimensionless`` when all exponents are 0. ``ascii=True``: ``kg*m^2/s^2`` and ``1``."""
        if self.dimensionless:
            return "1" if ascii else "dimensionless"
        order = sorted(range(len(self.names)), key=lambda i: (_DISPLAY_FIRST.index(self.names[i])
                                                              if self.names[i] in _DISPLAY_FIRST else 99, i))
        up = [_power(self.names[i], self.exps[i], ascii) for i in order if self.exps[i] > 0]
        down = [_power(self.names[i], -self.exps[i], ascii) for i in order if self.exps[i] < 0]
        dot = "*" if ascii else "·"
        text = dot.join(up) if up else "1"
        if down:
            text += "/" + (down[0] if len(down) == 1 else "(" + dot.join(down) + ")")
        return text

    def __str__(self) -> str:
        return self.format()


def _power(name: str, e: Fraction, ascii: bool) -> str:
    if e == 1:
        return name
    if e.denominator == 1:
        return f"{name}^{e.numerator}" if ascii else name + str(e.numerator).translate(_SUPERSCRIPT)
    return f"{name}^({e.numerator}/{e.denominator})"


@dataclass(frozen=True)
class UnitSpec:
    """A column's declared units: its dimension, the unit string as written (``"N"``; None for a units-table row)
    and the table's free-text description (``"Force"``)."""

    dim: Dim
    text: str | None = None
    description: str = ""

    @property
    def label(self) -> str:
        """How messages name these units: the unit string as written, else the formatted dimension."""
        return self.text if self.text else self.dim.format()


#: The SI basis: m, s, kg, A, K, mol, cd.
SI = Basis(SI_NAMES)
#: The AI Feynman units table's basis: m, s, kg, T (temperature), V (volt).
FEYNMAN_BASIS = Basis(("m", "s", "kg", "T", "V"))
