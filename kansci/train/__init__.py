"""Training: the grid-schedule loop (:mod:`.loop`) and the choice of architecture (:mod:`.search`)."""
from __future__ import annotations

from kansci.train.loop import History, Interrupted, Progress, StopRequest, TrainData, TrainSettings, fit, train_stage
from kansci.train.search import search_architecture

__all__ = ["History", "Interrupted", "Progress", "StopRequest", "TrainData", "TrainSettings", "fit",
           "search_architecture", "train_stage"]
