"""Row caps for large data: what training sees of the rows, so that the cost of a step does not grow with them.

The rule for ``train.batch_size`` (:func:`batch_rows`):

- ``null`` (the default, automatic): full batch up to :data:`FULL_BATCH_ROWS` fit rows; above that, every optimizer
  step draws a fresh seeded minibatch of :data:`AUTO_BATCH_ROWS` rows (LBFGS then runs its iterations on that batch).
- a number: that many rows per step, or the full batch when it is at least the number of fit rows.

Besides the batch, a few per-stage computations read a seeded subsample once the rows exceed a cap (below the cap
they read every row, exactly as before):

- grid updates (knot placement and the least-squares re-expression of the splines): :data:`GRID_ROWS`;
- the validation loss that drives early stopping and the best-state choice: :data:`VAL_ROWS`;
- the closed-form solve of a linear model: :data:`SOLVE_ROWS`;
- architecture screening (:mod:`kansci.train.search`): :data:`SCREEN_ROWS` fit rows and as many validation rows.

Subsamples are seeded (:func:`seeded_rows`), so a resumed run sees the same rows. Final metrics are computed by the
pipeline on every row.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np
import torch

#: Automatic batch size: full batch up to this many fit rows.
FULL_BATCH_ROWS = 50_000
#: Automatic batch size: rows per optimizer step above FULL_BATCH_ROWS.
AUTO_BATCH_ROWS = 20_000
#: Architecture screening sees at most this many fit rows (and as many validation rows).
SCREEN_ROWS = 20_000
#: Grid updates read at most this many rows.
GRID_ROWS = 50_000
#: The per-step validation loss reads at most this many rows.
VAL_ROWS = 50_000
#: The least-squares solve of a linear model reads at most this many rows.
SOLVE_ROWS = 100_000


def batch_rows(batch_size: int | None, n: int) -> int | None:
    """Rows per optimizer step for ``n`` fit rows and the configured ``batch_size``; None: the full batch."""
    if batch_size is None:
        return None if n <= FULL_BATCH_ROWS else AUTO_BATCH_ROWS
    return None if batch_size >= n else batch_size


def seeded_rows(n: int, cap: int, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded subsample of ``cap`` of ``n`` rows; None when ``n <= cap`` (every row)."""
    if n <= cap:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def take(t: torch.Tensor | None, idx: np.ndarray | None) -> torch.Tensor | None:
    """Rows ``idx`` of t (None: t itself, no copy)."""
    if t is None or idx is None:
        return t
    return t[torch.as_tensor(idx, device=t.device)]


def capped(x: torch.Tensor, cap: int, seed: int) -> torch.Tensor:
    """x (n, d), or a seeded subsample of ``cap`` of its rows when n > cap."""
    out = take(x, seeded_rows(x.shape[0], cap, seed))
    assert out is not None
    return out


_Data = TypeVar("_Data")


def subsampled(data: _Data, cap: int, fit_seed: int, val_seed: int) -> _Data:
    """A :class:`~kansci.train.loop.TrainData` with at most ``cap`` seeded fit rows and ``cap`` validation rows (its
    weights follow their rows); ``data`` itself when both parts are within the cap."""
    d: Any = data
    fit_rows = seeded_rows(d.x_train.shape[0], cap, fit_seed)
    val_rows = seeded_rows(d.x_val.shape[0], cap, val_seed)
    if fit_rows is None and val_rows is None:
        return data
    return dataclasses.replace(d, x_train=take(d.x_train, fit_rows), y_train=take(d.y_train, fit_rows),
                               w_train=take(d.w_train, fit_rows), x_val=take(d.x_val, val_rows),
                               y_val=take(d.y_val, val_rows), w_val=take(d.w_val, val_rows))
