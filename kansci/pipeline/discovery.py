"""Structure-first discovery on a trained run: the network becomes the surrogate of :mod:`kansci.discover`, whose
candidates are finished like every other candidate formula.

Calibration (both from the network's own error on the validation rows, ``val_nmse``):
- structure tests pass below ``calibrated_tolerance(val_nmse)`` (see :mod:`kansci.discover.structure`);
- a formula is *verified* when its NMSE on the training rows is at most ``ACCEPT_FACTOR × val_nmse`` (floor
  ``ACCEPT_FLOOR``): it explains the data at least about as well as the network does. A verified formula ends the
  search, and the slower direct fit is skipped.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
import torch

from kansci.config import Config
from kansci.core.model import KAN
from kansci.data import Dataset
from kansci.discover.candidates import ACCEPT_FACTOR
from kansci.discover.engine import Engine
from kansci.discover.structure import calibrated_tolerance
from kansci.discover.surrogate import Surrogate, from_kan
from kansci.pipeline.candidates import finish
from kansci.pipeline.selection import SMALL_TABLE
from kansci.train.loop import TrainData

__all__ = ["ACCEPT_FACTOR", "ACCEPT_FLOOR", "Discovery", "describe", "discover", "network_nmse"]

ACCEPT_FLOOR = 1e-12
MAX_ROWS = 2000  # rows of the training data the engine works on (seeded subsample)
FINISHED = 3  # engine candidates carried to the formula level
FINISHED_SMALL = 8  # ... on a small table, where cross-validation, not the surrogate, decides among them


@dataclass
class Discovery:
    """Finished candidates (each with ``how`` and ``tree``), whether the best is verified, and the record saved as
    ``symbolic/structure.json``."""

    candidates: list[dict[str, Any]] = field(default_factory=list)
    verified: bool = False
    record: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def network_nmse(model: KAN, data: TrainData) -> float:
    """The network's normalized MSE on the validation rows (normalization cancels in the ratio); with row weights
    (``data.w_val``), the weighted MSE over the weighted variance."""
    pred = model(data.x_val)[:, 0].double()
    y = data.y_val[:, 0].double()
    w = torch.ones_like(y) if data.w_val is None else data.w_val[:, 0].double()
    w = w / torch.sum(w)
    var = float(torch.sum(w * (y - torch.sum(w * y)) ** 2))
    return float(torch.sum(w * (pred - y) ** 2)) / (var if var > 0 else 1.0)


def discover(model: KAN, data: TrainData, ds: Dataset, cfg: Config, symbols: list[sympy.Symbol],
             deadline: float | None, log: Callable[[str], None], surrogate: Surrogate | None = None) -> Discovery:
    """Run the engine on the training rows with ``model`` as surrogate (or ``surrogate``, a function of ``ds``'s
    inputs built from it); finish its best candidates. The calibration is the network's own error on ``data``."""
    val_nmse = network_nmse(model, data)
    tol, accept = calibrated_tolerance(val_nmse), max(ACCEPT_FACTOR * val_nmse, ACCEPT_FLOOR)
    f = surrogate if surrogate is not None else from_kan(model, ds.x_norm.shift, ds.x_norm.scale,
                                                         float(ds.y_norm.shift[0]), float(ds.y_norm.scale[0]))
    X, y = ds.X_train, ds.y_train
    if X.shape[0] > MAX_ROWS:
        rows = np.sort(np.random.default_rng(cfg.seed).choice(X.shape[0], MAX_ROWS, replace=False))
        X, y = X[rows], y[rows]
    noise = float(np.sqrt(val_nmse) * np.std(y))  # RMS error of one network value, in the target's units
    small = X.shape[0] < SMALL_TABLE
    engine = Engine(tol=tol, accept=accept, deadline=deadline, noise=noise, seed=cfg.seed,
                    log=lambda s: log(f"structure: {s}"), leaf_results=FINISHED_SMALL if small else 3)
    found = engine.solve(X, y, symbols, f)
    out = Discovery(record={"network_val_nmse": val_nmse, "network_noise_rms": noise, "tolerance": tol,
                            "accept_nmse": accept,
                            "decisions": engine.decisions.to_json()})
    keep = FINISHED_SMALL if small else FINISHED
    for c in found[:keep]:
        done = finish(c.expr, ds, symbols, cfg, deadline)
        done.update(how=c.how, tree=c.tree)
        out.candidates.append(done)
    out.verified = any(c["nmse"] <= accept for c in out.candidates)
    out.record["candidates"] = [{"how": c["how"], "formula": c["formula"].text, "train_nmse": c["nmse"],
                                 "tree": c["tree"], "decomposition": describe(c["tree"], ds.target_name)}
                                for c in out.candidates]
    return out


_KIND = {"sum": ("+", "additive separability"), "product": ("·", "multiplicative separability")}


def describe(tree: dict[str, Any], target: str = "f", depth: int = 0) -> list[str]:
    """The decomposition as lines, outermost first, e.g.
    ``f = g1(q1, q2) · g2(r)   [multiplicative separability, statistic 3.1e-03]``."""
    pad = "  " * depth
    kind = tree.get("kind", "")
    if kind in _KIND:
        op, test = _KIND[kind]
        parts = tree.get("parts", [])
        inner = f" {op} ".join(f"g{k + 1}({', '.join(p.get('variables', []))})" for k, p in enumerate(parts))
        t = tree.get("transform", "y")
        lhs = target if t == "y" else t.replace("y", target)
        lines = [f"{pad}{lhs} = {inner}   [{test}{'' if t == 'y' else ' of ' + t}, statistic "
                 f"{tree.get('statistic', 0.0):.1e}]"]
        for k, p in enumerate(parts):
            lines += describe(p, f"g{k + 1}", depth + 1)
        return lines
    if kind == "symmetry":
        return [f"{pad}{target} = h({tree['combination']}, ...)   [symmetry, statistic {tree['statistic']:.1e}]",
                *describe(tree.get("part", {}), "h", depth + 1)]
    if kind == "power law":
        return [f"{pad}{target} = {tree.get('expr', '')}   [power law in log space]"]
    if kind == "leaf":
        return [f"{pad}{target} = {tree.get('expr', '')}   [leaf search: {tree.get('shape', '')}]"]
    return []
