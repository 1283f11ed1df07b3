"""Declared units in the pipeline: resolve them before anything is written, train on the Buckingham-reduced problem,
and turn the formula found there back into one in the original variables, checked and scored on the original data.

``fit`` calls :func:`plan_units` (None without ``data.units``/``data.units_file``): with a :class:`~kansci.units.
Reduction` the network is trained on the dimensionless groups (inputs ``pi1, ...``, target y / prefactor); the run
directory's ``data.npz``/``dataset.json`` then hold that reduced problem, and ``units.json`` (:func:`write_units`)
holds the declared units, the reduction and the original dataset's metadata, with its values in
``units_data.npz``. ``symbolify`` reads them back (:func:`load_units`), searches Φ on the reduced data,
checks every candidate's units (:meth:`RunUnits.consistent`) and restores the chosen Φ (:meth:`RunUnits.finish`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy

from kansci import rundir
from kansci.config import Config, Origin
from kansci.data import Dataset
from kansci.data.normalize import fit_normalization, target_policy
from kansci.errors import DataError, KansciError, RunDirError
from kansci.expr.text import parse_formula
from kansci.metrics import regression_metrics
from kansci.symbolic.exports import Formula, make_symbols
from kansci.units import (
    Basis,
    DeclaredUnits,
    Reduction,
    Unbalanced,
    UnitsCheck,
    UnitSpec,
    check_units,
    read_units_csv,
    reduce,
    resolve_units,
)
from kansci.units.noise_model import NoiseModel

__all__ = ["UnitsPlan", "RunUnits", "declared_units", "plan_units", "reduced_dataset", "write_units", "load_units",
           "UNITS_FILE", "UNITS_DATA"]

UNITS_FILE = "units.json"
UNITS_DATA = "units_data.npz"


@dataclass
class UnitsPlan:
    """What fit trains on: ``train`` is the reduced dataset when ``reduction`` is set, else ``original``."""

    declared: DeclaredUnits
    reduction: Reduction | None
    message: str            # "units: y = P · Φ(...)" or why there is no reduction
    original: Dataset
    train: Dataset
    noise: NoiseModel | None = None   # how the noise of y / P depends on P (after the first training)
    weights: np.ndarray | None = None  # (n_rows,) row weights for the search, when the noise calls for them

    def record(self) -> dict[str, Any]:
        red = self.reduction
        doc: dict[str, Any] = {"format": "kansci-units", "version": 1, "declared": declared_to_json(self.declared),
                               "message": self.message}
        doc["reduction"] = red.to_dict() if red is not None else {"reduced": False, "message": self.message}
        if red is not None:
            doc["original_dataset"] = self.original.to_json()
        if self.noise is not None:
            doc["noise_model"] = self.noise.to_dict()
        return doc


def units_file_path(cfg: Config) -> Path | None:
    """``data.units_file``, relative to the config file's folder when the file set it."""
    value = cfg.data.units_file
    if value is None:
        return None
    path = Path(value).expanduser()
    source = cfg._source
    if path.is_absolute() or source is None or source.path is None or \
            source.origin("data.units_file") is not Origin.FILE:
        return path
    return source.path.parent / path


def declared_units(cfg: Config, ds: Dataset) -> DeclaredUnits | None:
    """The units declared for ``ds``'s columns (None: none declared); DataError/ConfigError on bad input."""
    if cfg.data.units is None and cfg.data.units_file is None:
        return None
    path = units_file_path(cfg)
    if path is not None and not path.is_file():
        raise DataError(f"units file {path} not found", "check data.units_file (or --units)", path=str(path))
    table = read_units_csv(path) if path is not None else None
    return resolve_units(ds.input_names, ds.target_name, file=table, inline=cfg.data.units, inline_key="data.units")


def plan_units(cfg: Config, ds: Dataset, log: Callable[[str], None]) -> UnitsPlan | None:
    """Resolve the declared units and, where they balance, the reduced problem (logs one ``units:`` line)."""
    declared = declared_units(cfg, ds)
    if declared is None:
        return None
    red = reduce(declared.input_dims(), declared.target.dim)
    target = ds.target_name
    if isinstance(red, Unbalanced):
        plan = UnitsPlan(declared, None, red.message, ds, ds)
    elif red.n_groups == 0:
        plan = UnitsPlan(declared, None, f"units: {red.describe(target)}: no dimensionless group is left; the "
                         "search runs on the original inputs", ds, ds)
    elif (why := red.applicable(ds.X, ds.y)) is not None:
        plan = UnitsPlan(declared, None, f"{why}; the search runs without the reduction", ds, ds)
    else:
        plan = UnitsPlan(declared, red, f"units: {red.describe(target)}", ds, reduced_dataset(ds, red))
    log(plan.message)
    return plan


def reduced_dataset(ds: Dataset, red: Reduction) -> Dataset:
    """The reduced problem: inputs = the groups (``red.group_names``), target = y / prefactor, with ``ds``'s split
    and normalization policy (statistics from the training rows)."""
    X, y = red.group_values(ds.X), red.target_values(ds.X, ds.y)
    tr = ds.train_idx
    return Dataset(X, y, list(red.group_names), ds.target_name, ds.train_idx.copy(), ds.test_idx.copy(),
                   fit_normalization(X[tr], ds.normalize), fit_normalization(y[tr], target_policy(ds.normalize)),
                   ds.source, ds.sha256, ds.split_seed, ds.normalize)


def write_units(run: Path, plan: UnitsPlan | None, parent: Path | None = None) -> None:
    """``units.json`` (and ``units_data.npz``, the original values, when the run holds the reduced problem); a
    resumed run (``parent``) copies its parent's."""
    if plan is None:
        if parent is not None and (parent / UNITS_FILE).is_file():
            rundir.write_json(run / UNITS_FILE, rundir.read_json(parent, UNITS_FILE))
            if (parent / UNITS_DATA).is_file():
                arrays = rundir.load_arrays(parent / UNITS_DATA)
                rundir.save_arrays(run / UNITS_DATA, **{k: arrays[k] for k in ("X", "y", "w") if k in arrays})
        return
    rundir.write_json(run / UNITS_FILE, plan.record())
    if plan.reduction is not None:
        extra = {"w": plan.weights} if plan.weights is not None else {}
        rundir.save_arrays(run / UNITS_DATA, X=plan.original.X, y=plan.original.y, **extra)


# ------------------------------------------------------------------------------------------------ symbolify side
@dataclass
class RunUnits:
    """A run's declared units; with ``reduction`` and ``original`` when its network was trained on the groups."""

    declared: DeclaredUnits
    reduction: Reduction | None
    original: Dataset | None
    weights: np.ndarray | None = None  # (n_rows,) the rows' weights (units_weights), when the noise called for them

    def check(self, formula: Formula) -> UnitsCheck:
        """The units check of a candidate (Φ is checked restored, in the original variables)."""
        expr = self.reduction.restore(formula.expr) if self.reduction is not None else formula.expr
        return check_units(expr, self.declared.inputs, self.declared.target)

    def consistent(self, candidate: dict[str, Any]) -> bool:
        return self.check(candidate["formula"]).consistent

    def finish(self, formula: Formula, network_predict: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[Formula, dict[str, Any]]:
        """The formula in the original variables and its metrics on the original data (``network_predict`` maps
        reduced inputs to the reduced target); without a reduction, the formula is returned unchanged."""
        red, ds = self.reduction, self.original
        if red is None or ds is None:
            return formula, {}
        symbols = {s.name: s for s in make_symbols(ds.input_names, ds.X)}
        restored = red.restore(formula.expr)
        restored = restored.xreplace({s: symbols[s.name] for s in restored.free_symbols
                                      if isinstance(s, sympy.Symbol) and s.name in symbols})
        out = Formula(restored, list(ds.input_names), ds.target_name, formula.constants)

        def net(X: np.ndarray) -> np.ndarray:
            return network_predict(red.group_values(X)) * red.prefactor_values(X)

        metrics: dict[str, Any] = {}
        for part, X, y in (("train", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
            m, n = regression_metrics(y, out(X)), regression_metrics(y, net(X))
            metrics[f"formula_{part}_rmse"], metrics[f"formula_{part}_r2"] = m["rmse"], m["r2"]
            metrics[f"network_{part}_rmse"], metrics[f"network_{part}_r2"] = n["rmse"], n["r2"]
        diff = out(ds.X_test) - net(ds.X_test)
        metrics["formula_vs_model_rmse"] = float(np.sqrt(np.mean(diff**2)))
        metrics["formula_vs_model_max_abs"] = float(np.max(np.abs(diff)))
        metrics["complexity"] = out.complexity()
        metrics["phi"] = formula.text
        return out, metrics

    def restore_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Pareto rows of Φ (``text``, ``loss`` as test MSE) rewritten in the original variables and scored on the
        original test rows; a row whose text does not parse back keeps its Φ text (marked ``"reduced": True``)."""
        red, ds = self.reduction, self.original
        if red is None or ds is None:
            return rows
        out = []
        for row in rows:
            try:
                phi = parse_formula(str(row.get("text", "")), list(red.group_names))
            except KansciError:
                out.append({**row, "reduced": True})
                continue
            f = Formula(red.restore(phi), list(ds.input_names), ds.target_name)
            with np.errstate(all="ignore"):
                pred = f(ds.X_test)
            loss = float(np.mean((pred - ds.y_test) ** 2)) if np.all(np.isfinite(pred)) else float("inf")
            out.append({**row, "text": f.rounded(4), "loss": loss, "complexity": f.complexity()})
        return out

    def record(self, formula: Formula) -> dict[str, Any]:
        """``formula.json``/``metrics.json``'s ``units`` entry: the check and the reduction."""
        check = check_units(formula.expr, self.declared.inputs, self.declared.target)
        red = self.reduction
        return {**check.to_dict(), "reduction": red.to_dict() if red is not None else None,
                "reduced_form": red.describe(self.declared.target_name) if red is not None else None}


def load_units(run: Path) -> RunUnits | None:
    """The units of a run written by :func:`write_units` (None: the run declared none)."""
    if not (run / UNITS_FILE).is_file():
        return None
    doc = rundir.read_json(run, UNITS_FILE)
    try:
        declared = declared_from_json(doc["declared"])
        if not doc["reduction"].get("reduced"):
            return RunUnits(declared, None, None)
        red = reduce(declared.input_dims(), declared.target.dim)
        arrays = rundir.load_arrays(run / UNITS_DATA)
        original = Dataset.from_json(doc["original_dataset"], arrays["X"], arrays["y"])
        weights = np.asarray(arrays["w"], dtype=np.float64) if "w" in arrays else None
    except (KeyError, TypeError, ValueError, AttributeError, DataError) as exc:
        raise RunDirError(f"{run / UNITS_FILE}: damaged ({type(exc).__name__}: {exc})", "re-run `kansci fit`") from None
    if not isinstance(red, Reduction):
        raise RunDirError(f"{run / UNITS_FILE}: the recorded reduction no longer applies", "re-run `kansci fit`")
    if weights is not None and weights.shape != (original.n_rows,):
        raise RunDirError(f"{run / UNITS_DATA}: damaged (row weights of shape {weights.shape})", "re-run `kansci fit`")
    return RunUnits(declared, red, original, weights)


def _spec_json(spec: UnitSpec) -> dict[str, Any]:
    return {"text": spec.text, "description": spec.description, "dim": spec.dim.format(ascii=True),
            "exponents": {k: str(v) for k, v in spec.dim.as_dict().items()}}


def declared_to_json(declared: DeclaredUnits) -> dict[str, Any]:
    return {"basis": list(declared.basis.names), "target_name": declared.target_name,
            "inputs": {n: _spec_json(s) for n, s in declared.inputs.items()}, "target": _spec_json(declared.target)}


def declared_from_json(doc: dict[str, Any]) -> DeclaredUnits:
    from fractions import Fraction

    basis = Basis.named(doc["basis"])

    def spec(d: dict[str, Any]) -> UnitSpec:
        return UnitSpec(basis.dim({k: Fraction(v) for k, v in d["exponents"].items()}), d.get("text"),
                        d.get("description", ""))

    return DeclaredUnits(basis, {n: spec(s) for n, s in doc["inputs"].items()}, spec(doc["target"]),
                         doc.get("target_name", ""))


def units_csv_text(declared: DeclaredUnits) -> str:
    """The declared units as a units CSV (``Variable,Units,<base dimensions>``), e.g. for ``data.units_file``."""
    names = declared.basis.names
    rows = [*declared.inputs.items(), (declared.target_name, declared.target)]
    lines = [",".join(["Variable", "Units", *names])]
    for name, spec in rows:
        exps = spec.dim.as_dict()
        lines.append(",".join([name, (spec.description or spec.text or "").replace(",", " "),
                               *(str(exps.get(b, 0)) for b in names)]))
    return "\n".join(lines) + "\n"
