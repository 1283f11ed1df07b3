"""The CSV/TSV reader's fast path and its strict fallback give the same tables and the same errors.

Every input is read twice, with the fast path on and off (``parse_source(..., fast=False)``), then checked as
``read_table`` checks it; the outcomes (the table, or the DataError's one line and fields) must be identical. The
inputs: every CSV file of the bad-input corpus (tests/test_bad_inputs.py), hand-made edge cases, tables large enough
to take several fast-path segments (with a fault deep inside), and random tables of awkward cells (hypothesis). Every
test runs with each fast-path engine: the compiled parser (kansci/data/numparse.py) and numpy's reader alone. The
compiled parser's doubles are compared bit for bit with ``float``'s on numbers of every size and exponent."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kansci.data import delimited, numparse
from kansci.data.source import open_source, read_source
from kansci.data.table import check_columns, check_sep, read_table
from kansci.errors import DataError
from tests.test_bad_inputs import CASES


@pytest.fixture(params=["compiled", "numpy"], autouse=True)
def engine(request, monkeypatch) -> str:
    """The fast path's engine: the compiled parser for every size, or numpy's reader alone."""
    if request.param == "compiled":
        monkeypatch.setattr(delimited, "_KERNEL_BYTES", 0)
    else:
        monkeypatch.setattr(delimited, "parse_rows", lambda *args: -1)
    return request.param


def outcome(path: Path, sep: str = "auto", fast: bool = True, in_memory: bool = False) -> tuple[Any, ...]:
    """("ok", header, values, lines, bad cells, sha256) or ("error", one line, fields) of reading ``path`` like
    read_table: streamed from the file, or (``in_memory``) from its bytes."""
    try:
        if in_memory:
            data, where, digest = read_source(path)
            table = delimited.parse_delimited(data, where, digest, check_sep(sep), fast=fast)
        else:
            table = delimited.parse_source(open_source(path), check_sep(sep), fast=fast)
        check_columns(table, range(len(table.header)))
    except DataError as exc:
        return ("error", exc.one_line(), exc.fields())
    return ("ok", table.header, table.values, table.lines, table.bad_cells, table.sha256)


def assert_same(path: Path, sep: str = "auto", in_memory: bool = False) -> tuple[Any, ...]:
    fast, strict = outcome(path, sep, True, in_memory), outcome(path, sep, False, in_memory)
    assert fast[0] == strict[0], (fast, strict)
    if fast[0] == "error":
        assert fast == strict
    else:
        assert fast[1] == strict[1]
        np.testing.assert_array_equal(fast[2], strict[2])  # NaN == NaN here
        assert fast[2].dtype == strict[2].dtype == np.float64 and fast[2].shape == strict[2].shape
        np.testing.assert_array_equal(fast[3], strict[3])
        assert fast[4:] == strict[4:]
    return fast


def used_fast_path(path: Path, sep: str = "auto") -> bool:
    return delimited._parse_fast(open_source(path), check_sep(sep), None) is not None


# ------------------------------------------------------------------------------------------------ the corpus
CSV_CASES = [c for c in CASES if c.id.startswith("csv-") and c.files]


@pytest.mark.parametrize("case", CSV_CASES, ids=[c.id for c in CSV_CASES])
def test_bad_input_corpus_reads_the_same(case, tmp_path: Path) -> None:
    sep = next((a.split("=", 1)[1] for a in case.argv if a.startswith("data.sep=")), "auto")
    for name, content in case.files.items():
        if name.endswith("/"):
            continue
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        assert_same(path, sep)


def rows(n: int, sep: str = ",", end: str = "\n") -> str:
    return "".join(sep.join(f"{v:.9g}" for v in (i * 0.5, (i * 7) % 11 - 5.25, i ** 0.5)) + end for i in range(n))


EDGE = {
    "plain": ("x,y,f\n" + rows(50), True),
    "crlf": ("x,y,f\r\n" + rows(50, end="\r\n"), True),
    "no final newline": ("x,y,f\n" + rows(50).rstrip("\n"), True),
    "trailing blank lines": ("x,y,f\n" + rows(50) + "\n\n\r\n", True),
    "bom, comments and blank lines before the header": ("\ufeff# made by hand\n\n  \n x , \"y\",f \n" + rows(20), True),
    "tsv": ("x\ty\tf\n" + rows(30, "\t"), True),
    "semicolons (data.sep)": ("x;y;f\n" + rows(30, ";"), True),
    "spaces around cells": ("x,y,f\n" + "".join(f" {i} ,  {i % 3}\t, {2 * i} \n" for i in range(30)), True),
    "nan and inf cells": ("x,y,f\n" + rows(10) + "nan,1,2\n3,-inf,Infinity\n" + rows(5), True),
    "exponents and signs": ("x,y,f\n1e3,-2.5E-3,+.5\n-0,.5e+2,1.\n7,8,9\n", True),
    "quoted header name with a line break": ('x,"a\nb",f\n' + rows(10), True),
    "blank line in the body": ("x,y,f\n" + rows(10) + "\n" + rows(10), False),
    "whitespace line in the body": ("x,y,f\n" + rows(10) + "   \n" + rows(10), False),
    "blank line right after the header": ("x,y,f\n\n" + rows(10), False),
    "quoted numbers": ('x,y,f\n"1",2,3\n' + rows(10), False),
    "empty cell": ("x,y,f\n1,,3\n" + rows(10), False),
    "text column": ("name,x,y\n" + "".join(f"n{i},{i},{i % 4}\n" for i in range(12)), False),
    "underscores in numbers": ("x,y,f\n1_000,2,3\n" + rows(10), False),
    "arabic-indic digits": ("x,y,f\n\u0661\u0662,2,3\n" + rows(10), False),
    "non-breaking spaces": ("x,y,f\n\u00a01\u00a0,2,3\n" + rows(10), True),
    "information separators (not whitespace to float)": ("x,y,f\n1\x1c,2,3\n" + rows(10), False),
    "hex number": ("x,y,f\n0x10,2,3\n" + rows(10), False),
    "leading tab in a tsv row": ("x\ty\n\t1\t2\n1\t2\n", False),
    "doubled tab in a tsv row": ("x\ty\tf\n1\t\t2\n1\t2\t3\n", False),
    "trailing separator": ("x,y\n1,2,\n3,4\n", False),
    "carriage returns only": ("x,y,f\r" + rows(10, end="\r"), False),
    "form feed line": ("x,y\n1,2\n\x0c\n3,4\n", False),
    "late comment": ("x,y,f\n" + rows(5) + "# note\n" + rows(5), False),
    "single column": ("f\n" + "".join(f"{i}\n" for i in range(10)), True),
    "single column with a blank line": ("f\n1\n\n2\n", False),
    "one data row": ("x,y\n1,2\n", True),
    "header only": ("x,y\n", False),
    "header only, no newline": ("x,y", False),
}


@pytest.mark.parametrize("name", list(EDGE))
def test_edge_cases_read_the_same(name: str, tmp_path: Path) -> None:
    text, fast = EDGE[name]
    sep = ";" if "data.sep" in name else "auto"
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8", newline="")
    assert_same(path, sep)
    assert_same(path, sep, in_memory=True)
    assert used_fast_path(path, sep) is fast


def test_fast_path_matches_the_header_and_lines_of_the_strict_parser(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('# c\n\nx,"a\nb",f\n1,2,3\n4,5,6\n', encoding="utf-8")  # (check_columns refuses that name)
    fast = delimited._parse_fast(open_source(path), "auto", None)
    strict = delimited.parse_source(open_source(path), fast=False)
    assert fast is not None and fast.header == strict.header == ["x", "a\nb", "f"]
    assert list(fast.lines) == list(strict.lines) == [5, 6] and np.array_equal(fast.values, strict.values)


def big_table(n: int = 60_000) -> str:
    rng = np.random.default_rng(0)
    values = rng.standard_normal((n, 4))
    return "a,b,c,y\n" + "\n".join(",".join(f"{v:.12g}" for v in row) for row in values) + "\n"


@pytest.mark.parametrize("fault, names", [
    ("none", ()),
    ("text cell", ("line 50002", "'c'", "'oops'")),
    ("ragged row", ("line 50002", "3 fields", "expected 4")),
    ("nan cell", ("line 50002", "'b'")),
    ("latin-1 byte", ("line 50002", "0xe9", "UTF-8")),
    ("blank line", ()),
])
def test_large_tables_over_several_chunks(fault: str, names: tuple[str, ...], tmp_path: Path) -> None:
    lines = big_table().split("\n")
    bad = {"text cell": "1,2,oops,4", "ragged row": "1,2,3", "nan cell": "1,nan,3,4", "blank line": ""}
    if fault in bad:
        lines[50_001] = bad[fault]
    data = "\n".join(lines).encode("utf-8")
    if fault == "latin-1 byte":
        data = data.replace(lines[50_001].encode(), b"1,2,\xe9,4", 1)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    assert len(data) > 2 * delimited._FAST_CHUNK
    got = assert_same(path)
    assert_same(path, in_memory=True)
    if fault == "none":
        assert got[0] == "ok" and got[2].shape == (60_000, 4) and used_fast_path(path)
        assert got[3][0] == 2 and got[3][-1] == 60_001
    elif fault == "blank line":
        assert got[0] == "ok" and got[2].shape == (59_999, 4) and not used_fast_path(path)
    else:
        assert got[0] == "error" and all(n in got[1] for n in names), got[1]


def test_progress_reports_bytes_up_to_the_total(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(big_table(), encoding="utf-8")
    seen: list[tuple[int, int]] = []
    header, values = read_table(path, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert len(seen) >= 2 and all(t == size for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] <= size
    assert values.shape == (60_000, 4) and header == ["a", "b", "c", "y"]
    seen.clear()
    (tmp_path / "q.csv").write_text('x,y\n"1",2\n3,4\n', encoding="utf-8")  # strict parser: one call at the end
    read_table(tmp_path / "q.csv", progress=lambda done, total: seen.append((done, total)))
    size = (tmp_path / "q.csv").stat().st_size
    assert seen == [(size, size)]


# ------------------------------------------------------------------------------------------------ random tables
CELLS = st.sampled_from([
    "0", "1", "-2.5", "+.5", "1e3", "1E-3", "nan", "NaN", "inf", "-Infinity", "1e999", " 3 ", "\t4", "5 ", "", " ",
    "abc", "1_0", "0x1", '"6"', "#7", "\u00a08", "\u0669", "1.2.3", "--1", "e5", ".", "9\x0b", "1\x1c", "\x1f2",
    "\x003", "\u20284", "5\x85",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=st.integers(1, 4), body=st.lists(st.lists(CELLS, min_size=1, max_size=5), min_size=0, max_size=6),
       sep=st.sampled_from([",", "\t", ";"]), end=st.sampled_from(["\n", "\r\n"]))
def test_random_tables_read_the_same(m: int, body: list[list[str]], sep: str, end: str, tmp_path: Path) -> None:
    header = sep.join(f"c{j}" for j in range(m))
    text = header + end + "".join(sep.join(row) + end for row in body)
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8", newline="")
    assert_same(path, sep if sep == ";" else "auto")


# ------------------------------------------------------------------------------------------------ the compiled parser
def number_corpus(n: int = 40_000) -> list[str]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    digits = ["".join(rng.choice(list("0123456789"), int(k))) for k in rng.integers(1, 20, n)]
    halfway = []  # odd 54-bit mantissas: exactly halfway between two doubles
    for mant, e2 in zip(rng.integers(2**52, 2**53, n // 4), rng.integers(-60, 60, n // 4)):
        text = str((2 * int(mant) + 1) * 2 ** int(e2)) if e2 >= 0 else f"{(2 * int(mant) + 1) * 5 ** -int(e2)}e{e2}"
        if len(text.split("e")[0]) <= 19:
            halfway.append(text)
    edge = ["4.9e-324", "2.4703282292062327e-324", "2.4703282292062328e-324", "2.2250738585072011e-308",
            "2.2250738585072014e-308", "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
            "9007199254740993", "9007199254740995", "0.1", "0.3", "1e23", "8.988465674311579e307", "1e-400", "1e400",
            "1.0000000000000002", "4.4501477170144023e-308", "6.631236846766476e-316", "-0", "+0.0", "-0e5", "00012",
            "1.", ".5", "-.5e-3", "1E+5", "0.000000000000000000000000000001234", " 7 ", "\t-8.25\t"]
    return ([repr(float(v)) for v in x] + [f"{v:.18e}" for v in x[: n // 4]] + [f"{v:.9g}" for v in x[: n // 4]]
            + [f"{d}e{int(e)}" for d, e in zip(digits, rng.integers(-360, 330, n))] + halfway + edge)


def test_compiled_parser_gives_the_doubles_float_gives(engine: str) -> None:
    if engine != "compiled":
        pytest.skip("the compiled parser only")
    cells = number_corpus()
    out = np.empty((len(cells), 1))
    assert numparse.parse_rows(("\n".join(cells) + "\n").encode(), ",", out, 0) == len(cells)
    expected = np.array([float(c) for c in cells])
    wrong = np.flatnonzero(out[:, 0].view(np.uint64) != expected.view(np.uint64))
    assert wrong.size == 0, [(cells[k], out[k, 0], expected[k]) for k in wrong[:5]]
    rows = np.empty((2, 3))
    assert numparse.parse_rows(b"1,2,3\r\n4, 5 ,6", ",", rows, 0) == 2 and rows.tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize("cell", ["1e", "e5", ".", "-", "+-1", "1 2", "", "1..2", "1e5.5", "0x10", "nan", "inf", "1_0",
                                  "1\r2", '"1"', "#1", "1" * 20, "\u00a01"])
def test_compiled_parser_leaves_anything_else_to_the_broader_parsers(cell: str, engine: str) -> None:
    if engine != "compiled":
        pytest.skip("the compiled parser only")
    out = np.empty((2, 2))
    assert numparse.parse_rows(f"{cell},1\n2,3\n".encode(), ",", out, 0) == -1
    assert numparse.parse_rows(b"1,2\n\n3,4\n", ",", out, 0) == -1  # a blank line
    assert numparse.parse_rows(b"1,2,3\n", ",", out, 0) == -1  # a ragged row


def test_power_table_matches_fast_float() -> None:
    table = numparse.power_table()
    assert table.shape == (651, 2)
    assert (int(table[342, 0]), int(table[342, 1])) == (1 << 63, 0)  # 5**0
    assert int(table[343, 0]) == 0xA000000000000000  # 5**1 = 0b101, normalised to the top bit
    for q in (-342, -28, -27, -1, 1, 27, 308):
        value = (int(table[q + 342, 0]) << 64) | int(table[q + 342, 1])
        assert 1 << 127 <= value < 1 << 128, q
