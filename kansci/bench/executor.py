"""Run benchmark tasks in separate processes with hard time limits, on this machine or on a Dask cluster.

Every task runs as ``fn(task, mark)`` in its own child process (``python -c ...``, its own process session), watched
by :func:`supervise`. The child reports progress through ``mark(event, data)``, appended to an events file:

* ``start``: written by the child once ``fn`` is imported; the budget clock starts here (imports excluded);
* ``pipeline_done``: ``fn`` says its timed work is over; from now on it has ``score_s`` seconds to return;
* any other event name: recorded (e.g. ``fit`` with the network's metrics), so a killed task still reports them.

When a limit passes, the whole process group is killed with SIGKILL, so a runaway task really stops (a thread could
not be stopped). The child ends itself as soon as its supervisor is gone (a ``kill -9`` of the parent leaves no task
running on), and a watchdog ends it at the sum of all limits in any case.

Executors only decide *where* :func:`supervise` runs: :class:`LocalExecutor` calls it from a thread pool (the
threads only wait; the work is in the child processes); :class:`DaskExecutor` submits the very same call to a Dask
distributed cluster, where it runs inside a worker and spawns the child on that worker's machine. The budget is
therefore enforced the same way in both. Dask workers must have kansci installed; run directories are written on
the worker's filesystem (use a shared --out folder for a multi-machine cluster), results come back to the client.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kansci.bench import live
from kansci.bench.live import kill_live  # noqa: F401 - kept importable from here
from kansci.errors import ConfigError

T = TypeVar("T")
Mark = Callable[[str, dict], None]
_CHILD = "from kansci.bench.executor import _child_main; _child_main()"


@dataclass(frozen=True)
class Limits:
    """Seconds allowed per phase: ``startup_s`` until the child has imported its task, ``budget_s`` from then
    until ``pipeline_done`` (or the result), ``score_s`` after ``pipeline_done``; ``math.inf``: no limit."""

    budget_s: float
    score_s: float = 120.0
    startup_s: float = 120.0


# ------------------------------------------------------------------------------------------------- child side
def _child_main() -> None:
    """Entry point of a task process: ``argv = [spec.pkl, events.jsonl]`` (both written by :func:`supervise`)."""
    spec_path, events_path = sys.argv[1], sys.argv[2]
    with open(spec_path, "rb") as fh:
        spec = pickle.load(fh)  # written by our own supervisor, never user data
    sys.path[:0] = [p for p in spec["sys_path"] if p not in sys.path]
    if math.isfinite(spec["hard_s"]):
        watchdog = threading.Timer(spec["hard_s"], os._exit, (3,))  # in case the supervisor itself dies
        watchdog.daemon = True
        watchdog.start()
    threading.Thread(target=_orphan_watch, args=(spec["parent"],), daemon=True).start()
    events = open(events_path, "a", encoding="utf-8")

    def mark(event: str, data: dict | None = None) -> None:
        events.write(json.dumps({"event": event, "t": time.time(), **(data or {})}, default=str) + "\n")
        events.flush()

    try:
        fn, task = pickle.loads(spec["payload"])
        mark("start", {"pid": os.getpid()})
        mark("result", {"row": fn(task, mark)})
    except BaseException as exc:  # reported to the supervisor, which owns the verdict
        mark("error", {"error": f"{type(exc).__name__}: {exc}".strip(), "traceback": traceback.format_exc()})
    finally:
        events.close()


def _orphan_watch(parent: int, every_s: float = 0.5) -> None:
    """End this task process at once when its supervisor ``parent`` is gone (killed with ``kill -9``, say): a task
    that nobody waits for must not run on (the process is re-parented, so ``getppid`` changes)."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(3)


# ------------------------------------------------------------------------------------------------- supervisor
def _read_events(path: Path, offset: int) -> tuple[list[dict], int]:
    """Complete JSON lines of ``path`` after byte ``offset``; returns (events, new offset)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events, offset + end


def _tail(path: Path, n: int = 600) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:].strip()
    except OSError:
        return ""


def supervise(fn: Callable[[Any, Mark], dict], task: Any, limits: Limits, poll_s: float = 0.05) -> dict[str, Any]:
    """Run ``fn(task, mark)`` in a child process under ``limits``; never raises for task failures.

    ``fn`` and ``task`` must be picklable (``fn`` by reference: a module-level function). Returns a dict:
    ``status`` ("ok", "timeout" or "error"), ``row`` (fn's return value, or None), ``events`` (last payload per
    event name), ``stage`` (last event seen), ``phase`` (where a timeout hit), ``error``, ``elapsed_s`` (from the
    start event) and ``pid`` of the child (already reaped when this returns)."""
    work = Path(tempfile.mkdtemp(prefix="kansci-task-"))
    spec_path, events_path, log_path = work / "spec.pkl", work / "events.jsonl", work / "stderr.log"
    hard_s = limits.startup_s + limits.budget_s + limits.score_s + 30.0
    spec = {"sys_path": list(sys.path), "payload": pickle.dumps((fn, task)), "hard_s": hard_s, "parent": os.getpid()}
    spec_path.write_bytes(pickle.dumps(spec))
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")
    out: dict[str, Any] = {"status": "error", "row": None, "events": {}, "stage": "spawn", "phase": "startup",
                           "error": "", "elapsed_s": None, "pid": None}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(spec_path), str(events_path)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    out["pid"] = proc.pid
    live.watch(proc)
    t_start = None
    deadline = time.monotonic() + limits.startup_s
    offset = 0
    try:
        while True:
            rc = proc.poll()
            events, offset = _read_events(events_path, offset)
            for ev in events:
                name = ev.pop("event")
                out["events"][name] = ev
                out["stage"] = name
                if name == "start":
                    t_start, out["phase"] = time.monotonic(), "pipeline"
                    deadline = t_start + limits.budget_s
                elif name == "pipeline_done":
                    out["phase"] = "score"
                    deadline = time.monotonic() + limits.score_s
            if "result" in out["events"] or "error" in out["events"]:
                if "result" in out["events"]:
                    out["status"], out["row"] = "ok", out["events"]["result"].get("row")
                else:
                    out["error"] = out["events"]["error"].get("error", "")
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    live.kill(proc)
                break
            if rc is not None:
                out["error"] = f"task process exited with code {rc} without a result: {_tail(log_path)}"
                break
            if time.monotonic() > deadline:
                live.kill(proc)
                out["status"] = "timeout"
                limit = {"startup": limits.startup_s, "pipeline": limits.budget_s, "score": limits.score_s}
                out["error"] = f"killed after {limit[out['phase']]:g} s in phase {out['phase']}"
                break
            time.sleep(poll_s)
    finally:
        if proc.poll() is None:
            live.kill(proc)
        live.unwatch(proc)
        out["elapsed_s"] = None if t_start is None else time.monotonic() - t_start
        for p in (spec_path, events_path, log_path):
            p.unlink(missing_ok=True)
        work.rmdir()
    return out


# ------------------------------------------------------------------------------------------------- executors
class LocalExecutor:
    """Up to ``workers`` task processes at a time on this machine (default: ``os.cpu_count()``)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def map_unordered(self, call: Callable[[T], Any], items: Sequence[T]) -> Iterator[tuple[T, Any]]:
        """Yield ``(item, call(item))`` as each finishes. On interrupt, pending items are cancelled and running
        task processes stopped (:func:`kansci.bench.live.stop_live`)."""
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kansci-bench")
        futures: dict[Future, T] = {}
        try:
            futures = {pool.submit(call, item): item for item in items}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            live.stop_live(set(futures))
            raise
        finally:
            pool.shutdown(wait=True)


class DaskExecutor:
    """The same calls on an existing Dask distributed cluster at ``address`` (``tcp://host:port``)."""

    def __init__(self, address: str, connect_timeout_s: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("--scheduler needs Dask distributed, which is not installed",
                              'pip install "kansci[dask]"') from None
        try:
            self.client = Client(address, timeout=f"{connect_timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot connect to the Dask scheduler at {address!r} ({type(exc).__name__}: {exc})",
                              "start one with `dask scheduler` and workers with `dask worker ADDRESS`; "
                              "pass its address as tcp://host:8786") from None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def map_unordered(self, call: Callable[[T], Any], items: Sequence[T],
                      keys: Sequence[str] | None = None) -> Iterator[tuple[T, Any]]:
        """Yield ``(item, call(item))`` as each finishes on the cluster. On interrupt, the pending calls are cancelled
        and the running task processes on the workers get the Ctrl-C (:func:`kansci.bench.live.interrupt_live`)."""
        from distributed import as_completed as dask_completed

        futures = {}
        for i, item in enumerate(items):
            key = f"{keys[i]}-{os.getpid()}-{time.time_ns()}" if keys else None
            futures[self.client.submit(call, item, pure=False, key=key)] = item
        try:
            for fut in dask_completed(list(futures), loop=self.client.loop):
                yield futures[fut], fut.result()
        except BaseException:
            self.client.cancel(list(futures))  # pending ones; running ones get the Ctrl-C where they run
            with contextlib.suppress(Exception):
                self.client.run(live.interrupt_live)
            raise


def make_executor(workers: int | None = None, scheduler: str | None = None) -> LocalExecutor | DaskExecutor:
    """A :class:`DaskExecutor` when ``scheduler`` is given, else a :class:`LocalExecutor`."""
    return DaskExecutor(scheduler) if scheduler else LocalExecutor(workers)
