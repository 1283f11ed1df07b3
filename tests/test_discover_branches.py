"""The discovery engine's independent branches (the leaf searches of the target transforms) on a parallel map: the
same candidates, in the same order, as the serial default; on local processes and on a 2-worker Dask LocalCluster.

The fast test replaces the leaf search with a stand-in to check the merge (order, and the stop at the first verified
transform); the slow one runs the real search."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from kansci.discover import engine as engine_mod
from kansci.discover.branches import LeafJob, branch_map, serial_map
from kansci.discover.candidates import Candidate


class Counting:
    """A map that records how many branches each call ran."""

    def __init__(self, pmap) -> None:
        self.pmap, self.calls = pmap, []

    def __call__(self, fn, items):
        self.calls.append(len(items))
        return self.pmap(fn, list(items))


def noisy_problem() -> tuple[np.ndarray, np.ndarray, list[sympy.Symbol]]:
    """One variable, a law no small leaf matches, with noise: no search verifies, so every transform is searched."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, size=(100, 1))
    y = np.exp(-X[:, 0]) * (1 + X[:, 0] ** 2) + rng.normal(0, 1e-3, 100)
    return X, y, [sympy.Symbol("a", positive=True)]


def solve(pmap=None) -> list[tuple]:
    X, y, symbols = noisy_problem()
    engine = engine_mod.Engine(tol=0.05, accept=1e-12, deadline=None, pmap=pmap)  # no deadline: no timing
    return [(str(c.expr), c.nmse, c.how, c.tree, c.verified) for c in engine.solve(X, y, symbols, None)]


def fake_leaves(job: LeafJob) -> list[Candidate]:
    """Two candidates per transform; the one of 1/y is verified (its NMSE is below accept)."""
    nmse = 1e-20 if job.t.name == "1/y" else 0.1 * (1 + len(job.t.name))
    a = job.symbols[0]
    return [Candidate(a + k, nmse * (1 + k), f"leaf of {job.t.name}", {"transform": job.t.name}, job.accept)
            for k in range(2)]


def test_a_map_merges_the_branches_as_the_serial_loop_does(monkeypatch) -> None:
    monkeypatch.setattr(engine_mod, "leaf_candidates", fake_leaves)
    counting = Counting(serial_map)
    serial, mapped = solve(), solve(counting)
    assert mapped == serial
    assert counting.calls == [4]  # log|y|, 1/y, y^2 and sqrt y at once, after y itself
    searched = [c[3]["transform"] for c in serial if c[2].startswith("leaf")]
    assert "1/y" in searched and "y^2" not in searched and "sqrt(y)" not in searched  # stopped at the verified one


@pytest.mark.slow
def test_process_and_dask_maps_give_identical_results() -> None:
    distributed = pytest.importorskip("distributed")
    serial = solve()
    assert len({c[3].get("transform") for c in serial}) >= 3  # the transforms' searches contributed
    with branch_map(workers=2) as pmap:
        counting = Counting(pmap)
        local = solve(counting)
    assert counting.calls == [4]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        with branch_map(scheduler=cluster.scheduler_address) as pmap:
            dask = solve(pmap)
    assert local == serial and dask == serial
