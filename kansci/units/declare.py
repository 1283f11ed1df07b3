"""Units declared inline (the CLI's ``--units F=N,m=kg,a=m/s^2``, the config's ``data.units: {F: N}``) and the
one place where file and inline declarations meet the data's columns (:func:`resolve_units`).

Errors are :class:`~kansci.errors.ConfigError` for inline declarations (``key`` is the config key, e.g.
``data.units.F``, or the option, ``--units``) and :class:`~kansci.errors.DataError` for a units file (``path``,
``line``); all exit 2 in the CLI.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kansci.errors import ConfigError, DataError, KansciError
from kansci.units.dims import SI, Basis, Dim, UnitSpec
from kansci.units.strings import unit_spec
from kansci.units.table import UnitsTable, read_units_csv

__all__ = ["DeclaredUnits", "parse_units_option", "parse_units_text", "units_from_mapping", "resolve_units"]


def _relocated(exc: KansciError, key: str) -> ConfigError:
    """A unit error raised with the key's label as its location, as a ConfigError that carries the key."""
    return ConfigError(exc.message, exc.hint, key=key)


def parse_units_text(text: str, basis: Basis = SI, *, option: str = "--units") -> UnitsTable:
    """``"F=N,m=kg,a=m/s^2"`` (the CLI form) as a table over ``basis``; ConfigError (``key=option``) otherwise."""
    example = f"write e.g. {option} F=N,m=kg,a=m/s^2"
    units: dict[str, UnitSpec] = {}
    for item in text.split(","):
        if not item.strip():
            raise ConfigError(f"{option} {text!r}: empty item in the list", example, key=option)
        name, eq, unit = item.rpartition("=")
        name = name.strip()
        if not eq or not name:
            raise ConfigError(f"{option} {text!r}: {item.strip()!r} is not NAME=UNIT", example, key=option)
        if name in units:
            raise ConfigError(f"{option} {text!r}: units for {name!r} are given twice", "give each column once",
                              key=option)
        try:
            units[name] = unit_spec(unit, basis, where=f"{option} {name}={unit.strip()}")
        except DataError as exc:
            raise _relocated(exc, option) from None
    return UnitsTable(basis, units)


def parse_units_option(value: str, basis: Basis = SI, *, option: str = "--units") -> UnitsTable:
    """The CLI option's value: a units CSV when it is an existing file or has no ``=``, else the inline form."""
    if Path(value).is_file() or "=" not in value:
        return read_units_csv(value)
    return parse_units_text(value, basis, option=option)


def units_from_mapping(mapping: Mapping[str, object], basis: Basis = SI, *, key: str = "data.units",
                       where: str | None = None) -> UnitsTable:
    """A YAML mapping ``{name: unit}``: a unit string (``"m/s^2"``), the number 1 (dimensionless) or a mapping of
    base exponents over ``basis`` (``{m: 1, s: -2}``). ConfigError with ``key`` = ``data.units.<name>`` at fault;
    ``where`` (e.g. ``"config.yaml: line 7"``) prefixes messages."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where or key}: expected a mapping {{column: unit}}, got {type(mapping).__name__}",
                          'write e.g. units: {F: "N", m: "kg", a: "m/s^2"}', key=key)
    units: dict[str, UnitSpec] = {}
    for name, value in mapping.items():
        at = f"{key}.{name}"
        label = f"{where + ': ' if where else ''}{at}"
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Mapping)):
            raise ConfigError(f"{label}: expected a unit string, got {type(value).__name__} {value!r}",
                              'write e.g. "m/s^2", "N" or "dimensionless"', key=at)
        if isinstance(value, (int, float)):
            if value != 1:
                raise ConfigError(f"{label}: {value!r} is not a unit", 'write 1 or "dimensionless" for a '
                                  "quantity without units, or a unit string", key=at)
            units[str(name)] = UnitSpec(Dim.none(basis), text="1")
        elif isinstance(value, Mapping):
            try:
                units[str(name)] = UnitSpec(basis.dim({str(k): v for k, v in value.items()}))
            except (KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"{label}: {exc}",
                                  f"give integer or fractional exponents of {', '.join(basis.names)}",
                                  key=at) from None
        else:
            try:
                units[str(name)] = unit_spec(value, basis, where=label)
            except DataError as exc:
                raise _relocated(exc, at) from None
    return UnitsTable(basis, units)


@dataclass(frozen=True)
class DeclaredUnits:
    """Units of a problem's columns, all over one ``basis``: ``inputs[name]`` for every input (in input order),
    ``target`` for the target, named ``target_name``."""

    basis: Basis
    inputs: dict[str, UnitSpec]
    target: UnitSpec
    target_name: str = ""

    def input_dims(self) -> dict[str, Dim]:
        """``{input: Dim}``, in input order (what :func:`~kansci.units.buckingham.reduce` takes)."""
        return {name: spec.dim for name, spec in self.inputs.items()}


def resolve_units(inputs: Sequence[str], target: str, *, file: UnitsTable | None = None,
                  inline: Mapping[str, object] | str | None = None, inline_key: str = "data.units",
                  extra_rows: bool = False) -> DeclaredUnits:
    """Combine a units file and inline declarations for the problem's columns.

    ``inline`` is a ``{name: unit}`` mapping (the config's ``data.units``) or the CLI's ``F=N,...`` text; it is
    parsed over the file's basis when there is a file (SI otherwise). ``extra_rows=True`` allows file rows for
    names that are not columns (a shared table such as the packaged Feynman one); otherwise such a row is an error.

    Raises:
        DataError: a file row for a name that is not a column (file, line); a column without units.
        ConfigError: a bad inline unit; a column given units both in the file and inline (naming both).
    """
    basis = file.basis if file is not None else SI
    if isinstance(inline, str):
        extra = parse_units_text(inline, basis, option=inline_key)
    elif inline is not None:
        extra = units_from_mapping(inline, basis, key=inline_key)
    else:
        extra = None
    columns = [*inputs, target]
    if file is not None and not extra_rows:
        for name in file.units:
            if name not in columns:
                close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
                raise DataError(f"{file.where(name)}: units for {name!r}, which is not a column of the data",
                                f"did you mean {close[0]!r}?" if close else "remove the row, or fix the name",
                                path=file.path, line=file.lines.get(name), column=name)
    merged: dict[str, UnitSpec] = {}
    if extra is not None:
        for name, spec in extra.units.items():
            if name not in columns:
                close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
                raise ConfigError(f"{inline_key}: units for {name!r}, which is not a column of the data",
                                  f"did you mean {close[0]!r}?" if close else f"columns are {', '.join(columns)}",
                                  key=f"{inline_key}.{name}" if not isinstance(inline, str) else inline_key)
            if file is not None and name in file.units:
                raise ConfigError(f"units of {name!r} are given both in {file.where(name)} and in {inline_key}",
                                  "declare each column's units in one place", key=f"{inline_key}.{name}"
                                  if not isinstance(inline, str) else inline_key, path=file.path,
                                  line=file.lines.get(name))
            merged[name] = spec
    if file is not None:
        merged.update({name: file.units[name] for name in columns if name in file.units})
    missing = [name for name in columns if name not in merged]
    if missing:
        source = " and ".join(s for s in ((file.path if file is not None else None),
                                          (inline_key if extra is not None else None)) if s)
        raise DataError(f"no units declared for column(s) {', '.join(repr(m) for m in missing)} "
                        f"(units come from {source or 'nowhere'})",
                        "declare units for every input and the target (\"1\" or \"dimensionless\" for a pure "
                        "number), or declare none", path=file.path if file is not None else None, column=missing[0])
    return DeclaredUnits(basis, {name: merged[name] for name in inputs}, merged[target], target)
