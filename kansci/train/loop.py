"""Training: LBFGS (strong Wolfe) or Adam, sparsity regularization, grid updates and grid extension.

``fit(model, data, cfg)`` trains over the grid schedule ``cfg.grids`` (e.g. 3 -> 5 -> 10). At each new grid size the
splines are re-expressed on the finer grid by least squares (the function is preserved), then trained for
``cfg.steps`` optimizer steps. Early in a stage the grids follow the training samples (``grid_update_every``).

Early stopping (``patience`` > 0) ends a stage after ``patience`` steps without a ``min_delta`` relative improvement
of the validation loss. A stage whose model a later stage replaces (every grid but the last; every screening stage of
the architecture search) also ends, with full-batch LBFGS, as soon as it has converged: :data:`CONVERGED_STEPS`
consecutive steps, each of up to 20 LBFGS iterations, that lower the training objective by less than
:data:`CONVERGED_TOL` (relative). More steps would polish digits that the next grid size re-fits anyway. The last
stage, whose model the formula is read from, keeps training while the validation loss improves: slow but steady
descents there decide primitives (Feynman I.12.1, ``F = mu * Nn``, picks a ``tan`` for a ``log`` when cut short).
A model that is linear in its coefficients (one layer of sum nodes, no symbolic edges, e.g. the additive ``[n, 1]``)
converges to its least-squares optimum, so with early stopping on (and ``lamb`` = 0) each stage solves for it
directly (:func:`solve_linear`).

Loss (:mod:`.objective`) = MSE + lamb * (lamb_l1 * L1 + lamb_entropy * entropy) of the edges' mean absolute
activations, as in the KAN paper. The regularizer needs per-edge activations, so it is computed (only when lamb > 0)
on a fixed subsample of at most ``reg_samples`` training rows through the inspect path; the data term uses the fast
forward. With row weights (:class:`TrainData` ``w_train``/``w_val``, e.g. scikit-learn's ``sample_weight``) the MSE
is the weighted mean of the squared errors, in training, validation and the least-squares solve alike; without them
it is the plain mean.

Numerical faults: a non-finite loss rolls the model back to the last good state, halves the learning rate, restarts
the optimizer, and records a ``nan-rollback`` event. Non-finite weights are never kept.

Large data (:mod:`kansci.train.rows`): ``batch_size`` null is automatic, the full batch up to
:data:`~kansci.train.rows.FULL_BATCH_ROWS` fit rows and seeded minibatches of
:data:`~kansci.train.rows.AUTO_BATCH_ROWS` rows per step above; grid updates, the per-step validation loss and the
least-squares solve read seeded subsamples of capped size, so a step costs the same on 10^5 and 10^6 rows.

The callback receives a :class:`Progress` every ``log_every`` steps and at stage ends.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import torch

from kansci.budget import expired
from kansci.core.model import KAN
from kansci.train.linear import is_linear, solve_linear
from kansci.train.objective import mse, objective
from kansci.train.records import History, Interrupted, Progress, StopRequest, TrainData, TrainSettings
from kansci.train.rows import GRID_ROWS, SOLVE_ROWS, VAL_ROWS, batch_rows, capped, seeded_rows, take

# The loop's records (:mod:`.records`) and objective (:mod:`.objective`) are re-exported for its callers.
__all__ = ["CONVERGED_STEPS", "CONVERGED_TOL", "History", "Interrupted", "Progress", "StopRequest", "TrainData",
           "TrainSettings", "can_detect_convergence", "default_lr", "fit", "is_linear", "mse", "objective",
           "solve_linear", "solve_stage", "train_stage"]

#: A full-batch LBFGS step that lowers the training objective by less than this fraction has made no real progress.
CONVERGED_TOL = 1e-2
#: Consecutive such steps after which an intermediate stage counts as converged.
CONVERGED_STEPS = 2


def can_detect_convergence(cfg: TrainSettings, n_rows: int) -> bool:
    """Whether a step's progress says the stage has converged: early stopping on, full-batch LBFGS (an Adam step
    or a mini-batch step is small or noisy by design)."""
    return bool(cfg.patience) and cfg.optimizer == "lbfgs" and batch_rows(cfg.batch_size, n_rows) is None


@torch.no_grad()
def _slow_step(model: KAN, x: torch.Tensor, y: torch.Tensor, reg_x: torch.Tensor | None, cfg: TrainSettings,
               before: float, w: torch.Tensor | None = None) -> bool:
    """Whether the step that started at objective ``before`` lowered it by less than :data:`CONVERGED_TOL`."""
    loss, reg = objective(model, x, y, reg_x, cfg, w)
    return float(loss + cfg.lamb * reg) > before * (1 - CONVERGED_TOL)


def _solvable(model: KAN, cfg: TrainSettings, n_rows: int) -> bool:
    """Whether a stage would train to the least-squares optimum: a linear model, no regularization, and settings
    under which training stops once converged (:func:`can_detect_convergence`)."""
    return cfg.lamb == 0 and can_detect_convergence(cfg, n_rows) and is_linear(model)


def solve_stage(model: KAN, data: TrainData, cfg: TrainSettings, *, phase: str,
                callback: Callable[[Progress], None] | None = None, step_offset: int = 0,
                total_steps: int | None = None) -> History:
    """A stage of a linear model: its least-squares solution, recorded as one converged step."""
    t0 = time.perf_counter()
    fit_rows = seeded_rows(data.x_train.shape[0], SOLVE_ROWS, 0)
    val_rows = seeded_rows(data.x_val.shape[0], VAL_ROWS, 1)
    x, y, w = (take(t, fit_rows) for t in (data.x_train, data.y_train, data.w_train))
    assert x is not None and y is not None
    solve_linear(model, x, y, w)
    with torch.no_grad():
        train_loss, val_loss = (float(mse(model(a), b, c)) for a, b, c in (
            (x, y, w), tuple(take(t, val_rows) for t in (data.x_val, data.y_val, data.w_val))))
    hist = History(rows=[{"step": 1, "train_loss": train_loss, "val_loss": val_loss, "reg": 0.0, "grid": model.G,
                          "phase": phase, "lr": default_lr(cfg)}],
                   events=[{"step": 1, "event": "converged", "detail": "least-squares solution of a linear model"}])
    if callback:
        callback(Progress(step_offset + 1, total_steps or 1, model.G, train_loss, val_loss, 0.0, phase))
    hist.wall_s = time.perf_counter() - t0
    return hist


def _finite_model(model: KAN) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _make_optimizer(model: KAN, cfg: TrainSettings, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "lbfgs":
        return torch.optim.LBFGS(
            params, lr=lr, max_iter=20, history_size=20, line_search_fn="strong_wolfe",
            tolerance_grad=1e-32, tolerance_change=1e-32,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def default_lr(cfg: TrainSettings) -> float:
    return cfg.lr if cfg.lr is not None else (1.0 if cfg.optimizer == "lbfgs" else 1e-2)


def _state(model: KAN) -> dict[str, torch.Tensor]:
    return copy.deepcopy(model.state_dict())


def train_stage(
    model: KAN,
    data: TrainData,
    cfg: TrainSettings,
    *,
    steps: int,
    phase: str,
    generator: torch.Generator,
    update_grid: bool = True,
    callback: Callable[[Progress], None] | None = None,
    step_offset: int = 0,
    total_steps: int | None = None,
    stop: StopRequest | None = None,
    resume: dict[str, Any] | None = None,
    sync_every: int | None = None,
    deadline: float | None = None,
    converged_steps: int | None = None,
) -> History:
    """Train ``steps`` optimizer steps at the current grid size; keeps the best-validation state (early stopping).
    ``converged_steps``: slow steps in a row that end the stage (see the module docstring); None: no such stop.

    ``sync_every`` (default: every step, or every ``log_every`` steps for Adam on CUDA) is how often losses are
    copied to the host for logging, NaN checks and early stopping; between those points nothing waits on the device.

    With ``stop`` set, raises :class:`Interrupted` after the step during which it was requested; passing that
    checkpoint as ``resume`` continues exactly where it stopped.
    """
    hist = History()
    t0 = time.perf_counter()
    n = data.x_train.shape[0]
    reg_x = data.x_train[: min(n, 512)] if cfg.lamb > 0 else None
    per_step = batch_rows(cfg.batch_size, n)
    val_rows = seeded_rows(data.x_val.shape[0], VAL_ROWS, 1)  # the same rows in every stage (and after a resume)
    x_val, y_val, w_val = (take(t, val_rows) for t in (data.x_val, data.y_val, data.w_val))
    total_steps = total_steps or steps
    if resume is None:
        lr, start = default_lr(cfg), 1
        opt = _make_optimizer(model, cfg, lr)
        best = (math.inf, _state(model))
        good_state, since_best = best[1], 0
    else:
        model.load_state(resume["model"])
        lr, start, since_best = resume["lr"], resume["step"] + 1, resume["since_best"]
        opt = _make_optimizer(model, cfg, lr)
        opt.load_state_dict(resume["optimizer"])
        best, good_state = (resume["best_val"], resume["best_state"]), resume["good_state"]
        generator.set_state(resume["generator"])
        hist.rows, hist.events = list(resume["rows"]), list(resume["events"])

    # Losses stay on the device between sync points; on CUDA with Adam the loop syncs once per log interval.
    if sync_every is None:
        on_gpu_adam = data.x_train.device.type == "cuda" and cfg.optimizer == "adam"
        sync_every = max(cfg.log_every, 1) if on_gpu_adam else 1
    pending: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    watch = converged_steps is not None and can_detect_convergence(cfg, n)
    slow = 0 if resume is None else resume.get("slow_steps", 0)

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if per_step is None:
            return data.x_train, data.y_train, data.w_train
        idx = torch.randint(0, n, (per_step,), generator=generator).to(data.x_train.device)
        return data.x_train[idx], data.y_train[idx], None if data.w_train is None else data.w_train[idx]

    for step in range(start, steps + 1):
        if (
            update_grid and cfg.update_grid and cfg.grid_update_every > 0
            and step % cfg.grid_update_every == 0 and step < cfg.stop_grid_update_step
        ):
            model.regrid(capped(data.x_train, GRID_ROWS, 0))
            opt = _make_optimizer(model, cfg, lr)
        xb, yb, wb = batch()
        last: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss, reg = objective(model, xb, yb, reg_x, cfg, wb)
            total = loss + cfg.lamb * reg
            total.backward()
            last["loss"], last["reg"] = loss.detach(), reg.detach()
            return total

        before = opt.step(closure)
        with torch.no_grad():
            val = mse(model(x_val), y_val, w_val)
        if watch:
            slow = slow + 1 if _slow_step(model, xb, yb, reg_x, cfg, float(before.detach()), wb) else 0
        pending.append((step, last["loss"], val, last["reg"]))
        stop_now = False
        if len(pending) >= sync_every or step == steps or (stop is not None and stop.requested):
            # the only host sync of the step (every step on CPU / LBFGS, every log interval for Adam on CUDA)
            values = torch.stack([torch.stack(p[1:]) for p in pending]).tolist()
            rows, pending = list(zip([p[0] for p in pending], values)), []
            for at, (train_loss, val_loss, reg) in rows:
                if not (math.isfinite(train_loss) and math.isfinite(val_loss) and _finite_model(model)):
                    model.load_state_dict(good_state)
                    lr *= 0.5
                    opt = _make_optimizer(model, cfg, lr)
                    hist.events.append({"step": at, "event": "nan-rollback", "detail": f"lr -> {lr:g}"})
                    break
                hist.rows.append({"step": at, "train_loss": train_loss, "val_loss": val_loss, "reg": reg,
                                  "grid": model.G, "phase": phase, "lr": lr})
                if val_loss < best[0]:
                    improved = val_loss < best[0] * (1 - cfg.min_delta)
                    best = (val_loss, _state(model))
                    since_best = 0 if improved else since_best + 1
                else:
                    since_best += 1
                if callback and (at % max(cfg.log_every, 1) == 0 or at == steps):
                    callback(Progress(step_offset + at, total_steps, model.G, train_loss, val_loss, reg, phase))
                if cfg.patience and since_best >= cfg.patience:
                    hist.events.append({"step": at, "event": "early-stop",
                                        "detail": f"no val improvement in {cfg.patience}"})
                    stop_now = True
                    break
            else:
                if sync_every > 1 or cfg.optimizer == "lbfgs" or step % 10 == 0:
                    good_state = _state(model)
                if watch and slow >= converged_steps:
                    hist.events.append({"step": step, "event": "converged", "detail": (
                        f"{slow} steps lowered the training loss by less than {CONVERGED_TOL:g} each")})
                    stop_now = True
        if stop is not None and stop.requested and not stop_now and step < steps:
            raise Interrupted({
                "model": _state(model), "optimizer": copy.deepcopy(opt.state_dict()), "lr": lr, "step": step,
                "since_best": since_best, "best_val": best[0], "best_state": best[1], "good_state": good_state,
                "slow_steps": slow,
                "generator": generator.get_state(), "rows": hist.rows, "events": hist.events,
            })
        if not stop_now and expired(deadline):
            hist.events.append({"step": step, "event": "time-limit", "detail": "train.time_limit_s reached"})
            stop_now = True
        if stop_now:
            break
    if best[0] < math.inf:
        model.load_state_dict(best[1])
    hist.wall_s = time.perf_counter() - t0
    return hist


def fit(
    model: KAN,
    data: TrainData,
    cfg: TrainSettings,
    *,
    seed: int = 0,
    callback: Callable[[Progress], None] | None = None,
    stop: StopRequest | None = None,
    resume: dict[str, Any] | None = None,
    deadline: float | None = None,
    converged_steps: int | None = CONVERGED_STEPS,
    final: bool = True,
) -> History:
    """Train over the grid schedule. Returns the full :class:`History` (steps numbered across stages).
    Past ``deadline`` (a ``time.perf_counter()`` value) the current stage stops and later stages are skipped.
    ``converged_steps`` (see :func:`train_stage`) applies to every stage but the last one when ``final`` (its model
    is the result); with None, no stage stops at convergence and a linear model is trained like any other.

    Interruptible and resumable like :func:`train_stage`; the checkpoint records the stage too.
    """
    gen = torch.Generator().manual_seed(seed)
    hist = History()
    first = 0
    if resume is not None:
        first = resume["stage"]
        hist.rows, hist.events, hist.wall_s = list(resume["rows"]), list(resume["events"]), resume["wall_s"]
    total = cfg.steps * len(cfg.grids)
    for s, G in enumerate(cfg.grids):
        if s < first:
            continue
        if expired(deadline) and hist.rows:
            break
        inner = resume["inner"] if resume is not None and s == first else None
        if inner is None and (G != model.G or s == 0):
            model.regrid(capped(data.x_train, GRID_ROWS, 0), G)
            hist.events.append({"step": hist.rows[-1]["step"] if hist.rows else 0, "event": "grid", "detail": f"G={G}"})
        if inner is None and converged_steps is not None and _solvable(model, cfg, data.x_train.shape[0]):
            hist.extend(solve_stage(model, data, cfg, phase=f"grid{G}", callback=callback, step_offset=s * cfg.steps,
                                    total_steps=total))
            continue
        try:
            stage = train_stage(
                model, data, cfg, steps=cfg.steps, phase=f"grid{G}", generator=gen, callback=callback,
                step_offset=s * cfg.steps, total_steps=total, stop=stop, resume=inner, deadline=deadline,
                converged_steps=None if final and s == len(cfg.grids) - 1 else converged_steps,
            )
        except Interrupted as exc:
            raise Interrupted({"stage": s, "inner": exc.checkpoint, "rows": hist.rows, "events": hist.events,
                               "wall_s": hist.wall_s}) from None
        hist.extend(stage)
    return hist
