"""``kansci run a.yaml b.yaml --seeds 0-9``: a sweep of every (config, seed) pair (see :mod:`kansci.bench.sweep`).

Called by ``kansci run`` (:mod:`.run`) when it is given several configs, ``--seeds``, ``--workers``, ``--scheduler``,
``--summary`` or ``--json``; one config without them runs in this process exactly as before. Every config is loaded
and checked before any task starts. The summary table goes to stdout (``--json``: one document), progress lines to
stderr, and the table as a CSV to ``--summary`` (default ``<runs folder>/sweep-<YYYYmmdd-HHMMSS>.csv``), written
once every task has finished. Exit code 0 when every task succeeded, 1 when any failed (each failure is a row with
its error), 130 on Ctrl-C (no summary is written; running tasks are stopped, their run directories say so).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from kansci.cli import jsondoc, render
from kansci.cli.options import check_library
from kansci.config import load_config


def run_sweep_command(configs: Sequence[Path], *, seeds: str | None, sets: Sequence[str], flags: dict[str, Any],
                      workers: int | None, scheduler: str | None, summary: Path | None, json_out: bool) -> None:
    """Load and check every config, run the tasks, print and write the summary; see the module doc."""
    from kansci.bench.sweep import parse_seeds, run_sweep, sweep_tasks, write_summary

    seed_list = parse_seeds(seeds) if seeds is not None else None
    loaded = [(Path(c), load_config(c, overrides=list(sets), flags=flags, extra_validators=[check_library]))
              for c in configs]
    tasks = sweep_tasks(loaded, seed_list, list(sets), flags)
    path = summary if summary is not None else _default_summary(Path(loaded[0][1].output.dir))
    where = (f"the Dask scheduler at {scheduler}" if scheduler
             else f"{workers} local worker process(es)" if workers else "local worker processes (one per core)")
    render.err(f"sweep: {len(tasks)} task(s) ({len(loaded)} config(s) x {len(seed_list or [None])} seed(s)) on "
               f"{where}")
    rows = run_sweep(tasks, workers=workers, scheduler=scheduler, log=render.err)
    written = write_summary(path, rows)
    failed = sum(r["status"] != "ok" for r in rows)
    if json_out:
        render.out_json(jsondoc.envelope("run", summary=str(written), tasks=len(rows), ok=len(rows) - failed,
                                         failed=failed, rows=rows))
    else:
        render.out(summary_table(rows))
        render.out(f"summary: {written}")
    if failed:
        render.err(f"error: {failed} of {len(rows)} task(s) failed (see the table and {written})")
        raise typer.Exit(1)


def _default_summary(folder: Path) -> Path:
    stem = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = folder / f"{stem}.csv", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.csv"
    return path


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as an aligned text table: config, seed, status, test R², formula (or the error), run directory."""
    head = ["config", "seed", "status", "test R²", "formula", "run"]
    body = []
    for r in rows:
        r2 = r.get("test_r2")
        what = r.get("formula") if r["status"] == "ok" else f"error: {r.get('error') or r['status']}"
        body.append([Path(r["config"]).name, str(r["seed"]), r["status"], "" if r2 is None else f"{r2:.6g}",
                     str(what or "")[:120], str(r.get("run_dir") or "")])
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body])
