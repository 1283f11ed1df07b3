"""Figures of a :class:`~kansci.plots.NetworkView`: the KAN diagram and the grid of edge panels.

Public entry points are :func:`kansci.plots.network_figure` and :func:`kansci.plots.edges_figure`.

The diagram: nodes in rows (inputs at the bottom, target at the top) and every active edge's learned curve.

Layout, in the spirit of the KAN paper: between node rows ``l`` and ``l + 1`` sits a row of small boxes, one per
active edge ordered by (i, j) and spread evenly across the width. Edge (l, i, j) is drawn from node ``i`` up to the
bottom of its box and from the top of its box up to subnode ``j``; the box is an inset axes showing the curve. Dense
rows (many edges) are staggered over two heights so the boxes stay readable. Opacity follows the edge score, with a
floor so weak edges stay visible. All coordinates are in inches of the main axes (which fills the figure).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from kansci.plots._base import SPLINE_COLOR, SYMBOLIC_COLOR, EdgeCurve, NetworkView, new_figure, plain, short, styled

ALPHA_FLOOR = 0.15  # opacity of an edge with score 0
STAGGER_ABOVE = 12  # rows with more boxes than this are staggered over two heights
PITCH = 0.72  # inches of width per box (per two boxes when staggered) in the densest row
NODE_PITCH = 0.8  # inches of width per node in the widest node row
MAX_INNER = 26.0  # cap on the drawing width, inches
MARGIN_X = 0.45
BOTTOM, TOP, TITLE = 0.62, 0.5, 0.35
SUB_DY = 0.26  # multiplication subnodes sit this far below their node


def node_name(view: NetworkView, layer: int, k: int) -> str:
    """Display name of node ``k`` of node layer ``layer``: input/output names at the ends, ``n{k}`` inside."""
    if layer == 0:
        return view.input_names[k] if k < len(view.input_names) else f"x{k}"
    if layer == len(view.layers) - 1:
        return view.output_names[k] if k < len(view.output_names) else f"y{k}"
    return f"n{k}"


def subnode_name(view: NetworkView, layer: int, j: int) -> str:
    """Display name of subnode ``j`` of node layer ``layer``; a mult node's input ``r`` is ``name[r]``."""
    shape = view.layers[layer]
    if j < shape.n_sum:
        return node_name(view, layer, j)
    m, r = divmod(j - shape.n_sum, shape.arity)
    return f"{node_name(view, layer, shape.n_sum + m)}[{r}]"


def check_view(view: NetworkView) -> None:
    """Raise ValueError if an edge points outside the layers or appears twice (a caller bug, not user input)."""
    if not view.layers:
        raise ValueError("NetworkView has no layers")
    seen: set[tuple[int, int, int]] = set()
    for e in view.edges:
        key = (e.layer, e.i, e.j)
        ok = 0 <= e.layer < len(view.layers) - 1
        ok = ok and 0 <= e.i < view.layers[e.layer].n_nodes and 0 <= e.j < view.layers[e.layer + 1].n_subnodes
        if not ok or key in seen:
            raise ValueError(f"edge (layer={e.layer}, i={e.i}, j={e.j}) is out of range or duplicated")
        seen.add(key)


def sorted_curve(e: EdgeCurve) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The edge's samples sorted by x: (x, y, fit_y or None), each (n,) float, non-finite x dropped."""
    x = np.asarray(e.x, dtype=float).ravel()
    y = np.asarray(e.y, dtype=float).ravel()
    fit = None if e.fit_y is None else np.asarray(e.fit_y, dtype=float).ravel()
    if y.shape != x.shape or (fit is not None and fit.shape != x.shape):
        raise ValueError(f"edge (layer={e.layer}, i={e.i}, j={e.j}): x, y, fit_y lengths differ")
    order = np.argsort(x, kind="stable")
    order = order[np.isfinite(x[order])]
    return x[order], y[order], None if fit is None else fit[order]


@dataclass
class _Layout:
    """Positions in inches. ``nodes[l]``: (n_nodes, 2); ``subs[l]``: (n_subnodes, 2) edge targets of layer l (layer 0
    has none); ``boxes``: edge key (layer, i, j) -> box centre; ``box_w``, ``box_h``: box size."""

    width: float
    height: float
    nodes: list[np.ndarray]
    subs: list[np.ndarray]
    boxes: dict[tuple[int, int, int], tuple[float, float]]
    box_w: float
    box_h: float


def _row_x(n: int, inner: float) -> np.ndarray:
    """(n,) x positions spread evenly over the drawing width."""
    return MARGIN_X + (np.arange(n) + 0.5) / max(n, 1) * inner


def layout(view: NetworkView, title: bool = False) -> _Layout:
    """Place nodes, subnodes and edge boxes; the figure grows with the densest edge row and the widest node row."""
    n_layers = len(view.layers)
    rows = [sorted((e for e in view.edges if e.layer == l), key=lambda e: (e.i, e.j)) for l in range(n_layers - 1)]
    dense = max((len(r) for r in rows), default=0)
    per_row = dense if dense <= STAGGER_ABOVE else -(-dense // 2)
    widest = max(s.n_nodes for s in view.layers)
    inner = min(max(per_row * PITCH, widest * NODE_PITCH, 3.6), MAX_INNER)
    staggered = dense > STAGGER_ABOVE
    gap = 1.95 if staggered else 1.6
    box_w = min(0.62, 0.84 * inner / max(per_row, 1))
    box_h = 0.42 if staggered else 0.5
    width = inner + 2 * MARGIN_X
    height = BOTTOM + (n_layers - 1) * gap + TOP + (TITLE if title else 0.0)
    nodes, subs = [], []
    for l, shape in enumerate(view.layers):
        y = BOTTOM + l * gap
        xs = _row_x(shape.n_nodes, inner)
        nodes.append(np.column_stack([xs, np.full(shape.n_nodes, y)]))
        sub = np.zeros((shape.n_subnodes, 2))
        sub[: shape.n_sum] = nodes[-1][: shape.n_sum]
        spread = min(0.2, 0.3 * inner / max(shape.n_nodes, 1))
        for m in range(shape.n_mult):
            for r in range(shape.arity):
                dx = (r - (shape.arity - 1) / 2) * spread * 2 / max(shape.arity - 1, 1)
                sub[shape.n_sum + m * shape.arity + r] = (xs[shape.n_sum + m] + dx, y - SUB_DY)
        subs.append(sub)
    boxes: dict[tuple[int, int, int], tuple[float, float]] = {}
    for l, row in enumerate(rows):
        mid = BOTTOM + (l + 0.5) * gap - (SUB_DY / 2 if view.layers[l + 1].n_mult else 0.0)
        xs = _row_x(len(row), inner)
        stagger_row = staggered and inner / max(len(row), 1) < box_w + 0.08  # would touch side by side
        for k, e in enumerate(row):
            dy = ((k % 2) - 0.5) * (box_h + 0.14) if stagger_row else 0.0
            boxes[(e.layer, e.i, e.j)] = (float(xs[k]), mid + dy)
    return _Layout(width, height, nodes, subs, boxes, box_w, box_h)


def _alpha(score: float) -> float:
    s = float(score) if np.isfinite(score) else 0.0
    return ALPHA_FLOOR + (1.0 - ALPHA_FLOOR) * min(max(s, 0.0), 1.0)


def _draw_nodes(ax: Axes, view: NetworkView, lay: _Layout) -> None:
    """Sum nodes as dots, multiplication nodes as circled ×, their subnodes small; faded where inactive."""
    for l, shape in enumerate(view.layers):
        active = np.ones(shape.n_nodes, bool)
        if view.node_active is not None and l < len(view.node_active):
            active = np.asarray(view.node_active[l], bool).ravel()[: shape.n_nodes]
        xy = lay.nodes[l]
        for k in range(shape.n_nodes):
            on = bool(active[k]) if k < active.size else True
            color = "black" if on else "0.7"
            if k < shape.n_sum:
                ax.plot(*xy[k], "o", ms=7, color=color, zorder=5)
                continue
            ax.plot(*xy[k], "o", ms=13, mfc="white", mec=color, mew=1.2, zorder=5)
            ax.text(*xy[k], "×", ha="center", va="center", fontsize=10, color=color, zorder=6)
            first = shape.n_sum + (k - shape.n_sum) * shape.arity
            for r in range(shape.arity):
                sx, sy = lay.subs[l][first + r]
                ax.plot([sx, xy[k, 0]], [sy, xy[k, 1]], color=color, lw=0.8, zorder=4)
                ax.plot(sx, sy, "o", ms=3, color=color, zorder=5)


def _draw_labels(ax: Axes, view: NetworkView, lay: _Layout) -> None:
    """Input names under the bottom row, target names over the top row (tilted when they would collide)."""
    for l, va, dy in ((0, "top", -0.16), (len(view.layers) - 1, "bottom", 0.16)):
        xy = lay.nodes[l]
        names = [plain(node_name(view, l, k)) for k in range(len(xy))]
        room = (xy[1, 0] - xy[0, 0]) if len(xy) > 1 else lay.width
        tilt = max((len(s) for s in names), default=0) * 0.075 > room
        for (x, y), name in zip(xy, names):
            ax.text(x, y + dy, name, ha="right" if tilt else "center", va=va, fontsize=9,
                    rotation=30 if tilt else 0, rotation_mode="anchor", zorder=6)


def _draw_edge(fig: Figure, ax: Axes, e: EdgeCurve, lay: _Layout, segs: list, colors: list, widths: list) -> None:
    """Queue the edge's two line segments and draw its box (frame in ``ax``, curve in a new inset axes)."""
    a = _alpha(e.score)
    color = SYMBOLIC_COLOR if e.symbolic else SPLINE_COLOR
    cx, cy = lay.boxes[(e.layer, e.i, e.j)]
    bw, bh = lay.box_w, lay.box_h
    src = lay.nodes[e.layer][e.i]
    dst = lay.subs[e.layer + 1][e.j]
    segs += [[tuple(src), (cx, cy - bh / 2)], [(cx, cy + bh / 2), tuple(dst)]]
    colors += [to_rgba(color, a)] * 2
    widths += [0.6 + 1.2 * (a - ALPHA_FLOOR)] * 2
    ax.add_patch(Rectangle((cx - bw / 2, cy - bh / 2), bw, bh, facecolor="white", edgecolor=to_rgba(color, a),
                           lw=0.8, zorder=3))
    inset = fig.add_axes((
        (cx - bw / 2) / lay.width, (cy - bh / 2) / lay.height, bw / lay.width, bh / lay.height))
    inset.set_axis_off()
    x, y, _ = sorted_curve(e)
    if x.size:
        inset.plot(x, y, color=color, lw=1.1, alpha=a)
        inset.margins(0.1, 0.18)
    if e.symbolic:
        inset.text(0.03, 0.97, plain(e.symbolic), transform=inset.transAxes, ha="left", va="top", fontsize=6.5,
                   color=SYMBOLIC_COLOR, fontweight="bold")


@styled
def network_figure(view: NetworkView, *, title: str | None = None) -> Figure:
    """The KAN diagram of ``view``: ``fig.axes`` is the main axes followed by one inset per active edge."""
    check_view(view)
    lay = layout(view, title=bool(title))
    fig = new_figure(lay.width, lay.height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, lay.width)
    ax.set_ylim(0.0, lay.height)
    ax.set_axis_off()
    segs: list = []
    colors: list = []
    widths: list = []
    for e in sorted(view.edges, key=lambda e: (e.layer, e.i, e.j)):
        _draw_edge(fig, ax, e, lay, segs, colors, widths)
    if segs:
        ax.add_collection(LineCollection(segs, colors=colors, linewidths=widths, zorder=1))
    _draw_nodes(ax, view, lay)
    _draw_labels(ax, view, lay)
    if title:
        ax.text(lay.width / 2, lay.height - 0.12, plain(title), ha="center", va="top", fontsize=11)
    return fig


@styled
def edges_figure(view: NetworkView) -> Figure:
    """A grid of panels, one per active edge ordered by (layer, i, j): spline samples, fitted primitive, R²."""
    check_view(view)
    edges = sorted(view.edges, key=lambda e: (e.layer, e.i, e.j))
    n = len(edges)
    ncols = max(1, min(n, 6, math.ceil(math.sqrt(1.5 * n))))
    nrows = max(1, math.ceil(n / ncols))
    pw, ph = 2.35, 1.85  # inches per panel
    fig = new_figure(ncols * pw + 0.3, nrows * ph + 0.2)
    fig.subplots_adjust(left=0.5 / (ncols * pw + 0.3), right=1 - 0.12 / (ncols * pw + 0.3),
                        bottom=0.45 / (nrows * ph + 0.2), top=1 - 0.3 / (nrows * ph + 0.2), wspace=0.38, hspace=0.75)
    if n == 0:
        ax = fig.add_subplot(1, 1, 1)
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no active edges", ha="center", va="center", transform=ax.transAxes)
        return fig
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    for ax, e in zip(axes, edges):
        x, y, fit = sorted_curve(e)
        color = SYMBOLIC_COLOR if e.symbolic else SPLINE_COLOR
        ax.plot(x, y, "-o", color=SPLINE_COLOR, lw=1.0, ms=1.6, alpha=0.8)
        if fit is not None:
            ax.plot(x, fit, "--", color=SYMBOLIC_COLOR, lw=1.3, label=plain(e.fit_label or "fit"))
            ax.legend(loc="best", fontsize=5.5, frameon=True, framealpha=0.8, handlelength=1.2, borderpad=0.3,
                      labelcolor=SYMBOLIC_COLOR, edgecolor="none")
        src, dst = node_name(view, e.layer, e.i), subnode_name(view, e.layer + 1, e.j)
        head = f"L{e.layer} {short(src, 12)}→{short(dst, 12)}"
        tail = [t for t in (e.symbolic, None if e.r2 is None else f"R²={e.r2:.5f}") if t]
        ax.set_title(plain(head + (": " + ", ".join(tail) if tail else "")), fontsize=7.5, color=color)
        ax.set_xlabel(plain(short(src, 34)), fontsize=7, labelpad=1)
        ax.tick_params(length=2, pad=1)
    return fig
