"""Architecture choice for ``model.width: auto``: the simplest KAN shape that fits the data.

Exact formulas come from KANs whose structure matches the law. The ladder, simplest first, for ``n`` inputs:

1. ``[n, 1]``            additive: ``y = sum_i f_i(x_i)``
2. ``[n, 1, 1]``         one hidden node: ``y = g(sum_i f_i(x_i))``; this includes every monomial ``prod x_i^p_i``
                          on positive data (``exp(sum p_i log x_i)``) and radial forms like ``sqrt(x^2 + y^2)``
3. ``[n, [0, 1], 1]``    one multiplication node of arity ``n``: ``y = g(prod_r sum_i f_ri(x_i))``, products on data
                          of any sign (``x * y`` on [-1, 1])
4. ``[n, 2n+1, 1]``      the Kolmogorov-Arnold width: a general fallback, pruned later

Screening: each rung is trained on the first two grids of the schedule only, for at most ``screen_steps`` steps
per grid, on the fit rows, and scored on the validation rows (never the test rows). On large data both are seeded
subsamples of at most :data:`kansci.train.rows.SCREEN_ROWS` rows (:func:`screening_data`), so screening costs the
same on 10^5 and 10^6 rows; the chosen rung continues on every fit row. The search stops at the first
rung whose validation R^2 reaches ``accept_r2``; otherwise it takes the simplest rung whose validation MSE is within
``tolerance`` x of the best one. Only the chosen rung then continues through the rest of the grid schedule. The
table of every rung tried is kept in ``metrics.json``.

A screen stage ends once training has converged (see :mod:`kansci.train`; unless no grids follow, then the last one
is the final fit), which is what makes screening cheap. A rung that converged just short of ``accept_r2`` (its
unexplained variance within ``BORDERLINE`` x the accepted one) is screened again without that stop: slow LBFGS
plateaus can precede the descent that decides such a rung.

Restarts: a screen that stalls (training converged, the rung is short of ``accept_r2``) may have found a local
minimum of a shape that does fit, e.g. ``[2, 1, 1]`` on ``exp(-(x+y)^2)``. Every rung but the general last one is
then screened again from up to ``restarts`` other initialisations (seeds ``seed + 7919·k``), as time allows, and
the best attempt stands for the rung. The table records the attempts' validation R^2.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from kansci.budget import expired
from kansci.core.model import KAN
from kansci.train import rows
from kansci.train.loop import (
    CONVERGED_STEPS,
    History,
    Interrupted,
    Progress,
    StopRequest,
    TrainData,
    TrainSettings,
    fit,
    is_linear,
)


def ladder(n_in: int, n_out: int = 1) -> list[tuple[list[Any], int]]:
    """The candidate widths with their multiplication arity, simplest first; ``n_out`` outputs (one per target)."""
    rungs: list[tuple[list[Any], int]] = [([n_in, n_out], 2), ([n_in, 1, n_out], 2)]
    if n_in >= 2:
        rungs.append(([n_in, [0, 1], n_out], n_in))
    rungs.append(([n_in, 2 * n_in + 1, n_out], 2))
    return rungs


#: A rung counts as borderline when 1 - R^2 is within this factor of 1 - accept_r2.
BORDERLINE = 100.0


def search_architecture(
    build: Callable[[list[Any], int], KAN],
    data: TrainData,
    cfg: TrainSettings,
    *,
    seed: int = 0,
    accept_r2: float = 1 - 1e-4,
    tolerance: float = 2.0,
    screen_steps: int = 30,
    progress: Callable[[Progress], None] | None = None,
    log: Callable[[str], None] = lambda s: None,
    stop: StopRequest | None = None,
    resume: dict[str, Any] | None = None,
    deadline: float | None = None,
    restarts: int = 1,
) -> tuple[KAN, History, list[dict[str, Any]]]:
    """Train the ladder until a rung is accurate enough; return (model, its history, table of rungs).

    ``build(width, arity, seed)`` makes an untrained KAN. Interruptible and resumable: the checkpoint records the
    rung, the finished rungs' weights, and the inner training checkpoint."""
    full_data, data = data, screening_data(data, seed)
    var = float(torch.var(data.y_val, unbiased=False)) or 1.0
    screen_cfg = _Override(cfg, grids=list(cfg.grids[:2]), steps=min(cfg.steps, screen_steps))
    rest_cfg = _Override(cfg, grids=list(cfg.grids[2:]))
    rungs = ladder(data.x_train.shape[1], data.y_train.shape[1])
    tried: list[tuple[KAN, History, dict[str, Any]]] = []
    for saved in (resume or {}).get("tried", []):
        model = build(saved["row"]["width"], saved["row"]["mult_arity"], saved["row"].get("seed", seed))
        model.load_state(saved["state"])
        tried.append((model, _history(saved), saved["row"]))

    def checkpoint(phase: str, exc: Interrupted, full_screen: bool = False) -> Interrupted:
        done = [{"state": m.state_dict(), "rows": h.rows, "events": h.events, "wall_s": h.wall_s, "row": r}
                for m, h, r in tried]
        return Interrupted({"search": True, "phase": phase, "rung": len(tried), "tried": done, "inner": exc.checkpoint,
                            "full_screen": full_screen})

    inner = (resume or {}).get("inner")
    full = bool((resume or {}).get("full_screen"))

    def screen(width: list[Any], arity: int, full: bool, init: int = 0) -> tuple[KAN, History, dict[str, Any]]:
        nonlocal inner
        s = seed + 7919 * init
        model = build(width, arity, s)
        try:
            hist = fit(model, data, screen_cfg, seed=s, callback=progress, stop=stop, resume=inner,
                       deadline=deadline, converged_steps=None if full else CONVERGED_STEPS, final=not rest_cfg.grids)
        except Interrupted as exc:
            raise checkpoint("screen", exc, full) from None
        inner = None
        return model, hist, _score(model, hist, arity, data, var) | {"seed": s}

    def restart(width: list[Any], arity: int, model: KAN, hist: History, row: dict[str, Any]
                ) -> tuple[KAN, History, dict[str, Any]]:
        attempts = [row["val_r2"]]
        for init in range(1, restarts + 1):
            if not _stalled(model, hist, row["val_r2"], accept_r2) or expired(deadline):
                break
            other = screen(width, arity, False, init)
            attempts.append(other[2]["val_r2"])
            log(f"architecture {row['width']}: stalled at validation R2 = {row['val_r2']:.8f}; initialisation {init} "
                f"reached {other[2]['val_r2']:.8f}")
            if other[2]["val_mse"] < row["val_mse"]:
                model, hist, row = other
        if len(attempts) > 1:
            row["attempts_val_r2"] = attempts
        return model, hist, row

    if resume is None or resume["phase"] == "screen":
        for width, arity in rungs[len(tried):]:
            if tried and tried[-1][2]["val_r2"] >= accept_r2:
                break
            if tried and expired(deadline):
                log("architecture search: train.time_limit_s reached, no further rungs")
                break
            model, hist, row = screen(width, arity, full)
            if not full and _borderline(model, hist, row["val_r2"], accept_r2) and not expired(deadline):
                log(f"architecture {row['width']}: converged at validation R2 = {row['val_r2']:.8f}, just short; "
                    "screening it again without stopping at convergence")
                full = True
                model, hist, row = screen(width, arity, full)
            if full:
                row["rescreened"] = True
            full = False
            if (width, arity) != rungs[-1]:
                model, hist, row = restart(width, arity, model, hist, row)
            log(f"architecture {row['width']}: validation R2 = {row['val_r2']:.8f} ({hist.wall_s:.1f} s)")
            tried.append((model, hist, row))
    best = min(r["val_mse"] for _, _, r in tried)
    k = next(k for k, (_, _, r) in enumerate(tried) if r["val_mse"] <= tolerance * best)
    model, hist, row = tried[k]
    row["chosen"] = True
    log(f"architecture chosen: {row['width']}")
    if rest_cfg.grids:
        try:
            hist.extend(fit(model, full_data, rest_cfg, seed=seed, callback=progress, stop=stop, resume=inner,
                            deadline=deadline))
        except Interrupted as exc:
            raise checkpoint("rest", exc) from None
    return model, hist, [copy.deepcopy(r) for _, _, r in tried]


def screening_data(data: TrainData, seed: int) -> TrainData:
    """The rows architecture screening trains and scores on: seeded subsamples of at most
    :data:`~kansci.train.rows.SCREEN_ROWS` fit rows and as many validation rows (``data`` itself when it is small)."""
    return rows.subsampled(data, rows.SCREEN_ROWS, seed + 11, seed + 12)


def _score(model: KAN, hist: History, arity: int, data: TrainData, var: float) -> dict[str, Any]:
    """The table row of a screened rung: width, arity, validation MSE and R^2, steps, seconds."""
    with torch.no_grad():
        val_mse = float(torch.mean((model(data.x_val) - data.y_val) ** 2))
    return {"width": model.width_spec(), "mult_arity": arity, "val_mse": val_mse, "val_r2": 1 - val_mse / var,
            "steps": len(hist.rows), "wall_s": hist.wall_s}


def _borderline(model: KAN, hist: History, r2: float, accept_r2: float) -> bool:
    """Whether a rung below ``accept_r2`` deserves a screen without the convergence stop: it was trained (not
    solved in closed form), a stage stopped at convergence, and its unexplained variance is within BORDERLINE x the
    accepted one."""
    converged = any(e["event"] == "converged" for e in hist.events)
    return converged and not is_linear(model) and r2 < accept_r2 and 1 - r2 <= BORDERLINE * (1 - accept_r2)


def _stalled(model: KAN, hist: History, r2: float, accept_r2: float) -> bool:
    """A trained rung whose training converged short of ``accept_r2``: a local minimum, or a shape that cannot fit."""
    converged = any(e["event"] == "converged" for e in hist.events)
    return converged and not is_linear(model) and r2 < accept_r2


def _history(saved: dict[str, Any]) -> History:
    return History(rows=list(saved["rows"]), events=list(saved["events"]), wall_s=saved["wall_s"])


class _Override:
    """The training settings with a few fields replaced (the schema object itself stays untouched)."""

    def __init__(self, base: TrainSettings, **changes: Any) -> None:
        self._base, self._changes = base, changes

    def __getattr__(self, name: str) -> Any:
        return self._changes[name] if name in self._changes else getattr(self._base, name)
