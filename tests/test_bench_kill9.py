"""``kill -9`` of a running ``kansci bench feynman`` at a seeded random moment after its first result row, then
``--resume``: the unfinished tasks run, and every (equation, seed) has exactly one row, the rows written before the
kill unchanged. The killed benchmark's task processes do not run on (they notice that their supervisor is gone)."""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kansci.bench import report

IDS = ["I.12.1", "I.14.3", "I.12.5", "I.14.4", "II.3.24"]
ARGS = ["bench", "feynman", "--ids", ",".join(IDS), "--n-train", "150", "--n-test", "50", "--budget-s", "40",
        "--workers", "2"]


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pid: int, wait_s: float = 10.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process parents from /proc")
@pytest.mark.parametrize("seed", [0, 1])
def test_kill9_then_resume_runs_each_task_once(tmp_path: Path, seed: int) -> None:
    out = tmp_path / "bench"
    results = out / "results.csv"
    log = open(tmp_path / "first.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "kansci", *ARGS, "--out", str(out)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not report.read_rows(results):
            time.sleep(0.05)
        assert proc.poll() is None, f"the benchmark ended before it could be killed: {proc.returncode}"
        time.sleep(random.Random(seed).uniform(0.0, 6.0))
        tasks = children(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its process group (task processes have their own)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    before = report.read_rows(results)
    assert before and all(gone(pid) for pid in tasks), tasks
    assert (out / ".kansci.lock").exists()  # left behind by the killed benchmark

    again = subprocess.run([sys.executable, "-m", "kansci", *ARGS, "--out", str(out), "--resume", "--json"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    rows = report.read_rows(results)
    counts = collections.Counter((r["id"], r["seed"]) for r in rows)
    assert counts == {(i, 0): 1 for i in IDS}, counts
    assert rows[: len(before)] == before  # no row lost or changed
    assert (doc["skipped"], doc["ran"]) == (len(before), len(IDS) - len(before))
    assert (out / "summary.md").is_file() and not (out / ".kansci.lock").exists()
    assert "Traceback" not in again.stderr
