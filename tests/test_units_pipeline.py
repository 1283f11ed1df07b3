"""Units in the pipeline (issue 13): declared units reduce the problem to dimensionless groups before training,
symbolify restores the formula in the original variables and checks its units, and bad declarations exit 2 with
one line and leave no run behind."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kansci.cli import app
from kansci.config import load_config
from kansci.pipeline import fit_run, symbolify_run
from kansci.pipeline.units_step import load_units

FAST = ["--steps", "20", "--set", "train.time_limit_s=10", "--set", "symbolic.time_limit_s=10"]
UNITS_CSV = ("Variable,Units,m,s,kg\nG,Gravitational constant,3,-2,-1\nm1,Mass,0,0,1\nm2,Mass,0,0,1\n"
             "r,Distance,1,0,0\nF,Force,1,-2,1\n")


def gravity(folder: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    G, m1, m2, r = (rng.uniform(lo, hi, n) for lo, hi in ((1, 2), (1, 5), (1, 5), (1, 3)))
    path = folder / "grav.csv"
    np.savetxt(path, np.c_[G, m1, m2, r, G * m1 * m2 / r**2], delimiter=",", header="G,m1,m2,r,F", comments="")
    return path


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def test_gravity_is_found_on_the_groups_and_restored(tmp_path: Path) -> None:
    data = gravity(tmp_path)
    (tmp_path / "units.csv").write_text(UNITS_CSV)
    runs = tmp_path / "runs"
    code, _, err = invoke(["fit", str(data), "--units", str(tmp_path / "units.csv"), "--out", str(runs), *FAST])
    assert code == 0, err
    assert "units: F = G*m2**2/r**2 · Φ(pi1 = m1/m2)" in err
    run = next(runs.iterdir())
    record = json.loads((run / "units.json").read_text())
    assert record["reduction"]["reduced"] and record["reduction"]["groups"][0]["expr"] == "m1/m2"
    assert json.loads((run / "dataset.json").read_text())["inputs"] == ["pi1"]  # the network sees the group
    code, out, err = invoke(["symbolify", str(run), *FAST[2:]])
    assert code == 0, err
    assert "formula: G*m1*m2/r**2" in out
    assert "units: consistent (kg·m/s²)" in out  # a units file names no unit, only exponents
    doc = json.loads((run / "symbolic" / "formula.json").read_text())
    assert doc["units"]["consistent"] and doc["metrics"]["units"]["status"] == "consistent"
    assert doc["metrics"]["formula_test_rmse"] < 1e-8  # scored on the original data
    assert json.loads((run / "symbolic" / "structure.json").read_text())["units"]["reduction"]["reduced"]
    code, out, err = invoke(["predict", str(run), str(data)])  # the formula takes the table's own columns
    assert code == 0, err
    assert out.splitlines()[0].split(",")[-1] == "F_pred"
    code, _, err = invoke(["predict", str(run), str(data), "--model"])  # the network takes groups: refused
    assert code == 2 and "dimensionless groups" in err


def test_unbalanced_units_fall_back_with_one_line(tmp_path: Path) -> None:
    data = gravity(tmp_path)
    cfg = load_config(None, flags={"data.path": str(data), "data.inputs": ["m1", "m2", "r"], "data.target": "F",
                                   "data.units": "m1=kg,m2=kg,r=m,F=N", "model.width": [3, 1],
                                   "train.steps": 10, "train.grids": [3], "output.dir": str(tmp_path / "runs"),
                                   "symbolic.time_limit_s": 5.0})
    lines: list[str] = []
    fitted = fit_run(cfg, log=lines.append)
    assert [line for line in lines if line.startswith("units:")] == [
        "units: the target's dimension kg·m/s² cannot be formed from the inputs; a dimensional constant (such as one "
        "with dimension 1/s²) may be missing"]
    assert fitted.dataset.input_names == ["m1", "m2", "r"]  # no reduction
    units = load_units(fitted.run)
    assert units is not None and units.reduction is None
    result = symbolify_run(fitted.run, cfg)
    assert result.metrics["units"]["status"] in ("consistent", "inconsistent")
    assert result.metrics["units"]["reduction"] is None


def test_inline_units_and_bad_declarations(tmp_path: Path) -> None:
    data = gravity(tmp_path, n=120)
    runs = tmp_path / "runs"
    code, _, err = invoke(["fit", str(data), "--units", "G=m^3/kg/s^2,m1=kg,m2=kg,r=m,F=N", "--out", str(runs),
                           "--width", "1,1", *FAST])
    assert code == 0, err
    assert "Φ(pi1 = m1/m2)" in err
    bad = tmp_path / "bad.csv"
    bad.write_text(UNITS_CSV + "q,Charge,0,0,0\n")
    for units, expected in ((str(bad), "line 7: units for 'q', which is not a column"),
                            ("G=m^3/kg/s^2,m1=kgg,m2=kg,r=m,F=N", "unknown unit 'kgg'"),
                            ("m1=kg,m2=kg,r=m,F=N", "no units declared for column(s) 'G'")):
        code, _, err = invoke(["fit", str(data), "--units", units, "--out", str(tmp_path / "none"), *FAST])
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "none").exists()


def test_config_units_mapping(tmp_path: Path) -> None:
    data = gravity(tmp_path, n=120)
    (tmp_path / "units.csv").write_text(UNITS_CSV)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(f"data:\n  path: {data.name}\n  units_file: units.csv\n")  # relative to the config file
    cfg = load_config(cfg_path)
    from kansci.pipeline.common import load_data
    from kansci.pipeline.units_step import plan_units

    lines: list[str] = []
    plan = plan_units(cfg, load_data(cfg), lines.append)
    assert plan is not None and plan.reduction is not None and plan.train.input_names == ["pi1"]
    assert lines == ["units: F = G*m2**2/r**2 · Φ(pi1 = m1/m2)"]
    cfg_path.write_text(f"data:\n  path: {data.name}\n  units: {{G: {{m: 3, s: -2, kg: -1}}, m1: kg, m2: kg, r: m, "
                        "F: N}\n")
    plan = plan_units(load_config(cfg_path), load_data(load_config(cfg_path)), lines.append)
    assert plan is not None and plan.reduction is not None


def test_no_units_means_no_units_file(tmp_path: Path) -> None:
    data = gravity(tmp_path, n=80)
    cfg = load_config(None, flags={"data.path": str(data), "model.width": [4, 1], "train.steps": 5,
                                   "train.grids": [3], "output.dir": str(tmp_path / "runs")})
    fitted = fit_run(cfg)
    assert fitted.units is None and not (fitted.run / "units.json").exists()


def test_estimator_fit_with_units() -> None:
    from kansci.api import KANRegressor

    rng = np.random.default_rng(0)
    G, m1, m2, r = (rng.uniform(lo, hi, 200) for lo, hi in ((1, 2), (1, 5), (1, 5), (1, 3)))
    X, y = np.c_[G, m1, m2, r], G * m1 * m2 / r**2
    reg = KANRegressor(steps=10, grids=[3], device="cpu", config={"symbolic.time_limit_s": 5.0,
                                                                  "train.time_limit_s": 5.0})
    reg.fit(X, y, feature_names=["G", "m1", "m2", "r"], target_name="F",
            X_units=[{"m": 3, "s": -2, "kg": -1}, "kg", "kg", "m"], y_units="N")
    assert str(reg.formula_) == "G*m1*m2/r**2"
    assert reg.units_["message"] == "units: F = G*m2**2/r**2 · Φ(pi1 = m1/m2)"
    assert reg.symbolic_metrics_["units"]["message"] == "units: consistent (N)"
    assert np.allclose(reg.predict(X), y)
    net = KANRegressor(steps=10, grids=[3], device="cpu", symbolify=False)
    net.fit(X, y, X_units=[{"m": 3, "s": -2, "kg": -1}, "kg", "kg", "m"], y_units="N")
    assert np.allclose(net.predict(X), y, rtol=1e-3)  # the network maps the groups, times the prefactor
    with pytest.raises(ValueError, match="one unit per column"):
        KANRegressor().fit(X, y, X_units=["kg"], y_units="N")


def test_bench_with_units_states_the_mode(tmp_path: Path) -> None:
    from kansci.bench.feynman import run_feynman_bench

    summary = run_feynman_bench(ids=["I.12.1"], units=True, budget_s=20.0, n_train=100, n_test=50, workers=1,
                                out=tmp_path / "bench")
    text = (tmp_path / "bench" / "summary.md").read_text()
    assert "Units: declared from the packaged Feynman units table" in text
    assert "| AI Feynman | 55.8% | published | no |" in text and "| GP-GOMEA | 26.8% | published | no |" in text
    assert "measured here | yes |" in text
    run = Path(summary.rows[0]["run_dir"])
    assert json.loads((run / "units.json").read_text())["reduction"]["prefactor"] == "Nn"
    with pytest.raises(Exception, match="--equations"):
        run_feynman_bench(ids=["I.12.1"], units=True, equations=tmp_path / "eqs.csv", out=tmp_path / "b2")


def test_the_bundled_coulomb_example_runs_as_the_readme_shows(tmp_path: Path) -> None:
    """README "Units, end to end": datasets/coulomb.csv with datasets/coulomb_units.csv."""
    root = Path(__file__).resolve().parents[1]
    data, units = root / "datasets" / "coulomb.csv", root / "datasets" / "coulomb_units.csv"
    runs = tmp_path / "runs"
    code, _, err = invoke(["fit", str(data), "--units", str(units), "--out", str(runs)])
    assert code == 0, err
    assert "units: F = q2**2/(epsilon*r**2) · Φ(pi1 = q1/q2)" in err
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "units: F = q2**2/(epsilon*r**2) · Φ(pi1 = q1/q2)" in readme
    code, out, err = invoke(["symbolify", str(next(runs.iterdir()))])
    assert code == 0, err
    for line in ("formula: q1*q2/(4*pi*epsilon*r**2)", "units: consistent (kg·m/s²)"):
        assert line in out and line in readme
