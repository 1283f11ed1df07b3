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

__all__ = ["Run", "load_run"]


@dataclass
class Run:
    """A run directory loaded from disk."""

    path: Path
    model: KAN
    dataset: Dataset
    metrics: dict[str, Any]
    config: Config
    formula: Any = None  # Formula when the run was symbolified
    symbolic_model: KAN | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The trained network's predictions, X (n, d) -> (n,), in original units."""
        return predict(self.model, self.dataset, np.asarray(X, dtype=np.float64))


def load_run(path: str | Path, out: str | Path = "runs") -> Run:
    """Rebuild model, data and (if present) formula from a run directory (a path or ``latest``).

    The formula is read from ``symbolic/formula.json`` by the same safe parser that reads user formulas. A run
    symbolified by a kansci that did not yet store the formula as parser text raises RunDirError (re-run
    ``kansci symbolify`` on it)."""
    run = rundir.resolve_run(path, out)
    model = load_model(run)
    ds = load_run_data(run)
    cfg = load_config(run / "config.yaml")
    formula = sym_model = None
    if (run / "symbolic" / "formula.json").is_file():
        from kansci.symbolic.exports import Formula

        sym_model = load_model(run / "symbolic")  # its symbolic edges need the primitive library
        doc = rundir.read_json(run / "symbolic", "formula.json")
        formula = Formula.from_json(doc, source=str(run / "symbolic" / "formula.json"))
    return Run(run, model, ds, rundir.read_json(run, "metrics.json"), cfg, formula, sym_model)
