"""CLI consistency: shell completion, ``--out`` meaning the runs folder (plot's figures folder is ``--figures``, the
old ``--out`` a deprecated alias), an ETA on ``bench feynman`` progress lines and phase lines with times on
``symbolify``, all on stderr."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kansci import cli

TINY = ["--width", "2,1,1", "--device", "cpu", "--set", "train.steps=3", "--set", "train.grids=[3]"]


def invoke(*args: str | Path):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("progress")
    X = np.random.default_rng(0).uniform(-1, 1, size=(60, 2))
    data = tmp / "xy.csv"
    data.write_text("x,y,f\n" + "".join(f"{a!r},{b!r},{a + b * b!r}\n" for a, b in X.tolist()), encoding="utf-8")
    res = invoke("fit", data, "--out", tmp / "runs", *TINY)
    assert res.exit_code == 0, res.output
    return Path(re.search(r"^run: (.+)$", res.stdout, re.M).group(1))


# ------------------------------------------------------------------------------------------------- completion
def test_shell_completion_is_on():
    res = invoke("--help")
    assert res.exit_code == 0 and "--install-completion" in res.stdout and "--show-completion" in res.stdout


# ------------------------------------------------------------------------------------------------- --out
def _fake_figures(monkeypatch, calls: list) -> None:
    module = types.ModuleType("kansci.pipeline.figures")

    def plot_run(run, *, what, formats, dpi, out, log):
        calls.append(out)
        return [(out or run / "figures") / f"{w}.{f}" for w in what for f in formats]

    module.plot_run = plot_run
    monkeypatch.setitem(sys.modules, "kansci.pipeline.figures", module)


def test_plot_figures_option_and_deprecated_out(fitted, tmp_path, monkeypatch):
    calls: list = []
    _fake_figures(monkeypatch, calls)
    new = invoke("plot", fitted, "--what", "loss", "--format", "png", "--figures", tmp_path / "f")
    assert new.exit_code == 0, new.output
    assert new.stdout.split() == [str(tmp_path / "f" / "loss.png")] and "deprecated" not in new.stderr
    old = invoke("plot", fitted, "--what", "loss", "--format", "png", "--out", tmp_path / "f")
    assert old.exit_code == 0, old.output
    assert old.stdout == new.stdout and calls == [tmp_path / "f", tmp_path / "f"]
    warning, = old.stderr.splitlines()
    assert warning.startswith("warning: `kansci plot --out` is deprecated") and f"--figures {tmp_path / 'f'}" in warning
    both = invoke("plot", fitted, "--out", tmp_path / "a", "--figures", tmp_path / "b")
    assert both.exit_code == 2 and len(calls) == 2


@pytest.mark.parametrize("command", ["fit", "show", "symbolify", "run", "predict"])
def test_out_is_the_runs_folder_everywhere_else(command):
    res = invoke(command, "--help")
    assert res.exit_code == 0
    out_help = re.search(r"--out\s+<path>\s+(.*)", res.stdout)
    assert out_help and ("run" in out_help.group(1) or "latest" in out_help.group(1)), res.stdout


# ------------------------------------------------------------------------------------------------- progress
def fast_task(task, mark) -> dict:
    mark("pipeline_done", {"wall_s": 0.01})
    return {"strict": True, "robust": True, "accuracy": True, "formula": "x", "formula_test_r2": 1.0}


def test_bench_feynman_progress_lines_carry_an_eta(tmp_path):
    from kansci.bench.feynman import run_feynman_bench

    lines: list[str] = []
    run_feynman_bench(ids=["I.6.2a", "I.14.3"], n_train=20, n_test=10, budget_s=30.0, workers=1, out=tmp_path,
                      task_fn=fast_task, log=lines.append)
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 2, lines
    for k, line in enumerate(progress, 1):
        assert re.match(rf"\[{k}/2\] \S+ seed 0: solved \(ok, \d+\.\d s\) eta (\d+h)?(\d+m)?\d+s? x$", line), line
    assert progress[-1].endswith("eta 0s x")


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (0.4, "0s"), (42.2, "42s"), (59.6, "1m00s"), (190, "3m10s"),
                                           (3599, "59m59s"), (3600, "1h00m"), (7500, "2h05m"), (-3, "0s"),
                                           (float("nan"), "0s")])
def test_format_eta(seconds, text):
    from kansci.bench.report import format_eta

    assert format_eta(seconds) == text


def test_symbolify_prints_phase_lines_with_times_on_stderr(fitted, tmp_path):
    import shutil

    run = Path(shutil.copytree(fitted, tmp_path / "run"))
    res = invoke("symbolify", run, "--set", "symbolic.time_limit_s=20")
    assert res.exit_code == 0, res.output
    phases = re.findall(r"^symbolify: (.+?) \.\.\. (\d+\.\d) s$", res.stderr, re.M)
    names = [p[0] for p in phases]
    assert names[0] == "loading the run" and names[1] == "structure search" and names[-1] == "total", res.stderr
    assert "writing files" in names and "choosing and scoring" in names
    assert re.search(r"^symbolify: structure search \(time limit \d+ s\)$", res.stderr, re.M)
    total = float(phases[-1][1])
    assert sum(float(t) for _, t in phases[:-1]) <= total + 0.1 * len(phases)
    assert "symbolify:" not in res.stdout and "formula: " in res.stdout
