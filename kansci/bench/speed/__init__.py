"""``kansci bench speed``: KAN against an equal-parameter MLP. :mod:`.pairs` times training steps and builds the
report, :mod:`.memory` measures peak step memory in a fresh process, :mod:`.pipeline_row` times the whole pipeline
against PyKAN's."""
from __future__ import annotations

from kansci.bench.speed.run import run_speed_bench

__all__ = ["run_speed_bench"]
