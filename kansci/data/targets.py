"""Several targets: which columns are targets, and the checks a list of them needs (no torch import).

A target is given as one column name, a comma-separated list (``"a,b"``; a name that is itself a column of the table,
commas included, stays one name), or a list of names (``[a, b]`` in a YAML config). With more than one target a
:class:`~kansci.data.dataset.Dataset` holds ``y`` (n, k) and one KAN is trained with k outputs.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kansci.data.table import column_not_found
from kansci.errors import DataError

__all__ = ["as_xy", "resolve_targets", "check_target_names", "target_label"]


def resolve_targets(target: str | Sequence[str] | None, header: Sequence[str], where: str) -> list[str]:
    """The target columns of a table with columns ``header``: ``None`` -> the last column; a string that names a
    column -> that column; another string -> its comma-separated names; a sequence -> its names. DataError (with the
    ``data.target`` key) for an unknown column, an empty name or a name listed twice."""
    if target is None:
        return [header[-1]]
    if isinstance(target, str):
        names = [target] if target in header else [s.strip() for s in target.split(",")]
    else:
        names = [str(s) for s in target]
    if not names or not all(names):
        raise DataError(f"{where}: empty target name in {target!r}", "write e.g. --target a,b",
                        path=where, key="data.target")
    for name in names:
        if name not in header:
            raise column_not_found(name, header, where, "target")
    check_target_names(names, where)
    return names


def check_target_names(names: Sequence[str], where: str) -> None:
    """DataError when a target is listed twice."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{where}: target column {name!r} is listed twice", "list each target once",
                            path=where, column=name, key="data.target")
        seen.add(name)


def target_label(names: Sequence[str]) -> str:
    """One label for several targets (``"a,b"``), used where a single name is expected (messages, logs)."""
    return ",".join(names)


def as_xy(X: Any, y: Any, n_targets: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to float64 X (n, d) and y (n,), or y (n, k) for ``n_targets`` k >= 2."""
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
    want = (len(Xa),) if n_targets == 1 else (len(Xa), n_targets)
    if ya.shape != want:
        raise DataError(f"y must have shape {want} to match X {Xa.shape}, got {ya.shape}",
                        "pass one target value per row of X" + ("" if n_targets == 1 else " and target"))
    return Xa, ya
