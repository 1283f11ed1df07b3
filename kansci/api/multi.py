""":class:`~kansci.api.KANRegressor` fitted on several targets (y of shape (n, k), k >= 2).

One KAN with k outputs is trained, and ``symbolify`` finds one formula per target (:mod:`kansci.pipeline.targets`).
The estimator then follows PySR's habits for multi-output fits: ``equations_``, ``formula_``, ``selected_index_`` and
``symbolic_metrics_`` are lists with one entry per target (``equations_[j]`` is target j's candidate table);
``predict`` returns (n, k); ``sympy``, ``latex`` and ``jax`` return lists; ``index`` is a list with one row number
per target (``None`` in it: that target's selected row).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kansci import rundir
from kansci.api import candidates as cand
from kansci.api.exports import latex_table
from kansci.data import Dataset
from kansci.symbolic.exports import Formula

__all__ = ["Output", "gather", "pick", "select", "tables"]


@dataclass
class Output:
    """One target's candidate formulas, its noise level (for the selection rule) and its symbolify metrics."""

    candidates: list[cand.Candidate]
    noise_nmse: float = 0.0
    metrics: dict[str, Any] | None = None


def gather(ds: Dataset, sym: Any, weights: np.ndarray | None) -> list[Output]:
    """Per target of ``ds``: its candidate table from ``sym`` (a :class:`kansci.pipeline.TargetsResult`, or None
    without symbolify: the least-squares baselines only), on that target's values."""
    outs = []
    for j in range(ds.n_targets):
        one = ds.for_target(j)
        if sym is None:
            outs.append(Output(cand.gather(one, None, "", None, weights)))
            continue
        result, folder = sym.results[j], sym.dirs[j]
        doc = rundir.read_json(folder, "formula.json")
        structure = rundir.read_json(folder, "structure.json")
        found = cand.gather(one, result.formula, str(result.metrics.get("found_by", "")), doc, weights)
        outs.append(Output(found, float(structure.get("accept_nmse") or 0.0), result.metrics))
    return outs


def select(outs: Sequence[Output], rule: str) -> list[int]:
    """The row each target's ``rule`` picks (see :func:`kansci.api.candidates.select`)."""
    return [cand.select(o.candidates, rule, o.noise_nmse) for o in outs]


def pick(candidates: Sequence[Sequence[cand.Candidate]], selected: Sequence[int] | None, index: Any) -> list[Formula]:
    """One formula per target: row ``index[j]`` of target j's table (``index`` None, or a None entry: the selected
    row). TypeError for an ``index`` that is not a list of one row per target; IndexError for a row out of range."""
    k = len(candidates)
    if index is None:
        index = [None] * k
    if isinstance(index, np.ndarray):
        index = index.tolist()
    if isinstance(index, (int, np.integer, str)) or not isinstance(index, Sequence) or len(index) != k:
        raise TypeError(f"with {k} targets, index is a list of {k} row numbers (one per target's equations_ table, "
                        f"None for its selected row), got {index!r}")
    out = []
    for j, (rows, row) in enumerate(zip(candidates, index)):
        if row is None:
            if selected is None:
                raise ValueError("fitted with symbolify=False, so no formula was selected; pass index=[k0, k1, ...] "
                                 "for rows of equations_")
            row = selected[j]
        if isinstance(row, bool) or not isinstance(row, (int, np.integer)):
            raise TypeError(f"index[{j}] must be an int (a row of equations_[{j}]), got {row!r}")
        if not -len(rows) <= row < len(rows):
            raise IndexError(f"index[{j}] = {row} is out of range: equations_[{j}] has {len(rows)} rows")
        out.append(rows[int(row)].formula)
    return out


def tables(candidates: Sequence[Sequence[cand.Candidate]], indices: Any, precision: int) -> list[str]:
    """One booktabs LaTeX table per target: the rows ``indices[j]`` of its table (None: its Pareto rows)."""
    k = len(candidates)
    indices = [None] * k if indices is None else list(indices)
    if len(indices) != k:
        raise TypeError(f"with {k} targets, indices is a list of {k} row lists (None: the Pareto rows)")
    out = []
    for found, rows in zip(candidates, indices):
        chosen = [i for i, c in enumerate(found) if c.pareto] if rows is None else [int(i) for i in rows]
        stats = [{"complexity": c.complexity, "train_loss": c.train_loss, "val_loss": c.val_loss} for c in found]
        out.append(latex_table([c.formula for c in found], stats, chosen, precision))
    return out
