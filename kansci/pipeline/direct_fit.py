"""The direct fit: prune the network, fit a primitive to every surviving edge, and turn the best few whole-network
assignments into snapped candidate formulas (the KAN's own route to a formula, edge by edge).

A mimic (tanh's tail standing in for exp) can beat the true primitive on a short fine-tune, but not once snapping
makes the true one exact, so several assignments are carried to the formula level: the best few by validation
score within 100x of the best NMSE, and always the simplest one.

On large data the whole route (attribution, the prune re-fit, the edge fits and their fine-tuning) works on seeded
subsamples of at most :data:`SYMBOLIC_ROWS` fit and validation rows (:func:`symbolic_rows`), so its cost does not
grow with rows; the finished candidates are scored on every training row (:mod:`.candidates`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch

from kansci.budget import expired, with_grace
from kansci.config import Config
from kansci.core.model import KAN
from kansci.data import Dataset
from kansci.errors import FitError
from kansci.pipeline.candidates import finish
from kansci.prune import Attribution, PruneReport, apply_masks, attribution
from kansci.symbolic.exports import Formula
from kansci.symbolic.formula import assemble
from kansci.symbolic.primitives import Primitive
from kansci.symbolic.select import finetune_symbolic, symbolize_edges
from kansci.train.loop import TrainData, mse, train_stage
from kansci.train.rows import subsampled

__all__ = ["DirectFit", "FORMULA_CANDIDATES", "apply_assignment", "direct_fit", "raw_formula"]

FORMULA_CANDIDATES = 3
Log = Callable[[str], None]


@dataclass
class DirectFit:
    """The pruned, symbolified ``model`` (left on the best assignment), its candidates (finished formulas, each with
    its ``assignment``), the per-edge choices and fit table, every assignment tried (``front``) and the prune
    report."""

    candidates: list[dict[str, Any]]
    choices: list[Any]
    table: list[dict[str, Any]]
    front: list[dict[str, Any]]
    report: PruneReport | None = None
    best: dict[str, Any] | None = field(default=None)


#: The direct fit reads at most this many fit rows (and as many validation rows): a seeded subsample above that.
SYMBOLIC_ROWS = 20_000


def symbolic_rows(data: TrainData, seed: int) -> TrainData:
    """``data`` with at most :data:`SYMBOLIC_ROWS` seeded fit and validation rows (``data`` itself when small)."""
    return subsampled(data, SYMBOLIC_ROWS, seed + 21, seed + 22)


def prune(model: KAN, data: TrainData, cfg: Config, names: Sequence[str], log: Log,
          deadline: float | None = None) -> tuple[PruneReport | None, Attribution]:
    """Mask weak edges, nodes and inputs (when enabled), re-fit what remains (stopping at ``deadline``), and score
    the pruned model again. The report records the validation MSE (normalized units) before pruning and after the
    re-fit."""
    attr = attribution(model, data.x_train)
    if not cfg.prune.enabled:
        return None, attr
    with torch.no_grad():
        before = float(mse(model(data.x_val), data.y_val))
    report = apply_masks(model, attr, edge_th=cfg.prune.edge_th, node_th=cfg.prune.node_th,
                         input_th=cfg.prune.input_th, names=names)
    log(report.summary())
    if (report.removed_edges or report.removed_nodes or report.removed_inputs) and cfg.prune.refit_steps:
        gen = torch.Generator().manual_seed(cfg.seed)
        train_stage(model, data, cfg.train, steps=cfg.prune.refit_steps, phase="prune-refit", generator=gen,
                    update_grid=False, deadline=deadline)
    with torch.no_grad():
        report.loss_before, report.loss_after = before, float(mse(model(data.x_val), data.y_val))
    return report, attribution(model, data.x_train)


def _network_nmse(model: KAN, data: TrainData) -> float:
    """The trained network's validation NMSE: an upper bound of the noise's share of the validation error."""
    with torch.no_grad():
        err = float(torch.mean((model(data.x_val) - data.y_val) ** 2))
    return err / max(float(torch.var(data.y_val, unbiased=False)), 1e-300)


def apply_assignment(model: KAN, entry: dict[str, Any], library: dict[str, Primitive]) -> None:
    """Set the primitives of one whole-network assignment and its fine-tuned constants."""
    for (l, i, j), name in zip(entry["edges"], entry["primitives"]):
        model.layers[l].set_symbolic(i, j, library[name], [0.0] * 4)
    model.load_state(entry["state"])


def raw_formula(model: KAN, ds: Dataset, symbols: list[sympy.Symbol]) -> sympy.Expr:
    """The all-symbolic model's formula in original units, before any tidying."""
    return assemble(model, symbols, ds.x_norm.shift, ds.x_norm.scale, float(ds.y_norm.shift[0]),
                    float(ds.y_norm.scale[0]))


def direct_fit(model: KAN, data: TrainData, ds: Dataset, cfg: Config, library: dict[str, Primitive],
               symbols: list[sympy.Symbol], deadline: float | None, log: Log) -> DirectFit:
    """Prune, symbolize every edge, and finish the shortlisted assignments into candidates (see module doc)."""
    sym = cfg.symbolic
    data = symbolic_rows(data, cfg.seed)
    noise_nmse = _network_nmse(model, data)
    report, attr = prune(model, data, cfg, ds.input_names, log, deadline)
    choices, table, front = symbolize_edges(
        model, data.x_train, data.y_train, data.x_val, data.y_val, library, attr.edges,
        r2_min=sym.r2_min, complexity_weight=sym.complexity_weight, top_k=sym.top_k,
        finetune_steps=sym.finetune_steps, log=log, deadline=deadline, noise_nmse=noise_nmse,
    )
    numeric = model.numeric_edges()
    if numeric:
        raise FitError(f"edges {numeric} are still numeric; refusing to emit a formula",
                       "check the primitive library (--lib) and r2_min")
    ranked = sorted(front, key=lambda f: (f["score"], f["complexity"]))
    best_nmse = min(f["nmse"] for f in front)
    close = [f for f in ranked if not f["chosen"] and f["nmse"] <= max(100 * best_nmse, 1e-12)]
    shortlist = [f for f in ranked if f["chosen"]] + close[: FORMULA_CANDIDATES - 1]
    simplest = min(front, key=lambda f: (f["complexity"], f["score"]))
    if all(f is not simplest for f in shortlist):
        shortlist.append(simplest)
    candidates = []
    for f in shortlist:
        if candidates and expired(deadline):
            log("symbolic.time_limit_s reached: no further candidate formulas")
            break
        apply_assignment(model, f, library)
        finetune_symbolic(model, data.x_train, data.y_train, sym.finetune_steps, with_grace(deadline))
        cand = finish(raw_formula(model, ds, symbols), ds, symbols, cfg, deadline)
        cand.update(assignment=f, how="direct fit: " + ", ".join(f["primitives"]))
        candidates.append(cand)
        log(f"candidate {list(f['primitives'])}: {cand['formula'].rounded(4)} (train NMSE {cand['nmse']:.2e})")
    fit = DirectFit(candidates, choices, table, front, report)
    fit.best = min(candidates, key=lambda c: c["score"])
    use(fit, model, library)
    return fit


def use(fit: DirectFit, model: KAN, library: dict[str, Primitive], entry: dict[str, Any] | None = None) -> None:
    """Leave ``model`` on ``entry`` (default: the best assignment) and make the edge table describe it."""
    apply_assignment(model, (entry or fit.best)["assignment"], library)
    for c in fit.choices:
        c.params = [float(v) for v in model.layers[c.layer].sym_params[c.i, c.j].detach()]
        c.primitive = model.layers[c.layer].symbolic[(c.i, c.j)].name


def unsnapped_pareto(fit: DirectFit, model: KAN, ds: Dataset, symbols: list[sympy.Symbol],
                     library: dict[str, Primitive], test_mse: Callable[[Formula], float],
                     deadline: float | None) -> list[dict[str, Any]]:
    """Pareto rows for the assignments that were not finished: their assembled (unsnapped) formulas, so the figure
    shows what the choice was made against. Leaves ``model`` on the best assignment."""
    done = {tuple(c["assignment"]["primitives"]) for c in fit.candidates}
    rows = []
    for f in fit.front:
        if tuple(f["primitives"]) in done or expired(deadline):
            continue
        apply_assignment(model, f, library)
        raw = Formula(raw_formula(model, ds, symbols), list(ds.input_names), ds.target_name)
        rows.append({"complexity": raw.complexity(), "loss": test_mse(raw), "loss_kind": "test MSE",
                     "text": ", ".join(f["primitives"]), "primitives": list(f["primitives"]), "snapped": False,
                     "chosen": False})
    use(fit, model, library)
    return rows


