"""Choose a primitive for every active edge: isolated fits ranked by a transparent score, then an end-to-end check.

Score of a candidate (lower is better)::

    score = log10(max(1 - R^2, 1e-12)) + complexity_weight * complexity

so one unit of complexity costs ``complexity_weight`` decades of unexplained variance. Candidates below ``r2_min``
are dropped unless nothing passes (then the best R^2 is kept and reported). The zero primitive is only allowed on an
edge whose attribution is below ``zero_max_attribution``: a high-attribution edge is never silently replaced by 0.

End to end: every edge is set to its best candidate and the affine constants of all symbolic edges are fine-tuned
jointly. Then, least certain edges first, the next ``top_k`` candidates of each edge are tried in its place (with the
same fine-tuning); a substitution is kept only if it lowers the validation loss, otherwise it is rolled back.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from ..core.model import KAN
from .edge_fit import fit_edges
from .primitives import Primitive


@dataclass
class EdgeChoice:
    layer: int
    i: int
    j: int
    primitive: str
    params: list[float]
    r2: float
    complexity: int
    score: float
    attribution: float
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in
                ("layer", "i", "j", "primitive", "params", "r2", "complexity", "score", "attribution", "candidates")}


def candidate_score(r2: float, complexity: int, weight: float) -> float:
    return math.log10(max(1.0 - r2, 1e-12)) + weight * complexity


def rank_candidates(rows: list[dict[str, Any]], *, weight: float, r2_min: float, allow_zero: bool) -> list[dict[str, Any]]:
    """Valid candidates with their score, best first; those under r2_min only if none passes."""
    ok = [dict(r, score=candidate_score(r["r2"], r["complexity"], weight)) for r in rows
          if r["valid"] and (allow_zero or r["name"] != "0")]
    good = [r for r in ok if r["r2"] >= r2_min]
    return sorted(good or ok, key=lambda r: (r["score"], r["complexity"], r["name"]))


def val_loss(model: KAN, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.mean((model(x) - y) ** 2))


def finetune_symbolic(model: KAN, x: torch.Tensor, y: torch.Tensor, steps: int, *, numeric_too: bool = False) -> float:
    """LBFGS on the symbolic edges' [a, b, c, d] (and optionally the remaining numeric weights); returns the loss.

    Never leaves non-finite parameters behind: a diverging run is rolled back.
    """
    params = [l.sym_params for l in model.layers]
    if numeric_too:
        params += [p for l in model.layers for p in (l.coef, l.w_base, l.w_spline)]
    saved = copy.deepcopy(model.state_dict())
    before = val_loss(model, x, y)
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-14, tolerance_change=1e-20)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        for l in model.layers:  # only symbolic slots move; others stay zero
            if l.sym_params.grad is not None:
                l.sym_params.grad.mul_(l.sym_on.unsqueeze(-1))
        return loss

    if steps > 0:
        opt.step(closure)
    after = val_loss(model, x, y)
    if not math.isfinite(after) or after > before * (1 + 1e-9) + 1e-300:
        model.load_state_dict(saved)
        return before
    return after


def symbolize_edges(
    model: KAN,
    x_fit: torch.Tensor,
    y_fit: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    library: Mapping[str, Primitive],
    edge_scores: list[torch.Tensor],
    *,
    r2_min: float,
    complexity_weight: float,
    top_k: int,
    finetune_steps: int,
    zero_max_attribution: float = 0.01,
    max_samples: int = 1000,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[list[EdgeChoice], list[dict[str, Any]]]:
    """Make every active numeric edge of ``model`` symbolic (in place). x: (n, n_in), y: (n, 1) normalized units.

    Returns the choices and, for ``edges.json``, every candidate of every edge.
    """
    edges = model.numeric_edges()
    if not edges:
        return [], []
    sample = x_fit[:max_samples]
    acts = model.inspect(sample)
    xs = torch.stack([acts[l]["inputs"][:, i] for l, i, j in edges])  # (E, n)
    ys = torch.stack([acts[l]["edges"][:, i, j] for l, i, j in edges])  # (E, n)
    fits = fit_edges(xs, ys, library)
    prims = dict(library)
    choices: list[EdgeChoice] = []
    table: list[dict[str, Any]] = []
    for e, (l, i, j) in enumerate(edges):
        attr = float(edge_scores[l][i, j])
        rows = fits.table(e)
        ranked = rank_candidates(rows, weight=complexity_weight, r2_min=r2_min, allow_zero=attr < zero_max_attribution)
        if not ranked:
            ranked = [dict(r, score=candidate_score(r["r2"], r["complexity"], complexity_weight)) for r in rows[:1]]
        best = ranked[0]
        choices.append(EdgeChoice(l, i, j, best["name"], [best[k] for k in "abcd"], best["r2"], best["complexity"],
                                  best["score"], attr, ranked[:top_k]))
        table.append({"layer": l, "i": i, "j": j, "attribution": attr, "candidates": rows})
    for c in choices:
        model.layers[c.layer].set_symbolic(c.i, c.j, prims[c.primitive], c.params)
    loss = finetune_symbolic(model, x_fit, y_fit, finetune_steps)
    best_val = val_loss(model, x_val, y_val)
    log(f"symbolic edges set; validation MSE {best_val:.3e}")
    exact = 1e-12 * float(torch.var(y_val, unbiased=False))
    for c in sorted(choices, key=lambda c: c.r2) if best_val > exact else []:  # least certain first
        for alt in c.candidates[1:]:
            state = copy.deepcopy(model.state_dict())
            model.layers[c.layer].set_symbolic(c.i, c.j, prims[alt["name"]], [alt[k] for k in "abcd"])
            finetune_symbolic(model, x_fit, y_fit, finetune_steps)
            v = val_loss(model, x_val, y_val)
            if v < best_val * 0.5:
                log(f"edge {(c.layer, c.i, c.j)}: {alt['name']} beats {c.primitive} end to end ({v:.3e} < {best_val:.3e})")
                best_val, c.primitive, c.r2, c.complexity, c.score = v, alt["name"], alt["r2"], alt["complexity"], alt["score"]
            else:
                model.layers[c.layer].set_symbolic(c.i, c.j, prims[c.primitive], [0.0] * 4)
                model.load_state_dict(state)
    for c in choices:
        c.params = [float(v) for v in model.layers[c.layer].sym_params[c.i, c.j].detach()]
    return choices, table
