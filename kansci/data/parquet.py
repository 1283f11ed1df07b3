"""Read a parquet table into a :class:`Table`, through the optional dependency pyarrow (``pip install
'kansci[parquet]'``). The checks are those of a text table, with a column's name and a 0-based row index where a text
file has a line: numeric columns (integers, floats, decimals) are read as float64 with nulls as missing values; a
string column is read cell by cell with ``float`` like a text cell; any other type (booleans, dates, lists) is not
numeric. No torch import; pyarrow is imported only when a parquet file is read."""
from __future__ import annotations

from typing import Any

import numpy as np

from kansci.data.source import Table
from kansci.errors import DataError

__all__ = ["MAGIC", "SUFFIXES", "is_parquet", "parse_parquet"]

MAGIC = b"PAR1"  # the first (and last) four bytes of every parquet file
SUFFIXES = (".parquet", ".pq")


def is_parquet(where: str, data: bytes) -> bool:
    """A parquet file by its name (``.parquet``, ``.pq``) or by its first bytes (so standard input works too)."""
    return where.lower().endswith(SUFFIXES) or data.startswith(MAGIC)


def _pyarrow(where: str) -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise DataError(f"{where}: reading parquet needs the optional dependency pyarrow, which is not installed",
                        "install the extra: pip install 'kansci[parquet]' (or pip install pyarrow), or convert the "
                        "file to CSV", path=where) from None
    return pyarrow, pyarrow.parquet


def parse_parquet(data: bytes, where: str, digest: str) -> Table:
    """Read and structurally check a parquet table; cell values are not yet validated (see :func:`check_columns`)."""
    pa, pq = _pyarrow(where)
    try:
        table = pq.ParquetFile(pa.BufferReader(data)).read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{where}: not a readable parquet file ({' '.join(str(exc).split())[:200]})",
                        "check the file, or write it again, e.g. with pandas' DataFrame.to_parquet", path=where
                        ) from None
    header = [str(name) for name in table.column_names]
    if not header:
        raise DataError(f"{where}: the parquet file has no columns", "write a table with named columns", path=where)
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if not name.strip():
            raise DataError(f"{where}: column {j + 1} of the parquet schema has an empty name",
                            "give every column a name", path=where)
        if name in seen:
            raise DataError(f"{where}: duplicate column name {name!r} (columns {seen[name] + 1} and {j + 1})",
                            "give each column a unique name", path=where, column=name)
        seen[name] = j
    n = table.num_rows
    if n == 0:
        raise DataError(f"{where} has columns but no data rows", "write a table with rows of numbers", path=where)
    values = np.empty((n, len(header)))
    bad: dict[int, tuple[int, str]] = {}
    for j, column in enumerate(table.columns):
        values[:, j], first_bad = _column(pa, column)
        if first_bad is not None:
            bad[j] = first_bad
    return Table(where, header, values, np.arange(n, dtype=np.int64), bad, digest, unit="row index",
                 units="row indices", empty="null")


def _column(pa: Any, column: Any) -> tuple[np.ndarray, tuple[int, str] | None]:
    """(n,) float64 values of a pyarrow column, NaN for nulls and non-numbers; the first non-number's (row, text)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False).astype(np.float64), None
    cells = column.to_pylist()
    out = np.full(len(cells), np.nan)
    first: tuple[int, str] | None = None
    is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    for i, cell in enumerate(cells):
        if cell is None:
            continue
        try:
            if not is_text:
                raise ValueError
            out[i] = float(cell)
        except ValueError:
            if first is None and (not is_text or cell.strip()):
                first = (i, str(cell))
    return out, first
