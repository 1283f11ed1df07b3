"""The units CSV, in the AI Feynman layout: ``Variable,Units,m,s,kg,T,V``.

One row per quantity: its name in ``Variable``, an optional free-text ``Units`` description, and its exponent of
every base dimension in the remaining columns. Any set of base-dimension columns is accepted (``L,M,T``; SI's seven;
AI Feynman's five); their names form the table's :class:`~kansci.units.dims.Basis`. Exponents are integers or exact
fractions (``2``, ``-1``, ``1/2``, ``0.5``); every cell must be filled. Blank lines, and ``#`` lines before the
header, are skipped. A header cell ``Variable``/``Units`` is matched without regard to case.

Every fault raises :class:`~kansci.errors.DataError` with ``path``, ``line`` (1-based, as an editor shows it) and
``column`` (the CSV column at fault) set, and the message names all three.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from kansci.data.csvrows import numbered_rows
from kansci.errors import DataError
from kansci.units.dims import Basis, Dim, UnitSpec

__all__ = ["UnitsTable", "read_units_csv", "parse_units_csv"]


@dataclass(frozen=True)
class UnitsTable:
    """Declared units: ``units[name]`` is a :class:`UnitSpec` over ``basis``; ``lines[name]`` is the 1-based line
    of its row (empty for units that did not come from a file); ``path`` is the file as messages name it."""

    basis: Basis
    units: dict[str, UnitSpec]
    path: str | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.units

    def __getitem__(self, name: str) -> UnitSpec:
        return self.units[name]

    def dims(self) -> dict[str, Dim]:
        """``{name: Dim}`` of every row."""
        return {name: spec.dim for name, spec in self.units.items()}

    def where(self, name: str) -> str:
        """``file: line N`` of a row, for messages (``"inline units"`` when it has no file)."""
        if self.path is None:
            return "inline units"
        return f"{self.path}: line {self.lines[name]}" if name in self.lines else self.path


def read_units_csv(path: str | Path) -> UnitsTable:
    """Read and check a units CSV (see the module docstring). Raises :class:`~kansci.errors.DataError`."""
    where = str(path)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"units file {where!r} does not exist" if not p.exists() else
                        f"units file {where!r} is not a file", "give the path of a units CSV "
                        "(Variable,Units,m,s,kg,...)", path=where)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read units file {where!r}: {exc.strerror}", "check the file's permissions",
                        path=where) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: byte {exc.start} is not valid UTF-8", "re-save the file as UTF-8",
                        path=where) from None
    return parse_units_csv(text, where)


def _rows(text: str, where: str) -> list[tuple[int, list[str]]]:
    return [(line, [c.strip() for c in row]) for line, row in numbered_rows(text, where)]


def _header(header: list[str], line: int, where: str) -> tuple[int, int | None, list[int]]:
    """(index of Variable, index of Units or None, indices of the base-dimension columns)."""
    lower = [h.lower() for h in header]
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"{where}: line {line}: header column {j + 1} is empty", "name every column",
                            path=where, line=line, column=j + 1)
        if name in header[:j]:
            raise DataError(f"{where}: line {line}: column {name!r} appears twice", "name every column once",
                            path=where, line=line, column=name)
    if "variable" not in lower:
        close = difflib.get_close_matches("Variable", header, n=1, cutoff=0.6)
        hint = (f"did you mean 'Variable' for {close[0]!r}?" if close else
                "the header must be Variable,Units,<base dimensions...>, e.g. Variable,Units,m,s,kg,T,V")
        raise DataError(f"{where}: line {line}: the header has no 'Variable' column", hint, path=where, line=line,
                        column=header[0])
    var = lower.index("variable")
    units = lower.index("units") if "units" in lower else None
    bases = [j for j in range(len(header)) if j not in (var, units)]
    if not bases:
        raise DataError(f"{where}: line {line}: no base-dimension columns", "add one column per base dimension, e.g. "
                        "Variable,Units,m,s,kg,T,V", path=where, line=line)
    return var, units, bases


_HUGE_POWER_OF_TEN = re.compile(r"[eE]\s*[+-]?0*[0-9_]{4,}")


def _exponent(cell: str, where: str, line: int, column: str, name: str) -> Fraction:
    hint = "write an integer or a fraction, e.g. 2, -1 or 1/2 (0 when the dimension does not occur)"
    if not cell:
        raise DataError(f"{where}: line {line}, column {column!r}: the exponent of {name!r} is empty", hint,
                        path=where, line=line, column=column)
    try:
        if _HUGE_POWER_OF_TEN.search(cell):  # Fraction("1e999999999") would compute 10**999999999
            raise ValueError(cell)
        value = Fraction(cell)
    except (ValueError, ZeroDivisionError):
        raise DataError(f"{where}: line {line}, column {column!r}: {cell!r} is not a number", hint, path=where,
                        line=line, column=column) from None
    if "." in cell or "e" in cell.lower():
        approx = value.limit_denominator(1000)
        try:
            simple = math.isclose(float(approx), float(value), rel_tol=0, abs_tol=1e-9)
        except OverflowError:  # 1e400: beyond any float, so no exponent a unit has
            simple = False
        if not simple:
            raise DataError(f"{where}: line {line}, column {column!r}: {cell!r} is not a simple fraction", hint,
                            path=where, line=line, column=column)
        value = approx
    return value


def parse_units_csv(text: str, where: str = "<units>", *, known: Sequence[str] | None = None) -> UnitsTable:
    """Parse the text of a units CSV; ``where`` names it in messages. With ``known``, every row must name one of
    these (the data's columns): a row for anything else is a DataError at its line."""
    rows = _rows(text, where)
    if not rows:
        raise DataError(f"{where} is empty; no header line found",
                        "the first line must be Variable,Units,<base dimensions...>, e.g. Variable,Units,m,s,kg,T,V",
                        path=where)
    header_line, header = rows[0]
    var, units_col, bases = _header(header, header_line, where)
    basis = Basis.named(header[j] for j in bases)
    table: dict[str, UnitSpec] = {}
    lines: dict[str, int] = {}
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{where}: line {line} has {len(row)} fields, expected {len(header)} (as in the header)",
                            "check for missing or extra commas; quote a description that contains commas",
                            path=where, line=line)
        name = row[var]
        if not name:
            raise DataError(f"{where}: line {line}: the variable name is empty", "name the column these units are "
                            "for", path=where, line=line, column=header[var])
        if name in table:
            raise DataError(f"{where}: line {line}: {name!r} already has units on line {lines[name]}",
                            "give every variable one row", path=where, line=line, column=header[var])
        if known is not None and name not in known:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            raise DataError(f"{where}: line {line}: units for {name!r}, which is not a column of the data",
                            f"did you mean {close[0]!r}?" if close else "remove the row, or fix the name",
                            path=where, line=line, column=header[var])
        exps = tuple(_exponent(row[j], where, line, header[j], name) for j in bases)
        description = row[units_col] if units_col is not None else ""
        table[name] = UnitSpec(Dim(basis.names, exps), text=None, description=description)
        lines[name] = line
    if not table:
        raise DataError(f"{where} has a header (line {header_line}) but no rows",
                        "add one row per column: its name, a description and the exponents", path=where,
                        line=header_line)
    return UnitsTable(basis, table, where, lines)
