"""Architecture search: cheap screens that stop at convergence, and a full screen for rungs that converged short."""
import pytest
import torch

import kansci.train.search as search
from kansci.config import load_config
from kansci.core.model import KAN
from kansci.train import Interrupted, StopRequest, TrainData
from kansci.train.search import search_architecture

pytestmark = pytest.mark.usefixtures("float64_default")


def sine_data(n: int = 150) -> TrainData:
    """y = sin(3 x) on [-1, 1]; with an unreachable accept_r2 every rung of the ladder [1, 1], [1, 1, 1], [1, 3, 1]
    is screened."""
    x = torch.rand(n, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = torch.sin(3 * x)
    cut = int(0.8 * n)
    return TrainData(x[:cut], y[:cut], x[cut:], y[cut:])


def build(width, arity, seed=0):
    return KAN(width, grid=3, mult_arity=arity, seed=seed)


def run(cfg, **kw):
    logs: list[str] = []
    model, _, table = search_architecture(build, sine_data(), cfg, accept_r2=1 - 1e-12, log=logs.append, **kw)
    return model, table, logs


def test_rungs_that_converge_short_of_acceptance_are_screened_again(monkeypatch):
    monkeypatch.setattr(search, "BORDERLINE", 1e12)  # every trained rung is "just short" of an unreachable accept_r2
    cfg = load_config(None, flags={"train.grids": [3, 5, 10], "train.steps": 6}).train
    _, table, logs = run(cfg)
    again = [line for line in logs if "screening it again" in line]
    assert [row["width"] for row in table] == [[1, 1], [1, 1, 1], [1, 3, 1]]
    assert again and not any("[1, 1]:" in line for line in again)  # the linear rung is solved, not trained
    assert sum(bool(row.get("rescreened")) for row in table) == len(again)


def test_search_interrupted_in_a_full_screen_resumes_exactly(monkeypatch):
    monkeypatch.setattr(search, "BORDERLINE", 1e12)
    cfg = load_config(None, flags={"train.grids": [3, 5, 10], "train.steps": 6, "train.log_every": 1}).train
    events: list[str] = []  # progress calls ("step") and log lines, in order
    model, _, table = search_architecture(build, sine_data(), cfg, accept_r2=1 - 1e-12, log=events.append,
                                          progress=lambda p: events.append("step"))
    first_full = events.index(next(e for e in events if "screening it again" in e))
    stop, seen = StopRequest(), {"steps": 0}

    def interrupt(progress):  # two steps into the first full screen
        seen["steps"] += 1
        stop.requested = seen["steps"] >= events[:first_full].count("step") + 2

    with pytest.raises(Interrupted) as info:
        run(cfg, progress=interrupt, stop=stop)
    assert info.value.checkpoint["full_screen"] is True
    resumed, resumed_table, _ = run(cfg, resume=info.value.checkpoint)
    assert [r["val_mse"] for r in resumed_table] == [r["val_mse"] for r in table]
    for k, v in resumed.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_a_stalled_rung_is_screened_from_other_initialisations_and_keeps_the_best():
    """Every trained rung but the general last one stalls short of an unreachable accept_r2, so each is screened
    from `restarts` more seeds; the rung's row is its best attempt, and the general rung is screened once."""
    cfg = load_config(None, flags={"train.grids": [3, 5, 10], "train.steps": 6}).train
    _, table, logs = run(cfg, restarts=2)
    rows = {str(row["width"]): row for row in table}
    attempts = rows["[1, 1, 1]"]["attempts_val_r2"]
    assert len(attempts) == 3 and len(set(attempts)) > 1  # different initialisations, different minima
    assert rows["[1, 1, 1]"]["val_r2"] == pytest.approx(max(attempts))
    assert rows["[1, 1, 1]"]["seed"] in (0, 7919, 2 * 7919)
    assert "attempts_val_r2" not in rows["[1, 3, 1]"] and "attempts_val_r2" not in rows["[1, 1]"]
    assert sum("initialisation" in line for line in logs) == 2
    _, table0, _ = run(cfg, restarts=0)
    assert all("attempts_val_r2" not in row for row in table0)
