"""Read a numeric CSV table strictly, with one-line errors naming the file, line and column at fault.

The accepted format (nothing is sniffed):

- UTF-8 text, optionally starting with a byte-order mark. Comma-separated, parsed by the stdlib ``csv`` module with
  double-quote quoting; spaces after a comma are ignored.
- Blank lines are skipped anywhere. Lines whose first non-blank character is ``#`` are comments, but only *before*
  the header; after the header a ``#`` line is a (non-numeric) data row.
- The first other line is the header, one name per column. Header sanitizing: surrounding whitespace is stripped
  silently (harmless). Anything else that is not a plain ASCII identifier (``x 1``, ``v(m/s)``, ``1x``, ``α``) is
  refused with a suggested name, never renamed silently, because a rename could collide with another column or hide
  a mistake. The same goes for names that clash with sympy or Python (``I``, ``E``, ``beta``, ``lambda``).
- Every other line is a data row with exactly as many fields as the header. Cells are parsed with ``float``
  (surrounding whitespace allowed). Empty cells, ``nan`` and ``inf`` count as missing values.

Line numbers in messages are 1-based physical lines as a text editor shows them; for a quoted field spanning lines
it is the line where the row starts. Column numbers are 1-based.

:func:`parse_table` does the structural checks (encoding, header, ragged rows, duplicate and empty names). Checks
that only matter for the columns actually used (valid names, numeric and finite cells) are in
:func:`check_columns`, so a text column can simply be left out. :func:`read_table` does both for every column.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kansci.data.names import check_name
from kansci.errors import DataError

_MISSING_MARKERS = {"na", "n/a", "nan", "null", "none", "?", "-", "--", "missing"}
_SHOW = 5  # how many offending lines to list in a message
_CHUNK = 4096  # rows converted to floats at a time
_ROLE_KEYS = {"target": "data.target", "input": "data.inputs"}  # load_dataset's arguments are the data: section's keys


@dataclass
class Table:
    """A parsed CSV: ``values`` (n, m) float64 with NaN wherever a cell was empty, NaN/inf or non-numeric."""

    path: str  # as given, for messages
    header: list[str]  # (m,) stripped column names
    values: np.ndarray  # (n, m) float64
    lines: np.ndarray  # (n,) int64, physical line where each data row starts
    bad_cells: dict[int, tuple[int, str]] = field(default_factory=dict)  # column -> (line, text) of first non-number
    sha256: str = ""  # of the file's bytes


def read_table(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a CSV file with every check applied to every column; returns (header (m,), values (n, m) float64)."""
    table = parse_table(path)
    check_columns(table, range(len(table.header)))
    return table.header, table.values


def parse_table(path: str | Path) -> Table:
    """Read and structurally check a CSV file (see the module docstring). Cell values are not yet validated."""
    where = str(path)
    text, digest = _read_text(Path(path), where)
    lines_iter = io.StringIO(text, newline="")  # splits on \n, \r\n and \r, as editors do
    skipped = 0
    first: str | None = None
    for raw in lines_iter:
        skipped += 1
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            first = raw
            break
    if first is None:
        what = "is empty" if not text.strip() else "has only comments and blank lines"
        raise DataError(f"{where} {what}; no header line found",
                        "the first non-comment line must be a header naming the columns, e.g. 'x0,x1,y'", path=where)
    reader = csv.reader(itertools.chain([first], lines_iter), skipinitialspace=True, strict=True)
    offset = skipped - 1  # physical line = offset + reader.line_num
    header_line = skipped
    start = header_line  # physical line where the row being read starts
    line_numbers: list[int] = []
    pending: list[list[str]] = []  # rows not yet converted, at most _CHUNK of them
    chunks: list[np.ndarray] = []
    bad: dict[int, tuple[int, str]] = {}
    try:
        header = [name.strip() for name in next(reader)]
        _check_header(header, header_line, where)
        m = len(header)
        start = offset + reader.line_num + 1
        for row in reader:
            line, start = start, offset + reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != m:
                raise _ragged(where, line, row, m)
            pending.append(row)
            line_numbers.append(line)
            if len(pending) == _CHUNK:
                chunks.append(_to_floats(pending, line_numbers[-_CHUNK:], m, bad))
                pending = []
    except csv.Error as exc:
        raise DataError(f"{where}: line {start}: malformed CSV ({exc})",
                        "check the quoting: a field that contains commas or quotes must be wrapped in double quotes, "
                        "with inner quotes doubled", path=where, line=start) from None
    if pending:
        chunks.append(_to_floats(pending, line_numbers[-len(pending):], m, bad))
    if not chunks:
        raise DataError(f"{where} has a header (line {header_line}) but no data rows",
                        "add data rows below the header, one row of numbers per line", path=where, line=header_line)
    values = np.concatenate(chunks, axis=0)
    return Table(where, header, values, np.array(line_numbers, dtype=np.int64), bad, digest)


def check_columns(table: Table, columns: Sequence[int] | range) -> None:
    """Check names, numeric cells and finite values of the given column indices; raise DataError on the first fault."""
    where = table.path
    for j in columns:
        check_name(table.header[j], where, j + 1)
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
            raise DataError(f"{where}: line {line}, column {table.header[j]!r}: {text!r} is not a number", hint,
                            path=where, line=line, column=table.header[j])
    cols = list(columns)
    bad_mask = ~np.isfinite(table.values[:, cols])  # (n, len(cols))
    if bad_mask.any():
        total = int(bad_mask.sum())
        parts = []
        bad_cols = np.flatnonzero(bad_mask.any(axis=0))
        for k in bad_cols:
            lines = table.lines[bad_mask[:, k]]
            shown = ", ".join(str(v) for v in lines[:_SHOW]) + (", ..." if len(lines) > _SHOW else "")
            parts.append(f"column {table.header[cols[k]]!r} ({len(lines)}) at line{'s' if len(lines) > 1 else ''} "
                         f"{shown}")
        first = bad_cols[0]  # the fields name the first bad column and its first bad line
        raise DataError(f"{where}: {total} missing or non-finite value{'s' if total > 1 else ''} (empty, NaN or inf): "
                        + "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else ""),
                        "kansci does not impute: remove or fill these rows, or leave those columns out",
                        path=where, line=int(table.lines[bad_mask[:, first]][0]), column=table.header[cols[first]])


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


def _read_text(path: Path, where: str) -> tuple[str, str]:
    """The file's text (BOM removed) and the sha256 of its bytes; DataError for unreadable or non-UTF-8 files."""
    if not path.exists():
        raise DataError(f"data file {where!r} does not exist",
                        f"check the path; relative paths start from {Path.cwd()}", path=where)
    if path.is_dir():
        raise DataError(f"data path {where!r} is a directory, not a CSV file", "give the path of the CSV file itself",
                        path=where)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read data file {where!r}: {exc.strerror}", "check the file's permissions",
                        path=where) from None
    digest = hashlib.sha256(data).hexdigest()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{where} looks like UTF-16 text (byte-order mark at byte 0)", "re-save the file as UTF-8",
                        path=where)
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8"), digest
    except UnicodeDecodeError as exc:
        pos = exc.start + bom  # offset in the file's bytes
        line = data.count(b"\n", 0, pos) + 1
        col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
        raise DataError(f"{where}: line {line}, byte {col} (file offset {pos}): byte 0x{data[pos]:02x} is "
                        "not valid UTF-8",
                        "re-save the file as UTF-8, e.g. 'iconv -f latin1 -t utf-8 in.csv > out.csv'",
                        path=where, line=line) from None


def _check_header(header: list[str], line: int, where: str) -> None:
    """Structural header checks: comma-separated, not numeric data, no empty or duplicate names."""
    if len(header) == 1 and (sep := next((c for c in ";\t|" if c in header[0]), None)):
        raise DataError(f"{where}: line {line}: header {header[0]!r} looks separated by {sep!r}, not by commas",
                        "kansci reads comma-separated files only; convert the separators to ','", path=where, line=line)
    if all(_is_number(h) for h in header):
        raise DataError(f"{where}: line {line} looks like data, not a header (all {len(header)} fields are numbers)",
                        "add a header line naming the columns, e.g. "
                        f"{','.join([f'x{i}' for i in range(len(header) - 1)] + ['y'])!r}", path=where, line=line)
    for j, name in enumerate(header):
        if not name:
            trailing = " (a trailing comma at the end of the header creates one)" if j == len(header) - 1 else ""
            raise DataError(f"{where}: line {line}: column {j + 1} of the header has an empty name{trailing}",
                            "give every column a name, or remove the extra comma", path=where, line=line)
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name in seen:
            raise DataError(f"{where}: line {line}: duplicate column name {name!r} (columns {seen[name] + 1} and "
                            f"{j + 1})", "give each column a unique name", path=where, line=line, column=name)
        seen[name] = j


def _ragged(where: str, line: int, row: list[str], m: int) -> DataError:
    """DataError for a data row with the wrong number of fields."""
    if row and row[0].lstrip().startswith("#"):
        return DataError(f"{where}: line {line} is a comment ({','.join(row)[:40]!r}) after the header",
                         "'#' comments are allowed only before the header; delete the line or move it up",
                         path=where, line=line)
    hint = "check for missing or extra commas; quote fields that contain commas"
    if len(row) > m and not any(c.strip() for c in row[m:]):
        hint = "the line ends with extra commas; remove them"
    return DataError(f"{where}: line {line} has {len(row)} field{'s' if len(row) != 1 else ''}, expected {m} "
                     "(as in the header)", hint, path=where, line=line)


def _to_floats(rows: list[list[str]], lines: list[int], m: int, bad: dict[int, tuple[int, str]]) -> np.ndarray:
    """Rows of m cell strings -> (len(rows), m) float64, NaN for empty cells. The first non-numeric cell of each
    column is noted in ``bad`` as (line, text) and read as NaN too."""
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), m)  # same syntax as float()
    except ValueError:
        pass
    out = np.empty((len(rows), m))
    for i, (row, line) in enumerate(zip(rows, lines)):
        for j, cell in enumerate(row):
            try:
                out[i, j] = float(cell)
            except ValueError:
                out[i, j] = np.nan
                if cell.strip() and j not in bad:
                    bad[j] = (line, cell)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
