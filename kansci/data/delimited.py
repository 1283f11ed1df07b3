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

Two parsers, one result. The fast path (:func:`_parse_fast`) streams the body in chunks of about a megabyte into the
output array, through a compiled parser (:mod:`kansci.data.numparse`) or else numpy's C reader. It accepts only
unquoted numbers, one row per line, no blank lines (``\r\n`` is fine); on anything else (quotes, blank or comment
lines, empty or text cells, a ragged row, bytes that are not UTF-8) the strict parser (:func:`_parse_strict`, the
``csv`` module) reads the table again, so every error message is the strict parser's. Both give identical tables.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kansci.data.numparse import loadtxt_rows, parse_rows
from kansci.data.source import Progress, Source, Table
from kansci.errors import DataError

__all__ = ["SEPARATORS", "SEP_WORDS", "Progress", "parse_delimited", "parse_source", "separator_name"]

_CHUNK = 4096  # rows converted to floats at a time (strict parser)
_FAST_CHUNK = 1 << 20  # bytes of the body converted at a time (fast path)
_HEAD_BYTES = 1 << 16  # the fast path looks for the header in this many first bytes
_KERNEL_BYTES = 8 << 20  # a body this large uses the compiled parser even when numba is not loaded yet
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


def parse_delimited(data: bytes, where: str, digest: str, sep: str = "auto", *, progress: Progress | None = None,
                    fast: bool = True) -> Table:
    """Read and structurally check a delimited text table held in ``data`` (see the module docstring)."""
    return parse_source(Source(where, data=data, digest=digest), sep, progress=progress, fast=fast)


def parse_source(src: Source, sep: str = "auto", *, progress: Progress | None = None, fast: bool = True) -> Table:
    """Read and structurally check a delimited text table (see the module docstring); cells are not yet validated.
    ``progress(done, total)`` is called as the bytes are converted; ``fast=False`` uses the strict parser only."""
    table = _parse_fast(src, sep, progress) if fast else None
    if table is None:
        data = src.read_all()
        table = _parse_strict(data, src.where, src.digest or hashlib.sha256(data).hexdigest(), sep)
        if progress is not None:
            progress(src.size, src.size)
    return table


def _parse_strict(data: bytes, where: str, digest: str, sep: str) -> Table:
    """The strict parser: the stdlib ``csv`` module over the whole text, every fault reported where it is."""
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


def _parse_fast(src: Source, sep: str, progress: Progress | None) -> Table | None:
    """The table, when the body is plain numbers (see the module docstring); None to leave it to the strict parser.
    Two passes over the source: the sha256 and where the lines are, then the conversion of segments of about a
    megabyte straight into the output array, on up to 4 threads (memory: the output and a segment per thread)."""
    head = _fast_header(src.head(3 + _HEAD_BYTES), src.size, sep)
    if head is None:
        return None
    header, sep, body, first_line = head
    digest, end, breaks, segments = src.scan(body, _FAST_CHUNK)
    if end <= body:
        return None
    n, m = breaks + 1, len(header)  # one row per line
    values = np.empty((n, m))
    compiled = end - body >= _KERNEL_BYTES or "numba" in sys.modules  # numba costs about a second to import
    bounds = [r for _, _, r in segments] + [n]

    def fill(k: int) -> bool:  # segment k into its rows of values; threads run these at once (the kernel is nogil)
        rows = values[bounds[k]:bounds[k + 1]]
        buf = src.read(*segments[k][:2])
        if compiled and parse_rows(buf, sep, rows, 0) == len(rows):
            return True
        block = loadtxt_rows(buf, sep, m)
        if block is None or block.shape != rows.shape:
            return False
        rows[:] = block
        return True

    if compiled:
        parse_rows(b"", sep, values, 0)  # compile or load the kernel once, before the threads use it
    pool = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1, len(segments))))
    try:
        for k, ok in enumerate(pool.map(fill, range(len(segments)))):
            if not ok:
                return None
            if progress is not None:
                progress(segments[k][1], src.size)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if not src.unchanged():  # the file changed between the two passes: read it again
        return None
    return Table(src.where, header, values, np.arange(first_line, first_line + n, dtype=np.int64), {}, digest)


def _fast_header(head: bytes, size: int, sep: str) -> tuple[list[str], str, int, int] | None:
    """(header, separator, byte offset of the body, physical line of the first row) from the first bytes ``head`` of
    a source of ``size`` bytes, read the way the strict parser reads them; None when they are not a clean header."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    if len(head) < size:
        head = head[:head.rfind(b"\n") + 1]  # whole lines only
    try:
        lines = io.StringIO(head[bom:].decode("utf-8"), newline="").readlines()
    except UnicodeDecodeError:
        return None
    i0 = next((i for i, raw in enumerate(lines) if raw.strip() and not raw.strip().startswith("#")), None)
    if i0 is None:
        return None
    detected = sep == "auto"
    sep = _detect(lines[i0]) if detected else sep
    reader = csv.reader(iter(lines[i0:]), delimiter=sep, skipinitialspace=True, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
        _check_header(header, i0 + 1, "", sep, detected)
    except (csv.Error, StopIteration, DataError):
        return None
    used = i0 + reader.line_num
    return header, sep, bom + len("".join(lines[:used]).encode("utf-8")), used + 1


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
