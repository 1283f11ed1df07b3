"""``kansci bench feynman`` and ``kansci bench speed``: thin wrappers over :mod:`kansci.bench`."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from kansci.cli import jsondoc, render
from kansci.cli.app import app, command
from kansci.cli.options import JsonOpt

bench_app = typer.Typer(help="Benchmarks: Feynman equation recovery and training speed.", no_args_is_help=True)



@command(bench_app, "feynman")
def feynman(
    ids: Annotated[str | None, typer.Option(help="equation ids, e.g. I.6.2,II.6.15a")] = None,
    srbench: Annotated[bool, typer.Option(help="only the 97 equations SRBench scores")] = False,
    limit: Annotated[int | None, typer.Option(help="at most N equations")] = None,
    noise: Annotated[float, typer.Option(help="noise std as a fraction of RMS(y), train targets only")] = 0.0,
    seeds: Annotated[int, typer.Option(help="seeds per equation")] = 1,
    n_train: Annotated[int, typer.Option(help="training rows per task")] = 1000,
    n_test: Annotated[int, typer.Option(help="test rows per task")] = 1000,
    budget_s: Annotated[float, typer.Option(help="time budget per task in seconds (hard kill)")] = 60.0,
    workers: Annotated[int | None, typer.Option(help="local worker processes (default: cores)")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786")] = None,
    out: Annotated[Path, typer.Option(help="output folder (results.csv, summary.md, runs/)")] = Path("bench/feynman"),
    resume: Annotated[bool, typer.Option(help="skip tasks already in results.csv")] = False,
    equations: Annotated[Path | None, typer.Option(
        help="your own table of equations (CSV in the layout of the bundled Feynman table) instead of it")] = None,
    units: Annotated[bool, typer.Option(
        "--units", help="declare each variable's units (packaged Feynman units table): search dimensionless groups")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the Feynman suite (or your own --equations table) with the default discovery pipeline and score it the
    SRBench way. Progress lines with an ETA go to stderr."""
    from kansci.bench.feynman import run_feynman_bench

    summary = run_feynman_bench(
        ids=[s.strip() for s in ids.split(",") if s.strip()] if ids else None, srbench=srbench, limit=limit,
        noise=noise, seeds=seeds, n_train=n_train, n_test=n_test, budget_s=budget_s, workers=workers,
        scheduler=scheduler, out=out, resume=resume, log=render.err,
        command=" ".join(["kansci", *map(shlex.quote, sys.argv[1:])]), equations=equations, units=units,
    )
    if json_out:
        render.out_json(jsondoc.bench_doc(summary))
    else:
        render.out(summary.markdown)

@command(bench_app, "speed")
def speed(
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    repeats: Annotated[int, typer.Option(help="timed repeats per measurement (median reported)")] = 5,
    quick: Annotated[bool, typer.Option(help="small sizes, for a smoke test")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of the table")] = False,
) -> None:
    """KAN vs equal-parameter MLP: step time, peak memory, end-to-end pipeline, scaling."""
    from kansci.bench.speed import run_speed_bench

    report = run_speed_bench(device=device, repeats=repeats, quick=quick, log=render.err)
    render.out(report.to_json() if json_out else report.table())


app.add_typer(bench_app, name="bench")
