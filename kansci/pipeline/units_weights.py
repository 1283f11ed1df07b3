"""Row weights for a Buckingham-reduced problem (the method is in :mod:`kansci.units.noise_model`).

``fit``: after training on the groups, :func:`reweigh` reads the noise model off the network's residuals on the
training rows; when the noise of y / P grows as 1/P² (additive noise in y), the weights 1/Var(Φ_i) are recorded
(``units.json``, ``units_data.npz``). ``symbolify``: :func:`weighted_rows` gives the reduced dataset with its
training rows drawn in proportion to the weights, so that every unweighted least-squares step of the search
(leaves, power laws, constant refits, the final choice) is the weighted fit. The network is not retrained with
the weights: a weighted spline solve leaves the coefficients at the edges of the data loosely determined, and its
extrapolation to the test rows went wild.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from kansci.config import Config
from kansci.core.model import KAN
from kansci.data import Dataset
from kansci.pipeline.common import predict
from kansci.units import Reduction
from kansci.units.noise_model import NoiseModel, fit_noise_model, resample_rows

__all__ = ["MIN_ROWS", "reweigh", "weighted_rows"]

MIN_ROWS = 30  # below this many training rows the residuals cannot show how the noise depends on P


def reweigh(model: KAN, ds: Dataset, red: Reduction, X_original: np.ndarray, cfg: Config,
            log: Callable[[str], None]) -> tuple[NoiseModel | None, np.ndarray | None]:
    """(noise model, weights (n_rows,) or None when every row counts the same) for ``model`` trained on the reduced
    problem ``ds``; X_original (n_rows, d) holds the original inputs of the same rows. (None, None) for several
    targets or too few rows."""
    if ds.n_targets != 1 or len(ds.train_idx) < MIN_ROWS:
        return None, None
    P = red.prefactor_values(X_original)
    assert P.shape == (ds.n_rows,), (P.shape, ds.n_rows)
    residual = ds.y_train - predict(model, ds, ds.X_train)
    noise = fit_noise_model(ds.X_train, residual, P[ds.train_idx], seed=cfg.seed)
    log(f"units: {noise.describe()}")
    return noise, (noise.weights(P) if noise.applied else None)


def weighted_rows(ds: Dataset, weights: np.ndarray, seed: int) -> Dataset:
    """``ds`` with its training rows drawn (with repeats) in proportion to ``weights`` (n_rows,); same test rows."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    assert w.shape == (ds.n_rows,), (w.shape, ds.n_rows)
    return dataclasses.replace(ds, train_idx=resample_rows(ds.train_idx, w[ds.train_idx], seed))
