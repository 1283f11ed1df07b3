"""The candidate table of KANRegressor (issue 14, item 2): ``equations_``, ``model_selection``, predicting with a
chosen candidate, the LaTeX and jax exports, and ``sample_weight`` in training and in selection."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import sympy
import torch

from kansci import rundir
from kansci.api import KANRegressor, load_run
from kansci.api import candidates as cand
from kansci.api.exports import array_function, jax_function
from kansci.api.weighted import fit_weighted, weighted_tensors
from kansci.config import load_config
from kansci.data import dataset_from_arrays
from kansci.pipeline import fit_run
from kansci.symbolic.exports import Formula
from kansci.train.loop import TrainData, mse, solve_linear

FAST = {"steps": 5, "grids": [3], "device": "cpu", "n_jobs": 1,
        "config": {"train.time_limit_s": None, "symbolic.time_limit_s": 2.0, "symbolic.simplify_timeout_s": 0.5}}


def data(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, 2 * X[:, 0] + np.sin(X[:, 1])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> KANRegressor:
    X, y = data()
    return KANRegressor(width=[2, 1], out_dir=str(tmp_path_factory.mktemp("runs")), **FAST).fit(X, y)


def test_the_table_spans_complexities_and_marks_the_selected_row(fitted: KANRegressor) -> None:
    table = fitted.equations_
    assert list(table.columns) == list(cand.COLUMNS)
    assert list(table["complexity"]) == sorted(table["complexity"]) and table["complexity"].iloc[0] == 1
    symbols = sorted(fitted.formula_.expr.free_symbols, key=str)
    assert any(e.is_polynomial(*symbols) and sympy.Poly(e, *symbols).total_degree() == 1  # a linear fit, stored or
               for e in table["sympy_format"])                                              # added by least squares
    assert table["complexity"].max() > table.loc[fitted.selected_index_, "complexity"]  # and beyond the formula
    assert list(table.index[table["selected"]]) == [fitted.selected_index_]
    assert table.loc[fitted.selected_index_, "sympy_format"] == fitted.formula_.expr == fitted.sympy()
    assert table.loc[fitted.selected_index_, "equation"] == fitted.formula_.text
    chosen = rundir.read_json(fitted.run_dir_ / "symbolic", "formula.json")
    assert fitted.formula_.text == chosen["text"]  # "best" without weights: symbolify's own choice
    assert load_run(fitted.run_dir_).formula.text == fitted.formula_.text
    assert table["pareto"].iloc[0] and table["score"].notna().all()
    X, y = data()
    row = table.iloc[1]
    assert math.isclose(row["train_loss"], np.mean((fitted.predict(X, index=1) - y)[fitted.dataset_.train_idx] ** 2))


def test_predict_sympy_latex_and_latex_table_by_index(fitted: KANRegressor) -> None:
    X, _ = data(20, seed=1)
    const = fitted.equations_["sympy_format"].iloc[0]
    assert np.allclose(fitted.predict(X, index=0), float(const))
    assert np.array_equal(fitted.predict(X), fitted.formula_(X))
    assert fitted.sympy(0) == const and fitted.latex(1, precision=2).count("x_{") >= 2
    text = fitted.latex_table()
    assert text.startswith(r"\begin{tabular}") and r"\toprule" in text and r"\bottomrule" in text
    assert text.count(r" \\") - 1 == int(fitted.equations_["pareto"].sum())  # header + one line per Pareto row
    assert "y = " in fitted.latex_table(indices=[0], precision=2)
    with pytest.raises(IndexError):
        fitted.predict(X, index=len(fitted.equations_))
    assert fitted.index_of("accuracy") == int(np.argmin([c.nmse for c in fitted._candidates]))


def test_jax_export_or_a_clear_import_error(fitted: KANRegressor) -> None:
    try:
        import jax  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install jax"):
            fitted.jax()
        return
    X, _ = data(10)
    assert np.allclose(np.asarray(fitted.jax()(X)), fitted.predict(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("text", ["x0 + 2*x1", "exp(-x0**2/2)/sqrt(2*pi)", "erf(x0)*Abs(x1) + 1.5",
                                  "atan2(x0, x1) + log(x0 + 2)", "sqrt(x0 + 1)**3 - cosh(x1)", "3.25"])
def test_the_array_backend_matches_the_numpy_evaluator(text: str) -> None:
    formula = Formula(sympy.sympify(text, locals={"x0": sympy.Symbol("x0"), "x1": sympy.Symbol("x1")}),
                      ["x0", "x1"])
    X = np.random.default_rng(0).uniform(-0.9, 0.9, size=(25, 2))
    assert np.allclose(array_function(formula, np, scipy.special)(X), formula(X), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        array_function(formula, np, scipy.special)(X[:, :1])
    if "jax" not in sys.modules:
        try:
            import jax  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match="jax is not installed"):
                jax_function(formula)


def _candidate(nmse: float, complexity: int, reference: bool = False) -> cand.Candidate:
    c = cand.Candidate(Formula(sympy.Integer(complexity), ["x"]), "test", reference=reference)
    c.nmse, c.complexity, c.score = nmse, complexity, cand.formula_score(nmse, complexity)
    return c


def test_the_selection_rules() -> None:
    cands = [_candidate(1.0, 1, reference=True), _candidate(1e-3, 5), _candidate(1e-4, 9), _candidate(1e-9, 30),
             _candidate(1e-12, 80, reference=True)]
    assert cand.select(cands, "accuracy") == 3  # the least-squares constant is a reference, not a candidate
    assert cand.select(cands, "best") == 3  # 1e-9 is clearly (over 100x) more accurate than the simpler ones
    assert cand.select(cands, "simplest") == 3  # nothing else is within 100x of it
    assert cand.select(cands, "simplest", noise_nmse=2e-3) == 1  # within the noise level, the simplest
    assert cand.select(cands, "best", noise_nmse=2e-3) == 3  # which still scores worse
    loose = [_candidate(1e-3, 5), _candidate(2e-5, 12), _candidate(1.5e-5, 20)]
    assert cand.select(loose, "simplest") == 0 and cand.select(loose, "best") == 1
    assert cand.select([cands[0], cands[4]], "accuracy") == 1  # without other candidates, references count
    noisy = [_candidate(1.0, 1, reference=True), _candidate(0.2, 8), _candidate(0.17, 30)]
    assert cand.select(noisy, "best") == 1 and cand.select(noisy, "simplest") == 1  # never the constant
    with pytest.raises(ValueError, match="model_selection"):
        cand.select(cands, "fastest")


def test_baselines_fill_in_a_constant_and_a_linear_fit_only_when_missing() -> None:
    X, y = data()
    ds = dataset_from_arrays(X, 3 * X[:, 0] - X[:, 1] + 0.5, split_seed=0)
    found = cand.gather(ds, None, "", None, None)
    assert [c.found_by for c in found] == ["least squares: constant", "least squares: linear",
                                           "least squares: quadratic"]
    assert found[1].train_loss < 1e-25 and found[0].complexity == 1
    weights = np.where(np.arange(len(y)) % 2 == 0, 1.0, 3.0)
    weighted = cand.gather(ds, None, "", None, weights)
    w = weights[ds.train_idx]
    assert math.isclose(float(weighted[0].formula.expr), np.sum(w * ds.y_train) / np.sum(w), rel_tol=1e-12)
    stored = {"pareto": [{"text": "3.0*x0 - x1 + 0.5", "snapped": True, "chosen": False, "found_by": "stored"},
                         {"text": "sin, x", "snapped": False, "chosen": False}]}
    found = cand.gather(ds, Formula(sympy.Float(1.0), ["x0", "x1"]), "chosen", stored, None)
    assert sorted(c.found_by for c in found) == ["chosen", "least squares: quadratic", "stored"]
    assert found[cand.select(found, "best")].found_by == "stored"  # exact, and simpler than the quadratic


def test_sample_weight_decides_the_selection() -> None:
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(80, 1))
    first = np.arange(80) < 40
    y = np.where(first, X[:, 0], -X[:, 0])
    ds = dataset_from_arrays(X, y, split_seed=0)
    rows = [{"text": t, "snapped": True, "chosen": False, "found_by": t} for t in ("x0", "-x0")]
    for weights, picked in ((first * 1.0, "x0"), ((~first) * 1.0, "-x0")):
        found = cand.gather(ds, None, "", {"pareto": rows}, weights)
        assert found[cand.select(found, "accuracy")].found_by == picked
        assert found[cand.select(found, "best")].found_by == picked
    table = cand.table(found, 0)
    assert table.loc[table["equation"] == "-x0", "train_loss"].item() == 0.0


def test_sample_weight_trains_the_network() -> None:
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(200, 1))
    keep = np.arange(200) % 2 == 0
    y = np.where(keep, X[:, 0] ** 2, -X[:, 0] ** 2)
    settings = {"steps": 20, "grids": [5], "width": [1, 1], "device": "cpu", "symbolify": False}
    weighted = KANRegressor(**settings).fit(X, y, sample_weight=keep * 1.0)
    plain = KANRegressor(**settings).fit(X, y)
    truth = X[:, 0] ** 2
    assert np.mean((weighted.predict(X) - truth) ** 2) < 1e-3 < np.mean((plain.predict(X) - truth) ** 2)
    assert weighted.metrics_["sample_weight"] is True and "sample_weight" not in plain.metrics_
    same = KANRegressor(**settings).fit(X, y, sample_weight=np.full(200, 2.5))
    assert np.array_equal(same.predict(X), plain.predict(X))  # equal weights: exactly the unweighted fit


def test_weights_follow_the_pipelines_own_rows(tmp_path: Path) -> None:
    X = np.stack([np.arange(50.0), np.cos(np.arange(50.0))], axis=1)
    ds = dataset_from_arrays(X, np.sin(X[:, 1]) + X[:, 0] / 50, split_seed=4)
    weights = 1.0 + np.arange(50.0)
    data = weighted_tensors(ds, 7, weights, torch.float64, torch.device("cpu"))
    for x, w in ((data.x_train, data.w_train), (data.x_val, data.w_val)):
        rows = np.rint(ds.x_norm.undo(x.numpy())[:, 0]).astype(int)  # column 0 holds the row number
        assert np.array_equal(w[:, 0].numpy(), weights[rows])
    cfg = load_config(None, flags={"model.width": [2, 1, 1], "model.device": "cpu", "train.steps": 3,
                                   "train.grids": [3], "output.dir": str(tmp_path), "seed": 7})
    by_pipeline = fit_run(cfg, dataset=ds).model.state_dict()
    by_weights = fit_weighted(cfg, ds, np.ones(50)).model.state_dict()
    for key, value in by_pipeline.items():  # the same training as the pipeline's fit: guards the two against drift
        assert torch.allclose(value, by_weights[key], rtol=1e-9, atol=1e-12), key


def test_weighted_loss_and_least_squares_in_the_training_loop() -> None:
    pred, y = torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([[1.0], [1.0], [1.0]])
    assert float(mse(pred, y)) == pytest.approx(10 / 3)
    assert float(mse(pred, y, torch.tensor([[0.0], [1.0], [1.0]]))) == pytest.approx(5.0)
    from kansci.core.model import KAN

    x = torch.linspace(-1, 1, 40, dtype=torch.float64)[:, None]
    half = (torch.arange(40) % 2 == 0)[:, None].double()
    target = torch.where(half > 0, torch.sin(3 * x), 5 + x)
    a, b = (KAN([1, 1], grid=5, k=3, seed=0, dtype=torch.float64) for _ in range(2))
    solve_linear(a, x, target, half)
    solve_linear(b, x[half[:, 0] > 0], target[half[:, 0] > 0])
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-8)
    with pytest.raises(AssertionError):
        TrainData(x, target, x, target, w_train=half[:10])


def test_without_symbolify_the_table_holds_the_baselines_and_predict_uses_the_network() -> None:
    X, y = data()
    reg = KANRegressor(symbolify=False, **FAST).fit(X, y)
    assert reg.formula_ is None and set(reg.equations_["found_by"]) == {
        "least squares: constant", "least squares: linear", "least squares: quadratic"}
    assert reg.selected_index_ is None and not reg.equations_["selected"].any()
    assert np.array_equal(reg.predict(X), reg.predict(X, index=None))
    assert not np.array_equal(reg.predict(X), reg.predict(X, index=1))
    with pytest.raises(ValueError, match="symbolify=False"):
        reg.sympy()


def test_without_pandas_the_table_is_a_list_of_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    rows = cand.table([_candidate(1e-3, 5), _candidate(1e-6, 9)], 1)
    assert isinstance(rows, list) and rows[1]["selected"] and list(rows[0]) == list(cand.COLUMNS)
