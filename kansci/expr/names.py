"""How a column name is written in each target language. A formula's symbols carry the user's own column names
(``Temp (K)``, ``lambda``, ``θ``, ``I``); only the text forms need care, and this module is the one mapping for all
of them:

- formula text (:func:`quote`): a name the parser reads as itself is written bare (``x``, ``I``, ``beta``,
  ``θ``); any other (spaces or punctuation, a Python keyword, a function or constant name of the formula language, a
  leading ``_``) is written in backticks, a backtick inside doubled: ```Temp (K)```, ```lambda```, ```sin```.
  The parser reads backticks as "this is a variable" everywhere, so printed text parses back to the same symbols.
- LaTeX (:func:`latex_names`): sympy's own rendering for plain identifiers (``beta`` -> ``\\beta``, ``x_1`` ->
  ``x_{1}``), ``\\theta`` for a single Greek letter, else ``\\mathrm{...}`` with LaTeX's special characters escaped;
  two names never get the same LaTeX, nor a constant's (``e``, ``\\pi``).
- Python (:func:`python_identifiers`): a valid identifier is kept, any other becomes an ASCII identifier
  (``Temp (K)`` -> ``Temp_K``, ``lambda`` -> ``lambda_``, ``ΔT`` -> ``Delta_T``), made unique.
"""
from __future__ import annotations

import functools
import keyword
import re
import unicodedata
from collections.abc import Iterable, Sequence

import sympy

from kansci.expr.functions import FUNCTIONS

__all__ = ["ALIASES", "CONSTANTS", "ascii_identifier", "is_bare", "latex_names", "python_identifiers", "quote",
           "reserved_names"]

#: Alternative spellings the parser accepts for functions of the table.
ALIASES = {
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2", "arcsinh": "asinh",
    "arccosh": "acosh", "arctanh": "atanh", "ln": "log", "abs": "Abs",
}
#: Names with a fixed constant meaning in formula text (unless a variable of that name is declared).
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E, "E": sympy.E}

#: A bare name as the formula lexer reads it: a letter or ``_``, then letters, digits or ``_`` (any script).
IDENT = re.compile(r"[^\W\d]\w*")


@functools.lru_cache(maxsize=1)
def reserved_names() -> frozenset[str]:
    """Names with a fixed meaning in formulas: function names, their aliases, ``sqrt`` and the constants."""
    parsed = {f.name for f in FUNCTIONS.values() if f.parse}
    return frozenset(parsed | {"sqrt"} | set(ALIASES) | set(CONSTANTS))


def is_bare(name: str) -> bool:
    """True if ``name`` can stand bare in formula text and be read back as that variable."""
    return (IDENT.fullmatch(name) is not None and not keyword.iskeyword(name) and not name.startswith("_")
            and name not in reserved_names())


def quote(name: str) -> str:
    """``name`` as formula text: bare when :func:`is_bare`, else in backticks with inner backticks doubled."""
    return name if is_bare(name) else "`" + name.replace("`", "``") + "`"


# ------------------------------------------------------------------------------------------------------ LaTeX
_LATEX_ESCAPES = {"\\": r"\backslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#", "$": r"\$", "%": r"\%",
                  "&": r"\&", "~": r"\sim{}", "^": r"\hat{}", " ": r"\ "}
_PLAIN_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def _greek_word(char: str) -> str | None:
    """``α`` -> ``alpha``, ``Δ`` -> ``Delta``, ``λ`` -> ``lambda``; None for any other character."""
    words = unicodedata.name(char, "").split()
    if len(words) == 4 and words[0] == "GREEK" and words[2] == "LETTER":
        word = {"LAMDA": "LAMBDA"}.get(words[3], words[3])
        return word.lower() if words[1] == "SMALL" else word.capitalize()
    return None


def _latex_guess(name: str) -> str:
    if _PLAIN_IDENT.match(name):
        return sympy.latex(sympy.Symbol(name))
    if len(name) == 1 and (word := _greek_word(name)):
        return sympy.latex(sympy.Symbol(word))
    return _mathrm(name)


def _mathrm(name: str) -> str:
    """``\\mathrm{...}`` of ``name``: Greek letters as commands, LaTeX's special characters escaped."""
    parts = []
    for char in name:
        word = _greek_word(char)
        parts.append(sympy.latex(sympy.Symbol(word)) + "{}" if word else _LATEX_ESCAPES.get(char, char))
    return r"\mathrm{" + "".join(parts) + "}"


def latex_names(names: Iterable[str]) -> dict[str, str]:
    """LaTeX of each name (see the module docstring); distinct names get distinct LaTeX, none a constant's."""
    used = {sympy.latex(sympy.E), sympy.latex(sympy.pi), sympy.latex(sympy.I)}
    out: dict[str, str] = {}
    for name in names:
        if name in out:
            continue
        tex = _latex_guess(name)
        if tex in used:
            tex = _mathrm(name)
        while tex in used:  # only when a name's escaped form is another name's guess; keep them apart
            tex = "{" + tex + "}"
        used.add(tex)
        out[name] = tex
    return out


# ----------------------------------------------------------------------------------------------------- Python
def _python_ok(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and unicodedata.normalize("NFKC", name) == name


def ascii_identifier(name: str) -> str:
    """A plain ASCII Python identifier close to ``name``: Greek letters spelled out, accents dropped, other runs of
    characters made ``_``; a leading digit gets ``x_`` in front and a keyword ``_`` after."""
    spelled = "".join(f"_{w}_" if (w := _greek_word(c)) else c for c in name)
    plain = "".join(c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c))
    s = re.sub(r"[^A-Za-z0-9]+", "_", plain).strip("_")
    if not s:
        s = "x"
    elif s[0].isdigit():
        s = f"x_{s}"
    return s + "_" if keyword.iskeyword(s) else s


def python_identifiers(names: Sequence[str], reserved: Iterable[str] = ()) -> list[str]:
    """One distinct Python identifier per name, in order: a name that is a valid identifier (and not in
    ``reserved``) is kept as is, a reserved one gets ``_`` appended, any other becomes :func:`ascii_identifier`; then
    ``_2``, ``_3``, ... are appended while the result is taken."""
    taken = set(reserved)
    out: list[str | None] = [None] * len(names)
    for i, name in enumerate(names):
        if _python_ok(name) and name not in taken:
            out[i] = name
            taken.add(name)
    for i, name in enumerate(names):
        if out[i] is None:
            base = name + "_" if _python_ok(name) else ascii_identifier(name)  # a reserved or taken name gets "_"
            candidate, k = base, 2
            while candidate in taken:
                candidate, k = f"{base}_{k}", k + 1
            out[i] = candidate
            taken.add(candidate)
    return [s for s in out if s is not None]
