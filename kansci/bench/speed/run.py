"""``kansci bench speed``: the rows of the report (a: step time, b: peak step memory, c: the whole pipeline against
PyKAN's, d: scaling), the machine it ran on, and the table or JSON it prints."""
from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from typing import Any

import torch

from kansci.bench.speed.pairs import Log, kan_trained_params, make_row, mlp_hidden_for, time_pair


def row_step(device: torch.device, repeats: int, quick: bool, log: Log) -> dict[str, Any]:
    batch = 512 if quick else 4096
    log(f"a: training step, batch {batch}")
    what = f"train step b={batch} [32,32,32] G=5 k=3 fp32"
    return time_pair("a", what, batch, 32, device, repeats, 1 if quick else 3, "<= 1.5")


def row_memory(device: torch.device, threads: int, quick: bool, log: Log) -> dict[str, Any]:
    from kansci.bench.speed.memory import peak_step_memory

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
    from kansci.core.spline import basis_backend

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
        from kansci.errors import ConfigError

        raise ConfigError("--device cuda: no CUDA device is available", "use --device cpu")
    old = torch.get_num_threads()
    n_threads = threads or old
    repeats = min(repeats, 3) if quick else max(repeats, 1)
    torch.set_num_threads(n_threads)
    try:
        from kansci.bench.speed.pipeline_row import row_pipeline

        rows = [row_step(dev, repeats, quick, log), row_memory(dev, n_threads, quick, log),
                row_pipeline(dev, min(repeats, 3), quick, log), *row_scaling(dev, repeats, quick, log)]
    finally:
        torch.set_num_threads(old)
    return SpeedReport(rows, machine_info(dev, n_threads), repeats)


