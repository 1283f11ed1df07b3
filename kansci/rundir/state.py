"""The run marker, ``state.json``: whether a run directory is complete, and what to do with it when it is not.

``kansci fit`` creates its run directory when training starts and writes ``state.json`` with status ``running``
(the process id and host, the start time) right away, so a run killed at any moment (``kill -9``, a power loss) is
still clearly marked incomplete. While training it saves ``checkpoint.pt`` now and then and records it here. The
last file a finished fit writes is this marker, with status ``complete``; until then the run is not complete, and a
reader never takes it for one. The statuses:

- ``running``: a fit is writing it, or was killed (its process is gone; :func:`read_state` reports ``stopped``);
- ``interrupted``: Ctrl-C; ``checkpoint.pt`` holds the exact point it stopped at;
- ``failed``: an error ended training after a checkpoint was saved (the message is recorded);
- ``complete``: every file is written.

Runs written before the marker existed have no ``state.json``: they are complete when ``model.json`` is there, and
interrupted when ``metrics.json`` says so. Torch-free; every write goes through :mod:`kansci.atomic`.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kansci.atomic import write_json
from kansci.errors import RunDirError

__all__ = ["CHECKPOINT_FILE", "STATE_FILE", "RunState", "is_complete", "mark", "pid_alive", "read_state",
           "require_complete", "resume_checkpoint"]

STATE_FILE = "state.json"
CHECKPOINT_FILE = "checkpoint.pt"
RUNNING, INTERRUPTED, FAILED, COMPLETE = "running", "interrupted", "failed", "complete"
STOPPED = "stopped"  # read only: status running, but the process that wrote it is gone


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one owned by another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def mark(run: str | Path, status: str, **fields: Any) -> dict[str, Any]:
    """Write ``state.json`` atomically: ``status`` plus ``fields`` over what the marker already holds. A run that
    starts (``running``) records this process and host and the start time."""
    path = Path(run) / STATE_FILE
    doc = _read(path) or {}
    if status == RUNNING and doc.get("status") != RUNNING:
        doc = {"pid": os.getpid(), "host": socket.gethostname(), "started": now_text()}
    doc = {**doc, **fields, "status": status, "updated": now_text()}
    write_json(path, doc)
    return doc


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


@dataclass(frozen=True)
class RunState:
    """What a run directory's marker says. ``status``: complete, running, stopped, interrupted or failed (see the
    module docstring); ``checkpoint``: a ``checkpoint.pt`` is there to resume from; ``fields``: the marker itself."""

    run: Path
    status: str
    checkpoint: bool
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    def describe(self) -> str:
        """The status in words, e.g. ``stopped before it finished (process 123 on host is gone: killed or crashed)``."""
        f = self.fields
        who = f"process {f.get('pid')} on {f.get('host')}"
        return {
            COMPLETE: "complete",
            RUNNING: f"running ({who}, started {f.get('started')})",
            STOPPED: f"incomplete: stopped before it finished ({who} is gone: killed or crashed)",
            INTERRUPTED: "incomplete: interrupted (Ctrl-C)",
            FAILED: f"incomplete: failed ({f.get('error', 'unknown error')})",
        }.get(self.status, f"incomplete ({self.status})")

    def checkpoint_text(self) -> str:
        """Where training would continue from, in words."""
        if not self.checkpoint:
            return "none yet; `kansci fit --resume` starts the training over from the run's config and data"
        saved = self.fields.get("checkpoint") or {}
        at = f"step {saved['step']}, " if saved.get("step") is not None else ""
        return f"{at}saved {saved.get('saved', 'at the interrupt')}; `kansci fit --resume` continues from it"


def read_state(run: str | Path) -> RunState:
    """The state of a run directory (any folder: one that is not a run reads as status ``unknown``)."""
    run = Path(run)
    has_ck = (run / CHECKPOINT_FILE).is_file()
    doc = _read(run / STATE_FILE)
    if doc is None:  # written before the marker existed
        metrics = _read(run / "metrics.json") or {}
        if metrics.get("status") == INTERRUPTED:
            return RunState(run, INTERRUPTED, has_ck, {})
        return RunState(run, COMPLETE if (run / "model.json").is_file() else "unknown", has_ck, {})
    status = str(doc.get("status", "unknown"))
    if status == RUNNING and not _writer_alive(doc):
        status = STOPPED
    return RunState(run, status, has_ck, doc)


def _writer_alive(doc: dict[str, Any]) -> bool:
    """Whether the process that marked the run ``running`` still runs. On another host that cannot be checked, so
    it counts as alive."""
    if doc.get("host") != socket.gethostname():
        return True
    pid = doc.get("pid")
    return isinstance(pid, int) and pid_alive(pid)


def is_complete(run: str | Path) -> bool:
    return read_state(run).complete


def require_complete(run: str | Path) -> RunState:
    """The run's state when it is complete; otherwise RunDirError (exit 2) saying how to finish it."""
    state = read_state(run)
    if state.complete:
        return state
    run = Path(run)
    if state.status == RUNNING:
        raise RunDirError(f"{run}: the run is not complete yet: {state.describe()}",
                          f"wait for that fit to finish (`kansci show {run}` tells when)", path=run)
    if state.status == "unknown":
        raise RunDirError(f"{run}: not a kansci run directory (no {STATE_FILE} or model.json)",
                          "pass a folder written by `kansci fit`", path=run)
    raise RunDirError(f"{run}: the run is {state.describe()}", f"finish it first: kansci fit --resume {run}",
                      path=run)


def resume_checkpoint(run: str | Path) -> Path | None:
    """What ``kansci fit --resume RUN`` continues from: ``checkpoint.pt``, or None to start the training over from
    the run's own config and data (a fit stopped before its first checkpoint). RunDirError when there is nothing to
    resume: not a run, a complete run, or one still being trained."""
    run = Path(run)
    state = read_state(run)
    if state.complete:
        raise RunDirError(f"{run}: the run is complete; there is nothing to resume",
                          f"use it as it is, e.g. `kansci symbolify {run}`", path=run)
    if state.status == RUNNING:
        raise RunDirError(f"{run}: the run is still being trained ({state.describe()})",
                          "wait for it to finish, or stop that process first", path=run)
    if state.checkpoint:
        return run / CHECKPOINT_FILE
    inputs = all((run / name).is_file() for name in ("config.yaml", "dataset.json", "data.npz"))
    if state.status == "unknown" or not inputs:
        raise RunDirError(f"{run}: no {CHECKPOINT_FILE} to resume from",
                          "pass a run directory written by an interrupted `kansci fit`", path=run)
    return None
