"""Synthetic datasets from a formula and variable ranges.

``make_dataset("x*sin(y)", {"x": (-1, 1), "y": (0, 3)}, n=1000, noise=0.01, seed=0)`` samples each variable uniformly
in its range with ``np.random.default_rng(seed)`` and evaluates the formula (parsed safely by
:func:`kansci.expr.text.parse_formula`, evaluated by :func:`kansci.expr.evaluate.to_numpy`; nothing is executed).
Noise follows the SRBench convention: Gaussian with standard deviation ``noise * RMS(y)``.

The Feynman equations are sampled through the same code by :mod:`kansci.data.feynman`.
"""
from __future__ import annotations

import csv
import io
import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy

from kansci.atomic import write_text
from kansci.errors import DataError, FormulaError
from kansci.expr.evaluate import to_numpy
from kansci.expr.text import parse_formula

__all__ = ["SyntheticData", "parse_var_spec", "make_dataset", "evaluate_expr", "sample_formula", "write_csv"]


@dataclass
class SyntheticData:
    """A sampled dataset. ``X``: (n, d) float64 inputs named ``names``; ``y``: (n,) float64 target (with noise);
    ``y_clean``: (n,) the noiseless formula values; ``expr``: the formula in the symbols named ``names``."""

    names: list[str]
    target: str
    X: np.ndarray
    y: np.ndarray
    expr: sympy.Expr
    y_clean: np.ndarray


# ------------------------------------------------------------------------------------------------- variable ranges
def _check_name(name: str, where: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii() or name.startswith("_"):
        raise DataError(f"{where}: {name!r} is not a valid variable name",
                        "use letters, digits and '_' (not first), e.g. x1 or theta")
    if keyword.iskeyword(name):
        raise DataError(f"{where}: {name!r} is a Python keyword and cannot be a variable",
                        f"rename it, e.g. {name[:-1] if name == 'lambda' else name + '_'}")


def _check_range(name: str, low: float, high: float, where: str) -> tuple[str, float, float]:
    _check_name(name, where)
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        raise DataError(f"{where}: range of {name!r} is not numeric: {low!r}:{high!r}", "write e.g. x=-1:1") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise DataError(f"{where}: range of {name!r} must be finite with low < high, got {lo}:{hi}",
                        "write e.g. x=-1:1")
    return name, lo, hi


def parse_var_spec(spec: str) -> tuple[str, float, float]:
    """Parse ``"name=low:high"`` (e.g. ``"x=-1:1"``, ``"T=1e2:3e2"``) into ``(name, low, high)``."""
    where = f"variable spec {spec!r}"
    name, eq, rng = spec.partition("=")
    low, colon, high = rng.partition(":")
    if not eq or not colon:
        raise DataError(f"{where}: expected the form name=low:high", "write e.g. x=-1:1")
    try:
        lo, hi = float(low.strip()), float(high.strip())
    except ValueError:
        raise DataError(f"{where}: low and high must be numbers", "write e.g. x=-1:1 or x=1e-3:2") from None
    return _check_range(name.strip(), lo, hi, where)


# ------------------------------------------------------------------------------------------------- evaluation
def evaluate_expr(expr: sympy.Expr, names: Sequence[str], X: np.ndarray) -> np.ndarray:
    """Evaluate ``expr`` (built from :func:`parse_formula`'s vocabulary) on ``X`` of shape (n, d), column ``i`` being
    the symbol named ``names[i]``. Returns (n,) float64; invalid operations give NaN/inf (no warnings).

    Raises:
        DataError: the formula uses a symbol that is not a column, or a node that cannot be evaluated."""
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in set(names))
    if unknown:
        raise DataError(f"formula uses {unknown[0]!r}, which is not among the columns {list(names)}",
                        "declare a range for every variable of the formula")
    try:
        fn = to_numpy(expr, list(names))
    except FormulaError as exc:
        raise DataError(exc.message, "use the functions parse_formula accepts") from exc
    return fn(np.asarray(X, dtype=np.float64)[:, :len(names)])


def sample_formula(expr: sympy.Expr, ranges: Sequence[tuple[str, float, float]], n: int, noise: float, seed: int,
            target: str, what: str) -> SyntheticData:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise DataError(f"{what}: number of samples must be a positive integer, got {n!r}", "use e.g. n=1000")
    if not (math.isfinite(noise) and noise >= 0):
        raise DataError(f"{what}: noise must be a finite number >= 0, got {noise!r}", "use e.g. noise=0.01")
    names = [r[0] for r in ranges]
    low = np.array([r[1] for r in ranges], dtype=np.float64)
    high = np.array([r[2] for r in ranges], dtype=np.float64)
    rng = np.random.default_rng(seed)
    X = rng.uniform(low, high, size=(int(n), len(names)))  # (n, d)
    y_clean = evaluate_expr(expr, names, X)  # (n,)
    bad = int(np.count_nonzero(~np.isfinite(y_clean)))
    if bad:
        raise DataError(f"{what}: the formula is not finite (NaN/inf) on {bad} of {n} sampled rows",
                        "change the variable ranges to the formula's domain (e.g. positive for log and sqrt)")
    y = y_clean
    if noise > 0:
        rms = float(np.sqrt(np.mean(y_clean**2)))
        y = y_clean + rng.normal(0.0, noise * rms, size=y_clean.shape)
    return SyntheticData(names=names, target=target, X=X, y=y, expr=expr, y_clean=y_clean)


def make_dataset(formula: str, ranges: Mapping[str, tuple[float, float]] | Sequence[tuple[str, float, float]],
                 n: int, *, noise: float = 0.0, seed: int = 0, target: str = "y") -> SyntheticData:
    """Sample ``n`` rows: each variable uniform in its range (order = order of ``ranges``), ``y = formula(X)``.

    Args:
        formula: formula text in the declared variables (see :func:`parse_formula`).
        ranges: ``{"x": (low, high), ...}`` or ``[("x", low, high), ...]``; declared but unused variables are kept.
        n: number of rows. noise: relative noise level; std = ``noise * RMS(y)``. seed: for ``default_rng``.
        target: name of the target column.

    Returns:
        :class:`SyntheticData` with ``X`` (n, d) float64 and ``y`` (n,) float64.
    """
    items = list(ranges.items()) if isinstance(ranges, Mapping) else list(ranges)
    checked = []
    for item in items:
        if isinstance(ranges, Mapping):
            name, bounds = item
            if not isinstance(bounds, Sequence) or len(bounds) != 2:
                raise DataError(f"ranges: {name!r} needs (low, high), got {bounds!r}", "write e.g. {'x': (-1, 1)}")
            item = (name, *bounds)
        if len(item) != 3:
            raise DataError(f"ranges: expected (name, low, high), got {item!r}", "write e.g. ('x', -1, 1)")
        checked.append(_check_range(item[0], item[1], item[2], "ranges"))
    names = [r[0] for r in checked]
    if len(set(names)) != len(names):
        dup = sorted({x for x in names if names.count(x) > 1})
        raise DataError(f"ranges: variable(s) {', '.join(dup)} declared twice", "declare each variable once")
    if target in names:
        raise DataError(f"target name {target!r} is also an input variable", "choose another target name")
    declared = {name: sympy.Symbol(name) for name in names}
    expr = parse_formula(formula, None, symbols=declared)
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in declared)
    if unknown:
        raise FormulaError(f"formula uses undeclared variable(s) {', '.join(unknown)} (declared: "
                           f"{', '.join(names) or 'none'})", f"add a range for each, e.g. {unknown[0]}=0:1")
    return sample_formula(expr, checked, n, noise, seed, target, "make_dataset")


# ------------------------------------------------------------------------------------------------- CSV output
def write_csv(path: Path, names: Sequence[str], X: np.ndarray, y: np.ndarray, target: str) -> None:
    """Write ``names + [target]`` as the header, then rows of ``X`` (n, d) and ``y`` (n,) with ``repr`` floats (the
    shortest text that round-trips float64 exactly). Written atomically (:mod:`kansci.atomic`)."""
    path = Path(path)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or len(names) != X.shape[1]:
        raise DataError(f"{path}: shapes do not match: X {X.shape}, y {y.shape}, {len(names)} names",
                        "pass X of shape (n, d), y of shape (n,) and d names")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*names, target])
    for row, value in zip(X.tolist(), y.tolist()):
        writer.writerow([repr(v) for v in row] + [repr(value)])
    write_text(path, buf.getvalue())


