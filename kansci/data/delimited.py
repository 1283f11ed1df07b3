"""Read a delimited text table (CSV, TSV, or another one-character separator) strictly into a :class:`Table`.

- UTF-8 text, optionally starting with a byte-order mark; parsed by the stdlib ``csv`` module with double-quote
  quoting; spaces after a separator are ignored.
- The separator: ``"auto"`` reads the header line both comma- and tab-separated and takes the one that gives more
  fields (commas on a tie); or one character given by the caller (config key ``data.sep``).
- Blank lines are skipped anywhere. Lines whose first non-blank character is ``#`` are comments, but only *before*
  the header; after the header a ``#`` line is a (non-numeric) data row.
- The first other line is the header, one name per column; surrounding whitespace is stripped. Every other line is
  a data row with exactly as many fields as the header. Cells are parsed with ``float`` (surrounding whitespace
  allowed). Empty cells, ``nan`` and ``inf`` count as missing values.

Line numbers in messages are 1-based physical lines as a text editor shows them; for a quoted field spanning lines
it is the line where the row starts. Column numbers are 1-based. No torch import.
"""
from __future__ import annotations

import csv
import io
import itertools

import numpy as np

from kansci.data.source import Table
from kansci.errors import DataError

__all__ = ["SEPARATORS", "SEP_WORDS", "parse_delimited", "separator_name"]

_CHUNK = 4096  # rows converted to floats at a time
#: separators with a name; any other one character is allowed too
SEPARATORS = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "'|' characters"}
#: the words data.sep accepts for separators that YAML or a shell would want quoted
SEP_WORDS = {"comma": ",", "tab": "\t", "semicolon": ";", "pipe": "|"}


def separator_name(sep: str) -> str:
    """``","`` -> ``"commas"``, ``"\\t"`` -> ``"tabs"``, other -> ``"':' characters"``."""
    return SEPARATORS.get(sep, f"{sep!r} characters")


def _decode(data: bytes, where: str) -> str:
    """The text of ``data`` (BOM removed); DataError for UTF-16 or bytes that are not UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{where} looks like UTF-16 text (byte-order mark at byte 0)", "re-save the file as UTF-8",
                        path=where)
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start + bom  # offset in the file's bytes
        line = data.count(b"\n", 0, pos) + 1
        col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
        raise DataError(f"{where}: line {line}, byte {col} (file offset {pos}): byte 0x{data[pos]:02x} is "
                        "not valid UTF-8",
                        "re-save the file as UTF-8, e.g. 'iconv -f latin1 -t utf-8 in.csv > out.csv'",
                        path=where, line=line) from None


def _detect(first: str) -> str:
    """Comma or tab, whichever splits the header line ``first`` into more fields (quotes respected)."""
    def fields(sep: str) -> int:
        try:
            return max((len(r) for r in csv.reader([first.rstrip("\r\n")], delimiter=sep)), default=0)
        except csv.Error:
            return 0
    return "\t" if fields("\t") > fields(",") else ","


def parse_delimited(data: bytes, where: str, digest: str, sep: str = "auto") -> Table:
    """Read and structurally check a delimited text table (see the module docstring); cells are not yet validated."""
    text = _decode(data, where)
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
    detected = sep == "auto"
    if detected:
        sep = _detect(first)
    reader = csv.reader(itertools.chain([first], lines_iter), delimiter=sep, skipinitialspace=True, strict=True)
    offset = skipped - 1  # physical line = offset + reader.line_num
    header_line = skipped
    start = header_line  # physical line where the row being read starts
    line_numbers: list[int] = []
    pending: list[list[str]] = []  # rows not yet converted, at most _CHUNK of them
    chunks: list[np.ndarray] = []
    bad: dict[int, tuple[int, str]] = {}
    try:
        header = [name.strip() for name in next(reader)]
        _check_header(header, header_line, where, sep, detected)
        m = len(header)
        start = offset + reader.line_num + 1
        for row in reader:
            line, start = start, offset + reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != m:
                raise _ragged(where, line, row, m, sep)
            pending.append(row)
            line_numbers.append(line)
            if len(pending) == _CHUNK:
                chunks.append(_to_floats(pending, line_numbers[-_CHUNK:], m, bad))
                pending = []
    except csv.Error as exc:
        raise DataError(f"{where}: line {start}: malformed {'TSV' if sep == chr(9) else 'CSV'} ({exc})",
                        f"check the quoting: a field that contains {separator_name(sep)} or quotes must be wrapped "
                        "in double quotes, with inner quotes doubled", path=where, line=start) from None
    if pending:
        chunks.append(_to_floats(pending, line_numbers[-len(pending):], m, bad))
    if not chunks:
        raise DataError(f"{where} has a header (line {header_line}) but no data rows",
                        "add data rows below the header, one row of numbers per line", path=where, line=header_line)
    values = np.concatenate(chunks, axis=0)
    return Table(where, header, values, np.array(line_numbers, dtype=np.int64), bad, digest)


def _word(sep: str) -> str:
    return next((w for w, c in SEP_WORDS.items() if c == sep), repr(sep))


def _check_header(header: list[str], line: int, where: str, sep: str, detected: bool) -> None:
    """Structural header checks: the separator fits, not numeric data, no empty or duplicate names."""
    others = [c for c in ",;\t|" if c != sep]
    if len(header) == 1 and (other := next((c for c in others if c in header[0]), None)):
        how = "kansci detects commas and tabs" if detected else f"the separator is set to {sep!r} (data.sep)"
        raise DataError(f"{where}: line {line}: header {header[0]!r} looks separated by {other!r}, not by "
                        f"{separator_name(sep)}",
                        f"{how}; for this file set the separator: --set data.sep={_word(other)} (or data.sep in "
                        "the config)", path=where, line=line)
    if all(_is_number(h) for h in header):
        raise DataError(f"{where}: line {line} looks like data, not a header (all {len(header)} fields are numbers)",
                        "add a header line naming the columns, e.g. "
                        f"{sep.join([f'x{i}' for i in range(len(header) - 1)] + ['y'])!r}", path=where, line=line)
    for j, name in enumerate(header):
        if not name:
            trailing = (f" (a trailing {separator_name(sep)[:-1]} at the end of the header creates one)"
                        if j == len(header) - 1 else "")
            raise DataError(f"{where}: line {line}: column {j + 1} of the header has an empty name{trailing}",
                            "give every column a name, or remove the extra separator", path=where, line=line)
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name in seen:
            raise DataError(f"{where}: line {line}: duplicate column name {name!r} (columns {seen[name] + 1} and "
                            f"{j + 1})", "give each column a unique name", path=where, line=line, column=name)
        seen[name] = j


def _ragged(where: str, line: int, row: list[str], m: int, sep: str) -> DataError:
    """DataError for a data row with the wrong number of fields."""
    if row and row[0].lstrip().startswith("#"):
        return DataError(f"{where}: line {line} is a comment ({sep.join(row)[:40]!r}) after the header",
                         "'#' comments are allowed only before the header; delete the line or move it up",
                         path=where, line=line)
    name = separator_name(sep)
    hint = f"check for missing or extra {name}; quote fields that contain {name}"
    if len(row) > m and not any(c.strip() for c in row[m:]):
        hint = f"the line ends with extra {name}; remove them"
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
