"""fit -> symbolify -> plot orchestration shared by the CLI, the Python API and the benchmark.

Only this package (through :mod:`kansci.rundir`) decides what goes into a run directory. It holds no maths of its
own: it wires :mod:`kansci.data`, :mod:`kansci.train`, :mod:`kansci.prune`, :mod:`kansci.symbolic` and
:mod:`kansci.plots`. :mod:`.common` holds what the stages share, :mod:`.fit`, :mod:`.symbolify` and :mod:`.figures`
one stage each. The figures stage (matplotlib) loads on first use of :func:`plot_run` or :func:`build_figures`.
"""
from __future__ import annotations

import importlib
from typing import Any

from kansci.pipeline.common import check_width, load_data, load_run_data, predict, split_seed
from kansci.pipeline.fit import FitInterrupted, FitResult, fit_run
from kansci.pipeline.symbolify import SymbolifyResult, symbolify_run
from kansci.pipeline.targets import TargetsResult
from kansci.train.loop import StopRequest

__all__ = ["FitInterrupted", "FitResult", "StopRequest", "SymbolifyResult", "TargetsResult", "build_figures",
           "check_width",
           "fit_run", "load_data", "load_run_data", "plot_run", "predict", "split_seed", "symbolify_run"]
_FIGURES = ("plot_run", "build_figures")


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        return getattr(importlib.import_module("kansci.pipeline.figures"), name)
    raise AttributeError(f"module 'kansci.pipeline' has no attribute {name!r}")
