"""Terminal rendering for the CLI: progress on stderr, results on stdout, error lines.

Nothing here computes anything; it formats what :mod:`kansci.pipeline` returns or a run directory holds. Streams are
looked up at call time (``sys.stdout``/``sys.stderr``), so test runners that swap them capture everything.
"""
from __future__ import annotations

import json
import math
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from kansci.errors import ConfigError, KansciError

__all__ = ["out", "err", "out_json", "format_error", "FitProgress", "constant_lines", "metrics_lines", "print_fit",
           "print_symbolify", "print_run_summary", "table_lines"]


def out(text: str = "") -> None:
    """A line of results on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str = "") -> None:
    """A line of progress or diagnostics on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def out_json(doc: Mapping[str, Any]) -> None:
    """One JSON document on stdout (the ``--json`` output). NaN and infinities become ``null`` (JSON has neither),
    numpy scalars and arrays plain numbers and lists, paths (and anything else JSON has no type for) strings."""
    out(json.dumps(_plain(doc), indent=2, ensure_ascii=False, allow_nan=False, default=str))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_error(exc: BaseException, *, debug: bool = False) -> str:
    """The text printed on stderr for a failed command (without a trailing newline).

    A :class:`KansciError` gives ``error: <message> (hint: <hint>)``; a ConfigError with several issues (one message
    line each) is printed as is, with the hint on its own line. Anything else is an internal error. With ``debug``
    the traceback comes first.
    """
    lines = ["".join(traceback.format_exception(exc)).rstrip()] if debug else []
    if isinstance(exc, KansciError):
        if isinstance(exc, ConfigError) and len(exc.issues) > 1:
            lines.append(f"error: {exc.message}")
            if exc.hint:
                lines.append(f"hint: {exc.hint}")
        else:
            lines.append(f"error: {exc.one_line()}")
    else:
        text = " ".join(str(exc).split()) or "(no message)"
        lines.append(f"error: internal error: {type(exc).__name__}: {text}")
        if not debug:
            lines.append("hint: rerun with `kansci --debug ...` for a traceback, and report it")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ progress
class FitProgress:
    """Training progress on stderr: a rich bar when stderr is a terminal, else one plain line per callback.

    Use as a context manager; pass the instance as ``progress=`` (it is called with a
    :class:`kansci.train.Progress`) and its :meth:`log` as ``log=``.
    """

    def __init__(self, *, rich: bool | None = None) -> None:
        self._rich = sys.stderr.isatty() if rich is None else rich
        self._bar: Any = None
        self._task: Any = None
        self._last_step = -1

    def __enter__(self) -> FitProgress:
        if self._rich:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("train {task.fields[train]} val {task.fields[val]}"), TimeElapsedColumn(),
                console=Console(file=sys.stderr), transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __call__(self, p: Any) -> None:
        """``p``: a :class:`kansci.train.Progress` (step, total_steps, grid, train_loss, val_loss, phase)."""
        train, val = f"{p.train_loss:.3e}", f"{p.val_loss:.3e}"
        if self._bar is None:
            err(f"step {p.step}/{p.total_steps}  grid {p.grid}  train loss {train}  val loss {val}")
            return
        desc = f"grid {p.grid:>3}"
        if self._task is None or p.step < self._last_step:        # a new architecture candidate starts over
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(desc, total=p.total_steps, train=train, val=val)
        self._bar.update(self._task, completed=p.step, total=p.total_steps, description=desc, train=train, val=val)
        self._last_step = p.step

    def log(self, message: str) -> None:
        """A log line on stderr (printed above the bar when one is shown)."""
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            err(message)


# ------------------------------------------------------------------------------------------------------ results
def _num(v: Any, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "n/a"


def metrics_lines(m: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``train``/``test`` RMSE and R² rows from a metrics dict with keys ``{prefix}train_rmse`` etc."""
    rows = []
    for part in ("train", "test"):
        rmse, r2 = m.get(f"{prefix}{part}_rmse"), m.get(f"{prefix}{part}_r2")
        if rmse is not None or r2 is not None:
            rows.append(f"  {part:<5} RMSE {_num(rmse, '.4e')}  R² {_num(r2, '.10f')}")
    return rows


def print_fit(run: Path, metrics: Mapping[str, Any]) -> None:
    out(f"run: {run}")
    out(f"width: {json.dumps(metrics.get('width'))}  steps: {metrics.get('steps')}  "
        f"device: {metrics.get('device')}  time: {_num(metrics.get('wall_s'), '.1f')} s")
    out("model vs data:")
    for line in metrics_lines(metrics):
        out(line)
    per_target_lines(metrics)


def per_target_lines(metrics: Mapping[str, Any]) -> None:
    """A run with several targets: each target's train/test RMSE and R² (the lines above are their mean)."""
    per = metrics.get("per_target")
    if isinstance(per, Mapping):
        for name, m in per.items():
            out(f"  target {name}:")
            for line in metrics_lines(m):
                out(f"  {line}")


def print_targets(rows: Sequence[tuple[str, Mapping[str, Any]]], files: Sequence[Path] = ()) -> None:
    """One formula per target: ``rows`` of (``"name = formula"``, that formula's metrics), then the files."""
    for k, (text, metrics) in enumerate(rows):
        if k:
            out()
        print_symbolify(text, metrics)
    if files:
        out("files:")
        for f in files:
            out(f"  {f}")


def constant_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The formula with value(±stderr) for each fitted constant, the fitted constants as ``value ± stderr``, and the
    snapped ones with the exact value they became, from ``metrics`` (``formula_with_uncertainties``, ``constants``);
    no lines when the metrics have none (a run symbolified by an older kansci)."""
    constants = [c for c in metrics.get("constants") or [] if isinstance(c, Mapping)]
    fitted = [str(c.get("text", "")) for c in constants if not c.get("snapped")]
    snapped = [str(c.get("text", "")) for c in constants if c.get("snapped")]
    lines = []
    if fitted and metrics.get("formula_with_uncertainties"):
        lines.append(f"with uncertainties: {metrics['formula_with_uncertainties']}")
    if fitted:
        lines.append(f"constants: {', '.join(fitted)}")
    if snapped:
        lines.append(f"snapped to exact values: {', '.join(snapped)}")
    return lines


def print_symbolify(formula_text: str, metrics: Mapping[str, Any], files: Sequence[Path] = ()) -> None:
    out(f"formula: {formula_text}")
    for line in constant_lines(metrics):
        out(line)
    if metrics.get("found_by"):
        out(f"found by: {metrics['found_by']}")
    for line in metrics.get("decomposition") or []:
        out(f"  {line}")
    for line in units_lines(metrics):
        out(line)
    out("formula vs data:")
    for line in metrics_lines(metrics, "formula_"):
        out(line)
    if any(f"network_{part}_rmse" in metrics for part in ("train", "test")):
        out("network vs data:")
        for line in metrics_lines(metrics, "network_"):
            out(line)
    if metrics.get("warning"):
        out(f"warning: {metrics['warning']}")
    if "formula_vs_model_rmse" in metrics or "formula_vs_model_max_abs" in metrics:
        out(f"formula vs model: RMSE {_num(metrics.get('formula_vs_model_rmse'), '.4e')}  "
            f"max |diff| {_num(metrics.get('formula_vs_model_max_abs'), '.4e')}")
    if files:
        out("files:")
        for f in files:
            out(f"  {f}")


def units_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The formula's units check, after the reduced form it was searched in (``units: F = ... · Φ(...)``)."""
    units = metrics.get("units")
    if not isinstance(units, Mapping):
        return []
    lines = [f"units: {units['reduced_form']}"] if units.get("reduced_form") else []
    return lines + [str(units.get("message", ""))]


def table_lines(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A plain left-aligned text table (no box drawing, so it pipes and greps well)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def print_run_summary(run: Path, cfg: Any) -> None:
    """The ``kansci show`` summary of a run directory. ``cfg`` is the run's resolved :class:`~kansci.config.Config`."""
    from kansci import rundir

    metrics = rundir.read_json(run, "metrics.json")
    data = _read_json(run / "dataset.json") or {}
    model = _read_json(run / "model.json") or {}
    out(f"run: {run}")
    out(f"status: {metrics.get('status', 'unknown')}")
    split = data.get("split") or {}
    if data:
        out(f"data: {data.get('source')} ({data.get('n_rows')} rows: {len(split.get('train', []))} train, "
            f"{len(split.get('test', []))} test; normalize {cfg.data.normalize})")
        target = data.get("target")
        target = ", ".join(target) if isinstance(target, list) else target
        out(f"columns: {', '.join(data.get('inputs', []))} -> {target}")
    width = metrics.get("width", model.get("width"))
    out(f"model: width {json.dumps(width)}, k {cfg.model.k}, grid {model.get('grid')}, {cfg.model.dtype}, "
        f"device {metrics.get('device', cfg.model.device)}")
    t = cfg.train
    out(f"train: {t.optimizer}, {t.steps} steps per grid in {json.dumps(t.grids)}, lamb {t.lamb:g}, "
        f"seed {cfg.seed}; ran {metrics.get('steps')} steps in {_num(metrics.get('wall_s'), '.1f')} s")
    search = metrics.get("architecture_search") or []
    if search:
        out("architecture search:")
        for row in table_lines(["width", "val R²"], [[json.dumps(r.get("width")), _num(r.get("val_r2"), ".10f")]
                                                       for r in search]):
            out(f"  {row}")
    out("model vs data:")
    for line in metrics_lines(metrics):
        out(line)
    per_target_lines(metrics)
    from kansci.rundir.targets import read_targets

    targets = read_targets(run / "symbolic")
    formula = run / "symbolic" / "formula.txt"
    if targets:
        print_targets([((folder / "formula.txt").read_text(encoding="utf-8").strip()
                        if (folder / "formula.txt").is_file() else f"{name} = none",
                        _read_json(folder / "metrics.json") or {}) for name, folder in targets])
    elif formula.is_file():
        sym = _read_json(run / "symbolic" / "metrics.json") or {}
        print_symbolify(formula.read_text(encoding="utf-8").strip(), sym)
    else:
        out(f"formula: none yet (run `kansci symbolify {run}`)")
