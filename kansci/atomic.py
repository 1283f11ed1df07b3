"""Atomic file writes, the one implementation: every file is written to a temporary name in the same folder,
flushed to disk, and renamed into place, so a reader never sees a half-written file and a crash leaves either the old
file or the new one. A base layer with no torch import: run directories, CSV files written by ``dataset make`` and
the benchmark's report all write through it.

A write that fails (a full disk, a read-only folder, no permission) removes its temporary file and any folder it had
just created, leaves the old file as it was, and raises :class:`FileWriteError`: a :class:`KansciError` naming the
file, the reason and a fix, and an ``OSError`` too, so code that treats a failed write as non-fatal still catches it.
Inside :func:`all_or_nothing`, a group of files (``symbolic/``, ``figures/``) is renamed into place only once every
one of them is written, so a failure leaves every old file of the group as it was."""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kansci.errors import KansciError

__all__ = ["FileWriteError", "all_or_nothing", "os_error", "write_bytes", "write_csv_rows", "write_json",
           "write_text"]

_UMASK = os.umask(0o022)  # read the process umask (there is no getter) and put it back at once
os.umask(_UMASK)

_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)  # EDQUOT: not on Windows
_HINTS: dict[int, str] = {
    **dict.fromkeys(_NO_SPACE, "free some disk space or write to another folder, then run the command again"),
    errno.EROFS: "the file system is read-only; write to another folder",
    errno.EACCES: "check the folder's permissions, or write to another folder",
    errno.EPERM: "check the folder's permissions, or write to another folder",
}


@dataclass
class _Group:
    """The writes of an :func:`all_or_nothing` block: temporary files with their targets, and folders created."""

    files: list[tuple[Path, Path]] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)

    def discard(self, start: int = 0) -> None:
        for tmp, _ in self.files[start:]:
            tmp.unlink(missing_ok=True)
        _remove_empty(self.folders)


#: the open :func:`all_or_nothing` block of this thread or task (None: writes are renamed into place at once)
_STAGED: ContextVar[_Group | None] = ContextVar("kansci_atomic_staged", default=None)


class FileWriteError(KansciError, OSError):
    """A file could not be written (``errno`` says why: ``ENOSPC`` for a full disk). The old file, if any, is
    unchanged and no temporary file is left. Also an ``OSError``."""


def os_error(exc: OSError, path: str | os.PathLike[str] | None = None, *,
             action: str = "could not write") -> KansciError:
    """``exc`` as one line naming the file, the reason and a fix, e.g. ``runs/a/model.pt: could not write: no space
    left on device (hint: free some disk space ...)``. ``path`` defaults to the file the error names; an empty
    ``action`` gives just ``<file>: <reason>``."""
    if isinstance(exc, KansciError):
        return exc
    where = path if path is not None else exc.filename
    reason = (exc.strerror or str(exc) or type(exc).__name__).strip()
    reason = reason[:1].lower() + reason[1:]
    prefix = f"{os.fspath(where)}: " if where is not None else ""
    err = FileWriteError(f"{prefix}{action + ': ' if action else ''}{reason}",
                         _HINTS.get(exc.errno or 0, "check the folder, or write to another folder"),
                         path=None if where is None else os.fspath(where))
    err.errno, err.strerror, err.filename = exc.errno, exc.strerror, None if where is None else os.fspath(where)
    err.__cause__ = exc
    return err


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and an atomic rename (deferred to the end of an
    :func:`all_or_nothing` block). Raises :class:`FileWriteError` when the file cannot be written."""
    path = Path(path)
    created = _make_folders(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the permissions open() would
        group = _STAGED.get()
        if group is not None:
            group.files.append((Path(tmp), path))
            group.folders.extend(created)
            return path
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        _remove_empty(created)
        if isinstance(exc, OSError) and not isinstance(exc, KansciError):
            raise os_error(exc, path) from exc
        raise
    return path


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Write a group of files all or not at all: inside the block each write goes to its temporary file (flushed to
    disk); when the block ends without an error every file is renamed into place, and on an error (a full disk)
    every temporary file is removed and no target is touched. Nested blocks join the outermost one."""
    if _STAGED.get() is not None:
        yield
        return
    group = _Group()
    token = _STAGED.set(group)
    try:
        yield
    except BaseException:
        group.discard()
        raise
    finally:
        _STAGED.reset(token)
    with _sigint_deferred():  # a Ctrl-C between two renames would leave half a group: it waits for the last one
        for i, (tmp, path) in enumerate(group.files):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                group.discard(i)
                raise os_error(exc, path) from exc


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives during the block and deliver it to the previous handler after it (main
    thread only: Python runs signal handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if caught and callable(old):
            old(*caught[0])
        elif caught and old == signal.SIG_DFL:
            raise KeyboardInterrupt


def _make_folders(path: Path) -> list[Path]:
    """Create ``path``'s missing parent folders; returns those created, outermost first."""
    missing = [p for p in reversed(path.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(missing)
        raise os_error(exc, path.parent, action="could not create the folder") from exc
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed write created (innermost first), where they are still empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_csv_rows(path: str | Path, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return write_text(path, buf.getvalue())
