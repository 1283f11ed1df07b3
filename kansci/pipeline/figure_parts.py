"""The pieces of :mod:`.figures`: what a run directory holds for its figures (:class:`RunContents`), the inspect
pass behind the network and edge figures, the history, Pareto and structure readers, and :func:`draw`, which turns
one loaded run (or one target of a run with several) into matplotlib Figures. Reads files, writes nothing.

Edge curves (``x`` = an edge's input, ``y`` = its output on the subsample) come from the *spline model*:
``model.json`` for a plain run. After symbolify it is the symbolic model with its primitives taken out again, i.e.
the pruned and refitted network whose splines the primitives were fitted to (``model.json`` holds the splines from
before symbolify's prune and refit, which can differ a lot). Its masks decide which edges are drawn (pruned edges
are hidden), its attribution scores divided by the largest drawn score give the opacity, and each symbolic edge
carries its primitive ``c*f(a*x+b)+d`` evaluated at the same ``x``, with the edge R² from ``symbolic/formula.json``.
Figures that need symbolic results are skipped (with a log line) when there are none.
"""
from __future__ import annotations

import copy
import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from kansci import plots, rundir
from kansci.core.model import KAN
from kansci.data import Dataset
from kansci.errors import RunDirError
from kansci.pipeline.common import load_model, load_run_data, predict
from kansci.plots.network import layout
from kansci.prune import attribution
from kansci.symbolic.exports import Formula

ALL: tuple[str, ...] = ("network", "edges", "loss", "parity", "pareto", "structure")
FORMATS: tuple[str, ...] = plots.FORMATS
MARKED_EVENTS = ("grid", "prune")  # history events drawn as vertical lines on the loss figure
NO_SYMBOLIC = "run has no symbolic results (run `kansci symbolify` first)"


def _quiet(_: str) -> None:
    pass


@dataclass
class RunContents:
    """What the figures need from a run directory. ``sym_model``/``formula`` are None without symbolic results.
    For one target of a run with several, ``model`` is the network restricted to that output, ``dataset`` that
    target's data and ``sym_dir`` its folder under ``symbolic/``."""

    run: Path
    model: KAN
    dataset: Dataset
    sym_model: KAN | None = None
    formula: dict[str, Any] | None = None
    sym_dir: Path | None = None

    @property
    def symbolic(self) -> Path:
        """The folder of the symbolic results drawn (``RUN/symbolic`` for a run with one target)."""
        return self.sym_dir if self.sym_dir is not None else self.run / "symbolic"


def load_contents(run: Path) -> RunContents:
    """Load model, data and (when ``symbolic/model.json`` exists) the symbolic model and ``formula.json``."""
    run = rundir.resolve_run(run)
    model = load_model(run)
    ds = load_run_data(run)
    if model.n_in != ds.n_inputs:
        raise RunDirError(f"{run / 'model.json'}: model has {model.n_in} inputs but dataset.json lists "
                          f"{ds.n_inputs}", "model.json and dataset.json come from different runs; re-run `kansci fit`")
    contents = RunContents(run, model, ds)
    if (run / "symbolic" / "model.json").is_file():
        contents.sym_model = load_model(run / "symbolic")
        contents.formula = rundir.read_json(run / "symbolic", "formula.json")
        if not isinstance(contents.formula, dict):
            raise RunDirError(f"{run / 'symbolic' / 'formula.json'}: not a JSON object", "re-run `kansci symbolify`")
        if contents.sym_model.width != model.width:
            raise RunDirError(f"{run / 'symbolic' / 'model.json'}: width {contents.sym_model.width_spec()} differs "
                              f"from model.json {model.width_spec()}", "re-run `kansci symbolify`")
    return contents


def sample_rows(n: int, max_points: int, seed: int) -> np.ndarray:
    """Sorted indices (min(n, max_points),) drawn without replacement with ``default_rng(seed)``."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _formula_edges(formula: dict[str, Any] | None, where: Path) -> dict[tuple[int, int, int], dict[str, Any]]:
    """``formula.json`` edges keyed by (layer, i, j)."""
    rows = (formula or {}).get("edges", [])
    try:
        return {(int(r["layer"]), int(r["i"]), int(r["j"])): r for r in rows}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunDirError(f"{where}: malformed 'edges' entry ({type(exc).__name__}: {exc})",
                          "re-run `kansci symbolify`") from None


def spline_model(c: RunContents) -> KAN:
    """The numeric network whose edges are drawn: ``model.json``, or after symbolify a copy of the symbolic model
    with every primitive removed (its splines and masks are those the primitives were fitted to)."""
    if c.sym_model is None:
        return c.model
    model = copy.deepcopy(c.sym_model)
    for layer in model.layers:
        for i, j in list(layer.symbolic):
            layer.unset_symbolic(i, j)
    return model


@torch.no_grad()
def network_view(c: RunContents, *, max_points: int = 400, seed: int = 0) -> plots.NetworkView:
    """Inspect pass on a seeded subsample of training rows -> the NetworkView drawn by network and edges figures."""
    rows = sample_rows(len(c.dataset.train_idx), max_points, seed)
    numeric = spline_model(c)
    shown = c.sym_model if c.sym_model is not None else numeric  # same masks; carries the primitives
    x = torch.as_tensor(c.dataset.X_train_norm[rows], dtype=numeric.dtype, device=numeric.device)  # (n, n_in)
    acts = numeric.inspect(x)
    scores = attribution(numeric, x).edges  # per layer (in, out)
    top = max((float(scores[l][i, j]) for l, i, j in shown.active_edges()), default=0.0)  # over drawn edges
    fits = _formula_edges(c.formula, c.symbolic / "formula.json")
    edges: list[plots.EdgeCurve] = []
    for l, layer in enumerate(shown.layers):
        xin = acts[l]["inputs"]  # (n, in_l)
        fit = layer.edge_values(xin) if layer.symbolic else None  # (n, in_l, out_l) at the spline model's inputs
        for i, j in torch.nonzero(layer.mask > 0).tolist():
            s = float(scores[l][i, j]) / top if top > 0 and math.isfinite(top) else 0.0
            e = plots.EdgeCurve(l, i, j, _np(xin[:, i]), _np(acts[l]["edges"][:, i, j]), score=s)
            prim = layer.symbolic.get((i, j))
            if prim is not None:
                row = fits.get((l, i, j), {})
                e.symbolic = prim.name
                e.fit_y = _np(fit[:, i, j])
                e.fit_label = str(row.get("label") or prim.name)
                e.r2 = float(row["r2"]) if row.get("r2") is not None else None
            edges.append(e)
    shapes = [plots.LayerShape(s, m, shown.mult_arity) for s, m in shown.width]
    return plots.NetworkView(shapes, edges, list(c.dataset.input_names), c.dataset.targets,
                             node_active=node_activity(shown))


def node_activity(model: KAN) -> list[np.ndarray]:
    """Per node layer a bool (n_nodes,) mask: inputs with an outgoing edge, hidden nodes with edges in and out."""
    out = [(model.layers[0].mask > 0).any(dim=1).cpu().numpy()]
    for l in range(1, len(model.layers)):
        n_sum, n_mult = model.width[l]
        incoming = (model.layers[l - 1].mask > 0).any(dim=0).cpu().numpy()  # (subnodes,)
        fed = np.concatenate([incoming[:n_sum], incoming[n_sum:].reshape(n_mult, model.mult_arity).all(axis=1)])
        out.append(fed & (model.layers[l].mask > 0).any(dim=1).cpu().numpy())
    out.append(np.ones(model.n_out, dtype=bool))
    return out


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy().copy()


def read_history(run: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``history.csv`` -> (step, train_loss, val_loss), each (n,) float; empty cells are nan."""
    path = run / "history.csv"
    if not path.is_file():
        raise RunDirError(f"{path}: missing", f"is {run} a complete kansci run directory? re-run `kansci fit`")
    cols = ("step", "train_loss", "val_loss")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [k for k in cols if k not in (reader.fieldnames or [])]
            if missing:
                raise RunDirError(f"{path}: no column {missing[0]!r}", "the file is corrupt; re-run `kansci fit`")
            data = [[float(r[k]) if r[k] not in (None, "") else math.nan for k in cols] for r in reader]
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise RunDirError(f"{path}: unreadable ({exc})", "the file is corrupt; re-run `kansci fit`") from None
    arr = np.asarray(data, dtype=float).reshape(-1, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def read_markers(run: Path) -> list[tuple[int, str]]:
    """(step, label) of grid extensions and prunes from ``events.json`` (the initial grid at step 0 is left out)."""
    if not (run / "events.json").is_file():
        return []
    events = rundir.read_json(run, "events.json")
    try:
        marks = [(int(e["step"]), f"{e['event']} {e.get('detail') or ''}".strip()) for e in events
                 if e["event"] in MARKED_EVENTS and not (e["event"] == "grid" and int(e["step"]) <= 0)]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunDirError(f"{run / 'events.json'}: malformed event ({type(exc).__name__}: {exc})",
                          "the file is corrupt; re-run `kansci fit`") from None
    return marks


def _pareto(c: RunContents) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """``formula.json`` pareto list -> (complexity (n,), loss (n,), texts, chosen index)."""
    where = c.symbolic / "formula.json"
    try:
        rows = list((c.formula or {})["pareto"])
        cx = np.asarray([float(r["complexity"]) for r in rows], dtype=float)
        loss = np.asarray([float(r["loss"]) if r["loss"] is not None else math.nan for r in rows], dtype=float)
        texts = [str(r["text"]) for r in rows]
        chosen = [k for k, r in enumerate(rows) if r.get("chosen")]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunDirError(f"{where}: malformed 'pareto' ({type(exc).__name__}: {exc})",
                          "re-run `kansci symbolify`") from None
    if rows and len(chosen) != 1:
        raise RunDirError(f"{where}: 'pareto' marks {len(chosen)} candidates as chosen, expected 1",
                          "re-run `kansci symbolify`")
    return cx, loss, texts, chosen[0] if rows else -1


def _formula(c: RunContents) -> Formula | None:
    """The chosen formula of a symbolified run, evaluated as saved (whichever route found it)."""
    if c.formula is None:
        return None
    return Formula.from_json(c.formula, source=str(c.symbolic / "formula.json"))


def _structure_tree(c: RunContents) -> dict[str, Any] | None:
    """The decomposition of the chosen formula from ``symbolic/structure.json``, or None when it has none."""
    path = c.symbolic / "structure.json"
    if c.formula is None or not path.is_file():
        return None
    doc = rundir.read_json(c.symbolic, "structure.json")
    chosen = (doc.get("chosen") or {}).get("formula")
    for cand in doc.get("candidates") or []:
        if isinstance(cand, dict) and cand.get("formula") == chosen and isinstance(cand.get("tree"), dict):
            return cand["tree"]
    return None


def draw(c: RunContents, kinds: Sequence[str], *, log: Callable[[str], None] = _quiet, max_points: int = 400,
         seed: int = 0, title: str | None = None) -> dict[str, Figure]:
    """The figures ``kinds`` (validated, canonical order) of the loaded run ``c``, keyed by kind; kinds that cannot
    be drawn are left out and reported through ``log``. ``title``: the network figure's (default: the formula, or
    the run's name)."""
    sym = c.sym_model is not None
    # read every file first, so a corrupt run fails before any drawing
    history = (*read_history(c.run), read_markers(c.run)) if "loss" in kinds else None
    pareto = _pareto(c) if "pareto" in kinds and sym else None
    if not sym and any(k in kinds for k in ("network", "edges", "parity")):
        log(f"no symbolic overlays: {NO_SYMBOLIC}")
    figs: dict[str, Figure] = {}
    if "network" in kinds or "edges" in kinds:
        view = network_view(c, max_points=max_points, seed=seed)
        if "network" in kinds:
            text = str((c.formula or {}).get("display") or (c.formula or {}).get("text") or "")  # display: rounded
            if text and not text.replace(" ", "").startswith(f"{c.dataset.target_name}="):
                text = f"{c.dataset.target_name} = {text}"
            limit = int(10 * layout(view, title=True).width)  # about 10 characters per inch at the title's size
            shown = plots.short(text, limit) if sym and text else c.run.name
            figs["network"] = plots.network_figure(view, title=shown if title is None else plots.short(title, limit))
        if "edges" in kinds:
            figs["edges"] = plots.edges_figure(view)
    if history is not None:
        steps, train, val, markers = history
        if steps.size:
            figs["loss"] = plots.loss_figure(steps, train, val, markers, test_label="validation")
        else:
            log(f"skipped loss: {c.run / 'history.csv'} has no rows")
    if "parity" in kinds:
        X, y = c.dataset.X_test, c.dataset.y_test
        preds = {"KAN": predict(c.model, c.dataset, X)}
        formula = _formula(c)
        if formula is not None:
            preds["formula"] = formula(X)
        figs["parity"] = plots.parity_figure(y, preds, target_name=c.dataset.target_name)
    if "pareto" in kinds and pareto is None:
        log(f"skipped pareto: {NO_SYMBOLIC}")
    elif pareto is not None and not pareto[2]:
        log(f"skipped pareto: {c.symbolic / 'formula.json'} lists no candidate formulas")
    elif pareto is not None:
        kind = next((r.get("loss_kind") for r in c.formula["pareto"] if r.get("loss_kind")), "test loss")
        figs["pareto"] = plots.pareto_figure(*pareto, loss_label=kind)
    if "structure" in kinds:
        tree = _structure_tree(c)
        if tree is None:
            log("skipped structure: the formula was not found by the structure search (see "
                f"{c.symbolic.relative_to(c.run).as_posix()}/structure.json)")
        else:
            text = str((c.formula or {}).get("display") or (c.formula or {}).get("text") or "")
            figs["structure"] = plots.structure_figure(tree, c.dataset.target_name, text)
    return {k: figs[k] for k in ALL if k in figs}
