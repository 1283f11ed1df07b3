"""The files of ``RUN/symbolic/`` for one target: :func:`write_symbolic` (every export of the formula, its metrics,
the edge fits, the structure decisions and the model the edges belong to)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sympy

from kansci import rundir
from kansci.atomic import all_or_nothing
from kansci.core.model import KAN
from kansci.prune import PruneReport
from kansci.symbolic.exports import Formula

__all__ = ["write_symbolic"]


def _edge_label(name: str, params: list[float]) -> str:
    """``c*f(a*x+b)+d`` with 3 significant digits, e.g. ``2.0*sin(3.14*x + 0.5) - 1.0``."""
    from kansci.symbolic.primitives import X, default_library

    a, b, c, d = (sympy.Float(v, 3) for v in params)
    prim = default_library().get(name)
    inner = a * X + b
    body = prim.sympy(inner) if prim is not None else sympy.Function(name)(inner)
    return str(c * body + d)


def write_symbolic(out: Path, formula: Formula, model: KAN, metrics: dict[str, Any], choices: list[Any],
                   table: list[dict[str, Any]], pareto: list[dict[str, Any]], snaps: list[dict[str, Any]],
                   report: PruneReport | None, precision: int, structure: dict[str, Any]) -> list[Path]:
    """``out`` (``RUN/symbolic/``, or its folder of one target): the formula in every export, its metrics, the edge
    fits, the structure decisions and the model the edges belong to (the symbolified network, or the trained one when
    no edge was fitted)."""
    edges = [{"layer": c.layer, "i": c.i, "j": c.j, "primitive": c.primitive, "params": c.params,
              "r2": c.r2_final if c.r2_final is not None else c.r2, "r2_isolated": c.r2,
              "attribution": c.attribution, "score": c.score,
              "label": _edge_label(c.primitive, c.params)}
             for c in choices]
    doc = {**formula.to_json(), "display": formula.rounded(precision), "metrics": metrics, "edges": edges,
           "pareto": pareto, "snaps": snaps, "prune": report.to_dict() if report else None}
    if "units" in metrics:
        doc["units"] = metrics["units"]
    with all_or_nothing():  # a full disk midway leaves the previous symbolic/ as it was
        files = [
            rundir.write_text(out / "formula.txt", f"{formula.target} = {formula.text}\n"),
            rundir.write_text(out / "formula.tex", formula.latex() + "\n"),
            rundir.write_json(out / "formula.json", doc),
            rundir.write_text(out / "formula.py", formula.python_module()),
            rundir.write_json(out / "edges.json", table),
            rundir.write_json(out / "metrics.json", metrics),
            rundir.write_json(out / "structure.json", structure),
        ]
        rundir.save_model(out, model)
    return files + [out / "model.json", out / "model.pt"]
