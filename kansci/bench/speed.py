"""``kansci bench speed``: KAN against an equal-parameter MLP, and the end-to-end pipeline against PyKAN.

Rows (issue 6, section 3). Each row measures both sides in the same process and run, interleaved repeat by repeat,
and reports medians and the ratio ``kansci / reference`` (below 1 means kansci is faster or smaller):

* a. one training step (forward + backward + Adam), batch 4096, KAN [32, 32, 32], G=5, k=3, float32, against
  ``Linear(32, h) -> SiLU -> Linear(h, 32)`` with h chosen so the parameter counts match (h = 315: 20,507 vs 20,480).
  KAN parameters are counted as those that receive a gradient (spline coefficients, base and spline scales); the
  unused symbolic-edge slots are not counted.
* b. peak memory of one training step at batch 16384 for the same pair (method in :mod:`kansci.bench.memory`).
* c. the project's default pipeline (fit over grids 3 -> 5 -> 10, prune, symbolify) on ``exp(sin(pi*x) + y**2)``
  with 1000 samples (:mod:`kansci.bench.pipeline_bench`), against PyKAN's tutorial pipeline when it is installed.
* d. scaling: step time at batch 1k/4k/16k (width 32) and width 16/32/64 (batch 4k), each with its MLP.

Timings are wall clock (``time.perf_counter``, with ``torch.cuda.synchronize`` on CUDA) after warm-up steps. No
test asserts on them.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from ..core.model import KAN

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


def row_step(device: torch.device, repeats: int, quick: bool, log: Log) -> dict[str, Any]:
    batch = 512 if quick else 4096
    log(f"a: training step, batch {batch}")
    what = f"train step b={batch} [32,32,32] G=5 k=3 fp32"
    return time_pair("a", what, batch, 32, device, repeats, 1 if quick else 3, "<= 1.5")


def row_memory(device: torch.device, threads: int, quick: bool, log: Log) -> dict[str, Any]:
    from .memory import peak_step_memory

    batch = 1024 if quick else 16384
    log(f"b: peak memory of one step, batch {batch}")
    # Quick mode measures in this process (no interpreter start-up); the fresh-process path is tested on its own.
    kan, mlp = (peak_step_memory(side, batch, 32, str(device), threads, fresh=not quick) for side in ("kan", "mlp"))
    name = f"MLP 32-{mlp_hidden_for(kan_trained_params(32), 32)}-32"
    return make_row("b", f"peak step memory b={batch}", "MB", kan["bytes"] / 2**20, mlp["bytes"] / 2**20 or None, name,
                "<= 2", method=kan["method"])


def row_scaling(device: torch.device, repeats: int, quick: bool, log: Log) -> list[dict[str, Any]]:
    batches, widths, base = ([256, 512, 1024], [8, 16, 32], 512) if quick else ([1024, 4096, 16384], [16, 32, 64], 4096)
    rows: list[dict[str, Any]] = []
    for batch, width in [(b, 16 if quick else 32) for b in batches] + [(base, w) for w in widths]:
        log(f"d: scaling, batch {batch}, width {width}")
        r = time_pair("d", f"scaling b={batch} width={width}", batch, width, device, repeats, 1 if quick else 2,
                      "linear")
        r["kan_ms_per_work"] = r["kan"] / (batch * width * width)  # matmul work grows like batch * width^2
        r["kan_ms_per_unit_work_rel"] = r["kan_ms_per_work"] / rows[0]["kan_ms_per_work"] if rows else 1.0
        rows.append(r)
    return rows


# --------------------------------------------------------------------------------------------------- report
def machine_info(device: torch.device, threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    from ..core.spline import basis_backend

    backend = basis_backend(torch.zeros(1, 1, dtype=torch.float32, device=device))
    info = {"device": str(device), "cpu": cpu, "cores": os.cpu_count(), "threads": threads, "torch": torch.__version__,
            "python": platform.python_version(), "spline_basis": backend}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


@dataclass
class SpeedReport:
    """Rows (dicts with row, what, unit, kan, reference, reference_name, ratio, target, ...) and the machine."""

    rows: list[dict[str, Any]]
    machine: dict[str, Any] = field(default_factory=dict)
    repeats: int = 0

    def table(self) -> str:
        """Plain-text table, one line per row, then notes (methods, formulas)."""
        m = self.machine
        head = (f"kansci bench speed: {m.get('device')} ({m.get('gpu') or m.get('cpu')}), {m.get('cores')} cores, "
                f"torch {m.get('torch')} with {m.get('threads')} thread(s), spline basis: {m.get('spline_basis')}, "
                f"median of {self.repeats}")
        cols = ["row", "measurement", "kansci", "reference", "ratio", "target"]
        body = []
        for r in self.rows:
            ref = "-" if r["reference"] is None else f"{r['reference']:.4g} {r['unit']}"
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
            body.append([r["row"], r["what"], f"{r['kan']:.4g} {r['unit']}", ref, ratio, r["target"]])
        widths = [max(len(str(x)) for x in col) for col in zip(cols, *body)]
        lines = [head, "  ".join(c.ljust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
        lines.append("ratio = kansci / reference (below 1: kansci faster or smaller)")
        for r in self.rows:
            note = {"a": f"reference {r['reference_name']}", "b": f"reference {r['reference_name']}; {r.get('method')}",
                    "c": f"kansci found {r.get('formula')}; {r.get('note')}",
                    "d": f"{r['what']}: reference {r['reference_name']}; KAN ms per batch*width^2 = "
                         f"{r.get('kan_ms_per_unit_work_rel', 0):.2f}x the first d row"}[r["row"]]
            lines.append(f"  {r['row']}: {note}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"machine": self.machine, "repeats": self.repeats, "rows": self.rows}, indent=2)


def run_speed_bench(*, device: str = "cpu", repeats: int = 5, quick: bool = False, log: Log = lambda _: None,
                    threads: int | None = None) -> SpeedReport:
    """Run rows a-d and return the report. ``threads``: torch CPU threads for the run (default: torch's current
    setting), set explicitly and restored after. ``quick`` shrinks sizes and repeats (for tests)."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from ..errors import ConfigError

        raise ConfigError("--device cuda: no CUDA device is available", "use --device cpu")
    old = torch.get_num_threads()
    n_threads = threads or old
    repeats = min(repeats, 3) if quick else max(repeats, 1)
    torch.set_num_threads(n_threads)
    try:
        from .pipeline_bench import row_pipeline

        rows = [row_step(dev, repeats, quick, log), row_memory(dev, n_threads, quick, log),
                row_pipeline(dev, min(repeats, 3), quick, log), *row_scaling(dev, repeats, quick, log)]
    finally:
        torch.set_num_threads(old)
    return SpeedReport(rows, machine_info(dev, n_threads), repeats)
