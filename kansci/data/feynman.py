"""The bundled Feynman equation table (kansci/resources/feynman.csv): 100 equations of Udrescu & Tegmark's Feynman
database with their sampling ranges; 97 of them (``in_srbench``) are scored by SRBench 2021."""
from __future__ import annotations

import csv
import difflib
import functools
import io
from dataclasses import dataclass
from importlib import resources

import sympy

from kansci.data.names import safe_column_name
from kansci.data.synthetic import SyntheticData, sample_formula
from kansci.errors import DataError
from kansci.expr.text import parse_formula


# ------------------------------------------------------------------------------------------------- Feynman table
@dataclass(frozen=True)
class FeynmanEquation:
    """One equation of the Feynman database; ``variables`` is ``((name, low, high), ...)`` (uniform ranges)."""

    id: str
    number: int
    output: str
    formula: str
    variables: tuple[tuple[str, float, float], ...]
    in_srbench: bool
    pmlb_dataset: str = ""

    @property
    def names(self) -> list[str]:
        return [v[0] for v in self.variables]

    def expr(self) -> sympy.Expr:
        """The formula as sympy, every listed variable bound to a plain Symbol (``I``, ``gamma`` are symbols)."""
        return _feynman_expr(self.formula, tuple(self.names), self.id)


@functools.cache
def _feynman_expr(formula: str, names: tuple[str, ...], eq_id: str) -> sympy.Expr:
    return parse_formula(formula, names, source=f"feynman.csv:{eq_id}",
                         symbols={name: sympy.Symbol(name) for name in names})


@functools.lru_cache(maxsize=1)
def _load_table() -> tuple[FeynmanEquation, ...]:
    text = resources.files("kansci").joinpath("resources/feynman.csv").read_text(encoding="utf-8")
    table = []
    for row in csv.DictReader(io.StringIO(text)):
        variables = tuple((row[f"v{i}_name"], float(row[f"v{i}_low"]), float(row[f"v{i}_high"]))
                          for i in range(1, 11) if row.get(f"v{i}_name"))
        table.append(FeynmanEquation(id=row["id"], number=int(row["number"]), output=row["output"],
                                     formula=row["formula"], variables=variables,
                                     in_srbench=row["in_srbench_ground_truth"] == "yes",
                                     pmlb_dataset=row["pmlb_dataset"]))
    return tuple(table)


def feynman_table() -> list[FeynmanEquation]:
    """All 100 equations, in table order (read once from the packaged CSV)."""
    return list(_load_table())


def feynman_equation(eq_id: str) -> FeynmanEquation:
    """Look up an equation by id (``"I.6.2a"``) or PMLB dataset name (``"feynman_I_6_2a"``)."""
    for eq in _load_table():
        if eq_id in (eq.id, eq.pmlb_dataset):
            return eq
    ids = [eq.id for eq in _load_table()]
    close = difflib.get_close_matches(eq_id, ids, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"ids look like {ids[0]}, {ids[1]}, ..., {ids[-1]}"
    raise DataError(f"unknown Feynman equation {eq_id!r}", hint)


def feynman_dataset(eq: FeynmanEquation | str, n: int, *, noise: float = 0.0, seed: int = 0,
                    rename_clashes: bool = True) -> SyntheticData:
    """Sample ``n`` rows of a Feynman equation on its published ranges (see :func:`make_dataset` for noise/seed).

    With ``rename_clashes`` (default) the input and target names pass through :func:`safe_column_name`
    (``I`` -> ``I_``) and ``expr`` uses the renamed symbols, so the result can be written as a CSV and loaded back.
    """
    if isinstance(eq, str):
        eq = feynman_equation(eq)
    expr, ranges, target = eq.expr(), list(eq.variables), eq.output
    if rename_clashes:
        renamed: dict[str, str] = {}
        for name, _, _ in ranges:
            new = safe_column_name(name)
            while new in renamed.values() or (new != name and new in eq.names):
                new += "_"
            renamed[name] = new
        expr = expr.xreplace({sympy.Symbol(old): sympy.Symbol(new) for old, new in renamed.items()})
        ranges = [(renamed[name], lo, hi) for name, lo, hi in ranges]
        target = safe_column_name(target)
        while target in renamed.values():
            target += "_"
    return sample_formula(expr, ranges, n, noise, seed, target, f"Feynman {eq.id}")


