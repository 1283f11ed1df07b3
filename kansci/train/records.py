"""What the training loop takes and gives: its settings, data and progress records, its history, and the stop
request and interruption of a Ctrl-C (see :mod:`kansci.train.loop`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

__all__ = ["TrainSettings", "TrainData", "Progress", "History", "StopRequest", "Interrupted"]


class TrainSettings(Protocol):
    """The training section of the experiment config (see ``kansci.config``)."""

    optimizer: str
    steps: int
    grids: list[int]
    lr: float | None
    lamb: float
    lamb_l1: float
    lamb_entropy: float
    lamb_coef: float
    update_grid: bool
    grid_update_every: int
    stop_grid_update_step: int
    batch_size: int | None
    patience: int
    min_delta: float
    log_every: int


@dataclass
class TrainData:
    """Normalized training and validation tensors on the model's device. x: (n, d), y: (n, n_out); optional row
    weights w: (n, 1), non-negative with a positive sum (None: every row counts the same)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    w_train: torch.Tensor | None = None
    w_val: torch.Tensor | None = None

    def __post_init__(self) -> None:
        assert self.x_train.dim() == 2 and self.y_train.dim() == 2, (self.x_train.shape, self.y_train.shape)
        assert self.x_train.shape[0] == self.y_train.shape[0] and self.x_val.shape[0] == self.y_val.shape[0]
        for w, x in ((self.w_train, self.x_train), (self.w_val, self.x_val)):
            assert w is None or w.shape == (x.shape[0], 1), (None if w is None else w.shape, x.shape)


@dataclass
class Progress:
    step: int
    total_steps: int
    grid: int
    train_loss: float
    val_loss: float
    reg: float
    phase: str


@dataclass
class History:
    """One row per optimizer step, plus events (grid extension, rollback, early stop, prune)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    def columns(self) -> list[str]:
        return ["step", "train_loss", "val_loss", "reg", "grid", "phase", "lr"]

    def extend(self, other: History, phase_prefix: str = "") -> None:
        offset = self.rows[-1]["step"] if self.rows else 0
        for r in other.rows:
            self.rows.append({**r, "step": r["step"] + offset, "phase": phase_prefix + r["phase"]})
        for e in other.events:
            self.events.append({**e, "step": e["step"] + offset})
        self.wall_s += other.wall_s


class StopRequest:
    """Set by a signal handler (Ctrl-C); training checks it after every step and stops at that clean boundary."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, *_: Any) -> None:
        self.requested = True


class Interrupted(Exception):
    """Training stopped on request at a step boundary. ``checkpoint`` holds everything needed to continue it
    bit-for-bit: model and optimizer state, counters, early-stopping state, RNG state, history so far."""

    def __init__(self, checkpoint: dict[str, Any]) -> None:
        super().__init__("training interrupted")
        self.checkpoint = checkpoint
