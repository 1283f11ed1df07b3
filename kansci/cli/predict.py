"""``kansci predict RUN DATA.csv``: apply a run's formula (default) or its trained network to new rows.

The file's columns are matched to the run's inputs by name: extra columns are ignored, a missing input is an error
that names it, and the target column is optional (when present, R² and RMSE are reported). The predictions go to a
CSV file (``-o``, written atomically) or to stdout; ``--json`` prints a document instead (docs/cli_json.md).
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
    """Predictions for the rows of a file: ``X`` (n, d) in the run's input order, ``y`` (n,) the file's target
    values (None without a usable target column), ``pred`` (n,)."""

    run: Path
    data: str
    using: str  # "formula" or "model"
    inputs: list[str]
    target: str
    column: str  # name of the prediction column in the output
    X: np.ndarray
    y: np.ndarray | None
    pred: np.ndarray
    formula: str | None
    ignored: list[str]

    def metrics(self) -> dict[str, float] | None:
        from kansci.metrics import regression_metrics

        return None if self.y is None else regression_metrics(self.y, self.pred)

    def non_finite(self) -> int:
        return int(np.count_nonzero(~np.isfinite(self.pred)))


def _load_formula(run: Path) -> Any:
    from kansci.symbolic.exports import Formula

    sym = run / "symbolic"
    if not (sym / "formula.json").is_file():
        raise RunDirError(f"{run}: the run has no formula yet (no symbolic/formula.json)",
                          f"run `kansci symbolify {run}` first, or pass --model to use the trained network")
    from kansci import rundir

    return Formula.from_json(rundir.read_json(sym, "formula.json"), source=str(sym / "formula.json"))


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
    if not isinstance(inputs, list) or not isinstance(target, str):
        raise RunDirError(f"{run / 'dataset.json'}: no 'inputs' list or 'target' name", "re-run `kansci fit`")
    formula = _load_formula(run) if using == "formula" else None
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
    t = header.index(target) if target in header else None
    if t is not None and t not in table.bad_cells and bool(np.isnan(table.values[:, t]).all()):
        t = None  # an empty target column (a template to fill in) is not scored
    check_columns(table, idx + ([] if t is None else [t]))
    X = table.values[:, idx]
    if formula is not None:
        names = formula.input_names if set(formula.input_names) <= set(inputs) else inputs
        pred = formula(table.values[:, [header.index(n) for n in names]])
    else:
        from kansci.pipeline import load_run_data
        from kansci.pipeline import predict as model_predict
        from kansci.pipeline.common import load_model

        pred = model_predict(load_model(run), load_run_data(run), X)
    column = f"{target}_pred"
    while column in (*inputs, target):
        column += "_"
    used = {*inputs, target}
    return Prediction(run, table.path, using, list(inputs), target, column, X,
                      None if t is None else table.values[:, t], np.asarray(pred, dtype=np.float64).reshape(-1),
                      formula.text if formula is not None else None, [h for h in header if h not in used])


def csv_text(p: Prediction) -> str:
    """The output table: the inputs, the target (when the file has it), then the predictions (``repr`` floats,
    which read back exactly)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*p.inputs, *([p.target] if p.y is not None else []), p.column])
    cols = [p.X, *([p.y[:, None]] if p.y is not None else []), p.pred[:, None]]
    for row in np.hstack(cols).tolist():
        writer.writerow([repr(v) for v in row])
    return buf.getvalue()


def predict_doc(p: Prediction, output: Path | None) -> dict[str, Any]:
    """``kansci predict --json``; ``predictions`` holds the values when no ``-o`` file was given."""
    return envelope("predict", run=str(p.run), data=p.data, using=p.using, formula=p.formula, inputs=p.inputs,
                    target=p.target, column=p.column, n_rows=int(p.pred.shape[0]), ignored_columns=p.ignored,
                    metrics=p.metrics(), non_finite=p.non_finite(), output=None if output is None else str(output),
                    predictions=p.pred.tolist() if output is None else None)


def _score_line(m: dict[str, float]) -> str:
    return f"R² {m['r2']:.10f}  RMSE {m['rmse']:.4e}"


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
    metrics, bad = p.metrics(), p.non_finite()
    if bad:
        render.err(f"warning: {bad} of {p.pred.shape[0]} predictions are not finite"
                   + (" (the formula leaves its domain on those rows)" if p.using == "formula" else ""))
    if output is not None:
        write_text(output, csv_text(p))
    if json_out:
        render.out_json(predict_doc(p, output))
    elif output is not None:
        render.out(f"wrote {output}: {p.pred.shape[0]} rows, {p.column} from the {p.using} of {path}")
        if metrics is not None:
            render.out(_score_line(metrics))
    else:
        render.out(csv_text(p).rstrip("\n"))
        render.err(f"predict: {p.pred.shape[0]} rows, {p.column} from the {p.using} of {path}")
        if metrics is not None:
            render.err(_score_line(metrics))
