"""Which equations a benchmark runs: ids or PMLB names of the bundled Feynman table or of a user's own table, the
SRBench-scored subset, the first few."""
from __future__ import annotations

import functools
from collections.abc import Sequence

from kansci.data.feynman import FeynmanEquation, feynman_equation, feynman_table
from kansci.errors import ConfigError, DataError

__all__ = ["select_equations"]


def select_equations(ids: Sequence[str] | None = None, srbench: bool = False, limit: int | None = None,
                     table: Sequence[FeynmanEquation] | None = None) -> list[FeynmanEquation]:
    """Equations in table order: the given ``ids`` (ids or PMLB names; DataError for unknown ones), else all 100,
    or with ``srbench`` the 97 SRBench-scored ones; then the first ``limit``. ``table`` replaces the bundled one."""
    if table is None:
        table = feynman_table()
        find = feynman_equation
    else:
        find = functools.partial(_find, table)
    if ids:
        chosen = {find(i).id for i in ids}
        eqs = [eq for eq in table if eq.id in chosen]
    else:
        eqs = list(table)
    if srbench:
        eqs = [eq for eq in eqs if eq.in_srbench]
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {limit}", "pass e.g. --limit 5")
        eqs = eqs[:limit]
    return eqs


def _find(table: Sequence[FeynmanEquation], eq_id: str) -> FeynmanEquation:
    for eq in table:
        if eq_id in (eq.id, eq.pmlb_dataset or eq.id):
            return eq
    shown = ", ".join(eq.id for eq in table[:5]) + (", ..." if len(table) > 5 else "")
    raise DataError(f"--ids: no equation {eq_id!r} in the table", f"the table's ids are {shown}")
