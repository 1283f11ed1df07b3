"""The decomposition found by the structure-first search, drawn as a tree: the target at the top, each split (sum,
product, symmetry) as a node with its test statistic, each solved piece as a leaf carrying its formula.

The tree comes in as plain data (the ``tree`` of the chosen candidate in ``symbolic/structure.json``):
``{"kind": "sum" | "product", "transform", "statistic", "parts": [...]}``, ``{"kind": "symmetry", "combination",
"statistic", "part": {...}}``, ``{"kind": "leaf" | "power law", "expr"}``; sub-trees carry their ``variables``.
"""
from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from kansci.plots._base import SPLINE_COLOR, SYMBOLIC_COLOR, new_figure, plain, short, styled

__all__ = ["structure_figure"]

_SPLIT = {"sum": "+  additive", "product": "×  multiplicative"}
_LABEL_CHARS = 38  # a leaf's formula is cut to this many characters


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    if node.get("kind") in _SPLIT:
        return list(node.get("parts") or [])
    if node.get("kind") == "symmetry" and node.get("part"):
        return [node["part"]]
    return []


def _label(node: dict[str, Any]) -> tuple[str, bool]:
    """(text, is_leaf)."""
    kind = node.get("kind", "")
    over = f"({', '.join(node['variables'])})  " if node.get("variables") else ""
    if kind in _SPLIT:
        t = node.get("transform", "y")
        return (f"{over}{_SPLIT[kind]}{'' if t == 'y' else ' of ' + t}\nstatistic {node.get('statistic', 0):.1e}",
                False)
    if kind == "symmetry":
        return f"{over}depends on {node.get('combination')}\nstatistic {node.get('statistic', 0):.1e}", False
    via = "power law" if kind == "power law" else "leaf search" + (
        f" on {node['transform']}" if node.get("transform", "y") != "y" else "")
    return f"{over}{short(str(node.get('expr', '')), _LABEL_CHARS)}\n[{via}]", True


def _layout(node: dict[str, Any], depth: int, next_x: list[float], out: list[tuple]) -> float:
    """Place leaves left to right, parents above the middle of their children; appends (node, x, depth)."""
    kids = _children(node)
    if not kids:
        x = next_x[0]
        next_x[0] += 1.0
    else:
        xs = [_layout(k, depth + 1, next_x, out) for k in kids]
        x = (xs[0] + xs[-1]) / 2
    out.append((node, x, depth))
    return x


@styled
def structure_figure(tree: dict[str, Any], target: str = "y", formula: str = "") -> Figure:
    """The decomposition ``tree`` as a tree diagram, the target and (optionally) the final formula on top."""
    placed: list[tuple[dict[str, Any], float, int]] = []
    n_leaves = [0.0]
    _layout(tree, 1, n_leaves, placed)
    depth = max(d for _, _, d in placed)
    width, height = max(4.0, 2.6 * n_leaves[0]), 1.2 + 1.3 * depth
    fig = new_figure(width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(-0.5, n_leaves[0] - 0.5)
    ax.set_ylim(depth + 0.6, -0.6)
    ax.set_axis_off()
    where = {id(node): (x, d) for node, x, d in placed}
    top = plain(short(f"{target} = {formula}", int(9 * width))) if formula else plain(target)
    ax.text((n_leaves[0] - 1) / 2, 0, top, ha="center", va="center", fontsize=10, fontweight="bold")
    ax.plot([(n_leaves[0] - 1) / 2, where[id(tree)][0]], [0.2, where[id(tree)][1] - 0.3], color="0.6", lw=1)
    for node, x, d in placed:
        for kid in _children(node):
            kx, kd = where[id(kid)]
            ax.plot([x, kx], [d + 0.3, kd - 0.3], color="0.6", lw=1, zorder=1)
        text, leaf = _label(node)
        color = SYMBOLIC_COLOR if leaf else SPLINE_COLOR
        ax.text(x, d, plain(text), ha="center", va="center", fontsize=8, color=color, zorder=2,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": color, "linewidth": 1})
    return fig
