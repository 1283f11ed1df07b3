"""``kansci run a.yaml b.yaml --seeds 0-9``: every (config, seed) pair as an independent task, on local worker
processes or a Dask cluster, with one summary table; the results are the same either way and the same as a serial
run.

The stand-in task functions below run in task processes, which import this module: keep its top-level imports light.
"""
from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

import pytest

from kansci.bench import sweep as sweep_mod
from kansci.bench.sweep import SweepTask, parse_seeds
from kansci.errors import ConfigError
from tests.sample_tables import write_xy


# ------------------------------------------------------------------------------------------------- stand-in tasks
def echo_task(task: SweepTask, mark) -> dict:
    """Fails for seed 1 of any config named b.yaml; otherwise reports what it was given."""
    flags = dict(task.flags)
    mark("fit", {"run_dir": f"{flags['output.dir']}/{flags['output.name']}", "fit_test_r2": 0.5})
    if Path(task.config).name == "b.yaml" and task.seed == 1:
        raise ValueError("boom in b.yaml seed 1")
    return {"run_dir": f"{flags['output.dir']}/{flags['output.name']}", "formula": f"f = {task.seed}*x",
            "test_r2": 1.0 - task.seed / 100, "fit_test_r2": 0.9}



def configs(folder: Path, steps: int = 3) -> list[Path]:
    write_xy(folder / "xy.csv", n=80)
    out = []
    for name, width in (("a.yaml", "[2, 1]"), ("b.yaml", "[2, 1, 1]")):
        path = folder / name
        path.write_text(f"data: {{path: xy.csv}}\nmodel: {{width: {width}, device: cpu}}\n"
                        f"train: {{steps: {steps}, grids: [3]}}\nplot: {{what: [loss], dpi: 50}}\n", encoding="utf-8")
        out.append(path)
    return out


def invoke(*args):
    from typer.testing import CliRunner

    from kansci.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------------------------------------- seeds
def test_seeds_are_ranges_lists_or_both() -> None:
    assert parse_seeds("0-9") == list(range(10))
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds(" 2-4, 9 ") == [2, 3, 4, 9]
    assert parse_seeds("5") == [5]
    for bad in ("", "a", "3-1", "1,,2", "-1", "1.5", "0-2,2"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


# ------------------------------------------------------------------------------------------------- the command
@pytest.fixture
def fake_tasks(monkeypatch):
    """``kansci run``'s sweep with :func:`echo_task` in place of the pipeline."""
    monkeypatch.setattr(sweep_mod, "run_sweep", functools.partial(sweep_mod.run_sweep, task_fn=echo_task))


def test_sweep_runs_every_pair_and_reports_a_failure_without_stopping(tmp_path: Path, fake_tasks) -> None:
    a, b = configs(tmp_path)
    summary = tmp_path / "table.csv"
    res = invoke("run", a, b, "--seeds", "0-2", "--workers", "2", "--out", tmp_path / "runs", "--json",
                 "--summary", summary)
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert (doc["command"], doc["tasks"], doc["ok"], doc["failed"]) == ("run", 6, 5, 1)
    rows = doc["rows"]
    pairs = [(c, s) for c in ("a.yaml", "b.yaml") for s in range(3)]
    assert [(Path(r["config"]).name, r["seed"]) for r in rows] == pairs
    failed = rows[4]
    assert failed["status"] == "error" and failed["error"] == "ValueError: boom in b.yaml seed 1"
    assert failed["run_dir"] == f"{(tmp_path / 'runs').resolve()}/xy-s1" and failed["formula"] is None
    assert [r["run_dir"].rsplit("/", 1)[1] for r in rows] == ["xy-s0", "xy-s1", "xy-s2"] * 2
    assert all(r["status"] == "ok" and r["formula"] == f"f = {r['seed']}*x" for r in rows if r is not failed)
    assert "1 of 6 task(s) failed" in res.stderr and "Traceback" not in res.output
    with open(summary, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["seed"], r["status"]) for r in table] == [(str(r["seed"]), r["status"]) for r in rows]
    assert doc["summary"] == str(summary) and list(table[0]) == sweep_mod.COLUMNS


def test_sweep_table_on_stdout_and_default_summary(tmp_path: Path, fake_tasks) -> None:
    (a, _) = configs(tmp_path)
    res = invoke("run", a, "--seeds", "0,3", "--workers", "1", "--out", tmp_path / "runs")
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].split() == ["config", "seed", "status", "test", "R²", "formula", "run"]
    assert lines[1].split()[:4] == ["a.yaml", "0", "ok", "1"] and "f = 3*x" in lines[2]
    (written,) = (tmp_path / "runs").glob("sweep-*.csv")
    assert lines[-1] == f"summary: {written}"
    assert "[2/2]" in res.stderr


def test_sweep_usage_errors(tmp_path: Path, fake_tasks) -> None:
    (a, _) = configs(tmp_path)
    res = invoke("run", a, "--seeds", "0-1", "--seed", "3")
    assert res.exit_code == 2 and "--seeds" in res.output
    res = invoke("run", a, "--seeds", "x")
    assert res.exit_code == 2 and "--seeds 'x'" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = invoke("run", a, tmp_path / "missing.yaml", "--seeds", "0")
    assert res.exit_code == 2 and "missing.yaml" in res.stderr
    res = invoke("run", a, "--seeds", "0", "--workers", "0")
    assert res.exit_code == 2 and "--workers" in res.stderr
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------------- same results
KEYS = ["status", "formula", "test_r2", "fit_test_r2"]


def _serial(cfg: Path, seed: int, out: Path) -> dict:
    """``kansci run CONFIG --seed S`` in this process (no sweep), read back from its run directory."""
    res = invoke("run", cfg, "--seed", seed, "--out", out)
    assert res.exit_code == 0, res.output
    run = Path(res.stdout.strip().splitlines()[-1].removeprefix("run: "))
    metrics = json.loads((run / "metrics.json").read_text())
    sym = json.loads((run / "symbolic" / "metrics.json").read_text())
    formula = json.loads((run / "symbolic" / "formula.json").read_text())
    assert (run / "figures" / "loss.png").is_file()
    return {"status": "ok", "formula": formula["text"], "test_r2": sym["formula_test_r2"],
            "fit_test_r2": metrics["test_r2"]}


@pytest.mark.slow
def test_same_results_on_local_processes_dask_and_serial(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    cfgs = configs(tmp_path, steps=20)[1:]  # [2, 1, 1]: one config, two seeds (the order of configs is tested above)
    seeds = [0, 1]
    local = invoke("run", *cfgs, "--seeds", "0,1", "--workers", "2", "--out", tmp_path / "local", "--json")
    assert local.exit_code == 0, local.output
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask = invoke("run", *cfgs, "--seeds", "0,1", "--scheduler", cluster.scheduler_address, "--out",
                      tmp_path / "dask", "--json")
    assert dask.exit_code == 0, dask.output
    a, b = json.loads(local.stdout)["rows"], json.loads(dask.stdout)["rows"]
    serial = [_serial(c, s, tmp_path / "serial") for c in cfgs for s in seeds]
    assert len(a) == len(b) == len(serial) == 2
    for x, y, z in zip(a, b, serial):
        assert {k: x[k] for k in KEYS} == {k: y[k] for k in KEYS} == z, (x, y, z)
        assert Path(x["run_dir"]).parent == (tmp_path / "local").resolve() and Path(x["run_dir"]).is_dir()
        assert (Path(x["run_dir"]) / "figures" / "loss.png").is_file()
    assert len({x["formula"] for x in a}) >= 1 and all(x["test_r2"] > 0.9 for x in a)


def test_a_task_with_several_targets_reports_each_formula(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(120, 2))
    lines = ["x,y,f,g"] + [f"{a!r},{b!r},{2 * a!r},{a + b!r}" for a, b in X.tolist()]
    (tmp_path / "two.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = tmp_path / "two.yaml"
    cfg.write_text("data: {path: two.csv, target: [f, g]}\nmodel: {width: [2, 2], device: cpu}\n"
                   "train: {steps: 5, grids: [3]}\n", encoding="utf-8")
    res = invoke("run", cfg, "--seeds", "0", "--workers", "1", "--out", tmp_path / "runs", "--json")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)["rows"]
    assert row["status"] == "ok" and row["formula"].startswith("f = ") and "; g = " in row["formula"]
    assert 0.9 < row["test_r2"] <= 1.0
