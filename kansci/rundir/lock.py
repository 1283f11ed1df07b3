"""An exclusive lock on an output folder, so that two writers (two ``kansci bench feynman`` on one ``--out``) never
share it.

The lock is a file created with ``O_CREAT | O_EXCL`` (atomic, also on NFS v3+), holding the holder's pid, host, start
time and command as JSON. It is removed when the holder finishes, fails or is interrupted. A holder killed with
``kill -9`` leaves it behind: a lock whose pid no longer runs on this host is stale, and the next writer takes it over
with a warning. A lock from another host is never taken over (its process cannot be checked): the message says which
file to delete. Torch-free.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kansci.errors import RunDirError
from kansci.rundir.state import now_text, pid_alive

__all__ = ["LOCK_FILE", "folder_lock"]

LOCK_FILE = ".kansci.lock"
_UNREADABLE_GRACE_S = 10.0  # a lock file that stays empty or garbled this long is stale (its writer died at birth)


def _holder(path: Path) -> dict[str, Any] | None:
    """The lock's content, or None when it is empty or not JSON (being written, or its writer died)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _describe(doc: dict[str, Any]) -> str:
    what = f" ({doc['command']})" if doc.get("command") else ""
    return f"process {doc.get('pid')} on {doc.get('host')}, started {doc.get('started')}{what}"


def _stale(path: Path, doc: dict[str, Any] | None) -> bool:
    """Whether the lock at ``path`` may be taken over: its holder's process is gone (same host), or the file has
    stayed unreadable for a while."""
    if doc is None:
        try:
            return time.time() - path.stat().st_mtime > _UNREADABLE_GRACE_S
        except OSError:
            return True  # gone meanwhile: the next attempt to create it decides
    pid = doc.get("pid")
    return doc.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid)


def _take_over(path: Path, seen: str) -> None:
    """Remove a stale lock, unless another writer replaced it since we read ``seen`` (then it is put back)."""
    aside = path.with_name(f"{path.name}.{os.getpid()}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    try:
        now = aside.read_text(encoding="utf-8")
    except OSError:
        now = seen
    if now != seen:  # someone took it over first and holds it now: give it back
        try:
            os.link(aside, path)
        except OSError:
            pass
    aside.unlink(missing_ok=True)


@contextmanager
def folder_lock(folder: str | Path, *, what: str = "kansci", command: str | None = None,
                warn: Callable[[str], None] = lambda s: None) -> Iterator[Path]:
    """Hold ``folder/.kansci.lock`` for the duration (the folder is created if need be); RunDirError (exit 2) naming
    the holder when another live process holds it. ``what`` names the kind of writer in messages; ``warn``
    receives the stale-lock warning."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": now_text(),
                       "command": command or what}) + "\n"
    for _ in range(20):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                seen = path.read_text(encoding="utf-8")
            except OSError:
                continue
            doc = _holder(path)
            if not _stale(path, doc):
                holder = _describe(doc) if doc else "a process that is starting"
                raise RunDirError(f"{folder} is in use by another {what}: {holder}",
                                  f"wait for it to finish or use another folder; if it is no longer running, delete "
                                  f"{path}", path=path) from None
            warn(f"warning: {folder}: taking over the lock of {_describe(doc) if doc else 'a process'} "
                 "that is no longer running")
            _take_over(path, seen)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(mine)
            fh.flush()
            os.fsync(fh.fileno())
        break
    else:
        raise RunDirError(f"{path}: could not take the lock", "try again; if it persists, delete the file", path=path)
    try:
        yield path
    finally:
        try:
            if path.read_text(encoding="utf-8") == mine:
                path.unlink()
        except OSError:
            pass
