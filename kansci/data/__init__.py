"""Tables and datasets, a base layer (no torch import): the strict table reader (:mod:`.table`; CSV and TSV in
:mod:`.delimited`, parquet in :mod:`.parquet`, files or standard input in :mod:`.source`), column-name rules
(:mod:`.names`), :class:`Dataset` with its split (:mod:`.dataset`) and normalization (:mod:`.normalize`), synthetic
data from a formula (:mod:`.synthetic`) and the Feynman equation table (:mod:`.feynman`).
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
