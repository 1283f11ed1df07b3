"""SRBench-style scorer, failure taxonomy and results.csv bookkeeping of the Feynman benchmark."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

from kansci.bench import report
from kansci.bench.scoring import (
    classify,
    evaluate,
    numeric_match,
    plain,
    round_constants,
    same_shape,
    score_formula,
    skeleton,
    squares_match,
    symbolic_match,
)
from kansci.data.feynman import feynman_equation
from kansci.metrics import r2_score

# Symbols as symbolify emits them (with assumptions); the truth uses plain symbols. Both must compare by name.
m, v, u, w = sympy.symbols("m v u w", positive=True)
q1, q2, r, eps = sympy.symbols("q1 q2 r epsilon", positive=True)


def _box(eq_id: str) -> tuple[list[str], list[tuple[float, float]]]:
    eq = feynman_equation(eq_id)
    return eq.names, [(lo, hi) for _, lo, hi in eq.variables]


@pytest.mark.parametrize("eq_id", ["I.6.2a", "I.12.2", "I.13.4", "I.29.16"])
def test_truth_matches_itself_and_scaled_and_shifted(eq_id: str) -> None:
    truth = feynman_equation(eq_id).expr()
    names, box = _box(eq_id)
    for found, how in ((truth, "difference"), (2.0 * truth, "ratio"), (truth + 1.5, "difference")):
        assert symbolic_match(truth, found) == (True, how), found
        ok, spread = numeric_match(truth, found, names, box)
        assert ok and spread < 1e-9, (found, spread)


def test_rearranged_equal_forms_match() -> None:
    # I.13.4: 1/2*m*(v**2+u**2+w**2) written expanded with floats, in symbols carrying assumptions
    truth = feynman_equation("I.13.4").expr()
    expanded = 0.5 * m * v**2 + 0.5 * m * u**2 + 0.5 * m * w**2
    assert symbolic_match(truth, expanded)[0]
    assert numeric_match(truth, expanded, *_box("I.13.4"))[0]
    # I.12.2: q1*q2*r/(4*pi*epsilon*r**3) found as a float coefficient and r**-2
    truth = feynman_equation("I.12.2").expr()
    found = 0.0795774715459477 * q1 * q2 / (eps * r**2)
    assert symbolic_match(truth, found) == (True, "ratio")
    assert numeric_match(truth, found, *_box("I.12.2"))[0]
    # log form of a product: exp(log(m) + log(v)) == m*v
    assert symbolic_match(sympy.Symbol("m") * sympy.Symbol("v"), sympy.exp(sympy.log(m) + sympy.log(v)))[0]


def test_hyperbolic_identities_match_through_exponentials() -> None:
    # III.4.32's occupation 1/(e^x - 1) found as (coth(x/2) - 1)/2; a plain simplify of the difference misses it
    truth = feynman_equation("III.4.32").expr()
    h, w, T, kb = sympy.symbols("h omega T kb")
    found = -sympy.Rational(1, 2) + 1 / (2 * sympy.tanh(h * w / (4 * sympy.pi * T * kb)))
    assert symbolic_match(truth, found) == (True, "difference")
    assert symbolic_match(truth, 1 / (2 * sympy.tanh(h * w / (2 * sympy.pi * T * kb))))[0] is False


@pytest.mark.parametrize("found", [m * v**3, m * v, sympy.sin(m) * v**2, m * v**2 + v,
                                   m * v**2 / 2 + 0.01 * sympy.sin(v)])
def test_wrong_formulas_are_rejected(found: sympy.Expr) -> None:
    M, V = sympy.symbols("m v")
    truth = M * V**2 / 2
    assert symbolic_match(truth, found)[0] is False
    assert numeric_match(truth, found, ["m", "v"], [(1, 5), (1, 2)])[0] is False


def test_round_constants_follows_srbench() -> None:
    x = sympy.Symbol("x")
    out = round_constants(0.33333 * x + 2.0000004 * x**2 + 5e-5 + 3.14159 * sympy.sin(x))
    assert out == sympy.Float(0.333) * x + 2 * x**2 + sympy.Float(3.142) * sympy.sin(x)
    assert round_constants(x / 3) == x / 3                       # exact numbers are left alone


def test_small_constants_need_the_robust_check() -> None:
    """8.854e-12-type constants: rounding to 3 decimals makes them 0, so the strict rule cannot tell a right
    constant from a wrong one; the numeric check can."""
    E = sympy.Symbol("Ef")
    truth = sympy.Float(8.854e-12) * E**2 / 2
    right, wrong = 4.427000000001e-12 * E**2, 1.2e-12 * E**3   # wrong: least-squares-ish fit with the wrong power
    assert numeric_match(truth, right, ["Ef"], [(1, 5)])[0]
    assert not numeric_match(truth, wrong, ["Ef"], [(1, 5)])[0]
    assert symbolic_match(truth, wrong)[0]                      # the SRBench rule misjudges this one
    X = np.linspace(1, 5, 50)[:, None]
    scores = score_formula(truth, wrong, ["Ef"], [(1, 5)], X, 4.427e-12 * X[:, 0] ** 2)
    assert scores["formula_test_r2"] > 0.5 and scores["strict"] and not scores["robust"]


def test_zero_ratio_and_near_constant_truth_are_not_matches() -> None:
    x = sympy.Symbol("x")
    # all constants round to 0: 0/truth is "constant" for SRBench, not for us
    assert symbolic_match(x + x**2, 1e-5 * x)[0] is False
    # truth varies by 1e-6 of its mean; a constant found formula must not match numerically
    truth = 1000 + 1e-3 * x
    assert numeric_match(truth, sympy.Integer(1000), ["x"], [(1, 2)])[0] is False


def test_symbolic_match_times_out_cleanly() -> None:
    x, y = sympy.symbols("x y")
    truth = sympy.sin(x) ** 2 * sympy.exp(y) + sympy.cos(x * y) ** 3
    found = sympy.expand((1 - sympy.cos(x) ** 2) * sympy.exp(y) + sympy.cos(x * y) ** 3 + x**7 * y)
    assert symbolic_match(truth, found, timeout_s=1e-6) == (False, "timeout")


def test_score_formula_requires_r2_for_strict() -> None:
    names, box = _box("I.14.3")
    truth = feynman_equation("I.14.3").expr()                   # m*g*z
    X = np.random.default_rng(0).uniform([b[0] for b in box], [b[1] for b in box], size=(200, 3))
    y = X[:, 0] * X[:, 1] * X[:, 2]
    good = score_formula(truth, 1.0000000001 * plain(truth), names, box, X, y)
    assert good["strict"] and good["robust"] and good["accuracy"]
    assert (good["complexity"], good["truth_complexity"]) == (5, 4)   # Mul(c, m, g, z) and Mul(m, g, z)
    doubled = score_formula(truth, 2 * truth, names, box, X, y)  # ratio constant, but R² < 0.5
    assert symbolic_match(truth, 2 * truth)[0] and not doubled["strict"] and not doubled["robust"]
    assert doubled["formula_test_r2"] == pytest.approx(r2_score(y, 2 * y))
    bad = score_formula(truth, sympy.Symbol("m") * sympy.Symbol("g"), names, box, X, y)
    assert not bad["strict"] and bad["missing_inputs"] == ["z"]


def test_evaluate_matches_numpy_by_name_and_is_nan_where_undefined() -> None:
    from scipy.special import erf

    X = np.random.default_rng(0).uniform(-2, 2, size=(50, 2))
    a, b = sympy.symbols("a b", real=True)  # assumptions do not matter: symbols are matched by name
    got = evaluate(sympy.erf(a) + sympy.atan2(b, a) - sympy.sqrt(b), ["a", "b"], X)
    with np.errstate(invalid="ignore"):
        want = erf(X[:, 0]) + np.arctan2(X[:, 1], X[:, 0]) - np.sqrt(X[:, 1])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14, equal_nan=True)
    assert np.isnan(got[X[:, 1] < 0]).all() and np.isfinite(got[X[:, 1] >= 0]).all()
    assert np.isnan(evaluate(sympy.I * a, ["a", "b"], X)).all()  # no real value anywhere
    assert r2_score(X[:, 0], evaluate(sympy.I * a, ["a", "b"], X)) == -math.inf


def test_r2_matches_reference() -> None:
    y = np.array([1.0, 2.0, 4.0, 7.0])
    p = np.array([1.5, 2.0, 3.5, 7.5])
    ref = 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2_score(y, p) == pytest.approx(ref)
    assert r2_score(y, np.array([1, np.nan, 3, 4.0])) == -math.inf


def test_skeleton_ignores_numbers_only() -> None:
    x, y = sympy.symbols("x y")
    assert skeleton(0.08 * x * y**2.0001) == skeleton(x * y**2 / (4 * sympy.pi))
    assert skeleton(sympy.sin(2 * x) + 1) == skeleton(sympy.sin(3.1 * x) - 7)
    assert skeleton(sympy.sin(x)) != skeleton(sympy.cos(x))
    assert same_shape(x * y / (4 * sympy.pi), 0.0801 * x * y)
    assert not same_shape(x * y, x + y)


@pytest.mark.parametrize("kw, expected", [
    (dict(strict=True, status="ok", fit_r2=0.99999), ""),
    (dict(strict=False, status="ok", fit_r2=0.98), "kan_fit"),
    (dict(strict=False, status="ok", fit_r2=float("nan")), "kan_fit"),
    (dict(strict=False, status="timeout", fit_r2=0.5), "kan_fit"),
    (dict(strict=False, status="ok", fit_r2=0.9999, removed_inputs=["z"], needed_inputs=["m", "z"]), "pruned_input"),
    (dict(strict=False, status="ok", fit_r2=0.9999, removed_inputs=["q"], needed_inputs=["m"]), "primitive"),
    (dict(strict=False, status="timeout", fit_r2=None), "timeout"),
    (dict(strict=False, status="error", fit_r2=0.9999), "error"),
    (dict(strict=True, status="error", fit_r2=None), "error"),
    (dict(strict=False, status="ok", fit_r2=0.9999, robust=True), "constants"),
    (dict(strict=False, status="ok", fit_r2=0.9999, same_shape=True), "constants"),
])
def test_classify_first_broken_stage(kw: dict, expected: str) -> None:
    assert classify(**kw) == expected


def test_results_csv_roundtrip_torn_line_and_summary(tmp_path) -> None:
    path = tmp_path / "results.csv"
    rows = [
        dict(id="I.6.2a", seed=0, status="ok", strict=True, robust=True, accuracy=True, fit_test_r2=0.9999999,
             total_s=3.0, formula="x", primitives=["0.0.0=x", "0.1.0=sin"]),
        dict(id="I.12.1", seed=0, status="timeout", strict=False, robust=False, accuracy=False, failure="timeout",
             stage="fit", total_s=60.0, error="killed"),
        dict(id="I.12.1", seed=1, status="ok", strict=False, robust=True, accuracy=True, failure="constants",
             fit_test_r2=0.99995, wall_s=7.0, total_s=9.0, formula="2.0001*a|b"),
    ]
    for row in rows[:2]:
        report.append_row(path, row)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("I.99,0,ok,,1")                                  # a write cut short by a crash
    assert len(report.read_rows(path)) == 2
    report.append_row(path, rows[2])
    back = report.read_rows(path)
    assert [(r["id"], r["seed"]) for r in back] == [("I.6.2a", 0), ("I.12.1", 0), ("I.12.1", 1)]
    assert back[0]["strict"] is True and back[1]["strict"] is False and back[0]["fit_test_r2"] == 0.9999999
    assert back[0]["primitives"] == "0.0.0=x;0.1.0=sin" and back[1]["fit_test_r2"] is None
    assert report.done_keys(back) == {("I.6.2a", 0), ("I.12.1", 0), ("I.12.1", 1)}
    text = report.summary_markdown(back, {"noise": 0.0, "n_train": 500, "n_test": 500, "budget_s": 60.0})
    assert "| symbolic solution, strict (SRBench rule) | 33.3% (1/3) |" in text
    assert "| symbolic solution, robust (numeric check) | 66.7% (2/3) |" in text
    assert "killed tasks count their budget) | 7.0 s |" in text     # pipeline time preferred: 3, 60, 7
    assert "**Published figures**" in text and "| AI Feynman | 55.8% | published |" in text
    assert "(`timeout`) | 1 |" in text and "(`constants`) | 1 |" in text
    assert "Timeouts by last stage reached: fit 1" in text
    noisy = report.summary_markdown(back, {"noise": 0.01, "n_train": 500, "n_test": 500, "budget_s": 60.0})
    assert "| gplearn | 13.2% | published |" in noisy


def test_positive_variables_let_roots_of_products_match():
    """On a positive domain sqrt(a)*sqrt(b)/sqrt(c) is sqrt(a*b/c); for complex symbols sympy cannot equate them."""
    a, b, c = sympy.symbols("a b c")
    truth, found = sympy.sqrt(a * b / c), sympy.sqrt(a) * sympy.sqrt(b) / sympy.sqrt(c)
    assert symbolic_match(truth, found)[0] is False
    assert symbolic_match(truth, found, positive={"a", "b", "c"})[0] is True
    assert symbolic_match(truth, found + a, positive={"a", "b", "c"})[0] is False
    X = np.random.default_rng(0).uniform(1, 5, size=(200, 3))
    y = np.sqrt(X[:, 0] * X[:, 1] / X[:, 2])
    assert score_formula(truth, found, ["a", "b", "c"], [(1, 5)] * 3, X, y)["strict"] is True


def test_equal_squares_with_equal_signs_match_as_squares():
    """The relativistic Doppler factor in two forms whose equality needs c > v: sympy's rules cannot equate them;
    equal squares and equal signs at every test point do. A root of the wrong sign, or a wrong root, does not."""
    c, v, w0 = sympy.symbols("c v omega_0")
    truth = w0 * (1 + v / c) / sympy.sqrt(1 - v**2 / c**2)
    found = w0 * sympy.sqrt(c / v + 1) * sympy.sqrt(1 / (c / v - 1))
    names, box = ["c", "v", "omega_0"], [(3.0, 10.0), (1.0, 2.0), (1.0, 5.0)]
    X = np.random.default_rng(0).uniform([b[0] for b in box], [b[1] for b in box], size=(300, 3))
    y = X[:, 2] * np.sqrt((X[:, 0] + X[:, 1]) / (X[:, 0] - X[:, 1]))  # an independent numpy reference
    assert symbolic_match(truth, found, positive=set(names)) == (False, "no")
    assert squares_match(truth, found, positive=set(names))
    scores = score_formula(truth, found, names, box, X, y)
    assert scores["strict"] and scores["strict_how"] == "squares"
    # |v − 1| has the square of v − 1 but the opposite sign below v = 1, where a few test points lie
    vv = np.random.default_rng(1).uniform(0.5, 10.0, size=(300, 1))
    absolute = score_formula(v - 1, sympy.sqrt((v - 1) ** 2), ["v"], [(0.5, 10.0)], vv, vv[:, 0] - 1)
    assert absolute["formula_test_r2"] > 0.5 and not absolute["strict"]
    assert not squares_match(truth, w0 * sympy.sqrt((c + 2 * v) / (c - v)), positive=set(names))
    assert not squares_match(v + c, v + c + 1)  # no root: the squares rule does not apply
