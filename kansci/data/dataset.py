"""A table or arrays → :class:`Dataset`: named columns, a seeded train/test split and normalization statistics.

The table formats and their checks live in :mod:`kansci.data.table`; this module picks the target and input columns,
checks what only makes sense for a chosen role (a constant column, too few rows, a split with no test rows), splits
and normalizes.

Normalization (:mod:`kansci.data.normalize`): ``value_normalized = (value - shift) / scale`` per column, with
statistics from the TRAINING rows only; ``"auto"`` (the default) standardizes the target and scales inputs by powers
of ten only when they are far from unit range.

The split is a seeded permutation (``numpy.random.default_rng(seed)``): ``round(test_frac * n)`` rows go to the
test set; index arrays are sorted.
"""
from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kansci.data.names import check_name
from kansci.data.normalize import NORMALIZE_POLICIES, Normalization, check_policy, fit_normalization, target_policy
from kansci.data.table import check_columns, column_not_found, parse_table, read_table
from kansci.errors import DataError

__all__ = ["NORMALIZE_POLICIES", "Normalization", "Dataset", "read_table", "load_dataset", "dataset_from_arrays",
           "split_indices", "fit_normalization"]


@dataclass
class Dataset:
    """Named regression data with its split and normalization.

    ``X`` (n, d) and ``y`` (n,) are float64 in ORIGINAL units; they are ``None`` for metadata loaded without data.
    ``train_idx`` (n_train,) and ``test_idx`` (n_test,) are sorted int64 row indices; ``x_norm`` has d columns and
    ``y_norm`` one.
    """

    X: np.ndarray | None
    y: np.ndarray | None
    input_names: list[str]
    target_name: str
    train_idx: np.ndarray
    test_idx: np.ndarray
    x_norm: Normalization
    y_norm: Normalization
    source: str | None = None
    sha256: str | None = None
    split_seed: int = 0
    normalize: str = "auto"  # the policy that produced x_norm / y_norm

    @property
    def n_rows(self) -> int:
        return len(self.train_idx) + len(self.test_idx)

    @property
    def n_inputs(self) -> int:
        return len(self.input_names)

    def _data(self) -> tuple[np.ndarray, np.ndarray]:
        if self.X is None or self.y is None:
            raise DataError(f"dataset {self.source or '<arrays>'} has metadata only, no data loaded",
                            "pass X and y to Dataset.from_json, or reload it with load_dataset")
        return self.X, self.y

    @property
    def X_train(self) -> np.ndarray:  # (n_train, d)
        return self._data()[0][self.train_idx]

    @property
    def y_train(self) -> np.ndarray:  # (n_train,)
        return self._data()[1][self.train_idx]

    @property
    def X_test(self) -> np.ndarray:  # (n_test, d)
        return self._data()[0][self.test_idx]

    @property
    def y_test(self) -> np.ndarray:  # (n_test,)
        return self._data()[1][self.test_idx]

    @property
    def X_train_norm(self) -> np.ndarray:  # (n_train, d)
        return self.x_norm.apply(self.X_train)

    @property
    def y_train_norm(self) -> np.ndarray:  # (n_train,)
        return self.y_norm.apply(self.y_train)

    @property
    def X_test_norm(self) -> np.ndarray:  # (n_test, d)
        return self.x_norm.apply(self.X_test)

    @property
    def y_test_norm(self) -> np.ndarray:  # (n_test,)
        return self.y_norm.apply(self.y_test)

    def train_rows_norm(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalized training rows ``train_idx[idx]``: (X (k, d), y (k,)), new arrays normalized in place (the same
        values as ``X_train_norm[idx]``, without copies of every training row)."""
        X, y = self._data()
        rows = self.train_idx[idx]
        xs, ys = np.array(X[rows], dtype=np.float64), np.array(y[rows], dtype=np.float64)
        xs -= self.x_norm.shift
        xs /= self.x_norm.scale
        ys -= self.y_norm.shift
        ys /= self.y_norm.scale
        return xs, ys

    def to_json(self) -> dict[str, Any]:
        """JSON-ready metadata for ``dataset.json`` (no data values; floats round-trip exactly through json)."""
        return {
            "format": "kansci-dataset", "version": 1,
            "source": self.source, "sha256": self.sha256, "n_rows": self.n_rows,
            "inputs": list(self.input_names), "target": self.target_name,
            "split": {"seed": int(self.split_seed), "train": [int(i) for i in self.train_idx],
                      "test": [int(i) for i in self.test_idx]},
            "normalization": {"policy": self.normalize, "x": self.x_norm.to_dict(), "y": self.y_norm.to_dict()},
        }

    @classmethod
    def from_json(cls, meta: dict[str, Any], X: np.ndarray | None = None, y: np.ndarray | None = None) -> Dataset:
        """Rebuild from :meth:`to_json` output; ``X`` (n, d) and ``y`` (n,) are optional and checked against it."""
        try:
            split, norm = meta["split"], meta["normalization"]
            ds = cls(None, None, [str(s) for s in meta["inputs"]], str(meta["target"]),
                     np.asarray(split["train"], dtype=np.int64), np.asarray(split["test"], dtype=np.int64),
                     Normalization.from_dict(norm["x"]), Normalization.from_dict(norm["y"]),
                     meta.get("source"), meta.get("sha256"), int(split["seed"]), str(norm.get("policy", "auto")))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"dataset metadata is missing or has an invalid entry ({type(exc).__name__}: {exc})",
                            "dataset.json is damaged; rerun the fit to recreate it") from None
        n, d = int(meta.get("n_rows", ds.n_rows)), len(ds.input_names)
        idx = np.concatenate([ds.train_idx, ds.test_idx])
        if ds.n_rows != n or not np.array_equal(np.sort(idx), np.arange(n)) or len(ds.x_norm.scale) != d \
                or len(ds.y_norm.scale) != 1:
            raise DataError("dataset metadata is inconsistent (split indices, row count or normalization sizes)",
                            "dataset.json is damaged; rerun the fit to recreate it")
        if X is not None or y is not None:
            Xa, ya = _as_xy(X, y)
            if Xa.shape != (n, d):
                raise DataError(f"data of shape {Xa.shape} does not match the dataset metadata ({n} rows, {d} "
                                "inputs)", "load the same data file the run was made with")
            ds.X, ds.y = Xa, ya
        return ds


def split_indices(n: int, test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)``: (train_idx (n - n_test,), test_idx (n_test,)), sorted int64, with
    ``n_test = round(test_frac * n)``. DataError unless 0 < test_frac < 1, n_test >= 1 and n - n_test >= 2."""
    return _split(n, _n_test(n, test_frac, "data"), seed)


def _check_test_frac(test_frac: float) -> None:
    if not (isinstance(test_frac, (int, float)) and 0.0 < test_frac < 1.0):
        raise DataError(f"test_frac={test_frac!r} must be strictly between 0 and 1",
                        "use a fraction such as 0.2 (20% of the rows for testing)")


def _n_test(n: int, test_frac: float, where: str) -> int:
    _check_test_frac(test_frac)
    n_test = int(math.floor(test_frac * n + 0.5))
    if n_test < 1 or n - n_test < 2:
        raise DataError(f"{where}: test_frac={test_frac} of {n} rows leaves {n_test} test and {n - n_test} training "
                        "rows; need at least 1 test and 2 training rows",
                        "use a test_frac such as 0.2, or provide more rows")
    return n_test


def load_dataset(path: str | Path, *, target: str | None = None, inputs: Sequence[str] | None = None,
                 test_frac: float = 0.2, split_seed: int = 0, normalize: str = "auto",
                 min_rows: int = 5, sep: str = "auto",
                 progress: Callable[[int, int], None] | None = None) -> Dataset:
    """Read a table (CSV, TSV, parquet, or ``-`` for standard input; see :mod:`kansci.data.table`) into a Dataset.
    ``target`` defaults to the last column, ``inputs`` to all other columns (a string is read as a comma-separated
    list). ``sep``: the separator of a text table, or ``"auto"``. Only the chosen columns need valid names and finite
    numbers; the file's structure (encoding, header, field counts) is always checked. ``progress(bytes_done,
    bytes_total)`` is called while the file is read (see :func:`kansci.data.table.parse_table`)."""
    check_policy(normalize)
    _check_test_frac(test_frac)  # fails before the file is read
    table = parse_table(path, sep, progress=progress)
    where, header = table.path, table.header
    if target is None:
        target = header[-1]
    elif target not in header:
        raise column_not_found(target, header, where, "target")
    if inputs is None:
        inputs = [h for h in header if h != target]
        if not inputs:
            raise DataError(f"{where} has a single column {target!r}; need at least one input column besides the "
                            "target", "add input columns to the file", path=where, column=target)
    else:
        inputs = [s.strip() for s in inputs.split(",")] if isinstance(inputs, str) else list(inputs)
        for name in inputs:
            if name not in header:
                raise column_not_found(name, header, where, "input")
            if name == target:
                raise DataError(f"{where}: column {name!r} is the target and cannot also be an input",
                                "remove it from the inputs or choose another target", path=where, column=name,
                                key="data.inputs")
            if inputs.count(name) > 1:
                raise DataError(f"{where}: input column {name!r} is listed twice", "list each input once",
                                path=where, column=name, key="data.inputs")
        if not inputs:
            raise DataError(f"{where}: no input columns selected", "select at least one input column", path=where,
                            key="data.inputs")
    cols = [header.index(name) for name in inputs] + [header.index(target)]
    check_columns(table, cols)
    n = table.values.shape[0]
    if n < min_rows:
        raise DataError(f"{where} has {n} data row{'s' if n != 1 else ''}; at least {min_rows} are needed",
                        "add more rows: kansci needs enough rows for a train, validation and test split", path=where)
    d = len(cols) - 1  # inputs in file order: X is a view of the table, not a copy (y always is a view)
    X = table.values[:, cols[0]:cols[0] + d] if cols[:-1] == list(range(cols[0], cols[0] + d)) \
        else table.values[:, cols[:-1]]
    y = table.values[:, cols[-1]]
    return _build(X, y, inputs, target, where, test_frac, split_seed, normalize, where, table.sha256)


def dataset_from_arrays(X: np.ndarray, y: np.ndarray, *, input_names: Sequence[str] | None = None,
                        target_name: str = "y", test_frac: float = 0.2, split_seed: int = 0,
                        normalize: str = "auto") -> Dataset:
    """Dataset from in-memory ``X`` (n, d) and ``y`` (n,) (or (n, 1)); input names default to x0, x1, ...."""
    check_policy(normalize)
    Xa, ya = _as_xy(X, y)
    names = [f"x{i}" for i in range(Xa.shape[1])] if input_names is None else [str(s) for s in input_names]
    if len(names) != Xa.shape[1]:
        raise DataError(f"input_names has {len(names)} names but X has {Xa.shape[1]} columns",
                        "give exactly one name per column of X")
    for j, name in enumerate(names + [target_name]):
        check_name(name, "input_names" if j < len(names) else "target_name", j + 1 if j < len(names) else None)
    if len(set(names + [target_name])) != len(names) + 1:
        raise DataError(f"duplicate names among inputs {names} and target {target_name!r}",
                        "give every column a unique name")
    for label, values in (("X", Xa), ("y", ya[:, None])):
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise DataError(f"{label} has {int(bad.sum())} NaN or inf value(s), in rows "
                            + ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else ""),
                            "remove or fill those rows before fitting")
    return _build(Xa, ya, names, target_name, "arrays", test_frac, split_seed, normalize, None, None)


def _as_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to float64 X (n, d) and y (n,)."""
    try:
        Xa = np.array(X, dtype=np.float64)
        ya = np.array(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"X and y must be numeric arrays ({exc})", "convert them to float arrays first") from None
    if Xa.ndim != 2:
        raise DataError(f"X must be 2-D (n_samples, n_features), got shape {Xa.shape}",
                        "for a single feature use X.reshape(-1, 1)")
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if ya.ndim != 1 or len(ya) != len(Xa):
        raise DataError(f"y must have shape ({len(Xa)},) to match X {Xa.shape}, got {ya.shape}",
                        "pass one target value per row of X")
    return Xa, ya


def _build(X: np.ndarray, y: np.ndarray, inputs: list[str], target: str, where: str, test_frac: float,
           split_seed: int, normalize: str, source: str | None, sha256: str | None) -> Dataset:
    """Role checks (constant columns, split sizes), split, and normalization from the training rows."""
    n = len(X)
    if n and np.all(y == y[0]):
        raise DataError(f"{where}: target column {target!r} has the same value ({float(y[0])!r}) in all {n} rows; "
                        "a constant cannot be fitted", "choose another target column (--target)", path=source,
                        column=target)
    for j, name in enumerate(inputs):
        if n and np.all(X[:, j] == X[0, j]):
            others = [s for s in inputs if s != name]
            raise DataError(f"{where}: input column {name!r} has the same value ({float(X[0, j])!r}) in all {n} rows",
                            _drop_hint(others), path=source, column=name)
    train, test = _split(n, _n_test(n, test_frac, where), split_seed)
    return Dataset(X, y, list(inputs), target, train, test, fit_normalization(X[train], normalize),
                   fit_normalization(y[train], target_policy(normalize)), source, sha256, int(split_seed), normalize)


def _drop_hint(others: list[str]) -> str:
    """How to leave a column out, keeping ``others`` (quoted for a shell where a name needs it)."""
    if not others:
        return "a constant input carries no information; add a column that varies"
    if any("," in name for name in others):
        return f"list the other inputs under data.inputs in the config: {others}"
    return f"drop it with --inputs {shlex.quote(','.join(others))}"


def _split(n: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sorted int64 indices: the first ``n_test`` entries of a seeded permutation are the test rows."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]).astype(np.int64), np.sort(perm[:n_test]).astype(np.int64)
