"""Attribution scores and pruning (KAN 2.0 style), computed on training data through the inspect pass.

Scores flow back from the outputs (score 1 each). For layer ``l`` with per-edge outputs ``phi_ij`` on the samples:

    edge score   B_lij = S_{l+1}(j) * std(phi_ij) / sum_i' std(phi_i'j)
    node score   A_li  = sum_j B_lij

where ``S_{l+1}(j)`` is the score of subnode ``j`` (a sum node's own score; every factor of a multiplication node
gets the node's score). Scores are fractions of the output's attribution, in [0, 1]; input scores are ``A_0``.
Pruning masks edges below ``edge_th``, hidden nodes below ``node_th`` (all their edges) and inputs below
``input_th``. Masks are consistent: every edge touching a removed node or input is masked, and nothing downstream of a
dead node stays active. This module only scores and masks; the caller (:mod:`kansci.pipeline.symbolify`) re-fits the
remaining edges and fills in the report's validation losses before and after.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from kansci.core.model import KAN


@dataclass
class Attribution:
    edges: list[torch.Tensor]  # per layer (in, out subnodes)
    nodes: list[torch.Tensor]  # per node layer (n_nodes,), input layer first, output layer last (ones)

    @property
    def inputs(self) -> torch.Tensor:
        return self.nodes[0]


@dataclass
class PruneReport:
    removed_edges: list[dict[str, Any]] = field(default_factory=list)
    removed_nodes: list[dict[str, Any]] = field(default_factory=list)
    removed_inputs: list[dict[str, Any]] = field(default_factory=list)
    loss_before: float | None = None  # validation MSE (normalized units) before masking; set by the caller
    loss_after: float | None = None  # the same after masking and the re-fit

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed_edges": self.removed_edges, "removed_nodes": self.removed_nodes,
            "removed_inputs": self.removed_inputs, "loss_before": self.loss_before, "loss_after": self.loss_after,
        }

    def summary(self) -> str:
        return (f"pruned {len(self.removed_edges)} edges, {len(self.removed_nodes)} hidden nodes, "
                f"{len(self.removed_inputs)} inputs")


def subnode_scores(model: KAN, l: int, node_scores: torch.Tensor) -> torch.Tensor:
    """Scores of the subnodes of node layer ``l`` from its node scores (n_sum + n_mult,) -> (n_sum + a*n_mult,)."""
    n_sum, n_mult = model.width[l]
    return torch.cat([node_scores[:n_sum], node_scores[n_sum:].repeat_interleave(model.mult_arity)])


@torch.no_grad()
def attribution(model: KAN, x: torch.Tensor) -> Attribution:
    """Edge and node scores on samples x (n, n_in) (training rows, normalized units)."""
    acts = model.inspect(x)
    scores = torch.ones(model.n_out, dtype=x.dtype, device=x.device)
    edges: list[torch.Tensor] = [None] * len(model.layers)  # type: ignore[list-item]
    nodes: list[torch.Tensor] = [None] * (len(model.layers) + 1)  # type: ignore[list-item]
    nodes[-1] = scores
    for l in reversed(range(len(model.layers))):
        std = acts[l]["edges"].std(dim=0, unbiased=False)  # (in, out)
        share = std / std.sum(dim=0, keepdim=True).clamp_min(1e-300)  # (in, out)
        B = share * subnode_scores(model, l + 1, scores)[None, :]
        edges[l] = B
        scores = B.sum(dim=1)  # (in,)
        nodes[l] = scores
    return Attribution(edges, nodes)


@torch.no_grad()
def apply_masks(model: KAN, attr: Attribution, *, edge_th: float, node_th: float, input_th: float,
                names: list[str] | None = None) -> PruneReport:
    """Mask weak edges, hidden nodes and inputs; returns what was removed and why."""
    rep = PruneReport()
    names = names or [f"x{i}" for i in range(model.n_in)]
    for i, s in enumerate(attr.inputs.tolist()):
        if s < input_th and model.layers[0].mask[i].any():
            model.layers[0].mask[i] = 0
            rep.removed_inputs.append({"input": names[i], "score": s, "threshold": input_th})
    for l in range(1, len(model.layers)):  # hidden node layers
        n_sum, _ = model.width[l]
        for i, s in enumerate(attr.nodes[l].tolist()):
            if s < node_th and model.layers[l].mask[i].any():
                model.layers[l].mask[i] = 0
                sub = _subnodes_of(model, l, i)
                model.layers[l - 1].mask[:, sub] = 0
                rep.removed_nodes.append({"layer": l, "node": i, "score": s, "threshold": node_th})
    for l, layer in enumerate(model.layers):
        B = attr.edges[l]
        for i, j in torch.nonzero((layer.mask > 0) & (B < edge_th)).tolist():
            layer.mask[i, j] = 0
            rep.removed_edges.append({"layer": l, "i": i, "j": j, "score": float(B[i, j]), "threshold": edge_th})
    _propagate_dead(model)
    for layer in model.layers:
        for key in [e for e in layer.symbolic if layer.mask[e] == 0]:
            layer.unset_symbolic(*key)
    return rep


def _subnodes_of(model: KAN, l: int, node: int) -> list[int]:
    n_sum, _ = model.width[l]
    if node < n_sum:
        return [node]
    m = node - n_sum
    return list(range(n_sum + m * model.mult_arity, n_sum + (m + 1) * model.mult_arity))


def _propagate_dead(model: KAN) -> None:
    """A hidden node with no incoming edges (a sum node) or a dead factor (a mult node) sends nothing onwards;
    a node with no outgoing edges needs no incoming ones. Repeat until stable."""
    changed = True
    while changed:
        changed = False
        for l in range(1, len(model.layers)):
            n_sum, n_mult = model.width[l]
            incoming = model.layers[l - 1].mask.sum(dim=0)  # (subnodes,)
            outgoing = model.layers[l].mask.sum(dim=1)  # (nodes,)
            for node in range(n_sum + n_mult):
                sub = _subnodes_of(model, l, node)
                dead_in = all(incoming[s] == 0 for s in sub) if node < n_sum else any(incoming[s] == 0 for s in sub)
                if (dead_in and outgoing[node] > 0) or (outgoing[node] == 0 and incoming[sub].sum() > 0):
                    model.layers[l].mask[node] = 0
                    model.layers[l - 1].mask[:, sub] = 0
                    changed = True
