"""`kansci bench speed`: the quick benchmark runs end to end and reports sane numbers. Timings are never asserted."""
import json
import math

import numpy as np
import pytest
import torch

from kansci.bench.speed import memory, pairs, pipeline_row, run


@pytest.fixture(scope="module")
def quick_report():
    lines: list[str] = []
    threads = torch.get_num_threads()
    report = run.run_speed_bench(quick=True, repeats=2, threads=1, log=lines.append)
    assert torch.get_num_threads() == threads  # the thread setting is restored
    assert lines, "progress lines go to the log callback"
    return report


def test_quick_bench_has_every_row_with_positive_numbers(quick_report):
    rows = quick_report.rows
    assert [r["row"] for r in rows] == ["a", "b", "c"] + ["d"] * 6
    for r in rows:
        assert r["kan"] > 0 and math.isfinite(r["kan"]), r
        if r["reference"] is not None:
            assert r["reference"] > 0
            assert math.isfinite(r["ratio"]) and r["ratio"] == pytest.approx(r["kan"] / r["reference"])
    for r in rows:  # timing rows always have their MLP; memory too
        if r["row"] in "abd":
            assert r["reference"] is not None
    assert rows[2]["reference"] is None and "quick" in rows[2]["note"]  # PyKAN is skipped in quick mode
    assert isinstance(rows[2]["formula"], str) and "x" in rows[2]["formula"]


def test_timing_rows_keep_every_sample_and_report_the_median(quick_report):
    for r in quick_report.rows:
        if r["row"] in "ad":
            assert len(r["kan_samples"]) == len(r["reference_samples"]) == quick_report.repeats
            assert r["kan"] == pytest.approx(float(np.median(r["kan_samples"])))
            assert r["reference"] == pytest.approx(float(np.median(r["reference_samples"])))


@pytest.mark.parametrize("width", [8, 16, 32, 64])
def test_mlp_parameter_count_matches_kan_within_one_percent(width):
    kan = pairs.make_kan(width, torch.device("cpu"))
    # Trained KAN parameters counted by hand: coef (in, G+k, out) + w_base + w_spline per layer, two layers.
    by_hand = 2 * (width * (5 + 3) * width + 2 * width * width)
    assert pairs.kan_trained_params(width) == by_hand
    assert sum(p.numel() for n, p in kan.named_parameters() if "sym" not in n) == by_hand
    mlp = pairs.make_mlp(width, torch.device("cpu"))
    n_mlp = sum(p.numel() for p in mlp.parameters())
    h = mlp[0].out_features
    assert n_mlp == 2 * width * h + h + width
    assert abs(n_mlp - by_hand) / by_hand < 0.01


def test_rows_report_the_parameter_counts_they_timed(quick_report):
    for r in quick_report.rows:
        if r["row"] in "ad":
            assert abs(r["reference_params"] - r["kan_params"]) / r["kan_params"] < 0.01


def test_json_is_valid_and_carries_rows_and_machine(quick_report):
    doc = json.loads(quick_report.to_json())
    assert len(doc["rows"]) == len(quick_report.rows)
    assert doc["machine"]["threads"] == 1 and doc["machine"]["torch"] == torch.__version__
    assert doc["machine"]["spline_basis"] == "numba"  # CPU float32: the compiled kernel
    assert doc["rows"][0]["kan"] == pytest.approx(quick_report.rows[0]["kan"])


def test_table_has_one_line_per_row_and_names_the_machine(quick_report):
    text = quick_report.table()
    assert "1 thread" in text and torch.__version__ in text and "spline basis: numba" in text
    body = [ln for ln in text.splitlines() if ln[:2] in ("a ", "b ", "c ", "d ")]
    assert len(body) == len(quick_report.rows)
    assert "PyKAN skipped in quick mode" in text


def test_train_step_changes_parameters_and_lowers_the_loss():
    model, x, y = pairs.make_pair_side("kan", 256, 8, torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = torch.mean((model(x) - y) ** 2).item()
    coef = model.layers[0].coef.detach().clone()
    for _ in range(5):
        pairs.train_step(model, opt, x, y)
    assert not torch.equal(coef, model.layers[0].coef)
    assert torch.mean((model(x) - y) ** 2).item() < before


@pytest.mark.slow  # starts a fresh interpreter (about 2 s)
def test_fresh_process_memory_probe_sees_the_mlp_activations():
    """Independent lower bound: one MLP step holds its hidden pre-activation and activation (batch, h) float32."""
    batch, width = 16384, 32
    h = pairs.mlp_hidden_for(pairs.kan_trained_params(width), width)
    got = memory.peak_step_memory("mlp", batch, width, "cpu", threads=1)
    assert got["method"] == memory.CPU_METHOD
    assert got["bytes"] >= 0.9 * 2 * batch * h * 4
    assert got["bytes"] < 50 * batch * h * 4  # and not absurd


def test_in_process_memory_probe_is_not_hidden_by_an_earlier_measurement():
    """The KAN step runs first and frees its memory; the MLP step after it must still show its own activations."""
    threads = torch.get_num_threads()
    batch, width = 4096, 32
    h = pairs.mlp_hidden_for(pairs.kan_trained_params(width), width)
    kan = memory.peak_step_memory("kan", batch, width, "cpu", threads=1, fresh=False)
    mlp = memory.peak_step_memory("mlp", batch, width, "cpu", threads=1, fresh=False)
    assert mlp["method"] == memory.CPU_METHOD_IN_PROCESS
    assert mlp["bytes"] >= 0.9 * 2 * batch * h * 4
    # The KAN step holds at least its two dense bases (batch, 32 * (G + k)) float32 for the matmul backward.
    assert kan["bytes"] >= 0.9 * 2 * batch * 32 * 8 * 4
    assert torch.get_num_threads() == threads


def test_cuda_request_without_a_gpu_is_a_user_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from kansci.errors import KansciError

    with pytest.raises(KansciError, match="cuda"):
        run.run_speed_bench(device="cuda", quick=True)


def test_pipeline_row_without_pykan_says_how_to_install_it(monkeypatch):
    import importlib.util

    calls = []
    monkeypatch.setattr(pipeline_row, "run_kansci_pipeline", lambda X, y, workdir, quick, device: (calls.append(X.shape)
                                                                                           or (1.5, "exp(x)")))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kan" else object())
    row = pipeline_row.row_pipeline(torch.device("cpu"), 1, quick=False, log=lambda _: None)
    assert calls == [(1000, 2)]  # the full row uses 1000 samples of the two inputs
    assert row["reference"] is None and row["ratio"] is None
    assert row["note"] == "PyKAN not installed (pip install 'kansci[bench]')"
    assert row["kan"] == 1.5 and row["formula"] == "exp(x)"


def test_pipeline_row_reports_medians_of_both_sides_and_pykan_seed_failures(monkeypatch):
    import importlib.util

    ours = iter([2.0, 1.0, 3.0])
    monkeypatch.setattr(pipeline_row, "run_kansci_pipeline", lambda *a: (next(ours), "exp(x)"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    theirs = iter([RuntimeError("lstsq"), 30.0, 20.0, 25.0])  # the first attempt fails, as PyKAN's seed 0 can

    def fake_pykan(X, y, workdir, device, seed):
        v = next(theirs)
        if isinstance(v, Exception):
            raise v
        return v, "exp(sin(3.1416*x))"

    monkeypatch.setattr(pipeline_row, "run_pykan_pipeline", fake_pykan)
    row = pipeline_row.row_pipeline(torch.device("cpu"), 3, quick=False, log=lambda _: None)
    assert row["kan_samples"] == [2.0, 1.0, 3.0] and row["kan"] == 2.0
    assert row["reference_samples"] == [30.0, 20.0, 25.0] and row["reference"] == 25.0
    assert row["ratio"] == pytest.approx(2.0 / 25.0)
    assert "seed per run: 1, 0, 0" in row["note"] and "seed 0: RuntimeError: lstsq" in row["note"]
