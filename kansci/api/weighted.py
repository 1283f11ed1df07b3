"""Training with row weights (scikit-learn's ``sample_weight``): the fresh-fit path of
:func:`kansci.pipeline.fit_run`, with the weights attached to the training tensors.

The training loop takes weights in :class:`~kansci.train.loop.TrainData` (``w_train``, ``w_val``); the pipeline's
``fit_run`` does not pass any yet, so this module repeats its few steps for a fit from arrays: same device choice,
split, seeds, training, checks, metrics and run directory, so equal weights give the same weights as ``fit_run``.
The weights go on the pipeline's own fit/validation split
(:func:`~kansci.pipeline.common.weighted_tensors`). The architecture search (``model.width: auto``) trains each
candidate shape with the weights but compares the shapes by their unweighted validation error.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from kansci import rundir
from kansci.budget import deadline_after
from kansci.config import Config
from kansci.core.model import choose_device
from kansci.data import Dataset
from kansci.errors import FitError
from kansci.pipeline import FitResult, check_width
from kansci.pipeline.common import (
    build_model,
    cpu_threads_for,
    environment,
    model_dtype,
    model_metrics,
    weighted_tensors,
)
from kansci.pipeline.fit import write_fit
from kansci.train.loop import fit as train_fit
from kansci.train.search import search_architecture

__all__ = ["fit_weighted", "weighted_tensors"]


def fit_weighted(cfg: Config, ds: Dataset, weights: np.ndarray) -> FitResult:
    """Train on ``ds`` with row ``weights`` (n_rows,) and write a run directory under ``cfg.output.dir``, like
    ``fit_run(cfg, dataset=ds)``; ``metrics.json`` records ``"sample_weight": true``."""
    rundir.check_out_dir(cfg.output.dir)
    check_width(cfg, ds)
    device, _ = choose_device(cfg.model.device, ds.n_rows)
    torch.manual_seed(cfg.seed)
    data = weighted_tensors(ds, cfg.seed, weights, model_dtype(cfg), device)
    t0 = time.perf_counter()
    deadline = deadline_after(cfg.train.time_limit_s)
    with cpu_threads_for(ds.n_rows, device):
        if cfg.model.width == "auto":
            model, history, table = search_architecture(
                lambda w, arity, s: build_model(cfg, w, device, mult_arity=arity, seed=s), data, cfg.train,
                seed=cfg.seed, deadline=deadline, restarts=cfg.train.search_restarts)
        else:
            model = build_model(cfg, [list(w) if isinstance(w, tuple) else w for w in cfg.model.width], device)
            history = train_fit(model, data, cfg.train, seed=cfg.seed, deadline=deadline)
            table = []
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise FitError("training produced non-finite weights", "lower train.lr or use train.optimizer: adam")
    metrics = {"status": "complete", **model_metrics(model, ds), "width": model.width_spec(),
               "wall_s": time.perf_counter() - t0, "device": str(device), "seed": cfg.seed,
               "steps": len(history.rows), "versions": environment(), "sample_weight": True}
    run = rundir.new_run_dir(cfg.output.dir, cfg.output.name or "run")
    try:
        write_fit(run, cfg, ds, model, history, metrics, table)
    except BaseException:
        rundir.remove_run_dir(run)
        raise
    return FitResult(run, model, ds, history, metrics, table)
