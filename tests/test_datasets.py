"""Synthetic datasets, CSV output and the Feynman table, checked against numpy written by hand and sympy.lambdify."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import sympy

from kansci.data.feynman import FeynmanEquation, feynman_dataset, feynman_equation, feynman_table
from kansci.data.names import clashes_with_sympy, safe_column_name
from kansci.data.synthetic import evaluate_expr, make_dataset, parse_var_spec, write_csv
from kansci.errors import DataError, FormulaError


def test_parse_var_spec() -> None:
    assert parse_var_spec("x=-1:1") == ("x", -1.0, 1.0)
    assert parse_var_spec(" T = 1e2 : 3.5e2 ") == ("T", 100.0, 350.0)
    for bad, fragment in [("x-1:1", "name=low:high"), ("x=1", "name=low:high"), ("x=a:1", "numbers"),
                          ("x=2:1", "low < high"), ("x=1:inf", "finite"), ("1x=0:1", "not a valid"),
                          ("lambda=0:1", "keyword"), ("_x=0:1", "not a valid")]:
        with pytest.raises(DataError) as info:
            parse_var_spec(bad)
        assert fragment in info.value.message and info.value.hint, bad
    with pytest.raises(DataError) as info:
        parse_var_spec("lambda=0:1")
    assert "lambd" in info.value.hint


RANGES = {"x": (-1.0, 2.0), "y": (0.5, 3.0), "z": (-4.0, -2.0)}
FORMULA = "x*sin(y) + exp(-z/3)/y^2"


def by_hand(X: np.ndarray) -> np.ndarray:
    x, y, z = X[:, 0], X[:, 1], X[:, 2]
    return x * np.sin(y) + np.exp(-z / 3) / y**2


def test_make_dataset_shapes_ranges_values() -> None:
    data = make_dataset(FORMULA, RANGES, 500, seed=3, target="out")
    assert data.names == ["x", "y", "z"] and data.target == "out"
    assert data.X.shape == (500, 3) and data.X.dtype == np.float64
    assert data.y.shape == (500,) and data.y.dtype == np.float64
    for j, (low, high) in enumerate(RANGES.values()):
        col = data.X[:, j]
        assert col.min() >= low and col.max() < high
        assert col.max() - col.min() > 0.9 * (high - low)  # actually spread over the range
    np.testing.assert_allclose(data.y, by_hand(data.X), rtol=1e-13, atol=0)
    assert np.array_equal(data.y, data.y_clean)
    assert data.expr == sympy.sympify("x*sin(y) + exp(-z/3)/y**2")
    # Sequence form gives the same data.
    seq = make_dataset(FORMULA, [(k, *v) for k, v in RANGES.items()], 500, seed=3, target="out")
    assert np.array_equal(seq.X, data.X) and np.array_equal(seq.y, data.y)


def test_make_dataset_seeds() -> None:
    a = make_dataset(FORMULA, RANGES, 100, noise=0.1, seed=7, target="out")
    b = make_dataset(FORMULA, RANGES, 100, noise=0.1, seed=7, target="out")
    c = make_dataset(FORMULA, RANGES, 100, noise=0.1, seed=8, target="out")
    assert a.X.tobytes() == b.X.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert not np.array_equal(a.X, c.X) and not np.array_equal(a.y, c.y)


def test_noise_is_relative_to_rms() -> None:
    n, level = 40_000, 0.05
    data = make_dataset("3 + x", {"x": (-1, 1)}, n, noise=level, seed=0)
    rms = np.sqrt(np.mean(data.y_clean**2))
    resid = data.y - data.y_clean
    expected = level * rms
    # Sample std of n Gaussians has relative standard error ~ 1/sqrt(2n) = 0.35%; allow 5 of those.
    assert abs(resid.std() / expected - 1) < 5 / math.sqrt(2 * n)
    assert abs(resid.mean()) < 5 * expected / math.sqrt(n)
    np.testing.assert_allclose(data.y_clean, 3 + data.X[:, 0], rtol=1e-15)


def test_make_dataset_errors() -> None:
    with pytest.raises(FormulaError) as info:
        make_dataset("x + w*v", {"x": (0, 1)}, 10)
    assert "v, w" in info.value.message and "x" in info.value.message
    unused = make_dataset("2*x", {"x": (0, 1), "u": (5, 6)}, 10)  # declared but unused is fine
    assert unused.names == ["x", "u"] and np.allclose(unused.y, 2 * unused.X[:, 0])
    with pytest.raises(DataError) as info:
        make_dataset("log(x)", {"x": (-1, 1)}, 1000, seed=0)
    data = np.random.default_rng(0).uniform(-1, 1, size=(1000, 1))
    assert f"on {int((data[:, 0] <= 0).sum())} of 1000" in info.value.message
    assert "range" in info.value.hint
    with pytest.raises(DataError):
        make_dataset("x", {"x": (1, 0)}, 10)
    with pytest.raises(DataError):
        make_dataset("x", {"x": (0, 1)}, 0)
    with pytest.raises(DataError):
        make_dataset("x", {"x": (0, 1)}, 10, noise=-0.1)
    with pytest.raises(DataError):
        make_dataset("x", {"x": (0, 1)}, 10, target="x")
    with pytest.raises(FormulaError):
        make_dataset("x.real", {"x": (0, 1)}, 10)


def test_constant_formula_and_declared_constant_names() -> None:
    data = make_dataset("pi", {"x": (0, 1)}, 4)
    assert np.array_equal(data.y, np.full(4, np.pi))
    data = make_dataset("e*x", {"e": (2, 3), "x": (0, 1)}, 50)  # declared 'e' is a variable, not Euler's number
    np.testing.assert_allclose(data.y, data.X[:, 0] * data.X[:, 1], rtol=1e-15)


def test_evaluate_expr_every_function() -> None:
    from math import erf

    X = np.random.default_rng(1).uniform(0.1, 0.9, size=(64, 2))
    x, y = X[:, 0], X[:, 1]
    expected = {
        "sin(x)": np.sin(x), "cos(x)": np.cos(x), "tan(x)": np.tan(x), "asin(x)": np.arcsin(x),
        "acos(x)": np.arccos(x), "atan(x)": np.arctan(x), "atan2(y, x)": np.arctan2(y, x), "sinh(x)": np.sinh(x),
        "cosh(x)": np.cosh(x), "tanh(x)": np.tanh(x), "asinh(x)": np.arcsinh(x), "acosh(1 + x)": np.arccosh(1 + x),
        "atanh(x)": np.arctanh(x), "exp(x)": np.exp(x), "log(x)": np.log(x), "log(x, 2)": np.log2(x),
        "sqrt(x)": np.sqrt(x), "abs(x - 0.5)": np.abs(x - 0.5), "sign(x - 0.5)": np.sign(x - 0.5),
        "erf(x)": np.array([erf(v) for v in x]), "x^y": x**y, "x/y": x / y, "x**-2.5": x**-2.5,
    }
    from kansci.expr.text import parse_formula

    for text, ref in expected.items():
        got = evaluate_expr(parse_formula(text, ["x", "y"]), ["x", "y"], X)
        np.testing.assert_allclose(got, ref, rtol=1e-12, err_msg=text)


def test_write_csv_round_trips_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 10.0 ** rng.integers(-300, 300, size=(50, 3))
    X[0, 0], X[1, 1] = 0.1 + 0.2, -0.0
    y = rng.normal(size=50) / 3
    path = tmp_path / "deep" / "er" / "data.csv"
    write_csv(path, ["a", "b", "c"], X, y, "y")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["a", "b", "c", "y"]
    back = np.array([[float(v) for v in row] for row in rows[1:]])
    assert back.shape == (50, 4)
    assert back[:, :3].tobytes() == X.tobytes() and back[:, 3].tobytes() == y.tobytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.csv"]  # no temp file left
    write_csv(path, ["a", "b", "c"], X[:2], y[:2], "y")  # overwrite in place
    assert len(path.read_text().splitlines()) == 3
    with pytest.raises(DataError):
        write_csv(path, ["a", "b"], X, y, "y")
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.csv"]


def test_feynman_table_contents() -> None:
    table = feynman_table()
    assert len(table) == 100 and len({eq.id for eq in table}) == 100
    assert sum(eq.in_srbench for eq in table) == 97
    assert {eq.id for eq in table if not eq.in_srbench} == {"I.26.2", "I.30.5", "II.11.17"}
    numbers = [eq.number for eq in table]
    assert sorted(numbers) == list(range(1, 101))  # unique; the original lists I.13.4 (9) after I.12.x
    eq = feynman_equation("I.6.2a")
    assert isinstance(eq, FeynmanEquation) and eq.output == "f" and eq.variables == (("theta", 1.0, 3.0),)
    assert feynman_equation("feynman_I_6_2a") is eq
    table.clear()  # callers get a copy
    assert len(feynman_table()) == 100
    with pytest.raises(DataError) as info:
        feynman_equation("I.6.2c")
    assert "I.6.2" in info.value.hint


def test_feynman_exprs_bind_clashing_names_as_symbols() -> None:
    expr = feynman_equation("II.13.17").expr()  # uses I, epsilon
    assert sympy.Symbol("I") in expr.free_symbols and not expr.has(sympy.I)
    expr = feynman_equation("I.47.23").expr()  # uses gamma
    assert sympy.Symbol("gamma") in expr.free_symbols and not expr.has(sympy.gamma)
    for eq in feynman_table():
        assert {s.name for s in eq.expr().free_symbols} <= set(eq.names), eq.id


def test_every_feynman_equation_is_finite_and_matches_lambdify() -> None:
    """All 100 equations evaluate to finite values on their published ranges (200 points each)."""
    for eq in feynman_table():
        data = feynman_dataset(eq, 200, seed=0, rename_clashes=False)
        assert data.X.shape == (200, len(eq.variables)) and np.isfinite(data.y).all(), eq.id
        for j, (_, low, high) in enumerate(eq.variables):
            assert (data.X[:, j] >= low).all() and (data.X[:, j] < high).all()
        ref = sympy.lambdify([sympy.Symbol(n) for n in eq.names], eq.expr(), "numpy")(*data.X.T)
        np.testing.assert_allclose(data.y, np.broadcast_to(ref, data.y.shape), rtol=1e-10, err_msg=eq.id)


def test_feynman_by_hand_and_renaming() -> None:
    data = feynman_dataset("I.6.2a", 100, seed=2)
    theta = data.X[:, 0]
    np.testing.assert_allclose(data.y, np.exp(-theta**2 / 2) / np.sqrt(2 * np.pi), rtol=1e-14)
    plain = feynman_dataset("II.13.17", 50, seed=1, rename_clashes=False)
    renamed = feynman_dataset("II.13.17", 50, seed=1)
    assert plain.names == ["epsilon", "c", "I", "r"] and renamed.names == ["epsilon", "c", "I_", "r"]
    assert {s.name for s in renamed.expr.free_symbols} == set(renamed.names)
    assert np.array_equal(plain.X, renamed.X) and np.array_equal(plain.y, renamed.y)
    assert feynman_dataset("III.14.14", 5).target == "I_"
    for eq in feynman_table():
        data = feynman_dataset(eq, 2)
        assert not any(clashes_with_sympy(n) for n in [*data.names, data.target]), eq.id
        assert len(set(data.names) | {data.target}) == len(data.names) + 1


def test_noisy_feynman_is_seeded() -> None:
    a = feynman_dataset("I.12.1", 300, noise=0.01, seed=4)
    b = feynman_dataset("I.12.1", 300, noise=0.01, seed=4)
    assert a.y.tobytes() == b.y.tobytes() and not np.array_equal(a.y, a.y_clean)


def test_clash_names() -> None:
    for name in ["I", "N", "S", "E", "O", "Q", "pi", "beta", "gamma", "zeta", "lambda", "sin", "e", "ln", "arcsin"]:
        assert clashes_with_sympy(name), name
    for name in ["x", "theta", "lambd", "I_", "gamma_", "T1", "mu_drift"]:
        assert not clashes_with_sympy(name), name
    assert safe_column_name("I") == "I_" and safe_column_name("gamma") == "gamma_"
    assert safe_column_name("theta") == "theta"
