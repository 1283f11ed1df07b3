"""The bundled example configs (issue 5): each validates, each runs end to end, and a run reproduces from its saved
``config.yaml``.

Fast: every file in ``configs/`` passes ``kansci config validate``, and ``configs/full_reference.yaml`` is exactly
``kansci.config.reference_yaml()``. Slow (CI runs them): ``kansci run CONFIG`` with the real config (each takes
10-30 s on a CPU) gives a formula that fits the config's own CSV, and re-running the run's saved ``config.yaml``
gives the same config file, the same formula and the same weights.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from kansci.cli import app
from kansci.config import load_config, reference_yaml, resolve_data_path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


def _names_data(name: str) -> bool:
    raw = yaml.safe_load((ROOT / "configs" / name).read_text(encoding="utf-8")) or {}
    return bool((raw.get("data") or {}).get("path"))


RUNNABLE = [n for n in CONFIGS if _names_data(n)]        # the configs that name a data file


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def printed(stdout: str, label: str) -> str:
    """The value of the last ``label: value`` line of ``kansci run``'s stdout."""
    found = re.findall(rf"^{label}: (.+)$", stdout, re.M)
    assert found, stdout
    return found[-1]


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and values (n, columns) of a numeric CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], np.array(rows[1:], dtype=np.float64)


# ------------------------------------------------------------------------------------------------ fast
def test_the_issue_examples_are_bundled() -> None:
    assert {"quickstart.yaml", "relativistic_velocity.yaml", "product_multnodes.yaml", "full_reference.yaml"} \
        <= set(CONFIGS)
    assert any(n.startswith("feynman") for n in RUNNABLE)
    assert sorted(set(CONFIGS) - set(RUNNABLE)) == ["full_reference.yaml"]   # the only one without data


@pytest.mark.parametrize("name", CONFIGS)
def test_bundled_config_validates(name: str) -> None:
    """``config validate`` checks keys, primitives, and that the data file has the configured columns."""
    res = invoke("config", "validate", ROOT / "configs" / name)
    assert (res.exit_code, res.stdout, res.stderr) == (0, "ok\n", ""), res.output


def test_full_reference_is_the_schema_reference() -> None:
    text = (ROOT / "configs" / "full_reference.yaml").read_text(encoding="utf-8")
    assert text == reference_yaml(), ("configs/full_reference.yaml is stale; regenerate it with: python -c "
                                      "\"from kansci.config import reference_yaml; print(reference_yaml(), end='')\""
                                      " > configs/full_reference.yaml")


# ------------------------------------------------------------------------------------------------ slow
class Runs:
    """``kansci run`` of each bundled config, made once per module and shared by the slow tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[str, tuple[Path, str]] = {}

    def get(self, name: str) -> tuple[Path, str]:
        """(run directory, stdout) of ``kansci run configs/NAME --out <tmp>/NAME``."""
        if name not in self.done:
            res = invoke("run", ROOT / "configs" / name, "--out", self.root / name)
            assert res.exit_code == 0, res.output
            self.done[name] = (Path(printed(res.stdout, "run")), res.stdout)
        return self.done[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("bundled"))


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNNABLE)
def test_bundled_config_runs_end_to_end(name: str, runs: Runs) -> None:
    """fit -> symbolify -> plot: a formula that reproduces the config's own CSV, and its figures."""
    from kansci.api import load_run

    run, stdout = runs.get(name)
    assert run.parent == runs.root / name and (run / "config.yaml").is_file()
    formula = printed(stdout, "formula")
    assert (run / "symbolic" / "formula.txt").read_text(encoding="utf-8").strip().endswith(formula)
    assert {p.name for p in (run / "figures").iterdir()} >= {"network.png", "loss.png", "parity.png"}
    cfg = load_config(ROOT / "configs" / name)
    header, values = read_csv(resolve_data_path(cfg))
    target = header.index(cfg.data.target) if cfg.data.target else len(header) - 1
    loaded = load_run(run)
    X = values[:, [header.index(c) for c in loaded.formula.input_names]]
    y = values[:, target]
    pred = loaded.formula(X)
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2 > 0.9999, f"{name}: formula {formula!r} has R² {r2} on {cfg.data.path}"


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNNABLE)
def test_rerunning_the_saved_config_reproduces_the_run(name: str, runs: Runs) -> None:
    """file -> run -> RUN/config.yaml -> run again: same resolved config, same formula, same weights."""
    first, first_out = runs.get(name)
    saved = first / "config.yaml"
    # the saved file is the resolved config: the bundled file + the --out flag, data.path made absolute
    original = load_config(ROOT / "configs" / name, flags={"output.dir": runs.root / name})
    original.data.path = str(resolve_data_path(original).resolve())
    assert load_config(saved) == original

    res = invoke("run", saved)                        # no flags: everything comes from the saved file
    assert res.exit_code == 0, res.output
    second = Path(printed(res.stdout, "run"))
    assert second != first and second.parent == first.parent   # output.dir came from the saved file
    assert (second / "config.yaml").read_text(encoding="utf-8") == saved.read_text(encoding="utf-8")
    assert printed(res.stdout, "formula") == printed(first_out, "formula")
    formulas = [json.loads((r / "symbolic" / "formula.json").read_text(encoding="utf-8")) for r in (first, second)]
    assert formulas[0]["srepr"] == formulas[1]["srepr"]
    weights = [torch.load(r / "model.pt", weights_only=True) for r in (first, second)]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), f"{name}: weight {key} differs on re-run"
