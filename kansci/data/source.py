"""Where a table's bytes come from (a file, or standard input for the path ``-``) and the :class:`Table` that every
format's reader returns. No torch import."""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kansci.errors import DataError

__all__ = ["STDIN", "STDIN_PATH", "Progress", "Source", "Table", "open_source", "read_source"]

STDIN_PATH = "-"  # the data path that reads standard input
STDIN = "<stdin>"  # how messages and dataset.json name standard input
#: called as progress(bytes_done, bytes_total) while a table is read
Progress = Callable[[int, int], None]


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


class Source:
    """A table's bytes, read on demand: a regular file is streamed in blocks (so a large file is never held in
    memory whole), standard input is read at once. ``where`` names it in messages; ``size`` is its length.
    :meth:`scan` returns the sha256 and where the lines are; :meth:`unchanged` tells whether the file changed since."""

    def __init__(self, where: str, *, path: Path | None = None, data: bytes | None = None, digest: str = "") -> None:
        self.where, self._path, self._data, self.digest = where, path, data, digest
        self._stat = self._fstat()
        self.size = len(data) if data is not None else self._stat[0]

    def _fstat(self) -> tuple[int, int]:
        if self._path is None:
            return (0, 0)
        try:
            st = self._path.stat()
        except OSError as exc:
            raise self._unreadable(exc) from None
        return (st.st_size, st.st_mtime_ns)

    def _unreadable(self, exc: OSError) -> DataError:
        return DataError(f"cannot read data file {self.where!r}: {exc.strerror}", "check the file's permissions",
                         path=self.where)

    def blocks(self, start: int = 0, stop: int | None = None, size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes ``[start, stop)`` in blocks of ``size``."""
        stop = self.size if stop is None else stop
        if self._data is not None:
            for at in range(start, stop, size):
                yield self._data[at:min(at + size, stop)]
            return
        assert self._path is not None
        try:
            with open(self._path, "rb") as fh:
                fh.seek(start)
                while start < stop:
                    block = fh.read(min(size, stop - start))
                    if not block:
                        return
                    start += len(block)
                    yield block
        except OSError as exc:
            raise self._unreadable(exc) from None

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer when the source is shorter)."""
        return b"".join(self.blocks(0, min(n, self.size)))

    def read_all(self) -> bytes:
        if self._data is not None:
            return self._data
        assert self._path is not None
        try:
            return self._path.read_bytes()
        except OSError as exc:
            raise self._unreadable(exc) from None

    def read(self, start: int, stop: int) -> bytes:
        """The bytes ``[start, stop)`` (safe to call from several threads at once)."""
        return b"".join(self.blocks(start, stop, stop - start)) if stop > start else b""

    def scan(self, start: int, segment: int = 1 << 20) -> tuple[str, int, int, list[tuple[int, int, int]]]:
        """One pass over the bytes: (sha256 of all of them, ``end``, line breaks in ``[start, end)``, segments).
        ``end`` is where the content after ``start`` stops, before a trailing run of line-end characters; the
        segments cut ``[start, end)`` after line breaks into pieces of about ``segment`` bytes, each given as (first
        byte, stop, line breaks before it)."""
        sha = hashlib.sha256()
        at, seen, breaks, end = 0, 0, 0, start
        cuts = [(start, 0)]  # (byte, line breaks before it)
        with ThreadPoolExecutor(1) as hasher:  # hashlib releases the GIL: hash while counting
            for block in self.blocks():
                hasher.submit(sha.update, block)
                lo = max(start - at, 0)
                if lo < len(block):
                    count = block.count(b"\n", lo)
                    kept = len(block.rstrip(b"\r\n"))
                    if kept > lo:
                        end, breaks = at + kept, seen + count - block.count(b"\n", kept)
                    seen += count
                    last = block.rfind(b"\n", lo)
                    if last >= 0 and at + last + 1 - cuts[-1][0] >= segment:
                        cuts.append((at + last + 1, seen))
                at += len(block)
        cuts = [c for c in cuts if c[0] < end]
        stops = [c[0] for c in cuts[1:]] + [end]
        return sha.hexdigest(), end, breaks, [(a, b, r) for (a, r), b in zip(cuts, stops)]

    def unchanged(self) -> bool:
        """Whether the file has the size and modification time it had when the source was opened."""
        return self._path is None or self._fstat() == self._stat


def open_source(path: str | Path) -> Source:
    """The source at ``path`` (standard input for ``-``), checked to exist and be readable."""
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
        return Source(STDIN, data=data)
    where = str(path)
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {where!r} does not exist",
                        f"check the path; relative paths start from {Path.cwd()}", path=where)
    if p.is_dir():
        raise DataError(f"data path {where!r} is a directory, not a data file",
                        "give the path of the CSV, TSV or parquet file itself", path=where)
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise DataError(f"cannot read data file {where!r}: {exc.strerror}", "check the file's permissions",
                        path=where) from None
    return Source(where, path=p)


def read_source(path: str | Path) -> tuple[bytes, str, str]:
    """The bytes of ``path`` (standard input for ``-``), the name messages use for it, and the bytes' sha256."""
    src = open_source(path)
    data = src.read_all()
    return data, src.where, hashlib.sha256(data).hexdigest()
