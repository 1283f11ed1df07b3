"""Property-based tests (hypothesis) of every parser of user input: the CSV/TSV reader, the formula parser, the units
parser and the config loader. Property: any input yields either a result or kansci's own error (a
:class:`~kansci.errors.KansciError`), never another exception.

Each input is drawn both from anything at all (bytes, text) and from an alphabet close to the format, which reaches
deeper into the parser. The number of examples comes from the hypothesis profile (``tests/conftest.py``): ``ci`` by
default (60 per test, derandomized), ``HYPOTHESIS_PROFILE=local`` for a long run (2000 per test)."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kansci.config import config_to_dict, default_config, load_config
from kansci.data.table import parse_table, read_table
from kansci.errors import KansciError
from kansci.expr.text import parse_formula
from kansci.units import FEYNMAN_BASIS, SI, parse_unit, parse_units_csv, parse_units_text

T = TypeVar("T")


def result_or_own_error(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | KansciError:
    """``fn(*args, **kwargs)``, or the KansciError it raised (with a message); any other exception propagates."""
    try:
        return fn(*args, **kwargs)
    except KansciError as exc:
        assert exc.message.strip(), f"{type(exc).__name__} without a message"
        return exc


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the files the examples write (module-scoped: hypothesis reruns the test body, not fixtures)."""
    return tmp_path_factory.mktemp("properties")


# ------------------------------------------------------------------------------------------------ CSV/TSV reader
CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "NA", "null", "?", "1e", "1e400", "0x10", "1_000", " 1 ",
                     "\"1\"", "\"a,b\"", "\"", "x", "θ", "1.5.2", "--1", "+.5", "\t", "#c"]),
    st.text(alphabet="0123456789.eE+-,;\t \"'#naifNAIF\r", max_size=8),
)


@st.composite
def csv_like(draw: st.DrawFn) -> bytes:
    """A table that is mostly well formed: a header, rows of cells, a separator, line endings, an encoding."""
    sep = draw(st.sampled_from([",", "\t", ";", "|", " "]))
    n_cols = draw(st.integers(1, 4))
    header = draw(st.lists(st.sampled_from(["x", "y", "f", "", "x", " a ", "\"q\"", "θ", "a\x00", "1", "#x"]),
                           min_size=n_cols, max_size=n_cols))
    rows = draw(st.lists(st.lists(CELL, min_size=max(n_cols - 1, 0), max_size=n_cols + 1), max_size=6))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    text = end.join(lines) + draw(st.sampled_from(["", end, end + end, "\n#end\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


TABLE_BYTES = st.one_of(st.binary(max_size=300), csv_like(), st.binary(max_size=200).map(lambda b: b"PAR1" + b))
SEPS = st.sampled_from(["auto", ",", "\t", ";", "|", "tab", "comma", ":", "x", "", ",,", "\n"])
SUFFIXES = st.sampled_from([".csv", ".tsv", ".txt", ".parquet", ""])


@given(data=TABLE_BYTES, sep=SEPS, suffix=SUFFIXES)
@example(data=b"x,y\n1,2\n3,4\n", sep="auto", suffix=".csv")
@example(data=b"x\ty\n1\t2\n", sep="tab", suffix=".tsv")
def test_the_table_reader_returns_a_table_or_its_own_error(scratch: Path, data: bytes, sep: str,
                                                           suffix: str) -> None:
    path = scratch / f"table{suffix}"
    path.write_bytes(data)
    table = result_or_own_error(parse_table, path, sep)
    if not isinstance(table, KansciError):
        assert table.values.ndim == 2 and table.values.shape[1] == len(table.header)
        assert table.values.dtype == np.float64 and len(table.lines) == table.values.shape[0]
    read = result_or_own_error(read_table, path, sep)
    if not isinstance(read, KansciError):
        header, values = read
        assert values.shape[1] == len(header) and np.isfinite(values).all()


@given(text=st.text(max_size=200), sep=SEPS)
def test_the_table_reader_on_any_text(scratch: Path, text: str, sep: str) -> None:
    path = scratch / "text.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result_or_own_error(read_table, path, sep)


# ------------------------------------------------------------------------------------------------ formula parser
FORMULA_ALPHABET = "xyzt_0123456789.eE+-*/%^()[], =<>!~&|@'\"`\\ \t\n:;{}#λθ$"
FORMULA_WORDS = ["sin", "cos", "exp", "log", "sqrt", "abs", "tanh", "pi", "E", "e", "x", "y", "**", "1e308",
                 "1e-400", "0", "__import__", "lambda", "if", "not", "and", "None", "True", "Max", "x.real",
                 "x[0]", "(", ")", ",", "-", "/", "*", " ", "9", "`a b`", "1j", "0x1F", "1_0", "..."]
FORMULAS = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=FORMULA_ALPHABET, max_size=60),
    st.lists(st.sampled_from(FORMULA_WORDS), max_size=14).map("".join),
)


@given(text=FORMULAS, variables=st.sampled_from([None, ["x", "y"], ["x", "y", "z", "t"], ["a b", "θ"]]),
       float64=st.booleans())
@example(text="exp(-x**2/2)/sqrt(2*pi)", variables=["x"], float64=False)
@example(text="x" * 3000, variables=None, float64=False)
def test_the_formula_parser_returns_an_expression_or_its_own_error(text: str, variables: list[str] | None,
                                                                   float64: bool) -> None:
    import sympy

    expr = result_or_own_error(parse_formula, text, variables, float64=float64)
    if not isinstance(expr, KansciError):
        assert isinstance(expr, sympy.Basic)
        if variables is not None:
            assert {s.name for s in expr.free_symbols} <= set(variables)


# ------------------------------------------------------------------------------------------------- units parser
UNIT_WORDS = ["m", "s", "kg", "N", "J", "K", "V", "ohm", "A", "mol", "cd", "Hz", "W", "T", "eV", "degC", "rad",
              "dimensionless", "1", "2", "0", "-1", "1/2", "^", "**", "*", "/", "(", ")", " ", "meter", "foo", "%",
              "1e999", "9**9", ".", "_", "=", ","]
UNIT_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="mskgNJKVAHzWTeolcdrad0123456789^*/()+-. _=,%", max_size=30),
    st.lists(st.sampled_from(UNIT_WORDS), max_size=8).map("".join),
)


@given(text=UNIT_TEXT, basis=st.sampled_from([SI, FEYNMAN_BASIS]))
@example(text="m/s^2", basis=SI)
@example(text="kg*m^2/s^2", basis=FEYNMAN_BASIS)
def test_the_unit_parser_returns_a_dimension_or_its_own_error(text: str, basis: Any) -> None:
    result_or_own_error(parse_unit, text, basis)


UNITS_OPTION = st.one_of(
    st.text(max_size=80),
    st.lists(st.tuples(st.sampled_from(["F", "m", "a", "x", "", " ", "F"]), st.sampled_from(["=", "", "=="]),
                       UNIT_TEXT), max_size=5).map(lambda items: ",".join(n + eq + u for n, eq, u in items)),
)


@given(text=UNITS_OPTION, basis=st.sampled_from([SI, FEYNMAN_BASIS]))
@example(text="F=N,m=kg,a=m/s^2", basis=SI)
def test_the_units_option_returns_a_table_or_its_own_error(text: str, basis: Any) -> None:
    result_or_own_error(parse_units_text, text, basis)


@st.composite
def units_csv(draw: st.DrawFn) -> str:
    bases = draw(st.lists(st.sampled_from(["m", "s", "kg", "T", "V", "K", "A", "mol", "cd", "q", ""]), max_size=5))
    header = draw(st.sampled_from(["Variable,Units", "Variable", "Units,Variable", "name,unit", "Variable,Units,"]))
    cells = st.one_of(st.sampled_from(["0", "1", "-2", "1/2", "0.5", "", "x", "1e9", "1/0", "nan", "\"1\""]),
                      UNIT_TEXT.filter(lambda s: "\n" not in s and "\r" not in s))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(bases) + 3), max_size=5))
    lines = [",".join([header, *bases])] + [",".join(r) for r in rows]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n#x\n"]))


@given(text=st.one_of(st.text(max_size=200), units_csv()),
       known=st.sampled_from([None, ["F", "m", "a"], ["x"], []]))
@example(text="Variable,Units,m,s,kg\nF,N,1,-2,1\n", known=None)
def test_the_units_csv_returns_a_table_or_its_own_error(text: str, known: list[str] | None) -> None:
    result_or_own_error(parse_units_csv, text, "units.csv", known=known)


# ------------------------------------------------------------------------------------------------- config loader
def _dotted(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in tree.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out += _dotted(value, f"{prefix}{key}.")
    return out


KEYS = _dotted(config_to_dict(default_config()))
SECTIONS = sorted({k.split(".")[0] for k in KEYS})
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["auto", "cpu", "adam", "lbfgs", "[3, 5]", "x,y", "-1",
                                                           "1e-3", "no", "on", "~", "2026-12-02", ".inf"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(["expr", "name", "a", "m"]),
                                                                       inner, max_size=3)),
                      max_leaves=6)


@st.composite
def config_tree(draw: st.DrawFn) -> Any:
    """A mapping shaped like a config: known sections and keys (and some unknown ones) with any values."""
    tree: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(KEYS + ["bogus", "train.bogus", "data.units.F"]), max_size=6)):
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = draw(VALUES)
    return draw(st.one_of(st.just(tree), VALUES))  # sometimes not a mapping at all


def _block(value: Any, indent: int = 0) -> str:
    """``value`` as block-style YAML (JSON is YAML 1.2 too, so flow style comes from json.dumps)."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        return "".join(f"{pad}{json.dumps(k)}:\n{_block(v, indent + 2)}" if isinstance(v, dict) and v
                       else f"{pad}{json.dumps(k)}: {json.dumps(v, allow_nan=True)}\n" for k, v in value.items())
    return f"{pad}{json.dumps(value, allow_nan=True)}\n"


YAML_ALPHABET = "abcdefgkmnprstuwx_.:- \n\t#[]{},'\"&*!|>%@`?0123456789"
YAML_TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=YAML_ALPHABET, max_size=120),
    config_tree().map(lambda t: json.dumps(t, allow_nan=True)),
    config_tree().map(_block),
    st.lists(st.sampled_from([f"{s}:\n" for s in SECTIONS] + ["  steps: 5\n", "  lr: x\n", "  grids: [3, 5\n",
                                                              "&a x\n", "*a\n", "!!python/object:os.system x\n",
                                                              "---\n", "...\n", "  - 1\n", "\t\n", "? a\n",
                                                              "a: b: c\n", "%YAML 1.1\n", "x: !!binary AA==\n"]),
             max_size=8).map("".join),
)


@given(text=YAML_TEXT)
@example(text="train:\n  steps: 5\n")
@example(text="")
def test_the_config_loader_on_any_yaml(scratch: Path, text: str) -> None:
    path = scratch / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result_or_own_error(load_config, path)


OVERRIDES = st.lists(st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from(KEYS + ["bogus", "train..steps", "", " train.steps ", "train.steps.x", "1a"]),
              st.sampled_from(["=", "==", ":", ""]),
              st.one_of(VALUES.map(lambda v: json.dumps(v, allow_nan=True)),
                        st.text(alphabet=YAML_ALPHABET, max_size=20))).map("".join),
), max_size=4)


@given(overrides=OVERRIDES)
@example(overrides=["train.steps=200", "train.grids=[3, 5]"])
def test_the_config_loader_on_any_overrides(overrides: list[str]) -> None:
    result_or_own_error(load_config, None, overrides=overrides)
