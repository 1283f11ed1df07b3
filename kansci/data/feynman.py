"""The bundled Feynman equation table (kansci/resources/feynman.csv): 100 equations of Udrescu & Tegmark's Feynman
database with their sampling ranges; 97 of them (``in_srbench``) are scored by SRBench 2021.

:func:`load_equations` reads a user's own table in the same layout, checking every row (see its docstring)."""
from __future__ import annotations

import csv
import difflib
import functools
import io
import keyword
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import sympy

from kansci.data.csvrows import numbered_rows
from kansci.data.names import safe_column_name
from kansci.data.synthetic import SyntheticData, sample_formula
from kansci.errors import DataError, FormulaError
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




# ------------------------------------------------------------------------------------------------- a user's table
REQUIRED_COLUMNS = ("id", "output", "formula")
OPTIONAL_COLUMNS = ("number", "n_vars", "n_vars_declared", "formula_original", "pmlb_dataset",
                    "in_srbench_ground_truth")
_VAR_COLUMN = re.compile(r"v([1-9][0-9]*)_(name|low|high)\Z")
_CHECK_ROWS = 64  # rows sampled per equation to check that its formula is finite on its ranges
_Bad = Callable[[str, str, str], DataError]  # (message, hint, column) -> the error for the row at hand


def load_equations(path: str | Path) -> list[FeynmanEquation]:
    """Read a table of equations in the layout of the bundled ``feynman.csv``; every row is checked.

    Columns: ``id``, ``output``, ``formula`` and ``v1_name, v1_low, v1_high`` (then ``v2_...`` and so on) are
    required; ``number``, ``n_vars``, ``n_vars_declared``, ``formula_original``, ``pmlb_dataset`` and
    ``in_srbench_ground_truth`` (yes/no) are optional. Blank lines, and ``#`` lines before the header, are skipped.

    Raises:
        DataError: naming the file and line (``path``, ``line`` fields) of the first malformed row: a wrong number
            of fields, an empty or repeated id, a bad name, a range that is not numeric or has low >= high, an
            ``n_vars`` that disagrees with the variables, a formula that does not parse or uses an undeclared
            variable, or one that is not finite on its ranges.
    """
    where = str(path)
    text = _read_table_text(Path(path), where)
    rows = numbered_rows(text, where)
    if not rows:
        raise DataError(f"{where} is empty; no header line found",
                        "the first line must name the columns, as in the bundled feynman.csv", path=where)
    header_line, header = rows[0]
    groups = _check_equation_header([h.strip() for h in header], header_line, where)
    header = [h.strip() for h in header]
    table: list[FeynmanEquation] = []
    seen: dict[str, int] = {}
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{where}: line {line} has {len(row)} fields, expected {len(header)} (as in the header)",
                            "check for missing or extra commas; quote a formula that contains commas",
                            path=where, line=line)
        cells = {h: c.strip() for h, c in zip(header, row)}
        eq = _equation_row(cells, groups, len(table) + 1, line, where)
        if eq.id in seen:
            raise DataError(f"{where}: line {line}: id {eq.id!r} is already used on line {seen[eq.id]}",
                            "give every equation its own id", path=where, line=line, column="id")
        seen[eq.id] = line
        table.append(eq)
    if not table:
        raise DataError(f"{where} has a header (line {header_line}) but no equations",
                        "add one equation per line below the header", path=where, line=header_line)
    return table


def _read_table_text(path: Path, where: str) -> str:
    if not path.is_file():
        raise DataError(f"equation table {where!r} does not exist" if not path.exists() else
                        f"equation table {where!r} is not a file", "give the path of a CSV file", path=where)
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read equation table {where!r}: {exc.strerror}", "check the file's permissions",
                        path=where) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: byte {exc.start} is not valid UTF-8", "re-save the file as UTF-8",
                        path=where) from None


def _check_equation_header(header: list[str], line: int, where: str) -> list[int]:
    """The variable numbers the header declares (1, 2, ...); DataError for missing, unknown or repeated columns."""
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    groups: dict[int, set[str]] = {}
    for j, name in enumerate(header):
        if name in header[:j]:
            raise DataError(f"{where}: line {line}: column {name!r} appears twice", "name every column once",
                            path=where, line=line, column=name)
        match = _VAR_COLUMN.match(name)
        if match:
            groups.setdefault(int(match.group(1)), set()).add(match.group(2))
        elif name not in known:
            names = [*known, *(f"v{k}_{part}" for k in range(1, 11) for part in ("name", "low", "high"))]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"columns are {', '.join(REQUIRED_COLUMNS)}, " \
                "v1_name, v1_low, v1_high, ... and optionally " + ", ".join(OPTIONAL_COLUMNS)
            raise DataError(f"{where}: line {line}: unknown column {name!r}", hint, path=where, line=line,
                            column=name)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    missing += [f"v{k}_{part}" for k in sorted(groups) or [1] for part in ("name", "low", "high")
                if part not in groups.get(k, set())]
    if missing:
        raise DataError(f"{where}: line {line}: the header lacks the column(s) {', '.join(missing)}",
                        "use the layout of the bundled feynman.csv: id, output, formula, v1_name, v1_low, v1_high, ...",
                        path=where, line=line, column=missing[0])
    return sorted(groups)


def _equation_row(cells: dict[str, str], groups: Sequence[int], index: int, line: int, where: str) -> FeynmanEquation:
    def bad(message: str, hint: str, column: str) -> DataError:
        return DataError(f"{where}: line {line}: {message}", hint, path=where, line=line, column=column)

    eq_id, output, formula = cells["id"], cells["output"], cells["formula"]
    if not eq_id:
        raise bad("the id is empty", "give every equation an id, e.g. my.1", "id")
    _check_variable(output, "output", bad)
    variables: list[tuple[str, float, float]] = []
    for k in groups:
        name, low, high = (cells[f"v{k}_{part}"] for part in ("name", "low", "high"))
        if not name:
            if low or high:
                raise bad(f"v{k}_low/v{k}_high are set but v{k}_name is empty", "name the variable, or clear "
                          "its range", f"v{k}_name")
            continue
        _check_variable(name, f"v{k}_name", bad)
        if name in (v[0] for v in variables) or name == output:
            what = "is also the output" if name == output else "is declared twice"
            raise bad(f"variable {name!r} {what}", "give each variable and the output its own name", f"v{k}_name")
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            raise bad(f"range of {name!r} is not numeric: low {low!r}, high {high!r}", "write numbers, e.g. 1 "
                      "and 5", f"v{k}_low") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise bad(f"range of {name!r} is not finite: {lo:g}..{hi:g}", "use finite numbers", f"v{k}_low")
        if lo >= hi:
            raise bad(f"range of {name!r} has low >= high ({lo:g} >= {hi:g})", "the low end must be below the "
                      "high end", f"v{k}_low")
        variables.append((name, lo, hi))
    if not variables:
        raise bad("no variables (v1_name is empty)", "declare each variable with v1_name, v1_low, v1_high, ...",
                  "v1_name")
    number = _int_cell(cells.get("number", ""), index, "number", bad)
    n_vars = _int_cell(cells.get("n_vars", ""), len(variables), "n_vars", bad)
    if n_vars != len(variables):
        raise bad(f"n_vars is {n_vars} but {len(variables)} variable(s) are declared", "correct n_vars, or leave "
                  "it empty", "n_vars")
    flag = cells.get("in_srbench_ground_truth", "").lower()
    if flag not in ("", "yes", "no"):
        raise bad(f"in_srbench_ground_truth is {flag!r}", "write yes, no, or leave it empty",
                  "in_srbench_ground_truth")
    if not formula:
        raise bad("the formula is empty", "write the formula in the declared variables, e.g. x*sin(y)", "formula")
    eq = FeynmanEquation(id=eq_id, number=number, output=output, formula=formula, variables=tuple(variables),
                         in_srbench=flag == "yes", pmlb_dataset=cells.get("pmlb_dataset", ""))
    try:
        parse_formula(formula, eq.names, source=f"{where}: line {line}: formula",
                      symbols={n: sympy.Symbol(n) for n in eq.names})
        feynman_dataset(eq, _CHECK_ROWS, seed=0)
    except FormulaError as exc:
        raise DataError(exc.message, exc.hint, path=where, line=line, column="formula") from None
    except DataError as exc:
        raise bad(f"formula {formula!r}: {exc.message.split(': ', 1)[-1]}", exc.hint or "", "formula") from None
    return eq


def _check_variable(name: str, column: str, bad: _Bad) -> None:
    if not name:
        raise bad(f"{column} is empty", "give it a name, e.g. x1", column)
    if not (name.isidentifier() and name.isascii()) or name.startswith("_") or keyword.iskeyword(name):
        raise bad(f"{column} {name!r} is not a valid name", "use ASCII letters, digits and '_', starting with a "
                  "letter, and not a Python keyword (write lambd, not lambda)", column)


def _int_cell(text: str, default: int, column: str, bad: _Bad) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise bad(f"{column} {text!r} is not a whole number", "write e.g. 3, or leave it empty", column) from None
