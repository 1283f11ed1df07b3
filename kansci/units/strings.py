"""Unit strings (``"N"``, ``"m/s^2"``, ``"J/K"``, ``"ohm"``, ``"dimensionless"``, ``"1"``) into dimensions.

The strings are read by the optional library pint (``pip install "kansci[units]"``), imported on first use only, so
``import kansci`` never needs it. pint has its own expression parser; nothing here calls ``eval``. Only the
dimension of a unit matters: ``km`` and ``m`` are both a length (a scale factor between columns is a constant that
the search absorbs).
"""
from __future__ import annotations

import difflib
import functools
from fractions import Fraction
from typing import Any

from kansci.errors import DataError
from kansci.units.dims import SI, SI_NAMES, Basis, Dim, UnitSpec, as_fraction

__all__ = ["parse_unit", "unit_spec", "require_pint", "PINT_EXTRA"]

#: The pip extra that installs pint.
PINT_EXTRA = "kansci[units]"

# pint's names of the SI base dimensions, in the order of SI_NAMES
_PINT_DIMS = ("[length]", "[time]", "[mass]", "[current]", "[temperature]", "[substance]", "[luminosity]")
_WORDS = {"dimensionless", "1", "none", "unitless", "-"}  # spellings of "no units" accepted without pint


def require_pint() -> Any:
    """The pint module; a :class:`~kansci.errors.DataError` naming the extra to install when it is missing."""
    try:
        import pint
    except ImportError:
        raise DataError("unit strings need the optional package pint, which is not installed",
                        f'install it with: python -m pip install "{PINT_EXTRA}" (or: python -m pip install pint); '
                        "a units CSV with exponent columns works without it") from None
    return pint


@functools.lru_cache(maxsize=1)
def _registry() -> Any:
    return require_pint().UnitRegistry()


_PREFIXES = ("k", "m", "c", "M", "u")  # prefixed short symbols (kg, mm, kN) count as unit names too


@functools.lru_cache(maxsize=1)
def _known_names() -> tuple[str, ...]:
    names = set(_registry())
    names |= {p + n for n in list(names) if len(n) <= 2 for p in _PREFIXES}
    return tuple(sorted(names))


@functools.lru_cache(maxsize=1)
def _by_lower() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for name in _known_names():
        out.setdefault(name.lower(), []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def _suggest(text: str, unknown: str) -> str:
    """A did-you-mean from pint's unit names (prefixed short symbols included): close ignoring case first, then
    with case."""
    lower = _by_lower()
    folded = difflib.get_close_matches(unknown.lower(), list(lower), n=3, cutoff=0.75)
    ranked = sorted(((difflib.SequenceMatcher(None, unknown.lower(), f).ratio(),
                      difflib.SequenceMatcher(None, unknown, name).ratio(), name)
                     for f in folded for name in lower[f]), reverse=True)
    close = [name for *_, name in ranked[:2]]
    if close:
        shown = [text.replace(unknown, c, 1) if unknown in text else c for c in close]
        return "did you mean " + " or ".join(repr(c) for c in shown) + "?"
    return 'write units as pint reads them, e.g. "N", "kg", "m/s^2", "J/K", "ohm" or "dimensionless"'


class UnitTextError(ValueError):
    """A unit string that cannot be read: ``message`` says why, ``hint`` how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.message, self.hint = message, hint


def si_vector(text: str) -> tuple[Fraction, ...]:
    """The SI exponents (over m, s, kg, A, K, mol, cd) of a unit string; ValueError with a hint as its second arg."""
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return (Fraction(0),) * len(SI_NAMES)
    if not stripped:
        raise UnitTextError("the unit is empty", 'write "dimensionless" (or "1") for a quantity without units')
    pint = require_pint()
    registry = _registry()
    try:
        parsed = _parse_expression(registry, stripped)
    except UnitTextError:
        raise
    except pint.errors.UndefinedUnitError as exc:
        names = getattr(exc, "unit_names", None) or ()
        unknown = names[0] if isinstance(names, (tuple, list)) and names else str(names or stripped)
        raise UnitTextError(f"unknown unit {unknown!r} in {stripped!r}", _suggest(stripped, unknown)) from None
    except Exception as exc:  # pint's tokenizer and parser raise several types (SyntaxError, TokenError, ...)
        raise UnitTextError(f"cannot read the unit {stripped!r} ({type(exc).__name__}: {exc})",
                         'write e.g. "m/s^2" or "kg*m^2/s^2"; powers with ^ or **') from None
    dims = getattr(parsed, "dimensionality", None)
    if dims is None:  # a plain number such as "2"
        return (Fraction(0),) * len(SI_NAMES)
    other = [d for d in dims if d not in _PINT_DIMS]
    if other:
        raise UnitTextError(f"the unit {stripped!r} has the dimension {', '.join(other)}, which is not an SI base "
                         "dimension", "use units made of m, s, kg, A, K, mol and cd")
    try:
        return tuple(as_fraction(dims.get(d, 0)) for d in _PINT_DIMS)
    except (ValueError, OverflowError, TypeError):  # m**0.1234567, m**1e999, m**nan
        raise UnitTextError(f"the unit {stripped!r} has a power that is not a simple fraction",
                            'write powers as integers or simple fractions, e.g. "m^2" or "m^(1/2)"') from None


#: The largest power a unit string may take, and the largest exact number (in bits) a power may make: pint computes
#: with Python integers, so ``9**9**9`` would otherwise run for minutes.
MAX_POWER = 1000
MAX_BITS = 4096


def _guarded_power(power: Any) -> Any:
    """pint's ``**`` operator, refusing the powers :data:`MAX_POWER` and :data:`MAX_BITS` rule out."""

    def guarded(left: Any, right: Any) -> Any:
        exponent, base = getattr(right, "magnitude", right), getattr(left, "magnitude", left)
        if isinstance(exponent, (int, float, Fraction)) and not isinstance(exponent, bool):
            too_big = abs(exponent) > MAX_POWER or (isinstance(base, int) and abs(base) > 1
                                                    and base.bit_length() * abs(exponent) > MAX_BITS)
            if too_big:
                shown = repr(exponent) if len(repr(exponent)) <= 24 else f"{str(exponent)[:12]}..."
                raise UnitTextError(f"the power {shown} is too large for a unit",
                                    'write powers as small integers or fractions, e.g. "m^2" or "s^-1"')
        return power(left, right)

    return guarded


def _parse_expression(registry: Any, text: str) -> Any:
    """``registry.parse_expression(text)`` with :func:`_guarded_power` as its ``**`` (pint's own steps; a pint
    without these internals parses unguarded)."""
    import pint.pint_eval as ev
    from pint.util import string_preprocessor

    ops, build, tokenize = (getattr(ev, n, None) for n in ("_BINARY_OPERATOR_MAP", "build_eval_tree", "tokenizer"))
    if not (isinstance(ops, dict) and "**" in ops and callable(build) and callable(tokenize)
            and hasattr(registry, "_eval_token")):
        return registry.parse_expression(text)
    for step in getattr(registry, "preprocessors", ()):
        text = step(text)
    tree = build(tokenize(string_preprocessor(text)))
    value = tree.evaluate(registry._eval_token, {**ops, "**": _guarded_power(ops["**"])})
    return value if isinstance(value, registry.Quantity) else registry.Quantity(value)


def parse_unit(text: str, basis: Basis = SI, *, where: str = "unit") -> Dim:
    """The dimension of a unit string, as exponents over ``basis``.

    Args:
        text: e.g. ``"N"``, ``"kg"``, ``"m/s^2"``, ``"J/K"``, ``"V"``, ``"ohm"``, ``"dimensionless"``, ``"1"``.
        basis: the base dimensions to express it in (SI by default; :data:`~kansci.units.dims.FEYNMAN_BASIS` works
            too, since its T and V are known).
        where: what to call the string in messages (``"units of F"``).

    Raises:
        DataError: an unknown unit (with a did-you-mean from pint's unit names), unreadable text, a dimension the
            basis cannot express, or pint missing (naming the extra ``kansci[units]``). Callers re-raise it with
            their own location (a config key, a file and line).
    """
    if not isinstance(text, str):
        raise DataError(f"{where}: expected a unit string, got {type(text).__name__} {text!r}",
                        'write a string such as "m/s^2"')
    try:
        vector = si_vector(text)
    except DataError:  # pint is missing
        raise
    except UnitTextError as exc:
        raise DataError(f"{where}: {exc.message}", exc.hint) from None
    dim = basis.from_si(vector)
    if dim is None:
        si_text = Dim(SI_NAMES, vector).format()
        reason = (f"the base dimension(s) {', '.join(basis.unknown)} have no known meaning" if basis.unknown
                  else "it is outside their span")
        raise DataError(f"{where}: the unit {text.strip()!r} ({si_text}) cannot be written in the base dimensions "
                        f"{', '.join(basis.names)}: {reason}",
                        "declare it with exponents of the base dimensions in the units CSV instead")
    return dim


def unit_spec(text: str, basis: Basis = SI, *, where: str = "unit") -> UnitSpec:
    """:func:`parse_unit`, keeping the text as written (the label that messages show)."""
    return UnitSpec(parse_unit(text, basis, where=where), text=text.strip())
