"""The pipeline commands: ``kansci fit``, ``show``, ``symbolify``, ``plot``, ``run`` and ``predict`` (the last one
defined in :mod:`.predict`). Each parses its options into a config, calls :mod:`kansci.pipeline`, and renders the
result (``--json``: one document from :mod:`.jsondoc`)."""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from kansci.cli import jsondoc, render
from kansci.cli.app import app, command
from kansci.cli.options import (
    DEFAULT_RUNS,
    ConfigOpt,
    JsonOpt,
    RunArg,
    SetOpt,
    UnitsOpt,
    check_library,
    json_list,
    name_list,
    run_config,
    units_flags,
    width_spec,
)
from kansci.cli.predict import predict
from kansci.config import Config, load_config


# ------------------------------------------------------------------------------------------------ commands
@command(app, "fit")
def fit(
    data: Annotated[Path | None, typer.Argument(help="CSV file with a header row (or set data.path)")] = None,
    target: Annotated[str | None, typer.Option(
        help="target column (default: the last column); a,b for several targets, one formula each")] = None,
    inputs: Annotated[str | None, typer.Option(help="input columns a,b,c (default: all others)")] = None,
    width: Annotated[str | None, typer.Option(help="layer widths: 2,5,1 or '[2,[5,2],1]' or auto")] = None,
    grids: Annotated[str | None, typer.Option(help="grid-extension schedule, e.g. 3,5,10")] = None,
    steps: Annotated[int | None, typer.Option(help="optimizer steps per grid stage")] = None,
    lamb: Annotated[float | None, typer.Option(help="sparsity regularization strength")] = None,
    seed: Annotated[int | None, typer.Option(help="run seed")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    out: Annotated[Path | None, typer.Option(help=f"folder for run directories (default: {DEFAULT_RUNS}/)")] = None,
    name: Annotated[str | None, typer.Option(help="run name (default: the data file's stem)")] = None,
    test_frac: Annotated[float | None, typer.Option(help="fraction of rows held out for testing")] = None,
    units: UnitsOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    resume: Annotated[Path | None, typer.Option(
        help="continue an interrupted run (its own config and data) in a new run directory")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a KAN on a CSV and write a run directory. Ctrl-C saves a checkpoint; --resume RUN continues it."""
    from kansci import pipeline

    flags = {"data.path": data, "data.target": target, "data.inputs": name_list(inputs, "--inputs"),
             "model.width": width_spec(width), "train.grids": json_list(grids, "--grids", "3,5,10"),
             "train.steps": steps, "train.lamb": lamb, "seed": seed, "model.device": device, "output.dir": out,
             "output.name": name, "data.test_frac": test_frac, **units_flags(units)}
    if resume is not None:
        changed = [k for k, v in flags.items() if v is not None and k not in ("output.dir", "output.name")]
        if changed or config is not None or sets:
            raise typer.BadParameter(
                "--resume continues a run with its own config; only --out and --name may be given "
                f"(drop {', '.join(changed) or '--config/--set'})", param_hint="--resume")
        from kansci.rundir.state import resume_checkpoint

        if resume_checkpoint(resume) is None:
            render.err(f"{resume}: stopped before its first checkpoint; training starts over from its config and data")
        cfg = load_config(resume / "config.yaml", flags={"output.dir": out, "output.name": name})
    else:
        cfg = load_config(config, overrides=sets or [], flags=flags, extra_validators=[check_library])
    stop = pipeline.StopRequest()
    dataset = None if resume is not None else pipeline.load_data(cfg, progress=_ReadProgress(cfg))
    with render.FitProgress() as progress, _interruptible(stop, progress.log):
        try:
            result = pipeline.fit_run(cfg, progress=progress, log=progress.log, stop=stop, resume=resume,
                                      dataset=dataset)
        except pipeline.FitInterrupted as exc:
            if json_out:
                render.out_json(jsondoc.fit_interrupted_doc(exc.run))
            else:
                render.out(f"interrupted: checkpoint saved in {exc.run}")
                render.out(f"resume with: kansci fit --resume {exc.run}")
            raise typer.Exit(130) from None
    if json_out:
        render.out_json(jsondoc.fit_doc(result.run, result.metrics))
    else:
        render.print_fit(result.run, result.metrics)
    if stop.requested:  # Ctrl-C after the last step, while the run directory was written: it is complete
        render.err(f"error: interrupted after training; the run directory is complete: {result.run}")
        raise typer.Exit(130)


class _ReadProgress:
    """Reading progress on stderr for a data file above :attr:`MIN_BYTES`: a line at every tenth of the file."""

    MIN_BYTES = 4_000_000

    def __init__(self, cfg: Config) -> None:
        self.name = Path(str(cfg.data.path)).name if cfg.data.path else "data"
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if total < self.MIN_BYTES:
            return
        tenth = 10 * done // max(total, 1)
        if tenth > self.shown:
            self.shown = tenth
            render.err(f"reading {self.name}: {10 * tenth}% ({done / 1e6:.0f} of {total / 1e6:.0f} MB)")


@contextlib.contextmanager
def _interruptible(stop: Any, log: Callable[[str], None]) -> Iterator[None]:
    """First Ctrl-C: finish the current step, save a checkpoint, exit 130. Second Ctrl-C: abort at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        log("interrupt: stopping after this step and saving a checkpoint (Ctrl-C again to abort)")

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@command(app, "show")
def show(run: RunArg, out: Annotated[Path | None, typer.Option(help="where 'latest' looks")] = None,
         json_out: JsonOpt = False) -> None:
    """Print a run's summary: config highlights, width, metrics, formula; for a run that is not complete, its state
    and how to finish it."""
    from kansci.pipeline.common import load_model
    from kansci.rundir import read_state, resolve_run

    path = resolve_run(run, out or DEFAULT_RUNS, allow_incomplete=True)
    state = read_state(path)
    if not state.complete:
        _show_incomplete(state, json_out)
        return
    load_model(path)  # a run whose weights are missing, damaged or unsafe is not reported as fine
    cfg = run_config(path, None, None, {})
    if json_out:
        render.out_json(jsondoc.show_doc(path, cfg))
    else:
        render.print_run_summary(path, cfg)


def _show_incomplete(state: Any, json_out: bool) -> None:
    """``kansci show`` of a run that is not complete (:class:`kansci.rundir.state.RunState`)."""
    run = state.run
    resume = None if state.status == "running" else f"kansci fit --resume {run}"
    if json_out:
        render.out_json(jsondoc.envelope(
            "show", run=str(run), status=state.status, complete=False, description=state.describe(),
            checkpoint=(state.fields.get("checkpoint") or {"step": None}) if state.checkpoint else None,
            resume_command=resume))
        return
    render.out(f"run: {run}")
    render.out(f"status: {state.describe()}")
    render.out(f"checkpoint: {state.checkpoint_text()}")
    if resume:
        render.out(f"resume with: {resume}")


@command(app, "symbolify")
def symbolify(
    run: RunArg,
    lib: Annotated[str | None, typer.Option(help="primitives to try, e.g. sin,cos,x^2 (see `kansci lib list`)")] = None,
    r2_min: Annotated[float | None, typer.Option(help="minimum R² of an edge fit")] = None,
    complexity_weight: Annotated[float | None, typer.Option(help="score penalty per unit of complexity")] = None,
    prune: Annotated[bool | None, typer.Option("--prune/--no-prune", help="prune before symbolic fitting")] = None,
    node_th: Annotated[float | None, typer.Option(help="node attribution threshold for pruning")] = None,
    edge_th: Annotated[float | None, typer.Option(help="edge attribution threshold for pruning")] = None,
    precision: Annotated[int | None, typer.Option(help="significant digits shown (display only)")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    out: Annotated[Path | None, typer.Option(help="where 'latest' looks")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Turn a trained run into a closed-form formula (writes RUN/symbolic/); phase times go to stderr."""
    from kansci import pipeline
    from kansci.rundir import resolve_run

    path = resolve_run(run, out or DEFAULT_RUNS)
    flags = {"symbolic.lib": name_list(lib, "--lib"), "symbolic.r2_min": r2_min,
             "symbolic.complexity_weight": complexity_weight, "prune.enabled": prune, "prune.node_th": node_th,
             "prune.edge_th": edge_th, "symbolic.precision": precision}
    cfg = run_config(path, config, sets, flags)
    result = pipeline.symbolify_run(path, cfg, log=render.err)
    if isinstance(result, pipeline.TargetsResult):  # several targets: one formula each
        _print_targets(path, result, json_out)
    elif json_out:
        render.out_json(jsondoc.symbolify_doc(path, result.formula, result.metrics, result.files))
    else:
        render.print_symbolify(result.formula.text, result.metrics, result.files)


def _print_targets(run: Path, result: Any, json_out: bool, files: bool = True) -> None:
    """The formulas of a run with several targets (a :class:`kansci.pipeline.TargetsResult`)."""
    if json_out:
        render.out_json(jsondoc.symbolify_targets_doc(run, result))
        return
    render.print_targets([(f"{f.target} = {f.text}", r.metrics) for f, r in zip(result.formulas, result.results)],
                         result.files if files else ())


def _plot(run: Path, cfg: Config, out: Path | None) -> list[Path]:
    from kansci.pipeline import plot_run  # lazily: matplotlib loads only for commands that draw

    return list(plot_run(run, what=list(cfg.plot.what), formats=list(cfg.plot.format), dpi=cfg.plot.dpi,
                                 out=out, log=render.err))


@command(app, "plot")
def plot(
    run: Annotated[str, typer.Argument(help="run directory, or 'latest' (newest run under --runs)")],
    what: Annotated[str | None, typer.Option(help="figures: network,edges,loss,parity,pareto")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="file formats: png,svg,pdf")] = None,
    dpi: Annotated[int | None, typer.Option(help="resolution of raster figures")] = None,
    figures: Annotated[Path | None, typer.Option(help="folder for the figures (default: RUN/figures)")] = None,
    old_out: Annotated[Path | None, typer.Option(
        "--out", help="deprecated spelling of --figures (removed in the next release)")] = None,
    runs: Annotated[Path | None, typer.Option(help="where 'latest' looks")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Draw a run's figures and print every path written."""
    from kansci.rundir import resolve_run

    if old_out is not None:
        if figures is not None:
            raise typer.BadParameter("give --figures only (--out is its deprecated spelling)", param_hint="--out")
        render.err(f"warning: `kansci plot --out` is deprecated and will be removed in the next release; use "
                   f"--figures {old_out} (--out will then mean where 'latest' looks, as in fit, show and symbolify)")
        figures = old_out
    path = resolve_run(run, runs or DEFAULT_RUNS)
    flags = {"plot.what": name_list(what, "--what"), "plot.format": name_list(fmt, "--format"), "plot.dpi": dpi}
    for written in _plot(path, run_config(path, config, sets, flags), figures):
        render.out(str(written))


@command(app, "run")
def run_all(
    configs: Annotated[list[Path], typer.Argument(
        help="YAML experiment config(s) (data.path relative to the file); several make a sweep")],
    sets: SetOpt = None,
    out: Annotated[Path | None, typer.Option(help="folder for run directories")] = None,
    name: Annotated[str | None, typer.Option(help="run name")] = None,
    seed: Annotated[int | None, typer.Option(help="run seed")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    units: UnitsOpt = None,
    seeds: Annotated[str | None, typer.Option(help="sweep: run every config with each seed, e.g. 0-9 or 0,3,7")] = None,
    workers: Annotated[int | None, typer.Option(help="sweep: local worker processes (default: cores)")] = None,
    scheduler: Annotated[str | None, typer.Option(help="sweep: Dask scheduler address, e.g. tcp://host:8786")] = None,
    summary: Annotated[Path | None, typer.Option(
        help="sweep: the summary CSV (default: <runs folder>/sweep-<time>.csv)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="sweep: print the summary as one JSON document")] = False,
) -> None:
    """fit -> symbolify -> plot with one config; prints the formula, the metrics and the run path. Several configs,
    or --seeds, make a sweep: every (config, seed) runs as its own task on local processes or a Dask cluster, then
    one summary table is printed and written (see docs/cli_json.md for --json)."""
    from kansci import pipeline

    flags = {"output.dir": out, "output.name": name, "seed": seed, "model.device": device, **units_flags(units)}
    if seeds is not None and seed is not None:
        raise typer.BadParameter("give --seed (one run) or --seeds (a sweep), not both", param_hint="--seeds")
    if len(configs) > 1 or seeds is not None or workers is not None or scheduler or summary is not None or json_out:
        from kansci.cli.sweep import run_sweep_command

        run_sweep_command(configs, seeds=seeds, sets=sets or [], flags=flags, workers=workers, scheduler=scheduler,
                          summary=summary, json_out=json_out)
        return
    (config,) = configs
    cfg = load_config(config, overrides=sets or [], flags=flags, extra_validators=[check_library])
    with render.FitProgress() as progress:
        fitted = pipeline.fit_run(cfg, progress=progress, log=progress.log)
    render.print_fit(fitted.run, fitted.metrics)
    result = pipeline.symbolify_run(fitted.run, cfg, log=render.err)
    if isinstance(result, pipeline.TargetsResult):
        _print_targets(fitted.run, result, False, files=False)
    else:
        render.print_symbolify(result.formula.text, result.metrics)
    written = _plot(fitted.run, cfg, None)
    render.out(f"figures: {len(written)} file(s) in {fitted.run / 'figures'}")
    render.out(f"run: {fitted.run}")


command(app, "predict")(predict)
