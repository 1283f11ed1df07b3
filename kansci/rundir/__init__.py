"""Run directories, the central artifact: :mod:`.store` is their only reader and writer (layout, models, arrays);
every file goes through :mod:`kansci.atomic`; :mod:`.state` keeps the run marker (complete or not), torch-free.

``from kansci import rundir; rundir.write_json(...)`` reaches all three; names resolve on first use, so writing a JSON
file through this package does not load torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_ATOMIC = ("write_bytes", "write_text", "write_json", "write_csv_rows")
_STORE = ("sanitize_name", "new_run_dir", "check_out_dir", "remove_run_dir", "save_tensors", "save_arrays",
          "load_arrays", "read_json", "load_tensors", "resolve_run", "save_model", "load_model", "discard_checkpoint")
_STATE = ("mark", "read_state", "require_complete", "resume_checkpoint", "is_complete")
__all__ = [*_ATOMIC, *_STORE, *_STATE]


def __getattr__(name: str) -> Any:
    if name in _ATOMIC:
        return getattr(importlib.import_module("kansci.atomic"), name)
    if name in _STORE:
        return getattr(importlib.import_module("kansci.rundir.store"), name)
    if name in _STATE:
        return getattr(importlib.import_module("kansci.rundir.state"), name)
    raise AttributeError(f"module 'kansci.rundir' has no attribute {name!r}")
