"""A run directory loaded back into Python: :func:`load_run` and its :class:`Run`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kansci import rundir
from kansci.config import Config, load_config
from kansci.core.model import KAN
from kansci.data import Dataset
from kansci.pipeline import load_run_data, predict
from kansci.pipeline.common import load_model
from kansci.rundir.targets import read_targets

__all__ = ["Run", "load_run"]


@dataclass
class Run:
    """A run directory loaded from disk."""

    path: Path
    model: KAN
    dataset: Dataset
    metrics: dict[str, Any]
    config: Config
    formula: Any = None  # Formula when the run was symbolified; several targets: a list, one per target
    symbolic_model: Any = None  # KAN; several targets: a list, one per target

    @property
    def targets(self) -> list[str]:
        """The target names (one for most runs)."""
        return self.dataset.targets

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The trained network's predictions, X (n, d) -> (n,), or (n, k) for k targets, in original units."""
        return predict(self.model, self.dataset, np.asarray(X, dtype=np.float64))


def load_run(path: str | Path, out: str | Path = "runs") -> Run:
    """Rebuild model, data and (if present) formula from a run directory (a path or ``latest``).

    The formula is read from ``symbolic/formula.json`` by the same safe parser that reads user formulas. A run
    symbolified by a kansci that did not yet store the formula as parser text raises RunDirError (re-run
    ``kansci symbolify`` on it). A run with several targets has a list of formulas and symbolic models, one per
    target in output order (from ``symbolic/<dir>/``, see :mod:`kansci.rundir.targets`)."""
    run = rundir.resolve_run(path, out)
    model = load_model(run)
    ds = load_run_data(run)
    cfg = load_config(run / "config.yaml")
    formula: Any = None
    sym_model: Any = None
    folders = [f for _, f in read_targets(run / "symbolic") or []]
    if folders and all((f / "formula.json").is_file() for f in folders):
        loaded = [_symbolic(f) for f in folders]
        formula, sym_model = [f for f, _ in loaded], [m for _, m in loaded]
    elif not folders and (run / "symbolic" / "formula.json").is_file():
        formula, sym_model = _symbolic(run / "symbolic")
    return Run(run, model, ds, rundir.read_json(run, "metrics.json"), cfg, formula, sym_model)


def _symbolic(sym: Path) -> tuple[Any, KAN]:
    """(formula, symbolic model) from one folder of symbolic results."""
    from kansci.symbolic.exports import Formula

    sym_model = load_model(sym)  # its symbolic edges need the primitive library
    doc = rundir.read_json(sym, "formula.json")
    return Formula.from_json(doc, source=str(sym / "formula.json")), sym_model
