"""``--json`` on fit, symbolify, show and bench feynman: one JSON document on stdout, logs on stderr, the keys of
docs/cli_json.md. (``predict --json`` is in test_cli_predict.py.)

Fits are tiny (width [2, 1, 1], 3 steps); symbolify's search is replaced by a stand-in returning a real Formula, and
the benchmark runs a fake task function in its task processes.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy
from typer.testing import CliRunner

from kansci import cli, pipeline
from tests.sample_tables import write_xy

TINY = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=3", "--set", "train.grids=[3]"]


def invoke(*args: str | Path):
    return CliRunner().invoke(cli.app, [str(a) for a in args])



def document(res, command: str) -> dict:
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)                                 # the whole of stdout is one document
    assert list(doc)[:2] == ["command", "schema_version"] and doc["command"] == command
    assert doc["schema_version"] == 1
    return doc


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("json")
    res = invoke("fit", write_xy(tmp / "xy.csv"), "--out", tmp / "runs", *TINY, "--json")
    doc = document(res, "fit")
    assert "step 3/3" in res.stderr                              # progress stays on stderr
    return Path(doc["run"]), doc


def test_fit(fitted):
    run, doc = fitted
    assert doc["status"] == "complete" and run.is_dir() and doc["resume_command"] is None
    saved = json.loads((run / "metrics.json").read_text())
    assert doc["metrics"] == saved
    for key in ("train_rmse", "train_r2", "test_rmse", "test_r2", "width", "steps", "wall_s", "device", "seed"):
        assert key in doc["metrics"], key
    assert doc["metrics"]["width"] == [2, 1, 1]


def test_show_before_symbolify(fitted):
    run, _ = fitted
    doc = document(invoke("show", run, "--json"), "show")
    assert doc["run"] == str(run) and doc["status"] == "complete" and doc["formula"] is None
    assert doc["data"]["inputs"] == ["x", "y"] and doc["data"]["target"] == "f" and doc["data"]["n_rows"] == 60
    assert doc["data"]["n_train"] + doc["data"]["n_test"] == 60
    assert doc["model"]["width"] == [2, 1, 1] and doc["train"]["steps_per_grid"] == 3
    assert doc["train"]["grids"] == [3] and doc["metrics"] == json.loads((run / "metrics.json").read_text())


def _fake_symbolify(run, cfg, *, log):
    from kansci import rundir
    from kansci.symbolic.exports import Formula

    x, y = sympy.symbols("x y")
    formula = Formula(x + y**2, ["x", "y"], "f")
    metrics = {"formula_test_r2": 1.0, "formula_test_rmse": 0.0, "formula_train_r2": 1.0, "formula_train_rmse": 0.0,
               "network_test_rmse": 0.05, "formula_vs_model_rmse": 0.05, "found_by": "leaf", "complexity": 5,
               "decomposition": ["f = x + y**2   [leaf search: c*(x + y**2) + d]"],
               "formula_vs_model_max_abs": math.inf}
    log("symbolify: structure search ... 0.1 s")
    files = [rundir.write_json(run / "symbolic" / "formula.json", {**formula.to_json(), "metrics": metrics}),
             rundir.write_json(run / "symbolic" / "metrics.json", metrics)]
    return pipeline.SymbolifyResult(formula, metrics, files)


def test_symbolify_then_show(fitted, monkeypatch, tmp_path):
    import shutil

    run = Path(shutil.copytree(fitted[0], tmp_path / "run"))
    monkeypatch.setattr(pipeline, "symbolify_run", _fake_symbolify)
    res = invoke("symbolify", run, "--json")
    doc = document(res, "symbolify")
    assert "structure search" in res.stderr
    assert doc["formula"] == {"target": "f", "text": "x + y**2", "latex": "x + y^{2}", "inputs": ["x", "y"],
                              "complexity": 5}
    assert doc["found_by"] == "leaf" and doc["warning"] is None and doc["decomposition"][0].startswith("f = x")
    assert doc["metrics"]["formula_vs_model_max_abs"] is None          # not finite -> null (valid JSON)
    assert doc["files"] == [str(run / "symbolic" / "formula.json"), str(run / "symbolic" / "metrics.json")]
    shown = document(invoke("show", run, "--json"), "show")["formula"]
    assert shown["text"] == "x + y**2" and shown["inputs"] == ["x", "y"] and shown["metrics"]["formula_test_r2"] == 1


def test_errors_leave_stdout_empty(tmp_path):
    res = invoke("fit", tmp_path / "missing.csv", "--out", tmp_path / "runs", "--json")
    assert res.exit_code == 2 and res.stdout == "" and res.stderr.startswith("error: ")
    res = invoke("show", "latest", "--out", tmp_path / "none", "--json")
    assert res.exit_code == 2 and res.stdout == ""


def test_output_is_strict_json():
    from kansci.cli.render import _plain

    doc = _plain({"a": [np.float64(1.5), np.int64(2), math.nan, -math.inf], "p": Path("x/y"), "arr": np.eye(2)})
    assert json.loads(json.dumps(doc, allow_nan=False)) == {"a": [1.5, 2, None, None], "p": "x/y",
                                                            "arr": [[1.0, 0.0], [0.0, 1.0]]}


# ------------------------------------------------------------------------------------------------- bench feynman
def fast_task(task, mark) -> dict:
    mark("fit", {"fit_test_r2": 0.99999})
    mark("pipeline_done", {"wall_s": 0.01})
    return {"strict": task.eq_id != "I.14.3", "robust": True, "accuracy": True, "formula": f"f_{task.eq_id}",
            "formula_test_r2": 1.0, "same_shape": True}


def test_bench_feynman(tmp_path, monkeypatch):
    from kansci.bench import feynman

    monkeypatch.setattr(feynman, "run_feynman_bench", functools.partial(feynman.run_feynman_bench, task_fn=fast_task))
    res = invoke("bench", "feynman", "--ids", "I.6.2a,I.14.3", "--n-train", "20", "--n-test", "10", "--workers", "2",
                 "--out", tmp_path / "b", "--json")
    doc = document(res, "bench feynman")
    assert "[2/2]" in res.stderr and "eta " in res.stderr
    assert doc["out"] == str((tmp_path / "b").resolve()) and Path(doc["results"]).is_file()
    assert Path(doc["summary"]).read_text().startswith("# Feynman benchmark")
    assert (doc["ran"], doc["skipped"], doc["n_tasks"], doc["n_equations"]) == (2, 0, 2, 2)
    assert doc["rates"]["strict"] == {"count": 1, "total": 2, "percent": 50.0}
    assert doc["rates"]["accuracy"]["count"] == 2 and doc["failures"]["constants"] == 1
    assert doc["settings"]["n_train"] == 20 and doc["settings"]["seeds"] == 1
    assert sorted(r["id"] for r in doc["rows"]) == ["I.14.3", "I.6.2a"]
    assert all(isinstance(r["strict"], bool) and r["status"] == "ok" for r in doc["rows"])
