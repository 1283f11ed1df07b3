"""Python API: :class:`KANRegressor` (scikit-learn conventions) and :func:`load_run`.

``KANRegressor(**options).fit(X, y)`` runs the same pipeline as ``kansci run``: it writes a run directory (under
``out_dir``, default a temporary folder), symbolifies it, and exposes the results as trailing-underscore attributes:
``model_``, ``formula_``, ``run_dir_``, ``metrics_``, ``symbolic_metrics_``, ``history_``.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kansci import rundir
from kansci.config import Config, load_config
from kansci.core.model import KAN
from kansci.data import Dataset, dataset_from_arrays
from kansci.metrics import r2_score
from kansci.pipeline import fit_run, load_run_data, predict, split_seed


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
        return predict(self.model, self.dataset, np.asarray(X, dtype=np.float64))


def load_run(path: str | Path, out: str | Path = "runs") -> Run:
    """Rebuild model, data and (if present) formula from a run directory (a path or ``latest``).

    The formula is read from ``symbolic/formula.json`` by the same safe parser that reads user formulas. A run
    symbolified by a kansci that did not yet store the formula as parser text raises RunDirError (re-run
    ``kansci symbolify`` on it)."""
    run = rundir.resolve_run(path, out)
    model = rundir.load_model(run)
    ds = load_run_data(run)
    cfg = load_config(run / "config.yaml")
    formula = sym_model = None
    if (run / "symbolic" / "formula.json").is_file():
        from kansci.symbolic.exports import Formula

        sym_model = rundir.load_model(run / "symbolic")
        doc = rundir.read_json(run / "symbolic", "formula.json")
        formula = Formula.from_json(doc, source=str(run / "symbolic" / "formula.json"))
    return Run(run, model, ds, rundir.read_json(run, "metrics.json"), cfg, formula, sym_model)


class KANRegressor:
    """Symbolic regression with a KAN, scikit-learn style.

    Parameters are dotted config keys with ``__`` for the dot (``train__steps=50``, ``model__width=[2, 1, 1]``), plus
    ``seed``, ``symbolify`` (default True) and ``out_dir``.
    """

    def __init__(self, *, seed: int = 0, symbolify: bool = True, out_dir: str | None = None, **options: Any) -> None:
        self.seed = seed
        self.symbolify = symbolify
        self.out_dir = out_dir
        self.options = dict(options)

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 (sklearn signature)
        return {"seed": self.seed, "symbolify": self.symbolify, "out_dir": self.out_dir, **self.options}

    def set_params(self, **params: Any) -> KANRegressor:
        for k, v in params.items():
            if k in ("seed", "symbolify", "out_dir"):
                setattr(self, k, v)
            else:
                self.options[k] = v
        return self

    def _config(self) -> Config:
        flags = {k.replace("__", "."): v for k, v in self.options.items()}
        flags["seed"] = self.seed
        flags["output.dir"] = self.out_dir or tempfile.mkdtemp(prefix="kansci-")
        return load_config(None, flags=flags)

    def fit(self, X: Any, y: Any, feature_names: Sequence[str] | None = None, target_name: str = "y") -> KANRegressor:
        """X (n, d), y (n,). ``feature_names`` default to the columns of a DataFrame-like X, else x0..x{d-1}."""
        if feature_names is None and hasattr(X, "columns"):
            feature_names = [str(c) for c in X.columns]
        cfg = self._config()
        ds = dataset_from_arrays(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                 input_names=feature_names, target_name=target_name, test_frac=cfg.data.test_frac,
                                 split_seed=split_seed(cfg), normalize=cfg.data.normalize)
        result = fit_run(cfg, dataset=ds)
        self.run_dir_, self.model_, self.dataset_ = result.run, result.model, result.dataset
        self.metrics_, self.history_ = result.metrics, result.history
        self.feature_names_in_ = list(ds.input_names)
        self.n_features_in_ = len(ds.input_names)
        self.formula_ = None
        if self.symbolify:
            from kansci.pipeline.symbolify import symbolify_run

            sym = symbolify_run(result.run, cfg)
            self.formula_, self.symbolic_metrics_ = sym.formula, sym.metrics
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the formula when there is one, else of the KAN. X (n, d) -> (n,)."""
        X = np.asarray(X, dtype=np.float64)
        if self.formula_ is not None:
            return self.formula_(X)
        return predict(self.model_, self.dataset_, X)

    def score(self, X: Any, y: Any) -> float:
        """R² of :meth:`predict` on ``X`` against ``y`` (see :func:`kansci.metrics.r2_score`)."""
        return r2_score(np.asarray(y, dtype=np.float64), self.predict(X))
