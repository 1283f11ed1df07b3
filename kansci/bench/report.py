"""Benchmark bookkeeping: ``results.csv`` (one row per (equation, seed), appended as tasks finish), resume, the
``summary.md`` text with the published SRBench 2021 rates beside ours, and the same summary as a JSON document
(:func:`summary_doc`, the ``--json`` output)."""
from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kansci.bench.scoring import FAILURES
from kansci.errors import RunDirError

COLUMNS = [
    "id", "seed", "status", "failure", "strict", "robust", "accuracy", "fit_test_r2", "formula_test_r2",
    "complexity", "truth_complexity", "wall_s", "score_s", "total_s", "stage", "formula", "truth", "n_vars",
    "in_srbench", "removed_inputs", "missing_inputs", "primitives", "strict_how", "robust_spread", "noise",
    "n_train", "n_test", "budget_s", "run_dir", "error",
]
_BOOL = {"strict", "robust", "accuracy", "in_srbench"}
_INT = {"seed", "complexity", "truth_complexity", "n_vars", "n_train", "n_test"}
_FLOAT = {"fit_test_r2", "formula_test_r2", "wall_s", "score_s", "total_s", "robust_spread", "noise", "budget_s"}

# Symbolic-solution rates on the SRBench 2021 Feynman set, from shared/benchmarks/README.md (not measured by us).
PUBLISHED_NOTE = ("La Cava et al., SRBench 2021; not measured by us: 116 Feynman datasets, 8 h and 1M evaluations "
                  "per run; same solution rule: difference or ratio constant after rounding")
PUBLISHED: dict[float, list[tuple[str, float]]] = {
    0.0: [("AI Feynman", 55.8), ("AFP_FE", 27.0), ("GP-GOMEA", 26.8), ("ITEA", 22.4), ("AFP", 21.1),
          ("DSR", 19.7), ("Operon", 16.6), ("gplearn", 16.3)],
    0.01: [("gplearn", 13.2), ("DSR", 8.4), ("AFP", 7.1), ("AI Feynman", 0.0)],
}
#: Published methods that were given the variables' units. None of the SRBench 2021 rates: its Feynman datasets (from
#: PMLB) hold the numbers only, so AI Feynman ran there without its dimensional analysis; its 100/100 with units is
#: the original paper's figure, not SRBench's.
PUBLISHED_UNITS: frozenset[str] = frozenset()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return str(value)


def _parse(key: str, text: str) -> Any:
    if text == "":
        return None
    try:
        if key in _BOOL:
            return text == "1"
        if key in _INT:
            return int(text)
        if key in _FLOAT:
            return float(text)
    except ValueError:
        return None
    return text


def append_row(path: Path, row: Mapping[str, Any]) -> None:
    """Append one result row to ``path`` (header written first if the file is new). A torn last line left by an
    interrupted write is cut off first. The line is flushed and fsynced, so a crash loses at most the running tasks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        with open(path, "rb+") as fh:
            data = fh.read()
            if not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
    new = not path.exists() or path.stat().st_size == 0
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if new:
        writer.writerow(COLUMNS)
    writer.writerow([_cell(row.get(c)) for c in COLUMNS])
    with open(path, "a", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``results.csv`` with typed values (bool/int/float/str, None for empty). A torn last line is
    skipped; a header that does not match :data:`COLUMNS` is a RunDirError."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    if header != COLUMNS:
        raise RunDirError(f"{path}: header does not match this version's results.csv columns",
                          "benchmark into a new --out folder (or move the old results away)")
    return [{k: _parse(k, v) for k, v in zip(header, line)} for line in reader if len(line) == len(header)]


def done_keys(rows: Iterable[Mapping[str, Any]]) -> set[tuple[str, int]]:
    """(id, seed) pairs that have a row (any status: a timeout or error is a finished result too)."""
    return {(str(r["id"]), int(r["seed"])) for r in rows}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (recorded in bench.json for a user's equation table, checked on resume)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def format_eta(seconds: float) -> str:
    """``42s``, ``3m10s``, ``2h05m``: a time left, rounded to whole seconds (minutes above an hour)."""
    s = max(0, int(round(seconds))) if math.isfinite(seconds) else 0
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _rate(k: int, n: int) -> dict[str, Any]:
    return {"count": k, "total": n, "percent": round(100.0 * k / n, 3) if n else None}


def _median_time(rows: Sequence[Mapping[str, Any]]) -> float | None:
    times = [t for t in (r.get("wall_s") if r.get("wall_s") is not None else r.get("total_s") for r in rows)
             if t is not None]
    return statistics.median(times) if times else None


def summary_doc(rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The benchmark's summary as plain data (see docs/cli_json.md): ``settings``, ``n_tasks``, ``n_equations``,
    ``rates`` (strict,
    robust, accuracy: count, total, percent), ``median_time_s``, ``failures`` (cause -> count) and ``rows`` (every
    result, the results.csv columns with typed values)."""
    n = len(rows)
    return {
        "settings": dict(settings),
        "n_tasks": n,
        "n_equations": len({r["id"] for r in rows}),
        "rates": {key: _rate(sum(bool(r.get(key)) for r in rows), n) for key in ("strict", "robust", "accuracy")},
        "median_time_s": _median_time(rows),
        "failures": {key: sum(r.get("failure") == key for r in rows) for key in FAILURES},
        "rows": [{c: r.get(c) for c in COLUMNS} for r in rows],
    }


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}% ({k}/{n})" if n else "n/a"


def _short(text: str | None, n: int = 70) -> str:
    text = (text or "").replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _r2(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.6f}" if v > -1e6 else f"{v:.3g}"


def _published_lines(strict: int, robust: int, n: int, noise: float, settings: Mapping[str, Any]) -> list[str]:
    """Our rates beside the published SRBench 2021 rates at the nearest noise level."""
    pub_noise = min(PUBLISHED, key=lambda k: abs(k - noise))
    lines = ["", f"## Beside published SRBench 2021 rates (noise {pub_noise:g})", "",
             f"**Published figures** ({PUBLISHED_NOTE}).", ""]
    if pub_noise != noise:
        lines += [f"(This run used noise {noise:g}; the nearest published noise level is shown.)", ""]
    ours = "yes" if settings.get("units") else "no"
    lines += ["| method | symbolic solution rate | source | units used |", "|---|---|---|---|",
              f"| **kansci (strict)** | **{_pct(strict, n)}** | measured here, "
              f"{settings.get('budget_s'):g} s per task | {ours} |",
              f"| kansci (robust) | {_pct(robust, n)} | measured here | {ours} |"]
    return lines + [f"| {name} | {rate:.1f}% | published | {'yes' if name in PUBLISHED_UNITS else 'no'} |"
                    for name, rate in PUBLISHED[pub_noise]]


def summary_markdown(rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], command: str | None = None
                     ) -> str:
    """The text of ``summary.md``: rates, median time, failure breakdown, published SRBench rates, and a table of
    every (equation, seed). ``settings`` holds noise, n_train, n_test, budget_s, seeds (as written to bench.json)."""
    n = len(rows)
    strict = sum(bool(r.get("strict")) for r in rows)
    robust = sum(bool(r.get("robust")) for r in rows)
    acc = sum(bool(r.get("accuracy")) for r in rows)
    median = _median_time(rows)
    eqs = sorted({r["id"] for r in rows})
    noise = float(settings.get("noise", 0.0))
    own = settings.get("equations")  # a user's table: the published Feynman rates do not apply
    lines = [f"# Benchmark on {own} (kansci)" if own else "# Feynman benchmark (kansci)", ""]
    if command:
        lines += ["Command: `" + command + "`", ""]
    lines += [f"{len(eqs)} equations × {n // max(len(eqs), 1) if eqs else 0} seed(s) = {n} tasks; noise {noise:g}; "
              f"n_train {settings.get('n_train')}, n_test {settings.get('n_test')}; "
              f"budget {settings.get('budget_s'):g} s per task (pipeline), default discovery pipeline.", "",
              "Units: " + ("declared from the packaged Feynman units table (`--units`): the search runs on "
                           "dimensionless groups and every formula's units are checked." if settings.get("units")
                           else "not used (no dimensional analysis)."), ""]
    lines += ["| measure | kansci (this run) |", "|---|---|",
              f"| symbolic solution, strict (SRBench rule) | {_pct(strict, n)} |",
              f"| symbolic solution, robust (numeric check) | {_pct(robust, n)} |",
              f"| accuracy solution (clean test R² > 0.999) | {_pct(acc, n)} |",
              f"| median time per task (pipeline; killed tasks count their budget) | {median:.1f} s |"
              if median is not None else "| median time per task | n/a |",
              ""]
    lines += ["## Failure breakdown (first broken stage, tasks not solved by the strict rule)", "",
              "| cause | tasks | share of all |", "|---|---|---|"]
    counts = {key: sum(r.get("failure") == key for r in rows) for key in FAILURES}
    for key, label in FAILURES.items():
        lines.append(f"| {label} (`{key}`) | {counts[key]} | {_pct(counts[key], n)} |")
    stopped = [r for r in rows if r.get("status") == "timeout"]
    if stopped:
        stages = sorted({str(r.get("stage") or "?") for r in stopped})
        lines += ["", "Timeouts by last stage reached: "
                  + ", ".join(f"{s} {sum(str(r.get('stage') or '?') == s for r in stopped)}" for s in stages)]
    if not own:
        lines += _published_lines(strict, robust, n, noise, settings)
    lines += ["", "## Per task", "",
              "| id | seed | strict | robust | acc | KAN R² | formula R² | cx | pipeline s | failure | formula |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    yes = {True: "✓", False: "·", None: ""}
    for r in sorted(rows, key=lambda r: (str(r["id"]), int(r["seed"]))):
        t = r.get("wall_s") if r.get("wall_s") is not None else r.get("total_s")
        detail = r.get("formula") if r.get("status") == "ok" else f"[{r.get('status')}] {r.get('error') or ''}"
        lines.append(f"| {r['id']} | {r['seed']} | {yes[r.get('strict')]} | {yes[r.get('robust')]} | "
                     f"{yes[r.get('accuracy')]} | {_r2(r.get('fit_test_r2'))} | {_r2(r.get('formula_test_r2'))} | "
                     f"{r.get('complexity') or ''} | {'' if t is None else f'{t:.1f}'} | {r.get('failure') or ''} | "
                     f"{_short(detail)} |")
    return "\n".join(lines) + "\n"
