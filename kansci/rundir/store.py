"""The only writer (and reader) of run directories.

Layout::

    <out>/<name>-<YYYYmmdd-HHMMSS>[-N]/
        config.yaml dataset.json model.json model.pt history.csv metrics.json
        state.json (the run marker: :mod:`.state`)  symbolic/  figures/  checkpoint.pt (incomplete runs only)

Every file is written through :mod:`kansci.atomic`, so a reader never sees a half-written file, and a write that
fails (a full disk) raises :class:`kansci.atomic.FileWriteError` and leaves the old file as it was. Run names are
sanitized to one safe path component; a run directory is reserved with an atomic ``mkdir``, so two runs started in the
same second with the same name get distinct directories. Models are saved as ``model.json`` (architecture as data) +
``model.pt`` (a plain ``state_dict``) and loaded with ``torch.load(weights_only=True)``: a pickle that would run code
is refused.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from kansci.atomic import os_error, write_bytes, write_json
from kansci.core.model import KAN
from kansci.errors import RunDirError
from kansci.rundir.state import CHECKPOINT_FILE, is_complete, read_state, require_complete

_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_name(name: str) -> str:
    """Reduce a run name to one safe path component: ``../../x`` -> ``x``; empty -> ``run``."""
    base = _NAME_OK.sub("-", name.replace("\\", "/").split("/")[-1]).strip(".-")
    return base[:80] or "run"


def new_run_dir(out: str | Path, name: str) -> Path:
    """Create and return a fresh run directory ``out/<name>-<timestamp>[-N]`` (never an existing one)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a full disk or a read-only folder: one line naming the folder (FileWriteError)
        raise os_error(exc, out, action="could not create the folder") from exc
    stem = f"{sanitize_name(name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 10_000):
        path = out / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise os_error(exc, path, action="could not create the run directory") from exc
        assert path.resolve().parent == out.resolve(), path
        return path
    raise RunDirError(f"{out}: could not create a new run directory for {name!r}", "clean up the output folder")


def check_out_dir(out: str | Path) -> Path:
    """Fail early (before any training) when ``out`` cannot hold run directories."""
    out = Path(out)
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise RunDirError(f"{p}: exists and is not a folder, so it cannot hold run directories",
                                  "pass another --out (output.dir)")
            if not os.access(p, os.W_OK):
                raise RunDirError(f"{p}: not writable", "pass another --out (output.dir)")
            break
    return out


def remove_run_dir(path: Path) -> None:
    """Delete a run directory that failed before it was complete."""
    shutil.rmtree(path, ignore_errors=True)


def save_tensors(path: str | Path, obj: Any) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes(path, buf.getvalue())


def save_arrays(path: str | Path, **arrays: Any) -> Path:
    """Numeric arrays as ``.npz`` (no pickled objects)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    return write_bytes(path, buf.getvalue())


def load_arrays(path: Path) -> dict[str, Any]:
    import numpy as np

    if not path.is_file():
        raise RunDirError(f"{path}: missing", "re-run `kansci fit` to recreate the run directory")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:
        raise RunDirError(f"{path}: unreadable ({type(exc).__name__})", "re-run `kansci fit`") from exc


# ----------------------------------------------------------------------------------------------------- reading
def read_json(run: Path, name: str) -> dict[str, Any]:
    path = Path(run) / name
    if not path.is_file():
        raise RunDirError(f"{path}: missing", f"is {run} a complete kansci run directory? re-run `kansci fit`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc})",
                          "the file is corrupt; re-run the step that wrote it") from exc


def load_tensors(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with RunDirError for missing, truncated, garbage or unsafe files."""
    if not path.is_file():
        raise RunDirError(f"{path}: missing", "re-run `kansci fit` to recreate the model")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RunDirError(
            f"{path}: refused to load: it holds Python objects other than tensors (kansci never unpickles code)",
            "the file was not written by kansci or was tampered with; re-run `kansci fit`",
        ) from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError... depending on the damage
        kind = "truncated" if isinstance(exc, EOFError) or "central directory" in str(exc) else "not a tensor file"
        raise RunDirError(f"{path}: refused to load: unreadable ({kind}, {type(exc).__name__})",
                          "the file is corrupt; re-run `kansci fit`") from exc


def resolve_run(run: str | Path, out: str | Path = "runs", *, allow_incomplete: bool = False) -> Path:
    """A run directory from a path, or ``latest`` = the newest complete run under ``out``. A run that is not complete
    (still training, killed, interrupted: :mod:`.state`) is a RunDirError saying how to finish it, unless
    ``allow_incomplete`` (``kansci show``)."""
    if str(run) == "latest":
        root = Path(out)
        runs = [p for p in root.glob("*/model.json") if is_complete(p.parent)] if root.is_dir() else []
        if not runs:
            raise RunDirError(f"{root}: no runs found for 'latest'", "run `kansci fit DATA.csv` first, or pass a path")
        return max(runs, key=lambda p: (p.stat().st_mtime_ns, str(p))).parent
    path = Path(run)
    if not path.is_dir():
        raise RunDirError(f"{path}: run directory not found", "pass a path printed by `kansci fit`, or `latest`")
    state = read_state(path)
    if state.status != "unknown" and not state.complete:
        if allow_incomplete:
            return path
        require_complete(path)
    if not (path / "model.json").is_file():
        raise RunDirError(f"{path}: not a kansci run directory (no model.json)",
                          "pass a folder written by `kansci fit`")
    return path


def discard_checkpoint(run: Path) -> None:
    """Remove a complete run's periodic ``checkpoint.pt`` (its model is saved; the checkpoint is dead weight)."""
    (Path(run) / CHECKPOINT_FILE).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------------ models
def save_model(run: Path, model: KAN, name: str = "model") -> None:
    """Write ``<name>.json`` (architecture) and ``<name>.pt`` (state_dict) atomically."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    save_tensors(Path(run) / f"{name}.pt", state)
    write_json(Path(run) / f"{name}.json", model.spec())


def load_model(run: Path, name: str = "model", device: str | torch.device = "cpu", *,
               resolve_primitive: Callable[[dict[str, Any]], Any] | None = None) -> KAN:
    """Rebuild a KAN from ``<name>.json`` + ``<name>.pt``; architecture mismatches are RunDirErrors.

    ``resolve_primitive`` turns a stored symbolic edge (``{"primitive": name, ...}``) back into its primitive; the
    pipeline passes the symbolic library's. Without it, a model with symbolic edges is refused."""
    run = Path(run)
    spec = read_json(run, f"{name}.json")

    def no_primitives(row: dict[str, Any]) -> Any:
        raise ValueError(f"symbolic edge {row.get('primitive')!r} needs the primitive library to load")

    try:
        model = KAN.from_spec(spec, resolve_primitive or no_primitives, device=device)
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDirError(f"{run / (name + '.json')}: invalid architecture ({exc})", "re-run `kansci fit`") from exc
    state = load_tensors(run / f"{name}.pt")
    if not isinstance(state, dict):
        raise RunDirError(f"{run / (name + '.pt')}: not a state_dict", "re-run `kansci fit`")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        msg = " ".join(str(exc).split())[:200]
        raise RunDirError(
            f"{run / (name + '.pt')}: weights do not match {name}.json ({msg})",
            "model.json and model.pt come from different runs; re-run `kansci fit`",
        ) from exc
    return model.to(device)
