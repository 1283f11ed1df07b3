"""Peak memory of one training step, for ``kansci bench speed`` row b.

Method
------
* **CPU**: each side runs in a *fresh* Python subprocess (``python -m kansci.bench.speed.memory``), so neither side sees
  the other's freed pages. The child builds the model, the data and the Adam optimizer and takes one tiny warm-up
  step (batch 8: kernels initialized, optimizer state created). Then it returns freed heap pages to the OS (glibc
  ``malloc_trim``), resets the kernel's RSS high-water mark to the current RSS (``/proc/self/clear_refs``), reads
  the RSS, takes one step at the measured batch and reads the high-water mark (``VmHWM``). The reported number is
  ``VmHWM - RSS before the step``: what the step itself added at its peak (activations, saved tensors, gradients,
  temporaries), at page granularity and with allocator fragmentation included (repeat runs vary by about 10%).
  Model weights and data are excluded. Where /proc is missing, ``ru_maxrss`` stands in (a lifetime peak).
* **CUDA**: in process, ``torch.cuda.max_memory_allocated() - torch.cuda.memory_allocated()`` around the step,
  after ``reset_peak_memory_stats`` (caching-allocator bytes, exact).
* ``fresh=False`` (quick mode) runs the CPU recipe in the calling process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import torch

from kansci.bench.speed.pairs import make_pair_side, train_step

CPU_METHOD = "RSS high-water delta of one step (VmHWM - RSS before), fresh subprocess per side"
CPU_METHOD_IN_PROCESS = "RSS high-water delta of one step (VmHWM - RSS before), in this process"
CUDA_METHOD = "torch.cuda.max_memory_allocated - memory_allocated, after reset_peak_memory_stats"


def _rss_bytes() -> int:
    """Current resident set size of this process in bytes (Linux ``/proc/self/statm``; falls back to ru_maxrss)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _maxrss_bytes()


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    """RSS high-water mark (``VmHWM`` of ``/proc/self/status``; falls back to ru_maxrss)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _maxrss_bytes()


def _maxrss_bytes() -> int:
    import resource  # POSIX only

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB on Linux


def _release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``) so an in-process RSS delta is not hidden by memory
    an earlier measurement freed. A no-op where glibc is absent."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure_in_process(side: str, batch: int, width: int, device: str, threads: int) -> int:
    """Peak extra bytes of one training step of ``side`` ("kan" or "mlp") measured in this process, run with
    ``threads`` torch threads (the previous setting is restored)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(side, batch, width, torch.device(device))
    finally:
        torch.set_num_threads(old)


def _measure(side: str, batch: int, width: int, dev: torch.device) -> int:
    model, x, y = make_pair_side(side, batch, width, dev, seed=0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    train_step(model, opt, x[:8], y[:8])  # warm-up: kernels initialized, Adam state allocated
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        train_step(model, opt, x, y)
        torch.cuda.synchronize(dev)
        return int(torch.cuda.max_memory_allocated(dev) - before)
    _release_free_memory()
    _reset_peak_rss()
    before = _rss_bytes()
    train_step(model, opt, x, y)
    return max(0, _peak_rss_bytes() - before)


def measure_subprocess(side: str, batch: int, width: int, threads: int, timeout_s: float = 300.0) -> int:
    """Run :func:`measure_in_process` on CPU in a fresh interpreter; returns its peak extra bytes."""
    cmd = [sys.executable, "-m", "kansci.bench.speed.memory", side, str(batch), str(width), str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe for {side} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"])


def peak_step_memory(side: str, batch: int, width: int, device: str, threads: int, fresh: bool = True
                     ) -> dict[str, Any]:
    """Peak extra memory of one step: ``{"bytes": int, "method": str}``. CUDA is measured in process; CPU in a fresh
    subprocess, or in this process when ``fresh`` is False (pages freed earlier and not returned to the OS can then
    hide part of the peak)."""
    if torch.device(device).type == "cuda":
        return {"bytes": measure_in_process(side, batch, width, device, threads), "method": CUDA_METHOD}
    if not fresh:
        return {"bytes": measure_in_process(side, batch, width, device, threads), "method": CPU_METHOD_IN_PROCESS}
    return {"bytes": measure_subprocess(side, batch, width, threads), "method": CPU_METHOD}


def _main(argv: list[str]) -> None:
    side, batch, width, threads = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    print(json.dumps({"side": side, "peak_bytes": measure_in_process(side, batch, width, "cpu", threads)}))


if __name__ == "__main__":
    _main(sys.argv[1:])
