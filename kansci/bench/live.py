"""The task processes this process has started and still watches (:func:`kansci.bench.executor.supervise`), and how
they are stopped: killed with their whole process group, or first asked to stop, the way a Ctrl-C asks."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from concurrent.futures import Future, wait

GRACE_S = 10.0  # seconds a task process gets to stop after a Ctrl-C is passed on to it, before it is killed
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def watch(proc: subprocess.Popen) -> None:
    with _LIVE_LOCK:
        _LIVE.add(proc)


def unwatch(proc: subprocess.Popen) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(proc)


def _live() -> list[subprocess.Popen]:
    with _LIVE_LOCK:
        return list(_LIVE)


def kill(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and its process group (it leads its own session, so this reaches its children) and reap it."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def kill_live() -> None:
    """Kill every task process this process started and is still watching."""
    for proc in _live():
        kill(proc)


def interrupt_live() -> None:
    """Pass a Ctrl-C (SIGINT) on to every watched task process and its process group; waits for nothing."""
    for proc in _live():
        try:
            os.killpg(proc.pid, signal.SIGINT) if hasattr(os, "killpg") else proc.send_signal(signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            pass


def stop_live(watchers: set[Future], grace_s: float = GRACE_S) -> None:
    """On interrupt: pass the Ctrl-C on to every task process (each stops as its own Ctrl-C handling says, leaving no
    half-written file), give them ``grace_s`` seconds, then kill what still runs until every watcher thread in
    ``watchers`` is done (one may be starting a task process right now). A second Ctrl-C skips the grace period."""
    try:
        interrupt_live()
        wait(_pending(watchers), timeout=grace_s)
    except KeyboardInterrupt:
        pass
    while _pending(watchers):
        kill_live()
        wait(_pending(watchers), timeout=0.1)


def _pending(watchers: set[Future]) -> set[Future]:
    """The watchers not done yet. ``Future.done()``, not ``wait``: a call cancelled before it started stays
    "cancelled" (never "cancelled and notified") once its pool is shut down, and ``wait`` would wait for it forever."""
    return {f for f in watchers if not f.done()}
