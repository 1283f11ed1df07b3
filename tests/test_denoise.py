"""data.denoise: a Gaussian process smooths the training targets; test rows keep their measured values."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from kansci.data import dataset_from_arrays  # noqa: E402 (after the optional-dependency skip)
from kansci.data.denoise import denoise_targets  # noqa: E402


def test_smoothed_targets_are_closer_to_the_law_and_the_noise_level_is_learned() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (300, 2))
    clean = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2
    y = clean + 0.1 * rng.standard_normal(300)
    ds = dataset_from_arrays(X, y, input_names=["a", "b"])
    out, noise = denoise_targets(ds, seed=0)
    before = np.sqrt(np.mean((ds.y_train - clean[ds.train_idx]) ** 2))
    after = np.sqrt(np.mean((out.y_train - clean[ds.train_idx]) ** 2))
    assert after < 0.5 * before
    assert noise == pytest.approx(0.1, rel=0.25)
    np.testing.assert_array_equal(out.y_test, ds.y_test)
    np.testing.assert_array_equal(out.X, ds.X)
    again, _ = denoise_targets(ds, seed=0)
    np.testing.assert_array_equal(again.y, out.y)
