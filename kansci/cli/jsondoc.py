"""The ``--json`` documents of ``fit``, ``symbolify``, ``show`` and ``bench feynman`` (``predict`` builds its own in
:mod:`.predict`). Plain data from what the pipeline returns or a run directory holds; nothing is printed here
(:func:`kansci.cli.render.out_json` does that). The schemas are documented in docs/cli_json.md; every document
starts with ``command`` and ``schema_version``, which changes only when a field is removed or changes meaning.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kansci import rundir
from kansci.rundir.targets import read_targets, target_dirs

__all__ = ["SCHEMA_VERSION", "bench_doc", "envelope", "fit_doc", "formula_fields", "show_doc", "symbolify_doc",
           "symbolify_targets_doc"]

SCHEMA_VERSION = 1


def envelope(command: str, **fields: Any) -> dict[str, Any]:
    """``{"command": ..., "schema_version": 1, **fields}``."""
    return {"command": command, "schema_version": SCHEMA_VERSION, **fields}


def fit_doc(run: Path, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``kansci fit --json``: the run directory and its ``metrics.json``."""
    return envelope("fit", status=metrics.get("status", "complete"), run=str(run), metrics=dict(metrics),
                    resume_command=None)


def fit_interrupted_doc(run: Path) -> dict[str, Any]:
    """``kansci fit --json`` after Ctrl-C (exit code 130): the checkpointed run and how to resume it."""
    return envelope("fit", status="interrupted", run=str(run), metrics=None,
                    resume_command=f"kansci fit --resume {run}")


def formula_fields(formula: Any) -> dict[str, Any]:
    """A :class:`~kansci.symbolic.exports.Formula` as ``target``, ``text``, ``latex``, ``inputs``, ``complexity``."""
    return {"target": formula.target, "text": formula.text, "latex": formula.latex(),
            "inputs": list(formula.input_names), "complexity": formula.complexity()}


def symbolify_doc(run: Path, formula: Any, metrics: Mapping[str, Any], files: Sequence[Path]) -> dict[str, Any]:
    """``kansci symbolify --json``: the formula, how it was found, its constants with their uncertainties, its metrics
    (``symbolic/metrics.json``) and the files written."""
    return envelope("symbolify", run=str(run), **_found(formula, metrics, files))


def _found(formula: Any, metrics: Mapping[str, Any], files: Sequence[Path]) -> dict[str, Any]:
    return dict(formula=formula_fields(formula), found_by=metrics.get("found_by"),
                decomposition=list(metrics.get("decomposition") or []), warning=metrics.get("warning"),
                constants=list(metrics.get("constants") or []),
                formula_with_uncertainties=metrics.get("formula_with_uncertainties"),
                metrics=dict(metrics), files=[str(f) for f in files])


def symbolify_targets_doc(run: Path, result: Any) -> dict[str, Any]:
    """``kansci symbolify --json`` of a run with several targets (a :class:`kansci.pipeline.targets.TargetsResult`):
    ``formula`` is null and ``targets`` holds, per target in output order, its ``name``, its folder ``dir`` and the
    fields of a one-target document (``formula``, ``found_by``, ..., ``metrics``, ``files``)."""
    targets = [{"name": name, "dir": str(folder), **_found(r.formula, r.metrics, r.files)}
               for name, folder, r in zip(result.targets, result.dirs, result.results)]
    return envelope("symbolify", run=str(run), formula=None, targets=targets, wall_s=result.metrics.get("wall_s"),
                    time_limit_s=result.metrics.get("time_limit_s"), files=[str(f) for f in result.files])


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def show_doc(run: Path, cfg: Any) -> dict[str, Any]:
    """``kansci show --json``: what ``show`` prints, as data. ``cfg``: the run's resolved config."""
    metrics = rundir.read_json(run, "metrics.json")
    data = _read(run / "dataset.json") or {}
    model = _read(run / "model.json") or {}
    split = data.get("split") or {}
    t = cfg.train
    names = data.get("target") if isinstance(data.get("target"), list) else None  # several targets
    targets = read_targets(run / "symbolic") or (
        [(n, run / "symbolic" / d) for n, d in zip(names, target_dirs(names))] if names else None)
    return envelope(
        "show", run=str(run), status=metrics.get("status", "unknown"),
        data={"source": data.get("source"), "n_rows": data.get("n_rows"), "n_train": len(split.get("train", [])),
              "n_test": len(split.get("test", [])), "inputs": list(data.get("inputs", [])),
              "target": data.get("target"), "normalize": cfg.data.normalize} if data else None,
        model={"width": metrics.get("width", model.get("width")), "k": cfg.model.k, "grid": model.get("grid"),
               "dtype": cfg.model.dtype, "device": metrics.get("device", cfg.model.device)},
        train={"optimizer": t.optimizer, "steps_per_grid": t.steps, "grids": list(t.grids), "lamb": t.lamb,
               "seed": cfg.seed, "steps_run": metrics.get("steps"), "wall_s": metrics.get("wall_s")},
        metrics=metrics, formula=None if targets else _saved_formula(run / "symbolic"),
        **({"targets": [{"name": name, "dir": str(folder), "formula": _saved_formula(folder)}
                        for name, folder in targets]} if targets else {}),
    )


def _saved_formula(sym: Path) -> dict[str, Any] | None:
    """The formula a run holds (``symbolic/formula.json``, else ``formula.txt``) with its metrics; None if none."""
    saved = _read(sym / "formula.json")
    text_file = sym / "formula.txt"
    if saved is None and not text_file.is_file():
        return None
    if saved is None:
        target, _, text = text_file.read_text(encoding="utf-8").strip().partition(" = ")
        saved = {"target": target, "text": text}
    return {"target": saved.get("target"), "text": saved.get("text"), "latex": saved.get("latex"),
            "inputs": saved.get("inputs"), "complexity": saved.get("complexity"),
            "constants": saved.get("constants"), "with_uncertainties": saved.get("with_uncertainties"),
            "metrics": _read(sym / "metrics.json") or {}}


def bench_doc(summary: Any) -> dict[str, Any]:
    """``kansci bench feynman --json``: where the results are, how many tasks ran, and the summary as data
    (:func:`kansci.bench.report.summary_doc`)."""
    from kansci.bench.report import summary_doc

    return envelope("bench feynman", out=str(summary.out), results=str(summary.results_path),
                    summary=str(summary.summary_path), ran=summary.ran, skipped=summary.skipped,
                    **summary_doc(summary.rows, summary.settings))
