"""``kansci bench speed``: KAN against an equal-parameter MLP. :mod:`.pairs` times training steps and builds the
report, :mod:`.memory` measures peak step memory in a fresh process, :mod:`.pipeline_row` times the whole pipeline
against PyKAN's. :mod:`.reader` times the table reader against pandas (``python -m kansci.bench.speed.reader``).

Names are imported lazily, so the reader benchmark's probe processes start without torch."""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["run_speed_bench"]


def __getattr__(name: str) -> Any:
    if name == "run_speed_bench":
        return importlib.import_module("kansci.bench.speed.run").run_speed_bench
    raise AttributeError(f"module 'kansci.bench.speed' has no attribute {name!r}")
