"""Two benchmarks, one folder: ``kansci bench feynman --out DIR`` holds an exclusive lock on DIR; a second one is
refused with a one-line error naming the holder; a lock left by a killed process is taken over with a warning.

Task processes import this module (through the fake task): keep its top-level imports light."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kansci.errors import RunDirError
from kansci.rundir.lock import LOCK_FILE, folder_lock
from tests.test_bench_feynman import fast_task

HOLD = """
import sys, time
from kansci.rundir.lock import folder_lock
with folder_lock(sys.argv[1], what="kansci bench feynman", command="kansci bench feynman --out x"):
    print("locked", flush=True)
    time.sleep(120)
"""


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01 00:00:00", "command": "x"}
    path = folder / LOCK_FILE
    path.write_text(json.dumps({**doc, **fields}) + "\n", encoding="utf-8")
    return path


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with folder_lock(tmp_path, what="kansci bench feynman") as path:
        held = json.loads(path.read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        with pytest.raises(RunDirError) as info:
            with folder_lock(tmp_path, what="kansci bench feynman"):
                pass
        assert f"is in use by another kansci bench feynman: process {os.getpid()}" in info.value.one_line()
        assert info.value.exit_code == 2 and path.is_file()
    assert not path.exists()
    with pytest.raises(ValueError), folder_lock(tmp_path):  # released on errors too
        raise ValueError("boom")
    assert not (tmp_path / LOCK_FILE).exists()


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    pid = dead_pid()
    write_lock(tmp_path, pid=pid)
    warnings: list[str] = []
    with folder_lock(tmp_path, warn=warnings.append) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert len(warnings) == 1 and f"process {pid}" in warnings[0] and "no longer running" in warnings[0]
    assert not path.exists()


def test_lock_of_another_host_is_never_taken_over(tmp_path: Path) -> None:
    path = write_lock(tmp_path, pid=dead_pid(), host="some-other-host")
    with pytest.raises(RunDirError) as info:
        with folder_lock(tmp_path):
            pass
    assert "on some-other-host" in info.value.message and str(path) in info.value.hint
    assert path.is_file()


def test_unreadable_lock_is_stale_only_after_a_grace_period(tmp_path: Path) -> None:
    path = tmp_path / LOCK_FILE
    path.write_text("")
    with pytest.raises(RunDirError, match="a process that is starting"):
        with folder_lock(tmp_path):
            pass
    old = time.time() - 60
    os.utime(path, (old, old))
    with folder_lock(tmp_path):
        pass
    assert not path.exists()


def test_second_bench_on_a_folder_exits_2_naming_the_holder(tmp_path: Path) -> None:
    from tests.cli_support import invoke_in

    out = tmp_path / "bench"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = invoke_in(tmp_path, ["bench", "feynman", "--ids", "I.6.2a", "--out", str(out)])
        assert res.exit_code == 2 and res.stdout == ""
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"is in use by another kansci bench feynman: process {holder.pid} on {socket.gethostname()}" in lines[0]
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing else written

        os.kill(holder.pid, signal.SIGKILL)  # the holder dies without releasing the lock
        holder.wait(timeout=30)
        from kansci.bench.feynman import run_feynman_bench

        logged: list[str] = []
        summary = run_feynman_bench(ids=["I.6.2a", "I.14.3"], n_train=20, n_test=10, budget_s=30.0, workers=1,
                                    out=out, task_fn=fast_task, log=logged.append)
        assert summary.ran == 2 and not (out / LOCK_FILE).exists()
        assert any(f"process {holder.pid}" in line and "no longer running" in line for line in logged), logged
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.stdout.close()
