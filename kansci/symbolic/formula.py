"""From an all-symbolic KAN to a closed-form formula in the data's own variables and units.

1. :func:`assemble` walks the network: edge ``c * f(a * u + b) + d``, sum nodes add, multiplication nodes multiply
   (any arity). Inputs enter as ``u_i = (x_i - shift_i) / scale_i`` and the output leaves as
   ``y = scale_y * out + shift_y``, so the expression is in CSV units.
2. :func:`tidy` rewrites it into a form whose constants mean something (logs and powers expanded, exponentials
   combined), under a time limit.
3. :func:`snap_constants` snaps a constant to 0, an integer, a small rational or a rational multiple of pi, e or a
   square root only with evidence: the value must lie within the constant's own uncertainty (3 standard errors
   from the Jacobian at the optimum and the fit's residual noise) and must not be there by chance
   (:mod:`kansci.symbolic.uncertainty`). As a second guard, after re-polishing the remaining constants
   (:func:`polish`), the normalized MSE on the training rows may grow by at most what a 3-sigma move of one
   constant costs, plus an absolute slack ``tol``. Everything else is polished by Levenberg-Marquardt
   (:mod:`kansci.symbolic.lm`) and keeps its fitted value.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import sympy
import torch

from kansci.budget import expired, time_limit
from kansci.core.model import KAN
from kansci.errors import FormulaError
from kansci.expr.evaluate import to_torch
from kansci.symbolic.lm import jacobian, levenberg_marquardt
from kansci.symbolic.uncertainty import COVERAGE, FAILS, NOISE_FLOOR, fit_uncertainty, snap_targets


def _exact(v: float) -> sympy.Expr:
    """Exact sympy number for a normalization constant (powers of ten stay exact)."""
    if v == 0:
        return sympy.Integer(0)
    k = round(math.log10(abs(v)))
    if float(f"1e{k}") == abs(v):
        return sympy.Integer(10) ** k * (1 if v > 0 else -1)
    return sympy.Float(v)


def assemble(model: KAN, symbols: Sequence[sympy.Symbol], x_shift, x_scale, y_shift: float,
             y_scale: float) -> sympy.Expr:
    """The model's output 0 as a sympy expression of ``symbols`` in original units. Every active edge must be
    symbolic (check with ``model.numeric_edges()`` first)."""
    nodes = [(s - _exact(float(sh))) / _exact(float(sc)) for s, sh, sc in zip(symbols, x_shift, x_scale)]
    for l, layer in enumerate(model.layers):
        sub = [sympy.Integer(0)] * layer.out_dim
        for (i, j), prim in sorted(layer.symbolic.items()):
            if layer.mask[i, j] == 0:
                continue
            a, b, c, d = (sympy.Float(float(v)) for v in layer.sym_params[i, j].detach())
            sub[j] = sub[j] + c * prim.sympy(a * nodes[i] + b) + d
        n_sum, n_mult = model.width[l + 1]
        nodes = sub[:n_sum] + [sympy.Mul(*sub[n_sum + m * model.mult_arity: n_sum + (m + 1) * model.mult_arity])
                               for m in range(n_mult)]
    return _exact(float(y_scale)) * nodes[0] + _exact(float(y_shift))


def _monic_powers(expr: sympy.Expr) -> sympy.Expr:
    """``(k*a + k*b)**e -> |k|**e * (a + b*...)**e`` with the largest numeric coefficient pulled out, so that
    ``c * sqrt(k1 x**2 + k2 y**2)`` has one free constant outside instead of three entangled ones."""

    def rewrite(node: sympy.Expr) -> sympy.Expr:
        if isinstance(node, sympy.Pow) and isinstance(node.base, sympy.Add) and not node.exp.is_Integer:
            split = [t.as_coeff_Mul() for t in node.base.args]
            coeffs = [c for (c, _), t in zip(split, node.base.args) if not t.is_Number]
            if coeffs:
                k = abs(max(coeffs, key=lambda c: abs(float(c))))
                if k != 0 and k != 1:
                    # the largest term becomes exactly ±1·rest: a Float 1.0 there would be a free constant that
                    # the one outside duplicates, and no constant of the pair could then be pinned down or snapped
                    top = next(i for i, ((c, _), t) in enumerate(zip(split, node.base.args))
                               if not t.is_Number and abs(c) == k)
                    terms = [(sympy.sign(c) * rest if i == top else sympy.expand(t / k))
                             for i, ((c, rest), t) in enumerate(zip(split, node.base.args))]
                    return k**node.exp * sympy.Pow(sympy.Add(*terms), node.exp)
        return node

    return expr.replace(lambda n: isinstance(n, sympy.Pow), rewrite)


MAX_SYMPY_OPS = 400  # expressions larger than this are not expanded or simplified (time and memory bound)
MAX_EXPANDED_POWER = 8  # nor are integer powers of sums above this degree (a multinomial expansion explodes)


def too_big(expr: sympy.Expr) -> bool:
    """Whether sympy's expand/simplify could run away on ``expr``: too many operations, or a high integer power of
    a sum. A time limit alone does not bound memory: one expansion can allocate gigabytes between two checks."""
    if sympy.count_ops(expr) > MAX_SYMPY_OPS:
        return True
    return any(isinstance(p, sympy.Pow) and isinstance(p.base, sympy.Add) and p.exp.is_Integer
               and abs(int(p.exp)) > MAX_EXPANDED_POWER for p in expr.atoms(sympy.Pow))


def tidy(expr: sympy.Expr, timeout_s: float = 10.0) -> sympy.Expr:
    """Expand logs and powers of products, pull constants out of fractional powers, combine exponentials;
    bounded by ``timeout_s`` and skipped for expressions that are :func:`too_big`."""
    out = expr
    if too_big(expr):
        return expr
    try:
        with time_limit(timeout_s):
            out = sympy.expand_log(out, force=True)
            out = sympy.expand(out, power_exp=True, mul=True, multinomial=True, log=True, deep=True)
            out = _monic_powers(out)
            out = sympy.powsimp(out, combine="exp")
    except (TimeoutError, RecursionError):
        return expr
    return out


def final_simplify(expr: sympy.Expr, timeout_s: float = 10.0) -> sympy.Expr:
    """A last ``simplify`` for display, kept only if it is not longer; bounded by ``timeout_s``, skipped for
    expressions that are :func:`too_big`."""
    if too_big(expr):
        return expr
    try:
        with time_limit(timeout_s):
            simp = sympy.powsimp(sympy.simplify(expr), combine="exp")
    except (TimeoutError, RecursionError):
        return expr
    return simp if sympy.count_ops(simp) <= sympy.count_ops(expr) else expr


def _nmse(fn: Callable[..., torch.Tensor], cols: list[torch.Tensor], y: torch.Tensor,
          params: torch.Tensor) -> torch.Tensor:
    pred = fn(*cols, *params)
    return torch.mean((pred - y) ** 2) / torch.var(y, unbiased=False).clamp_min(1e-300)


def polish(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray,
           steps: int = 200, deadline: float | None = None) -> tuple[sympy.Expr, float]:
    """Refit every Float constant of ``expr`` by Levenberg-Marquardt on (X (n, d), y (n,)), at most ``steps``
    iterations and none started past ``deadline``; returns (expr, normalized MSE).

    An expression that cannot be evaluated as a real function (a complex constant after a snap, an unsupported
    node) scores ``inf``, so a snap that produces it is rejected.
    """
    try:
        return _polish(expr, symbols, X, y, steps, deadline)
    except (FormulaError, ValueError, TypeError, RuntimeError, OverflowError, ZeroDivisionError):
        return expr, math.inf


def _polish(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray,
            steps: int, deadline: float | None = None) -> tuple[sympy.Expr, float]:
    floats = sorted(expr.atoms(sympy.Float), key=lambda f: sympy.default_sort_key(f))
    cols = [torch.as_tensor(X[:, k], dtype=torch.float64) for k in range(X.shape[1])]
    yt = torch.as_tensor(y, dtype=torch.float64)
    if not floats or steps == 0:
        fn = to_torch(expr, list(symbols))
        with torch.no_grad():
            err = float(_nmse(fn, cols, yt, torch.zeros(0)))
        return expr, err if math.isfinite(err) else math.inf
    params = sympy.symbols(f"_c0:{len(floats)}")
    templ = expr.xreplace(dict(zip(floats, params)))
    fn = to_torch(templ, [*symbols, *params])
    c = torch.tensor([float(f) for f in floats], dtype=torch.float64)
    var = torch.var(yt, unbiased=False).clamp_min(1e-300)

    def residual(theta: torch.Tensor) -> torch.Tensor:
        return fn(*cols, *theta) - yt

    def nmse(r: torch.Tensor) -> float:
        v = float(torch.mean(r**2) / var)
        return v if math.isfinite(v) else math.inf

    start = nmse(residual(c))
    c, best = levenberg_marquardt(residual, lambda theta: jacobian(residual, theta), c, steps, tol=1e-16,
                                  loss_of=nmse, deadline=deadline)
    if not math.isfinite(best) or best > start:
        return expr, start
    return templ.xreplace({p: sympy.Float(float(v)) for p, v in zip(params, c)}), best


def snap_candidates(v: float, stderr: float = 0.0, coverage: float = COVERAGE) -> list[sympy.Expr]:
    """The simple values the data allow for a constant ``v +- stderr``, simplest first: 0 when covered, then
    p/q * b and p/(q * b) for b in 1, pi, e, sqrt(2), sqrt(3), sqrt(pi), sqrt(2 pi) (q <= 12) that lie within
    ``coverage`` standard errors and are not there by chance (:func:`kansci.symbolic.uncertainty.snap_targets`).
    ``stderr`` 0 means exact data (the float64 floor applies): ``snap_candidates(3.14159265358979) == [pi]``."""
    return [t.value for t in snap_targets(v, stderr, coverage)]


def _guard(base: float, n: int, p: int, coverage: float, tol: float) -> float:
    """The most normalized MSE a snap may leave after refitting: the fit may lose what one constant moved by
    ``coverage`` standard errors costs, ``coverage**2 * s**2`` in the sum of squares (s**2 = noise estimate, floored
    as in :mod:`kansci.symbolic.uncertainty`), plus the absolute slack ``tol``."""
    noise_nmse = max(base * n / max(n - p, 1), NOISE_FLOOR**2) if math.isfinite(base) else math.inf
    return base + coverage**2 * noise_nmse / max(n, 1) + tol


def snap_constants(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray, *,
                   tol: float, polish_steps: int = 200, timeout_s: float = 10.0, deadline: float | None = None,
                   coverage: float = COVERAGE) -> tuple[sympy.Expr, float, list[dict]]:
    """Snap constants one at a time with evidence, re-polishing the rest after each accepted snap.

    Each round computes every constant's standard error (:func:`kansci.symbolic.uncertainty.fit_uncertainty`) and
    its snap targets (within ``coverage`` standard errors, not there by chance; simplest first), and tries them,
    simplest and best supported first. A snap is kept when the normalized MSE on (X (n, d), y (n,)), as is or
    after re-polishing the other constants, stays within :func:`_guard`. Returns (expr, normalized MSE, log); the
    log has one entry per snap: the constant, its stderr (None: unidentifiable), the value, the distance in
    standard errors and the normalized MSE after it."""
    expr, base = polish(expr, symbols, X, y, polish_steps, deadline)
    log: list[dict] = []
    rejected: set[tuple[str, str]] = set()
    budget = 8 * (len(expr.atoms(sympy.Float)) + 1)
    while budget > 0 and not expired(deadline) and math.isfinite(base):
        try:
            fit = fit_uncertainty(expr, symbols, X, y)
        except FAILS:
            break
        trials = [(t, f, se) for f, se in zip(fit.floats, fit.stderr) for t in snap_targets(float(f), se, coverage)
                  if (str(f), str(t.value)) not in rejected]
        trials.sort(key=lambda tr: (tr[0].bits, tr[0].sigmas if math.isfinite(tr[0].sigmas) else math.inf))
        limit = _guard(base, len(y), len(fit.floats), coverage, tol)
        accepted = False
        for target, f, se in trials:
            if budget <= 0 or expired(deadline):
                break
            budget -= 1
            trial = expr.xreplace({f: target.value})
            _, err = polish(trial, symbols, X, y, 0)  # as is: most good snaps need no re-polish
            if err > limit:
                trial, err = polish(trial, symbols, X, y, polish_steps // 4, deadline)
            if err <= limit:
                log.append({"constant": float(f), "stderr": float(se) if math.isfinite(se) else None,
                            "snapped_to": str(target.value),
                            "sigmas": target.sigmas if math.isfinite(target.sigmas) else None, "nmse": err})
                expr, base, rejected, accepted = tidy(trial, timeout_s), err, set(), True
                break
            rejected.add((str(f), str(target.value)))
        if not accepted:
            break
    return expr, base, log
