"""Column-name rules. Any non-empty name without control characters is a valid column name and becomes a formula
symbol as it is (:func:`check_name`); how each output writes it is :mod:`kansci.expr.names`. The sympy-clash helpers
remain for the Feynman table, which renames its own variables (``I`` -> ``I_``). No torch import."""
from __future__ import annotations

import functools
import keyword
import unicodedata

import sympy

from kansci.errors import DataError
from kansci.expr.text import reserved_names


# ------------------------------------------------------------------------------------------------- column names
@functools.lru_cache(maxsize=1)
def _sympy_names() -> frozenset[str]:
    return frozenset(n for n in dir(sympy) if not n.startswith("_"))


def clashes_with_sympy(name: str) -> bool:
    """True if ``name`` is unsafe as a variable name in exported formulas: a name in sympy's top-level namespace
    (``I``, ``N``, ``S``, ``E``, ``O``, ``Q``, ``pi``, ``beta``, ``gamma``, ``zeta``, ``sin``, ...; depends on the
    installed sympy), a name with a fixed meaning in :func:`parse_formula` (``e``, ``ln``, ``arcsin``, ...), or a
    Python keyword."""
    return keyword.iskeyword(name) or name in _sympy_names() or name in reserved_names()


def safe_column_name(name: str) -> str:
    """``name`` with ``_`` appended until it no longer clashes (``I`` -> ``I_``, ``gamma`` -> ``gamma_``)."""
    while clashes_with_sympy(name):
        name += "_"
    return name


def check_name(name: object, where: str, col: int | None = None, *, path: str | None = None) -> None:
    """Refuse a column name that no text form can hold: not a string, empty or blank, or with a control character
    (a line break, a tab) in it. Every other name is accepted as it is: ``I``, ``lambda``, ``x 1``, ``Temp (K)``,
    ``θ``, ``sin``; formulas keep it, and each output writes it as :mod:`kansci.expr.names` says. ``where`` starts
    the message; ``path``: the data file, for the error's fields."""
    at = f"column {col} " if col is not None else "column "
    if not isinstance(name, str):
        raise DataError(f"{where}: {at}name {name!r} is not text", "name every column with a string", path=path)
    if not name.strip():
        raise DataError(f"{where}: {at}has an empty name", "give every column a name", path=path)
    bad = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise DataError(f"{where}: {at}{name!r} contains the control character {bad!r}",
                        "remove line breaks, tabs and other control characters from the column name",
                        path=path, column=name)
