"""Read a numeric table strictly, with one-line errors naming the file, line (or row) and column at fault.

Formats (:func:`parse_table` picks one; details in each reader's docstring):

- delimited text, :mod:`kansci.data.delimited`: CSV, TSV or another one-character separator, detected from the header
  line (comma or tab) or given (config key ``data.sep``); line numbers as a text editor shows them; a vectorised
  fast path reads plain numeric bodies (a million rows in about the time pandas takes), the strict parser the rest;
- parquet, :mod:`kansci.data.parquet`, by the name's suffix (``.parquet``, ``.pq``) or the file's first bytes, through
  the optional dependency pyarrow; errors name the column and a 0-based row index;
- the path ``-`` reads any of them from standard input (:mod:`kansci.data.source`), named ``<stdin>`` in messages.

Column names: surrounding whitespace is stripped from a text header. Any other name is kept as it is (``I``,
``lambda``, ``x 1``, ``Temp (K)``, ``θ``): formulas use it, and each output writes it as :mod:`kansci.expr.names`
says. Empty and duplicate names are refused, and names with control characters (:func:`kansci.data.names.check_name`).

:func:`parse_table` does the structural checks (encoding, header, ragged rows, duplicate and empty names). Checks
that only matter for the columns actually used (names, numeric and finite cells) are in :func:`check_columns`, so a
text column can simply be left out. :func:`read_table` does both for every column.
"""
from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kansci.data.delimited import SEP_WORDS, parse_source
from kansci.data.names import check_name
from kansci.data.parquet import MAGIC, is_parquet, parse_parquet
from kansci.data.source import STDIN, STDIN_PATH, Progress, Table, open_source
from kansci.errors import DataError

__all__ = ["STDIN", "STDIN_PATH", "Progress", "Table", "check_columns", "check_sep", "column_not_found",
           "parse_table", "read_table"]

_MISSING_MARKERS = {"na", "n/a", "nan", "null", "none", "?", "-", "--", "missing"}
_SHOW = 5  # how many offending lines to list in a message
_ROLE_KEYS = {"target": "data.target", "input": "data.inputs"}  # load_dataset's arguments are the data: section's keys
_NOT_SEPARATORS = "\"#\r\n. -+"


def check_sep(sep: str) -> str:
    """``sep`` if it is ``"auto"`` or one character that can separate fields; a name (``tab``, ``comma``,
    ``semicolon``, ``pipe``) becomes its character; else DataError."""
    sep = SEP_WORDS.get(sep, sep) if isinstance(sep, str) else sep
    if not isinstance(sep, str) or not (sep == "auto" or (len(sep) == 1 and not sep.isalnum()
                                                          and sep not in _NOT_SEPARATORS)):
        raise DataError(f"separator {sep!r} is not usable",
                        "use auto, comma, tab, semicolon, pipe or one character such as ':' (data.sep)",
                        key="data.sep")
    return sep


def read_table(path: str | Path, sep: str = "auto", *, progress: Progress | None = None,
               ) -> tuple[list[str], np.ndarray]:
    """Read a table with every check applied to every column; returns (header (m,), values (n, m) float64)."""
    table = parse_table(path, sep, progress=progress)
    check_columns(table, range(len(table.header)))
    return table.header, table.values


def parse_table(path: str | Path, sep: str = "auto", *, progress: Progress | None = None) -> Table:
    """Read and structurally check a table (see the module docstring): a file, or standard input for ``-``. ``sep``
    is the separator of a text table, or ``"auto"``. Cell values are not yet validated. ``progress(done, total)``
    is called with the bytes converted so far, a few times per megabyte of a large text table (once for parquet)."""
    sep = check_sep(sep)
    src = open_source(path)
    if is_parquet(src.where, src.head(len(MAGIC))):
        data = src.read_all()
        table = parse_parquet(data, src.where, hashlib.sha256(data).hexdigest())
        if progress is not None:
            progress(len(data), len(data))
        return table
    return parse_source(src, sep, progress=progress)


def check_columns(table: Table, columns: Sequence[int] | range) -> None:
    """Check names, numeric cells and finite values of the given column indices; raise DataError on the first fault."""
    where = table.path
    for j in columns:
        check_name(table.header[j], where, j + 1, path=where)
    for j in columns:
        if j in table.bad_cells:
            line, text = table.bad_cells[j]
            hint = "every used cell must be a number"
            if text.strip().lower() in _MISSING_MARKERS:
                hint += f"; {text.strip()!r} looks like a missing-value marker: remove or fill rows with missing data"
            elif text.strip().startswith("#"):
                hint += "; '#' comments are allowed only before the header"
            else:
                hint += "; a text column can be left out of the inputs"
            raise DataError(f"{where}: {table.unit} {line}, column {table.header[j]!r}: {text!r} is not a number",
                            hint, path=where, line=line if table.has_lines else None, column=table.header[j])
    cols = list(columns)
    bad_mask = ~np.isfinite(table.values)[:, cols]  # (n, len(cols)); booleans only, the values are not copied
    if bad_mask.any():
        total = int(bad_mask.sum())
        parts = []
        bad_cols = np.flatnonzero(bad_mask.any(axis=0))
        for k in bad_cols:
            lines = table.lines[bad_mask[:, k]]
            shown = ", ".join(str(v) for v in lines[:_SHOW]) + (", ..." if len(lines) > _SHOW else "")
            parts.append(f"column {table.header[cols[k]]!r} ({len(lines)}) at "
                         f"{table.units if len(lines) > 1 else table.unit} {shown}")
        first = bad_cols[0]  # the fields name the first bad column and its first bad line
        line = int(table.lines[bad_mask[:, first]][0])
        raise DataError(f"{where}: {total} missing or non-finite value{'s' if total > 1 else ''} ({table.empty}, NaN "
                        "or inf): " + "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else ""),
                        "kansci does not impute: remove or fill these rows, or leave those columns out",
                        path=where, line=line if table.has_lines else None, column=table.header[cols[first]])


def column_not_found(name: str, available: Sequence[str], where: str, role: str) -> DataError:
    """DataError for an unknown ``role`` ("target"/"input") column, listing the columns and a did-you-mean. Its
    ``key`` is the config key that chose the column (``data.target`` or ``data.inputs``)."""
    shown = ", ".join(repr(a) for a in available[:20]) + (", ..." if len(available) > 20 else "")
    close = difflib.get_close_matches(name, list(available), n=1, cutoff=0.6)
    if not close:
        close = [a for a in available if a.lower() == name.lower()][:1]
    hint = f"did you mean {close[0]!r}?" if close else "choose one of the available columns"
    return DataError(f"{where}: no {role} column {name!r}; available columns: {shown}", hint, path=where,
                     column=name, key=_ROLE_KEYS[role])
