"""Row weights for a Buckingham-reduced problem with additive noise in y (kansci.units.noise_model): the variance
model Var(Φ) = a + b/P² is read off neighbour pairs of a first fit's residuals, applied only when the residuals look
like noise that grows as 1/P², and carried through fit and symbolify."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from kansci.cli import app
from kansci.pipeline.units_step import load_units
from kansci.pipeline.units_weights import weighted_rows
from kansci.units.noise_model import NoiseModel, fit_noise_model, resample_rows


def _problem(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.uniform(0.1, 0.7, (n, 2))
    P = np.exp(rng.uniform(0.0, np.log(50.0), n))  # the prefactor spans 50x, independent of the groups
    phi = 1.0 / np.sqrt(1.0 - Z[:, 0] ** 2) + Z[:, 1]
    return Z, P, phi


def test_additive_noise_in_y_is_found_and_weighted_as_one_over_its_variance() -> None:
    Z, P, _ = _problem()
    sigma = 0.05  # noise of y; y/P then has noise sigma/P
    r = np.random.default_rng(1).normal(0.0, sigma, P.shape[0]) / P
    model = fit_noise_model(Z, r, P)
    assert model.applied and model.t > 5
    assert abs(model.b / sigma**2 - 1.0) < 0.25  # b estimates sigma²
    assert model.a < 0.25 * model.b * float(np.mean(1 / P**2))  # the P-free part is small beside it
    w = model.weights(P)
    assert abs(float(np.mean(w)) - 1.0) < 1e-12
    expected = 1.0 / (model.a + model.b / P**2)
    np.testing.assert_allclose(w, expected / expected.mean(), rtol=1e-12)
    assert model.effective_rows(P) < 0.75 * P.shape[0]  # weights concentrate on the rows with a large prefactor


def test_a_smooth_fit_error_or_relative_noise_leaves_every_row_equal() -> None:
    Z, P, phi = _problem()
    smooth = 1e-3 * np.sin(5 * Z[:, 0]) * Z[:, 1] * (1.0 + 20.0 * (P < 5))  # the fit's error, larger where P is small
    smooth_model = fit_noise_model(Z, smooth + 1e-3 * np.cos(7 * Z[:, 1]), P)
    relative = np.random.default_rng(2).normal(0.0, 0.01, P.shape[0]) * phi  # noise proportional to Φ: P-free
    relative_model = fit_noise_model(Z, relative, P)
    for model in (smooth_model, relative_model):
        assert not model.applied, model
        np.testing.assert_array_equal(model.weights(P), np.ones(P.shape[0]))
    assert smooth_model.rho > 0.2 and abs(relative_model.rho) < 0.15


def test_systematic_resampling_reproduces_the_weights() -> None:
    rng = np.random.default_rng(3)
    rows = np.arange(10, 510)
    w = rng.uniform(0.0, 4.0, rows.shape[0])
    drawn = resample_rows(rows, w, seed=5)
    assert drawn.shape == rows.shape and np.all(np.diff(drawn) >= 0) and set(drawn) <= set(rows)
    counts = np.bincount(drawn - 10, minlength=rows.shape[0])
    expected = rows.shape[0] * w / w.sum()
    assert np.max(np.abs(counts - expected)) < 1.0 + 1e-9  # each row within one draw of its share
    np.testing.assert_array_equal(drawn, resample_rows(rows, w, seed=5))  # seeded


def test_a_model_that_is_not_applied_weighs_nothing() -> None:
    model = NoiseModel(a=1.0, b=2.0, t=1.0, pairs=10, applied=False)
    np.testing.assert_array_equal(model.weights(np.array([1.0, 10.0])), np.ones(2))
    assert "every row counts the same" in model.describe()


def test_a_noisy_relativistic_table_is_fitted_with_weighted_rows(tmp_path: Path) -> None:
    """E = m c²/√(1 − v²/c²) with noise of 1% of RMS(E) in E: E / (m c²) is far noisier where m c² is small, so the
    run records the noise model, saves the weights, and symbolify fits the rows drawn by them."""
    rng = np.random.default_rng(0)
    n = 1250
    m, v, c = rng.uniform(1, 5, n), rng.uniform(1, 2, n), rng.uniform(3, 10, n)
    E = m * c**2 / np.sqrt(1 - v**2 / c**2)
    E = E + rng.normal(0.0, 0.01 * float(np.sqrt(np.mean(E**2))), n)
    data = tmp_path / "energy.csv"
    np.savetxt(data, np.c_[m, v, c, E], delimiter=",", header="m,v,c,E", comments="")
    runs = tmp_path / "runs"
    args = ["--set", "train.time_limit_s=10", "--set", "symbolic.time_limit_s=10"]
    result = CliRunner().invoke(app, ["fit", str(data), "--units", "m=kg,v=m/s,c=m/s,E=J", "--out", str(runs),
                                      *args])
    assert result.exit_code == 0, result.stderr
    assert "noise of y/P grows as 1/P^2" in result.stderr
    run = next(runs.iterdir())
    record = json.loads((run / "units.json").read_text())["noise_model"]
    assert record["weighted"] and record["t"] > 3 and abs(record["neighbour_correlation"]) < 0.2
    units = load_units(run)
    assert units is not None and units.weights is not None and units.weights.shape == (n,)
    P = units.reduction.prefactor_values(units.original.X)
    order = np.argsort(P**2)
    assert np.all(np.diff(units.weights[order]) >= -1e-12)  # the weight grows with P²: y/P is cleaner there
    assert units.weights[order[-1]] > 3 * units.weights[order[0]]
    result = CliRunner().invoke(app, ["symbolify", str(run), *args[2:]])
    assert result.exit_code == 0, result.stderr
    assert "the search fits the rows as weighted" in result.stderr
    metrics = json.loads((run / "symbolic" / "metrics.json").read_text())
    assert metrics["formula_test_r2"] > 0.999  # in the original variables, on the (noisy) test rows of E


def test_weighted_rows_keep_the_test_rows(tmp_path: Path) -> None:
    from kansci.data import dataset_from_arrays

    X = np.linspace(1, 2, 40)[:, None]
    ds = dataset_from_arrays(X, X[:, 0] ** 2, input_names=["x"], test_frac=0.25, split_seed=0)
    w = np.where(np.arange(40) % 2 == 0, 3.0, 1.0)
    drawn = weighted_rows(ds, w, seed=0)
    np.testing.assert_array_equal(drawn.test_idx, ds.test_idx)
    assert set(drawn.train_idx) <= set(ds.train_idx) and len(drawn.train_idx) == len(ds.train_idx)
    heavy = np.isin(drawn.train_idx, np.flatnonzero(w == 3.0))
    assert heavy.mean() > 0.65  # rows of weight 3 take about three quarters of the draws
