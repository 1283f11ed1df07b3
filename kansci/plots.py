"""Figures a scientist looks at: the KAN diagram, edge curves, loss history, parity and Pareto plots.

Every function takes plain numpy data (the lead fills it from the model's inspect pass) and returns a
:class:`matplotlib.figure.Figure` on an Agg canvas. Nothing here reads model internals, touches files or terminals,
imports pyplot, or mutates global rcParams: figures are built and saved inside a style context (matplotlib defaults
plus a few house settings), so the bytes do not depend on the caller's matplotlib style.
:func:`figure_bytes` renders a figure to PNG, SVG or PDF bytes, deterministically for SVG and PDF.
"""
from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kansci.errors import ConfigError

SYMBOLIC_COLOR = "#c0392b"  # symbolic edges, fitted primitives, the chosen formula
SPLINE_COLOR = "#1f2d3d"  # learned (numeric) spline curves and edges
SERIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
FORMATS = ("png", "svg", "pdf")
_RC: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False, "axes.spines.right": False,
    "svg.hashsalt": "kansci", "figure.facecolor": "white", "savefig.facecolor": "white",
}
_META = {
    "png": {"Software": "kansci"},
    "svg": {"Date": None, "Creator": "kansci"},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "kansci", "Producer": "kansci"},
}

_Fn = TypeVar("_Fn", bound=Callable[..., Any])


@dataclass
class EdgeCurve:
    """One active edge (layer ``layer``, from node ``i`` of that layer to subnode ``j`` of layer ``layer + 1``).

    ``x``, ``y``: (n,) spline samples on training data, any order. ``score`` in [0, 1] drives opacity. ``fit_y``: (n,)
    fitted primitive ``c*f(a*x+b)+d`` at ``x`` (same order), labelled ``fit_label``, with fit quality ``r2``.
    """

    layer: int
    i: int
    j: int
    x: np.ndarray
    y: np.ndarray
    score: float
    symbolic: str | None = None
    fit_y: np.ndarray | None = None
    fit_label: str | None = None
    r2: float | None = None


@dataclass
class LayerShape:
    """A node layer: ``n_sum`` sum nodes, then ``n_mult`` multiplication nodes of ``arity`` inputs each.

    As an edge target it has ``n_sum + arity * n_mult`` subnodes: subnode ``j < n_sum`` feeds sum node ``j``, subnode
    ``n_sum + m * arity + r`` feeds multiplication node ``n_sum + m``.
    """

    n_sum: int
    n_mult: int = 0
    arity: int = 2

    @property
    def n_nodes(self) -> int:
        return self.n_sum + self.n_mult

    @property
    def n_subnodes(self) -> int:
        return self.n_sum + self.arity * self.n_mult


@dataclass
class NetworkView:
    """Everything the network and edge figures draw. ``layers``: one per node layer, input first.

    ``edges``: active edges only. ``node_active``: optional bool mask per node layer, shape (n_nodes,).
    """

    layers: list[LayerShape]
    edges: list[EdgeCurve]
    input_names: list[str]
    output_names: list[str]
    node_active: list[np.ndarray] | None = None


def styled(fn: _Fn) -> _Fn:
    """Run ``fn`` inside the house style (matplotlib defaults + ``_RC``), whatever the caller's rcParams are."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.style.context(["default", _RC]):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float, height: float) -> Figure:
    """A white figure of ``width`` x ``height`` inches with its own Agg canvas (no pyplot, no global state)."""
    fig = Figure(figsize=(width, height), facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def plain(text: object) -> str:
    """``text`` as a string that matplotlib never parses as mathtext (user names may contain ``$``)."""
    return str(text).replace("$", r"\$")


def network_figure(view: NetworkView, *, title: str | None = None) -> Figure:
    """The KAN diagram: one main axes plus exactly one inset axes per active edge (see :mod:`kansci.plot_network`)."""
    from kansci.plot_network import draw_network  # local import: plot_network imports the dataclasses above

    return draw_network(view, title=title)


def edges_figure(view: NetworkView) -> Figure:
    """A grid of panels, one per active edge ordered by (layer, i, j): spline samples, fitted primitive, R²."""
    from kansci.plot_network import draw_edges  # local import: plot_network imports the dataclasses above

    return draw_edges(view)


@styled
def loss_figure(steps: np.ndarray, train_loss: np.ndarray, test_loss: np.ndarray | None,
                events: Sequence[tuple[int, str]] = (), *, test_label: str = "test") -> Figure:
    """Loss history on a log y axis. ``steps``, ``train_loss``, ``test_loss``: (n,); ``test_loss`` may be None.

    ``events``: (step, label) pairs, e.g. ``(200, "grid 10")``, drawn as labelled vertical lines (labels of events at
    the same step are joined). Non-positive or non-finite losses are left out of the lines.
    """
    steps = np.asarray(steps, dtype=float).ravel()
    series = [("train", np.asarray(train_loss, dtype=float).ravel(), SERIES_COLORS[0])]
    if test_loss is not None and np.size(test_loss):
        series.append((test_label, np.asarray(test_loss, dtype=float).ravel(), SERIES_COLORS[1]))
    fig = new_figure(7.0, 4.0)
    ax = fig.add_axes((0.1, 0.13, 0.86, 0.74))
    any_positive = False
    for name, values, color in series:
        if values.shape != steps.shape:
            raise ValueError(f"{name}_loss has {values.size} values for {steps.size} steps")
        good = np.isfinite(values) & (values > 0)
        any_positive |= bool(good.any())
        ax.plot(steps, np.where(good, values, np.nan), color=color, lw=1.4, label=name)
    if any_positive:
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no positive loss values", ha="center", va="center", transform=ax.transAxes)
    grouped: dict[int, list[str]] = {}
    for step, label in events:
        grouped.setdefault(int(step), []).append(plain(label))
    for step, labels in sorted(grouped.items()):
        ax.axvline(step, color="0.45", lw=0.9, ls="--", zorder=0)
        ax.text(step, 1.01, ", ".join(labels), transform=ax.get_xaxis_transform(), rotation=30, ha="left",
                va="bottom", fontsize=7, color="0.25")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (log)" if any_positive else "loss")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", frameon=False)
    return fig


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, int]:
    """Coefficient of determination ``1 - SS_res / SS_tot`` over pairs where both are finite.

    ``y_true``, ``y_pred``: (n,). Returns (R², number of pairs left out); R² is nan when fewer than two pairs remain
    or ``y_true`` is constant on them.
    """
    ok = np.isfinite(y_true) & np.isfinite(y_pred)
    yt, yp = y_true[ok], y_pred[ok]
    if yt.size < 2:
        return math.nan, int((~ok).sum())
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    if ss_tot == 0.0:
        return math.nan, int((~ok).sum())
    return 1.0 - float(np.sum((yt - yp) ** 2)) / ss_tot, int((~ok).sum())


@styled
def parity_figure(y_true: np.ndarray, predictions: Mapping[str, np.ndarray], *, target_name: str = "y") -> Figure:
    """Predicted against true target on the test set. ``y_true``: (n,); each prediction: (n,), keyed by its label.

    One scatter per label with its R² in the legend, and the y = x line.
    """
    y_true = np.asarray(y_true, dtype=float).ravel()
    fig = new_figure(5.0, 5.0)
    ax = fig.add_axes((0.16, 0.13, 0.78, 0.78))
    size = float(np.clip(3000.0 / max(y_true.size, 1), 3.0, 25.0))
    finite = [y_true[np.isfinite(y_true)]]
    for k, (label, pred) in enumerate(predictions.items()):
        pred = np.asarray(pred, dtype=float).ravel()
        if pred.shape != y_true.shape:
            raise ValueError(f"prediction '{label}' has {pred.size} values for {y_true.size} targets")
        r2, dropped = r2_score(y_true, pred)
        text = f"{label} (R²={r2:.5f}" + (f", {dropped} non-finite)" if dropped else ")")
        ax.scatter(y_true, pred, s=size, alpha=0.55, color=SERIES_COLORS[k % len(SERIES_COLORS)],
                   edgecolors="none", label=plain(text), zorder=2 + k)
        finite.append(pred[np.isfinite(pred)])
    values = np.concatenate(finite)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    pad = 0.04 * (hi - lo) if hi > lo else 0.5
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.3", lw=1.0, ls="--", label="y = x", zorder=1)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(plain(f"true {target_name}"))
    ax.set_ylabel(plain(f"predicted {target_name}"))
    ax.set_title("parity (test set)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", frameon=True, framealpha=0.85)
    return fig


def pareto_front(complexity: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Indices of non-dominated candidates (no other is at most as complex with strictly lower loss, or less complex
    with equal loss), sorted by complexity. ``complexity``, ``loss``: (n,); nan losses are never on the front."""
    order = np.lexsort((loss, complexity))  # by complexity, then loss
    front: list[int] = []
    best = math.inf
    for idx in order:
        if np.isfinite(loss[idx]) and loss[idx] < best:
            front.append(int(idx))
            best = float(loss[idx])
    return np.asarray(front, dtype=int)


def short(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@styled
def pareto_figure(complexity: np.ndarray, loss: np.ndarray, labels: Sequence[str], chosen: int, *,
                  loss_label: str = "test loss") -> Figure:
    """Candidate formulas as complexity against test loss (log y), the Pareto front, the chosen one annotated.

    ``complexity``, ``loss``, ``labels``: (n,); ``chosen``: index into them. Losses <= 0 (exact fits) are drawn at a
    tenth of the smallest positive loss so the log axis can show them.
    """
    cx = np.asarray(complexity, dtype=float).ravel()
    ls = np.asarray(loss, dtype=float).ravel()
    if not (cx.shape == ls.shape and len(labels) == cx.size):
        raise ValueError(f"complexity ({cx.size}), loss ({ls.size}) and labels ({len(labels)}) differ in length")
    if cx.size and not 0 <= chosen < cx.size:
        raise ValueError(f"chosen={chosen} is not an index into {cx.size} candidates")
    fig = new_figure(7.5, 4.5)
    ax = fig.add_axes((0.1, 0.12, 0.86, 0.8))
    ax.set_xlabel("complexity")
    ax.set_ylabel(f"{loss_label} (log)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("candidate formulas")
    positive = ls[np.isfinite(ls) & (ls > 0)]
    if positive.size == 0 and not np.any(np.isfinite(ls)):
        ax.text(0.5, 0.5, "no candidates with a finite loss", ha="center", va="center", transform=ax.transAxes)
        return fig
    floor = float(positive.min()) / 10.0 if positive.size else 1e-12
    shown = np.where(np.isfinite(ls), np.maximum(ls, floor), np.nan)
    ax.set_yscale("log")
    ax.scatter(cx, shown, s=18, color="0.55", zorder=2, label="candidate")
    front = pareto_front(cx, ls)
    ax.plot(cx[front], shown[front], "-o", drawstyle="steps-post", color=SERIES_COLORS[0], lw=1.2, ms=4,
            zorder=3, label="Pareto front")
    if front.size <= 12:
        for idx in front:
            if idx != chosen:
                ax.annotate(plain(short(labels[idx], 32)), (cx[idx], shown[idx]), xytext=(4, 4),
                            textcoords="offset points", fontsize=6.5, color="0.3")
    ax.scatter([cx[chosen]], [shown[chosen]], s=140, marker="*", color=SYMBOLIC_COLOR, zorder=4, label="chosen")
    right = cx[chosen] > np.nanmean(cx) if cx.size > 1 else False
    ax.annotate(plain(short(labels[chosen], 70)), (cx[chosen], shown[chosen]),
                xytext=(-12 if right else 12, 22), textcoords="offset points", ha="right" if right else "left",
                fontsize=8, color=SYMBOLIC_COLOR,
                bbox={"facecolor": "white", "edgecolor": SYMBOLIC_COLOR, "alpha": 0.9, "pad": 2},
                arrowprops={"arrowstyle": "->", "color": SYMBOLIC_COLOR, "lw": 0.8})
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", frameon=False)
    return fig


@styled
def figure_bytes(fig: Figure, fmt: str, dpi: int = 150) -> bytes:
    """Render ``fig`` to ``png``, ``svg`` or ``pdf`` bytes. SVG and PDF are deterministic (no dates, fixed ids)."""
    kind = fmt.lower().lstrip(".")
    if kind not in FORMATS:
        raise ConfigError(f"unknown figure format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")
    buf = io.BytesIO()
    fig.savefig(buf, format=kind, dpi=dpi, metadata=_META[kind], facecolor="white")
    return buf.getvalue()
