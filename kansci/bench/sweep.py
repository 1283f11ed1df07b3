"""Sweeps: every (config, seed) pair of ``kansci run a.yaml b.yaml --seeds 0-9`` as an independent task.

A task runs exactly what ``kansci run CONFIG --seed S`` runs (fit, symbolify, plot) in its own process, through the
executor that ``kansci bench feynman`` uses (:mod:`kansci.bench.executor`): local worker processes, or a Dask
cluster. Each task writes its own run directory; the seed and the config fully determine it, so the results do not
depend on where, in which order or beside what a task ran (tested against a serial run and a 2-worker Dask
``LocalCluster``). A failing task becomes a row with status ``error`` and its message; the others go on.

:func:`sweep_tasks` builds the tasks from loaded configs (the command line loads and checks every config first, so a
bad one is reported before any process starts); :func:`run_sweep` runs them and returns one row per task, in task
order whatever the order they finished in; :func:`write_summary` writes those rows as a CSV, all or nothing.
"""
from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kansci.atomic import write_csv_rows
from kansci.bench.executor import Limits, Mark, make_executor, supervise
from kansci.errors import ConfigError

#: the columns of the summary table (CSV and ``--json``), in order
COLUMNS = ["config", "seed", "status", "run_dir", "formula", "test_r2", "fit_test_r2", "elapsed_s", "error"]
MAX_SEEDS = 100_000
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


@dataclass(frozen=True)
class SweepTask:
    """One (config, seed) task; plain data, so it pickles to any worker. ``flags`` are explicit config values
    (``output.dir`` absolute, ``output.name`` per task, ``seed``) laid over ``overrides`` (``--set``) over the file."""

    index: int
    config: str
    seed: int
    overrides: tuple[str, ...] = ()
    flags: tuple[tuple[str, Any], ...] = ()

    def load(self) -> Any:
        """The task's config, layered exactly as ``kansci run`` layers it."""
        from kansci.config import load_config

        return load_config(Path(self.config), overrides=list(self.overrides), flags=dict(self.flags))


def _no_mark(event: str, data: dict) -> None:
    pass


def parse_seeds(text: str) -> list[int]:
    """``0-9`` (both ends included), ``0,3,7`` or a mix (``0-2,5``) -> the seeds in the order given; a repeated seed
    or a malformed item is a ConfigError naming ``--seeds``."""
    seeds: list[int] = []
    for item in (s.strip() for s in str(text).split(",")):
        span = _RANGE.match(item)
        if item.isdigit():
            seeds.append(int(item))
        elif span and int(span[1]) <= int(span[2]) and int(span[2]) - int(span[1]) < MAX_SEEDS:
            seeds.extend(range(int(span[1]), int(span[2]) + 1))
        else:
            raise ConfigError(f"--seeds {text!r}: {item!r} is not a seed or a range of seeds",
                              "write e.g. --seeds 0-9 or --seeds 0,3,7 (seeds are integers >= 0)")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"--seeds {text!r}: seed {repeated[0]} is given twice", "list each seed once")
    return seeds


def task_name(cfg: Any, seed: int) -> str:
    """The run name of a task: the config's ``output.name`` (else its data file's stem) and ``-s<seed>``."""
    from kansci.config.load import resolve_data_path

    path = resolve_data_path(cfg)
    base = cfg.output.name or (path.stem if path is not None and str(path) != "-" else "run")
    return f"{base}-s{seed}"


def sweep_tasks(loaded: Sequence[tuple[Path, Any]], seeds: Sequence[int] | None, overrides: Sequence[str],
                flags: dict[str, Any]) -> list[SweepTask]:
    """The tasks for ``loaded`` (config file, its loaded config) × ``seeds`` (None: each config's own seed), configs
    first. ``flags`` are the command line's explicit values; each task also gets an absolute ``output.dir`` (a task
    process, maybe on another machine, must write where the command line meant) and its own ``output.name``."""
    tasks: list[SweepTask] = []
    for path, cfg in loaded:
        if str(cfg.data.path) == "-":
            raise ConfigError(f"{path}: data.path '-' (standard input) cannot be read by a sweep's tasks",
                              "save the data to a file and set data.path to it")
        for seed in (seeds if seeds is not None else [cfg.seed]):
            own = {**{k: v for k, v in flags.items() if v is not None}, "seed": int(seed),
                   "output.dir": str(Path(cfg.output.dir).expanduser().resolve()),
                   "output.name": task_name(cfg, seed)}
            tasks.append(SweepTask(len(tasks), str(Path(path).resolve()), int(seed), tuple(overrides),
                                   tuple(sorted(own.items()))))
    return tasks


def run_task(task: SweepTask, mark: Mark = _no_mark) -> dict[str, Any]:
    """``kansci run`` on one task, inside its task process: fit, symbolify, plot (when ``plot.what`` names any
    figure). Marks ``fit`` once the run directory is trained, so a task that fails later still names it."""
    from kansci.pipeline import fit_run, symbolify_run

    cfg = task.load()
    fit = fit_run(cfg)
    mark("fit", {"run_dir": str(fit.run), "fit_test_r2": float(fit.metrics["test_r2"])})
    sym = symbolify_run(fit.run, cfg)
    if cfg.plot.what:
        from kansci.pipeline import plot_run

        plot_run(fit.run, what=list(cfg.plot.what), formats=list(cfg.plot.format), dpi=cfg.plot.dpi)
    if hasattr(sym, "results"):  # several targets: "a = ...; b = ..." and the lowest formula test R²
        formula = "; ".join(f"{t} = {r.formula.text}" for t, r in zip(sym.targets, sym.results))
        r2s = [r.metrics.get("formula_test_r2") for r in sym.results]
        test_r2 = min(r2s) if all(isinstance(v, float) for v in r2s) else None
    else:
        formula, test_r2 = sym.formula.text, sym.metrics.get("formula_test_r2")
    return {"run_dir": str(fit.run), "formula": formula, "test_r2": test_r2,
            "fit_test_r2": float(fit.metrics["test_r2"])}


def outcome_row(task: SweepTask, outcome: dict[str, Any]) -> dict[str, Any]:
    """The summary row of a task from :func:`~kansci.bench.executor.supervise`'s outcome."""
    row: dict[str, Any] = {c: None for c in COLUMNS}
    row.update(outcome.get("events", {}).get("fit", {}))
    row.update(outcome.get("row") or {})
    row.pop("t", None)
    row.update(config=task.config, seed=task.seed, status=outcome["status"], elapsed_s=outcome.get("elapsed_s"),
               error=" ".join(str(outcome.get("error") or "").split())[:500] or None)
    return {c: row[c] for c in COLUMNS}


def run_sweep(tasks: Sequence[SweepTask], *, workers: int | None = None, scheduler: str | None = None,
              log: Callable[[str], None] = lambda s: None, task_fn: Callable[[Any, Mark], dict] = run_task,
              time_limit_s: float = math.inf) -> list[dict[str, Any]]:
    """Run every task (``task_fn``: :func:`run_task`, or a stand-in in tests) on local worker processes (``workers``,
    default: cores) or on the Dask scheduler at ``scheduler``; return one row per task (:data:`COLUMNS`) in task
    order. ``time_limit_s`` bounds each task (hard kill; default: none). A progress line per finished task goes to
    ``log``. On Ctrl-C the running task processes are killed (their run directories say they are incomplete) and
    KeyboardInterrupt propagates."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}", "pass e.g. --workers 4")
    call = functools.partial(supervise, task_fn, limits=Limits(budget_s=time_limit_s, score_s=math.inf))
    rows: dict[int, dict[str, Any]] = {}
    t0 = time.perf_counter()
    with make_executor(workers, scheduler) as executor:
        for k, (task, outcome) in enumerate(executor.map_unordered(call, list(tasks)), 1):
            row = rows[task.index] = outcome_row(task, outcome)
            what = row["formula"] if row["status"] == "ok" else row["error"]
            log(f"[{k}/{len(tasks)}] {Path(task.config).name} seed {task.seed}: {row['status']} "
                f"({time.perf_counter() - t0:.1f} s) {what or ''}"[:300])
    return [rows[t.index] for t in tasks]


def write_summary(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """The summary table as a CSV (:data:`COLUMNS`), written to a temporary name and renamed into place."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_csv_rows(Path(path), COLUMNS, [{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
