"""From an all-symbolic KAN to a closed-form formula in the data's own variables and units.

1. :func:`assemble` walks the network: edge ``c * f(a * u + b) + d``, sum nodes add, multiplication nodes multiply
   (any arity). Inputs enter as ``u_i = (x_i - shift_i) / scale_i`` and the output leaves as
   ``y = scale_y * out + shift_y``, so the expression is in CSV units.
2. :func:`tidy` rewrites it into a form whose constants mean something (logs and powers expanded, exponentials
   combined), under a time limit.
3. :func:`snap_constants` tries, constant by constant, 0, integers, small rationals and rational multiples of pi
   and e; a snap is kept only if, after re-polishing the remaining constants (:func:`polish`), the normalized MSE on
   the training rows passes the AIC rule (one constant fewer may cost at most a factor ``exp(2/n)``) plus an
   absolute slack ``tol``. Everything else is polished by Levenberg-Marquardt (:mod:`kansci.symbolic.lm`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
import sympy
import torch

from kansci.budget import expired, time_limit
from kansci.core.model import KAN
from kansci.errors import FormulaError
from kansci.expr.evaluate import to_torch
from kansci.symbolic.lm import jacobian, levenberg_marquardt


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
            coeffs = [t.as_coeff_Mul()[0] for t in node.base.args if not t.is_Number]
            if coeffs:
                k = max(coeffs, key=lambda c: abs(float(c)))
                k = abs(k)
                if k != 0 and k != 1:
                    return k**node.exp * sympy.Pow(sympy.expand(node.base / k), node.exp)
        return node

    return expr.replace(lambda n: isinstance(n, sympy.Pow), rewrite)


def tidy(expr: sympy.Expr, timeout_s: float = 10.0) -> sympy.Expr:
    """Expand logs and powers of products, pull constants out of fractional powers, combine exponentials;
    bounded by ``timeout_s``."""
    out = expr
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
    """A last ``simplify`` for display, kept only if it is not longer; bounded by ``timeout_s``."""
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


_BASES = (sympy.Integer(1), sympy.pi, sympy.E, sympy.sqrt(2), sympy.sqrt(3), sympy.sqrt(sympy.pi),
          sympy.sqrt(2 * sympy.pi))


def snap_candidates(v: float) -> list[sympy.Expr]:
    """Nice numbers near ``v``: 0 and the nearest integer first, then p/q * b and p/(q * b) for b in 1, pi, e,
    sqrt(2), sqrt(3), sqrt(pi), sqrt(2 pi) (q <= 12), closest first."""
    if v == 0 or not math.isfinite(v):
        return [sympy.Integer(0)]
    # Constants far from 1 are snapped by their mantissa: v = m * 10**k, so 3.0000000029e12 -> 3*10**12.
    k = math.floor(math.log10(abs(v))) if not 0.01 <= abs(v) < 100 else 0
    scale, m = sympy.Integer(10) ** k, v / 10.0**k
    out: list[sympy.Expr] = [sympy.Integer(0), sympy.Integer(round(m)) * scale]
    near = []
    for base in _BASES:
        for mult in (True, False):
            r = Fraction(m / float(base) if mult else m * float(base)).limit_denominator(12)
            if r == 0:
                continue
            cand = sympy.Rational(r.numerator, r.denominator) * (base if mult else 1 / base)
            err = abs(float(cand) - m)
            if err <= 0.02 * max(1.0, abs(m)):
                near.append((err, sympy.count_ops(cand), cand * scale))
    out += [c for _, _, c in sorted(near, key=lambda t: (t[0], t[1]))]
    return [c for i, c in enumerate(out) if c not in out[:i]]


def snap_constants(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], X: np.ndarray, y: np.ndarray, *,
                   tol: float, polish_steps: int = 200, timeout_s: float = 10.0,
                   deadline: float | None = None) -> tuple[sympy.Expr, float, list[dict]]:
    """Snap constants one at a time (largest effect first), re-polishing the rest after each accepted snap."""
    expr, base = polish(expr, symbols, X, y, polish_steps, deadline)
    aic = math.exp(2.0 / max(len(y), 1))  # AIC: one constant fewer is worth a factor exp(2/n) in MSE
    log: list[dict] = []
    tried: set[str] = set()
    budget = 8 * (len(expr.atoms(sympy.Float)) + 1)
    while budget > 0 and not expired(deadline):
        budget -= 1
        floats = [f for f in sorted(expr.atoms(sympy.Float), key=lambda f: -abs(float(f))) if str(f) not in tried]
        if not floats:
            break
        f = floats[0]
        tried.add(str(f))
        for cand in snap_candidates(float(f)):
            if expired(deadline):
                break
            trial = expr.xreplace({f: cand})
            _, err = polish(trial, symbols, X, y, 0)  # as is: most good snaps need no re-polish
            if err > base * aic + tol:
                # dropping a term (cand 0) may be rescued by the other constants at any scale; other snaps only
                # when they are within 5 %
                if cand != 0 and abs(float(cand) - float(f)) > 0.05 * abs(float(f)):
                    continue  # too far to be rescued by the other constants
                trial, err = polish(trial, symbols, X, y, polish_steps // 4, deadline)
            if err <= base * aic + tol:
                trial = tidy(trial, timeout_s)
                log.append({"constant": float(f), "snapped_to": str(cand), "nmse": err})
                expr, base, tried = trial, err, set()
                break
    return expr, base, log
