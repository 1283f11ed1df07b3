"""``kansci predict RUN DATA.csv``: the formula (default) or the network on new rows, columns matched by name.

One tiny run (width [2, 1, 1], 3 steps) is fitted once; its formula is written as ``symbolify`` would write it
(``Formula.to_json``), so no symbolic search runs here.
"""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import sympy
from typer.testing import CliRunner

from kansci import cli, rundir

TINY = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=3", "--set", "train.grids=[3]"]


def invoke(*args: str | Path):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def write_rows(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join([",".join(header)] + [",".join(str(v) for v in r) for r in rows]) + "\n",
                    encoding="utf-8")
    return path


def xy_rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 2))


def with_formula(run: Path, text: str) -> Path:
    from kansci.symbolic.exports import Formula

    x, y = sympy.symbols("x y")
    expr = sympy.sympify(text, locals={"x": x, "y": y})
    rundir.write_json(run / "symbolic" / "formula.json", Formula(expr, ["x", "y"], "f").to_json())
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("predict")
    X = xy_rows(60, 0)
    data = write_rows(tmp / "xy.csv", ["x", "y", "f"], [[a, b, a + b * b] for a, b in X.tolist()])
    res = invoke("fit", data, "--out", tmp / "runs", *TINY)
    assert res.exit_code == 0, res.output
    return Path(re.search(r"^run: (.+)$", res.stdout, re.M).group(1))


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of the trained run with the formula x + y**2."""
    return with_formula(Path(shutil.copytree(trained, tmp_path / "run")), "x + y**2")


def read_csv(text: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], np.array(rows[1:], dtype=float)


def test_formula_to_stdout_matches_by_name_ignores_extra_columns_and_scores_the_target(run, tmp_path):
    X = xy_rows(7, 1)
    new = write_rows(tmp_path / "new.csv", ["note", "y", "x", "f"],
                     [[9, b, a, a + b * b] for a, b in X.tolist()])
    res = invoke("predict", run, new)
    assert res.exit_code == 0, res.output
    header, values = read_csv(res.stdout)
    assert header == ["x", "y", "f", "f_pred"]                    # run order, target kept, extra column dropped
    np.testing.assert_array_equal(values[:, :2], X)
    np.testing.assert_allclose(values[:, 3], X[:, 0] + X[:, 1] ** 2, rtol=1e-15)
    assert "R² 1.0000000000" in res.stderr and "R²" not in res.stdout


def test_output_file_is_written_atomically_and_the_score_goes_to_stdout(run, tmp_path):
    X = xy_rows(5, 2)
    (tmp_path / "in").mkdir()
    new = write_rows(tmp_path / "in" / "new.csv", ["x", "y"], X.tolist())
    out = tmp_path / "in" / "pred.csv"
    res = invoke("predict", run, new, "-o", out)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"wrote {out}: 5 rows") and "R²" not in res.output   # no target column: no score
    header, values = read_csv(out.read_text())
    assert header == ["x", "y", "f_pred"] and values.shape == (5, 3)
    assert sorted(p.name for p in out.parent.iterdir()) == ["new.csv", "pred.csv"]       # no temp file left


def test_model_uses_the_network(run, tmp_path):
    from kansci.pipeline import load_run_data, predict
    from kansci.pipeline.common import load_model

    X = xy_rows(6, 3)
    new = write_rows(tmp_path / "new.csv", ["x", "y", "f"], [[a, b, a + b * b] for a, b in X.tolist()])
    res = invoke("predict", run, new, "--model", "-o", tmp_path / "p.csv")
    assert res.exit_code == 0, res.output
    _, values = read_csv((tmp_path / "p.csv").read_text())
    np.testing.assert_allclose(values[:, 3], predict(load_model(run), load_run_data(run), X), rtol=1e-12)
    assert re.search(r"^R² 0\.9\d+  RMSE ", res.stdout, re.M), res.stdout


def test_json_document(run, tmp_path):
    X = xy_rows(4, 4)
    new = write_rows(tmp_path / "new.csv", ["y", "x", "f", "z"], [[b, a, a + b * b, 0] for a, b in X.tolist()])
    res = invoke("predict", run, new, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["command"] == "predict" and doc["schema_version"] == 1 and doc["using"] == "formula"
    assert doc["formula"] == "x + y**2" and doc["inputs"] == ["x", "y"] and doc["column"] == "f_pred"
    assert doc["n_rows"] == 4 and doc["ignored_columns"] == ["z"] and doc["output"] is None
    assert doc["metrics"]["r2"] == pytest.approx(1.0) and doc["non_finite"] == 0
    np.testing.assert_allclose(doc["predictions"], X[:, 0] + X[:, 1] ** 2, rtol=1e-15)
    res = invoke("predict", run, new, "--json", "-o", tmp_path / "p.csv")
    doc = json.loads(res.stdout)
    assert doc["predictions"] is None and doc["output"] == str(tmp_path / "p.csv") and (tmp_path / "p.csv").is_file()


def test_non_finite_predictions_warn_and_score_null_in_json(trained, tmp_path):
    run = with_formula(Path(shutil.copytree(trained, tmp_path / "run")), "log(x) + y")
    new = write_rows(tmp_path / "new.csv", ["x", "y", "f"], [[0.5, 1, 0], [-1, 1, 1], [2, 0, 3]])
    res = invoke("predict", run, new, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["non_finite"] == 1 and doc["metrics"]["r2"] is None and doc["predictions"][1] is None
    assert "warning: 1 of 3 predictions are not finite" in res.stderr


@pytest.mark.parametrize("header, rows, needle", [
    (["x", "f"], [[1, 2]], "missing input column 'y' (the run's inputs are x, y)"),
    (["X", "Y"], [[1, 2]], "missing input columns 'x', 'y'"),
    (["x", "y"], [[1, "abc"]], "line 2, column 'y': 'abc' is not a number"),
    (["x", "y", "f"], [[1, 2, "n/a"]], "column 'f'"),
])
def test_bad_files_are_one_line_errors_and_write_nothing(run, tmp_path, header, rows, needle):
    new = write_rows(tmp_path / "new.csv", header, rows)
    res = invoke("predict", run, new, "-o", tmp_path / "p.csv")
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and res.stderr.startswith("error: ") and len(res.stderr.splitlines()) == 1
    assert "Traceback" not in res.output and res.stdout == "" and not (tmp_path / "p.csv").exists()


def test_output_to_a_folder_is_refused(run, tmp_path):
    new = write_rows(tmp_path / "new.csv", ["x", "y"], [[0.1, 0.2]])
    res = invoke("predict", run, new, "-o", tmp_path)
    assert res.exit_code == 2 and "is a folder" in res.stderr and "Traceback" not in res.output


def test_case_mismatch_gets_a_did_you_mean(run, tmp_path):
    res = invoke("predict", run, write_rows(tmp_path / "new.csv", ["X", "y"], [[1, 2]]))
    assert res.exit_code == 2 and "did you mean 'X' for 'x'?" in res.stderr


def test_a_run_without_formula_needs_model(trained, tmp_path):
    new = write_rows(tmp_path / "new.csv", ["x", "y"], [[0.1, 0.2]])
    res = invoke("predict", trained, new)
    assert res.exit_code == 2 and "no formula yet" in res.stderr and "--model" in res.stderr
    assert invoke("predict", trained, new, "--model").exit_code == 0


def test_formula_and_model_together_is_a_usage_error(run, tmp_path):
    new = write_rows(tmp_path / "new.csv", ["x", "y"], [[0.1, 0.2]])
    res = invoke("predict", run, new, "--formula", "--model")
    assert res.exit_code == 2 and "not both" in res.output


def test_latest_looks_under_out(trained, tmp_path):
    new = write_rows(tmp_path / "new.csv", ["x", "y"], [[0.1, 0.2]])
    res = invoke("predict", "latest", new, "--out", trained.parent, "--model")
    assert res.exit_code == 0, res.output
    res = invoke("predict", "latest", new, "--out", tmp_path / "none")
    assert res.exit_code == 2 and "no runs found" in res.stderr
