"""The units check of a formula: is every sum, function argument and power dimensionally sound, and does the
result have the target's units?

Rules (one walk over the sympy tree):

- a symbol has its declared dimension; every number (integer, rational, float, ``pi``, ``E``) is dimensionless,
  so a fitted floating constant never carries units: ``9.81*t**2`` is a time squared, not a length;
- the terms of a sum must share one dimension (``x + t`` with x in m and t in s is reported);
- a product adds exponents; a power multiplies them. A dimensional base needs a number as exponent: a rational
  one (``sqrt(A)``, ``x**(3/2)``) is fine, a float one counts as the simple fraction it equals (``x**0.5``) and
  otherwise, like an irrational (``x**pi``) or symbolic (``x**n``) exponent, is reported. Exponents must be
  dimensionless;
- ``Abs``, ``Max``, ``Min`` keep their argument's dimension (``Max``/``Min`` arguments must agree); ``sign`` is
  dimensionless of anything; ``atan2`` takes two arguments of one dimension; every other function (exp, log, sin,
  cos, tanh, atan, asin, erf, ...) needs a dimensionless argument and gives a dimensionless result.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy
from sympy.core.function import Application

from kansci.units.dims import Dim, UnitSpec, as_fraction

__all__ = ["UnitsCheck", "check_units"]

_KEEP = (sympy.Abs, sympy.Max, sympy.Min)
_SHOW = 60  # characters of a subexpression shown in a message


@dataclass(frozen=True)
class UnitsCheck:
    """The verdict: ``status`` is ``"consistent"``, ``"inconsistent"`` or ``"unknown"`` (a symbol without units,
    or a node the check does not know); ``dim`` the formula's dimension when it has one; ``problem`` what is wrong
    (empty when consistent); ``message`` one line for people (``units: consistent (N)``)."""

    status: str
    message: str
    dim: Dim | None = None
    target: Dim | None = None
    problem: str = ""

    @property
    def consistent(self) -> bool:
        return self.status == "consistent"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, for ``symbolic/formula.json``'s ``units`` entry."""
        return {"status": self.status, "consistent": self.consistent, "message": self.message,
                "dim": None if self.dim is None else self.dim.format(ascii=True),
                "target_dim": None if self.target is None else self.target.format(ascii=True),
                "problem": self.problem}


class _Problem(Exception):
    def __init__(self, text: str, status: str = "inconsistent") -> None:
        super().__init__(text)
        self.text = text
        self.status = status


def _show(expr: sympy.Basic) -> str:
    text = sympy.sstr(expr)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


class _Walker:
    def __init__(self, units: Mapping[str, Dim], none: Dim) -> None:
        self.units = units
        self.none = none

    def dim(self, node: sympy.Basic) -> Dim:
        if isinstance(node, sympy.Symbol):
            if node.name not in self.units:
                raise _Problem(f"no units declared for {node.name!r}", "unknown")
            return self.units[node.name]
        if node.is_number:
            return self.none
        if isinstance(node, sympy.Add):
            return self.add(node)
        if isinstance(node, sympy.Mul):
            out = self.none
            for arg in node.args:
                out = out * self.dim(arg)
            return out
        if isinstance(node, sympy.Pow):
            return self.power(node)
        if isinstance(node, Application):  # functions, and Max/Min
            return self.function(node)
        raise _Problem(f"cannot check the units of {_show(node)} ({type(node).__name__})", "unknown")

    def add(self, node: sympy.Add) -> Dim:
        dims = [(arg, self.dim(arg)) for arg in node.args]
        first_arg, first = dims[0]
        for arg, d in dims[1:]:
            if d != first:
                raise _Problem(f"adds {first.format()} ({_show(first_arg)}) to {d.format()} ({_show(arg)}) in "
                               f"{_show(node)}")
        return first

    def power(self, node: sympy.Pow) -> Dim:
        base, exponent = node.args
        exp_dim = self.dim(exponent)
        if not exp_dim.dimensionless:
            raise _Problem(f"the exponent of {_show(node)} has dimension {exp_dim.format()}")
        base_dim = self.dim(base)
        if base_dim.dimensionless:
            return self.none
        if not exponent.is_number:
            raise _Problem(f"{_show(node)} raises a quantity of dimension {base_dim.format()} to a symbolic power")
        if isinstance(exponent, (sympy.Rational, sympy.Float)):
            try:
                return base_dim ** as_fraction(exponent)
            except ValueError:
                pass
        raise _Problem(f"{_show(node)} raises a quantity of dimension {base_dim.format()} to the non-rational power "
                       f"{_show(exponent)}")

    def function(self, node: sympy.Basic) -> Dim:
        dims = [self.dim(arg) for arg in node.args]
        name = type(node).__name__
        if isinstance(node, _KEEP):
            if any(d != dims[0] for d in dims[1:]):
                raise _Problem(f"{name} of arguments with different dimensions in {_show(node)}")
            return dims[0]
        if isinstance(node, sympy.sign):
            return self.none
        if isinstance(node, sympy.atan2):
            if dims[0] != dims[1]:
                raise _Problem(f"atan2 of arguments with dimensions {dims[0].format()} and {dims[1].format()} in "
                               f"{_show(node)}")
            return self.none
        for arg, d in zip(node.args, dims):
            if not d.dimensionless:
                raise _Problem(f"{name} of {_show(arg)}, which has dimension {d.format()} (must be dimensionless)")
        return self.none


def _as_dim(value: Dim | UnitSpec) -> Dim:
    return value.dim if isinstance(value, UnitSpec) else value


def check_units(expr: sympy.Expr, units: Mapping[str, Dim | UnitSpec], target: Dim | UnitSpec | None = None, *,
                basis: tuple[str, ...] | None = None) -> UnitsCheck:
    """Check a formula's units against the declared units of its symbols (``{name: Dim or UnitSpec}``, matched by
    symbol name) and, when given, the target's. Never raises for a bad formula: the verdict is in the result.

    ``basis`` names the base dimensions when ``units`` is empty (a constant formula); otherwise it is taken from
    the units. The message names the target's units as declared (``units: consistent (N)``), else the dimension.
    """
    dims = {name: _as_dim(v) for name, v in units.items()}
    target_dim = None if target is None else _as_dim(target)
    names = next(iter(dims.values())).names if dims else (target_dim.names if target_dim is not None else basis)
    none = Dim.none(names or ())
    label = (target.label if isinstance(target, UnitSpec) else target_dim.format()) if target_dim is not None else ""
    expr = sympy.sympify(expr)
    try:
        dim = _Walker(dims, none).dim(expr)
    except _Problem as p:
        return UnitsCheck(p.status, f"units: {p.status}: {p.text}", None, target_dim, p.text)
    except ValueError as exc:  # declared dimensions over different bases
        return UnitsCheck("unknown", f"units: unknown: {exc}", None, target_dim, str(exc))
    if expr == 0 and target_dim is not None:  # zero has every dimension
        dim = target_dim
    if target_dim is not None and dim != target_dim:
        problem = f"the formula has dimension {dim.format()}, the target {label}" + \
            (f" ({target_dim.format()})" if label != target_dim.format() else "")
        return UnitsCheck("inconsistent", f"units: inconsistent: {problem}", dim, target_dim, problem)
    return UnitsCheck("consistent", f"units: consistent ({label or dim.format()})", dim, target_dim)
