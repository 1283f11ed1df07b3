"""Column-name rules: which names can become formula symbols, and the safe names suggested in hints. No torch import."""
from __future__ import annotations

import functools
import keyword
import re
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




_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_name(name: str, where: str, col: int | None = None) -> None:
    """Refuse a column name that cannot become a formula symbol; the hint suggests a safe replacement."""
    at = f"column {col} " if col is not None else "column "
    if not _NAME_RE.match(name):
        raise DataError(f"{where}: {at}{name!r} is not a valid name",
                        "use ASCII letters, digits and '_', not starting with a digit; "
                        f"rename it, e.g. to {suggest_name(name, col)!r}")
    # imported lazily here and below: kansci.datasets may one day import kansci.data, which imports this module
    from kansci.data.names import clashes_with_sympy, safe_column_name

    if keyword.iskeyword(name) or clashes_with_sympy(name):
        raise DataError(f"{where}: {at}{name!r} clashes with a Python or sympy name",
                        f"rename it, e.g. to {safe_column_name(name)!r}")


def suggest_name(name: str, col: int | None = None) -> str:
    """A plain ASCII identifier close to ``name`` (used in hints only; never applied silently). Greek letters
    become their names (``α`` -> ``alpha``)."""
    from kansci.data.names import safe_column_name

    spelled = "".join(_greek(c) for c in name)
    s = re.sub(r"[^A-Za-z0-9]+", "_", spelled).strip("_")
    if not s:
        s = f"x_{col if col is not None else 1}"
    elif s[0].isdigit():
        s = f"x_{s}"
    return safe_column_name(s)


def _greek(char: str) -> str:
    """``α`` -> ``alpha``, ``Ω`` -> ``Omega``; any other character unchanged."""
    words = unicodedata.name(char, "").split()
    if len(words) == 4 and words[0] == "GREEK" and words[2] == "LETTER":
        return f"_{words[3].lower() if words[1] == 'SMALL' else words[3].capitalize()}_"
    return char


