"""The glue from a run directory to figure files: ``kansci plot RUN``.

:func:`build_figures` reads a run directory (model, data, history, events, and the symbolic results when present),
runs one inspect pass on a seeded subsample of the TRAINING rows (normalized units, as the model sees them), and
hands plain arrays to :mod:`kansci.plots`; it returns matplotlib Figures and writes nothing. :func:`plot_run` renders
them to ``<out or RUN/figures>/<what>.<fmt>`` through :mod:`kansci.rundir` and returns the paths. The pieces (what is
read, the inspect pass, how each figure is drawn) are in :mod:`.figure_parts`.

A run with several targets gets ``network`` (the whole network, every output) and ``loss`` at the top, and for each
target, in its folder ``<dir>/`` (:mod:`kansci.rundir.targets`), that target's ``network`` (the network restricted to
its output, with its symbolic edges), ``edges``, ``parity``, ``pareto`` and ``structure``; the keys of
:func:`build_figures` are then ``network``, ``loss`` and ``<dir>/<kind>``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from kansci import plots, rundir
from kansci.atomic import all_or_nothing
from kansci.core.model import KAN
from kansci.core.subnet import output_subnet
from kansci.data import Dataset
from kansci.errors import ConfigError, RunDirError
from kansci.pipeline.common import load_model, load_run_data
from kansci.pipeline.figure_parts import (
    ALL,
    FORMATS,
    MARKED_EVENTS,
    NO_SYMBOLIC,
    RunContents,
    _quiet,
    draw,
    load_contents,
    network_view,
    node_activity,
    read_history,
    read_markers,
    sample_rows,
    spline_model,
)
from kansci.rundir.targets import target_dirs

__all__ = ["ALL", "FORMATS", "MARKED_EVENTS", "NO_SYMBOLIC", "RunContents", "build_figures", "check_formats",
           "check_what", "load_contents", "network_view", "node_activity", "plot_run", "read_history", "read_markers",
           "sample_rows", "spline_model"]
WHOLE = ("network", "loss")  # the figures of a run with several targets drawn once, for the whole network


def _choices(values: Sequence[str] | str, valid: Sequence[str], what: str) -> list[str]:
    """Validated, de-duplicated ``values`` in the order of ``valid``; items may be comma-separated lists."""
    items = [values] if isinstance(values, str) else list(values)
    picked: set[str] = set()
    for item in items:
        for part in str(item).split(","):
            name = part.strip().lower().lstrip(".")
            if not name:
                continue
            if name not in valid:
                raise ConfigError(f"unknown {what} '{part.strip()}'", f"use one or more of: {', '.join(valid)}")
            picked.add(name)
    if not picked:
        raise ConfigError(f"no {what} given", f"use one or more of: {', '.join(valid)}")
    return [v for v in valid if v in picked]


def check_what(what: Sequence[str] | str) -> list[str]:
    """Figure kinds in canonical order (network, edges, loss, parity, pareto, structure); ConfigError on unknown
    names."""
    return _choices(what, ALL, "figure kind")


def check_formats(formats: Sequence[str] | str) -> list[str]:
    """File formats in canonical order (png, svg, pdf); ConfigError on unknown names."""
    return _choices(formats, FORMATS, "figure format")


def build_figures(run: Path, what: Sequence[str] | str = ALL, *, log: Callable[[str], None] = _quiet,
                  max_points: int = 400, seed: int = 0) -> dict[str, Figure]:
    """The requested figures of ``run`` keyed by kind, in canonical order (several targets: see the module doc);
    kinds that cannot be drawn are left out and reported through ``log``. Reads the run directory, writes nothing.

    Raises:
        ConfigError: unknown kind or ``max_points < 2``. RunDirError: missing or corrupt run directory.
    """
    kinds = check_what(what)
    if not (isinstance(max_points, int) and max_points >= 2):
        raise ConfigError(f"max_points={max_points!r} must be an integer >= 2", "use e.g. 400")
    path = rundir.resolve_run(Path(run))
    ds = load_run_data(path)
    if ds.n_targets == 1:
        return draw(load_contents(path), kinds, log=log, max_points=max_points, seed=seed)
    model = load_model(path)
    if model.n_in != ds.n_inputs or model.n_out != ds.n_targets:
        raise RunDirError(f"{path / 'model.json'}: model has {model.n_in} inputs and {model.n_out} outputs but "
                          f"dataset.json lists {ds.n_inputs} and {ds.n_targets}",
                          "model.json and dataset.json come from different runs; re-run `kansci fit`")
    folders = target_dirs(ds.targets)
    each = [_target_contents(path, output_subnet(model, j), ds.for_target(j), path / "symbolic" / folder)
            for j, folder in enumerate(folders)]
    texts = [f"{c.dataset.target_name} = {(c.formula or {}).get('display') or (c.formula or {}).get('text')}"
             for c in each if c.formula is not None]
    figs = draw(RunContents(path, model, ds), [k for k in kinds if k in WHOLE], log=lambda m: _whole_log(m, log),
                max_points=max_points, seed=seed, title="; ".join(texts) if texts else None)
    per = [k for k in kinds if k != "loss"]
    for folder, c in zip(folders, each) if per else []:
        for kind, fig in draw(c, per, log=lambda m, f=folder: log(f"{f}: {m}"), max_points=max_points,
                              seed=seed).items():
            figs[f"{folder}/{kind}"] = fig
    return figs


def _whole_log(message: str, log: Callable[[str], None]) -> None:
    """The whole network is drawn without symbolic overlays by design (each target has its own): no line for that."""
    if not message.startswith("no symbolic overlays"):
        log(message)


def _target_contents(run: Path, model: KAN, ds: Dataset, sym: Path) -> RunContents:
    """One target of a run with several: its restricted network and data, and its symbolic results when present."""
    c = RunContents(run, model, ds, sym_dir=sym)
    if (sym / "model.json").is_file():
        c.sym_model = load_model(sym)
        c.formula = rundir.read_json(sym, "formula.json")
        if c.sym_model.width != c.model.width:
            raise RunDirError(f"{sym / 'model.json'}: width {c.sym_model.width_spec()} differs from its target's "
                              f"network {c.model.width_spec()}", "re-run `kansci symbolify`")
    return c


def plot_run(run: Path, *, what: Sequence[str] | str = ALL, formats: Sequence[str] | str = ("png",),
             dpi: int = 150, out: Path | None = None, log: Callable[[str], None] = _quiet,
             max_points: int = 400, seed: int = 0) -> list[Path]:
    """Draw ``what`` for ``run`` and write ``<out or run/figures>/<kind>.<fmt>`` (several targets: also
    ``<dir>/<kind>.<fmt>``); returns the paths written, by kind (canonical order) then format (png, svg, pdf).
    Everything is validated and rendered before the first write.

    Raises:
        ConfigError: unknown kind or format, dpi outside 50..600. RunDirError: missing or corrupt run directory.
    """
    kinds, fmts = check_what(what), check_formats(formats)
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 50 <= dpi <= 600:
        raise ConfigError(f"dpi={dpi!r} must be an integer from 50 to 600", "use e.g. --dpi 150")
    figs = build_figures(run, kinds, log=log, max_points=max_points, seed=seed)
    folder = Path(out) if out is not None else rundir.resolve_run(run) / "figures"
    rendered = [(folder / f"{kind}.{fmt}", plots.figure_bytes(fig, fmt, dpi)) for kind, fig in figs.items()
                for fmt in fmts]
    with all_or_nothing():  # a full disk midway leaves the previous figures as they were
        return [rundir.write_bytes(path, data) for path, data in rendered]
