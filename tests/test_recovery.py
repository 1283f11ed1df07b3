"""Exact recovery through the command line: `kansci dataset make` -> `kansci fit` -> `kansci symbolify`, defaults.

A formula counts as exact when, parsed back from the printed text, its difference to the truth simplifies to 0, or
is below 1e-9 on 1000 random points in the sampling box *and* has the same structure (identical expression tree once
every number is replaced by a placeholder).
"""
import re
import time

import numpy as np
import pytest
import sympy
from typer.testing import CliRunner

from kansci.cli import app
from kansci.expr.text import parse_formula

CASES = [
    ("exp(sin(pi*x) + y**2)", {"x": (-1, 1), "y": (-1, 1)}),
    ("x*y", {"x": (-1, 1), "y": (-1, 1)}),
    ("sin(x) + cos(2*y)", {"x": (-2, 2), "y": (-2, 2)}),
    ("x**2 + 3*y", {"x": (-1, 1), "y": (-1, 1)}),
    ("sqrt(x**2 + y**2)", {"x": (0.5, 2), "y": (0.5, 2)}),
    ("exp(-x**2/2) / sqrt(2*pi)", {"x": (-3, 3)}),
    ("x*y/z", {"x": (1, 5), "y": (1, 5), "z": (1, 5)}),
    ("tanh(3*x) + y**3", {"x": (-1, 1), "y": (-1, 1)}),
]


def structure(expr: sympy.Expr) -> sympy.Expr:
    return expr.xreplace({n: sympy.Symbol("_c") for n in expr.atoms(sympy.Number)})


def is_exact(found: sympy.Expr, truth: sympy.Expr, ranges: dict) -> bool:
    names = list(ranges)
    if sympy.simplify(found - truth) == 0:
        return True
    syms = [sympy.Symbol(n) for n in names]
    rng = np.random.default_rng(1)
    pts = [rng.uniform(*ranges[n], 1000) for n in names]
    diff = sympy.lambdify(syms, found - truth, "numpy")(*pts)
    return bool(np.max(np.abs(diff)) < 1e-9) and structure(found) == structure(truth)


@pytest.mark.slow
@pytest.mark.parametrize("formula,ranges", CASES, ids=[c[0] for c in CASES])
def test_exact_recovery_from_the_cli(tmp_path, formula, ranges):
    runner = CliRunner()
    data = tmp_path / "data.csv"
    args = ["dataset", "make", formula, "-n", "2000", "--seed", "0", "--noise", "0", "-o", str(data)]
    for name, (lo, hi) in ranges.items():
        args += ["--var", f"{name}={lo}:{hi}"]
    made = runner.invoke(app, args)
    assert made.exit_code == 0, made.output
    t0 = time.perf_counter()
    fit = runner.invoke(app, ["fit", str(data), "--out", str(tmp_path / "runs")])
    assert fit.exit_code == 0, fit.output
    run = re.search(r"^run: (.+)$", fit.stdout, re.M).group(1).strip()
    sym = runner.invoke(app, ["symbolify", run])
    assert sym.exit_code == 0, sym.output
    seconds = time.perf_counter() - t0
    printed = re.search(r"^formula: (.+)$", sym.stdout, re.M).group(1).strip()
    found = parse_formula(printed, list(ranges))
    truth = parse_formula(formula, list(ranges))
    print(f"\nRECOVERY | {formula} | {printed} | {seconds:.1f} s")
    assert is_exact(found, truth, ranges), f"printed {printed!r} for {formula!r}"
