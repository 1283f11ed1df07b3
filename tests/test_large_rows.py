"""Large data: row caps for screening and the symbolic stages, the automatic batch size, metrics on every row, and a
moderately large fit (caps monkeypatched down) that still recovers a simple law exactly."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kansci.config import load_config
from kansci.data import dataset_from_arrays
from kansci.pipeline import candidates, common, direct_fit
from kansci.train import loop, rows, search
from kansci.train.loop import TrainData


def _data(n: int, d: int = 2, seed: int = 0) -> TrainData:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1
    y = (x[:, :1] * 2 + torch.sin(x[:, 1:2]))
    n_val = n // 4
    return TrainData(x[n_val:], y[n_val:], x[:n_val], y[:n_val])


def test_batch_rule() -> None:
    assert rows.batch_rows(None, rows.FULL_BATCH_ROWS) is None
    assert rows.batch_rows(None, rows.FULL_BATCH_ROWS + 1) == rows.AUTO_BATCH_ROWS
    assert rows.batch_rows(64, 1000) == 64 and rows.batch_rows(5000, 1000) is None
    idx = rows.seeded_rows(1000, 100, 3)
    assert idx is not None and len(idx) == 100 and np.array_equal(idx, np.sort(idx))
    assert np.array_equal(idx, rows.seeded_rows(1000, 100, 3)) and rows.seeded_rows(100, 100, 3) is None


def _cfg(**over: Any) -> Any:
    base = dict(optimizer="lbfgs", steps=3, grids=[3, 5], lr=None, lamb=0.0, lamb_l1=1.0, lamb_entropy=2.0,
                lamb_coef=0.0, update_grid=True, grid_update_every=1, stop_grid_update_step=50, batch_size=None,
                patience=0, min_delta=1e-3, log_every=1)
    return type("Cfg", (), {**base, **over})()


def test_automatic_batch_picks_minibatches_above_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    from kansci.core.model import KAN

    monkeypatch.setattr(rows, "FULL_BATCH_ROWS", 300)
    monkeypatch.setattr(rows, "AUTO_BATCH_ROWS", 64)
    monkeypatch.setattr(loop, "VAL_ROWS", 50)
    monkeypatch.setattr(loop, "GRID_ROWS", 80)
    seen: list[int] = []
    regrid_seen: list[int] = []
    real_forward, real_regrid = KAN.forward, KAN.regrid
    monkeypatch.setattr(KAN, "forward", lambda self, x: (seen.append(x.shape[0]), real_forward(self, x))[1])
    monkeypatch.setattr(KAN, "regrid", lambda self, x, G=None: (regrid_seen.append(x.shape[0]),
                                                                 real_regrid(self, x, G))[1])
    for n, batch in ((420, 64), (280, 210)):  # 420 rows: 315 fit rows, minibatches; 280: 210, full batch
        seen.clear()
        regrid_seen.clear()
        data = _data(n)
        model = KAN([2, 1], grid=3, seed=0, dtype=torch.float64)
        loop.train_stage(model, data, _cfg(), steps=3, phase="t", generator=torch.Generator().manual_seed(0))
        assert batch in seen and max(seen) == batch, (n, sorted(set(seen)))  # training batch and validation rows
        assert set(seen) <= {batch, min(50, data.x_val.shape[0])}
        assert regrid_seen and max(regrid_seen) <= 80
    assert not loop.can_detect_convergence(_cfg(patience=5), 301)
    assert loop.can_detect_convergence(_cfg(patience=5), 300)


def test_screening_is_capped_and_the_chosen_rung_trains_on_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from kansci.core.model import KAN

    monkeypatch.setattr(rows, "SCREEN_ROWS", 200)
    calls: list[tuple[int, int]] = []
    real_fit = search.fit

    def recording_fit(model: KAN, data: TrainData, cfg: Any, **kw: Any) -> Any:
        calls.append((data.x_train.shape[0], data.x_val.shape[0]))
        return real_fit(model, data, cfg, **kw)

    monkeypatch.setattr(search, "fit", recording_fit)
    data = _data(1200)
    cfg = _cfg(grids=[3, 5, 7], steps=2, grid_update_every=20)
    model, _, table = search.search_architecture(
        lambda w, arity, s: KAN(w, grid=3, mult_arity=arity, seed=s, dtype=torch.float64), data, cfg, restarts=0)
    assert table and calls[-1] == (900, 300)  # the rest of the schedule: every fit and validation row
    assert all(c == (200, 200) for c in calls[:-1])  # every screen: the capped subsample


def test_symbolic_stages_are_capped_and_scored_on_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_fit, "SYMBOLIC_ROWS", 100)
    small = direct_fit.symbolic_rows(_data(1000), 0)
    assert small.x_train.shape[0] == 100 and small.x_val.shape[0] == 100
    data = _data(120)
    assert direct_fit.symbolic_rows(data, 0) is data

    import sympy

    monkeypatch.setattr(candidates, "FIT_ROWS", 300)
    monkeypatch.setattr(candidates, "CHUNK", 128)
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (2000, 2))
    y = 3.0 * X[:, 0] + X[:, 1] + np.where(np.arange(2000) % 2 == 0, 0.01, -0.01)
    ds = dataset_from_arrays(X, y, split_seed=0)
    polished: list[int] = []
    real_polish = candidates.polish
    monkeypatch.setattr(candidates, "polish", lambda e, s, Xf, yf, **kw: (polished.append(len(yf)),
                                                                          real_polish(e, s, Xf, yf, **kw))[1])
    cfg = load_config(None, flags={"seed": 0})
    x0, x1 = sympy.symbols("x0 x1")
    out = candidates.finish(2.9 * x0 + 1.1 * x1, ds, [x0, x1], cfg)
    assert polished and set(polished) == {300}
    f = out["formula"]
    full = float(np.mean((f(ds.X_train) - ds.y_train) ** 2) / np.var(ds.y_train))
    assert out["nmse"] == pytest.approx(full, rel=1e-9)  # the score's NMSE is over all 1600 training rows


def test_predict_in_chunks_matches_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from kansci.core.model import KAN

    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (1000, 2))
    ds = dataset_from_arrays(X, X[:, 0] * X[:, 1] + 1.0)
    model = KAN([2, 3, 1], grid=3, seed=0, dtype=torch.float64)
    whole = common.predict(model, ds, X)
    monkeypatch.setattr(common, "PREDICT_CHUNK", 77)
    assert np.allclose(common.predict(model, ds, X), whole, rtol=0, atol=1e-12)


def test_large_fit_recovers_a_simple_law(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kansci.pipeline import fit_run, symbolify_run

    monkeypatch.setattr(rows, "FULL_BATCH_ROWS", 5_000)
    monkeypatch.setattr(rows, "AUTO_BATCH_ROWS", 4_000)
    monkeypatch.setattr(rows, "SCREEN_ROWS", 3_000)
    monkeypatch.setattr(loop, "VAL_ROWS", 5_000)
    monkeypatch.setattr(loop, "GRID_ROWS", 5_000)
    monkeypatch.setattr(direct_fit, "SYMBOLIC_ROWS", 3_000)
    monkeypatch.setattr(candidates, "FIT_ROWS", 3_000)
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, (60_000, 3))
    ds = dataset_from_arrays(X, 2.0 * X[:, 0] * X[:, 1] + X[:, 2], split_seed=0)
    cfg = load_config(None, flags={"model.device": "cpu", "output.dir": str(tmp_path), "seed": 0,
                                   "train.steps": 20, "train.time_limit_s": 12})
    res = fit_run(cfg, dataset=ds)
    assert res.metrics["test_r2"] > 0.999
    sym = symbolify_run(res.run, load_config(res.run / "config.yaml", overrides=["symbolic.time_limit_s=12"]))
    assert sympy_equal(sym.formula.sympy(), "2*x0*x1 + x2"), sym.formula.text


def sympy_equal(expr: Any, text: str) -> bool:
    import sympy

    return sympy.simplify(expr - sympy.sympify(text, locals={str(s): s for s in expr.free_symbols})) == 0


def test_training_tensors_are_the_normalized_rows_without_full_copies() -> None:
    from kansci.pipeline.common import train_tensors

    X = np.random.default_rng(0).uniform(0.3, 7, (500, 3))
    ds = dataset_from_arrays(X, X[:, 0] * X[:, 1] + 1e3)
    data = train_tensors(ds, 3, torch.float64, torch.device("cpu"))
    n = len(ds.train_idx)
    perm = np.random.default_rng(4).permutation(n)
    n_val = int(round(0.2 * n))
    val, fit = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    assert np.array_equal(data.x_train.numpy(), ds.X_train_norm[fit])
    assert np.array_equal(data.y_val.numpy()[:, 0], ds.y_train_norm[val])


def test_reading_progress_is_shown_for_large_files(capsys: pytest.CaptureFixture[str]) -> None:
    from kansci.cli.run import _ReadProgress

    show = _ReadProgress(load_config(None, flags={"data.path": "big.csv"}))
    for done in range(0, 10_000_001, 1_000_000):
        show(done, 10_000_000)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 11 and lines[0].startswith("reading big.csv: 0%") and "100% (10 of 10 MB)" in lines[-1]
    _ReadProgress(load_config(None))(10, 100)  # a small file: nothing
    assert capsys.readouterr().err == ""


def test_load_data_reports_progress(tmp_path: Path) -> None:
    from kansci.pipeline import load_data

    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 7},{2 * i + 1}\n" for i in range(50)))
    calls: list[tuple[int, int]] = []
    ds = load_data(load_config(None, flags={"data.path": str(path)}), progress=lambda d, t: calls.append((d, t)))
    assert ds.n_rows == 50 and calls and 0 < calls[-1][0] <= calls[-1][1] <= path.stat().st_size
