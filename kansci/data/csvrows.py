"""Small CSV texts (equation and units tables) read row by row with the line each row starts on."""
from __future__ import annotations

import csv
import io

from kansci.errors import DataError

__all__ = ["numbered_rows"]


def numbered_rows(text: str, where: str) -> list[tuple[int, list[str]]]:
    """(line where the row starts, fields) of every non-blank row; ``#`` lines before the header are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if not out and row[0].lstrip().startswith("#"):
                continue
            out.append((line, row))
    except csv.Error as exc:
        raise DataError(f"{where}: line {start}: malformed CSV ({exc})",
                        "a field with commas or quotes must be in double quotes, inner quotes doubled",
                        path=where, line=start) from None
    return out
