"""Standard errors of fitted constants (:mod:`kansci.symbolic.uncertainty`): against a Monte Carlo refit, for
unidentifiable constants, on exact data; their honest digits; and their round trip through ``formula.json``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy

from kansci.cli.jsondoc import symbolify_doc
from kansci.cli.render import constant_lines
from kansci.errors import RunDirError
from kansci.symbolic.exports import Formula
from kansci.symbolic.formula import polish
from kansci.symbolic.uncertainty import (
    NOISE_FLOOR,
    REL_FLOOR,
    constant_table,
    fit_uncertainty,
    format_constant,
    snap_targets,
)

x, z = sympy.symbols("x z", real=True)


def _split(expr: sympy.Expr) -> tuple[float, float]:
    """(a, b) of a fitted ``a*exp(-b*x)``: the Float outside exp and minus the one inside."""
    inner = [f for f in expr.atoms(sympy.Float) if f < 0]
    outer = [f for f in expr.atoms(sympy.Float) if f > 0]
    assert len(inner) == 1 and len(outer) == 1, expr
    return float(outer[0]), -float(inner[0])


def test_stderr_matches_monte_carlo_refits() -> None:
    """y = a·exp(−b·x) + noise: the predicted standard errors match the spread of 200 refits within 20 %."""
    rng = np.random.default_rng(20261202)
    a, b, noise, n = 2.5, 1.3, 0.02, 80
    X = np.linspace(0.0, 3.0, n)[:, None]
    truth = a * np.exp(-b * X[:, 0])
    start = sympy.Float(a) * sympy.exp(sympy.Float(-b) * x)
    fits, predicted = [], []
    for k in range(200):
        yk = truth + noise * rng.standard_normal(n)
        expr, nmse = polish(start, [x], X, yk, steps=30)
        assert math.isfinite(nmse)
        fits.append(_split(expr))
        if k < 25:
            fit = fit_uncertainty(expr, [x], X, yk)
            se = {float(f): s for f, s in zip(fit.floats, fit.stderr)}
            fa, fb = _split(expr)
            predicted.append((se[fa], se[-fb]))
            assert fit.noise == pytest.approx(noise, rel=0.3)  # s estimates the noise
    spread = np.std(np.array(fits), axis=0, ddof=1)
    mean_pred = np.mean(np.array(predicted), axis=0)
    assert np.all(np.abs(mean_pred / spread - 1) < 0.2), (mean_pred, spread)
    assert np.all(np.abs(np.mean(fits, axis=0) - [a, b]) < 3 * spread / np.sqrt(200) + 1e-3)


def redundant(c1: float, c2: float, c3: float) -> sympy.Expr:
    """``c1·sin(x)² + c2·cos(x)² + c3``: sin² + cos² = 1, so only c1 − c2 and c2 + c3 are determined."""
    return sympy.Float(c1) * sympy.sin(x) ** 2 + sympy.Float(c2) * sympy.cos(x) ** 2 + sympy.Float(c3)


def test_unidentifiable_constants_get_infinite_stderr() -> None:
    """In c0·z + c1·sin(x)² + c2·cos(x)² + c3 only c0, c1 − c2 and c2 + c3 are determined: c0 has a finite
    stderr, c1, c2 and c3 an infinite one."""
    rng = np.random.default_rng(0)
    X = np.stack([rng.uniform(-2, 2, 50), np.linspace(-1, 1, 50)], -1)
    yv = 2 * np.sin(X[:, 0]) ** 2 + 1 + 0.5 * X[:, 1] + 0.01 * rng.standard_normal(50)
    expr, _ = polish(sympy.Float(0.4) * z + redundant(1.5, 0.2, 0.7), [x, z], X, yv)
    fit = fit_uncertainty(expr, [x, z], X, yv)
    by_value = dict(zip(fit.values, fit.stderr))
    coef_z = float(expr.coeff(z))
    assert len(by_value) == 4 and math.isfinite(by_value[coef_z]) and 0 < by_value[coef_z] < 0.01
    assert all(math.isinf(s) for v, s in by_value.items() if v != coef_z)
    Xe = np.linspace(0, 1, 30)[:, None]
    # as many constants as rows: no noise estimate
    few = fit_uncertainty(sympy.Float(1.0) + sympy.Float(2.0) * x, [x], Xe[:2], 1 + 2 * Xe[:2, 0])
    assert np.all(np.isinf(few.stderr))


def test_exact_data_stderr_is_floored() -> None:
    X = np.linspace(0.1, 2, 100)[:, None]
    fit = fit_uncertainty(sympy.Float(math.pi) * x, [x], X, math.pi * X[:, 0])
    assert fit.noise == pytest.approx(NOISE_FLOOR * np.std(math.pi * X[:, 0]))
    assert REL_FLOOR * math.pi <= fit.stderr[0] < 1e-7


@pytest.mark.parametrize("value, stderr, expected", [
    (107.3456, 2.13, ("107.3", "2.1")),
    (0.081234, 0.0041, ("0.081", "0.004")),
    (-0.081234, 0.0041, ("-0.081", "0.004")),
    (12.5, 0.97, ("12.5", "1.0")),
    (3.14159265358979, 3.1e-9, ("3.1415926536", "3.1e-09")),
    (6.02214e23, 3.3e20, ("6.0221e23", "0.0033e23")),
    (1.5, None, ("1.5", "inf")),
    (1.2345678, math.inf, ("1.235", "inf")),
])
def test_honest_digits(value: float, stderr: float | None, expected: tuple[str, str]) -> None:
    assert format_constant(value, stderr) == expected


@pytest.mark.parametrize("truth", [sympy.pi, -sympy.pi**2 / 4, sympy.sqrt(2) / 3, 1 / (2 * sympy.pi), sympy.pi**2])
def test_exact_values_snap_back_and_noisy_ones_do_not(truth: sympy.Expr) -> None:
    v = float(truth)
    assert snap_targets(v * (1 + 3e-12), 1e-11 * abs(v))[0].value == truth
    # with a 1 % standard error, a value this far from 1 is no longer told apart from its many neighbours
    assert all(t.value != truth for t in snap_targets(v * 1.004, 0.01 * abs(v)))


def _noisy_formula() -> tuple[Formula, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.uniform(0.5, 20, (40, 1))
    yv = 107.3 * X[:, 0] / (1 + 0.081 * X[:, 0]) * (1 + 0.01 * rng.standard_normal(40))
    expr, _ = polish(sympy.Float(100.0) * x / (1 + sympy.Float(0.1) * x), [x], X, yv)
    snaps = [{"constant": 1.9993, "stderr": 0.0011, "snapped_to": "2", "sigmas": 0.6, "nmse": 1e-4}]
    return Formula(expr, ["x"], "q", constant_table(expr, [x], X, yv, snaps)), X, yv


def test_formula_json_round_trip_keeps_uncertainties() -> None:
    f, _, _ = _noisy_formula()
    assert [c["snapped"] for c in f.constants] == [False, False, True]
    assert all(c["stderr"] > 0 for c in f.constants)
    assert f.constants[2]["exact"] == "2" and f.constants[2]["text"] == "2 (fitted 1.9993 ± 0.0011)"
    annotated = f.with_uncertainties()
    assert annotated.count("(±") == 2 and "x" in annotated
    doc = json.loads(json.dumps(f.to_json()))
    assert doc["constants"] == f.constants and doc["with_uncertainties"] == annotated
    back = Formula.from_json(doc)
    assert back.expr == f.expr and back.constants == f.constants and back.with_uncertainties() == annotated
    # a formula.json written before uncertainties existed still loads, with unknown constants
    old = {k: v for k, v in doc.items() if k not in ("constants", "with_uncertainties")}
    legacy = Formula.from_json(old)
    assert legacy.expr == f.expr and legacy.constants is None and legacy.with_uncertainties() is None
    with pytest.raises(RunDirError, match="constants"):
        Formula.from_json(dict(doc, constants=[{"value": "big"}]))


def test_unidentifiable_round_trips_as_null_and_prints_inf() -> None:
    Xe = np.linspace(0, 1, 30)[:, None]
    expr = redundant(2.6, 0.6, 0.4)  # = 2·sin(x)² + 1
    f = Formula(expr, ["x"], "y", constant_table(expr, [x], Xe, 2 * np.sin(Xe[:, 0]) ** 2 + 1))
    assert [c["stderr"] for c in f.constants] == [None, None, None]
    doc = json.loads(json.dumps(f.to_json(), allow_nan=False))  # valid JSON: no Infinity
    assert Formula.from_json(doc).constants == f.constants
    assert "(±inf)" in f.with_uncertainties()


def test_cli_lines_show_constants_and_exact_snaps() -> None:
    f, _, _ = _noisy_formula()
    lines = constant_lines({"constants": f.constants, "formula_with_uncertainties": f.with_uncertainties()})
    assert lines[0] == f"with uncertainties: {f.with_uncertainties()}"
    assert lines[1].startswith("constants: ") and lines[1].count(" ± ") == 2
    assert lines[2] == "snapped to exact values: 2 (fitted 1.9993 ± 0.0011)"
    assert constant_lines({}) == []  # a run symbolified by an older kansci


def test_json_document_carries_the_constants() -> None:
    f, _, _ = _noisy_formula()
    metrics = {"constants": f.constants, "formula_with_uncertainties": f.with_uncertainties()}
    doc = symbolify_doc(Path("run"), f, metrics, [])
    assert doc["constants"] == f.constants and doc["formula_with_uncertainties"] == f.with_uncertainties()
    bare = symbolify_doc(Path("run"), f, {}, [])
    assert bare["constants"] == [] and bare["formula_with_uncertainties"] is None  # keys are never left out
