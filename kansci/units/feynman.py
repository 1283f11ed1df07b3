"""The packaged units table of the Feynman equations (``feynman_units.csv``, the AI Feynman layout over m, s, kg,
T (temperature) and V (volt)): every variable and output of the bundled Feynman table has a row.

Checked against the equations (tests/test_units_feynman.py): every formula is dimensionally consistent except
I.43.16 (:data:`UNBALANCED`), where the table's units of ``mu_drift`` do not balance ``v = mu_drift*q*Volt/d``.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources

from kansci.data.feynman import FeynmanEquation, feynman_equation
from kansci.units.declare import DeclaredUnits, resolve_units
from kansci.units.table import UnitsTable, parse_units_csv

__all__ = ["FEYNMAN_UNITS_FILE", "UNBALANCED", "feynman_units", "feynman_problem_units"]

#: The packaged file's name, inside the ``kansci.units`` package.
FEYNMAN_UNITS_FILE = "feynman_units.csv"
#: Equations whose formula is not dimensionally consistent under the table's units.
UNBALANCED = frozenset({"I.43.16"})


@functools.lru_cache(maxsize=1)
def feynman_units() -> UnitsTable:
    """The packaged Feynman units table (read once); its ``path`` is ``feynman_units.csv`` in messages."""
    text = resources.files("kansci.units").joinpath(FEYNMAN_UNITS_FILE).read_text(encoding="utf-8")
    return parse_units_csv(text, FEYNMAN_UNITS_FILE)


def feynman_problem_units(eq: FeynmanEquation | str, inputs: Sequence[str] | None = None,
                          target: str | None = None) -> DeclaredUnits:
    """The units of one Feynman equation's columns from the packaged table (its other rows are ignored).

    ``inputs``/``target``: the dataset's column names when they differ from the table's, in the equation's variable
    order (``feynman_dataset`` renames ``I`` to ``I_``); the units are looked up under the original names.
    """
    if isinstance(eq, str):
        eq = feynman_equation(eq)
    declared = resolve_units(eq.names, eq.output, file=feynman_units(), extra_rows=True)
    names = list(inputs) if inputs is not None else eq.names
    if len(names) != len(eq.names):
        raise ValueError(f"{eq.id} has {len(eq.names)} inputs ({', '.join(eq.names)}), got {len(names)} names")
    return DeclaredUnits(declared.basis, {new: declared.inputs[old] for new, old in zip(names, eq.names)},
                         declared.target, target if target is not None else eq.output)
