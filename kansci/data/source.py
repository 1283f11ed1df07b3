"""Where a table's bytes come from (a file, or standard input for the path ``-``) and the :class:`Table` that every
format's reader returns. No torch import."""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kansci.errors import DataError

__all__ = ["STDIN", "STDIN_PATH", "Table", "read_source"]

STDIN_PATH = "-"  # the data path that reads standard input
STDIN = "<stdin>"  # how messages and dataset.json name standard input


@dataclass
class Table:
    """A parsed table: ``values`` (n, m) float64 with NaN wherever a cell was empty, null, NaN/inf or non-numeric.

    ``lines`` holds where each data row is in the source, counted in ``unit``: the 1-based physical line of a text
    file (``"line"``), or the 0-based row index of a parquet file (``"row index"``); ``units`` is the plural."""

    path: str  # as given, for messages
    header: list[str]  # (m,) column names
    values: np.ndarray  # (n, m) float64
    lines: np.ndarray  # (n,) int64, where each data row starts (see ``unit``)
    bad_cells: dict[int, tuple[int, str]] = field(default_factory=dict)  # column -> (line, text) of first non-number
    sha256: str = ""  # of the source's bytes
    unit: str = "line"
    units: str = "lines"
    empty: str = "empty"  # what a missing cell is called in this format

    @property
    def has_lines(self) -> bool:
        """True when ``lines`` are text lines (errors then carry a ``line`` field)."""
        return self.unit == "line"


def read_source(path: str | Path) -> tuple[bytes, str, str]:
    """The bytes of ``path`` (standard input for ``-``), the name messages use for it, and the bytes' sha256."""
    if str(path) == STDIN_PATH:
        stream = sys.stdin
        if stream is None or stream.isatty():
            raise DataError(f"{STDIN}: the data path '-' reads standard input, but nothing is piped in",
                            "pipe a table in, e.g. `kansci fit - < data.csv`, or give the data file's path",
                            path=STDIN)
        try:
            data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8")
        except (OSError, UnicodeError) as exc:
            raise DataError(f"{STDIN}: cannot read standard input ({exc})", "pipe the table in as bytes, or give the "
                            "data file's path", path=STDIN) from None
        return data, STDIN, hashlib.sha256(data).hexdigest()
    where = str(path)
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {where!r} does not exist",
                        f"check the path; relative paths start from {Path.cwd()}", path=where)
    if p.is_dir():
        raise DataError(f"data path {where!r} is a directory, not a data file",
                        "give the path of the CSV, TSV or parquet file itself", path=where)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read data file {where!r}: {exc.strerror}", "check the file's permissions",
                        path=where) from None
    return data, where, hashlib.sha256(data).hexdigest()
