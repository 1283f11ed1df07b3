"""The final choice among candidate formulas (pipeline.symbolify._choose) on constructed candidate sets."""
from __future__ import annotations

from kansci.pipeline.candidates import score
from kansci.pipeline.symbolify import CLEARLY_BETTER, _choose


def cand(name: str, nmse: float, nodes: int) -> dict:
    return {"name": name, "nmse": nmse, "score": score(nmse, nodes)}


def test_simpler_wins_among_comparably_accurate():
    picked = _choose([cand("simple", 2e-6, 5), cand("complex", 1e-6, 40)], noise_nmse=0.0)
    assert picked["name"] == "simple"


def test_a_clearly_more_accurate_candidate_rules_out_a_much_simpler_one():
    # by score alone the 3-node formula wins (log10 gap 4 < 0.05 * 97 nodes), but it is 1e4 times less accurate
    few, many = cand("rough", 1e-2, 3), cand("accurate", 1e-6, 100)
    assert few["score"] < many["score"]
    assert _choose([few, many], noise_nmse=0.0)["name"] == "accurate"


def test_within_the_noise_parsimony_decides_again():
    few, many = cand("rough", 1e-2, 3), cand("accurate", 1e-6, 100)
    assert _choose([few, many], noise_nmse=2e-2)["name"] == "rough"


def test_the_boundary_is_the_documented_factor():
    base = cand("best", 1e-8, 60)
    inside = cand("inside", CLEARLY_BETTER * 1e-8 * 0.99, 5)
    outside = cand("outside", CLEARLY_BETTER * 1e-8 * 1.01, 5)
    assert _choose([base, inside], 0.0)["name"] == "inside"
    assert _choose([base, outside], 0.0)["name"] == "best"
