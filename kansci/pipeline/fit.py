"""``kansci fit``: load data, train (choosing the architecture when ``model.width`` is ``auto``), write a run
directory; interrupted runs keep a checkpoint that ``--resume`` continues."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kansci import rundir
from kansci.budget import deadline_after
from kansci.config import Config
from kansci.core.model import KAN, choose_device
from kansci.data import Dataset
from kansci.data.source import STDIN
from kansci.errors import FitError
from kansci.pipeline.common import (
    Log,
    build_model,
    check_width,
    cpu_threads_for,
    environment,
    load_data,
    load_run_data,
    model_dtype,
    model_metrics,
    quiet,
    train_tensors,
    write_config,
)
from kansci.train.loop import History, Interrupted, Progress, StopRequest
from kansci.train.loop import fit as train_fit
from kansci.train.search import search_architecture


@dataclass
class FitResult:
    run: Path
    model: KAN
    dataset: Dataset
    history: History
    metrics: dict[str, Any]
    search: list[dict[str, Any]] = field(default_factory=list)


class FitInterrupted(Exception):
    """Training was interrupted; ``run`` holds a checkpoint that ``kansci fit --resume RUN`` continues."""

    def __init__(self, run: Path) -> None:
        super().__init__(f"training interrupted; checkpoint saved in {run}")
        self.run = run


def fit_run(
    cfg: Config,
    *,
    progress: Callable[[Progress], None] | None = None,
    log: Log = quiet,
    dataset: Dataset | None = None,
    stop: StopRequest | None = None,
    resume: Path | None = None,
) -> FitResult:
    """Load data, train (choosing the architecture when ``model.width`` is ``auto``), write a run directory.

    With ``stop`` (set by a Ctrl-C handler) training halts at the next step boundary: the run directory is written
    with ``checkpoint.pt`` and ``metrics.json`` status ``interrupted``, then :class:`FitInterrupted` is raised.
    ``resume=PARENT`` continues such a run in a new directory (data and config from the parent) and records the
    parent; the parent is never modified.
    """
    checkpoint = None
    if resume is not None:
        checkpoint = rundir.load_tensors(Path(resume) / "checkpoint.pt")
        ds = load_run_data(Path(resume))
    else:
        ds = dataset if dataset is not None else load_data(cfg)
    rundir.check_out_dir(cfg.output.dir)
    check_width(cfg, ds)
    device, why = choose_device(cfg.model.device, ds.n_rows)
    log(f"device: {device} ({why})")
    torch.manual_seed(cfg.seed)
    data = train_tensors(ds, cfg.seed, model_dtype(cfg), device)
    t0 = time.perf_counter()
    deadline = deadline_after(cfg.train.time_limit_s)
    model: KAN | None = None
    try:
        with cpu_threads_for(ds.n_rows, device):
            if cfg.model.width == "auto":
                model, history, table = search_architecture(
                    lambda w, arity, s: build_model(cfg, w, device, mult_arity=arity, seed=s), data, cfg.train,
                    seed=cfg.seed, progress=progress, log=log, stop=stop, resume=checkpoint, deadline=deadline,
                    restarts=cfg.train.search_restarts,
                )
            else:
                model = build_model(cfg, [list(w) if isinstance(w, tuple) else w for w in cfg.model.width], device)
                history = train_fit(model, data, cfg.train, seed=cfg.seed, callback=progress, stop=stop,
                                    resume=checkpoint, deadline=deadline)
                table = []
    except Interrupted as exc:
        run = _write_interrupted(cfg, ds, exc.checkpoint, time.perf_counter() - t0, resume)
        raise FitInterrupted(run) from None
    wall = time.perf_counter() - t0
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise FitError("training produced non-finite weights", "lower train.lr or use train.optimizer: adam")
    metrics = {
        "status": "complete",
        **model_metrics(model, ds),
        "width": model.width_spec(),
        "wall_s": wall,
        "device": str(device),
        "seed": cfg.seed,
        "steps": len(history.rows),
        "versions": environment(),
    }
    if resume is not None:
        metrics["parent"] = str(Path(resume).resolve())
    run = rundir.new_run_dir(cfg.output.dir, _run_name(cfg, ds))
    try:
        write_fit(run, cfg, ds, model, history, metrics, table)
    except BaseException:
        rundir.remove_run_dir(run)
        raise
    return FitResult(run, model, ds, history, metrics, table)


def _run_name(cfg: Config, ds: Dataset) -> str:
    if cfg.output.name:
        return cfg.output.name
    if ds.source == STDIN:  # data read from standard input: data.npz keeps its values
        return "stdin"
    return Path(ds.source).stem if ds.source else "run"


def _write_interrupted(cfg: Config, ds: Dataset, checkpoint: dict[str, Any], wall: float, parent: Path | None) -> Path:
    """An interrupted run: config, data and the checkpoint (no model.pt: the model is mid-training)."""
    run = rundir.new_run_dir(cfg.output.dir, _run_name(cfg, ds))
    try:
        write_config(run, cfg)
        rundir.write_json(run / "dataset.json", ds.to_json())
        rundir.save_arrays(run / "data.npz", X=ds.X, y=ds.y)
        rundir.save_tensors(run / "checkpoint.pt", checkpoint)
        metrics = {"status": "interrupted", "wall_s": wall, "seed": cfg.seed, "versions": environment(),
                   "resume": f"kansci fit --resume {run}"}
        if parent is not None:
            metrics["parent"] = str(Path(parent).resolve())
        rundir.write_json(run / "metrics.json", metrics)
    except BaseException:
        rundir.remove_run_dir(run)
        raise
    return run


def write_fit(
    run: Path, cfg: Config, ds: Dataset, model: KAN, history: History, metrics: dict[str, Any],
    search: list[dict[str, Any]],
) -> None:
    write_config(run, cfg)
    rundir.write_json(run / "dataset.json", ds.to_json())
    rundir.save_arrays(run / "data.npz", X=ds.X, y=ds.y)
    rundir.save_model(run, model)
    rundir.write_csv_rows(run / "history.csv", history.columns(), history.rows)
    rundir.write_json(run / "events.json", history.events)
    if search:
        metrics = {**metrics, "architecture_search": search}
    rundir.write_json(run / "metrics.json", metrics)


