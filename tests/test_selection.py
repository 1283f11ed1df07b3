"""The final choice among candidate formulas (pipeline.selection) on constructed candidate sets, and the noise
estimate on data of known noise."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from kansci.pipeline.candidates import score
from kansci.pipeline.selection import CLEARLY_BETTER, SMALL_TABLE, NoiseEstimate, choose, cv_errors, estimate_noise
from kansci.symbolic.exports import Formula

x = sympy.Symbol("x")
NO_NOISE = NoiseEstimate(0.0, "network")


def cand(name: str, nmse: float, nodes: int, expr: sympy.Expr = x) -> dict:
    return {"name": name, "nmse": nmse, "score": score(nmse, nodes), "formula": Formula(expr, ["x"], "y")}


def big(n: int = SMALL_TABLE + 10) -> tuple[np.ndarray, np.ndarray]:
    X = np.linspace(1.0, 2.0, n)[:, None]
    return X, X[:, 0] ** 2


def pick(cands: list[dict], noise_nmse: float = 0.0) -> str:
    X, y = big()
    return choose(cands, X, y, [x], NO_NOISE, accept_nmse=noise_nmse).best["name"]


def test_simpler_wins_among_comparably_accurate():
    assert pick([cand("simple", 2e-6, 5), cand("complex", 1e-6, 40)]) == "simple"


def test_a_clearly_more_accurate_candidate_rules_out_a_much_simpler_one():
    # by score alone the 3-node formula wins (log10 gap 4 < 0.05 * 97 nodes), but it is 1e4 times less accurate
    few, many = cand("rough", 1e-2, 3), cand("accurate", 1e-6, 100)
    assert few["score"] < many["score"]
    assert pick([few, many]) == "accurate"


def test_within_the_noise_parsimony_decides_again():
    few, many = cand("rough", 1e-2, 3), cand("accurate", 1e-6, 100)
    assert pick([few, many], noise_nmse=2e-2) == "rough"


def test_the_boundary_is_the_documented_factor():
    base = cand("best", 1e-8, 60)
    inside = cand("inside", CLEARLY_BETTER * 1e-8 * 0.99, 5)
    outside = cand("outside", CLEARLY_BETTER * 1e-8 * 1.01, 5)
    assert pick([base, inside]) == "inside"
    assert pick([base, outside]) == "best"


def test_noise_from_replicates_matches_the_known_noise():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.uniform(0, 1, (200, 2)), 5, axis=0)  # 200 settings, 5 repeats each
    y = np.sin(3 * X[:, 0]) + X[:, 1] + 0.05 * rng.standard_normal(X.shape[0])
    est = estimate_noise(X, y, network_val_nmse=0.5)
    assert est.source == "replicates" and est.rms == pytest.approx(0.05, rel=0.06)


def test_noise_without_replicates_is_the_networks_validation_error():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (100, 2))
    y = X[:, 0] + rng.standard_normal(100)
    est = estimate_noise(X, y, network_val_nmse=0.25)
    assert est.source == "network" and est.rms == pytest.approx(0.5 * np.std(y))


def test_small_table_cross_validation_prefers_the_law_over_a_curve_that_bends_to_the_noise():
    """Ten noisy rows of y = 3/x: a degree-5 polynomial fits the training rows better but predicts left-out rows
    worse; leave-one-out picks the law."""
    rng = np.random.default_rng(2)
    X = np.linspace(0.5, 3.0, 10)[:, None]
    y = 3.0 / X[:, 0] * (1 + 0.02 * rng.standard_normal(10))
    coefs = np.polyfit(X[:, 0], y, 5)
    poly = sum(sympy.Float(float(c)) * x ** (5 - k) for k, c in enumerate(coefs))
    law = sympy.Float(2.9) / x
    nm = lambda e: float(np.mean((sympy.lambdify(x, e)(X[:, 0]) - y) ** 2) / np.var(y))  # noqa: E731 (local helper)
    cands = [{"name": "poly", "nmse": nm(poly), "score": score(nm(poly), 20), "formula": Formula(poly, ["x"], "y")},
             {"name": "law", "nmse": nm(law), "score": score(nm(law), 3), "formula": Formula(law, ["x"], "y")}]
    assert cands[0]["nmse"] < cands[1]["nmse"]
    sel = choose(cands, X, y, [x], NO_NOISE)
    assert sel.best["name"] == "law" and "leave-one-out" in sel.rule
    law_cv, _ = cv_errors(law, [x], X, y)
    poly_cv, _ = cv_errors(poly, [x], X, y)
    assert law_cv < poly_cv


def test_one_standard_error_rule_takes_the_simpler_of_two_equally_good_laws():
    rng = np.random.default_rng(3)
    X = np.linspace(1.0, 4.0, 12)[:, None]
    y = 2.0 * X[:, 0] + 0.1 * rng.standard_normal(12)
    simple = sympy.Float(2.0) * x
    extra = sympy.Float(2.0) * x + sympy.Float(0.01) * x**2  # one more constant, no better out of sample
    cands = [{"name": n, "nmse": 1e-3, "score": 0.0, "formula": Formula(e, ["x"], "y")}
             for n, e in (("extra", extra), ("simple", simple))]
    assert choose(cands, X, y, [x], NO_NOISE).best["name"] == "simple"
