"""The seeded train/test split of a :class:`~kansci.data.dataset.Dataset` (no torch import).

``round(test_frac * n)`` rows go to the test set: the first ``n_test`` entries of a seeded permutation
(``numpy.random.default_rng(seed)``); index arrays are sorted int64.
"""
from __future__ import annotations

import math

import numpy as np

from kansci.errors import DataError

__all__ = ["split_indices", "check_test_frac", "n_test_rows", "split_rows"]


def split_indices(n: int, test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)``: (train_idx (n - n_test,), test_idx (n_test,)), sorted int64, with
    ``n_test = round(test_frac * n)``. DataError unless 0 < test_frac < 1, n_test >= 1 and n - n_test >= 2."""
    return split_rows(n, n_test_rows(n, test_frac, "data"), seed)


def check_test_frac(test_frac: float) -> None:
    if not (isinstance(test_frac, (int, float)) and 0.0 < test_frac < 1.0):
        raise DataError(f"test_frac={test_frac!r} must be strictly between 0 and 1",
                        "use a fraction such as 0.2 (20% of the rows for testing)")


def n_test_rows(n: int, test_frac: float, where: str) -> int:
    check_test_frac(test_frac)
    n_test = int(math.floor(test_frac * n + 0.5))
    if n_test < 1 or n - n_test < 2:
        raise DataError(f"{where}: test_frac={test_frac} of {n} rows leaves {n_test} test and {n - n_test} training "
                        "rows; need at least 1 test and 2 training rows",
                        "use a test_frac such as 0.2, or provide more rows")
    return n_test


def split_rows(n: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sorted int64 indices: the first ``n_test`` entries of a seeded permutation are the test rows."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]).astype(np.int64), np.sort(perm[:n_test]).astype(np.int64)
