""":class:`KANRegressor`: symbolic regression with a KAN as a scikit-learn estimator.

``fit`` runs the pipeline that ``kansci run`` runs (train, then ``symbolify``), in a temporary folder that is removed
before ``fit`` returns, or under ``out_dir`` when one is given. Everything the estimator needs afterwards is kept in
memory, so a fitted estimator pickles, clones and predicts without files.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sympy

from kansci import rundir
from kansci.api import candidates as cand
from kansci.api import multi
from kansci.api.compat import BASES, NotFittedError, check_weights, check_x, check_xy
from kansci.api.exports import jax_function, latex_table
from kansci.api.settings import build_config, declare_units, merge_keywords, seed_of, threads, workspace
from kansci.api.weighted import fit_weighted
from kansci.config import Config
from kansci.data import Dataset, dataset_from_arrays
from kansci.errors import DataError
from kansci.pipeline import fit_run, predict, split_seed, symbolify_run
from kansci.symbolic.exports import Formula

__all__ = ["KANRegressor", "KANSymbolicRegressor"]

_FITTED = ("model_", "dataset_", "metrics_", "history_", "run_dir_", "formula_", "symbolic_metrics_", "equations_",
           "selected_index_", "n_features_in_", "feature_names_in_", "_candidates", "_noise_nmse", "units_",
           "_units")


class KANRegressor(*BASES):  # type: ignore[misc]
    """Symbolic regression with a Kolmogorov-Arnold Network, scikit-learn style.

    Parameters:
        config: config keys, as a dict of dotted keys (``{"train.steps": 20}``) or of sections
            (``{"train": {"steps": 20}}``); ``None`` as a value sets a key to null. Keywords ``section__key=value``
            (``train__steps=20``), to the constructor or ``set_params``, are merged into this dict, so
            ``GridSearchCV(reg, {"train__steps": [10, 50]})`` searches a config key.
        width, steps, grids, device: ``model.width`` (e.g. ``[2, 5, 1]``, or ``"auto"``), ``train.steps``,
            ``train.grids`` and ``model.device``, when not None (they override ``config``).
        time_limit_s: a soft wall-clock budget for the fit, half for training and half for ``symbolify``
            (``train.time_limit_s`` and ``symbolic.time_limit_s``); None keeps the config's limits.
        symbolify: find formulas after training (default). With False, ``predict`` uses the trained network and
            ``equations_`` holds the least-squares baselines only.
        model_selection: which row of ``equations_`` becomes ``formula_`` (see :func:`kansci.api.candidates.select`):
            ``"best"`` (default, symbolify's rule: the lowest score among the candidates within 100x of the lowest
            training NMSE or within the noise level), ``"accuracy"`` (the lowest training NMSE) or ``"simplest"``
            (the lowest complexity among the candidates that "best" considers). Only training rows decide; the
            least-squares constant of the table is a reference, picked only when there is no other candidate.
        random_state: None (the config's ``seed``, 0 by default: runs are reproducible), an int (the run seed, as
            ``kansci fit --seed``) or a numpy ``RandomState`` (one seed is drawn from it).
        n_jobs: at most this many torch CPU threads (-1: all cores); None: torch's default.
        out_dir: a folder that receives the run directory (kept; see ``run_dir_``). None: no file is left behind.
        seed: deprecated alias of ``random_state`` (a DeprecationWarning).

    Attributes (after ``fit``): ``formula_`` (the selected :class:`~kansci.symbolic.exports.Formula`, or None without
    symbolify), ``equations_`` (the candidate table, see :mod:`kansci.api.candidates`), ``selected_index_`` (the row
    of ``formula_``, None without symbolify), ``model_`` (the trained KAN), ``dataset_``, ``metrics_``,
    ``symbolic_metrics_``, ``history_``, ``run_dir_`` (None without ``out_dir``), ``n_features_in_`` and, when X has
    string column names, ``feature_names_in_``.
    """

    def __init__(self, *, config: dict[str, Any] | None = None, width: Any = None, steps: int | None = None,
                 grids: list[int] | None = None, time_limit_s: float | None = None, device: str | None = None,
                 symbolify: bool = True, model_selection: str = "best", random_state: Any = None,
                 n_jobs: int | None = None, out_dir: str | None = None, **options: Any) -> None:
        if "seed" in options:
            warnings.warn("KANRegressor(seed=...) is deprecated; use random_state=...", DeprecationWarning,
                          stacklevel=2)
            seed = options.pop("seed")
            random_state = seed if random_state is None else random_state
        self.config = merge_keywords(config, options)
        self.width = width
        self.steps = steps
        self.grids = grids
        self.time_limit_s = time_limit_s
        self.device = device
        self.symbolify = symbolify
        self.model_selection = model_selection
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.out_dir = out_dir

    def set_params(self, **params: Any) -> KANRegressor:
        """Set parameters; ``section__key=value`` sets a config key (merged into a new ``config`` dict). A name that
        is neither a parameter nor a config key is reported when ``fit`` runs (scikit-learn wants no error here)."""
        own = self.get_params(deep=False)
        routed = {k: params.pop(k) for k in list(params) if k not in own and k != "seed"}
        if "seed" in params:
            warnings.warn("seed is deprecated; use random_state", DeprecationWarning, stacklevel=2)
            params["random_state"] = params.pop("seed")
        if routed:
            self.config = merge_keywords(self.config, routed)
        return super().set_params(**params) if params else self

    # ----------------------------------------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, feature_names: Sequence[str] | None = None,
            target_name: str = "y", X_units: Sequence[Any] | None = None, y_units: Any = None) -> KANRegressor:
        """Train a KAN on X (n, d) and y (n,), find formulas, and keep the candidate table. With y (n, k), k >= 2
        targets: one KAN with k outputs and one formula and table per target (:mod:`kansci.api.multi`);
        ``target_name`` is then a list of k names, or one name ``t`` for ``t0 .. t{k-1}``.

        ``sample_weight`` (n,) weights the training loss of the network, the least-squares baselines, every loss
        of the table and the selection (weights that are all equal fit exactly as no weights). ``feature_names``
        name the formula's variables (default: X's string column names when valid as symbols, else x0..x{d-1});
        ``target_name`` names its output. ``X_units`` (one unit per column: a string such as ``"m/s^2"``, 1, or
        base exponents ``{"m": 1, "s": -2}``) and ``y_units`` declare units, as ``data.units`` does: the search then
        runs on dimensionless groups and the formula's units are checked (``units_`` holds the reduction and the
        check; ``symbolic_metrics_["units"]`` the check)."""
        for name in _FITTED:
            self.__dict__.pop(name, None)
        X, y = check_xy(self, X, y)
        several = y.ndim == 2  # y (n, k): one formula per target
        if several and (X_units is not None or y_units is not None):
            raise ValueError("X_units/y_units work with one target; fit one target at a time to declare units")
        weights = None if sample_weight is None else check_weights(sample_weight, len(y))
        if weights is not None and np.all(weights == weights[0]):
            weights = None
        if self.model_selection not in cand.SELECTIONS:
            raise ValueError(f"model_selection must be one of {list(cand.SELECTIONS)}, got {self.model_selection!r}")
        with workspace(self.out_dir) as out, threads(self.n_jobs):
            cfg = build_config(self.config, self._first_class(), seed_of(self.random_state), out,
                               list(self.get_params(deep=False)))
            ds = self._dataset(X, y, cfg, feature_names, target_name)
            if declare_units(cfg, ds, X_units, y_units) and weights is not None:
                raise ValueError("X_units/y_units cannot be combined with sample_weight yet")
            result = fit_run(cfg, dataset=ds) if weights is None else fit_weighted(cfg, ds, weights)
            plan = getattr(result, "units", None)
            if plan is not None:
                ds = plan.original
            sym = symbolify_run(result.run, cfg) if self.symbolify else None
            if several:
                outs = multi.gather(ds, sym, weights)
            doc = structure = None
            if sym is not None and not several:
                doc = rundir.read_json(result.run / "symbolic", "formula.json")
                structure = rundir.read_json(result.run / "symbolic", "structure.json")
            found = None if several else cand.gather(
                ds, sym.formula if sym else None, str(sym.metrics.get("found_by", "")) if sym else "", doc, weights)
        if several:
            self._fitted_targets(outs, sym is not None)
        else:
            self._candidates, self._noise_nmse = found, float((structure or {}).get("accept_nmse") or 0.0)
            self.selected_index_ = (cand.select(found, self.model_selection, self._noise_nmse) if sym is not None
                                    else None)
            self.equations_ = cand.table(found, self.selected_index_)
            self.formula_ = found[self.selected_index_].formula if self.selected_index_ is not None else None
            self.symbolic_metrics_ = sym.metrics if sym is not None else None
        self.model_, self.dataset_ = result.model, ds
        self._units = plan if weights is None else None
        self.units_ = None if plan is None else {**plan.record(), **({"check": sym.metrics.get("units")} if sym
                                                                      else {})}
        self.metrics_, self.history_ = result.metrics, result.history
        self.run_dir_ = Path(result.run) if self.out_dir is not None else None
        return self

    def _fitted_targets(self, outs: list[multi.Output], symbolified: bool) -> None:
        """The per-target attributes of a fit on several targets: lists with one entry per target."""
        self._candidates = [o.candidates for o in outs]
        self._noise_nmse = [o.noise_nmse for o in outs]
        self.selected_index_ = multi.select(outs, self.model_selection) if symbolified else None
        self.equations_ = [cand.table(o.candidates, self.selected_index_[j] if symbolified else None)
                           for j, o in enumerate(outs)]
        self.formula_ = multi.pick(self._candidates, self.selected_index_, None) if symbolified else None
        self.symbolic_metrics_ = [o.metrics for o in outs] if symbolified else None

    def _several(self) -> bool:
        """Fitted on several targets (``_candidates`` then holds one candidate list per target)."""
        return bool(self._candidates) and isinstance(self._candidates[0], list)

    def _first_class(self) -> dict[str, Any]:
        limit = self.time_limit_s
        half = limit / 2 if isinstance(limit, (int, float)) and not isinstance(limit, bool) else limit
        return {"model.width": self.width, "train.steps": self.steps, "train.grids": self.grids,
                "model.device": self.device, "train.time_limit_s": half, "symbolic.time_limit_s": half}

    def _dataset(self, X: np.ndarray, y: np.ndarray, cfg: Config, feature_names: Sequence[str] | None,
                 target_name: str) -> Dataset:
        def build(names: list[str] | None) -> Dataset:
            return dataset_from_arrays(X, y, input_names=names, target_name=target_name,
                                       test_frac=cfg.data.test_frac, split_seed=split_seed(cfg),
                                       normalize=cfg.data.normalize)

        if feature_names is not None:
            return build([str(n) for n in feature_names])
        columns = getattr(self, "feature_names_in_", None)
        if columns is None:
            return build(None)
        try:
            return build([str(n) for n in columns])
        except DataError as exc:
            ds = build(None)  # raises the data's own problem, if it has one besides its column names
            warnings.warn(f"the column names of X cannot all be formula variables ({exc.message}); the formulas "
                          f"use x0..x{X.shape[1] - 1} (pass feature_names= to name them)", UserWarning, stacklevel=3)
            return ds

    # ------------------------------------------------------------------------------------------- prediction
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")

    def predict(self, X: Any, index: Any = None) -> np.ndarray:
        """Predictions for X (n, d) -> (n,): of row ``index`` of ``equations_``, else of ``formula_``, else (without
        symbolify) of the trained network. Fitted on k targets: (n, k), ``index`` a list of one row per target."""
        self._check_fitted()
        X = check_x(self, X)
        if index is None and self.formula_ is None:
            red = self._units.reduction if self._units is not None else None
            with threads(self.n_jobs):
                if red is not None:  # the network was trained on the dimensionless groups
                    return predict(self.model_, self._units.train, red.group_values(X)) * red.prefactor_values(X)
                return predict(self.model_, self.dataset_, X)
        f = self._formula(index)
        return np.column_stack([g(X) for g in f]) if isinstance(f, list) else f(X)

    def _formula(self, index: Any) -> Formula | list[Formula]:
        self._check_fitted()
        if self._several():
            return multi.pick(self._candidates, self.selected_index_, index)
        if index is None:
            if self.formula_ is None:
                raise ValueError("fitted with symbolify=False, so no formula was selected; pass index=k for row k "
                                 "of equations_")
            return self.formula_
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int (a row of equations_), got {index!r}")
        if not -len(self._candidates) <= index < len(self._candidates):
            raise IndexError(f"index {index} is out of range: equations_ has {len(self._candidates)} rows")
        return self._candidates[int(index)].formula

    def index_of(self, model_selection: str) -> Any:
        """The row of ``equations_`` that a ``model_selection`` rule picks (to use another rule without refitting:
        ``reg.predict(X, index=reg.index_of("simplest"))``); several targets: a list, one row per target."""
        self._check_fitted()
        if self._several():
            return [cand.select(c, model_selection, n) for c, n in zip(self._candidates, self._noise_nmse)]
        return cand.select(self._candidates, model_selection, self._noise_nmse)

    def sympy(self, index: Any = None) -> Any:
        """The sympy expression of row ``index`` of ``equations_`` (default: ``formula_``); several targets: a list."""
        return _each(self._formula(index), lambda f: f.sympy())

    def latex(self, index: Any = None, precision: int | None = None) -> Any:
        """LaTeX of row ``index`` (default: ``formula_``), constants to ``precision`` significant digits (None: all);
        several targets: a list."""

        def one(f: Formula) -> str:
            expr = f.expr
            if precision is not None:
                expr = expr.xreplace({c: sympy.Float(c, precision) for c in expr.atoms(sympy.Float)})
            return sympy.latex(expr)

        return _each(self._formula(index), one)

    def latex_table(self, indices: Any = None, precision: int = 3) -> Any:
        """A booktabs LaTeX table of the rows ``indices`` of ``equations_`` (default: the Pareto rows); several
        targets: a list of tables, ``indices`` a list of row lists (one per target)."""
        self._check_fitted()
        if self._several():
            return multi.tables(self._candidates, indices, precision)
        found = self._candidates
        if indices is None:
            indices = [k for k, c in enumerate(found) if c.pareto]
        rows = [{"complexity": c.complexity, "train_loss": c.train_loss, "val_loss": c.val_loss} for c in found]
        return latex_table([c.formula for c in found], rows, [int(k) for k in indices], precision)

    def jax(self, index: Any = None) -> Any:
        """Row ``index`` (default: ``formula_``) as a jax function of X (n, d) -> (n,); ImportError without jax;
        several targets: a list of functions."""
        return _each(self._formula(index), jax_function)


def _each(f: Formula | list[Formula], fn: Callable[[Formula], Any]) -> Any:
    """``fn(f)``, or ``[fn(g) for g in f]`` for the list of a fit on several targets."""
    return [fn(g) for g in f] if isinstance(f, list) else fn(f)


#: The same estimator under the name scikit-learn users of symbolic regression look for.
KANSymbolicRegressor = KANRegressor
