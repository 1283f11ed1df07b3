"""Ranking formulas on noisy real data (kansci.discover.candidates.noisy_ranking): the noise all formulas share is
taken off, and an excess error that the rows resolve counts, so a mimic that fits 10% worse than the law within
the noise no longer ties with it; on exact data errors count down to the data's own floor."""
from __future__ import annotations

import math

import numpy as np
import sympy

from kansci.discover.candidates import NUMERIC_FLOOR, RESOLUTION, Candidate, independent_rows, noisy_ranking
from kansci.discover.leaves import search_leaf


def test_exact_data_keep_the_usual_floor() -> None:
    assert noisy_ranking([1e-26, 3e-9, 1e-4], floor=1e-6, rows=800) == (0.0, NUMERIC_FLOOR)  # the data's floor
    offset, floor = noisy_ranking([1e-9, 3e-9, 1e-4], floor=1e-6, rows=800)
    assert offset == 0.0 and math.isclose(floor, 3e-9)  # TIE_FACTOR x the best
    assert noisy_ranking([0.05, 0.06], floor=0.07, rows=0) == (0.0, 0.07)  # a surrogate's values: unchanged
    assert noisy_ranking([math.inf], floor=0.07, rows=800) == (0.0, 0.07)


def test_noisy_data_rank_by_the_excess_over_the_shared_noise() -> None:
    offset, floor = noisy_ranking([0.0527, 0.0592, 0.0605], floor=0.069, rows=800)
    assert offset == 0.0527 and math.isclose(floor, RESOLUTION * 0.0527 / 800)
    x = sympy.Symbol("x")
    law = Candidate(1 / sympy.sqrt(1 - x**2), 0.0527, "law")
    mimic = Candidate(sympy.Float(1.25) * sympy.cosh(x) - sympy.Float(0.25), 0.0592, "mimic")
    assert law.score(0.05, floor, offset) < mimic.score(0.05, floor, offset)
    assert law.score(0.05, 0.069) > mimic.score(0.05, 0.069)  # the noise floor alone ties them: simpler wins
    # an excess within the resolution ties: the simpler formula wins
    close = Candidate(sympy.cosh(x), 0.0527 + 0.5 * floor, "close")
    assert close.score(0.05, floor, offset) < law.score(0.05, floor, offset)


def test_independent_rows_count_repeats_as_kish_does() -> None:
    X = np.array([[1.0], [2.0], [2.0], [3.0], [1.0]])
    assert independent_rows(X, X[:, 0] * 2) == round(25 / 9)  # multiplicities 2, 2, 1: (Σc)²/Σc²
    assert independent_rows(np.arange(6.0)[:, None], np.ones(6)) == 6  # a quantized target: rows still distinct


def test_the_leaf_search_tells_a_lorentz_factor_from_its_mimic_in_one_percent_noise() -> None:
    """Within the noise floor alone, 1/(x + k) (a pole at x ≈ 1.04, 15% more error than the law) ties with the
    law and wins as the simpler; the excess over the shared noise is resolved by 800 rows and the law wins."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, 800)
    y = 1 / np.sqrt(1 - x**2)
    y = y + rng.normal(0.0, 0.01 * float(np.sqrt(np.mean(y**2))), x.shape[0])
    sx = sympy.Symbol("x")
    noise_nmse = 1.5 * (0.01**2 * float(np.mean(y**2))) / float(np.var(y))  # the accept level of a good surrogate
    found = search_leaf(x[:, None], y, [sx], floor=noise_nmse, data_rows=independent_rows(x[:, None], y),
                        max_results=3)
    best = found[0].expr
    grid = np.linspace(0.1, 0.9, 200)
    value = sympy.lambdify(sx, best, "numpy")(grid)
    assert np.max(np.abs(value - 1 / np.sqrt(1 - grid**2))) < 0.03, best  # the law, constants near 1, 1 and 0
    tied = search_leaf(x[:, None], y, [sx], floor=noise_nmse, max_results=1)[0]  # the noise floor alone
    assert tied.nmse > found[0].nmse * 1.1
    assert any(isinstance(a, sympy.Pow) and a.exp == sympy.Rational(-1, 2) for a in sympy.preorder_traversal(best))
