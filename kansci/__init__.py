"""kansci: symbolic regression with Kolmogorov-Arnold Networks.

Public API: :class:`KAN`, :class:`KANRegressor` (alias :class:`KANSymbolicRegressor`), :class:`Formula`,
:func:`load_run`, :func:`fit`, :func:`symbolify`.
They are imported lazily, so ``kansci --version`` and ``kansci config show`` start without loading torch.
"""
from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import Any

try:  # the version lives in one place: pyproject.toml, read back from the installed metadata
    __version__ = _metadata.version("kansci")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC = {
    "KAN": ("kansci.core.model", "KAN"),
    "KANRegressor": ("kansci.api", "KANRegressor"),
    "KANSymbolicRegressor": ("kansci.api", "KANSymbolicRegressor"),
    "load_run": ("kansci.api", "load_run"),
    "Formula": ("kansci.symbolic.exports", "Formula"),
    "fit": ("kansci.pipeline", "fit_run"),
    "symbolify": ("kansci.pipeline", "symbolify_run"),
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        module, attr = _PUBLIC[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'kansci' has no attribute {name!r}")
