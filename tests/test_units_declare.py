"""Declaring units: the units CSV, unit strings (pint), the CLI and YAML forms, and how they meet the columns."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from kansci.errors import ConfigError, DataError
from kansci.units import (
    FEYNMAN_BASIS,
    SI,
    UnitSpec,
    feynman_units,
    parse_units_csv,
    read_units_csv,
    resolve_units,
    units_from_mapping,
)
from kansci.units import strings as unit_strings

GOOD = "Variable,Units,m,s,kg\nF,Force,1,-2,1\nm,Mass,0,0,1\na,Acceleration,1,-2,0\n"


def write(tmp_path: Path, text: str, name: str = "units.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- the units CSV
def test_read_a_units_csv_with_any_base_columns(tmp_path: Path) -> None:
    table = read_units_csv(write(tmp_path, "# a comment\n" + GOOD + "\n"))
    assert table.basis.names == ("m", "s", "kg")
    assert table["F"].dim.format() == "kg·m/s²" and table["F"].description == "Force" and table["F"].text is None
    assert table.lines == {"F": 3, "m": 4, "a": 5}
    other = parse_units_csv("variable,L,M,T\nx,1,0,0\nw,1/2,0,-0.5\n")  # no Units column, fractions, any case
    assert other.basis.names == ("L", "M", "T") and other["w"].dim.exps == (Fraction(1, 2), 0, Fraction(-1, 2))


@pytest.mark.parametrize("text, line, column, words", [
    ("Name,Units,m,s\nx,Length,1,0\n", 1, "Name", "no 'Variable' column"),
    ("Variable,Units\nx,Length\n", 1, None, "no base-dimension columns"),
    ("Variable,Units,m,m\nx,Length,1,0\n", 1, "m", "appears twice"),
    ("Variable,Units,m,s\nx,Length,1\n", 2, None, "has 3 fields, expected 4"),
    ("Variable,Units,m,s\nx,Length,1,0\n\ny,Time,one,1\n", 4, "m", "'one' is not a number"),
    ("Variable,Units,m,s\nx,Length,1,\n", 2, "s", "is empty"),
    ("Variable,Units,m,s\nx,Length,1,0\nx,Length,1,0\n", 3, "Variable", "already has units on line 2"),
    ("Variable,Units,m,s\n,Length,1,0\n", 2, "Variable", "name is empty"),
    ("Variable,Units,m,s\nx,Length,0.3333,0\n", 2, "m", "not a simple fraction"),
    ("Variable,Units,m,s\n", 1, None, "no rows"),
    ("", None, None, "is empty"),
    ('Variable,Units,m,s\nx,"Len,1,0\n', 2, None, "malformed CSV"),
])
def test_a_bad_units_csv_names_file_line_and_column(tmp_path: Path, text: str, line: int | None,
                                                      column: str | None, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        read_units_csv(path)
    err = info.value
    assert words in err.message and str(path) in err.message and err.path == str(path)
    assert err.line == line and err.column == column
    if line is not None:
        assert f"line {line}" in err.message
    assert err.hint


def test_a_missing_units_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_units_csv(tmp_path / "nope.csv")


def test_rows_must_name_known_columns_when_asked() -> None:
    with pytest.raises(DataError, match="'acc', which is not a column") as info:
        parse_units_csv("Variable,m\nacc,1\n", "u.csv", known=["a", "b"])
    assert info.value.line == 2


# ---------------------------------------------------------------------------------------------- resolve
def test_resolve_file_and_inline_units(tmp_path: Path) -> None:
    table = read_units_csv(write(tmp_path, GOOD))
    declared = resolve_units(["m", "a"], "F", file=table)
    assert list(declared.inputs) == ["m", "a"] and declared.target == table["F"] and declared.target_name == "F"
    declared = resolve_units(["m", "a"], "F", file=parse_units_csv("Variable,m,s,kg\nm,0,0,1\na,1,-2,0\n"),
                             inline={"F": {"m": 1, "s": -2, "kg": 1}})
    assert declared.target.dim == table["F"].dim


def test_resolve_refuses_extra_rows_missing_columns_and_doubles(tmp_path: Path) -> None:
    table = read_units_csv(write(tmp_path, GOOD))
    with pytest.raises(DataError, match="units for 'a', which is not a column") as info:
        resolve_units(["m", "a2"], "F", file=table)
    assert info.value.line == 4 and info.value.path == str(tmp_path / "units.csv")
    assert "did you mean 'a2'" in info.value.hint
    assert list(resolve_units(["m"], "F", file=table, extra_rows=True).inputs) == ["m"]
    with pytest.raises(DataError, match="no units declared for column\\(s\\) 'b'"):
        resolve_units(["m", "a", "b"], "F", file=table)
    with pytest.raises(ConfigError, match="given both in") as info:
        resolve_units(["m", "a"], "F", file=table, inline={"m": {"kg": 1}})
    assert info.value.key == "data.units.m" and info.value.line == 3
    with pytest.raises(ConfigError, match="'q', which is not a column"):
        resolve_units(["m"], "F", inline={"q": 1, "m": 1, "F": 1})


def test_mapping_values() -> None:
    table = units_from_mapping({"n": 1, "x": {"m": 1}}, SI)
    assert table["n"].dim.dimensionless and table["n"].label == "1" and table["x"].dim == SI.dim({"m": 1})
    for bad, words in (({"x": 2}, "2 is not a unit"), ({"x": True}, "expected a unit string"),
                       ({"x": {"furlong": 1}}, "furlong")):
        with pytest.raises(ConfigError, match=words) as info:
            units_from_mapping(bad)
        assert info.value.key == "data.units.x"


# ---------------------------------------------------------------------------------------------- pint
def test_unit_strings() -> None:
    pytest.importorskip("pint")
    from kansci.units import parse_unit
    assert parse_unit("N") == SI.dim({"kg": 1, "m": 1, "s": -2})
    assert parse_unit("m/s^2") == SI.dim({"m": 1, "s": -2}) == parse_unit("m / s**2")
    assert parse_unit("J/K") == SI.dim({"kg": 1, "m": 2, "s": -2, "K": -1})
    assert parse_unit("ohm") == SI.dim({"kg": 1, "m": 2, "s": -3, "A": -2})
    assert parse_unit("dimensionless").dimensionless and parse_unit("1").dimensionless
    assert parse_unit("rad").dimensionless and parse_unit("km") == parse_unit("m")
    assert parse_unit("V", FEYNMAN_BASIS) == FEYNMAN_BASIS.dim({"V": 1})
    assert parse_unit("A", FEYNMAN_BASIS) == FEYNMAN_BASIS.dim({"kg": 1, "m": 2, "s": -3, "V": -1})
    assert parse_unit("K", FEYNMAN_BASIS) == FEYNMAN_BASIS.dim({"T": 1})


def test_bad_unit_strings() -> None:
    pytest.importorskip("pint")
    from kansci.units import parse_unit
    with pytest.raises(DataError, match="unknown unit 'metre_per'"):
        parse_unit("metre_per/s")
    with pytest.raises(DataError) as info:
        parse_unit("kgg")
    assert "did you mean" in info.value.hint and "'kg'" in info.value.hint
    with pytest.raises(DataError, match="cannot be written in the base dimensions m, s, kg, T, V"):
        parse_unit("mol", FEYNMAN_BASIS)
    with pytest.raises(DataError, match="no known meaning"):
        parse_unit("N", parse_units_csv("Variable,L,M,T\nx,1,0,0\n").basis)
    with pytest.raises(DataError, match="empty"):
        parse_unit("  ")


def test_inline_forms() -> None:
    pytest.importorskip("pint")
    from kansci.units import parse_units_option, parse_units_text
    table = parse_units_text("F=N,m=kg,a=m/s^2")
    assert table["F"] == UnitSpec(SI.dim({"kg": 1, "m": 1, "s": -2}), text="N") and table["F"].label == "N"
    assert parse_units_option("F = N, a = m/s^2").units.keys() == {"F", "a"}
    with pytest.raises(ConfigError) as info:
        parse_units_text("F=N,m=kgg")
    assert info.value.key == "--units" and "m=kgg" in info.value.message and "did you mean" in info.value.hint
    for bad in ("F=N,,m=kg", "F", "F=N,F=kg", "=N"):
        with pytest.raises(ConfigError):
            parse_units_text(bad)
    with pytest.raises(ConfigError) as info:
        units_from_mapping({"F": "Nwton"}, where="config.yaml: line 4")
    assert info.value.key == "data.units.F" and info.value.message.startswith("config.yaml: line 4: data.units.F")
    declared = resolve_units(["q", "Volt"], "E", file=parse_units_csv("Variable,m,s,kg,T,V\nq,2,-2,1,0,-1\n"
                                                                       "Volt,0,0,0,0,1\n"), inline="E=J")
    assert declared.target.dim == FEYNMAN_BASIS.dim({"kg": 1, "m": 2, "s": -2})


def test_without_pint_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for cached in (unit_strings._registry, unit_strings._known_names, unit_strings._by_lower):
        cached.cache_clear()
    monkeypatch.setitem(sys.modules, "pint", None)
    try:
        with pytest.raises(DataError, match="pint") as info:
            unit_strings.parse_unit("N")
        assert "kansci[units]" in info.value.hint
        assert unit_strings.parse_unit("dimensionless").dimensionless  # needs no pint
    finally:
        for cached in (unit_strings._registry, unit_strings._known_names, unit_strings._by_lower):
            cached.cache_clear()


def test_importing_kansci_does_not_import_pint() -> None:
    code = "import sys, kansci, kansci.units; kansci.units.parse_unit('1'); assert 'pint' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_packaged_feynman_table() -> None:
    table = feynman_units()
    assert table.basis == FEYNMAN_BASIS and len(table.units) == 120
    assert table["F"].dim == FEYNMAN_BASIS.dim({"m": 1, "s": -2, "kg": 1}) and table["F"].description == "Force"
