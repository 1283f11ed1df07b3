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
from collections.abc import Callable
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


def short(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@styled
def figure_bytes(fig: Figure, fmt: str, dpi: int = 150) -> bytes:
    """Render ``fig`` to ``png``, ``svg`` or ``pdf`` bytes. SVG and PDF are deterministic (no dates, fixed ids)."""
    kind = fmt.lower().lstrip(".")
    if kind not in FORMATS:
        raise ConfigError(f"unknown figure format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")
    buf = io.BytesIO()
    fig.savefig(buf, format=kind, dpi=dpi, metadata=_META[kind], facecolor="white")
    return buf.getvalue()
