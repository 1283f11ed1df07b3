"""Any column name (issue 14): names are kept as the formula's symbols, and every output writes them through the one
mapping of kansci.expr.names: backticks in formula text, \\mathrm{} or Greek letters in LaTeX, identifiers (with a
COLUMNS dict) in the stand-alone Python module. The stored exact text reads back to the same expression."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

from kansci.data import dataset_from_arrays, load_dataset
from kansci.expr.names import ascii_identifier, is_bare, latex_names, python_identifiers, quote
from kansci.expr.text import parse_formula
from kansci.symbolic.exports import EXACT_KEY, Formula, make_symbols

NAMES = ["Temp (K)", "lambda", "θ", "I", "N", "E", "S", "Q", "beta", "gamma", "x 1", "if", "sin", "pi", "a`b", "_x",
         "ΔT", "x_1"]


def test_quote_writes_bare_only_what_the_parser_reads_back() -> None:
    assert [n for n in NAMES if is_bare(n)] == ["θ", "I", "N", "S", "Q", "beta", "gamma", "ΔT", "x_1"]
    assert quote("Temp (K)") == "`Temp (K)`" and quote("lambda") == "`lambda`" and quote("a`b") == "`a``b`"
    for name in NAMES:
        assert parse_formula(quote(name), NAMES) == sympy.Symbol(name)
        if not name.isascii() and is_bare(name):  # a bare non-ASCII name is read only when declared
            continue
        assert parse_formula(quote(name)) == sympy.Symbol(name)


def test_latex_names() -> None:
    tex = latex_names(NAMES + ["x1", "lamda"])
    assert tex["Temp (K)"] == r"\mathrm{Temp\ (K)}" and tex["x 1"] == r"\mathrm{x\ 1}"
    assert tex["lambda"] == r"\lambda" and tex["θ"] == r"\theta" and tex["beta"] == r"\beta"
    assert tex["ΔT"] == r"\mathrm{\Delta{}T}" and tex["_x"] == r"\mathrm{\_x}" and tex["x_1"] == "x_{1}"
    assert tex["pi"] == r"\mathrm{pi}"  # not \pi, which is the constant
    assert tex["x1"] == r"\mathrm{x1}" and tex["lamda"] == r"\mathrm{lamda}"  # sympy would give x_{1}, \lambda again
    assert len(set(tex.values())) == len(tex)


def test_python_identifiers_are_valid_and_distinct() -> None:
    ids = python_identifiers(NAMES + ["x 1 "], reserved={"float"})
    assert ids[:3] == ["Temp_K", "lambda_", "θ"] and ids[NAMES.index("if")] == "if_"
    assert ids[NAMES.index("x 1")] == "x_1_2" and ids[NAMES.index("x_1")] == "x_1" and ids[-1] == "x_1_3"
    assert all(i.isidentifier() for i in ids) and len(set(ids)) == len(ids)
    assert python_identifiers(["float", "x"], reserved={"float"}) == ["float_", "x"]
    assert ascii_identifier("température") == "temperature" and ascii_identifier("2x") == "x_2x"
    assert ascii_identifier("ΔT") == "Delta_T" and ascii_identifier("λ") == "lambda_" and ascii_identifier("()") == "x"


@pytest.fixture(scope="module")
def formula() -> tuple[Formula, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, size=(30, len(NAMES)))
    X[:, NAMES.index("sin")] *= -1  # a column that is not positive: a real (not positive) symbol
    s = dict(zip(NAMES, make_symbols(NAMES, X), strict=True))
    expr = (sympy.Float(1.2345678901234567) * s["Temp (K)"] + sympy.sin(sympy.pi * s["lambda"]) * sympy.E
            + s["E"] ** 2 + s["θ"] * s["sin"] + s["x 1"] / s["if"] + s["I"] * s["a`b"] + sympy.exp(s["_x"])
            + s["pi"] * s["ΔT"] - s["x_1"] + s["N"] * s["S"] * s["Q"] / (s["beta"] + s["gamma"]))
    return Formula(expr, list(NAMES), "Temp out"), X


def test_formula_text_is_in_user_names_and_parses_back(formula) -> None:
    f, X = formula
    assert "`Temp (K)`" in f.text and "`sin`*θ" in f.text and "`x 1`/`if`" in f.text and "`pi`*ΔT" in f.text
    # E and pi are columns here, so the constants are written exp(1) and acos(-1), which read back as E and pi
    assert "exp(1)*sin(acos(-1)*`lambda`)" in f.text
    assert "1.23*`Temp (K)`" in f.rounded(3)
    back = Formula(parse_formula(f.text, NAMES, symbols={s.name: s for s in f.symbols}), NAMES)
    assert back.expr.free_symbols == f.expr.free_symbols
    np.testing.assert_allclose(back(X), f(X), rtol=1e-13)  # display text: floats to 15 digits


def test_formula_json_round_trips_exactly(formula) -> None:
    f, X = formula
    doc = json.loads(json.dumps(f.to_json()))
    assert doc["inputs"] == NAMES and "`Temp (K)`" in doc[EXACT_KEY]
    g = Formula.from_json(doc)
    assert g.expr == f.expr and sympy.srepr(g.expr) == sympy.srepr(f.expr) and g.input_names == NAMES
    np.testing.assert_array_equal(g(X), f(X))
    assert r"\mathrm{Temp\ (K)}" in doc["latex"] and r"\lambda" in doc["latex"] and r"\theta" in doc["latex"]


def test_python_module_maps_identifiers_to_columns(formula, tmp_path: Path) -> None:
    f, X = formula
    source = f.python_module()
    args = "Temp_K, lambda_, θ, I, N, E, S, Q, beta, gamma, x_1_2, if_, sin, pi, a_b, _x, ΔT, x_1"
    assert f"def formula({args}):" in source
    assert "'Temp_K': 'Temp (K)'," in source and "'a_b': 'a`b'," in source
    (tmp_path / "formula.py").write_text(source, encoding="utf-8")
    np.save(tmp_path / "X.npy", X)
    code = ("import json, sys, numpy as np; sys.path.insert(0, '.'); import formula as m; X = np.load('X.npy'); "
            "cols = {name: X[:, k] for k, name in enumerate(m.COLUMNS.values())}; "
            "print(json.dumps([m.formula(*X.T).tolist(), m.formula_from_columns(cols).tolist(), "
            "list(m.COLUMNS.values())]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    by_position, by_name, columns = json.loads(done.stdout)
    assert columns == NAMES
    np.testing.assert_array_equal(by_position, f(X))
    np.testing.assert_array_equal(by_name, f(X))


def test_datasets_keep_every_name(tmp_path: Path) -> None:
    header = ",".join(f'"{n}"' if "," in n else n for n in NAMES)
    values = np.random.default_rng(1).uniform(0.5, 2.0, size=(20, len(NAMES)))
    rows = [",".join(repr(v) for v in row) for row in values.tolist()]
    path = tmp_path / "d.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    ds = load_dataset(path)
    assert ds.input_names == NAMES[:-1] and ds.target_name == NAMES[-1]
    np.testing.assert_array_equal(ds.X, values[:, :-1])
    arrays = dataset_from_arrays(np.asarray(ds.X), ds.y, input_names=NAMES[:-1], target_name=NAMES[-1])
    assert arrays.input_names == ds.input_names
