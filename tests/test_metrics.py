"""kansci.metrics, the one R²/RMSE/NMSE: hand-computed values, scipy's linear regression as a reference, and the
documented treatment of non-finite predictions and constant targets."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from kansci.metrics import nmse, r2_finite, r2_score, regression_metrics, rmse


def test_against_hand_computed_values() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    pred = np.array([0.0, 1.0, 2.0, 4.0])  # SS_res = 1, SS_tot = 5
    assert r2_score(y, pred) == pytest.approx(0.8)
    assert rmse(y, pred) == pytest.approx(0.5)
    assert nmse(y, pred) == pytest.approx(0.25 / 1.25)
    assert regression_metrics(y, pred) == {"rmse": pytest.approx(0.5), "r2": pytest.approx(0.8)}


def test_r2_of_least_squares_line_is_squared_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200)
    y = 3 * x + rng.normal(0, 0.5, 200)
    fit = stats.linregress(x, y)
    assert r2_score(y, fit.intercept + fit.slope * x) == pytest.approx(fit.rvalue**2, rel=1e-12)
    assert nmse(y, fit.intercept + fit.slope * x) == pytest.approx(1 - fit.rvalue**2, rel=1e-10)


def test_non_finite_predictions_are_not_a_fit() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    bad = np.array([1.0, np.nan, 3.0, np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert r2_score(y, bad) == -math.inf
        assert rmse(y, bad) == math.inf
        assert nmse(y, bad) == math.inf


def test_constant_target() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(r2_score(np.ones(4), np.ones(4)))
        assert nmse(np.ones(4), np.full(4, 3.0)) == pytest.approx(4.0)  # divided by 1, not by a zero variance
        assert math.isnan(r2_finite(np.ones(4), np.ones(4))[0])


def test_figures_score_the_finite_pairs_and_count_the_rest() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    r2, left_out = r2_finite(y, np.array([0.0, 1.0, np.nan, 3.0, 4.0]))
    assert left_out == 1 and r2 == pytest.approx(1.0)
    assert r2_finite(y, np.full(5, np.nan)) == (pytest.approx(math.nan, nan_ok=True), 5)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        r2_score(np.ones(3), np.ones(4))
