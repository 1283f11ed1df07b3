"""The ``kansci`` command line (Typer). Thin: parse options -> build a config -> call the pipeline -> render.

Exit codes: 0 ok, 1 runtime failure (FitError, internal error), 2 bad input or usage, 130 interrupted. Results go to
stdout, progress and logs to stderr. No traceback is printed unless the global ``--debug`` flag is given.
Config precedence everywhere: schema defaults < YAML file < ``--set a.b=v`` < explicit flags.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional, TypeVar

import typer

from kansci import __version__
from kansci import cli_render as render
from kansci import cli_tools
from kansci.cli_tools import SetOpt
from kansci.config import Config, default_config, line_of, load_config
from kansci.errors import ConfigError, KansciError, RunDirError

__all__ = ["app", "main"]

app = typer.Typer(name="kansci", help="Symbolic regression with Kolmogorov-Arnold Networks: from a CSV to a formula.",
                  add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)

F = TypeVar("F", bound=Callable[..., Any])
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="YAML experiment config")]
RunArg = Annotated[str, typer.Argument(help="run directory, or 'latest' (newest run under --out)")]
DEFAULT_RUNS = default_config().output.dir


# ------------------------------------------------------------------------------------------------ error handling
_STATE = {"debug": False}        # set by the root callback on every invocation
# typer's own exit/usage exceptions pass through the guard (typer >= 0.20 vendors click, older ones use click's)
_PASS_THROUGH = (typer.Exit, typer.Abort, *[c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"])


def command(group: typer.Typer, name: str) -> Callable[[F], F]:
    """Register ``fn`` as ``group``'s command ``name``, mapping exceptions to messages and exit codes."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except _PASS_THROUGH:
                raise
            except KeyboardInterrupt:
                render.err("error: interrupted")
                raise typer.Exit(130) from None
            except Exception as exc:  # noqa: BLE001 - the CLI boundary: every failure becomes a message + exit code
                render.err(render.format_error(exc, debug=_STATE["debug"]))
                raise typer.Exit(exc.exit_code if isinstance(exc, KansciError) else 1) from None

        group.command(name)(guarded)
        return fn

    return decorate


from kansci import cli_bench  # noqa: E402  (needs `command` above)

cli_bench.register(command)
app.add_typer(cli_bench.bench_app, name="bench")


def main() -> None:
    """Console-script entry point (``kansci``)."""
    try:
        app()
    except KeyboardInterrupt:
        render.err("error: interrupted")
        raise SystemExit(130) from None


def _show_version(value: bool) -> None:
    if value:
        render.out(f"kansci {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="print the version and exit")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
) -> None:
    _STATE["debug"] = debug


# ------------------------------------------------------------------------------------------------ option parsing
def _json_list(text: str | None, option: str, example: str) -> list[Any] | None:
    """``2,5,1`` or ``[2,[5,2],1]`` -> list (parsed as JSON, never evaluated); None stays None."""
    if text is None:
        return None
    body = text.strip()
    try:
        value = json.loads(body if body.startswith("[") else f"[{body}]")
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise ConfigError(f"{option} {text!r}: not a comma-separated list", f"write e.g. {option} {example}")
    return value


def _names(text: str | None, option: str) -> list[str] | None:
    """``a,b,c`` -> ["a", "b", "c"]; None stays None."""
    if text is None:
        return None
    names = [s.strip() for s in text.split(",")]
    if not all(names):
        raise ConfigError(f"{option} {text!r}: empty name in the list", f"write e.g. {option} a,b,c")
    return names


def _width(text: str | None) -> str | list[Any] | None:
    if text is not None and text.strip() == "auto":
        return "auto"
    return _json_list(text, "--width", "2,5,1 or '[2,[5,2],1]' or auto")


def _check_library(cfg: Config) -> None:
    """Unknown primitive names and bad custom primitives are config errors, found before any training."""
    from kansci.symbolic.primitives import build_library

    custom = [{k: v for k, v in c.model_dump().items() if v is not None} for c in cfg.symbolic.custom]
    try:
        build_library(cfg.symbolic.lib, custom)
    except KansciError as exc:
        key = "symbolic.lib"
        for i, c in enumerate(cfg.symbolic.custom):  # an error about a custom primitive points at its entry
            if repr(c.name) in exc.message or f"#{i + 1}" in exc.message:
                key = f"symbolic.custom.{i}.expr" if "expr" in exc.message or "formula" in exc.message.lower() \
                    else f"symbolic.custom.{i}"
                break
        raise ConfigError(f"{line_of(cfg, key)}: {key}: {exc.message}", exc.hint) from None


def _check_data(cfg: Config) -> None:
    """The data file exists, parses, has the configured columns, and fits model.width (for ``config validate``;
    ``fit`` and ``run`` find the same errors, with the same file/line/key, when they load the data)."""
    from kansci import pipeline

    if cfg.data.path is not None:
        pipeline.check_width(cfg, pipeline.load_data(cfg))


def _file_overrides(path: Path) -> list[str]:
    """The keys a YAML config file sets, as ``key=value`` overrides (values taken after validation)."""
    import yaml

    cfg = load_config(path)                               # reports the file's own errors with line numbers
    values = cfg.model_dump(mode="json")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: list[str] = []

    def walk(node: Any, val: Any, prefix: str) -> None:
        for key, sub in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(sub, dict):
                walk(sub, val[key], dotted + ".")
            elif sub is not None or not isinstance(val[key], dict):      # "train:" alone sets nothing
                found.append(f"{dotted}={json.dumps(val[key])}")

    walk(raw, values, "")
    return found


def _run_config(run: Path, config: Path | None, sets: list[str] | None, flags: dict[str, Any]) -> Config:
    """Config for a step on an existing run: the run's config.yaml < ``--config`` file < ``--set`` < flags."""
    base = run / "config.yaml"
    if not base.is_file():
        raise RunDirError(f"{base}: missing", f"is {run} a complete kansci run directory? re-run `kansci fit`")
    layered = _file_overrides(config) if config is not None else []
    return load_config(base, overrides=[*layered, *(sets or [])], flags=flags, extra_validators=[_check_library])


# ------------------------------------------------------------------------------------------------ commands
@command(app, "fit")
def fit(
    data: Annotated[Optional[Path], typer.Argument(help="CSV file with a header row (or set data.path)")] = None,
    target: Annotated[Optional[str], typer.Option(help="target column (default: the last column)")] = None,
    inputs: Annotated[Optional[str], typer.Option(help="input columns a,b,c (default: all others)")] = None,
    width: Annotated[Optional[str], typer.Option(help="layer widths: 2,5,1 or '[2,[5,2],1]' or auto")] = None,
    grids: Annotated[Optional[str], typer.Option(help="grid-extension schedule, e.g. 3,5,10")] = None,
    steps: Annotated[Optional[int], typer.Option(help="optimizer steps per grid stage")] = None,
    lamb: Annotated[Optional[float], typer.Option(help="sparsity regularization strength")] = None,
    seed: Annotated[Optional[int], typer.Option(help="run seed")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda")] = None,
    out: Annotated[Optional[Path], typer.Option(help=f"folder for run directories (default: {DEFAULT_RUNS}/)")] = None,
    name: Annotated[Optional[str], typer.Option(help="run name (default: the data file's stem)")] = None,
    test_frac: Annotated[Optional[float], typer.Option(help="fraction of rows held out for testing")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    resume: Annotated[Optional[Path], typer.Option(
        help="continue an interrupted run (its own config and data) in a new run directory")] = None,
) -> None:
    """Train a KAN on a CSV and write a run directory. Ctrl-C saves a checkpoint; --resume RUN continues it."""
    from kansci import pipeline

    flags = {"data.path": data, "data.target": target, "data.inputs": _names(inputs, "--inputs"),
             "model.width": _width(width), "train.grids": _json_list(grids, "--grids", "3,5,10"),
             "train.steps": steps, "train.lamb": lamb, "seed": seed, "model.device": device, "output.dir": out,
             "output.name": name, "data.test_frac": test_frac}
    if resume is not None:
        changed = [k for k, v in flags.items() if v is not None and k not in ("output.dir", "output.name")]
        if changed or config is not None or sets:
            raise typer.BadParameter(
                "--resume continues a run with its own config; only --out and --name may be given "
                f"(drop {', '.join(changed) or '--config/--set'})", param_hint="--resume")
        if not (resume / "checkpoint.pt").is_file():
            raise RunDirError(f"{resume}: no checkpoint.pt to resume from",
                              "pass a run directory written by an interrupted `kansci fit`")
        cfg = load_config(resume / "config.yaml", flags={"output.dir": out, "output.name": name})
    else:
        cfg = load_config(config, overrides=sets or [], flags=flags, extra_validators=[_check_library])
    stop = pipeline.StopRequest()
    with render.FitProgress() as progress, _interruptible(stop, progress.log):
        try:
            result = pipeline.fit_run(cfg, progress=progress, log=progress.log, stop=stop, resume=resume)
        except pipeline.FitInterrupted as exc:
            render.out(f"interrupted: checkpoint saved in {exc.run}")
            render.out(f"resume with: kansci fit --resume {exc.run}")
            raise typer.Exit(130) from None
    render.print_fit(result.run, result.metrics)


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
def show(run: RunArg, out: Annotated[Optional[Path], typer.Option(help="where 'latest' looks")] = None) -> None:
    """Print a run's summary: config highlights, width, metrics, formula."""
    from kansci.rundir import load_model, resolve_run

    path = resolve_run(run, out or DEFAULT_RUNS)
    load_model(path)  # a run whose weights are missing, damaged or unsafe is not reported as fine
    render.print_run_summary(path, _run_config(path, None, None, {}))


@command(app, "symbolify")
def symbolify(
    run: RunArg,
    lib: Annotated[Optional[str], typer.Option(help="primitives to try, e.g. sin,cos,x^2 (see `kansci lib list`)")] = None,
    r2_min: Annotated[Optional[float], typer.Option(help="minimum R² of an edge fit")] = None,
    complexity_weight: Annotated[Optional[float], typer.Option(help="score penalty per unit of complexity")] = None,
    prune: Annotated[Optional[bool], typer.Option("--prune/--no-prune", help="prune before symbolic fitting")] = None,
    node_th: Annotated[Optional[float], typer.Option(help="node attribution threshold for pruning")] = None,
    edge_th: Annotated[Optional[float], typer.Option(help="edge attribution threshold for pruning")] = None,
    precision: Annotated[Optional[int], typer.Option(help="significant digits shown (display only)")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="where 'latest' looks")] = None,
) -> None:
    """Turn a trained run into a closed-form formula (writes RUN/symbolic/)."""
    from kansci import pipeline
    from kansci.rundir import resolve_run

    path = resolve_run(run, out or DEFAULT_RUNS)
    flags = {"symbolic.lib": _names(lib, "--lib"), "symbolic.r2_min": r2_min,
             "symbolic.complexity_weight": complexity_weight, "prune.enabled": prune, "prune.node_th": node_th,
             "prune.edge_th": edge_th, "symbolic.precision": precision}
    cfg = _run_config(path, config, sets, flags)
    result = pipeline.symbolify_run(path, cfg, log=render.err)
    render.print_symbolify(result.formula.text, result.metrics, result.files)


def _plot(run: Path, cfg: Config, out: Path | None) -> list[Path]:
    figures = importlib.import_module("kansci.figures")
    return list(figures.plot_run(run, what=list(cfg.plot.what), formats=list(cfg.plot.format), dpi=cfg.plot.dpi,
                                 out=out, log=render.err))


@command(app, "plot")
def plot(
    run: RunArg,
    what: Annotated[Optional[str], typer.Option(help="figures: network,edges,loss,parity,pareto")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="file formats: png,svg,pdf")] = None,
    dpi: Annotated[Optional[int], typer.Option(help="resolution of raster figures")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for the figures (default: RUN/figures)")] = None,
    runs: Annotated[Optional[Path], typer.Option(help="where 'latest' looks")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Draw a run's figures and print every path written."""
    from kansci.rundir import resolve_run

    path = resolve_run(run, runs or DEFAULT_RUNS)
    flags = {"plot.what": _names(what, "--what"), "plot.format": _names(fmt, "--format"), "plot.dpi": dpi}
    for written in _plot(path, _run_config(path, config, sets, flags), out):
        render.out(str(written))


@command(app, "run")
def run_all(
    config: Annotated[Path, typer.Argument(help="YAML experiment config (data.path relative to the file)")],
    sets: SetOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for run directories")] = None,
    name: Annotated[Optional[str], typer.Option(help="run name")] = None,
    seed: Annotated[Optional[int], typer.Option(help="run seed")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda")] = None,
) -> None:
    """fit -> symbolify -> plot with one config; prints the formula, the metrics and the run path."""
    from kansci import pipeline

    flags = {"output.dir": out, "output.name": name, "seed": seed, "model.device": device}
    cfg = load_config(config, overrides=sets or [], flags=flags, extra_validators=[_check_library])
    with render.FitProgress() as progress:
        fitted = pipeline.fit_run(cfg, progress=progress, log=progress.log)
    render.print_fit(fitted.run, fitted.metrics)
    result = pipeline.symbolify_run(fitted.run, cfg, log=render.err)
    render.print_symbolify(result.formula.text, result.metrics)
    written = _plot(fitted.run, cfg, None)
    render.out(f"figures: {len(written)} file(s) in {fitted.run / 'figures'}")
    render.out(f"run: {fitted.run}")


cli_tools.register(command, check_library=_check_library, check_data=_check_data)
for _name, _group in cli_tools.GROUPS.items():
    app.add_typer(_group, name=_name)
