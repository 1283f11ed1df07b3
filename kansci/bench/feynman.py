"""The Feynman benchmark: sample each equation, run the default discovery pipeline, score the formula.

One task = one (equation, seed). :func:`run_task` is what runs inside a task process (see
:mod:`kansci.bench.executor`); :func:`run_feynman_bench` selects the tasks, skips finished ones on resume, runs the
rest on the chosen executor, appends each result to ``results.csv`` as it arrives and writes ``summary.md``. A user's
own table of equations (``equations=``, the layout of the bundled table) replaces the bundled one; its tasks carry
their equation, so task processes need not read the file.

Modules that import torch (pipeline, rundir) are imported inside :func:`run_task` only: the parent process needs no
torch, and a task process (which unpickles :class:`BenchTask` from this module) running an injected task function
that needs none starts fast.
"""
from __future__ import annotations

import functools
import json
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy

from kansci.atomic import write_text
from kansci.bench import report, scoring
from kansci.bench.equations import select_equations
from kansci.bench.executor import Limits, Mark, make_executor, supervise
from kansci.data import Dataset, fit_normalization
from kansci.data.feynman import FeynmanEquation, feynman_dataset, feynman_equation, load_equations
from kansci.errors import ConfigError, DataError, RunDirError
from kansci.rundir.lock import folder_lock

SETTINGS_FILE = "bench.json"
TRAIN_SHARE = 0.4  # of a task's budget, at most, for training
SYMBOLIFY_SHARE = 0.35  # of a task's budget, at least, for symbolify (it also gets what training leaves unused)


@dataclass(frozen=True)
class BenchTask:
    """One (equation, seed) task; plain data so that it pickles to any worker. ``out_dir``: folder for its run;
    ``equation``: the equation itself when it comes from a user's table (None: look ``eq_id`` up in the bundled one)."""

    eq_id: str
    seed: int
    noise: float
    n_train: int
    n_test: int
    budget_s: float
    out_dir: str
    equation: FeynmanEquation | None = None
    units: bool = False  # declare the packaged Feynman units table's units (dimensionless groups, units check)

    def lookup(self) -> FeynmanEquation:
        return self.equation if self.equation is not None else feynman_equation(self.eq_id)


@dataclass
class TaskData:
    """Sampled data of a task: ``dataset`` (train rows first, then test rows; noise on train targets only),
    ``truth`` in the (renamed) column names, ``box`` the sampling range per column, ``y_test`` (n_test,) clean."""

    dataset: Dataset
    truth: sympy.Expr
    names: list[str]
    box: list[tuple[float, float]]
    y_test: np.ndarray


@dataclass
class BenchSummary:
    """Result of a benchmark: ``markdown`` is the text of ``summary.md``; ``rows`` every result of the selection."""

    markdown: str
    rows: list[dict[str, Any]]
    out: Path
    results_path: Path
    summary_path: Path
    ran: int = 0
    skipped: int = 0
    keys: list[tuple[str, int]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def _no_mark(event: str, data: dict) -> None:
    pass


def task_seeds(eq_id: str, seed: int) -> tuple[int, int]:
    """(sampling seed, noise seed) of one task, derived from the equation id and the benchmark seed."""
    a, b = np.random.SeedSequence([zlib.crc32(eq_id.encode()), int(seed)]).generate_state(2)
    return int(a), int(b)


def task_data(eq_id: str | FeynmanEquation, seed: int, n_train: int, n_test: int, noise: float) -> TaskData:
    """Sample ``n_train + n_test`` rows uniformly in the equation's ranges (seeded per (equation, seed)); add
    Gaussian noise of std ``noise * RMS(y_train)`` to the train targets only; normalization from the train rows
    exactly as ``kansci.data`` does for policy "auto". ``eq_id``: a bundled equation's id, or the equation."""
    if n_train < 10 or n_test < 1:
        raise DataError(f"need n_train >= 10 and n_test >= 1, got {n_train} and {n_test}", "use e.g. --n-train 1000")
    if not noise >= 0:
        raise DataError(f"noise must be >= 0, got {noise}", "use e.g. --noise 0.01")
    eq = eq_id if isinstance(eq_id, FeynmanEquation) else feynman_equation(eq_id)
    s_sample, s_noise = task_seeds(eq.id, seed)
    sd = feynman_dataset(eq, n_train + n_test, noise=0.0, seed=s_sample)
    train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    y = sd.y_clean.copy()
    if noise > 0:
        rms = float(np.sqrt(np.mean(y[train] ** 2)))
        y[train] += np.random.default_rng(s_noise).normal(0.0, noise * rms, size=n_train)
    ds = Dataset(sd.X, y, list(sd.names), sd.target, train, test, fit_normalization(sd.X[train], "auto"),
                 fit_normalization(y[train], "standard"), source=f"feynman:{eq.id}", split_seed=int(seed),
                 normalize="auto")
    box = [(lo, hi) for _, lo, hi in eq.variables]
    return TaskData(ds, sd.expr, list(sd.names), box, sd.y_clean[test])


def run_task(task: BenchTask, mark: Mark = _no_mark) -> dict[str, Any]:
    """Run the default pipeline (the same code as ``kansci run``, without plots) on one task and score it.

    Calls ``mark("fit", ...)`` after training and ``mark("pipeline_done", ...)`` before scoring (the budget covers
    the pipeline; scoring has its own limit). Returns the task's row fields (see :data:`report.COLUMNS`)."""
    import torch

    from kansci.config import load_config
    from kansci.pipeline import fit_run
    from kansci.pipeline.symbolify import symbolify_run
    from kansci.rundir import read_json

    torch.set_num_threads(1)
    data = task_data(task.lookup(), task.seed, task.n_train, task.n_test, task.noise)
    # The default pipeline with soft time limits inside the hard budget, so a slow task still returns its best
    # formula instead of being killed: training gets at most 40% of the budget, symbolify at least 35% (and what
    # training left of 75%), and a quarter is left for work that cannot stop at once (a training step, a sympy call,
    # writing the run) and for scoring.
    limits = {"train.time_limit_s": TRAIN_SHARE * task.budget_s,
              "symbolic.time_limit_s": SYMBOLIFY_SHARE * task.budget_s}
    if task.units:
        limits["data.units_file"] = str(_units_file(task, data))
    cfg = load_config(None, flags={"output.dir": str(Path(task.out_dir)), "output.name": f"{task.eq_id}-s{task.seed}",
                                   "seed": task.seed, **limits})
    t0 = time.perf_counter()
    fit = fit_run(cfg, dataset=data.dataset)
    fit_r2 = float(fit.metrics["test_r2"])
    mark("fit", {"fit_test_r2": fit_r2, "run_dir": str(fit.run)})
    cfg.symbolic.time_limit_s = max(SYMBOLIFY_SHARE * task.budget_s,
                                    (TRAIN_SHARE + SYMBOLIFY_SHARE) * task.budget_s - (time.perf_counter() - t0))
    sym = symbolify_run(fit.run, cfg)
    wall = time.perf_counter() - t0
    removed = [str(r["input"]) for r in (sym.prune.removed_inputs if sym.prune else [])]
    mark("pipeline_done", {"wall_s": wall, "removed_inputs": removed})
    t1 = time.perf_counter()
    ds = data.dataset
    scores = scoring.score_formula(data.truth, sym.formula.expr, data.names, data.box, ds.X_test, data.y_test,
                                   seed=task.seed)
    edges = read_json(fit.run / "symbolic", "formula.json").get("edges", [])
    return {
        **scores, "fit_test_r2": fit_r2, "wall_s": wall, "score_s": time.perf_counter() - t1,
        "formula": sym.formula.text, "removed_inputs": removed, "run_dir": str(fit.run),
        "primitives": [f"{e['layer']}.{e['i']}.{e['j']}={e['primitive']}" for e in edges],
    }


def _units_file(task: BenchTask, data: TaskData) -> Path:
    """The task's units (from the packaged Feynman table, under the dataset's possibly renamed columns) as a units
    CSV beside its run."""
    from kansci.pipeline.units_step import units_csv_text
    from kansci.units import feynman_problem_units

    declared = feynman_problem_units(task.lookup(), inputs=data.names, target=data.dataset.target_name)
    path = Path(task.out_dir) / f"{task.eq_id}-s{task.seed}.units.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, units_csv_text(declared))


def outcome_row(task: BenchTask, outcome: dict[str, Any]) -> dict[str, Any]:
    """The results.csv row of a task from :func:`~kansci.bench.executor.supervise`'s outcome, with its failure
    class (partial information of killed or failed tasks comes from their events)."""
    eq = task.lookup()
    truth = scoring.plain(feynman_dataset(eq, 1).expr)
    events = outcome.get("events", {})
    row: dict[str, Any] = {"strict": False, "robust": False, "accuracy": False}
    row.update(events.get("fit", {}))
    row.update({k: v for k, v in events.get("pipeline_done", {}).items() if k in ("wall_s", "removed_inputs")})
    row.update(outcome.get("row") or {})
    row.update(id=eq.id, seed=task.seed, status=outcome["status"], stage=outcome.get("stage"), truth=str(truth),
               n_vars=len(eq.variables), in_srbench=eq.in_srbench, noise=task.noise, n_train=task.n_train,
               n_test=task.n_test, budget_s=task.budget_s, total_s=outcome.get("elapsed_s"),
               error=(outcome.get("error") or "")[:500])
    row.pop("t", None)
    needed = [s.name for s in truth.free_symbols]
    row["failure"] = scoring.classify(
        strict=bool(row["strict"]), status=row["status"], fit_r2=row.get("fit_test_r2"),
        removed_inputs=row.get("removed_inputs") or [], needed_inputs=needed, robust=bool(row["robust"]),
        same_shape=bool(row.get("same_shape")))
    return row


def _check_settings(out: Path, settings: dict[str, Any], resume: bool) -> None:
    path, results = out / SETTINGS_FILE, out / "results.csv"
    if results.exists() and results.stat().st_size and not resume:
        raise RunDirError(f"{results} already holds benchmark results",
                          "pass --resume to continue that benchmark, or choose another --out folder")
    if resume and path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{path}: cannot read the benchmark settings ({exc})",
                              "delete the file to resume anyway, or benchmark into a new --out folder") from None
        diff = [k for k in ("noise", "n_train", "n_test", "budget_s", "equations_sha256")
                if old.get(k) != settings.get(k)]
        if diff:
            shown = ", ".join(f"{k} {old.get(k)} -> {settings.get(k)}" for k in diff)
            raise ConfigError(f"{path}: --resume with different settings ({shown})",
                              "resume with the same options, or benchmark into a new --out folder")
    write_text(path, json.dumps(settings, indent=2) + "\n")


def run_feynman_bench(*, ids: Sequence[str] | None = None, srbench: bool = False, limit: int | None = None,
                      noise: float = 0.0, seeds: int = 1, n_train: int = 1000, n_test: int = 1000,
                      budget_s: float = 60.0, workers: int | None = None, scheduler: str | None = None,
                      out: Path = Path("bench/feynman"), resume: bool = False,
                      log: Callable[[str], None] = lambda s: None, command: str | None = None,
                      task_fn: Callable[[Any, Mark], dict] = run_task, score_s: float = 120.0,
                      equations: Path | None = None, units: bool = False) -> BenchSummary:
    """Run the Feynman benchmark and write ``out/results.csv``, ``out/summary.md``, ``out/bench.json`` and one run
    directory per task under ``out/runs/``, holding a lock on ``out`` meanwhile (a second benchmark on that folder is
    refused: :func:`kansci.rundir.lock.folder_lock`). ``task_fn`` replaces :func:`run_task` (tests); ``score_s``
    bounds scoring after the pipeline; ``command`` is echoed in summary.md. Seeds are ``0 .. seeds-1``. ``equations``: a
    CSV table of equations in the bundled table's layout, used instead of it (every row is checked first, and a
    malformed one is a DataError naming its line, before anything is written). ``units``: declare each equation's
    units from the packaged Feynman units table (the search runs on dimensionless groups). Each progress line on ``log``
    (``[k/N] ...``) carries an estimate of the time left (``eta 3m10s``)."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}", "pass e.g. --seeds 1")
    if not budget_s > 0:
        raise ConfigError(f"--budget-s must be > 0, got {budget_s}", "pass e.g. --budget-s 60")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}", "pass e.g. --workers 4")
    if units and equations is not None:
        raise ConfigError("--units declares units from the packaged Feynman table, which does not cover --equations",
                          "drop --units, or --equations")
    table = load_equations(equations) if equations is not None else None
    eqs = select_equations(ids, srbench, limit, table)
    out = Path(out).resolve()  # absolute: task processes (maybe on Dask workers) write their runs below it
    settings: dict[str, Any] = {"noise": float(noise), "n_train": int(n_train), "n_test": int(n_test),
                                "budget_s": float(budget_s)}
    if equations is not None:
        settings.update(equations=str(equations), equations_sha256=report.file_sha256(Path(equations)))
    if units:
        settings["units"] = True
    if eqs:
        task_data(eqs[0], 0, n_train, n_test, noise)  # checks sizes and noise before any process starts
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, what="kansci bench feynman", command=command, warn=log):  # before anything is written
        return _run_locked(out, settings, resume, eqs, table, seeds, workers, scheduler, log, command, task_fn,
                           score_s)


def _run_locked(out: Path, settings: dict[str, Any], resume: bool, eqs: list[FeynmanEquation], table: Any,
                seeds: int, workers: int | None, scheduler: str | None, log: Callable[[str], None],
                command: str | None, task_fn: Callable[[Any, Mark], dict], score_s: float) -> BenchSummary:
    """:func:`run_feynman_bench` once it holds the lock on ``out``."""
    noise, n_train, n_test, budget_s = settings["noise"], settings["n_train"], settings["n_test"], settings["budget_s"]
    _check_settings(out, settings, resume)
    results = out / "results.csv"
    done = report.done_keys(report.read_rows(results)) if resume else set()
    keys = [(eq.id, s) for eq in eqs for s in range(seeds)]
    by_id = {eq.id: eq for eq in eqs} if table is not None else {}
    tasks = [BenchTask(i, s, float(noise), int(n_train), int(n_test), float(budget_s), str(out / "runs"),
                       by_id.get(i), bool(settings.get("units"))) for i, s in keys if (i, s) not in done]
    log(f"feynman: {len(keys)} tasks, {len(keys) - len(tasks)} already done, {len(tasks)} to run")
    call = functools.partial(supervise, task_fn, limits=Limits(budget_s=budget_s, score_s=score_s))
    with make_executor(workers, scheduler) as executor:
        t0 = time.perf_counter()
        for k, (task, outcome) in enumerate(executor.map_unordered(call, tasks), 1):
            row = outcome_row(task, outcome)
            report.append_row(results, row)
            verdict = "solved" if row["strict"] else (row["failure"] or "unsolved")
            eta = report.format_eta((time.perf_counter() - t0) / k * (len(tasks) - k))
            log(f"[{k}/{len(tasks)}] {task.eq_id} seed {task.seed}: {verdict} ({row['status']}, "
                f"{row.get('total_s') or 0:.1f} s) eta {eta} {row.get('formula') or row.get('error') or ''}"[:300])
    wanted = set(keys)
    rows = [r for r in report.read_rows(results) if (r["id"], r["seed"]) in wanted]
    settings["seeds"] = seeds
    text = report.summary_markdown(rows, settings, command)
    summary = write_text(out / "summary.md", text)
    return BenchSummary(text, rows, out, results, summary, ran=len(tasks), skipped=len(keys) - len(tasks), keys=keys,
                        settings=settings)
