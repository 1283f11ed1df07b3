"""``symbolify``: run directory -> pruned, all-symbolic KAN -> snapped closed-form formula -> ``RUN/symbolic/``.

A pure function of the run directory and its options: the same inputs give the same formula.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import sympy
import torch

from kansci import rundir
from kansci.config import Config
from kansci.core.model import resolve_device
from kansci.errors import FitError
from kansci.budget import deadline_after, expired
from kansci.metrics import regression_metrics
from kansci.pipeline.common import cpu_threads_for, load_model, load_run_data, predict, train_tensors
from kansci.prune import PruneReport, apply_masks, attribution
from kansci.symbolic.exports import Formula, make_symbols
from kansci.symbolic.formula import assemble, final_simplify, polish, snap_constants, tidy
from kansci.symbolic.primitives import build_library
from kansci.symbolic.select import finetune_symbolic, symbolize_edges
from kansci.train.loop import train_stage


@dataclass
class SymbolifyResult:
    formula: Formula
    metrics: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    prune: PruneReport | None = None


def symbolify_run(run: Path, cfg: Config, *, log: Callable[[str], None] = lambda s: None) -> SymbolifyResult:
    """Prune, choose primitives, assemble and snap; writes ``run/symbolic/``. Deterministic for a given run."""
    run = Path(run)
    library = build_library(cfg.symbolic.lib, [c.model_dump(exclude_none=True) for c in cfg.symbolic.custom])
    ds = load_run_data(run)
    device = resolve_device(cfg.model.device, ds.n_rows)
    with cpu_threads_for(ds.n_rows, device):
        return _symbolify(run, cfg, ds, device, library, log)


def _symbolify(run: Path, cfg: Config, ds, device, library, log) -> SymbolifyResult:
    t0 = time.perf_counter()
    sym = cfg.symbolic
    deadline = deadline_after(sym.time_limit_s)
    model = load_model(run, device=device)
    data = train_tensors(ds, cfg.seed, model.dtype, device)
    torch.manual_seed(cfg.seed)

    attr = attribution(model, data.x_train)
    report = None
    if cfg.prune.enabled:
        report = apply_masks(model, attr, edge_th=cfg.prune.edge_th, node_th=cfg.prune.node_th,
                             input_th=cfg.prune.input_th, names=ds.input_names)
        log(report.summary())
        if (report.removed_edges or report.removed_nodes or report.removed_inputs) and cfg.prune.refit_steps:
            gen = torch.Generator().manual_seed(cfg.seed)
            train_stage(model, data, cfg.train, steps=cfg.prune.refit_steps, phase="prune-refit", generator=gen,
                        update_grid=False)
        attr = attribution(model, data.x_train)

    choices, table, front = symbolize_edges(
        model, data.x_train, data.y_train, data.x_val, data.y_val, library, attr.edges,
        r2_min=sym.r2_min, complexity_weight=sym.complexity_weight, top_k=sym.top_k,
        finetune_steps=sym.finetune_steps, log=log, deadline=deadline,
    )
    numeric = model.numeric_edges()
    if numeric:
        raise FitError(f"edges {numeric} are still numeric; refusing to emit a formula",
                       "check the primitive library (--lib) and r2_min")

    # Formula-level choice: the best few whole-network assignments (within 100x of the best validation NMSE) each
    # become a snapped formula; the winner has
    # the best score log10(NMSE on the training rows + 1e-15) + FORMULA_NODE_WEIGHT * (expression nodes). A mimic
    # (tanh's tail standing in for exp) can beat the true primitive on a short fine-tune, but not once snapping
    # makes the true one exact.
    symbols = make_symbols(ds.input_names, ds.X)
    ranked = sorted(front, key=lambda f: (f["score"], f["complexity"]))
    best_nmse = min(f["nmse"] for f in front)
    close = [f for f in ranked if not f["chosen"] and f["nmse"] <= max(100 * best_nmse, 1e-12)]
    shortlist = [f for f in ranked if f["chosen"]] + close[: FORMULA_CANDIDATES - 1]
    # the simplest assignment always gets its chance: snapping can make it exact where the others stay inexact
    simplest = min(front, key=lambda f: (f["complexity"], f["score"]))
    if all(f is not simplest for f in shortlist):
        shortlist.append(simplest)
    candidates = []
    for f in shortlist:
        if candidates and expired(deadline):
            log("symbolic.time_limit_s reached: no further candidate formulas")
            break
        _apply_assignment(model, f, library)
        finetune_symbolic(model, data.x_train, data.y_train, 200)
        cand = _formula_of(model, ds, symbols, sym, deadline)
        cand.update(assignment=f)
        candidates.append(cand)
        log(f"candidate {list(f['primitives'])}: {cand['formula'].rounded(4)} (train NMSE {cand['nmse']:.2e})")
    best = min(candidates, key=lambda c: c["score"])
    _apply_assignment(model, best["assignment"], library)
    for c in choices:  # the edge table describes the winning assignment
        c.params = [float(v) for v in model.layers[c.layer].sym_params[c.i, c.j].detach()]
        c.primitive = model.layers[c.layer].symbolic[(c.i, c.j)].name
    formula = best["formula"]

    metrics = _metrics(formula, model, ds)
    metrics["wall_s"] = time.perf_counter() - t0
    metrics["stages"] = {label: Formula(e, list(ds.input_names), ds.target_name).rounded(6)
                         for label, e in best["stages"]}
    # Pareto view: expression size against test-set MSE (original units) for the snapped candidates, plus the other
    # assignments as assembled (unsnapped) formulas, so the figure shows what the choice was made against.
    def test_mse(f: Formula) -> float:
        pred = f(ds.X_test)
        return float(np.mean((pred - ds.y_test) ** 2)) if np.all(np.isfinite(pred)) else float("inf")

    pareto = [{"complexity": c["formula"].complexity(), "loss": test_mse(c["formula"]), "loss_kind": "test MSE",
               "text": c["formula"].rounded(4), "primitives": list(c["assignment"]["primitives"]), "snapped": True,
               "chosen": c is best} for c in candidates]
    snapped = {tuple(c["assignment"]["primitives"]) for c in candidates}
    for f in front:
        if tuple(f["primitives"]) in snapped or expired(deadline):
            continue
        _apply_assignment(model, f, library)
        raw = Formula(assemble(model, symbols, ds.x_norm.shift, ds.x_norm.scale, float(ds.y_norm.shift[0]),
                               float(ds.y_norm.scale[0])), list(ds.input_names), ds.target_name)
        pareto.append({"complexity": raw.complexity(), "loss": test_mse(raw), "loss_kind": "test MSE",
                       "text": ", ".join(f["primitives"]), "primitives": list(f["primitives"]), "snapped": False,
                       "chosen": False})
    _apply_assignment(model, best["assignment"], library)
    files = write_symbolic(run, formula, model, metrics, choices, table, pareto, best["snaps"], report,
                           sym.precision)
    return SymbolifyResult(formula, metrics, files, report)


FORMULA_CANDIDATES = 3
FORMULA_NODE_WEIGHT = 0.05


def _apply_assignment(model, entry: dict[str, Any], library) -> None:
    """Set the primitives of one whole-network assignment and its fine-tuned constants."""
    for (l, i, j), name in zip(entry["edges"], entry["primitives"]):
        model.layers[l].set_symbolic(i, j, library[name], [0.0] * 4)
    model.load_state(entry["state"])


def _formula_of(model, ds, symbols, sym, deadline: float | None = None) -> dict[str, Any]:
    """Assemble, tidy, polish and snap the formula of the (all-symbolic) model; score it on the training rows."""
    raw = assemble(model, symbols, ds.x_norm.shift, ds.x_norm.scale, float(ds.y_norm.shift[0]), float(ds.y_norm.scale[0]))
    X_fit, y_fit = ds.X_train, ds.y_train
    stages = [("assembled", raw)]
    expr = tidy(raw, sym.simplify_timeout_s)
    expr, nmse = polish(expr, symbols, X_fit, y_fit)
    stages.append(("polished", expr))
    snaps: list[dict] = []
    if sym.snap:
        expr, _, snaps = snap_constants(expr, symbols, X_fit, y_fit, tol=sym.snap_tol, timeout_s=sym.simplify_timeout_s,
                                        deadline=deadline)
        expr = final_simplify(expr, sym.simplify_timeout_s)
        expr, nmse = polish(expr, symbols, X_fit, y_fit)
        stages.append(("snapped", expr))
    formula = Formula(expr, list(ds.input_names), ds.target_name)
    score = math.log10(nmse + 1e-15) + FORMULA_NODE_WEIGHT * formula.complexity() if math.isfinite(nmse) else math.inf
    return {"formula": formula, "nmse": nmse, "score": score, "stages": stages, "snaps": snaps}


def _metrics(formula: Formula, model, ds) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part, X, y in (("train", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
        pred = formula(X)
        m = regression_metrics(y, pred)
        out[f"formula_{part}_rmse"], out[f"formula_{part}_r2"] = m["rmse"], m["r2"]
    diff = formula(ds.X_test) - predict(model, ds, ds.X_test)
    out["formula_vs_model_rmse"] = float(np.sqrt(np.mean(diff**2)))
    out["formula_vs_model_max_abs"] = float(np.max(np.abs(diff)))
    out["complexity"] = formula.complexity()
    return out


def _edge_label(name: str, params: list[float]) -> str:
    """``c*f(a*x+b)+d`` with 3 significant digits, e.g. ``2.0*sin(3.14*x + 0.5) - 1.0``."""
    from kansci.symbolic.primitives import X, default_library

    a, b, c, d = (sympy.Float(v, 3) for v in params)
    prim = default_library().get(name)
    inner = a * X + b
    body = prim.sympy(inner) if prim is not None else sympy.Function(name)(inner)
    return str(c * body + d)


def write_symbolic(run: Path, formula: Formula, model, metrics, choices, table, pareto, snaps, report,
                   precision: int) -> list[Path]:
    out = run / "symbolic"
    edges = [{"layer": c.layer, "i": c.i, "j": c.j, "primitive": c.primitive, "params": c.params,
              "r2": c.r2_final if c.r2_final is not None else c.r2, "r2_isolated": c.r2,
              "attribution": c.attribution, "score": c.score,
              "label": _edge_label(c.primitive, c.params)}
             for c in choices]
    doc = {**formula.to_json(), "display": formula.rounded(precision), "metrics": metrics, "edges": edges,
           "pareto": pareto, "snaps": snaps, "prune": report.to_dict() if report else None}
    files = [
        rundir.write_text(out / "formula.txt", f"{formula.target} = {formula.text}\n"),
        rundir.write_text(out / "formula.tex", formula.latex() + "\n"),
        rundir.write_json(out / "formula.json", doc),
        rundir.write_text(out / "formula.py", formula.python_module()),
        rundir.write_json(out / "edges.json", table),
        rundir.write_json(out / "metrics.json", metrics),
    ]
    rundir.save_model(out, model)
    return files + [out / "model.json", out / "model.pt"]
