"""Units and dimensional analysis: declared units, Buckingham π groups, and a units check of formulas.

A base-layer package (it imports only ``kansci.errors`` and ``kansci.data`` from kansci). pint, which reads unit
strings, is optional and imported on first use: ``pip install "kansci[units]"``; a units CSV with exponent columns
needs no pint at all.

**Dimensions.** A :class:`Dim` is a tuple of exact (``Fraction``) exponents over a :class:`Basis` of named base
dimensions. :data:`SI` is ``m, s, kg, A, K, mol, cd``; :data:`FEYNMAN_BASIS` is the AI Feynman table's
``m, s, kg, T, V`` (T = temperature, V = volt). ``Dim.format()`` writes ``kg·m²/s²``. A :class:`UnitSpec` is one
column's declaration: ``dim``, ``text`` (the unit string as written, e.g. ``"N"``) and ``description``.

**Declaring units** (each error exits 2 in the CLI and names the file and line, or the config key)::

    read_units_csv(path) -> UnitsTable                  # Variable,Units,m,s,kg,T,V (any base columns; DataError)
    parse_unit("m/s^2", basis=SI) -> Dim               # pint; unknown unit -> DataError with a did-you-mean
    parse_units_text("F=N,m=kg,a=m/s^2") -> UnitsTable  # the CLI form (ConfigError, key "--units")
    parse_units_option(value) -> UnitsTable             # --units VALUE: a CSV path, or the inline form
    units_from_mapping({"F": "N"}, key="data.units") -> UnitsTable   # the YAML form (ConfigError, key data.units.F)
    resolve_units(inputs, target, file=table, inline=mapping_or_text, extra_rows=False) -> DeclaredUnits
        # checks: a file row for a non-column (DataError, file:line), a column without units (DataError), a column
        # in both file and inline (ConfigError); inline units are parsed over the file's basis
    feynman_units() -> UnitsTable                       # the packaged Feynman table
    feynman_problem_units(eq_or_id, inputs=None) -> DeclaredUnits

**Buckingham π** (details and the choice of groups in :mod:`kansci.units.buckingham`)::

    red = reduce(declared.input_dims(), declared.target.dim)   # -> Reduction | Unbalanced
    if isinstance(red, Unbalanced):
        log(red.message)        # "units: the target's dimension ... cannot be formed from the inputs; ..."
    else:
        Z = red.group_values(X)             # (n, k) columns named red.group_names (pi1, ..., or an input's name)
        t = red.target_values(X, y)         # y / prefactor
        red.applicable(X, y)                # None, or why the reduced columns are not finite
        ...search phi(Z) -> t...
        formula = red.restore(phi)          # prefactor * phi(groups), in the original symbols
    red.prefactor, red.groups, red.describe("E"), red.to_dict(), red.phi_from(known_formula)

A reduction with ``n_groups == 0`` means y = constant × prefactor.

**The units check**::

    check_units(expr, declared.inputs, declared.target) -> UnitsCheck
    check.status ("consistent" | "inconsistent" | "unknown"), check.consistent, check.message, check.to_dict()

``message`` is one line: ``units: consistent (N)``, ``units: inconsistent: adds m (x) to s (t) in t + x``. Every
number in a formula, fitted floats included, counts as dimensionless.
"""
from __future__ import annotations

from kansci.units.buckingham import Unbalanced, reduce, reductions
from kansci.units.check import UnitsCheck, check_units
from kansci.units.declare import DeclaredUnits, parse_units_option, parse_units_text, resolve_units, units_from_mapping
from kansci.units.dims import FEYNMAN_BASIS, SI, Basis, Dim, UnitSpec
from kansci.units.feynman import UNBALANCED, feynman_problem_units, feynman_units
from kansci.units.reduction import Reduction
from kansci.units.strings import PINT_EXTRA, parse_unit, require_pint, unit_spec
from kansci.units.table import UnitsTable, parse_units_csv, read_units_csv

__all__ = [
    "Basis", "Dim", "UnitSpec", "SI", "FEYNMAN_BASIS",
    "UnitsTable", "read_units_csv", "parse_units_csv",
    "parse_unit", "unit_spec", "require_pint", "PINT_EXTRA",
    "DeclaredUnits", "parse_units_text", "parse_units_option", "units_from_mapping", "resolve_units",
    "feynman_units", "feynman_problem_units", "UNBALANCED",
    "reduce", "reductions", "Reduction", "Unbalanced",
    "check_units", "UnitsCheck",
]
