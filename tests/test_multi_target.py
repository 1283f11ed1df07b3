"""Several targets: one KAN with one output per target, one formula per target.

The data is y1 = x0*x1, y2 = x0 + sin(x1) on a seeded uniform sample. One run made through the CLI
(``kansci fit --target y1,y2`` then ``symbolify``) is shared by the read-only tests; formulas are checked against the
truth with sympy and numerically, never as strings. A one-target run checks that the flat layout is unchanged.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch
from typer.testing import CliRunner

from kansci import cli
from kansci.config import load_config
from kansci.core.model import KAN
from kansci.core.subnet import output_subnet
from kansci.data import dataset_from_arrays, load_dataset
from kansci.errors import DataError, KansciError
from tests.sample_tables import run_path

#: Settings that train the 2-output network well enough in a few seconds on one core.
TRAIN = ["--width", "2,5,2", "--device", "cpu", "--set", "train.grids=[5,10]", "--set", "train.steps=60",
         "--set", "train.time_limit_s=null"]
SYMBOLIC = ["--set", "symbolic.time_limit_s=10"]
SYMBOLIC_FILES = {"formula.txt", "formula.tex", "formula.json", "formula.py", "edges.json", "metrics.json",
                  "structure.json", "model.json", "model.pt"}
TRUTH = {"y1": "x0*x1", "y2": "x0 + sin(x1)"}


def invoke(*args: str | Path):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def two_targets(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 2) uniform on [-1, 1] and Y (n, 2) = (x0*x1, x0 + sin(x1))."""
    X = np.random.default_rng(seed).uniform(-1, 1, size=(n, 2))
    return X, np.column_stack([X[:, 0] * X[:, 1], X[:, 0] + np.sin(X[:, 1])])


def write_csv(path: Path, n: int = 300, seed: int = 0) -> Path:
    X, Y = two_targets(n, seed)
    rows = ["x0,x1,y1,y2"] + [",".join(repr(v) for v in row) for row in np.hstack([X, Y]).tolist()]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path



def same_law(expr: sympy.Expr, truth: str) -> bool:
    """``expr`` (constants possibly rounded) equals ``truth`` symbolically, or to 1e-6 on seeded points."""
    syms = {str(s): s for s in expr.free_symbols}
    want = sympy.sympify(truth, locals={k: sympy.Symbol(k) for k in ("x0", "x1")} | syms)
    rounded = expr.xreplace({c: sympy.Float(round(float(c), 8)) for c in expr.atoms(sympy.Float)})
    if sympy.simplify(sympy.nsimplify(rounded, rational=True) - want) == 0:
        return True
    args = sorted(want.free_symbols | expr.free_symbols, key=str)
    X = np.random.default_rng(1).uniform(-1, 1, size=(200, len(args)))
    f, g = sympy.lambdify(args, expr, "numpy"), sympy.lambdify(args, want, "numpy")
    return bool(np.allclose(f(*X.T) * np.ones(len(X)), g(*X.T) * np.ones(len(X)), atol=1e-6, rtol=1e-6))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A two-target run through the CLI: fit, then symbolify."""
    tmp = tmp_path_factory.mktemp("multi")
    data = write_csv(tmp / "two.csv")
    res = invoke("fit", data, "--target", "y1,y2", "--out", tmp / "runs", *TRAIN)
    assert res.exit_code == 0, res.output
    path = run_path(res.stdout)
    res = invoke("symbolify", path, *SYMBOLIC)
    assert res.exit_code == 0, res.output
    return path


# ------------------------------------------------------------------------------------------------- fit
def test_fit_trains_one_network_with_an_output_per_target(run: Path) -> None:
    meta = json.loads((run / "dataset.json").read_text())
    assert meta["target"] == ["y1", "y2"] and meta["inputs"] == ["x0", "x1"]
    assert len(meta["normalization"]["y"]["scale"]) == 2
    assert json.loads((run / "model.json").read_text())["width"][-1] == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_target"]) == {"y1", "y2"}
    for m in metrics["per_target"].values():
        assert m["test_r2"] > 0.99
    assert metrics["test_r2"] == pytest.approx(np.mean([m["test_r2"] for m in metrics["per_target"].values()]))


def test_output_subnet_is_exactly_one_output() -> None:
    model = KAN([3, [4, 1], 3], grid=5, seed=0)
    x = torch.rand(50, 3, dtype=torch.float64) * 2 - 1
    full = model(x)
    for j in range(3):
        sub = output_subnet(model, j)
        assert sub.width_spec()[-1] == 1 and sub.n_out == 1
        assert torch.allclose(sub(x)[:, 0], full[:, j], rtol=1e-13, atol=1e-15)  # same maths, one matmul column
    assert model.n_out == 3  # the original is untouched


# ------------------------------------------------------------------------------------------------- symbolify
def test_symbolify_writes_one_folder_per_target_and_finds_both_laws(run: Path) -> None:
    sym = run / "symbolic"
    index = json.loads((sym / "targets.json").read_text())
    assert [(t["name"], t["dir"]) for t in index["targets"]] == [("y1", "y1"), ("y2", "y2")]
    assert not (sym / "formula.json").exists()  # no flat one-target files beside the folders
    lines = (sym / "formulas.txt").read_text().splitlines()
    assert [line.split(" = ")[0] for line in lines] == ["y1", "y2"]
    from kansci.symbolic.exports import Formula

    for name in ("y1", "y2"):
        folder = sym / name
        assert SYMBOLIC_FILES <= {p.name for p in folder.iterdir()}
        doc = json.loads((folder / "formula.json").read_text())
        formula = Formula.from_json(doc)
        assert formula.target == name and doc["pareto"], doc
        assert same_law(formula.sympy(), TRUTH[name]), formula.text
        assert (folder / "formula.txt").read_text().startswith(f"{name} = ")
        assert json.loads((folder / "metrics.json").read_text())["formula_test_r2"] > 0.9999


def test_show_and_json_documents_list_every_target(run: Path) -> None:
    res = invoke("show", run)
    assert res.exit_code == 0, res.output
    assert "-> y1, y2" in res.stdout and "target y1:" in res.stdout
    assert re.search(r"^formula: y1 = ", res.stdout, re.M) and re.search(r"^formula: y2 = ", res.stdout, re.M)
    doc = json.loads(invoke("show", run, "--json").stdout)
    assert doc["formula"] is None and [t["name"] for t in doc["targets"]] == ["y1", "y2"]
    assert doc["data"]["target"] == ["y1", "y2"] and doc["targets"][0]["formula"]["target"] == "y1"


def test_symbolify_json_has_a_document_per_target(run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(run, tmp_path / run.name)  # symbolify again on a copy: the shared run stays as it is
    res = invoke("symbolify", run, "--json", "--set", "symbolic.time_limit_s=4")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["command"] == "symbolify" and doc["formula"] is None and doc["time_limit_s"] == 4
    assert [t["name"] for t in doc["targets"]] == ["y1", "y2"]
    for t in doc["targets"]:
        assert t["formula"]["target"] == t["name"] and t["dir"].endswith(t["name"])
        assert {Path(f).name for f in t["files"]} == SYMBOLIC_FILES
    assert doc["wall_s"] < 4 + 6  # the limit bounds both targets together (plus the last one's finishing work)


def test_time_limit_is_split_across_targets(run: Path, tmp_path: Path, monkeypatch) -> None:
    from kansci.pipeline import symbolify as stage

    run = shutil.copytree(run, tmp_path / run.name)
    limits: list[float | None] = []
    real = stage._symbolify

    def spy(out, cfg, *args, **kwargs):
        limits.append(cfg.symbolic.time_limit_s)
        return real(out, cfg, *args, **kwargs)

    monkeypatch.setattr(stage, "_symbolify", spy)
    cfg = load_config(run / "config.yaml", overrides=["symbolic.time_limit_s=6"])
    result = stage.symbolify_run(run, cfg)
    assert len(limits) == 2 and limits[0] == pytest.approx(3.0, abs=0.5) and 0 < limits[1] <= 6.0
    assert result.metrics["wall_s"] < 6 + 6 and result.metrics["time_limit_s"] == 6


# ------------------------------------------------------------------------------------------------- predict, plot
def test_predict_writes_one_column_per_target(run: Path, tmp_path: Path) -> None:
    X, Y = two_targets(40, seed=5)
    new = tmp_path / "new.csv"
    new.write_text("x1,x0\n" + "".join(f"{b!r},{a!r}\n" for a, b in X.tolist()), encoding="utf-8")
    out = tmp_path / "pred.csv"
    res = invoke("predict", run, new, "-o", out)
    assert res.exit_code == 0, res.output
    header, *rows = out.read_text().splitlines()
    assert header == "x0,x1,y1_pred,y2_pred"
    pred = np.array([[float(v) for v in r.split(",")] for r in rows])
    assert np.allclose(pred[:, 2:], Y, atol=1e-6)
    res = invoke("predict", run, write_csv(tmp_path / "scored.csv", 40, seed=6), "--model", "--json")
    doc = json.loads(res.stdout)
    assert doc["target"] == ["y1", "y2"] and doc["column"] == ["y1_pred", "y2_pred"]
    assert np.asarray(doc["predictions"]).shape == (40, 2)
    assert all(m["r2"] > 0.99 for m in doc["metrics"])


def test_plot_draws_the_whole_network_and_each_target(run: Path) -> None:
    res = invoke("plot", run, "--what", "network,loss,parity,pareto", "--format", "png")
    assert res.exit_code == 0, res.output
    written = {Path(p).relative_to(run / "figures").as_posix() for p in res.stdout.split()}
    assert written == {"network.png", "loss.png", "y1/network.png", "y1/parity.png", "y1/pareto.png",
                       "y2/network.png", "y2/parity.png", "y2/pareto.png"}


def test_load_run_gives_a_formula_per_target(run: Path) -> None:
    import kansci

    loaded = kansci.load_run(run)
    assert loaded.targets == ["y1", "y2"] and len(loaded.formula) == 2
    X, Y = two_targets(30, seed=9)
    assert loaded.predict(X).shape == (30, 2)
    assert np.allclose(np.column_stack([f(X) for f in loaded.formula]), Y, atol=1e-6)


# ------------------------------------------------------------------------------------------------- estimator
@pytest.mark.slow  # about 20 s: a full fit and symbolify through the estimator
def test_estimator_on_two_targets_follows_pysr() -> None:
    from kansci.api import KANRegressor

    X, Y = two_targets()
    reg = KANRegressor(width=[2, 5, 2], grids=[5, 10], steps=60, device="cpu", n_jobs=1,
                       config={"train.time_limit_s": None, "symbolic.time_limit_s": 10.0})
    reg.fit(X, Y)
    assert isinstance(reg.equations_, list) and len(reg.equations_) == 2
    exprs = reg.sympy()
    assert [same_law(e, TRUTH[f"y{j + 1}"]) for j, e in enumerate(exprs)] == [True, True], exprs
    assert [f.target for f in reg.formula_] == ["y0", "y1"]
    X_new, Y_new = two_targets(25, seed=3)
    assert reg.predict(X_new).shape == (25, 2)
    assert np.allclose(reg.predict(X_new), Y_new, atol=1e-6)
    assert len(reg.latex()) == 2 and len(reg.latex_table()) == 2
    assert reg.predict(X_new, index=reg.index_of("accuracy")).shape == (25, 2)
    with pytest.raises(TypeError, match="2 targets"):
        reg.predict(X_new, index=0)
    assert reg.score(X_new, Y_new) > 0.9999


def test_estimator_on_one_target_still_predicts_1d() -> None:
    from kansci.api import KANRegressor

    X, Y = two_targets(60)
    reg = KANRegressor(symbolify=False, steps=3, grids=[3], device="cpu", n_jobs=1,
                       config={"train.time_limit_s": None}).fit(X, Y[:, 1])
    assert reg.predict(X).shape == (60,) and not isinstance(reg.equations_, list)
    reg2 = KANRegressor(symbolify=False, steps=3, grids=[3], device="cpu", n_jobs=1,
                        config={"train.time_limit_s": None}).fit(X, Y)
    assert reg2.predict(X).shape == (60, 2) and len(reg2.equations_) == 2


# ------------------------------------------------------------------------------------------------- one target
def test_one_target_layout_is_unchanged(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "two.csv", 60)
    res = invoke("fit", data, "--target", "y2", "--inputs", "x0,x1", "--out", tmp_path / "runs", "--width", "2,1,1",
                 "--device", "cpu", "--set", "train.steps=3", "--set", "train.grids=[3]")
    assert res.exit_code == 0, res.output
    path = run_path(res.stdout)
    meta = json.loads((path / "dataset.json").read_text())
    assert meta["target"] == "y2" and "per_target" not in json.loads((path / "metrics.json").read_text())
    res = invoke("symbolify", path, "--set", "symbolic.time_limit_s=2")
    assert res.exit_code == 0, res.output
    assert {p.name for p in (path / "symbolic").iterdir()} == SYMBOLIC_FILES
    assert re.search(r"^formula: ", res.stdout, re.M)


# ------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("target, inputs, needle", [
    ("y1,zz", None, "no target column 'zz'"),
    ("y1,y1", None, "target column 'y1' is listed twice"),
    ("y1,y2", "x0,y2", "column 'y2' is the target and cannot also be an input"),
    ("y1,", None, "empty target name"),
])
def test_bad_target_lists_are_one_line_errors(tmp_path: Path, target: str, inputs: str | None, needle: str) -> None:
    data = write_csv(tmp_path / "two.csv", 20)
    with pytest.raises(DataError, match=re.escape(needle)):
        load_dataset(data, target=target, inputs=inputs)
    res = invoke("fit", data, "--target", target, *(["--inputs", inputs] if inputs else []), "--out",
                 tmp_path / "runs", "--set", "train.steps=1")
    assert res.exit_code == 2 and needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_yaml_config_takes_a_list_of_targets(tmp_path: Path) -> None:
    write_csv(tmp_path / "two.csv", 20)
    (tmp_path / "c.yaml").write_text("data:\n  path: two.csv\n  target: [y2, y1]\n", encoding="utf-8")
    from kansci.pipeline import load_data

    ds = load_data(load_config(tmp_path / "c.yaml"))
    assert ds.targets == ["y2", "y1"] and ds.y.shape == (20, 2) and ds.for_target(1).target_name == "y1"
    (tmp_path / "bad.yaml").write_text("data:\n  path: two.csv\n  target: [y1, y1]\n", encoding="utf-8")
    with pytest.raises(KansciError, match="data.target"):
        load_config(tmp_path / "bad.yaml")


def test_arrays_with_several_targets() -> None:
    X, Y = two_targets(30)
    ds = dataset_from_arrays(X, Y, target_name=["a", "b"])
    assert ds.targets == ["a", "b"] and ds.y_train.shape == (len(ds.train_idx), 2)
    assert dataset_from_arrays(X, Y).targets == ["y0", "y1"]
    with pytest.raises(DataError, match="listed twice"):
        dataset_from_arrays(X, Y, target_name=["a", "a"])
    with pytest.raises(DataError, match="2 columns"):
        dataset_from_arrays(X, Y, target_name=["a", "b", "c"])
    back = type(ds).from_json(json.loads(json.dumps(ds.to_json())), X, Y)
    assert back.targets == ["a", "b"] and np.array_equal(back.y_norm.scale, ds.y_norm.scale)


def test_a_run_with_several_targets_before_symbolify(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "two.csv", 60)
    res = invoke("fit", data, "--target", "y1,y2", "--out", tmp_path / "runs", "--width", "2,2", "--device", "cpu",
                 "--set", "train.steps=2", "--set", "train.grids=[3]")
    assert res.exit_code == 0, res.output
    path = run_path(res.stdout)
    doc = json.loads(invoke("show", path, "--json").stdout)
    assert doc["formula"] is None and [(t["name"], t["formula"]) for t in doc["targets"]] == [("y1", None),
                                                                                              ("y2", None)]
    res = invoke("predict", path, data)
    assert res.exit_code == 2 and "no formula yet" in res.stderr and "--model" in res.stderr
    assert invoke("predict", path, data, "--model").stdout.splitlines()[0] == "x0,x1,y1,y2,y1_pred,y2_pred"
    res = invoke("fit", data, "--target", "y1,y2", "--units", "x0=m,x1=m,y1=m,y2=m", "--out", tmp_path / "r2")
    assert res.exit_code == 2 and "one target" in res.stderr and not (tmp_path / "r2").exists()
