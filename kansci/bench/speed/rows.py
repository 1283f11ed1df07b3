"""How ``kansci fit`` scales with rows: wall time and peak resident memory on 10^4, 10^5 and 10^6 rows.

The data: ``y = 2*x0*x1 + x2`` with 7 distractor columns (10 inputs, uniform on [-1, 1], seeded), written as a CSV
to a temporary folder that is removed afterwards. Each size runs ``kansci fit`` (and, with ``--formula``,
``kansci symbolify``) in a fresh subprocess; its wall time and peak RSS (``ru_maxrss`` of that child) are reported
beside the float64 size of the data, then the ratios between consecutive sizes. Training is bounded by
``train.time_limit_s`` (``--time-limit``), so the ratios show what grows with rows: reading, per-step costs that
are not capped, the final metrics on every row. Not a timed test: numbers vary with the machine.

    python -m kansci.bench.speed.rows
    python -m kansci.bench.speed.rows --rows 10000,100000 --time-limit 30 --formula --json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = (10_000, 100_000, 1_000_000)
N_INPUTS = 10
LAW = "2*x0*x1 + x2"
_CLI = "import sys; from kansci.cli.app import main; sys.argv[0] = 'kansci'; main()"


def write_csv(path: Path, n: int, seed: int = 0) -> None:
    """``n`` rows of the law with distractors, in blocks so that writing stays small in memory."""
    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        fh.write(",".join([f"x{i}" for i in range(N_INPUTS)] + ["y"]) + "\n")
        for start in range(0, n, 100_000):
            X = rng.uniform(-1, 1, (min(100_000, n - start), N_INPUTS))
            y = 2 * X[:, 0] * X[:, 1] + X[:, 2]
            np.savetxt(fh, np.column_stack([X, y]), delimiter=",", fmt="%.12g")


def _run(args: list[str]) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MB, exit code, output tail) of ``kansci ARGS`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = proc.stdout.read() if proc.stdout is not None else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, proc.returncode, out[-2000:]


def measure(n: int, folder: Path, time_limit: float, formula: bool) -> dict[str, Any]:
    csv = folder / f"rows{n}.csv"
    write_csv(csv, n)
    runs = folder / "runs"
    args = ["fit", str(csv), "--out", str(runs), "--name", f"rows{n}", "--seed", "0"]
    if time_limit > 0:
        args += ["--set", f"train.time_limit_s={time_limit:g}"]
    wall, rss, rc, out = _run(args)
    row: dict[str, Any] = {"rows": n, "data_mb": n * (N_INPUTS + 1) * 8 / 1e6, "fit_s": wall, "peak_rss_mb": rss,
                           "exit": rc}
    if rc != 0:
        row["error"] = out.strip().splitlines()[-1:] or ["?"]
        return row
    if formula:
        run = next(p for p in runs.iterdir() if p.name.startswith(f"rows{n}"))
        sym_wall, sym_rss, sym_rc, _ = _run(["symbolify", str(run)])
        row.update(symbolify_s=sym_wall, symbolify_rss_mb=sym_rss)
        doc = run / "symbolic" / "formula.json"
        row["formula"] = json.loads(doc.read_text()).get("text", "?") if sym_rc == 0 and doc.exists() else "?"
    csv.unlink()
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(str(n) for n in SIZES), help="comma-separated row counts")
    ap.add_argument("--time-limit", type=float, default=60.0, help="train.time_limit_s of each fit (0: the config's)")
    ap.add_argument("--formula", action="store_true", help="also run symbolify and print the formula")
    ap.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.rows.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="kansci-rows-") as tmp:
        table = [measure(n, Path(tmp), a.time_limit, a.formula) for n in sizes]
    ratios = [{"from": p["rows"], "to": q["rows"], "time": q["fit_s"] / p["fit_s"],
               "rss": q["peak_rss_mb"] / p["peak_rss_mb"]} for p, q in zip(table, table[1:])]
    if a.json:
        print(json.dumps({"law": LAW, "inputs": N_INPUTS, "time_limit_s": a.time_limit, "sizes": table,
                          "ratios": ratios}, indent=1))
        return
    print(f"kansci fit on y = {LAW} with {N_INPUTS - 3} distractors ({N_INPUTS} inputs), "
          f"train.time_limit_s = {a.time_limit:g}")
    print(f"{'rows':>9} {'data MB':>8} {'fit s':>7} {'peak RSS MB':>12} {'RSS/data':>9}  formula")
    for r in table:
        print(f"{r['rows']:>9} {r['data_mb']:>8.1f} {r['fit_s']:>7.1f} {r['peak_rss_mb']:>12.0f} "
              f"{r['peak_rss_mb'] / r['data_mb']:>9.1f}  {r.get('formula', r.get('error', '-'))}")
    for q in ratios:
        print(f"{q['from']} -> {q['to']} rows: time x{q['time']:.2f}, peak RSS x{q['rss']:.2f}")


if __name__ == "__main__":
    main()
