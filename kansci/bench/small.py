"""Small tables: a few rows of measurements with a known law, run as a scientist would run them.

Each case is a table of 5 to 30 rows (measured ones read from ``datasets/small/``, simulated ones drawn here with a
seed and a stated noise) and the law's *form* with named parameters, e.g. ``Vmax*conc/(K + conc)``. A case is run
through the default pipeline (``fit`` then ``symbolify``, defaults only) and judged two ways:

- **right form:** the printed formula belongs to the law's family. The law's parameters are fitted to the printed
  formula's own values on the data's range widened by half its span on both sides; the formula is in the family
  when that fit reproduces it to 1e-6 relative error there. A formula that only mimics the law on the data's range
  fails outside it.
- **constants within their uncertainty:** the parameters read off the printed formula lie within
  ``COVERAGE`` standard errors of the truth. The standard errors are those of the law fitted directly to the table
  (least squares, covariance s²·(JᵀJ)⁻¹). The truth is the simulation's value, or a physical value (Kepler's 3/2),
  or, where none is known, the law's least-squares fit to the table itself.
"""
from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy

from kansci.expr.evaluate import to_numpy
from kansci.expr.text import parse_formula

COVERAGE = 3.0  # standard errors within which a constant agrees with the truth
SAME_FORM = 1e-6  # relative error within which the law's family reproduces a formula off the data's range
DATA_DIR = Path(__file__).resolve().parents[2] / "datasets" / "small"


@dataclass(frozen=True)
class SmallTable:
    """One case: ``law`` in the table's column names and parameter names; ``truth`` maps each parameter to its
    true value (None: unknown, taken from the law's fit to the table). Measured cases name a ``csv`` in
    ``datasets/small/``; simulated ones give input ranges, rows and noise (a fraction of RMS(y))."""

    name: str
    law: str
    target: str
    truth: dict[str, float | None]
    csv: str | None = None
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    rows: int = 0
    noise: float = 0.0
    seed: int = 0


CASES: tuple[SmallTable, ...] = (
    SmallTable("kepler planets", "c*a_AU**p", "T_yr", {"c": 1.0, "p": 1.5}, csv="kepler_planets.csv"),
    SmallTable("kepler moons", "c*a_km**p*M_earth**q", "T_days", {"c": None, "p": 1.5, "q": -0.5},
               csv="kepler_moons.csv"),
    SmallTable("michaelis-menten (puromycin)", "Vmax*conc/(K + conc)", "rate", {"Vmax": None, "K": None},
               csv="puromycin.csv"),
    SmallTable("pendulum", "c*sqrt(L)", "T", {"c": 2 * math.pi / math.sqrt(9.81)}, ranges={"L": (0.1, 2.0)},
               rows=10, noise=0.005, seed=1),
    SmallTable("joule heating", "c*V**2/R", "P", {"c": 1.0}, ranges={"V": (1.0, 12.0), "R": (10.0, 100.0)},
               rows=15, noise=0.01, seed=2),
    SmallTable("ideal gas", "c*n*T/V", "P", {"c": 8.314}, ranges={"n": (0.5, 3.0), "T": (250.0, 400.0),
               "V": (0.01, 0.05)}, rows=20, noise=0.01, seed=3),
    SmallTable("radioactive decay", "A0*exp(-t/tau)", "A", {"A0": 1000.0, "tau": 3.2}, ranges={"t": (0.0, 10.0)},
               rows=12, noise=0.02, seed=4),
    SmallTable("inverse square", "c/r**2", "I", {"c": 25.0}, ranges={"r": (0.5, 5.0)}, rows=10, noise=0.02,
               seed=5),
    SmallTable("coulomb", "k*q1*q2/r**2", "F", {"k": 8.99}, ranges={"q1": (1.0, 5.0), "q2": (1.0, 5.0),
               "r": (0.5, 3.0)}, rows=25, noise=0.01, seed=6),
    SmallTable("arrhenius", "A*exp(-E/T)", "k", {"A": 5.0e4, "E": 2500.0}, ranges={"T": (300.0, 400.0)}, rows=8,
               noise=0.02, seed=7),
)


@dataclass
class Outcome:
    """How one case came out: the printed formula (or the error that refused the table), and the two verdicts."""

    name: str
    rows: int
    formula: str = ""
    refused: str = ""
    right_form: bool = False
    constants_ok: bool = False
    constants: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # name -> (found, truth, se)
    seconds: float = 0.0


def table(case: SmallTable, data_dir: Path = DATA_DIR) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(input names, X (n, d), y (n,)) of a case: read from its CSV, or simulated from the law at the truth."""
    if case.csv is not None:
        lines = (data_dir / case.csv).read_text().split()
        header = lines[0].split(",")
        values = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
        cols = [h for h in header if h != case.target]
        return cols, values[:, [header.index(c) for c in cols]], values[:, header.index(case.target)]
    rng = np.random.default_rng(case.seed)
    names = list(case.ranges)
    X = np.column_stack([rng.uniform(lo, hi, case.rows) for lo, hi in case.ranges.values()])
    clean = _law_values(case, names, X, {k: float(v) for k, v in case.truth.items()})
    y = clean + case.noise * float(np.sqrt(np.mean(clean**2))) * rng.standard_normal(case.rows)
    return names, X, y


def _law(case: SmallTable, names: list[str]) -> tuple[sympy.Expr, list[sympy.Symbol], list[sympy.Symbol]]:
    params = list(case.truth)
    expr = parse_formula(case.law, variables=[*names, *params])
    by_name = {str(s): s for s in expr.free_symbols}
    return expr, [by_name.get(n, sympy.Symbol(n)) for n in names], [by_name[p] for p in params]


def _law_values(case: SmallTable, names: list[str], X: np.ndarray, values: dict[str, float]) -> np.ndarray:
    expr, xs, ps = _law(case, names)
    return to_numpy(expr.xreplace({p: values[str(p)] for p in ps}), xs)(X)


def fit_law(case: SmallTable, names: list[str], X: np.ndarray, y: np.ndarray, start: dict[str, float],
            iters: int = 200) -> tuple[dict[str, float], dict[str, float], float]:
    """Least-squares fit of the law's parameters to (X, y): (values, standard errors, max relative error).
    Gauss-Newton with a damped step and central-difference Jacobians; se from s²·(JᵀJ)⁻¹ with s² = RSS/(n − p)."""
    expr, xs, ps = _law(case, names)
    fn = to_numpy(expr, [*xs, *ps])
    theta = np.array([start[str(p)] for p in ps], dtype=np.float64)

    def resid(t: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return fn(np.column_stack([X, np.broadcast_to(t, (X.shape[0], t.size))])) - y

    def jac(t: np.ndarray) -> np.ndarray:
        cols = []
        for j in range(t.size):
            h = 1e-6 * max(abs(t[j]), 1e-8)
            e = np.zeros_like(t)
            e[j] = h
            cols.append((resid(t + e) - resid(t - e)) / (2 * h))
        return np.column_stack(cols)

    lam = 1e-3
    r = resid(theta)
    for _ in range(iters):
        J = jac(theta)
        A = J.T @ J
        step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-300), -J.T @ r)
        trial = theta + step
        rt = resid(trial)
        if np.all(np.isfinite(rt)) and rt @ rt < r @ r:
            theta, r, lam = trial, rt, lam / 3
            if np.max(np.abs(step) / np.maximum(np.abs(theta), 1e-12)) < 1e-12:
                break
        else:
            lam *= 10
            if lam > 1e12:
                break
    J = jac(theta)
    dof = max(y.size - theta.size, 1)
    cov = (r @ r / dof) * np.linalg.pinv(J.T @ J)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    rel = float(np.max(np.abs(r) / np.maximum(np.abs(y), 1e-300)))
    return ({str(p): float(v) for p, v in zip(ps, theta)}, {str(p): float(s) for p, s in zip(ps, se)}, rel)


def judge(case: SmallTable, names: list[str], X: np.ndarray, y: np.ndarray, formula: Callable[[np.ndarray],
          np.ndarray], outcome: Outcome) -> Outcome:
    """Fill ``outcome``'s verdicts for a printed formula (a function of X (n, d) -> (n,))."""
    start = {k: (v if v is not None else 1.0) for k, v in case.truth.items()}
    ref, se, _ = fit_law(case, names, X, y, start)
    truth = {k: (v if v is not None else ref[k]) for k, v in case.truth.items()}
    lo, hi = X.min(axis=0), X.max(axis=0)
    wide_lo = np.where(lo > 0, np.maximum(lo - 0.5 * (hi - lo), lo / 2), lo - 0.5 * (hi - lo))
    grid = np.random.default_rng(0).uniform(wide_lo, hi + 0.5 * (hi - lo), size=(400, X.shape[1]))
    with np.errstate(all="ignore"):
        values = np.asarray(formula(grid), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return outcome
    found, _, rel = fit_law(case, names, grid, values, ref)
    outcome.right_form = rel < SAME_FORM
    outcome.constants = {k: (found[k], truth[k], se[k]) for k in case.truth}
    outcome.constants_ok = outcome.right_form and all(
        abs(f - t) <= COVERAGE * s + 1e-9 * abs(t) for f, t, s in outcome.constants.values())
    return outcome


def run_case(case: SmallTable, data_dir: Path = DATA_DIR, settings: dict[str, Any] | None = None) -> Outcome:
    """Write the case's table to a CSV, run ``fit`` and ``symbolify`` with defaults (plus ``settings``, dotted
    config keys), and judge the printed formula. A refused table is an outcome (``refused`` holds the message)."""
    from kansci.config import load_config
    from kansci.errors import KansciError
    from kansci.pipeline import fit_run
    from kansci.pipeline.symbolify import symbolify_run

    names, X, y = table(case, data_dir)
    out = Outcome(case.name, int(y.size))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kansci-small-") as tmp:
        path = Path(tmp) / "table.csv"
        rows = [",".join([*names, case.target])] + [",".join(repr(float(v)) for v in (*x, t)) for x, t in zip(X, y)]
        path.write_text("\n".join(rows) + "\n")
        try:
            cfg = load_config(None, flags={"data.path": str(path), "output.dir": str(Path(tmp) / "runs"),
                                           **(settings or {})})
            result = fit_run(cfg)
            sym = symbolify_run(result.run, cfg)
        except KansciError as exc:
            out.refused = str(exc)
            out.seconds = time.perf_counter() - t0
            return out
    out.seconds = time.perf_counter() - t0
    out.formula = sym.formula.text
    return judge(case, names, X, y, sym.formula, out)


def report(outcomes: list[Outcome]) -> str:
    """A markdown table of the outcomes and the counts."""
    lines = ["| table | rows | printed formula | right form | constants within 3 se |", "|---|---|---|---|---|"]
    for o in outcomes:
        shown = f"refused: {o.refused}" if o.refused else f"`{o.formula}`"
        lines.append(f"| {o.name} | {o.rows} | {shown} | {'yes' if o.right_form else 'no'} | "
                     f"{'yes' if o.constants_ok else 'no'} |")
    form = sum(o.right_form for o in outcomes)
    const = sum(o.constants_ok for o in outcomes)
    refused = sum(bool(o.refused) for o in outcomes)
    lines.append(f"\nright form {form}/{len(outcomes)}, constants within uncertainty {const}/{len(outcomes)}, "
                 f"refused {refused}")
    return "\n".join(lines)
