"""Independent branches of the discovery engine as plain functions, so that a parallel map can run them elsewhere.

The branch that runs in parallel is the leaf search of each target transform (:meth:`Engine._direct
<kansci.discover.engine.Engine._direct>`): once the leaf search on y itself has not verified a formula, the searches
on log|y|, 1/y, y² and √y do not depend on one another. :class:`LeafJob` holds one such search as plain data (it
pickles) and :func:`leaf_candidates` runs it.

A *map* is any callable ``pmap(fn, items)`` that returns ``[fn(item) for item in items]`` in the items' order, e.g.
``ProcessPoolExecutor.map``, or a Dask client's ``map`` + ``gather`` (:func:`branch_map` makes either). The engine's
default is :func:`serial_map`, and a parallel map gives the same candidates (tested); only a wall-clock deadline
makes results depend on timing, serial or not. Leaf budgets travel as seconds, not as clock values, so a worker on
another machine keeps to its share.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from kansci.discover.candidates import Candidate, independent_rows
from kansci.discover.leaves import search_leaf
from kansci.discover.transforms import TargetTransform
from kansci.errors import ConfigError
from kansci.expr.evaluate import to_numpy
from kansci.metrics import nmse as nmse_of

Map = Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]


def serial_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """The default map: one item after the other, in this process."""
    return [fn(item) for item in items]


@dataclass(frozen=True)
class LeafJob:
    """The leaf search on t(y): X (n, k), y (n,), one symbol per column, the transform ``t``, the problem's accept
    level, ``seconds`` allowed (None: no limit), the complexity weight and the number of leaves kept."""

    X: np.ndarray
    y: np.ndarray
    symbols: tuple[sympy.Symbol, ...]
    t: TargetTransform
    accept: float
    seconds: float | None
    weight: float
    results: int
    real: bool = False  # y holds real data (not surrogate values): noisy data are ranked by excess error


def leaf_candidates(job: LeafJob) -> list[Candidate]:
    """Leaf search on t(y); each leaf g becomes y = t⁻¹(g), scored on y itself. On y, errors below ``accept`` do not
    count in the leaf search's own ranking either (see :meth:`Engine.solve <kansci.discover.engine.Engine.solve>`)."""
    t, y, X, symbols = job.t, job.y, job.X, list(job.symbols)
    budget = None if job.seconds is None else time.perf_counter() + job.seconds
    target = t.forward(y)
    out = []
    floor = job.accept if t.name == "y" else 0.0
    rows = independent_rows(X, y) if job.real else 0
    for leaf in search_leaf(X, target, symbols, deadline=budget, weight=job.weight, max_results=job.results,
                            floor=floor, data_rows=rows):
        expr = t.sympy_inverse(leaf.expr)
        nmse = leaf.nmse if t.name == "y" else nmse_of(y, to_numpy(expr, symbols)(X))
        how = f"leaf {leaf.shape}" + ("" if t.name == "y" else f" of {t.name}")
        out.append(Candidate(expr, nmse, how, {"kind": "leaf", "shape": leaf.shape, "transform": t.name,
                                               "expr": str(expr)}, job.accept))
    return out


@contextlib.contextmanager
def branch_map(workers: int | None = None, scheduler: str | None = None) -> Iterator[Map]:
    """A parallel map for :class:`~kansci.discover.engine.Engine`: ``workers`` fresh local processes (spawned, so
    no thread state is inherited), or the Dask scheduler at ``scheduler``. Closed on exit."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("a Dask scheduler needs Dask distributed, which is not installed",
                              'pip install "kansci[dask]"') from None
        client = Client(scheduler, set_as_default=False)
        try:
            yield lambda fn, items: client.gather(client.map(fn, list(items), pure=False))
        finally:
            client.close()
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield lambda fn, items: list(pool.map(fn, items))
