"""Ctrl-C during `kansci fit` saves a checkpoint and exits 130; `--resume` ends with the same weights as an
uninterrupted fit. Exercised on real subprocesses with a real SIGINT."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from kansci.data.synthetic import make_dataset, write_csv

ARGS = ["--width", "2,1,1", "--set", "train.steps=40", "--set", "train.grids=[3,5,10]", "--set", "train.patience=0",
        "--set", "train.log_every=2"]


def kansci(*args, **kw):
    return subprocess.run([sys.executable, "-m", "kansci", *args], capture_output=True, text=True, timeout=600, **kw)


def run_dirs(out):
    return sorted(p for p in out.iterdir() if p.is_dir())


@pytest.mark.slow
def test_sigint_then_resume_matches_uninterrupted_fit(tmp_path):
    d = make_dataset("exp(sin(pi*x) + y**2)", {"x": (-1, 1), "y": (-1, 1)}, 1000, seed=0, target="f")
    data = tmp_path / "data.csv"
    write_csv(data, d.names, d.X, d.y, d.target)
    full_out, int_out = tmp_path / "full", tmp_path / "interrupted"
    done = kansci("fit", str(data), *ARGS, "--out", str(full_out))
    assert done.returncode == 0, done.stderr
    (full_run,) = run_dirs(full_out)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kansci", "fit", str(data), *ARGS, "--out", str(int_out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    deadline = time.time() + 300
    while time.time() < deadline:  # wait for a few progress lines, then interrupt mid-training
        line = proc.stderr.readline()
        seen.append(line)
        if line.startswith("step") and len([s for s in seen if s.startswith("step")]) >= 8:
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, "".join(seen) + stderr
    assert "Traceback" not in stderr
    (parent,) = run_dirs(int_out)
    assert (parent / "checkpoint.pt").is_file() and not (parent / "model.pt").exists()
    assert '"status": "interrupted"' in (parent / "metrics.json").read_text()
    assert f"kansci fit --resume {parent}" in stdout

    resumed = kansci("fit", "--resume", str(parent), "--out", str(int_out))
    assert resumed.returncode == 0, resumed.stderr
    child = [p for p in run_dirs(int_out) if p != parent]
    assert len(child) == 1
    assert str(parent.resolve()) in (child[0] / "metrics.json").read_text()  # records its parent
    assert (parent / "checkpoint.pt").is_file()  # the parent is never overwritten
    a = torch.load(full_run / "model.pt", weights_only=True)
    b = torch.load(child[0] / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_other_training_flags(tmp_path):
    r = kansci("fit", "--resume", str(tmp_path), "--steps", "5")
    assert r.returncode == 2 and "--resume" in r.stderr
    r = kansci("fit", "--resume", str(tmp_path))
    assert r.returncode == 2 and "no checkpoint.pt" in r.stderr
