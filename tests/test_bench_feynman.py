"""Feynman benchmark runner: sampling, hard timeouts, resume, and the same results on the local and Dask executors.

The fake task functions below run in task processes, which import this module: keep its top-level imports light.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kansci.bench.executor import Limits, supervise

IDS = ["I.6.2a", "I.14.3", "I.12.5"]


# ------------------------------------------------------------------------------------------------- fake tasks
def fast_task(task, mark) -> dict:
    mark("fit", {"fit_test_r2": 0.99999})
    mark("pipeline_done", {"wall_s": 0.01})
    return {"strict": task.eq_id != "I.14.3", "robust": True, "accuracy": True, "formula": f"f_{task.eq_id}",
            "formula_test_r2": 1.0, "same_shape": True}


def sleepy_task(task, mark) -> dict:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
    mark("pids", {"grandchild": child.pid})
    while True:
        time.sleep(0.5)


def sleepy_after_fit(task, mark) -> dict:
    mark("fit", {"fit_test_r2": 0.5 if task.eq_id == "I.14.3" else 0.99999})
    while True:
        time.sleep(0.5)


def slow_scoring_task(task, mark) -> dict:
    mark("pipeline_done", {})
    time.sleep(1000)
    return {}


def failing_task(task, mark) -> dict:
    raise ValueError("boom in task")


def crashing_task(task, mark) -> dict:
    os._exit(7)


def _gone(pid: int, wait_s: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie waiting for a parent that is not us)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
                state = next(line for line in fh if line.startswith("State:")).split()[1]
            if state in ("Z", "X"):
                return True
        except FileNotFoundError:
            return True
        except OSError:  # no /proc: fall back to signal 0
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------------------------------- executor
def test_timeout_kills_runaway_task_and_its_children() -> None:
    t0 = time.monotonic()
    out = supervise(sleepy_task, "task", Limits(budget_s=1.0, startup_s=60))
    assert out["status"] == "timeout" and out["phase"] == "pipeline" and "killed after 1 s" in out["error"]
    assert time.monotonic() - t0 < 30
    assert out["stage"] == "pids" and out["elapsed_s"] >= 1.0
    assert _gone(out["pid"]) and _gone(out["events"]["pids"]["grandchild"])


def test_scoring_phase_has_its_own_limit() -> None:
    out = supervise(slow_scoring_task, "task", Limits(budget_s=30.0, score_s=0.5))
    assert out["status"] == "timeout" and out["phase"] == "score" and _gone(out["pid"])


def test_task_errors_and_crashes_are_reported() -> None:
    err = supervise(failing_task, "task", Limits(budget_s=30.0))
    assert err["status"] == "error" and err["error"] == "ValueError: boom in task" and err["row"] is None
    crash = supervise(crashing_task, "task", Limits(budget_s=30.0))
    assert crash["status"] == "error" and "exited with code 7" in crash["error"]


def test_dask_is_optional_and_bad_addresses_are_config_errors(monkeypatch) -> None:
    from kansci.bench.executor import DaskExecutor, LocalExecutor, make_executor
    from kansci.errors import ConfigError

    assert isinstance(make_executor(3, None), LocalExecutor) and make_executor(3, None).workers == 3
    assert make_executor(None, None).workers == (os.cpu_count() or 1)
    monkeypatch.setitem(sys.modules, "distributed", None)       # as if dask were not installed
    with pytest.raises(ConfigError) as exc:
        make_executor(None, "tcp://127.0.0.1:8786")
    assert 'pip install "kansci[dask]"' in exc.value.hint
    monkeypatch.delitem(sys.modules, "distributed")
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match="cannot connect to the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=1.0)


# ------------------------------------------------------------------------------------------------- suite and data
def test_selection_and_sampling() -> None:
    import numpy as np

    from kansci.bench.feynman import select_equations, task_data, task_seeds
    from kansci.errors import DataError

    assert len(select_equations()) == 100 and len(select_equations(srbench=True)) == 97
    assert [e.id for e in select_equations(["I.14.3", "feynman_I_6_2a"])] == ["I.6.2a", "I.14.3"]
    assert len(select_equations(srbench=True, limit=5)) == 5
    with pytest.raises(DataError, match="I.6.2x"):
        select_equations(["I.6.2x"])
    assert task_seeds("I.6.2a", 0) != task_seeds("I.6.2a", 1) != task_seeds("I.14.3", 0)

    d = task_data("I.14.3", 0, 2000, 300, 0.1)
    ds = d.dataset
    clean = ds.X[:, 0] * ds.X[:, 1] * ds.X[:, 2]                 # U = m*g*z, columns in table order
    assert list(ds.train_idx) == list(range(2000)) and list(ds.test_idx) == list(range(2000, 2300))
    assert np.array_equal(ds.y_test, clean[2000:]) and np.array_equal(d.y_test, clean[2000:])
    resid = ds.y_train - clean[:2000]
    assert np.std(resid) == pytest.approx(0.1 * np.sqrt(np.mean(clean[:2000] ** 2)), rel=0.08)
    assert ds.y_norm.shift[0] == pytest.approx(ds.y_train.mean())
    assert ds.y_norm.scale[0] == pytest.approx(ds.y_train.std())
    for j, (lo, hi) in enumerate(d.box):
        assert lo <= ds.X[:, j].min() and ds.X[:, j].max() <= hi
    again = task_data("I.14.3", 0, 2000, 300, 0.1).dataset
    assert np.array_equal(again.X, ds.X) and np.array_equal(again.y, ds.y)
    assert task_data("I.12.11", 0, 50, 10, 0.0).names[-1] == "theta"
    renamed = task_data("I.39.11", 0, 50, 10, 0.0)                # gamma clashes with sympy: renamed gamma_
    assert renamed.names[0] == "gamma_" and "gamma_" in {s.name for s in renamed.truth.free_symbols}


# ------------------------------------------------------------------------------------------------- runner
def _bench(tmp_path: Path, **kw):
    from kansci.bench.feynman import run_feynman_bench

    args = dict(ids=IDS, n_train=20, n_test=10, budget_s=30.0, workers=2, out=tmp_path, task_fn=fast_task)
    args.update(kw)
    return run_feynman_bench(**args)


def test_resume_skips_finished_tasks(tmp_path: Path) -> None:
    from kansci.bench import report
    from kansci.errors import ConfigError, RunDirError

    first = _bench(tmp_path)
    assert (first.ran, first.skipped, len(first.rows)) == (3, 0, 3)
    failures = {(r["id"], r["failure"]) for r in first.rows}
    assert failures == {("I.6.2a", None), ("I.12.5", None), ("I.14.3", "constants")}
    assert (tmp_path / "summary.md").read_text() == first.markdown and "66.7% (2/3)" in first.markdown

    again = _bench(tmp_path, resume=True)
    assert (again.ran, again.skipped) == (0, 3) and len(report.read_rows(first.results_path)) == 3

    lines = first.results_path.read_text().splitlines(keepends=True)
    dropped = report.read_rows(first.results_path)[-1]
    first.results_path.write_text("".join(lines[:-1]))
    third = _bench(tmp_path, resume=True)
    assert (third.ran, third.skipped) == (1, 2)
    rows = report.read_rows(first.results_path)
    assert len(rows) == 3 and (rows[-1]["id"], rows[-1]["seed"]) == (dropped["id"], dropped["seed"])

    more = _bench(tmp_path, resume=True, seeds=2, ids=IDS[:2])
    assert (more.ran, more.skipped, len(more.rows)) == (2, 2, 4)

    with pytest.raises(RunDirError, match="already holds benchmark results"):
        _bench(tmp_path)
    with pytest.raises(ConfigError, match="noise"):
        _bench(tmp_path, resume=True, noise=0.01)


def test_killed_tasks_keep_what_they_reported(tmp_path: Path) -> None:
    res = _bench(tmp_path, ids=IDS[:2], budget_s=1.0, task_fn=sleepy_after_fit)
    rows = {r["id"]: r for r in res.rows}
    assert rows["I.6.2a"]["status"] == "timeout" and rows["I.6.2a"]["failure"] == "timeout"
    assert rows["I.6.2a"]["stage"] == "fit" and rows["I.6.2a"]["fit_test_r2"] == 0.99999
    assert rows["I.14.3"]["status"] == "timeout" and rows["I.14.3"]["failure"] == "kan_fit"
    assert "Timeouts by last stage reached: fit 2" in res.markdown


@pytest.mark.slow
def test_three_equations_same_results_local_and_dask(tmp_path: Path) -> None:
    """The real default pipeline on three easy equations, through both executors; results must agree."""
    distributed = pytest.importorskip("distributed")
    from kansci.bench.feynman import run_feynman_bench

    kw = dict(ids=IDS, srbench=False, limit=None, noise=0.0, seeds=1, n_train=500, n_test=500, budget_s=120.0)
    local = run_feynman_bench(**kw, workers=2, scheduler=None, out=tmp_path / "local", resume=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask = run_feynman_bench(**kw, workers=None, scheduler=cluster.scheduler_address, out=tmp_path / "dask",
                                 resume=False)
    keys = ["status", "strict", "robust", "accuracy", "failure", "formula", "complexity", "primitives"]
    a = {r["id"]: r for r in local.rows}
    b = {r["id"]: r for r in dask.rows}
    assert sorted(a) == sorted(b) == sorted(IDS)
    for eq_id in IDS:
        assert {k: a[eq_id][k] for k in keys} == {k: b[eq_id][k] for k in keys}, eq_id
        assert a[eq_id]["fit_test_r2"] == pytest.approx(b[eq_id]["fit_test_r2"], rel=1e-9)
        assert a[eq_id]["status"] == "ok" and a[eq_id]["accuracy"], a[eq_id]
    assert sum(r["strict"] for r in local.rows) >= 2                 # these are easy: at least two exact
