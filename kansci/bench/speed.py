"""``kansci bench speed``: KAN against an equal-parameter MLP, and the end-to-end pipeline against PyKAN.

Rows (issue 6, section 3). Each row measures both sides in the same process and run, interleaved repeat by repeat,
and reports medians and the ratio ``kansci / reference`` (below 1 means kansci is faster or smaller):

* a. one training step (forward + backward + Adam), batch 4096, KAN [32, 32, 32], G=5, k=3, float32, against
  ``Linear(32, h) -> SiLU -> Linear(h, 32)`` with h chosen so the parameter counts match (h = 315: 20,507 vs 20,480).
  KAN parameters are counted as those that receive a gradient (spline coefficients, base and spline scales); the
  unused symbolic-edge slots are not counted.
* b. peak memory of one training step at batch 16384 for the same pair (method in :mod:`kansci.bench.memory`).
* c. the project's default pipeline (fit over grids 3 -> 5 -> 10, prune, symbolify) on ``exp(sin(pi*x) + y**2)``
  with 1000 samples: wall time and formula; PyKAN's tutorial pipeline on the same data when ``kan`` is importable.
* d. scaling: step time at batch 1k/4k/16k (width 32) and width 16/32/64 (batch 4k), each with its MLP.

Timings are wall clock (``time.perf_counter``, with ``torch.cuda.synchronize`` on CUDA) after warm-up steps. No
test asserts on them.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..core.model import KAN

Log = Callable[[str], None]
PYKAN_MISSING = "PyKAN not installed (pip install 'kansci[bench]')"


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
    return _row(row, what, "ms", statistics.median(samples["kan"]), statistics.median(samples["mlp"]), name,
                target, kan_params=n_kan, reference_params=n_mlp, kan_samples=samples["kan"],
                reference_samples=samples["mlp"])


# --------------------------------------------------------------------------------------------------- rows
def _row(row: str, what: str, unit: str, kan: float, ref: float | None, ref_name: str, target: str = "",
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
    return _row("b", f"peak step memory b={batch}", "MB", kan["bytes"] / 2**20, mlp["bytes"] / 2**20 or None, name,
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


# ------------------------------------------------------------------------------------------- row c: pipeline
PIPE_FORMULA, PIPE_RANGES = "exp(sin(pi*x) + y**2)", {"x": (-1.0, 1.0), "y": (-1.0, 1.0)}


def _pipeline_flags(quick: bool, device: torch.device) -> dict[str, Any]:
    flags: dict[str, Any] = {"train.grids": [3, 5, 10], "model.device": device.type}
    if quick:  # a tiny run that only proves the path works
        flags.update({"train.grids": [3], "train.steps": 10, "model.width": [2, 1, 1], "prune.refit_steps": 0,
                      "symbolic.finetune_steps": 0, "symbolic.snap": False, "symbolic.top_k": 1,
                      "symbolic.lib": ["x", "x^2", "sin", "exp"]})
    return flags


def run_kansci_pipeline(X, y, workdir: str, quick: bool, device: torch.device) -> tuple[float, str]:
    """The default pipeline (fit_run + symbolify_run) on X (n, 2), y (n,) written as CSV. Returns (seconds, formula)."""
    from pathlib import Path

    from ..config import load_config
    from ..datasets import write_csv
    from ..pipeline import fit_run
    from ..symbolify import symbolify_run

    csv = Path(workdir) / "data.csv"
    write_csv(csv, ["x", "y"], X, y, "f")
    flags = {"data.path": str(csv), "output.dir": str(Path(workdir) / "runs"), **_pipeline_flags(quick, device)}
    torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])  # first optimizer imports torch._dynamo (~1-2 s)
    t0 = time.perf_counter()
    cfg = load_config(None, flags=flags)
    fit = fit_run(cfg)
    result = symbolify_run(fit.run, cfg)
    return time.perf_counter() - t0, result.formula.text


@contextmanager
def _silenced() -> Iterator[None]:
    """Send everything written to stdout/stderr (Python and C level: MKL, tqdm) to /dev/null, then restore."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            with redirect_stdout(null), redirect_stderr(null):
                yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def run_pykan_pipeline(X, y, workdir: str, device: torch.device, seed: int = 0) -> tuple[float, str]:
    """PyKAN 0.2.8's tutorial pipeline on the same rows (80/20 split): fit LBFGS 50 steps with lamb=0.001, prune,
    refit, refine to 5 then 10 with refits, auto_symbolic with the tutorial library, refit, symbolic_formula.
    Its printing, progress bars and MKL messages are silenced; default dtype is float64 for the run, then restored."""
    import kan as pykan  # optional dependency

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        t = torch.as_tensor(X, dtype=torch.float64, device=device)
        v = torch.as_tensor(y, dtype=torch.float64, device=device)[:, None]
        cut = int(0.8 * len(t))
        data = {"train_input": t[:cut], "train_label": v[:cut], "test_input": t[cut:], "test_label": v[cut:]}
        lib = ["x", "x^2", "x^3", "x^4", "exp", "log", "sqrt", "tanh", "sin", "abs"]
        with _silenced():
            t0 = time.perf_counter()
            ckpt = os.path.join(workdir, "pykan")  # its checkpoints (it saves after every stage) go to the temp dir
            os.makedirs(ckpt, exist_ok=True)
            model = pykan.KAN(width=[2, 5, 1], grid=3, k=3, seed=seed, device=device, ckpt_path=ckpt)
            model(data["train_input"])
            model.fit(data, opt="LBFGS", steps=50, lamb=0.001)
            model = model.prune()
            model.fit(data, opt="LBFGS", steps=50)
            for grid in (5, 10):
                model = model.refine(grid)
                model.fit(data, opt="LBFGS", steps=50)
            model.auto_symbolic(lib=lib)
            model.fit(data, opt="LBFGS", steps=50)
            formula = model.symbolic_formula(var=["x", "y"])[0][0]
            seconds = time.perf_counter() - t0
        return seconds, str(pykan.utils.ex_round(formula, 4))
    finally:
        torch.set_default_dtype(old)


def _pykan_runs(X, y, tmp: str, device: torch.device, repeats: int, log: Log) -> tuple[list[float], str | None, str]:
    """PyKAN's pipeline ``repeats`` times (seed 0, or the next seed where 0.2.8's grid update fails). Returns
    (seconds per successful run, its formula, a note)."""
    times: list[float] = []
    seeds: list[int] = []
    formula, failures = None, []
    for r in range(repeats):
        log(f"c: PyKAN tutorial pipeline on the same data ({r + 1}/{repeats})")
        for seed in range(3):  # PyKAN 0.2.8's lstsq grid update fails for some seeds under recent torch
            try:
                secs, formula = run_pykan_pipeline(X, y, tmp, device, seed=seed)
            except ImportError as exc:  # pykan 0.2.8 imports scikit-learn, pandas and tqdm without requiring them
                return [], None, f"PyKAN cannot be imported ({exc}); pip install scikit-learn pandas tqdm"
            except Exception as exc:  # a broken optional install must not sink the benchmark
                failures.append(f"seed {seed}: {type(exc).__name__}: {exc}")
                continue
            times.append(secs)
            seeds.append(seed)
            break
    failed = "; ".join(dict.fromkeys(failures))  # each distinct failure once, in order
    if not times:
        return times, None, f"PyKAN failed: {failed}"
    note = f"PyKAN found: {formula} (seed per run: {', '.join(map(str, seeds))})"
    return times, formula, note + (f"; failed attempts: {failed}" if failed else "")


def row_pipeline(device: torch.device, repeats: int, quick: bool, log: Log) -> dict[str, Any]:
    """Row c: the kansci pipeline and (when installed) PyKAN's, each ``repeats`` times, medians compared."""
    import importlib.util
    import tempfile

    from ..datasets import make_dataset

    n = 200 if quick else 1000
    data = make_dataset(PIPE_FORMULA, PIPE_RANGES, n, seed=0, target="f")
    with tempfile.TemporaryDirectory(prefix="kansci-bench-") as tmp:
        runs = []
        for r in range(repeats):
            log(f"c: kansci pipeline on {PIPE_FORMULA}, {n} samples ({r + 1}/{repeats})")
            runs.append(run_kansci_pipeline(data.X, data.y, tmp, quick, device))
        formulas = sorted({f for _, f in runs})
        ref_times: list[float] = []
        ref_formula, note = None, PYKAN_MISSING
        if quick:
            note = "PyKAN skipped in quick mode"
        elif importlib.util.find_spec("kan") is not None:
            ref_times, ref_formula, note = _pykan_runs(data.X, data.y, tmp, device, repeats, log)
    what = f"pipeline {n} samples, grids {_pipeline_flags(quick, device)['train.grids']}, prune, symbolify"
    ref = statistics.median(ref_times) if ref_times else None
    return _row("c", what, "s", statistics.median(s for s, _ in runs), ref, "PyKAN 0.2.8 tutorial pipeline",
                "<= 0.05", formula=" | ".join(formulas), reference_formula=ref_formula, note=note,
                kan_samples=[s for s, _ in runs], reference_samples=ref_times)


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
        rows = [row_step(dev, repeats, quick, log), row_memory(dev, n_threads, quick, log),
                row_pipeline(dev, min(repeats, 3), quick, log), *row_scaling(dev, repeats, quick, log)]
    finally:
        torch.set_num_threads(old)
    return SpeedReport(rows, machine_info(dev, n_threads), repeats)
