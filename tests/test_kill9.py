"""Hard stops of ``kansci fit``: the run directory exists from the start and says whether it is complete; periodic
checkpoints make a ``kill -9`` resumable; an interrupt while the directory is written exits 130.

The end-to-end case SIGKILLs a real ``python -m kansci fit`` process; the others run in process."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from kansci.cli import app
from kansci.config import default_config
from kansci.data.synthetic import make_dataset, write_csv
from kansci.pipeline import fit as fit_module
from kansci.rundir.state import read_state

SLOW = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=100", "--set", "train.grids=[3,5,10]",
        "--set", "train.patience=0", "--set", "train.log_every=1"]
QUICK = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=12", "--set", "train.grids=[3,5]",
         "--set", "train.patience=0", "--set", "train.log_every=1"]


#: once the schema has train.checkpoint_every_s it is set with --set; until then the module default is patched
HAS_KEY = hasattr(default_config().train, "checkpoint_every_s")


def every(seconds: float, monkeypatch) -> list[str]:
    """The arguments (or the patch) that make ``kansci fit`` checkpoint every ``seconds``."""
    if HAS_KEY:
        return ["--set", f"train.checkpoint_every_s={seconds!r}"]
    monkeypatch.setattr(fit_module, "DEFAULT_CHECKPOINT_EVERY_S", seconds)
    return []


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def dataset(tmp_path: Path, n: int = 400) -> Path:
    d = make_dataset("exp(sin(pi*x) + y**2)", {"x": (-1, 1), "y": (-1, 1)}, n, seed=0, target="f")
    path = tmp_path / "data.csv"
    write_csv(path, d.names, d.X, d.y, d.target)
    return path


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.is_dir() else []


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", weights_only=True)


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


# ------------------------------------------------------------------------------------------------ kill -9
@pytest.mark.slow
def test_kill9_leaves_a_marked_run_that_resumes(tmp_path: Path) -> None:
    data = dataset(tmp_path, 1000)
    out = tmp_path / "runs"
    # a real process with a short checkpoint interval (patched in when the schema has no key for it yet)
    short = ["--set", "train.checkpoint_every_s=0.2"] if HAS_KEY else []
    script = textwrap.dedent(f"""
        import sys
        import kansci.pipeline.fit as f
        f.DEFAULT_CHECKPOINT_EVERY_S = 0.2
        from kansci.cli import main
        sys.argv = ["kansci", "fit", {str(data)!r}, "--out", {str(out)!r}, *{SLOW + short!r}]
        main()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        run = None
        while time.time() < deadline and proc.poll() is None:
            found = run_dirs(out)
            if found and (found[0] / "checkpoint.pt").is_file() and "checkpoint" in read_state(found[0]).fields:
                run = found[0]
                break
            time.sleep(0.02)
        assert run is not None, f"no checkpoint appeared; fit exited {proc.poll()}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()

    state = read_state(run)
    assert state.status == "stopped" and not state.complete and state.checkpoint
    assert not (run / "model.json").exists() and not (run / "metrics.json").exists()
    for name in ("config.yaml", "dataset.json", "data.npz"):
        assert (run / name).is_file(), name

    res = invoke("show", run)
    assert res.exit_code == 0, res.output
    assert "status: incomplete: stopped before it finished" in res.stdout and "killed or crashed" in res.stdout
    assert re.search(r"checkpoint: step \d+, saved", res.stdout) and f"kansci fit --resume {run}" in res.stdout
    doc = json.loads(invoke("show", run, "--json").stdout)
    assert doc["complete"] is False and doc["status"] == "stopped" and doc["checkpoint"]["step"] > 0

    for command in (("symbolify", run), ("plot", run)):
        res = invoke(*command)
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "incomplete" in lines[0] and f"kansci fit --resume {run}" in lines[0], lines
    assert invoke("show", "latest", "--out", out).exit_code == 2  # 'latest' is the newest *complete* run

    res = invoke("fit", "--resume", run, "--out", out)
    assert res.exit_code == 0, res.output
    (child,) = [p for p in run_dirs(out) if p != run]
    assert read_state(child).complete and not (child / "checkpoint.pt").exists()
    assert json.loads((child / "metrics.json").read_text())["parent"] == str(run.resolve())
    assert read_state(run).status == "stopped" and (run / "checkpoint.pt").is_file()  # the parent is not modified

    full = tmp_path / "full"
    assert invoke("fit", data, "--out", full, *SLOW).exit_code == 0
    assert_same_weights(run_dirs(full)[0], child)  # resuming after kill -9 changes nothing


# ------------------------------------------------------------------------------------------------ in process
@pytest.mark.parametrize("width", ["2,1,1", "auto"])
def test_periodic_checkpoints_change_nothing(tmp_path: Path, monkeypatch, width: str) -> None:
    data = dataset(tmp_path)
    quick = [*QUICK, "--width", width]  # the last --width wins
    assert invoke("fit", data, "--out", tmp_path / "plain", *quick).exit_code == 0
    seen: list[str] = []
    save = fit_module._Checkpoints.save

    def counting_save(self, checkpoint, log):
        seen.append(read_state(self.run).status)
        save(self, checkpoint, log)

    often = every(1e-9, monkeypatch)  # a checkpoint at every progress report
    monkeypatch.setattr(fit_module._Checkpoints, "save", counting_save)
    res = invoke("fit", data, "--out", tmp_path / "often", *quick, *often)
    assert res.exit_code == 0, res.output
    assert len(seen) > 10 and set(seen) == {"running"}
    (plain,), (often,) = run_dirs(tmp_path / "plain"), run_dirs(tmp_path / "often")
    assert_same_weights(plain, often)
    for name in ("history.csv", "events.json"):
        assert (plain / name).read_text() == (often / name).read_text(), name
    searched = json.loads((often / "metrics.json").read_text()).get("architecture_search")
    assert bool(searched) == (width == "auto")
    assert read_state(often).complete and not (often / "checkpoint.pt").exists()
    assert json.loads((often / "state.json").read_text())["status"] == "complete"


def test_the_run_directory_exists_while_training(tmp_path: Path, monkeypatch) -> None:
    data, out = dataset(tmp_path), tmp_path / "runs"
    looked: list[tuple[str, list[str]]] = []
    train_fit = fit_module.train_fit

    def spy(*args, **kwargs):
        (run,) = run_dirs(out)
        looked.append((read_state(run).status, sorted(p.name for p in run.iterdir())))
        return train_fit(*args, **kwargs)

    monkeypatch.setattr(fit_module, "train_fit", spy)
    assert invoke("fit", data, "--out", out, *QUICK).exit_code == 0
    assert looked == [("running", ["config.yaml", "data.npz", "dataset.json", "state.json"])]


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_failure_keeps_only_a_run_with_a_checkpoint(tmp_path: Path, monkeypatch, checkpointed: bool) -> None:
    data, out = dataset(tmp_path), tmp_path / "runs"
    calls = []

    def failing_progress(self, p):
        calls.append(p.step)
        if len(calls) == 4:
            raise RuntimeError("boom")
        if checkpointed:
            self.due = True

    monkeypatch.setattr(fit_module._Checkpoints, "progress", failing_progress)
    res = invoke("fit", data, "--out", out, *QUICK)
    assert res.exit_code == 1 and "boom" in res.stderr
    if not checkpointed:
        assert run_dirs(out) == []
        return
    (run,) = run_dirs(out)
    state = read_state(run)
    assert state.status == "failed" and state.checkpoint and "boom" in state.describe()
    assert "failed" in invoke("show", run).stdout
    assert invoke("symbolify", run).exit_code == 2


@pytest.mark.parametrize("checkpointed", [False, True])
def test_ctrl_c_while_the_run_directory_is_written(tmp_path: Path, monkeypatch, checkpointed: bool) -> None:
    data, out = dataset(tmp_path), tmp_path / "runs"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    often = every(1e-9, monkeypatch) if checkpointed else []
    monkeypatch.setattr(fit_module, "_write_result", interrupted)
    res = invoke("fit", data, "--out", out, *QUICK, *often)
    assert res.exit_code == 130 and res.stderr.strip().splitlines()[-1] == "error: interrupted", res.output
    assert "Traceback" not in res.output
    if not checkpointed:
        assert run_dirs(out) == []  # nothing half-written
        return
    (run,) = run_dirs(out)
    assert read_state(run).status == "interrupted" and (run / "checkpoint.pt").is_file()
    monkeypatch.undo()
    assert invoke("fit", "--resume", run, "--out", out).exit_code == 0


def test_first_ctrl_c_after_training_exits_130_with_a_complete_run(tmp_path: Path, monkeypatch) -> None:
    data, out = dataset(tmp_path), tmp_path / "runs"
    write_result = fit_module._write_result

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the fit command's handler only notes it
        write_result(*args, **kwargs)

    monkeypatch.setattr(fit_module, "_write_result", signalled)
    res = invoke("fit", data, "--out", out, *QUICK)
    assert res.exit_code == 130, res.output
    assert "interrupted after training; the run directory is complete" in res.stderr
    (run,) = run_dirs(out)
    assert read_state(run).complete


def test_resume_refusals(tmp_path: Path) -> None:
    data, out = dataset(tmp_path), tmp_path / "runs"
    assert invoke("fit", data, "--out", out, *QUICK).exit_code == 0
    (run,) = run_dirs(out)
    res = invoke("fit", "--resume", run)
    assert res.exit_code == 2 and "nothing to resume" in res.stderr
    (run / "state.json").write_text(json.dumps({"status": "running", "pid": os.getpid(),
                                                "host": read_state(run).fields["host"]}))
    res = invoke("fit", "--resume", run)
    assert res.exit_code == 2 and "still being trained" in res.stderr
    assert "running" in invoke("show", run).stdout
    res = invoke("symbolify", run)
    assert res.exit_code == 2 and "not complete yet" in res.stderr


def test_resume_without_a_checkpoint_starts_over(tmp_path: Path) -> None:
    data, out = dataset(tmp_path), tmp_path / "runs"
    assert invoke("fit", data, "--out", out, *QUICK).exit_code == 0
    (done,) = run_dirs(out)
    killed = tmp_path / "killed"  # as a kill -9 before the first checkpoint leaves it
    killed.mkdir()
    for name in ("config.yaml", "dataset.json", "data.npz"):
        (killed / name).write_bytes((done / name).read_bytes())
    (killed / "state.json").write_text(json.dumps({"status": "running", "pid": 2**22 + 12345, "host": "elsewhere"}))
    assert read_state(killed).status == "running"  # another host: it cannot be checked, so it may still run
    (killed / "state.json").write_text(json.dumps({"status": "interrupted"}))
    res = invoke("fit", "--resume", killed, "--out", out)
    assert res.exit_code == 0, res.output
    assert "training starts over" in res.stderr
    (child,) = [p for p in run_dirs(out) if p != done]
    assert_same_weights(done, child)
