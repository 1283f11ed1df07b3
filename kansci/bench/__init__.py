"""Benchmarks: the Feynman symbolic-regression suite with SRBench-style scoring (``kansci bench feynman``).

Names are imported lazily, so a task process that only needs :mod:`kansci.bench.executor` starts fast.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BenchSummary": "feynman", "BenchTask": "feynman", "run_feynman_bench": "feynman", "run_task": "feynman",
    "select_equations": "equations", "task_data": "feynman",
    "classify": "scoring", "numeric_match": "scoring", "score_formula": "scoring", "symbolic_match": "scoring",
    "Limits": "executor", "supervise": "executor", "make_executor": "executor",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kansci.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kansci.bench.{_EXPORTS[name]}"), name)
