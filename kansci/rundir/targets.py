"""The layout of a run with several targets: one subfolder per target under ``symbolic/`` and ``figures/``.

::

    symbolic/
        targets.json        {"format": "kansci-targets", "version": 1, "targets": [{"name": ..., "dir": ...}, ...],
                             "time_limit_s": ..., "wall_s": ...}
        formulas.txt        one line per target: ``name = formula``
        <dir>/              the one-target layout for that target (formula.txt, formula.tex, formula.json,
                            formula.py, edges.json, metrics.json, structure.json, model.json, model.pt)
    figures/
        network.*  loss.*   the whole network (every output) and the training loss
        <dir>/              that target's edges, parity, pareto, structure and its own network

``dir`` is the target's name when it is a safe folder name (letters, digits, ``.``, ``_``, ``-``) that no other
target uses (case-insensitively), else ``target<j>-<sanitized name>``. A run with one target keeps the flat layout.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kansci.atomic import write_json
from kansci.errors import RunDirError

__all__ = ["TARGETS_FILE", "target_dirs", "read_targets", "write_targets"]

TARGETS_FILE = "targets.json"
_RESERVED = {TARGETS_FILE, "formulas.txt", "model.json", "model.pt"}


def target_dirs(names: Sequence[str]) -> list[str]:
    """One distinct, safe folder name per target (see the module doc)."""
    from kansci.rundir.store import sanitize_name

    out: list[str] = []
    used: set[str] = set()
    for j, name in enumerate(names):
        safe = sanitize_name(name)
        folder = safe if safe == name and safe.lower() not in used and safe not in _RESERVED else f"target{j}-{safe}"
        used.add(folder.lower())
        out.append(folder)
    return out


def write_targets(sym: Path, names: Sequence[str], dirs: Sequence[str], **fields: Any) -> Path:
    """``sym/targets.json``: the targets in output order, each with its folder, plus ``fields``."""
    return write_json(Path(sym) / TARGETS_FILE, {"format": "kansci-targets", "version": 1,
                                                 "targets": [{"name": n, "dir": d} for n, d in zip(names, dirs)],
                                                 **fields})


def read_targets(sym: Path) -> list[tuple[str, Path]] | None:
    """(name, folder) per target from ``sym/targets.json``; None when the file is absent (one target)."""
    path = Path(sym) / TARGETS_FILE
    if not path.is_file():
        return None
    from kansci.rundir.store import read_json

    doc = read_json(Path(sym), TARGETS_FILE)
    try:
        rows = [(str(r["name"]), str(r["dir"])) for r in doc["targets"]]
    except (KeyError, TypeError) as exc:
        raise RunDirError(f"{path}: malformed ({type(exc).__name__}: {exc})", "re-run `kansci symbolify`") from None
    for _, d in rows:
        if Path(d).name != d or d in ("", ".", ".."):
            raise RunDirError(f"{path}: target folder {d!r} is not a plain folder name", "re-run `kansci symbolify`")
    return [(name, Path(sym) / d) for name, d in rows]
