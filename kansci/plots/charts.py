"""Charts drawn from plain arrays: the loss history, parity (prediction vs truth) and the Pareto front of candidate
formulas. Figures in, no I/O (object API; no pyplot state)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from kansci.metrics import r2_finite
from kansci.plots._base import SERIES_COLORS, SYMBOLIC_COLOR, new_figure, plain, short, styled


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
        r2, dropped = r2_finite(y_true, pred)
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
    if np.any(np.isfinite(cx)):  # whole-number complexities: never a fractional axis around a single point
        ax.set_xlim(float(np.nanmin(cx)) - 1, float(np.nanmax(cx)) + 1)
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


