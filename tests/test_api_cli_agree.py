"""The Python API and the command line are two doors to one pipeline: the same seed and data give the same split,
the same weights and the same saved config values; and the lazy public names of ``kansci`` stay functions."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kansci import cli
from kansci.api import KANRegressor
from kansci.rundir import store

SETTINGS = {"model.width": [2, 1, 1], "model.device": "cpu", "train.steps": 3, "train.grids": [3]}


def table(n: int = 80, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, np.sin(X[:, 0]) + X[:, 1] ** 2


def cli_run(tmp_path: Path, X: np.ndarray, y: np.ndarray, seed: int) -> Path:
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,y\n" + "".join(f"{p!r},{q!r},{t!r}\n" for (p, q), t in zip(X.tolist(), y.tolist())))
    sets = [arg for k, v in SETTINGS.items() for arg in ("--set", f"{k}={json.dumps(v)}")]
    done = CliRunner().invoke(cli.app, ["fit", str(csv), "--seed", str(seed), "--out", str(tmp_path / "cli"), *sets])
    assert done.exit_code == 0, done.output
    return Path(re.search(r"^run: (.+)$", done.stdout, re.M).group(1))


def api_run(tmp_path: Path, X: np.ndarray, y: np.ndarray, seed: int) -> Path:
    options = {k.replace(".", "__"): v for k, v in SETTINGS.items()}
    reg = KANRegressor(random_state=seed, symbolify=False, out_dir=str(tmp_path / "api"), **options)
    reg.fit(X, y, feature_names=["a", "b"], target_name="y")
    return reg.run_dir_


def test_the_old_seed_keyword_still_works_with_a_deprecation_warning(tmp_path: Path) -> None:
    X, y = table()
    options = {k.replace(".", "__"): v for k, v in SETTINGS.items()}
    with pytest.warns(DeprecationWarning, match="random_state"):
        old = KANRegressor(seed=5, symbolify=False, out_dir=str(tmp_path / "old"), **options)
    assert old.random_state == 5 and "seed" not in old.get_params()
    old.fit(X, y, feature_names=["a", "b"], target_name="y")
    new = api_run(tmp_path, X, y, 5)
    assert store.read_json(old.run_dir_, "dataset.json")["split"] == store.read_json(new, "dataset.json")["split"]


@pytest.mark.parametrize("seed", [0, 5])
def test_api_and_cli_give_the_same_split_and_model(tmp_path: Path, seed: int) -> None:
    X, y = table()
    by_cli, by_api = cli_run(tmp_path, X, y, seed), api_run(tmp_path, X, y, seed)
    split_cli = store.read_json(by_cli, "dataset.json")
    split_api = store.read_json(by_api, "dataset.json")
    assert split_cli["split"] == split_api["split"]
    assert split_cli["normalization"] == split_api["normalization"]
    w_cli = store.load_tensors(by_cli / "model.pt")
    w_api = store.load_tensors(by_api / "model.pt")
    assert w_cli.keys() == w_api.keys()
    for k in w_cli:
        assert torch.equal(w_cli[k], w_api[k]), k


def test_different_seeds_give_different_splits(tmp_path: Path) -> None:
    X, y = table()
    a = store.read_json(api_run(tmp_path / "0", X, y, 0), "dataset.json")["split"]["test"]
    b = store.read_json(api_run(tmp_path / "1", X, y, 1), "dataset.json")["split"]["test"]
    assert a != b


def test_public_functions_stay_functions_after_their_modules_load() -> None:
    """``kansci.symbolify`` once was both a lazy function and a submodule: after the submodule loaded, the second
    call got the module. Now every public name resolves to the same object however often it is asked for."""
    import kansci.pipeline.symbolify  # noqa: F401 (loading the stage module must not shadow the public name)

    first, second = kansci.symbolify, kansci.symbolify
    assert callable(first) and first is second and first.__name__ == "symbolify_run"
    assert kansci.fit.__name__ == "fit_run" and callable(kansci.fit)
    with pytest.raises(AttributeError):
        kansci.not_a_public_name  # noqa: B018 (the attribute access is the test)
