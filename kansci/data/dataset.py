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

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kansci.data.names import check_name
from kansci.data.normalize import NORMALIZE_POLICIES, Normalization, check_policy, fit_normalization, target_policy
from kansci.data.split import check_test_frac, n_test_rows, split_indices, split_rows
from kansci.data.table import check_columns, column_not_found, parse_table, read_table
from kansci.data.targets import as_xy, check_target_names, resolve_targets, target_label
from kansci.errors import DataError

__all__ = ["NORMALIZE_POLICIES", "Normalization", "Dataset", "read_table", "load_dataset", "dataset_from_arrays",
           "split_indices", "fit_normalization"]


@dataclass
class Dataset:
    """Named regression data with its split and normalization.

    ``X`` (n, d) and ``y`` (n,) are float64 in ORIGINAL units; they are ``None`` for metadata loaded without data.
    ``train_idx`` (n_train,) and ``test_idx`` (n_test,) are sorted int64 row indices; ``x_norm`` has d columns and
    ``y_norm`` one.

    Several targets (``target_names`` set, k >= 2 names): ``y`` is (n, k), ``y_norm`` has k columns, every ``y_*``
    property is (rows, k), and ``target_name`` is the names joined by commas; :meth:`for_target` gives target j as a
    one-target Dataset (same rows, split and input normalization).
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
    target_names: list[str] | None = None  # several targets (k >= 2); None: one target, ``target_name``

    @property
    def targets(self) -> list[str]:
        """The target names: ``target_names``, or ``[target_name]``."""
        return list(self.target_names) if self.target_names else [self.target_name]

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def for_target(self, j: int) -> Dataset:
        """Target ``j`` as a one-target Dataset: ``y[:, j]`` (a view), column j of ``y_norm``; itself when there is
        one target."""
        if self.target_names is None:
            return self
        y = None if self.y is None else self.y[:, j]
        y_norm = Normalization(self.y_norm.shift[j:j + 1].copy(), self.y_norm.scale[j:j + 1].copy())
        return Dataset(self.X, y, list(self.input_names), self.target_names[j], self.train_idx, self.test_idx,
                       self.x_norm, y_norm, self.source, self.sha256, self.split_seed, self.normalize)

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
            "inputs": list(self.input_names), "target": self.targets if self.target_names else self.target_name,
            "split": {"seed": int(self.split_seed), "train": [int(i) for i in self.train_idx],
                      "test": [int(i) for i in self.test_idx]},
            "normalization": {"policy": self.normalize, "x": self.x_norm.to_dict(), "y": self.y_norm.to_dict()},
        }

    @classmethod
    def from_json(cls, meta: dict[str, Any], X: np.ndarray | None = None, y: np.ndarray | None = None) -> Dataset:
        """Rebuild from :meth:`to_json` output; ``X`` (n, d) and ``y`` (n,) are optional and checked against it."""
        try:
            split, norm = meta["split"], meta["normalization"]
            names = [str(s) for s in meta["target"]] if isinstance(meta["target"], list) else None
            ds = cls(None, None, [str(s) for s in meta["inputs"]],
                     target_label(names) if names else str(meta["target"]),
                     np.asarray(split["train"], dtype=np.int64), np.asarray(split["test"], dtype=np.int64),
                     Normalization.from_dict(norm["x"]), Normalization.from_dict(norm["y"]),
                     meta.get("source"), meta.get("sha256"), int(split["seed"]), str(norm.get("policy", "auto")),
                     names if names and len(names) > 1 else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"dataset metadata is missing or has an invalid entry ({type(exc).__name__}: {exc})",
                            "dataset.json is damaged; rerun the fit to recreate it") from None
        n, d = int(meta.get("n_rows", ds.n_rows)), len(ds.input_names)
        idx = np.concatenate([ds.train_idx, ds.test_idx])
        if ds.n_rows != n or not np.array_equal(np.sort(idx), np.arange(n)) or len(ds.x_norm.scale) != d \
                or len(ds.y_norm.scale) != ds.n_targets:
            raise DataError("dataset metadata is inconsistent (split indices, row count or normalization sizes)",
                            "dataset.json is damaged; rerun the fit to recreate it")
        if X is not None or y is not None:
            Xa, ya = as_xy(X, y, ds.n_targets)
            if Xa.shape != (n, d):
                raise DataError(f"data of shape {Xa.shape} does not match the dataset metadata ({n} rows, {d} "
                                "inputs)", "load the same data file the run was made with")
            ds.X, ds.y = Xa, ya
        return ds


def load_dataset(path: str | Path, *, target: str | Sequence[str] | None = None,
                 inputs: Sequence[str] | None = None,
                 test_frac: float = 0.2, split_seed: int = 0, normalize: str = "auto",
                 min_rows: int = 5, sep: str = "auto",
                 progress: Callable[[int, int], None] | None = None) -> Dataset:
    """Read a table (CSV, TSV, parquet, or ``-`` for standard input; see :mod:`kansci.data.table`) into a Dataset.
    ``target`` defaults to the last column, ``inputs`` to all other columns (a string is read as a comma-separated
    list). Several targets (a list, or ``"a,b"``; see :mod:`kansci.data.targets`) give ``y`` (n, k). ``sep``: the
    separator of a text table, or ``"auto"``. Only the chosen columns need valid names and finite numbers; the file's
    structure (encoding, header, field counts) is always checked. ``progress(bytes_done, bytes_total)`` is called
    while the file is read (see :func:`kansci.data.table.parse_table`)."""
    check_policy(normalize)
    check_test_frac(test_frac)  # fails before the file is read
    table = parse_table(path, sep, progress=progress)
    where, header = table.path, table.header
    targets = resolve_targets(target, header, where)
    target = targets[0]
    if inputs is None:
        inputs = [h for h in header if h not in targets]
        if not inputs:
            raise DataError(f"{where} has a single column {target!r}; need at least one input column besides the "
                            "target", "add input columns to the file", path=where, column=target)
    else:
        inputs = [s.strip() for s in inputs.split(",")] if isinstance(inputs, str) else list(inputs)
        for name in inputs:
            if name not in header:
                raise column_not_found(name, header, where, "input")
            if name in targets:
                raise DataError(f"{where}: column {name!r} is the target and cannot also be an input",
                                "remove it from the inputs or choose another target", path=where, column=name,
                                key="data.inputs")
            if inputs.count(name) > 1:
                raise DataError(f"{where}: input column {name!r} is listed twice", "list each input once",
                                path=where, column=name, key="data.inputs")
        if not inputs:
            raise DataError(f"{where}: no input columns selected", "select at least one input column", path=where,
                            key="data.inputs")
    cols = [header.index(name) for name in inputs] + [header.index(name) for name in targets]
    check_columns(table, cols)
    n = table.values.shape[0]
    if n < min_rows:
        raise DataError(f"{where} has {n} data row{'s' if n != 1 else ''}; at least {min_rows} are needed",
                        "add more rows: kansci needs enough rows for a train, validation and test split", path=where)
    d = len(inputs)  # inputs in file order: X is a view of the table, not a copy (one target: y is a view)
    X = table.values[:, cols[0]:cols[0] + d] if cols[:d] == list(range(cols[0], cols[0] + d)) \
        else table.values[:, cols[:d]]
    y = table.values[:, cols[-1]] if len(targets) == 1 else table.values[:, cols[d:]]
    return _build(X, y, inputs, targets, where, test_frac, split_seed, normalize, where, table.sha256)


def dataset_from_arrays(X: np.ndarray, y: np.ndarray, *, input_names: Sequence[str] | None = None,
                        target_name: str | Sequence[str] = "y", test_frac: float = 0.2, split_seed: int = 0,
                        normalize: str = "auto") -> Dataset:
    """Dataset from in-memory ``X`` (n, d) and ``y`` (n,) (or (n, 1)); input names default to x0, x1, ....
    Several targets: ``y`` (n, k) with k >= 2 and ``target_name`` a list of k names (a single name ``t`` becomes
    ``t0 .. t{k-1}``)."""
    check_policy(normalize)
    k = np.shape(y)[1] if np.ndim(y) == 2 else 1
    targets = [str(target_name)] if isinstance(target_name, str) else [str(s) for s in target_name]
    if k > 1 and len(targets) == 1:
        targets = [f"{targets[0]}{j}" for j in range(k)]
    if len(targets) != k:
        raise DataError(f"target_name has {len(targets)} names but y has {k} columns",
                        "give exactly one name per column of y")
    check_target_names(targets, "arrays")
    Xa, ya = as_xy(X, y, k)
    names = [f"x{i}" for i in range(Xa.shape[1])] if input_names is None else [str(s) for s in input_names]
    if len(names) != Xa.shape[1]:
        raise DataError(f"input_names has {len(names)} names but X has {Xa.shape[1]} columns",
                        "give exactly one name per column of X")
    for j, name in enumerate(names + targets):
        check_name(name, "input_names" if j < len(names) else "target_name", j + 1 if j < len(names) else None)
    if len(set(names + targets)) != len(names) + len(targets):
        raise DataError(f"duplicate names among inputs {names} and target {target_label(targets)!r}",
                        "give every column a unique name")
    for label, values in (("X", Xa), ("y", ya.reshape(len(ya), -1))):
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise DataError(f"{label} has {int(bad.sum())} NaN or inf value(s), in rows "
                            + ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else ""),
                            "remove or fill those rows before fitting")
    return _build(Xa, ya, names, targets, "arrays", test_frac, split_seed, normalize, None, None)


def _build(X: np.ndarray, y: np.ndarray, inputs: list[str], targets: list[str], where: str, test_frac: float,
           split_seed: int, normalize: str, source: str | None, sha256: str | None) -> Dataset:
    """Role checks (constant columns, split sizes), split, and normalization from the training rows. ``y`` is (n,)
    for one target, (n, k) for the k >= 2 ``targets``."""
    n = len(X)
    ys = y.reshape(n, len(targets))
    for j, target in enumerate(targets):
        if n and np.all(ys[:, j] == ys[0, j]):
            raise DataError(f"{where}: target column {target!r} has the same value ({float(ys[0, j])!r}) in all {n} "
                            "rows; a constant cannot be fitted", "choose another target column (--target)",
                            path=source, column=target)
    for j, name in enumerate(inputs):
        if n and np.all(X[:, j] == X[0, j]):
            others = [s for s in inputs if s != name]
            raise DataError(f"{where}: input column {name!r} has the same value ({float(X[0, j])!r}) in all {n} rows",
                            _drop_hint(others), path=source, column=name)
    train, test = split_rows(n, n_test_rows(n, test_frac, where), split_seed)
    several = list(targets) if len(targets) > 1 else None
    return Dataset(X, y, list(inputs), target_label(targets), train, test, fit_normalization(X[train], normalize),
                   fit_normalization(y[train], target_policy(normalize)), source, sha256, int(split_seed), normalize,
                   several)


def _drop_hint(others: list[str]) -> str:
    """How to leave a column out, keeping ``others`` (quoted for a shell where a name needs it)."""
    if not others:
        return "a constant input carries no information; add a column that varies"
    if any("," in name for name in others):
        return f"list the other inputs under data.inputs in the config: {others}"
    return f"drop it with --inputs {shlex.quote(','.join(others))}"
