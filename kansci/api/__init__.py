"""Python API: :class:`KANRegressor` (a scikit-learn estimator; ``KANSymbolicRegressor`` is the same class) and
:func:`load_run`.

Modules: :mod:`.estimator` (the estimator), :mod:`.settings` (parameters -> config, seeds, threads, the working
folder), :mod:`.compat` (scikit-learn, optional: base classes and input validation), :mod:`.weighted` (training with
``sample_weight``), :mod:`.candidates` (the ``equations_`` table and ``model_selection``), :mod:`.exports` (LaTeX
table, jax) and :mod:`.run` (:func:`load_run`). ``docs/python_api.md`` has examples.
"""
from __future__ import annotations

from kansci.api.compat import NotFittedError
from kansci.api.estimator import KANRegressor, KANSymbolicRegressor
from kansci.api.run import Run, load_run

__all__ = ["KANRegressor", "KANSymbolicRegressor", "NotFittedError", "Run", "load_run"]
