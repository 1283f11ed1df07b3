"""``symbolify`` for a run with several targets: one formula per target.

The one-target search runs once per target, in output order, on that target's values (``Dataset.for_target``) and
on the trained network restricted to that output (:func:`kansci.core.subnet.output_subnet`); each writes its own
folder ``RUN/symbolic/<dir>/`` in the one-target layout, and ``symbolic/targets.json`` and ``formulas.txt`` index
them (:mod:`kansci.rundir.targets`).

Time: ``symbolic.time_limit_s`` bounds the whole call. Each target gets an equal share of the time that is left when
its turn comes (target j of k: ``left / (k - j)``), so time one target does not use passes on to the next ones. With
no limit each target runs without one (its structure search then has its own default limit).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kansci import rundir
from kansci.atomic import all_or_nothing
from kansci.budget import deadline_after
from kansci.config import Config
from kansci.core.model import KAN
from kansci.core.subnet import output_subnet
from kansci.data import Dataset
from kansci.pipeline.common import load_model
from kansci.rundir.targets import target_dirs, write_targets

__all__ = ["MIN_SHARE_S", "TargetsResult", "symbolify_targets"]

#: The smallest time limit a target gets (a limit must be positive); a target whose share is used up still returns
#: its best candidate so far.
MIN_SHARE_S = 0.001

#: The one-target search: (folder, config, data of one target, model loader, device, library, log, units) -> result
OneTarget = Callable[..., Any]


@dataclass
class TargetsResult:
    """The formulas of a run with several targets: ``results[j]`` is target ``targets[j]``'s one-target result
    (``formula``, ``metrics``, ``files``), written to ``dirs[j]``. ``metrics`` summarises the call."""

    targets: list[str]
    results: list[Any]
    dirs: list[Path]
    metrics: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    @property
    def formulas(self) -> list[Any]:
        """One :class:`~kansci.symbolic.exports.Formula` per target, in output order."""
        return [r.formula for r in self.results]


def symbolify_targets(run: Path, cfg: Config, ds: Dataset, device: torch.device, library: dict[str, Any],
                      log: Callable[[str], None], one: OneTarget) -> TargetsResult:
    """Run ``one`` (the one-target search of :mod:`.symbolify`) for every target of ``ds`` (see the module doc)."""
    t0 = time.perf_counter()
    limit = cfg.symbolic.time_limit_s
    deadline = deadline_after(limit)
    names = ds.targets
    folders = target_dirs(names)
    sym = Path(run) / "symbolic"
    network = load_model(run, device=device)  # (batch, n_in) -> (batch, k)
    results = []
    for j, (name, folder) in enumerate(zip(names, folders)):
        sub_cfg = cfg.model_copy(deep=True)
        if deadline is not None:
            share = max(MIN_SHARE_S, (deadline - time.perf_counter()) / (len(names) - j))
            sub_cfg.symbolic.time_limit_s = share
        log(f"symbolify: target {name!r} ({j + 1} of {len(names)})"
            + (f", time limit {sub_cfg.symbolic.time_limit_s:.0f} s" if deadline is not None else ""))
        sub = output_subnet(network, j)
        results.append(one(sym / folder, sub_cfg, ds.for_target(j), _loader(sub), device, library, log, None))
    wall = time.perf_counter() - t0
    metrics = {"targets": list(names), "dirs": list(folders), "time_limit_s": limit, "wall_s": wall,
               "per_target": {name: r.metrics for name, r in zip(names, results)}}
    text = "".join(f"{r.formula.target} = {r.formula.text}\n" for r in results)
    with all_or_nothing():
        files = [write_targets(sym, names, folders, time_limit_s=limit, wall_s=wall),
                 rundir.write_text(sym / "formulas.txt", text)]
    files += [f for r in results for f in r.files]
    return TargetsResult(list(names), results, [sym / f for f in folders], metrics, files)


def _loader(model: KAN) -> Callable[[], KAN]:
    return lambda: model
