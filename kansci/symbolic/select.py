"""Choose a primitive for every active edge: isolated fits ranked by a transparent score, then an end-to-end check.

Score of a candidate (lower is better)::

    score = log10(max(1 - R^2, 1e-12)) + complexity_weight * complexity

so one unit of complexity costs ``complexity_weight`` decades of unexplained variance. Candidates below ``r2_min``
are dropped unless nothing passes (then the best R^2 is kept and reported), and so are "mimics" (a primitive whose
output barely varies on the samples, e.g. cos near 0 standing in for x^2). The zero primitive is only allowed on an
edge whose attribution is below ``zero_max_attribution``: a high-attribution edge is never silently replaced by 0.

End to end: whole-network assignments are built for a sweep of complexity weights (from "best isolated fit on every
edge" to "simplest primitive above r2_min on every edge"); each is set, its affine constants fine-tuned jointly
(Levenberg-Marquardt: a handful of iterations reach rounding level when the assignment is exact), and scored on the
validation rows by ``log10(NMSE + 1e-15) + complexity_weight * total complexity``. The best assignment wins. If it
is not exact, the other ``top_k`` candidates of each edge (least certain edges first) are tried in its place with
the same fine-tuning; a substitution is kept only if it halves the validation loss and pays for any added complexity
on the same score, otherwise it is rolled back. Spline fits of a trained KAN are rarely the ideal functions
(``h(f(x) g(y)) = x y`` has a family of solutions), which is why isolated fits alone pick ``tan(0.16 x)`` where ``x``
is exact.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from kansci.budget import expired, with_grace
from kansci.core.model import KAN
from kansci.symbolic.edge_fit import fit_edges
from kansci.symbolic.lm import levenberg_marquardt
from kansci.symbolic.primitives import Primitive


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
    r2_final: float | None = None  # against the replaced spline after the end-to-end fine-tune

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in
                ("layer", "i", "j", "primitive", "params", "r2", "r2_final", "complexity", "score", "attribution",
                 "candidates")}


def candidate_score(r2: float, complexity: int, weight: float) -> float:
    return math.log10(max(1.0 - r2, 1e-12)) + weight * complexity


def rank_candidates(rows: list[dict[str, Any]], *, weight: float, r2_min: float,
                    allow_zero: bool) -> list[dict[str, Any]]:
    """Valid candidates with their score, best first; those under r2_min only if none passes."""
    ok = [dict(r, score=candidate_score(r["r2"], r["complexity"], weight)) for r in rows
          if r["valid"] and not r.get("mimic") and (allow_zero or r["name"] != "0")]
    good = [r for r in ok if r["r2"] >= r2_min]
    return sorted(good or ok, key=lambda r: (r["score"], r["complexity"], r["name"]))


def val_loss(model: KAN, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.mean((model(x) - y) ** 2))


#: A fine-tune stops once an accepted step lowers the loss by less than this fraction of it.
FINETUNE_TOL = 1e-10

SymEdge = tuple[int, int, int, Primitive]


def symbolic_edges(model: KAN) -> list[SymEdge]:
    """The active symbolic edges (layer, i, j, primitive) in a fixed order."""
    return [(l, i, j, prim) for l, layer in enumerate(model.layers) for (i, j), prim in sorted(layer.symbolic.items())
            if layer.mask[i, j] != 0]


def symbolic_output(model: KAN, edges: list[SymEdge], x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Output 0 of the all-symbolic ``model`` at x (n, n_in), with the edges' [a, b, c, d] taken from theta: (4E,)
    shared by all samples, or (n, 4E) per sample. Returns (n,). Equals ``model(x)[:, 0]`` when theta holds the
    model's own parameters."""
    h, k = x, 0
    for l, layer in enumerate(model.layers):
        sub: list[torch.Tensor | float] = [0.0] * layer.out_dim
        for _, i, j, prim in (e for e in edges if e[0] == l):
            a, b, c, d = theta[..., k: k + 4].unbind(-1)
            sub[j] = sub[j] + (c * prim.torch(a * h[:, i] + b) + d) * layer.mask[i, j]
            k += 4
        cols = [torch.as_tensor(v, dtype=x.dtype, device=x.device).expand(x.shape[0]) for v in sub]
        h = model.combine(l + 1, torch.stack(cols, 1))
    return h[:, 0]


def _jacobian(model: KAN, edges: list[SymEdge], x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """d output / d theta (n, 4E) in one backward pass: each sample gets its own copy of theta, and sample s's
    output depends on its copy only, so the gradient of the summed output is the Jacobian row by row."""
    per_sample = theta.detach().expand(x.shape[0], -1).clone().requires_grad_(True)
    with torch.enable_grad():
        (J,) = torch.autograd.grad(symbolic_output(model, edges, x, per_sample).sum(), per_sample)
    return J


def finetune_symbolic(model: KAN, x: torch.Tensor, y: torch.Tensor, steps: int,
                      deadline: float | None = None) -> float:
    """Fit the symbolic edges' [a, b, c, d] jointly to (x (n, n_in), y (n, 1)) by Levenberg-Marquardt
    (:func:`kansci.symbolic.lm.levenberg_marquardt` on the MSE); returns the MSE. At most ``steps`` iterations, none
    started past ``deadline``: it stops once a step gains less than :data:`FINETUNE_TOL` of the loss or the damping
    saturates. Only steps that lower the loss are taken, so the parameters stay finite. Every active edge must be
    symbolic."""
    assert not model.numeric_edges(), "finetune_symbolic needs an all-symbolic model"
    edges = symbolic_edges(model)
    theta = torch.cat([model.layers[l].sym_params[i, j].detach() for l, i, j, _ in edges] or [x.new_zeros(0)])
    target = y[:, 0]

    def residual(t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return symbolic_output(model, edges, x, t) - target

    theta, best = levenberg_marquardt(residual, lambda t: _jacobian(model, edges, x, t), theta,
                                      steps if edges else 0, tol=FINETUNE_TOL, deadline=deadline)
    with torch.no_grad():
        for k, (l, i, j, _) in enumerate(edges):
            model.layers[l].sym_params[i, j] = theta[4 * k: 4 * k + 4]
    return best


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
    deadline: float | None = None,
    noise_nmse: float = 0.0,
) -> tuple[list[EdgeChoice], list[dict[str, Any]], list[dict[str, Any]]]:
    """Make every active numeric edge of ``model`` symbolic (in place). x: (n, n_in), y: (n, 1) normalized units.

    ``noise_nmse``: the validation NMSE the data's noise alone causes (an estimate, e.g. the network's own); among
    assignments within it (or within 3x the best assignment's NMSE, whichever is lower) the simplest wins.

    Returns the choices, every candidate of every edge (for ``edges.json``), and the assignments tried end to end
    (edges, primitives, validation NMSE, total complexity, score, fine-tuned model ``state``, ``chosen``).
    """
    edges = model.numeric_edges()
    if not edges:
        return [], [], []
    sample = x_fit[:max_samples]
    acts = model.inspect(sample)
    xs = torch.stack([acts[l]["inputs"][:, i] for l, i, j in edges])  # (E, n)
    ys = torch.stack([acts[l]["edges"][:, i, j] for l, i, j in edges])  # (E, n)
    fits = fit_edges(xs, ys, library)
    prims = dict(library)
    table: list[dict[str, Any]] = []
    pools: list[list[dict[str, Any]]] = []
    for e, (l, i, j) in enumerate(edges):
        attr = float(edge_scores[l][i, j])
        rows = fits.table(e)
        pool = rank_candidates(rows, weight=0.0, r2_min=r2_min, allow_zero=attr < zero_max_attribution)
        pools.append(pool or [dict(rows[0], score=candidate_score(rows[0]["r2"], rows[0]["complexity"], 0.0))])
        table.append({"layer": l, "i": i, "j": j, "attribution": attr, "candidates": rows})
    var = float(torch.var(y_val, unbiased=False)) or 1.0
    base_state = copy.deepcopy(model.state_dict())

    def evaluate(assign: list[dict[str, Any]], until: float | None) -> tuple[float, dict]:
        model.load_state_dict(base_state)
        for (l, i, j), cand in zip(edges, assign):
            model.layers[l].set_symbolic(i, j, prims[cand["name"]], [cand[k] for k in "abcd"])
        finetune_symbolic(model, x_fit, y_fit, finetune_steps, until)
        return val_loss(model, x_val, y_val) / var, copy.deepcopy(model.state_dict())

    # Whole-network assignments from a sweep of complexity weights: from "best isolated fit" to "simplest
    # acceptable primitive" on every edge. Each is fine-tuned end to end and scored on validation rows.
    front: list[dict[str, Any]] = []
    for w in sorted({complexity_weight, 0.0, 0.5, 1.0, 2.0, 4.0, 1e6}):
        assign = [min(pool, key=lambda r: (candidate_score(r["r2"], r["complexity"], w), r["complexity"]))
                  for pool in pools]
        key = tuple(r["name"] for r in assign)
        if any(f["primitives"] == key for f in front):
            continue
        if front and expired(deadline):
            log("symbolic.time_limit_s reached: no further assignments")
            break
        nmse, state = evaluate(assign, deadline if front else with_grace(deadline))  # the first always tunes
        total = sum(r["complexity"] for r in assign)
        front.append({"primitives": key, "assign": assign, "nmse": nmse, "complexity": total, "state": state,
                      "score": math.log10(nmse + 1e-15) + complexity_weight * total, "edges": edges})
        log(f"assignment {list(key)}: validation NMSE {nmse:.3e}, complexity {total}")
    # Errors below the noise do not count, where the best assignment shows the noise is there at all: on clean data
    # the most accurate assignment sets the floor instead (3x its NMSE), so an exact law still beats a mimic.
    floor = min(noise_nmse, 3.0 * min(f["nmse"] for f in front))
    for f in front:
        f["score"] = math.log10(max(f["nmse"], floor) + 1e-15) + complexity_weight * f["complexity"]
    chosen = min(front, key=lambda f: (f["score"], f["complexity"]))
    model.load_state_dict(chosen["state"])
    for (l, i, j), cand in zip(edges, chosen["assign"]):
        model.layers[l].set_symbolic(i, j, prims[cand["name"]], model.layers[l].sym_params[i, j].detach().tolist())
    choices = [EdgeChoice(l, i, j, c["name"], [c[k] for k in "abcd"], c["r2"], c["complexity"],
                          candidate_score(c["r2"], c["complexity"], complexity_weight), table[e]["attribution"],
                          sorted(pools[e], key=lambda r: candidate_score(r["r2"], r["complexity"],
                                                                          complexity_weight))[:top_k])
               for e, ((l, i, j), c) in enumerate(zip(edges, chosen["assign"]))]
    best_val = chosen["nmse"] * var
    exact = 1e-12 * var
    for c in sorted(choices, key=lambda c: c.r2) if best_val > exact else []:  # least certain first
        for alt in c.candidates:
            if alt["name"] == c.primitive or expired(deadline):
                continue
            state = copy.deepcopy(model.state_dict())
            model.layers[c.layer].set_symbolic(c.i, c.j, prims[alt["name"]], [alt[k] for k in "abcd"])
            finetune_symbolic(model, x_fit, y_fit, finetune_steps, deadline)
            v = val_loss(model, x_val, y_val)
            gain = math.log10(max(best_val / var, floor) + 1e-15) - math.log10(max(v / var, floor) + 1e-15)
            if v < best_val * 0.5 and gain > complexity_weight * (alt["complexity"] - c.complexity):
                log(f"edge {(c.layer, c.i, c.j)}: {alt['name']} beats {c.primitive} end to end "
                    f"({v:.3e} < {best_val:.3e})")
                best_val, c.primitive, c.r2 = v, alt["name"], alt["r2"]
                c.complexity, c.score = alt["complexity"], alt["score"]
            else:
                model.layers[c.layer].set_symbolic(c.i, c.j, prims[c.primitive], [0.0] * 4)
                model.load_state_dict(state)
    final_key = tuple(c.primitive for c in choices)
    if final_key != chosen["primitives"]:  # the per-edge pass improved on the sweep
        total = sum(c.complexity for c in choices)
        chosen = {"primitives": final_key, "assign": [{"name": c.primitive} for c in choices], "nmse": best_val / var,
                  "complexity": total, "state": copy.deepcopy(model.state_dict()), "edges": edges,
                  "score": math.log10(max(best_val / var, floor) + 1e-15) + complexity_weight * total}
        front.append(chosen)
    for f in front:
        f["chosen"] = f is chosen
        f["assign"] = [r["name"] for r in f["assign"]]
    final = model.inspect(sample)
    for e, c in enumerate(choices):
        c.params = [float(v) for v in model.layers[c.layer].sym_params[c.i, c.j].detach()]
        # R² of the final symbolic edge against the spline it replaced, up to a constant offset (the joint
        # fine-tune moves constant offsets freely between edges that share a node)
        got = final[c.layer]["edges"][:, c.i, c.j]
        diff = (got - ys[e]) - (got - ys[e]).mean()
        spread = ((ys[e] - ys[e].mean()) ** 2).mean()
        c.r2_final = float(1 - (diff**2).mean() / spread) if spread > 0 else float("nan")
    return choices, table, front
