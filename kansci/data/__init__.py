"""Tables and datasets, a base layer (no torch import): the strict CSV reader (:mod:`.table`), column-name rules
(:mod:`.names`), :class:`Dataset` with its split and normalization (:mod:`.dataset`), synthetic data from a formula
(:mod:`.synthetic`), the Feynman equation table (:mod:`.feynman`) and the safe formula parser (:mod:`.formula_text`).
"""
from __future__ import annotations

from kansci.data.dataset import (
                                 Dataset,
                                 Normalization,
                                 dataset_from_arrays,
                                 fit_normalization,
                                 load_dataset,
                                 split_indices,
)
from kansci.data.table import read_table

__all__ = ["Dataset", "Normalization", "dataset_from_arrays", "fit_normalization", "load_dataset", "read_table",
           "split_indices"]
