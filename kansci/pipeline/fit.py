"""``kansci fit``: load data, train (choosing the architecture when ``model.width`` is ``auto``), write a run
directory. The directory is created when training starts and marked ``running`` (:mod:`kansci.rundir.state`); a
checkpoint is saved every ``train.checkpoint_every_s`` seconds, so a fit killed at any moment can be continued with
``--resume``; Ctrl-C saves one at the step it stops. The marker turns ``complete`` last, when every file is written."""
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
from kansci.errors import FitError, KansciError
from kansci.pipeline import units_step, units_weights
from kansci.pipeline.common import (
    Log,
    build_model,
    check_targets,
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
from kansci.rundir import state as marker
from kansci.train.loop import History, Interrupted, Progress, StopRequest, TrainData
from kansci.train.loop import fit as train_fit
from kansci.train.search import search_architecture

#: Seconds between periodic checkpoints of a running fit, unless the config sets ``train.checkpoint_every_s``
#: (0 or None: none). A checkpoint stops training at a step boundary, saves, and continues bit for bit.
DEFAULT_CHECKPOINT_EVERY_S = 180.0


@dataclass
class FitResult:
    run: Path
    model: KAN
    dataset: Dataset
    history: History
    metrics: dict[str, Any]
    search: list[dict[str, Any]] = field(default_factory=list)
    units: units_step.UnitsPlan | None = None  # declared units; with a reduction, ``dataset`` is the reduced problem


class FitInterrupted(Exception):
    """Training was interrupted; ``run`` holds a checkpoint that ``kansci fit --resume RUN`` continues."""

    def __init__(self, run: Path) -> None:
        super().__init__(f"training interrupted; checkpoint saved in {run}")
        self.run = run


class _Checkpoints(StopRequest):
    """The stop request the training loop sees: the user's (Ctrl-C, ``user``) or a periodic checkpoint that is due.
    ``progress`` wraps the caller's progress callback and makes a checkpoint due every ``every_s`` seconds; the loop
    then raises :class:`Interrupted` at the step boundary, :meth:`save` writes the checkpoint, and training resumes
    from it in the same process (resuming is exact, so the result does not change)."""

    def __init__(self, run: Path, every_s: float | None, user: StopRequest | None,
                 outer: Callable[[Progress], None] | None) -> None:
        self.run, self.every_s, self.user, self.outer = run, every_s, user, outer
        self.due = False
        self.saved = False
        self.step: int | None = None
        self.last = time.monotonic()

    @property  # type: ignore[override]
    def requested(self) -> bool:
        return self.due or (self.user is not None and self.user.requested)

    @requested.setter
    def requested(self, value: bool) -> None:
        self.due = value

    @property
    def by_user(self) -> bool:
        return self.user is not None and self.user.requested

    def progress(self, p: Progress) -> None:
        self.step = p.step
        if self.outer is not None:
            self.outer(p)
        if self.every_s and time.monotonic() - self.last >= self.every_s:
            self.due = True

    def save(self, checkpoint: dict[str, Any], log: Log) -> None:
        """Write ``checkpoint.pt`` and record it in the marker. A failed write (a full disk) is a warning: training
        goes on, and the previous checkpoint, if any, stays intact."""
        try:
            rundir.save_tensors(self.run / marker.CHECKPOINT_FILE, checkpoint)
            rundir.mark(self.run, marker.RUNNING, checkpoint={"step": self.step, "saved": marker.now_text()})
            self.saved = True
        except OSError as exc:
            log(f"warning: could not save a checkpoint in {self.run} ({exc.strerror or exc}); training goes on")
        self.due, self.last = False, time.monotonic()


def checkpoint_every_s(cfg: Config) -> float | None:
    """The periodic checkpoint interval in seconds (None: no periodic checkpoints)."""
    value = getattr(cfg.train, "checkpoint_every_s", DEFAULT_CHECKPOINT_EVERY_S)
    return float(value) if value else None


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

    The run directory is created before training with its config and data and the marker ``running``; a
    checkpoint is saved there every ``train.checkpoint_every_s`` seconds. With ``stop`` (set by a Ctrl-C handler)
    training halts at the next step boundary, ``checkpoint.pt`` and ``metrics.json`` status ``interrupted`` are
    written, and :class:`FitInterrupted` is raised. ``resume=PARENT`` continues an incomplete run (from its
    checkpoint, or from the start when it has none) in a new directory that records the parent; the parent is never
    modified. A failure after a checkpoint keeps the directory (marked ``failed``); before one, nothing is left.
    """
    checkpoint = None
    if resume is not None:
        resume = Path(resume)
        saved = rundir.resume_checkpoint(resume)
        checkpoint = rundir.load_tensors(saved) if saved is not None else None
        ds = load_run_data(resume)
    else:
        ds = dataset if dataset is not None else load_data(cfg)
    check_targets(cfg, ds)
    units = units_step.plan_units(cfg, ds, log) if resume is None else None  # bad units leave no run behind
    ds = units.train if units is not None else ds  # the reduced problem when the units allow one
    rundir.check_out_dir(cfg.output.dir)
    check_width(cfg, ds)
    device, why = choose_device(cfg.model.device, ds.n_rows)
    log(f"device: {device} ({why})")
    torch.manual_seed(cfg.seed)
    data = train_tensors(ds, cfg.seed, model_dtype(cfg), device)
    run = _start_run(cfg, ds, resume, units)
    t0 = time.perf_counter()
    saver = _Checkpoints(run, checkpoint_every_s(cfg), stop, progress)
    try:
        model, history, table = _train(cfg, data, device, saver, checkpoint, log, ds.n_rows)
        if units is not None and units.reduction is not None:  # noise that grows as 1/P²: weights for the search
            units.noise, units.weights = units_weights.reweigh(model, ds, units.reduction, units.original.X, cfg, log)
            units_step.write_units(run, units)
    except Interrupted as stopped:
        try:
            _write_interrupted(run, cfg, stopped.checkpoint, time.perf_counter() - t0, resume, saver.step)
        except BaseException as exc:
            _abandon(run, saver, exc)
            raise
        raise FitInterrupted(run) from None
    except BaseException as exc:
        _abandon(run, saver, exc)
        raise
    wall = time.perf_counter() - t0
    metrics: dict[str, Any] = {}
    try:
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
            metrics["parent"] = str(resume.resolve())
        _write_result(run, model, history, metrics, table)
    except BaseException as exc:
        _abandon(run, saver, exc)
        raise
    rundir.discard_checkpoint(run)
    return FitResult(run, model, ds, history, metrics, table, units)


def _train(cfg: Config, data: TrainData, device: torch.device, saver: _Checkpoints, checkpoint: dict[str, Any] | None,
           log: Log, n_rows: int) -> tuple[KAN, History, list[dict[str, Any]]]:
    """Train from ``checkpoint`` (None: from the start). A periodic checkpoint interrupts training, is saved, and
    training goes on from it; a user's stop request propagates as :class:`Interrupted`."""
    deadline = deadline_after(cfg.train.time_limit_s)
    said: set[str] = set()

    def log_once(message: str) -> None:  # a search resumed after a checkpoint would repeat its decisions
        if message not in said:
            said.add(message)
            log(message)

    while True:
        try:
            with cpu_threads_for(n_rows, device):
                if cfg.model.width == "auto":
                    return search_architecture(
                        lambda w, arity, s: build_model(cfg, w, device, mult_arity=arity, seed=s), data, cfg.train,
                        seed=cfg.seed, progress=saver.progress, log=log_once, stop=saver, resume=checkpoint,
                        deadline=deadline, restarts=cfg.train.search_restarts,
                    )
                model = build_model(cfg, [list(w) if isinstance(w, tuple) else w for w in cfg.model.width], device)
                history = train_fit(model, data, cfg.train, seed=cfg.seed, callback=saver.progress, stop=saver,
                                    resume=checkpoint, deadline=deadline)
                return model, history, []
        except Interrupted as exc:
            if saver.by_user:
                raise
            saver.save(exc.checkpoint, log)
            checkpoint = exc.checkpoint


def _start_run(cfg: Config, ds: Dataset, parent: Path | None, units: units_step.UnitsPlan | None = None) -> Path:
    """A new run directory holding the config and data, marked ``running``; removed again if that fails."""
    run = rundir.new_run_dir(cfg.output.dir, _run_name(cfg, ds))
    try:
        fields = {"parent": str(parent.resolve())} if parent is not None else {}
        rundir.mark(run, marker.RUNNING, **fields)
        write_config(run, cfg)
        rundir.write_json(run / "dataset.json", ds.to_json())
        rundir.save_arrays(run / "data.npz", X=ds.X, y=ds.y)
        units_step.write_units(run, units, parent)
    except BaseException:
        rundir.remove_run_dir(run)
        raise
    return run


def _abandon(run: Path, saver: _Checkpoints, exc: BaseException) -> None:
    """After a failure: keep a run that holds a periodic checkpoint, marked ``failed`` after an error or
    ``interrupted`` after a second Ctrl-C (it resumes from that checkpoint); remove one that holds none."""
    if not saver.saved:
        rundir.remove_run_dir(run)
        return
    try:
        if isinstance(exc, Exception):
            text = exc.one_line() if isinstance(exc, KansciError) else f"{type(exc).__name__}: {exc}"
            rundir.mark(run, marker.FAILED, error=" ".join(text.split())[:300])
        else:
            rundir.mark(run, marker.INTERRUPTED)
    except OSError:
        pass  # the marker still says running; once this process is gone that reads as stopped


def _run_name(cfg: Config, ds: Dataset) -> str:
    if cfg.output.name:
        return cfg.output.name
    if ds.source == STDIN:  # data read from standard input: data.npz keeps its values
        return "stdin"
    return Path(ds.source).stem if ds.source else "run"


def _write_interrupted(run: Path, cfg: Config, checkpoint: dict[str, Any], wall: float, parent: Path | None,
                       step: int | None) -> None:
    """Ctrl-C: the checkpoint, ``metrics.json`` status ``interrupted``, and the marker (no model.pt: the model is
    mid-training). The config and data were written when the run started."""
    rundir.save_tensors(run / marker.CHECKPOINT_FILE, checkpoint)
    metrics = {"status": "interrupted", "wall_s": wall, "seed": cfg.seed, "versions": environment(),
               "resume": f"kansci fit --resume {run}"}
    if parent is not None:
        metrics["parent"] = str(Path(parent).resolve())
    rundir.write_json(run / "metrics.json", metrics)
    rundir.mark(run, marker.INTERRUPTED, checkpoint={"step": step, "saved": marker.now_text()})


def write_fit(
    run: Path, cfg: Config, ds: Dataset, model: KAN, history: History, metrics: dict[str, Any],
    search: list[dict[str, Any]],
) -> None:
    """Every file of a finished fit into ``run`` (config and data, then the results, the marker last)."""
    write_config(run, cfg)
    rundir.write_json(run / "dataset.json", ds.to_json())
    rundir.save_arrays(run / "data.npz", X=ds.X, y=ds.y)
    _write_result(run, model, history, metrics, search)


def _write_result(run: Path, model: KAN, history: History, metrics: dict[str, Any],
                  search: list[dict[str, Any]]) -> None:
    """The results of training; the marker ``complete`` is written last."""
    rundir.save_model(run, model)
    rundir.write_csv_rows(run / "history.csv", history.columns(), history.rows)
    rundir.write_json(run / "events.json", history.events)
    if search:
        metrics = {**metrics, "architecture_search": search}
    rundir.write_json(run / "metrics.json", metrics)
    rundir.mark(run, marker.COMPLETE, checkpoint=None)
