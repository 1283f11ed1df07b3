"""KANRegressor as a scikit-learn estimator (issue 14, item 1): scikit-learn's own estimator checks with a fast
configuration, the tools users combine it with (cross_val_score, GridSearchCV over a config key, Pipeline, clone),
the errors a user meets, and that a fit leaves no file behind unless asked to.

The check suite runs with ``symbolify=False`` (a few training steps, no time limit, so that two fits with one seed
agree, as several checks demand); the checks that need a fitted estimator's answers run again with ``symbolify`` on.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.base import clone, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import estimator_checks as checks  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from kansci.api import KANRegressor, KANSymbolicRegressor  # noqa: E402
from kansci.errors import ConfigError, DataError  # noqa: E402

FAST = {"steps": 3, "grids": [3], "device": "cpu", "n_jobs": 1, "config": {"train.time_limit_s": None}}
FAST_SYMBOLIC = {**FAST, "config": {"train.time_limit_s": None, "symbolic.time_limit_s": 1.0,
                                    "symbolic.simplify_timeout_s": 0.5}}

#: Checks that cannot apply to this estimator, with the reason (scikit-learn's ``expected_failed_checks``).
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a weight of k is not the same as k copies of a row here: kansci splits the rows into train, validation and "
        "test parts (and screens architectures on the validation part), so repeated rows change every split"),
}


def data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, 2 * X[:, 0] + np.sin(X[:, 1])


@parametrize_with_checks([KANRegressor(symbolify=False, **FAST)],
                         expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator: KANRegressor, check) -> None:
    check(estimator)


@pytest.mark.parametrize("check", [checks.check_regressors_train, checks.check_estimators_pickle,
                                   checks.check_n_features_in_after_fitting, checks.check_methods_subset_invariance,
                                   checks.check_dataframe_column_names_consistency],
                         ids=lambda c: c.__name__)
def test_checks_that_read_a_fitted_formula(check) -> None:
    check("KANRegressor", KANRegressor(**FAST_SYMBOLIC))


def test_it_is_a_regressor_with_a_readable_repr_and_an_alias() -> None:
    import kansci

    reg = KANRegressor(steps=3, train__lr=0.5)
    assert is_regressor(reg) and KANSymbolicRegressor is KANRegressor is kansci.KANSymbolicRegressor
    assert repr(reg) == "KANRegressor(config={'train.lr': 0.5}, steps=3)"
    assert reg.get_params()["config"] == {"train.lr": 0.5}


def test_cross_val_score_pipeline_and_clone() -> None:
    X, y = data()
    scores = cross_val_score(KANRegressor(**FAST_SYMBOLIC), X, y, cv=KFold(2, shuffle=True, random_state=0))
    assert scores.shape == (2,) and np.all(scores > 0.9)
    pipe = make_pipeline(StandardScaler(), KANRegressor(symbolify=False, **FAST))
    pipe.set_params(kanregressor__train__lr=0.5)
    assert pipe[-1].config == {"train.time_limit_s": None, "train.lr": 0.5}
    assert pipe.fit(X, y).score(X, y) > 0.9
    reg = KANRegressor(symbolify=False, model__k=2, **FAST)
    twin = clone(reg)
    assert twin.get_params() == reg.get_params() and twin.config is not reg.config
    assert np.array_equal(twin.fit(X, y).predict(X), clone(reg).fit(X, y).predict(X))


def test_grid_search_over_a_config_key() -> None:
    X, y = data()
    search = GridSearchCV(KANRegressor(symbolify=False, **FAST), {"train__steps": [1, 4]}, cv=2).fit(X, y)
    assert search.best_params_["train__steps"] in (1, 4)
    assert search.best_estimator_.get_params()["config"]["train.steps"] == search.best_params_["train__steps"]
    by_dict = GridSearchCV(KANRegressor(symbolify=False, **FAST),
                           {"config": [{"model.k": 2}, {"model.k": 3}]}, cv=2).fit(X, y)
    assert by_dict.best_params_["config"]["model.k"] in (2, 3)


def test_config_keys_are_checked_when_fit_runs_with_a_did_you_mean() -> None:
    X, y = data()
    reg = KANRegressor(symbolify=False, random_sate=3, **FAST)  # a typo is no error yet (scikit-learn's rule)
    with pytest.raises(ConfigError, match="random_sate") as err:
        reg.fit(X, y)
    assert isinstance(err.value, ValueError) and "random_state" in str(err.value)
    with pytest.raises(ValueError, match="train.stepz"):
        KANRegressor(symbolify=False, config={"train.stepz": 3}).fit(X, y)
    with pytest.raises(ValueError, match="model_selection"):
        KANRegressor(model_selection="fastest", **FAST).fit(X, y)


def test_user_errors_are_value_errors_and_predicting_early_is_not_fitted() -> None:
    X, y = data()
    reg = KANRegressor(symbolify=False, **FAST)
    for call in (lambda: reg.predict(X), lambda: reg.sympy(), lambda: reg.latex_table()):
        with pytest.raises(NotFittedError):
            call()
    assert issubclass(DataError, ValueError)
    bad = X.copy()
    bad[3, 1] = np.nan
    for X_bad, y_bad in ((bad, y), (X[:, 0], y), (X, y[:-1]), (X[:4], y[:4])):
        with pytest.raises(ValueError):
            reg.fit(X_bad, y_bad)
    reg.fit(X, y)
    with pytest.raises(ValueError, match="3 features"):  # a ValueError, not an assert that python -O removes
        reg.predict(np.hstack([X, X[:, :1]]))
    for weights in (np.ones(len(y) - 1), -np.ones(len(y)), np.zeros(len(y))):
        with pytest.raises(ValueError, match="weight"):
            reg.fit(X, y, sample_weight=weights)


def test_feature_names_only_from_string_columns_and_they_name_the_formula() -> None:
    X, y = data()
    reg = KANRegressor(**FAST_SYMBOLIC).fit(pd.DataFrame(X, columns=["u", "v"]), y)
    assert list(reg.feature_names_in_) == ["u", "v"] and reg.n_features_in_ == 2
    assert {s.name for s in reg.sympy().free_symbols} <= {"u", "v"}
    reg.fit(X, y)
    assert not hasattr(reg, "feature_names_in_") and reg.formula_.input_names == ["x0", "x1"]


def test_no_file_is_left_behind_unless_an_out_dir_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = data()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    KANRegressor(**FAST_SYMBOLIC).fit(X, y)
    with pytest.raises(ValueError):
        KANRegressor(config={"train.steps": -1}).fit(X, y)  # an invalid config
    with pytest.raises(ValueError):
        KANRegressor(**FAST).fit(X, np.ones(len(y)))  # fit raises inside the pipeline (a constant target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"] and not any(scratch.iterdir())
    reg = KANRegressor(out_dir=str(tmp_path / "runs"), **FAST_SYMBOLIC).fit(X, y)
    assert reg.run_dir_.parent == tmp_path / "runs" and (reg.run_dir_ / "symbolic" / "formula.json").is_file()


def test_random_state_and_n_jobs_the_scikit_learn_way() -> None:
    X, y = data()
    a = KANRegressor(symbolify=False, random_state=3, **FAST).fit(X, y)
    b = KANRegressor(symbolify=False, random_state=np.random.RandomState(0), **FAST).fit(X, y)
    assert a.metrics_["seed"] == 3 and b.metrics_["seed"] == np.random.RandomState(0).randint(0, 2**31 - 1)
    threads = torch.get_num_threads()
    reg = KANRegressor(symbolify=False, **{**FAST, "n_jobs": -1}).fit(X, y)
    reg.predict(X)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="n_jobs"):
        KANRegressor(symbolify=False, **{**FAST, "n_jobs": 0}).fit(X, y)


def test_a_fitted_estimator_pickles_with_its_candidates() -> None:
    X, y = data()
    reg = KANRegressor(**FAST_SYMBOLIC).fit(X, y)
    back = pickle.loads(pickle.dumps(reg))
    assert np.array_equal(back.predict(X, index=1), reg.predict(X, index=1))
    assert back.sympy() == reg.sympy()


def test_without_scikit_learn_the_estimator_still_works() -> None:
    """scikit-learn is optional: with it hidden, the module imports and the estimator keeps its basics."""
    code = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None  # import sklearn now raises ImportError
        import numpy as np
        from kansci.api import KANRegressor, NotFittedError
        from kansci.api.compat import SKLEARN
        assert not SKLEARN
        rng = np.random.default_rng(0)
        X = rng.uniform(-1, 1, (40, 2)); y = X[:, 0] - X[:, 1]
        reg = KANRegressor(symbolify=False, steps=2, grids=[3], device="cpu", train__lr=0.5)
        assert repr(reg) == "KANRegressor(config={'train.lr': 0.5}, device='cpu', grids=[3], steps=2, symbolify=False)"
        assert reg.set_params(steps=3, model__k=2).get_params()["config"] == {"train.lr": 0.5, "model.k": 2}
        try:
            reg.predict(X)
        except NotFittedError as exc:
            assert isinstance(exc, ValueError) and isinstance(exc, AttributeError)
        for bad in (X[:, 0], np.where(X > 0.9, np.nan, X)):
            try:
                reg.fit(bad, y)
                raise SystemExit("accepted bad X")
            except ValueError:
                pass
        assert reg.fit(X, y).score(X, y) > 0.9 and reg.n_features_in_ == 2
        try:
            reg.predict(X[:, :1])
            raise SystemExit("accepted 1 feature")
        except ValueError as exc:
            assert "1 features" in str(exc)
        print("ok", type(reg.equations_).__name__)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ok", "DataFrame"]
