"""Tests for kansci.pipeline.figures: a real (tiny) run directory -> figures, checked against the run's own files
and numpy."""
from __future__ import annotations

import copy
import csv
import io
import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kansci import rundir
from kansci.config import load_config
from kansci.core.model import KAN
from kansci.data.synthetic import make_dataset, write_csv
from kansci.errors import ConfigError, KansciError, RunDirError
from kansci.pipeline import figures as F
from kansci.pipeline import fit_run, load_run_data
from kansci.pipeline.direct_fit import raw_formula
from kansci.symbolic import primitives
from kansci.symbolic.exports import Formula, make_symbols

pytestmark = pytest.mark.filterwarnings("error")

NAMES = ["alpha", "speed", "mass_2", "delta"]
SIN = (1.5, 0.2, 0.8, -0.1)  # a, b, c, d of the layer-0 symbolic edges
LIN = (1.0, 0.05, 0.9, 0.01)  # a, b, c, d of the layer-1 symbolic edges
PRUNED = (0, 1, 2)  # edge masked in the symbolic model


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A [4, 5, 1] run trained 3 steps at G=3 and 3 at G=5 (so history has a grid extension)."""
    tmp = tmp_path_factory.mktemp("fig")
    data = make_dataset("sin(pi*alpha) + speed**2 + mass_2*delta", {n: (-1, 1) for n in NAMES}, 160, seed=0,
                        target="energy")
    write_csv(tmp / "d.csv", data.names, data.X, data.y, data.target)
    cfg = load_config(None, flags={"data.path": str(tmp / "d.csv"), "output.dir": str(tmp / "runs"),
                                   "model.width": [4, 5, 1], "train.steps": 3, "train.grids": [3, 5]})
    return fit_run(cfg).run


@pytest.fixture(scope="module")
def numeric_figs(run: Path) -> dict:
    return F.build_figures(run, max_points=100)


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("figures"))
    return dest


@pytest.fixture()
def sym_case(run: Path, tmp_path: Path) -> tuple[Path, KAN]:
    """A copy of ``run`` with a hand-made ``symbolic/`` dir following the symbolify contract: edge PRUNED masked and
    the layer-0 splines changed (as symbolify's prune + refit does), then every active edge of layer 0 made
    ``c*sin(a*x+b)+d``, of layer 1 ``c*(a*x+b)+d``. Also returns the numeric network before that last step."""
    path = copy_run(run, tmp_path / "sym")
    model = rundir.load_model(path)
    lib = primitives.default_library()
    model.layers[0].mask[PRUNED[1], PRUNED[2]] = 0
    with torch.no_grad():
        model.layers[0].coef.mul_(1.7)
    splines = copy.deepcopy(model)
    edges = []
    for l, i, j in model.active_edges():
        name, params = ("sin", SIN) if l == 0 else ("x", LIN)
        model.layers[l].set_symbolic(i, j, lib[name], list(params))
        edges.append({"layer": l, "i": i, "j": j, "primitive": name, "params": list(params),
                      "r2": 0.9 - 0.01 * (i + j), "label": f"{name}#{l}{i}{j}"})
    with warnings.catch_warnings():  # core/layer.py symbolic_spec calls float() on a grad tensor (reported)
        warnings.filterwarnings("ignore", "Converting a tensor with requires_grad=True", UserWarning)
        rundir.save_model(path / "symbolic", model)
    pareto = [{"complexity": 3, "loss": 0.5, "text": "0.5*alpha", "chosen": False},
              {"complexity": 8, "loss": 0.02, "text": "sin(3*alpha) + speed**2", "chosen": True},
              {"complexity": 15, "loss": 0.019, "text": "long", "chosen": False}]
    ds = load_run_data(path)  # the formula is the symbolic model's, in the run's variables (as symbolify writes it)
    formula = Formula(raw_formula(model, ds, make_symbols(ds.input_names, ds.X)), list(ds.input_names),
                      ds.target_name)
    rundir.write_json(path / "symbolic" / "formula.json", {**formula.to_json(), "metrics": {}, "edges": edges,
                                                           "pareto": pareto})
    return path, splines


@pytest.fixture()
def sym_run(sym_case: tuple[Path, KAN]) -> Path:
    return sym_case[0]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    w, h = img.size
    assert 300 <= w <= 6000 and 200 <= h <= 6000, img.size
    assert np.asarray(img.convert("L"), dtype=float).var() > 5.0


# ------------------------------------------------------------------------------------------------ validation
def test_choices_are_validated_canonical_and_deduplicated() -> None:
    assert F.check_what(["loss", "network,loss", " Parity "]) == ["network", "loss", "parity"]
    assert F.check_formats("svg,PNG,.pdf") == ["png", "svg", "pdf"]
    with pytest.raises(ConfigError) as info:
        F.check_what(["network", "histogram"])
    assert "histogram" in info.value.message and "pareto" in str(info.value)
    with pytest.raises(ConfigError, match="jpg"):
        F.check_formats(["jpg"])
    with pytest.raises(ConfigError):
        F.check_what([",", ""])


def test_bad_choices_fail_before_the_run_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="bogus"):
        F.plot_run(missing, what=["bogus"], out=tmp_path / "o")
    with pytest.raises(ConfigError, match="gif"):
        F.plot_run(missing, formats=["gif"], out=tmp_path / "o")
    with pytest.raises(ConfigError, match="dpi"):
        F.plot_run(missing, dpi=10, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_missing_run_dir_is_a_run_dir_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(RunDirError) as info:
        F.plot_run(tmp_path / "absent", out=tmp_path / "o")
    assert info.value.exit_code == 2 and isinstance(info.value, KansciError)
    assert "absent" in info.value.message
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("damage", ["model.pt", "history.csv", "dataset.json", "formula.json"])
def test_corrupt_run_is_a_run_dir_error_and_writes_nothing(run: Path, tmp_path: Path, damage: str,
                                                           request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue("sym_run") if damage == "formula.json" else copy_run(run, tmp_path / "bad")
    target = path / "symbolic" / damage if damage == "formula.json" else path / damage
    target.write_bytes(b"step,train_loss\n1,abc\n" if damage == "history.csv" else b"\x00garbage{")
    with pytest.raises(RunDirError) as info:
        F.plot_run(path)
    assert damage in info.value.message and info.value.exit_code == 2
    assert not (path / "figures").exists()


# ------------------------------------------------------------------------------------------------ numeric runs
def test_all_figures_written_as_valid_png(run: Path, tmp_path: Path) -> None:
    logs: list[str] = []
    t0 = time.perf_counter()
    paths = F.plot_run(run, out=tmp_path / "figs", log=logs.append)
    elapsed = time.perf_counter() - t0
    print(f"\n[kansci.pipeline.figures] all figures of a [4, 5, 1] run as PNG: {elapsed:.2f} s")
    assert [p.name for p in paths] == ["network.png", "edges.png", "loss.png", "parity.png"]
    assert all(p.parent == tmp_path / "figs" for p in paths)
    for p in paths:
        assert_png(p)
    assert sorted(q.name for q in (tmp_path / "figs").iterdir()) == sorted(p.name for p in paths)  # no temp files
    assert any(m.startswith("skipped pareto:") and "kansci symbolify" in m for m in logs)


def test_default_output_folder_and_all_formats(run: Path, tmp_path: Path) -> None:
    path = copy_run(run, tmp_path / "r")
    paths = F.plot_run(path, what="parity,loss", formats=["pdf", "svg", "png"], dpi=60)
    assert [p.relative_to(path).as_posix() for p in paths] == [
        "figures/loss.png", "figures/loss.svg", "figures/loss.pdf",
        "figures/parity.png", "figures/parity.svg", "figures/parity.pdf"]
    assert paths[1].read_bytes().lstrip().startswith(b"<?xml") and paths[2].read_bytes()[:5] == b"%PDF-"


def test_vector_output_is_deterministic(run: Path, tmp_path: Path) -> None:
    kinds = ["network", "parity"]
    a = F.plot_run(run, what=kinds, formats=["svg", "pdf"], out=tmp_path / "a", max_points=60)
    b = F.plot_run(run, what=kinds, formats=["svg", "pdf"], out=tmp_path / "b", max_points=60)
    assert len(a) == 4
    for pa, pb in zip(a, b):
        assert pa.name == pb.name and pa.read_bytes() == pb.read_bytes(), pa.name


def test_network_has_one_inset_per_active_edge_and_names(run: Path, numeric_figs: dict) -> None:
    model = rundir.load_model(run)
    fig = numeric_figs["network"]
    assert len(fig.axes) == 1 + len(model.active_edges()) == 1 + 25
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert set(NAMES) <= texts and "energy" in texts
    assert len(numeric_figs["edges"].axes) == 25


def test_pruned_edges_and_dead_inputs_are_hidden(run: Path, tmp_path: Path) -> None:
    path = copy_run(run, tmp_path / "pruned")
    model = rundir.load_model(path)
    model.layers[0].mask[3, :] = 0  # input "delta" pruned
    model.layers[1].mask[2, 0] = 0  # hidden node 2 has no way out
    rundir.save_model(path, model)
    view = F.network_view(F.load_contents(path), max_points=50)
    keys = {(e.layer, e.i, e.j) for e in view.edges}
    assert len(keys) == 25 - 5 - 1 and not any(k[:2] == (0, 3) for k in keys) and (1, 2, 0) not in keys
    assert view.node_active[0].tolist() == [True, True, True, False]
    assert view.node_active[1].tolist() == [True, True, False, True, True]
    assert len(F.build_figures(path, ["network"], max_points=50)["network"].axes) == 1 + len(keys)


def test_edge_curves_come_from_training_rows_and_sum_to_the_output(run: Path) -> None:
    c = F.load_contents(run)
    ds = load_run_data(run)
    view = F.network_view(c, max_points=50, seed=3)
    rows = F.sample_rows(len(ds.train_idx), 50, 3)
    assert len(rows) == len(set(rows.tolist())) == 50 and np.all(np.diff(rows) > 0)
    train_x, test_x = ds.X_train_norm, ds.X_test_norm
    for e in view.edges:
        assert e.x.shape == e.y.shape == (50,) and e.symbolic is None and e.fit_y is None
        if e.layer == 0:  # inputs are normalized TRAINING values of that column, in subsample order
            np.testing.assert_array_equal(e.x, train_x[rows, e.i])
            assert not np.isin(e.x, np.setdiff1d(test_x[:, e.i], train_x[:, e.i])).any()
    out = sum(e.y for e in view.edges if e.layer == 1)  # the output node sums its incoming edges
    with torch.no_grad():
        ref = c.model(torch.as_tensor(train_x[rows], dtype=c.model.dtype))[:, 0].numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    scores = np.array([e.score for e in view.edges])
    assert scores.max() == pytest.approx(1.0) and scores.min() >= 0.0
    again = F.network_view(c, max_points=50, seed=3)
    assert all(np.array_equal(a.x, b.x) for a, b in zip(view.edges, again.edges))


def test_loss_figure_matches_history_and_marks_grid_extension(run: Path, numeric_figs: dict) -> None:
    with (run / "history.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    events = json.loads((run / "events.json").read_text())
    ext = [e["step"] for e in events if e["event"] == "grid" and e["step"] > 0]
    assert ext == [3]  # G 3 -> 5 after the first 3 steps
    ax = numeric_figs["loss"].axes[0]
    train, val = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(train.get_ydata(), [float(r["train_loss"]) for r in rows])
    np.testing.assert_allclose(val.get_ydata(), [float(r["val_loss"]) for r in rows])
    vlines = [tuple(ln.get_xdata()) for ln in ax.lines[2:]]
    assert vlines == [(3, 3)] and ax.get_yscale() == "log"
    assert "grid G=5" in [t.get_text() for t in ax.texts]


def test_parity_uses_test_rows_without_formula(run: Path, numeric_figs: dict) -> None:
    ds = load_run_data(run)
    ax = numeric_figs["parity"].axes[0]
    assert len(ax.collections) == 1  # the KAN only
    xy = ax.collections[0].get_offsets()
    np.testing.assert_array_equal(xy[:, 0], ds.y_test)
    metrics = json.loads((run / "metrics.json").read_text())
    pred = np.asarray(xy[:, 1])
    r2 = 1 - np.sum((ds.y_test - pred) ** 2) / np.sum((ds.y_test - ds.y_test.mean()) ** 2)
    assert r2 == pytest.approx(metrics["test_r2"], rel=1e-9)
    assert "pareto" not in numeric_figs


# ------------------------------------------------------------------------------------------------ symbolic runs
def test_symbolic_overlays(sym_case: tuple[Path, KAN]) -> None:
    sym_run, splines = sym_case
    logs: list[str] = []
    figs = F.build_figures(sym_run, max_points=80, log=logs.append)
    # a hand-made symbolic/ without structure.json: every figure but the decomposition tree, which is reported
    assert list(figs) == [k for k in F.ALL if k != "structure"]
    assert len(logs) == 1 and logs[0].startswith("skipped structure")
    c = F.load_contents(sym_run)
    view = F.network_view(c, max_points=80)
    assert len(view.edges) == 24 and PRUNED not in {(e.layer, e.i, e.j) for e in view.edges}
    assert max(e.score for e in view.edges) == pytest.approx(1.0)  # normalized over the drawn edges
    # curves are the splines the primitives were fitted to (symbolic/model.pt), not the older ones in model.json
    x = torch.as_tensor(c.dataset.X_train_norm[F.sample_rows(len(c.dataset.train_idx), 80, 0)])
    out = sum(e.y for e in view.edges if e.layer == 1)
    with torch.no_grad():
        np.testing.assert_allclose(out, splines(x)[:, 0].numpy(), rtol=1e-10, atol=1e-12)
        assert not np.allclose(out, c.model(x)[:, 0].numpy(), atol=1e-3)
    for e in view.edges:  # fit_y = c*f(a*x+b)+d at the spline's own x, from an independent numpy formula
        a, b, cc, d = SIN if e.layer == 0 else LIN
        ref = cc * (np.sin(a * e.x + b) if e.layer == 0 else a * e.x + b) + d
        np.testing.assert_allclose(e.fit_y, ref, rtol=1e-12, atol=1e-12)
        assert e.symbolic == ("sin" if e.layer == 0 else "x") and e.fit_label == f"{e.symbolic}#{e.layer}{e.i}{e.j}"
        assert e.r2 == pytest.approx(0.9 - 0.01 * (e.i + e.j))
    net = figs["network"]
    assert len(net.axes) == 1 + 24
    text = json.loads((sym_run / "symbolic" / "formula.json").read_text())["text"]
    title = net.axes[0].texts[-1].get_text()
    assert title.startswith("energy = ") and text.startswith(title[len("energy = "):].rstrip("…"))
    assert sum("sin" in t.get_text() for ax in net.axes[1:] for t in ax.texts) == 19
    titles = [ax.get_title() for ax in figs["edges"].axes]
    assert len(titles) == 24 and "R²=0.90000" in titles[0] and all(len(ax.lines) == 2 for ax in figs["edges"].axes)


def test_symbolic_parity_matches_numpy_formula(sym_run: Path) -> None:
    ds = load_run_data(sym_run)
    spec = json.loads((sym_run / "symbolic" / "formula.json").read_text())
    xn = ds.x_norm.apply(ds.X_test)  # (n, 4)
    hidden = np.zeros((len(xn), 5))
    out = np.zeros(len(xn))
    for e in spec["edges"]:
        a, b, c, d = e["params"]
        if e["layer"] == 0:
            hidden[:, e["j"]] += c * np.sin(a * xn[:, e["i"]] + b) + d
    for e in spec["edges"]:
        a, b, c, d = e["params"]
        if e["layer"] == 1:
            out += c * (a * hidden[:, e["i"]] + b) + d
    ref = ds.y_norm.undo(out[:, None])[:, 0]
    ax = F.build_figures(sym_run, ["parity"])["parity"].axes[0]
    kan, formula = ax.collections
    np.testing.assert_allclose(formula.get_offsets()[:, 1], ref, rtol=1e-10, atol=1e-10)
    r2 = 1 - np.sum((ds.y_test - ref) ** 2) / np.sum((ds.y_test - ds.y_test.mean()) ** 2)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("KAN") and legend[1] == f"formula (R²={r2:.5f})"


def test_pareto_highlights_chosen_formula(sym_run: Path, tmp_path: Path) -> None:
    fig = F.build_figures(sym_run, ["pareto"])["pareto"]
    ax = fig.axes[0]
    star = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(star, [[8.0, 0.02]])
    assert len(ax.collections[0].get_offsets()) == 3
    paths = F.plot_run(sym_run, what=["pareto"], out=tmp_path / "p")
    assert_png(paths[0])


def test_pareto_with_two_chosen_is_corrupt(sym_run: Path) -> None:
    spec = json.loads((sym_run / "symbolic" / "formula.json").read_text())
    for row in spec["pareto"]:
        row["chosen"] = True
    rundir.write_json(sym_run / "symbolic" / "formula.json", spec)
    with pytest.raises(RunDirError, match="chosen"):
        F.build_figures(sym_run, ["pareto"])


def test_structure_figure_draws_the_chosen_decomposition(sym_run: Path) -> None:
    """structure.json's chosen candidate becomes a tree: one box per split and per leaf, leaves carry formulas."""
    tree = {"kind": "product", "transform": "y", "statistic": 1e-3, "parts": [
        {"kind": "leaf", "expr": "2.0*alpha", "variables": ["alpha"]},
        {"kind": "sum", "transform": "y", "statistic": 2e-3, "variables": ["speed", "beta"], "parts": [
            {"kind": "power law", "expr": "speed**2", "variables": ["speed"]},
            {"kind": "leaf", "expr": "sin(beta)", "transform": "1/y", "variables": ["beta"]}]}]}
    chosen = json.loads((sym_run / "symbolic" / "formula.json").read_text())["text"]
    rundir.write_json(sym_run / "symbolic" / "structure.json",
                      {"chosen": {"formula": chosen}, "candidates": [{"formula": "other", "tree": {"kind": "leaf"}},
                                                                     {"formula": chosen, "tree": tree}]})
    fig = F.build_figures(sym_run, ["structure"])["structure"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 1 + 5  # the title and five nodes
    assert any("multiplicative" in t and "1.0e-03" in t for t in texts)
    assert any("additive" in t and "(speed, beta)" in t for t in texts)
    assert any("sin(beta)" in t and "leaf search on 1/y" in t for t in texts)
    assert any("speed**2" in t and "power law" in t for t in texts)
    assert texts[0].startswith(load_run_data(sym_run).target_name + " = ")
