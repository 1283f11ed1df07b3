"""``symbolify``: run directory -> closed-form formula -> ``RUN/symbolic/``.

Two routes propose candidates: the structure-first search with the trained network as surrogate
(:mod:`.discovery`), and the direct fit, edge by edge, of the pruned network (:mod:`.direct_fit`). The direct fit runs
unless the first route already verified a formula. Every candidate is finished and scored the same way
(:mod:`.candidates`); the best score wins, and the formula's errors are reported beside the network's.
A pure function of the run directory and its options: the same inputs give the same formula.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kansci.budget import deadline_after, expired
from kansci.config import Config
from kansci.core.model import KAN, resolve_device
from kansci.data import Dataset
from kansci.discover.candidates import EXACT_FACTOR, NUMERIC_FLOOR
from kansci.metrics import regression_metrics
from kansci.pipeline.common import (
    cpu_threads_for,
    load_model,
    load_run_data,
    predict,
    train_tensors,
    weighted_tensors,
)
from kansci.pipeline.direct_fit import direct_fit, unsnapped_pareto, use
from kansci.pipeline.discovery import describe, discover
from kansci.pipeline.selection import SMALL_TABLE, NoiseEstimate, choose, estimate_noise, with_unsnapped
from kansci.pipeline.symbolic_files import write_symbolic
from kansci.pipeline.targets import TargetsResult, symbolify_targets
from kansci.pipeline.units_bases import search_other_bases
from kansci.pipeline.units_step import RunUnits, load_units
from kansci.pipeline.units_weights import weighted_rows
from kansci.prune import PruneReport
from kansci.symbolic.exports import Formula, make_symbols
from kansci.symbolic.primitives import Primitive, build_library


@dataclass
class SymbolifyResult:
    formula: Formula
    metrics: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    prune: PruneReport | None = None


def symbolify_run(run: Path, cfg: Config, *,
                  log: Callable[[str], None] = lambda s: None) -> SymbolifyResult | TargetsResult:
    """Find the formula of a trained run (see the module doc); writes ``run/symbolic/``. Deterministic for a run.
    A run with several targets gets one formula per target (a :class:`TargetsResult`, layout in
    :mod:`kansci.rundir.targets`), each found by this same search on that target's values and the network restricted
    to that output; ``symbolic.time_limit_s`` bounds them all together (:mod:`.targets`).

    ``log`` receives progress lines, among them one per phase with its time, e.g.
    ``symbolify: structure search ... 4.2 s``, and a last ``symbolify: total ... 9.8 s``."""
    run = Path(run)
    library = build_library(cfg.symbolic.lib, [c.model_dump(exclude_none=True) for c in cfg.symbolic.custom])
    ds = load_run_data(run)
    device = resolve_device(cfg.model.device, ds.n_rows)
    with cpu_threads_for(ds.n_rows, device):
        if ds.n_targets > 1:
            return symbolify_targets(run, cfg, ds, device, library, log, _symbolify)
        units = load_units(run)  # declared units; with a reduction, ds is the reduced problem and Φ is searched
        return _symbolify(run / "symbolic", cfg, ds, lambda: load_model(run, device=device), device, library, log,
                          units)


DISCOVERY_SHARE = 0.5  # of symbolify's time limit, for the structure-first search
DISCOVERY_DEFAULT_S = 30.0  # its own limit when symbolify has none
MUCH_WORSE = 10.0  # a formula whose test MSE exceeds this multiple of the network's is flagged


class _Phases:
    """Phase lines with the time each took, on ``log``: ``symbolify: <phase> ... 4.2 s``; a long phase also says
    when it starts, with its time limit."""

    def __init__(self, log: Callable[[str], None], t0: float) -> None:
        self._log, self._t0, self._last = log, t0, t0

    def start(self, phase: str, deadline: float | None) -> None:
        left = "no time limit" if deadline is None else f"time limit {max(0.0, deadline - time.perf_counter()):.0f} s"
        self._log(f"symbolify: {phase} ({left})")

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self._log(f"symbolify: {phase} ... {now - self._last:.1f} s")
        self._last = now

    def total(self) -> None:
        self._log(f"symbolify: total ... {time.perf_counter() - self._t0:.1f} s")


def _symbolify(out: Path, cfg: Config, ds: Dataset, load: Callable[[], KAN], device: torch.device,
               library: dict[str, Primitive], log: Callable[[str], None],
               units: RunUnits | None = None) -> SymbolifyResult:
    """The search for one target: ``load()`` gives its trained network (one output), ``ds`` its data; writes
    ``out`` (``RUN/symbolic`` for a run with one target)."""
    t0 = time.perf_counter()
    phases = _Phases(log, t0)
    sym = cfg.symbolic
    deadline = deadline_after(sym.time_limit_s)
    model = load()
    network = copy.deepcopy(model)  # the trained network, unpruned: the surrogate and the reference for metrics
    data = train_tensors(ds, cfg.seed, model.dtype, device)
    rows = ds  # the rows every least-squares step fits: drawn by the units' row weights when there are any
    if units is not None and units.weights is not None:
        data = weighted_tensors(ds, cfg.seed, units.weights, model.dtype, device)
        rows = weighted_rows(ds, units.weights, cfg.seed)
        log("units: the search fits the rows as weighted for the noise of y/P (see units.json)")
    torch.manual_seed(cfg.seed)
    symbols = make_symbols(ds.input_names, ds.X)
    phases.done("loading the run")

    search_deadline = _discovery_deadline(deadline)
    phases.start("structure search", search_deadline)
    found = discover(network, data, rows, cfg, symbols, search_deadline, log)
    phases.done("structure search")
    candidates = list(found.candidates)
    accept = found.record.get("accept_nmse", 0.0)
    exact = any(c["nmse"] <= EXACT_FACTOR * NUMERIC_FLOOR for c in candidates)
    # other groups unless the first ones gave an exact law: a formula verified within the network's error can be a
    # mimic of the law that another basis shows (velocity addition as an affine law of 1/y in c/u and v/u)
    if units is not None and units.reduction is not None and not exact and not expired(deadline):
        other_deadline = _discovery_deadline(deadline)  # half of what is left; the edge-by-edge fit keeps the rest
        phases.start("structure search in other groups", other_deadline)
        more, searched = search_other_bases(network, data, ds, rows, units, cfg, symbols, other_deadline, accept, log)
        candidates += more
        found.verified = any(c["nmse"] <= accept for c in more) or found.verified
        found.record["other_groups"] = searched
        phases.done("structure search in other groups")
    fit = None
    if found.verified:
        log("structure: a verified formula was found; the edge-by-edge fit is skipped")
    elif candidates and expired(deadline):
        log("symbolic.time_limit_s reached: the edge-by-edge fit is skipped")
    else:
        phases.start("edge-by-edge fit", deadline)
        fit = direct_fit(model, data, rows, cfg, library, symbols, deadline, log)
        candidates += fit.candidates
        phases.done("edge-by-edge fit")
    val_nmse = found.record.get("network_val_nmse", 0.0)
    if rows is ds:
        noise = estimate_noise(ds.X_train, ds.y_train, val_nmse)
    else:  # weighted rows: the network's weighted error on the weighted rows' scale (their repeats are no replicates)
        noise = NoiseEstimate(float(np.sqrt(max(val_nmse, 0.0) * np.var(rows.y_train))), "network",
                              "weighted validation error of the trained network (an upper bound)")
    if ds.X_train.shape[0] < SMALL_TABLE:  # few rows: cross-validation also sees each law with its constants free
        candidates = with_unsnapped(candidates, ds.X_train, ds.y_train, symbols)
    selection = choose(candidates, rows.X_train, rows.y_train, symbols, noise, accept, seed=cfg.seed,
                       prefer=units.consistent if units is not None else None)
    best = selection.best
    log(f"formula found by: {best['how']}")
    log(f"selection: {selection.rule}")
    formula = best["formula"]

    metrics = _metrics(formula, network, ds)
    if units is not None:  # the formula in the original variables, scored on the original data, units checked
        formula, restored = units.finish(formula, lambda X: predict(network, ds, X))
        metrics.update(restored, units=units.record(formula))
    metrics["wall_s"] = time.perf_counter() - t0
    metrics["found_by"] = best["how"]
    metrics["selection"] = selection.to_json()
    metrics["decomposition"] = describe(best["tree"], ds.target_name) if "tree" in best else []
    metrics["stages"] = {label: Formula(e, list(ds.input_names), ds.target_name).rounded(6)
                         for label, e in best["stages"]}
    metrics["constants"] = list(formula.constants or [])  # each with its stderr; snapped ones with their exact value
    metrics["formula_with_uncertainties"] = formula.with_uncertainties()
    if metrics["formula_test_rmse"] > np.sqrt(MUCH_WORSE) * max(metrics["network_test_rmse"], 1e-300):
        metrics["warning"] = (f"the formula's test RMSE {metrics['formula_test_rmse']:.3g} is much worse than the "
                              f"network's {metrics['network_test_rmse']:.3g}")
        log(f"warning: {metrics['warning']}")

    def test_mse(f: Formula) -> float:
        pred = f(ds.X_test)
        return float(np.mean((pred - ds.y_test) ** 2)) if np.all(np.isfinite(pred)) else float("inf")

    pareto = [{"complexity": c["formula"].complexity(), "loss": test_mse(c["formula"]), "loss_kind": "test MSE",
               "text": c["formula"].rounded(4), "primitives": list(c.get("assignment", {}).get("primitives", [])),
               "found_by": c["how"], "snapped": True, "chosen": c is best} for c in candidates]
    if fit is not None:
        pareto += unsnapped_pareto(fit, model, ds, symbols, library, test_mse, deadline)
        use(fit, model, library, best if "assignment" in best else None)
    structure = {**found.record, "chosen": {"found_by": best["how"], "formula": formula.text}}
    if units is not None:
        structure["units"] = metrics["units"]
        pareto = units.restore_rows(pareto)  # in the original variables, like the formula
    phases.done("choosing and scoring")
    files = write_symbolic(out, formula, model, metrics, fit.choices if fit else [], fit.table if fit else [],
                           pareto, best["snaps"], fit.report if fit else None, sym.precision, structure)
    phases.done("writing files")
    phases.total()
    return SymbolifyResult(formula, metrics, files, fit.report if fit else None)


def _discovery_deadline(deadline: float | None) -> float:
    now = time.perf_counter()
    if deadline is None:
        return now + DISCOVERY_DEFAULT_S
    return now + DISCOVERY_SHARE * max(0.0, deadline - now)


def _metrics(formula: Formula, network: KAN, ds: Dataset) -> dict[str, Any]:
    """Formula against data and against the trained network, with the network's own errors beside them."""
    out: dict[str, Any] = {}
    for part, X, y in (("train", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
        m = regression_metrics(y, formula(X))
        out[f"formula_{part}_rmse"], out[f"formula_{part}_r2"] = m["rmse"], m["r2"]
        n = regression_metrics(y, predict(network, ds, X))
        out[f"network_{part}_rmse"], out[f"network_{part}_r2"] = n["rmse"], n["r2"]
    diff = formula(ds.X_test) - predict(network, ds, ds.X_test)
    out["formula_vs_model_rmse"] = float(np.sqrt(np.mean(diff**2)))
    out["formula_vs_model_max_abs"] = float(np.max(np.abs(diff)))
    out["complexity"] = formula.complexity()
    return out
