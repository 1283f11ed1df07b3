"""Levenberg-Marquardt on a flat parameter vector: the one implementation behind the end-to-end fine-tune of
symbolic edges (:func:`kansci.symbolic.select.finetune_symbolic`) and the polish of formula constants
(:func:`kansci.symbolic.formula.polish`).

Each iteration solves the damped normal equations with the Jacobian's columns scaled to unit norm, so the method is
invariant to the parameters' magnitudes (a formula in units of 1e-12 and 1e36 behaves like one in units of 1) and
copes with collinear columns::

    Js = J / |J|_col,   (Js^T Js + lam * diag(diag(Js^T Js) + 1e-12)) step = Js^T r,   theta <- theta - step / |J|_col

A step is taken only if the solve succeeds and the loss drops; then the damping shrinks threefold (not below 1e-12).
Otherwise the damping grows tenfold and the step is solved again, until it reaches 1e12. The loop stops after
``steps`` iterations, when no step lowers the loss, when a step gains at most ``tol`` times the loss, or when the
Jacobian is not finite. Only improving steps are taken, so the parameters stay finite.

(The per-edge polish in :mod:`kansci.symbolic.edge_fit` is a batched variable-projection LM over thousands of
two-parameter problems at once, with its own rules; it is not this loop.)
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from kansci.budget import expired

__all__ = ["LAMBDA_START", "damped_step", "jacobian", "levenberg_marquardt", "mean_square"]

#: Initial damping.
LAMBDA_START = 1e-3

Residual = Callable[[torch.Tensor], torch.Tensor]
Loss = Callable[[torch.Tensor], float]


def mean_square(r: torch.Tensor) -> float:
    """The default loss: mean of the squared residuals r (n,)."""
    return float(torch.mean(r**2))


def damped_step(residual: Residual, theta: torch.Tensor, r: torch.Tensor, J: torch.Tensor, loss: float, lam: float,
                loss_of: Loss = mean_square) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """One damped step from theta (p,) with residual r (n,), Jacobian J (n, p) and ``loss = loss_of(r)``.

    Returns (theta, residual, loss, damping): the first improving trial, or the inputs unchanged (but for the grown
    damping) when none improves before the damping reaches 1e12."""
    scale = J.norm(dim=0).clamp_min(1e-300)  # (p,)
    Js = J / scale
    A, g = Js.T @ Js, Js.T @ r
    while lam < 1e12:
        step, info = torch.linalg.solve_ex(A + lam * torch.diag(A.diagonal() + 1e-12), g)
        trial = theta - step / scale
        r_trial = residual(trial)
        v = loss_of(r_trial)
        if info == 0 and v < loss:
            return trial, r_trial, v, max(lam / 3, 1e-12)
        lam *= 10
    return theta, r, loss, lam


def levenberg_marquardt(residual: Residual, jacobian_of: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor,
                        steps: int, *, tol: float, loss_of: Loss = mean_square,
                        deadline: float | None = None) -> tuple[torch.Tensor, float]:
    """Minimize ``loss_of(residual(theta))`` from theta (p,) by at most ``steps`` LM iterations.

    Args:
        residual: theta (p,) -> residuals (n,), without autograd graph.
        jacobian_of: theta (p,) -> d residual / d theta (n, p).
        theta: the start.
        steps: the iteration limit; no iteration runs when the starting loss is not finite.
        tol: stop once an accepted step lowers the loss by at most ``tol`` times the new loss.
        loss_of: residuals -> loss (a non-finite loss never counts as lower).
        deadline: a ``time.perf_counter()`` value after which no further iteration starts (None: no limit).

    Returns:
        (theta, loss) of the best point reached (the start if no step improved on it).
    """
    r = residual(theta)
    best, lam = loss_of(r), LAMBDA_START
    for _ in range(steps if math.isfinite(best) else 0):
        if expired(deadline):
            break
        J = jacobian_of(theta)
        if not torch.isfinite(J).all():
            break
        theta, r, loss, lam = damped_step(residual, theta, r, J, best, lam, loss_of)
        gain, best = best - loss, loss
        if gain <= tol * best:
            break
    return theta, best


def jacobian(fn: Residual, c: torch.Tensor) -> torch.Tensor:
    """d fn / d c as (n, p) by reverse mode twice: ``g(u) = J^T u`` is linear in u, so d g_k / d u is column k of J
    (2p small backward passes, p << n). Forward mode would be as cheap per call but loads torch's forward-AD
    decompositions on first use, a start-up cost. Falls back to n backward passes for ops without double backward."""
    try:
        with torch.enable_grad():
            return _jacobian_by_double_backward(fn, c)
    except (RuntimeError, NotImplementedError):
        return torch.autograd.functional.jacobian(fn, c)


def _jacobian_by_double_backward(fn: Residual, c: torch.Tensor) -> torch.Tensor:
    cc = c.detach().requires_grad_(True)
    r = fn(cc)  # (n,)
    u = torch.zeros_like(r, requires_grad=True)
    (g,) = torch.autograd.grad(r, cc, grad_outputs=u, create_graph=True, allow_unused=True, materialize_grads=True)
    if not g.requires_grad:  # no constant reaches the residuals
        return torch.zeros(r.shape[0], len(c), dtype=r.dtype)
    try:  # all p columns in one batched backward pass (vmap over the p unit vectors)
        eye = torch.eye(len(c), dtype=g.dtype)
        (rows,) = torch.autograd.grad(g, u, grad_outputs=eye, retain_graph=True, allow_unused=True,
                                      is_grads_batched=True)
        if rows is not None:
            return rows.detach().T
    except (RuntimeError, NotImplementedError):  # an op without a batching rule: one pass per column below
        pass
    cols = []
    for k in range(len(c)):
        col = torch.autograd.grad(g[k], u, retain_graph=True, allow_unused=True)[0] if g[k].requires_grad else None
        cols.append(torch.zeros_like(r) if col is None else col.detach())
    return torch.stack(cols, -1)
