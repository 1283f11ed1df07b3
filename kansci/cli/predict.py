"""``kansci predict RUN DATA.csv``: apply a run's formula (default) or its trained network to new rows.

The file's columns are matched to the run's inputs by name: extra columns are ignored, a missing input is an error
that names it, and the target column is optional (when present, R² and RMSE are reported). A run with several
targets predicts one column per target (each from its own formula, or from its output of the network). The
predictions go to a CSV file (``-o``, written atomically) or to stdout; ``--json`` prints a document instead
(docs/cli_json.md).
:mod:`.run` registers :func:`predict` as the ``predict`` command, after the other pipeline commands.
"""
from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from kansci.cli import render
from kansci.cli.jsondoc import envelope
from kansci.cli.options import DEFAULT_RUNS, JsonOpt, RunArg
from kansci.errors import DataError, RunDirError


@dataclass
class Prediction:
    """Predictions for the rows of a file: ``X`` (n, d) in the run's input order, per target j ``ys[j]`` (n,) the
    file's values of ``targets[j]`` (None without a usable column), ``preds`` (n, k) the predictions, one column per
    target. A run with one target has k = 1; ``target``, ``column``, ``y`` and ``pred`` are then its single ones."""

    run: Path
    data: str
    using: str  # "formula" or "model"
    inputs: list[str]
    targets: list[str]
    columns: list[str]  # names of the prediction columns in the output
    X: np.ndarray
    ys: list[np.ndarray | None]
    preds: np.ndarray
    formulas: list[str] | None
    ignored: list[str]

    @property
    def several(self) -> bool:
        return len(self.targets) > 1

    @property
    def target(self) -> str:
        return self.targets[0]

    @property
    def column(self) -> str:
        return self.columns[0]

    @property
    def y(self) -> np.ndarray | None:
        return self.ys[0]

    @property
    def pred(self) -> np.ndarray:  # (n,) of the first target
        return self.preds[:, 0]

    @property
    def formula(self) -> str | None:
        return None if self.formulas is None else self.formulas[0]

    def metrics(self) -> dict[str, float] | None:
        """R² and RMSE of the first target (the only one of a one-target run); None without its column."""
        return self.target_metrics()[0]

    def target_metrics(self) -> list[dict[str, float] | None]:
        from kansci.metrics import regression_metrics

        return [None if y is None else regression_metrics(y, self.preds[:, j]) for j, y in enumerate(self.ys)]

    def non_finite(self) -> int:
        return int(np.count_nonzero(~np.isfinite(self.preds)))


def _load_formulas(run: Path) -> list[Any]:
    """The run's formula, or one per target for a run with several targets."""
    from kansci import rundir
    from kansci.rundir.targets import read_targets
    from kansci.symbolic.exports import Formula

    sym = run / "symbolic"
    folders = [folder for _, folder in read_targets(sym) or [("", sym)]]
    for folder in folders:
        if not (folder / "formula.json").is_file():
            where = folder.relative_to(run).as_posix()
            raise RunDirError(f"{run}: the run has no formula yet (no {where}/formula.json)",
                              f"run `kansci symbolify {run}` first, or pass --model to use the trained network")
    return [Formula.from_json(rundir.read_json(f, "formula.json"), source=str(f / "formula.json")) for f in folders]


def _similar(name: str, header: list[str]) -> str | None:
    close = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
    return close[0] if close else next((h for h in header if h.lower() == name.lower()), None)


def predict_rows(run: Path, data: Path, using: str) -> Prediction:
    """Read ``data`` with the project's strict reader, check its columns against the run's inputs and predict."""
    from kansci import rundir
    from kansci.data.table import check_columns, parse_table

    meta = rundir.read_json(run, "dataset.json")
    if (run / "units.json").is_file():  # a units-reduced run: the network saw π groups, the formula the columns
        original = rundir.read_json(run, "units.json").get("original_dataset")
        if isinstance(original, dict):
            if using == "model":
                raise RunDirError(f"{run}: the network of this run was trained on dimensionless groups, not on the "
                                  "table's columns", "predict with the formula (the default), which uses the columns")
            meta = original
    inputs, target = meta.get("inputs"), meta.get("target")
    targets = [target] if isinstance(target, str) else target
    if not isinstance(inputs, list) or not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise RunDirError(f"{run / 'dataset.json'}: no 'inputs' list or 'target' name", "re-run `kansci fit`")
    formulas = _load_formulas(run) if using == "formula" else None
    table = parse_table(data)
    header = table.header
    missing = [name for name in inputs if name not in header]
    if missing:
        pairs = [f"{c!r} for {m!r}" for m in missing if (c := _similar(m, header))]
        hint = f"did you mean {', '.join(pairs)}?" if pairs else "add the missing columns; extra columns are ignored"
        raise DataError(f"{table.path}: missing input column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)} (the run's inputs are {', '.join(inputs)})", hint,
                        path=table.path, column=missing[0])
    idx = [header.index(name) for name in inputs]
    cols = [header.index(name) if name in header else None for name in targets]
    cols = [None if t is not None and t not in table.bad_cells and bool(np.isnan(table.values[:, t]).all()) else t
            for t in cols]  # an empty target column (a template to fill in) is not scored
    check_columns(table, idx + [t for t in cols if t is not None])
    X = table.values[:, idx]
    if formulas is not None:
        pred = np.column_stack([_apply(f, table.values, header, inputs) for f in formulas])
    else:
        from kansci.pipeline import load_run_data
        from kansci.pipeline import predict as model_predict
        from kansci.pipeline.common import load_model

        pred = model_predict(load_model(run), load_run_data(run), X)
    columns: list[str] = []
    for name in targets:
        column = f"{name}_pred"
        while column in (*inputs, *targets, *columns):
            column += "_"
        columns.append(column)
    used = {*inputs, *targets}
    return Prediction(run, table.path, using, list(inputs), list(targets), columns, X,
                      [None if t is None else table.values[:, t] for t in cols],
                      np.asarray(pred, dtype=np.float64).reshape(len(X), len(targets)),
                      [f.text for f in formulas] if formulas is not None else None,
                      [h for h in header if h not in used])


def _apply(formula: Any, values: np.ndarray, header: list[str], inputs: list[str]) -> np.ndarray:
    """``formula`` on the table's rows: (n,)."""
    names = formula.input_names if set(formula.input_names) <= set(inputs) else inputs
    return np.asarray(formula(values[:, [header.index(n) for n in names]]), dtype=np.float64).reshape(-1)


def csv_text(p: Prediction) -> str:
    """The output table: the inputs, the targets (those the file has), then the predictions, one column per target
    (``repr`` floats, which read back exactly)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*p.inputs, *[t for t, y in zip(p.targets, p.ys) if y is not None], *p.columns])
    cols = [p.X, *[y[:, None] for y in p.ys if y is not None], p.preds]
    for row in np.hstack(cols).tolist():
        writer.writerow([repr(v) for v in row])
    return buf.getvalue()


def predict_doc(p: Prediction, output: Path | None) -> dict[str, Any]:
    """``kansci predict --json``; ``predictions`` holds the values when no ``-o`` file was given. Several targets:
    ``target``, ``column``, ``formula`` and ``metrics`` are lists (one entry per target) and ``predictions`` has one
    row of k values per data row."""
    if p.several:
        return envelope("predict", run=str(p.run), data=p.data, using=p.using, formula=p.formulas, inputs=p.inputs,
                        target=p.targets, column=p.columns, n_rows=int(p.preds.shape[0]), ignored_columns=p.ignored,
                        metrics=p.target_metrics(), non_finite=p.non_finite(),
                        output=None if output is None else str(output),
                        predictions=p.preds.tolist() if output is None else None)
    return envelope("predict", run=str(p.run), data=p.data, using=p.using, formula=p.formula, inputs=p.inputs,
                    target=p.target, column=p.column, n_rows=int(p.pred.shape[0]), ignored_columns=p.ignored,
                    metrics=p.metrics(), non_finite=p.non_finite(), output=None if output is None else str(output),
                    predictions=p.pred.tolist() if output is None else None)


def _score_line(m: dict[str, float]) -> str:
    return f"R² {m['r2']:.10f}  RMSE {m['rmse']:.4e}"


def _score_lines(p: Prediction) -> list[str]:
    """The score line of each target whose column the file has (prefixed by the target's name when several)."""
    return [(f"{name}: " if p.several else "") + _score_line(m)
            for name, m in zip(p.targets, p.target_metrics()) if m is not None]


def predict(
    run: RunArg,
    data: Annotated[Path, typer.Argument(help="CSV file of new rows with the run's input columns (extra columns "
                                              "are ignored; the target column is optional)")],
    use_formula: Annotated[bool, typer.Option("--formula", help="use the run's formula (the default)")] = False,
    use_model: Annotated[bool, typer.Option("--model", help="use the trained network instead of the formula")
                         ] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="CSV file to write (default: stdout)")
                      ] = None,
    out: Annotated[Path | None, typer.Option(help="where 'latest' looks")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Apply a run's formula (or, with --model, its network) to new rows; prints R² when the target is there."""
    from kansci.atomic import write_text
    from kansci.rundir import resolve_run

    if use_formula and use_model:
        raise typer.BadParameter("give --formula or --model, not both", param_hint="--formula/--model")
    if output is not None and output.is_dir():
        raise DataError(f"-o {output}: is a folder", "give the name of the CSV file to write, e.g. -o pred.csv",
                        path=str(output))
    path = resolve_run(run, out or DEFAULT_RUNS)
    p = predict_rows(path, data, "model" if use_model else "formula")
    bad = p.non_finite()
    if bad:
        render.err(f"warning: {bad} of {p.preds.size} predictions are not finite"
                   + (" (the formula leaves its domain on those rows)" if p.using == "formula" else ""))
    if output is not None:
        write_text(output, csv_text(p))
    if json_out:
        render.out_json(predict_doc(p, output))
    elif output is not None:
        render.out(f"wrote {output}: {p.pred.shape[0]} rows, {', '.join(p.columns)} from the {p.using} of {path}")
        for line in _score_lines(p):
            render.out(line)
    else:
        render.out(csv_text(p).rstrip("\n"))
        render.err(f"predict: {p.pred.shape[0]} rows, {', '.join(p.columns)} from the {p.using} of {path}")
        for line in _score_lines(p):
            render.err(line)
