"""``kansci bench speed``: KAN against an equal-parameter MLP, and the end-to-end pipeline against PyKAN.

Rows (issue 6, section 3). Each row measures both sides in the same process and run, interleaved repeat by repeat,
and reports medians and the ratio ``kansci / reference`` (below 1 means kansci is faster or smaller):

* a. one training step (forward + backward + Adam), batch 4096, KAN [32, 32, 32], G=5, k=3, float32, against
  ``Linear(32, h) -> SiLU -> Linear(h, 32)`` with h chosen so the parameter counts match (h = 315: 20,507 vs 20,480).
  KAN parameters are counted as those that receive a gradient (spline coefficients, base and spline scales); the
  unused symbolic-edge slots are not counted.
* b. peak memory of one training step at batch 16384 for the same pair (method in :mod:`kansci.bench.speed.memory`).
* c. the project's default pipeline (fit over grids 3 -> 5 -> 10, prune, symbolify) on ``exp(sin(pi*x) + y**2)``
  with 1000 samples (:mod:`kansci.bench.speed.pipeline_row`), against PyKAN's tutorial pipeline when it is installed.
* d. scaling: step time at batch 1k/4k/16k (width 32) and width 16/32/64 (batch 4k), each with its MLP.

Timings are wall clock (``time.perf_counter``, with ``torch.cuda.synchronize`` on CUDA) after warm-up steps. No
test asserts on them.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from kansci.core.model import KAN

Log = Callable[[str], None]


# ------------------------------------------------------------------------------------------------ the pair
def mlp_hidden_for(n_params: int, width: int) -> int:
    """Hidden width h of ``Linear(width, h) -> SiLU -> Linear(h, width)`` (2wh + h + w parameters) nearest n_params."""
    return max(1, round((n_params - width) / (2 * width + 1)))


def make_kan(width: int, device: torch.device, seed: int = 0) -> KAN:
    return KAN([width, width, width], grid=5, k=3, dtype=torch.float32, device=device, seed=seed)


def kan_trained_params(width: int) -> int:
    """Parameters of :func:`make_kan` that the training forward uses (all but the symbolic-edge slots)."""
    return sum(p.numel() for n, p in make_kan(width, torch.device("cpu")).named_parameters() if "sym_params" not in n)


def make_mlp(width: int, device: torch.device, seed: int = 0) -> nn.Module:
    """The equal-parameter reference; its init draws from a forked global RNG seeded with ``seed``."""
    h = mlp_hidden_for(kan_trained_params(width), width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(width, h), nn.SiLU(), nn.Linear(h, width)).to(device)


def make_pair_side(side: str, batch: int, width: int, device: torch.device, seed: int = 0):
    """``(model, x, y)`` for side "kan" or "mlp": x uniform in [-1, 1] (batch, width), y normal (batch, width)."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, width, generator=gen) * 2 - 1).to(device)
    y = torch.randn(batch, width, generator=gen).to(device)
    model = make_kan(width, device, seed) if side == "kan" else make_mlp(width, device, seed)
    return model, x, y


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """One optimizer step on the MSE loss. x, y: (batch, width)."""
    opt.zero_grad(set_to_none=True)
    loss = torch.mean((model(x) - y) ** 2)
    loss.backward()
    opt.step()


def _stepper(side: str, batch: int, width: int, device: torch.device) -> tuple[Callable[[], None], nn.Module]:
    model, x, y = make_pair_side(side, batch, width, device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    return (lambda: train_step(model, opt, x, y)), model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pair(row: str, what: str, batch: int, width: int, device: torch.device, repeats: int, warmup: int,
              target: str) -> dict[str, Any]:
    """A row with the median step time (ms) of KAN and MLP, interleaved (alternating which goes first)."""
    kan_step, kan = _stepper("kan", batch, width, device)
    mlp_step, mlp = _stepper("mlp", batch, width, device)
    for _ in range(warmup):
        kan_step()
        mlp_step()
    _sync(device)
    samples: dict[str, list[float]] = {"kan": [], "mlp": []}
    for r in range(repeats):
        for name in ("kan", "mlp") if r % 2 == 0 else ("mlp", "kan"):
            t0 = time.perf_counter()
            (kan_step if name == "kan" else mlp_step)()
            _sync(device)
            samples[name].append((time.perf_counter() - t0) * 1e3)
    n_kan = sum(p.numel() for p in kan.parameters() if p.grad is not None)
    n_mlp = sum(p.numel() for p in mlp.parameters())
    name = f"MLP {width}-{mlp[0].out_features}-{width} SiLU, {n_mlp:,} params (KAN {n_kan:,})"
    return make_row(row, what, "ms", statistics.median(samples["kan"]), statistics.median(samples["mlp"]), name,
                target, kan_params=n_kan, reference_params=n_mlp, kan_samples=samples["kan"],
                reference_samples=samples["mlp"])


# --------------------------------------------------------------------------------------------------- rows
def make_row(row: str, what: str, unit: str, kan: float, ref: float | None, ref_name: str, target: str = "",
         **extra: Any) -> dict[str, Any]:
    ratio = kan / ref if ref else None
    return {"row": row, "what": what, "unit": unit, "kan": kan, "reference": ref, "reference_name": ref_name,
            "ratio": ratio, "target": target, **extra}


