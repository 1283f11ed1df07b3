"""The table reader against ``pandas.read_csv``: ``python -m kansci.bench.speed.reader`` (``--help`` for options).

Method
------
For each size, an n x m table of random floats (9 significant digits, comma-separated, one header line) is written
to a temporary folder. Every measurement runs in a fresh interpreter that imports its reader, warms it up on a small
file, returns freed heap pages to the OS (glibc ``malloc_trim``), resets the kernel's RSS high-water mark
(``/proc/self/clear_refs``, Linux), then reads the file once and reports the wall time (``time.perf_counter``) and the
peak RSS above the RSS just before the read (``VmHWM - VmRSS``): what the read itself needed at its peak, the
interpreter's and libraries' fixed cost excluded. kansci: :func:`kansci.data.table.read_table` (parse, then every
check on every column); pandas: ``pandas.read_csv`` with its defaults (C engine). Each number is the median over
``--repeats`` processes; ratios are kansci / pandas, both measured in this run. Without pandas the ratios are left
out with a message. Where ``/proc`` is missing, the peak is the lifetime ``ru_maxrss`` (imports included).

Targets (issue "Large data and hard stops"): read time within 1.5x of pandas; peak memory at most 3x the float64
size of the data. A script, not a test: timings are never asserted.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["probe", "run_reader_bench", "table", "write_table"]

Log = Callable[[str], None]
DEFAULT_ROWS = (10_000, 100_000, 1_000_000)
TIME_TARGET, MEMORY_TARGET = 1.5, 3.0


# ------------------------------------------------------------------------------------------------ the probe process
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _release_free_memory() -> None:
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def probe(reader: str, path: str, warm: str) -> dict[str, Any]:
    """One measurement in this process (see the module docstring): ``{"seconds", "peak_bytes", "method"}``."""
    if reader == "kansci":
        import numba  # noqa: F401 - loaded by `kansci fit` (spline kernel) before it reads data; ~1 s on its own

        from kansci.data.table import read_table

        def read(p: str) -> Any:
            return read_table(p)
    else:
        import pandas as pd

        def read(p: str) -> Any:
            return pd.read_csv(p)
    read(warm)
    _release_free_memory()
    exact = _reset_peak() and _status_kb("VmRSS") is not None
    before = _status_kb("VmRSS") or 0
    t0 = time.perf_counter()
    result = read(path)
    seconds = time.perf_counter() - t0
    if exact:
        peak, method = (_status_kb("VmHWM") or 0) - before, "VmHWM - VmRSS before the read"
    else:
        import resource

        peak, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "ru_maxrss (imports included)"
    del result
    return {"reader": reader, "seconds": seconds, "peak_bytes": max(peak, 0), "method": method}


def _probe_subprocess(reader: str, path: Path, warm: Path, timeout_s: float = 600.0) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "kansci.bench.speed.reader", "--probe", reader, str(path), str(warm)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{reader} probe failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ the benchmark
def write_table(path: Path, rows: int, cols: int, seed: int = 0) -> Path:
    """An n x m CSV of random floats, 9 significant digits, with a header ``x0,...,x{m-2},y``."""
    rng = np.random.default_rng(seed)
    names = [f"x{j}" for j in range(cols - 1)] + ["y"]
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(names) + "\n")
        for start in range(0, rows, 100_000):
            block = rng.standard_normal((min(100_000, rows - start), cols)) * rng.choice([1e-3, 1.0, 1e3], cols)
            np.savetxt(fh, block, fmt="%.9g", delimiter=",")
    return path


def run_reader_bench(rows: Sequence[int] = DEFAULT_ROWS, cols: int = 6, repeats: int = 3,
                     log: Log = lambda s: None) -> dict[str, Any]:
    """Measure every size (see the module docstring); returns ``{"pandas": version or None, "rows": [...]}``."""
    pandas = None
    if importlib.util.find_spec("pandas") is not None:
        import pandas as pd

        pandas = pd.__version__
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kansci-reader-") as tmp:
        warm = write_table(Path(tmp) / "warm.csv", 1000, cols, seed=1)
        for n in rows:
            log(f"reader: writing {n} x {cols}")
            path = write_table(Path(tmp) / f"t{n}.csv", n, cols)
            found: dict[str, list[dict[str, Any]]] = {"kansci": [], "pandas": []}
            for k in range(repeats):
                for reader in ("kansci", "pandas") if pandas else ("kansci",):
                    log(f"reader: {n} rows, {reader}, repeat {k + 1}/{repeats}")
                    found[reader].append(_probe_subprocess(reader, path, warm))
            row: dict[str, Any] = {"rows": n, "cols": cols, "csv_mb": path.stat().st_size / 2**20,
                                   "data_mb": n * cols * 8 / 2**20}
            for reader, got in found.items():
                row[f"{reader}_s"] = statistics.median(g["seconds"] for g in got) if got else None
                row[f"{reader}_peak_mb"] = statistics.median(g["peak_bytes"] for g in got) / 2**20 if got else None
            row["method"] = found["kansci"][0]["method"]
            row["time_ratio"] = row["kansci_s"] / row["pandas_s"] if pandas else None
            has_peak = bool(pandas and row["pandas_peak_mb"])
            row["peak_ratio"] = row["kansci_peak_mb"] / row["pandas_peak_mb"] if has_peak else None
            row["peak_per_data"] = row["kansci_peak_mb"] / row["data_mb"]
            out.append(row)
            path.unlink()
    return {"pandas": pandas, "repeats": repeats, "cores": os.cpu_count(), "rows": out}


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table with its targets and method."""
    pandas = report["pandas"]
    head = (f"kansci reader vs pandas.read_csv {pandas}: median of {report['repeats']} fresh processes each, "
            f"{report['cores']} cores" if pandas else
            "kansci reader: pandas is not installed, so the ratios against pandas.read_csv are left out "
            "(pip install pandas to get them)")
    cols = ["rows x cols", "csv MB", "float64 MB", "kansci s", "pandas s", "time ratio", "kansci peak MB",
            "pandas peak MB", "peak ratio", "peak / float64"]

    def num(v: Any, fmt: str, suffix: str = "") -> str:
        return "-" if v is None else f"{v:{fmt}}{suffix}"

    body = [[f"{r['rows']} x {r['cols']}", num(r["csv_mb"], ".1f"), num(r["data_mb"], ".1f"), num(r["kansci_s"], ".3f"),
             num(r["pandas_s"], ".3f"), num(r["time_ratio"], ".2f", "x"), num(r["kansci_peak_mb"], ".1f"),
             num(r["pandas_peak_mb"], ".1f"), num(r["peak_ratio"], ".2f", "x"), num(r["peak_per_data"], ".2f", "x")]
            for r in report["rows"]]
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *body)]
    lines = [head, "  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
    lines.append(f"targets: time ratio <= {TIME_TARGET}x pandas; kansci peak <= {MEMORY_TARGET}x the float64 data")
    method = report["rows"][0]["method"] if report["rows"] else ""
    lines.append(f"ratio = kansci / pandas; peak = {method}, interpreter and imports excluded")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kansci.bench.speed.reader",
                                     description="Time the kansci table reader against pandas.read_csv.")
    parser.add_argument("--rows", default=",".join(map(str, DEFAULT_ROWS)), help="table sizes, e.g. 10000,1000000")
    parser.add_argument("--cols", type=int, default=6, help="columns per table")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per reader and size (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--probe", nargs=3, metavar=("READER", "PATH", "WARM"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(*args.probe)))
        return
    report = run_reader_bench([int(float(r)) for r in args.rows.split(",") if r.strip()], args.cols,
                              max(args.repeats, 1), log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps(report, indent=2) if args.json else table(report))


if __name__ == "__main__":
    main()
