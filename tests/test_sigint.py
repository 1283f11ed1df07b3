"""Ctrl-C at a seeded random moment of every command: a real ``python -m kansci`` process gets SIGINT. It exits 130
(or 0 when it had already finished) without a traceback, and leaves every file either complete or not there: a run
directory is complete or marked interrupted with a checkpoint to resume from, ``symbolic/`` and ``figures/`` hold
all their files or none, ``predict -o`` writes the whole file or nothing, ``bench feynman`` releases its lock and
keeps whole result rows, a sweep writes its summary only when every task has finished. No temporary file is left.

``fit`` also has the exact interrupt-and-resume test in test_resume.py; ``kill -9`` is in test_kill9.py and
test_bench_kill9.py."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kansci.cli import app
from kansci.rundir.state import read_state
from tests.sample_tables import write_xy

pytestmark = pytest.mark.slow

QUICK = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=12", "--set", "train.grids=[3,5]"]
LONGER = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=60", "--set", "train.grids=[3,5,10]",
          "--set", "train.patience=0"]
FIGURES = ["--what", "network,loss,parity", "--dpi", "50"]
SEEDS = [0, 1]


def invoke(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res



@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A data file, a fitted run, the same run symbolified, and what each command writes when it is not stopped."""
    root = tmp_path_factory.mktemp("sigint")
    data = write_xy(root / "xy.csv", n=300)
    invoke("fit", data, "--out", root / "fitted", *QUICK)
    (fitted,) = (root / "fitted").iterdir()
    done = root / "done"
    shutil.copytree(fitted, done)
    invoke("symbolify", done)
    figures = root / "figures"
    invoke("plot", done, *FIGURES, "--figures", figures)
    predicted = root / "predicted.csv"
    invoke("predict", done, data, "-o", predicted)
    cfg = root / "run.yaml"
    cfg.write_text("data: {path: xy.csv}\nmodel: {width: [2, 1, 1], device: cpu}\ntrain: {steps: 20, grids: [3, 5]}\n"
                   "plot: {what: [loss, parity], dpi: 50}\n", encoding="utf-8")
    return {"data": data, "fitted": fitted, "done": done, "figures": figures, "predicted": predicted, "config": cfg}


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def interrupt(argv: list[str], cwd: Path, delay: float, timeout: float = 300) -> tuple[int, str, bool]:
    """Run ``python -m kansci *argv``, SIGINT it after ``delay`` seconds; (exit code, stderr, signal was sent)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    err = cwd / "stderr.txt"
    with open(err, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "kansci", *map(str, argv)], cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=fh, env=env)
        try:
            time.sleep(delay)
            sent = proc.poll() is None
            if sent:
                proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = err.read_text(encoding="utf-8", errors="replace")
    err.unlink()
    return rc, text, sent


def check_exit(rc: int, stderr: str, sent: bool) -> None:
    assert rc == 130 or (rc == 0 and "error: interrupted" not in stderr), (rc, sent, stderr)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def no_temp_files(folder: Path) -> None:
    left = [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".kansci.lock")]
    assert not left, left


def check_run(run: Path, reference: Path | None = None, figures: set[str] | None = None) -> None:
    """A run directory that is complete (and its symbolic/ and figures/ all or nothing), or interrupted with a
    checkpoint."""
    state = read_state(run)
    if not state.complete:
        assert state.status == "interrupted" and state.checkpoint, (run, state.status, names(run))
        return
    if reference is not None and (run / "symbolic").exists():
        assert names(run / "symbolic") == names(reference / "symbolic")
    if figures is not None and (run / "figures").exists():
        assert names(run / "figures") == figures


def delay(command: str, seed: int, longest: float) -> float:
    """Seconds before the Ctrl-C: seed 0 anywhere from the start (imports included), other seeds in the second half,
    where the command does its work."""
    return random.Random(f"{command}-{seed}").uniform(longest / 2 if seed else 0.0, longest)


# ------------------------------------------------------------------------------------------------- the commands
@pytest.mark.parametrize("seed", SEEDS)
def test_fit(tmp_path: Path, made, seed: int) -> None:
    rc, err, sent = interrupt(["fit", made["data"], "--out", "runs", *LONGER], tmp_path, delay("fit", seed, 12.0))
    check_exit(rc, err, sent)
    for run in (tmp_path / "runs").glob("*"):
        check_run(run)
    no_temp_files(tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_symbolify(tmp_path: Path, made, seed: int) -> None:
    run = shutil.copytree(made["fitted"], tmp_path / "run")
    before = names(run)
    rc, err, sent = interrupt(["symbolify", run], tmp_path, delay("symbolify", seed, 12.0))
    check_exit(rc, err, sent)
    assert names(run) - before <= {"symbolic"}
    assert names(run / "symbolic") in (set(), names(made["done"] / "symbolic"))
    no_temp_files(tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_plot(tmp_path: Path, made, seed: int) -> None:
    run = shutil.copytree(made["done"], tmp_path / "run")
    rc, err, sent = interrupt(["plot", run, *FIGURES], tmp_path, delay("plot", seed, 10.0))
    check_exit(rc, err, sent)
    assert names(run / "figures") in (set(), names(made["figures"]))
    no_temp_files(tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_predict(tmp_path: Path, made, seed: int) -> None:
    run = shutil.copytree(made["done"], tmp_path / "run")
    out = tmp_path / "pred.csv"
    rc, err, sent = interrupt(["predict", run, made["data"], "-o", out], tmp_path, delay("predict", seed, 9.0))
    check_exit(rc, err, sent)
    assert not out.exists() or out.read_bytes() == made["predicted"].read_bytes()
    no_temp_files(tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_show(tmp_path: Path, made, seed: int) -> None:
    run = shutil.copytree(made["done"], tmp_path / "run")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    rc, err, sent = interrupt(["show", run], tmp_path, delay("show", seed, 7.0))
    check_exit(rc, err, sent)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("seed", SEEDS)
def test_run(tmp_path: Path, made, seed: int) -> None:
    cfg = shutil.copy(made["config"], tmp_path / "run.yaml")
    shutil.copy(made["data"], tmp_path / "xy.csv")
    rc, err, sent = interrupt(["run", cfg, "--out", "runs"], tmp_path, delay("run", seed, 18.0))
    check_exit(rc, err, sent)
    for run in (tmp_path / "runs").glob("*"):
        check_run(run, made["done"], {"loss.png", "parity.png"})
    no_temp_files(tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_run_sweep(tmp_path: Path, made, seed: int) -> None:
    cfg = shutil.copy(made["config"], tmp_path / "run.yaml")
    shutil.copy(made["data"], tmp_path / "xy.csv")
    argv = ["run", cfg, "--seeds", "0-2", "--workers", "2", "--out", "runs"]
    rc, err, sent = interrupt(argv, tmp_path, delay("sweep", seed, 25.0))
    check_exit(rc, err, sent)
    runs = [p for p in (tmp_path / "runs").glob("*") if p.is_dir()]
    for run in runs:
        check_run(run, made["done"], {"loss.png", "parity.png"})
    summaries = list((tmp_path / "runs").glob("sweep-*.csv"))
    assert len(summaries) == (1 if rc == 0 else 0)
    no_temp_files(tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_bench_feynman(tmp_path: Path, seed: int) -> None:
    from kansci.bench import report

    argv = ["bench", "feynman", "--ids", "I.12.1,I.14.3,I.12.5", "--n-train", "100", "--n-test", "50",
            "--budget-s", "30", "--workers", "2", "--out", "bench"]
    rc, err, sent = interrupt(argv, tmp_path, delay("bench", seed, 25.0))
    check_exit(rc, err, sent)
    out = tmp_path / "bench"
    results = out / "results.csv"
    if results.exists():
        assert results.read_text().endswith("\n")
        rows = report.read_rows(results)
        assert len({(r["id"], r["seed"]) for r in rows}) == len(rows)
    assert (out / "summary.md").exists() == (rc == 0)
    for run in (out / "runs").glob("*") if (out / "runs").is_dir() else []:
        if run.is_dir():
            check_run(run)
    no_temp_files(tmp_path)
