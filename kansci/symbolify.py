"""``symbolify``: run directory -> pruned, all-symbolic KAN -> snapped closed-form formula -> ``RUN/symbolic/``.

A pure function of the run directory and its options: the same inputs give the same formula.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import sympy
import torch

from . import rundir
from .config import Config
from .core.model import resolve_device
from .errors import FitError
from .pipeline import cpu_threads_for, load_run_data, predict, regression_metrics, train_tensors
from .prune import PruneReport, apply_masks, attribution
from .symbolic.exports import Formula, make_symbols
from .symbolic.formula import assemble, final_simplify, polish, snap_constants, tidy
from .symbolic.primitives import build_library
from .symbolic.select import finetune_symbolic, symbolize_edges
from .train import train_stage


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
    model = rundir.load_model(run, device=device)
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
        finetune_steps=sym.finetune_steps, log=log,
    )
    numeric = model.numeric_edges()
    if numeric:
        raise FitError(f"edges {numeric} are still numeric; refusing to emit a formula",
                       "check the primitive library (--lib) and r2_min")
    finetune_symbolic(model, data.x_train, data.y_train, 200)

    symbols = make_symbols(ds.input_names, ds.X)
    raw = assemble(model, symbols, ds.x_norm.shift, ds.x_norm.scale, float(ds.y_norm.shift[0]), float(ds.y_norm.scale[0]))
    X_fit, y_fit = ds.X_train, ds.y_train
    stages = [("assembled", raw)]
    expr = tidy(raw, sym.simplify_timeout_s)
    expr, _ = polish(expr, symbols, X_fit, y_fit)
    stages.append(("polished", expr))
    snaps: list[dict] = []
    if sym.snap:
        expr, _, snaps = snap_constants(expr, symbols, X_fit, y_fit, tol=sym.snap_tol, timeout_s=sym.simplify_timeout_s)
        expr = final_simplify(expr, sym.simplify_timeout_s)
        expr, _ = polish(expr, symbols, X_fit, y_fit)
        stages.append(("snapped", expr))
    formula = Formula(expr, list(ds.input_names), ds.target_name)

    metrics = _metrics(formula, model, ds)
    metrics["wall_s"] = time.perf_counter() - t0
    # Pareto view: the whole-network assignments tried end to end (validation NMSE against total primitive
    # complexity); the chosen one is the formula above.
    pareto = [{"complexity": f["complexity"], "loss": f["nmse"], "loss_kind": "validation NMSE",
               "text": ", ".join(f["assign"]), "chosen": f["chosen"]} for f in front]
    metrics["stages"] = {label: Formula(e, list(ds.input_names), ds.target_name).rounded(6) for label, e in stages}
    files = write_symbolic(run, formula, model, metrics, choices, table, pareto, snaps, report, sym.precision)
    return SymbolifyResult(formula, metrics, files, report)


def _metrics(formula: Formula, model, ds) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part, X, y in (("train", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
        pred = formula(X)
        m = regression_metrics(y, pred) if np.all(np.isfinite(pred)) else {"rmse": float("inf"), "r2": float("-inf")}
        out[f"formula_{part}_rmse"], out[f"formula_{part}_r2"] = m["rmse"], m["r2"]
    diff = formula(ds.X_test) - predict(model, ds, ds.X_test)
    out["formula_vs_model_rmse"] = float(np.sqrt(np.mean(diff**2)))
    out["formula_vs_model_max_abs"] = float(np.max(np.abs(diff)))
    out["complexity"] = formula.complexity()
    return out


def _edge_label(name: str, params: list[float]) -> str:
    """``c*f(a*x+b)+d`` with 3 significant digits, e.g. ``2.0*sin(3.14*x + 0.5) - 1.0``."""
    from .symbolic.primitives import X, default_library

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
