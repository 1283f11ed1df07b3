"""Optional denoising of the training targets (``data.denoise: true``), as PySR's ``denoise`` does.

A Gaussian process with an anisotropic RBF kernel plus a white-noise term is fitted to the training rows (at most
``MAX_ROWS`` of them, a seeded subsample: the fit costs O(n³)); its posterior mean replaces the training targets.
The test rows keep their measured values, so test errors stay honest. The white-noise level the process learns is
returned as well: an estimate of the targets' noise. scikit-learn is an optional dependency (``kansci[sklearn]``).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from kansci.data.dataset import Dataset
from kansci.errors import ConfigError

__all__ = ["MAX_ROWS", "denoise_targets"]

MAX_ROWS = 1000


def denoise_targets(ds: Dataset, seed: int) -> tuple[Dataset, float]:
    """(``ds`` with its training targets replaced by the Gaussian process's mean, the learned noise RMS in the
    target's units). Deterministic for a seed."""
    try:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    except ImportError:
        raise ConfigError("data.denoise needs scikit-learn, which is not installed",
                          "pip install 'kansci[sklearn]', or set data.denoise: false", key="data.denoise") from None
    X, y = ds.X_train, ds.y_train
    scale_x = np.where(np.std(X, axis=0) > 0, np.std(X, axis=0), 1.0)
    mean_y, scale_y = float(np.mean(y)), float(np.std(y)) or 1.0
    Z, t = (X - np.mean(X, axis=0)) / scale_x, (y - mean_y) / scale_y
    rows = np.arange(len(t))
    if len(t) > MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(t), MAX_ROWS, replace=False))
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.ones(X.shape[1]), (1e-2, 1e2)) + WhiteKernel(1e-2, (1e-8, 1))
    gp = GaussianProcessRegressor(kernel, n_restarts_optimizer=2, random_state=seed)
    gp.fit(Z[rows], t[rows])
    smooth = gp.predict(Z) * scale_y + mean_y
    noise = math.sqrt(float(gp.kernel_.k2.noise_level)) * scale_y
    y_new = ds.y.copy()
    y_new[ds.train_idx] = smooth
    return replace(ds, y=y_new), noise
