"""Exports of the candidate table: a LaTeX table of several candidates, and a formula as a jax function.

The jax function is built by kansci's one expression walker (:func:`kansci.expr.evaluate.compile_tree`) with an
array backend, never by generating and executing code. The same backend runs on any numpy-like module, which is how
it is tested without jax (numpy and scipy.special give the numbers that :meth:`Formula.__call__` gives).
"""
from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import sympy

from kansci.errors import FormulaError
from kansci.expr.evaluate import compile_tree
from kansci.symbolic.exports import Formula

__all__ = ["array_function", "jax_function", "latex_table"]

_Node = Callable[[tuple], Any]


def _functions(xp: ModuleType, special: ModuleType) -> dict[str, Callable[..., Any]]:
    """kansci's function names (:mod:`kansci.expr.functions`) -> implementations in ``xp`` / ``special``."""
    return {
        "sin": xp.sin, "cos": xp.cos, "tan": xp.tan, "asin": xp.arcsin, "acos": xp.arccos, "atan": xp.arctan,
        "atan2": xp.arctan2, "sinh": xp.sinh, "cosh": xp.cosh, "tanh": xp.tanh, "asinh": xp.arcsinh,
        "acosh": xp.arccosh, "atanh": xp.arctanh, "exp": xp.exp, "log": xp.log, "Abs": xp.abs, "sign": xp.sign,
        "erf": special.erf, "erfc": special.erfc, "loggamma": special.gammaln, "floor": xp.floor,
        "ceiling": xp.ceil, "Max": xp.maximum, "Min": xp.minimum,
        "cot": lambda x: 1.0 / xp.tan(x), "sec": lambda x: 1.0 / xp.cos(x), "csc": lambda x: 1.0 / xp.sin(x),
    }


class _ArrayBackend:
    """Closures over a tuple of ``xp`` arrays (one per input); constants fold to Python floats via ``evalf``."""

    def __init__(self, xp: ModuleType, special: ModuleType) -> None:
        self.xp, self.functions = xp, _functions(xp, special)

    def symbol(self, index: int, name: str) -> _Node:
        return lambda v: v[index]

    def constant(self, node: sympy.Expr) -> _Node:
        try:
            value = complex(node.evalf(30))
        except (TypeError, ValueError) as err:
            raise FormulaError(f"constant {node} cannot be evaluated to a number", "use only real constants") from err
        if value.imag != 0.0 or not math.isfinite(value.real):
            raise FormulaError(f"constant {node} is not a finite real number", "use only real constants")
        return lambda v, c=value.real: c

    def add(self, args: list[_Node]) -> _Node:
        return lambda v: functools.reduce(operator.add, (f(v) for f in args))

    def mul(self, args: list[_Node]) -> _Node:
        return lambda v: functools.reduce(operator.mul, (f(v) for f in args))

    def power(self, base: _Node, exponent: sympy.Expr, exp_node: _Node) -> _Node:
        xp = self.xp
        if exponent.is_Number and float(exponent) == 0.5:
            return lambda v: xp.sqrt(base(v))
        return lambda v: xp.power(base(v), exp_node(v))

    def call(self, function: Any, args: list[_Node]) -> _Node:
        fn = self.functions.get(function.name)
        if fn is None:
            raise FormulaError(f"function {function.name} has no array form", "use another formula")
        if function.arity == 0:  # variadic (Max, Min): reduced pairwise
            return lambda v: functools.reduce(fn, (f(v) for f in args))
        return lambda v: fn(*(f(v) for f in args))


def array_function(formula: Formula, xp: ModuleType, special: ModuleType) -> Callable[[Any], Any]:
    """``fn(X)`` for X (n, d) (columns in ``formula.input_names`` order) -> (n,), computed with ``xp``."""
    node = compile_tree(formula.expr, formula.input_names, _ArrayBackend(xp, special))
    d = len(formula.input_names)

    def fn(X: Any) -> Any:
        X = xp.asarray(X)
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"expected X of shape (n, {d}) for {formula.input_names}, got {X.shape}")
        out = node(tuple(X[:, i] for i in range(d)))
        return xp.broadcast_to(xp.asarray(out, dtype=X.dtype), (X.shape[0],))

    return fn


def jax_function(formula: Formula) -> Callable[[Any], Any]:
    """The formula as a jax function of X (n, d) -> (n,): traceable by ``jax.jit``, ``jax.grad`` and ``jax.vmap``.
    jax computes in float32 unless ``jax.config.update("jax_enable_x64", True)`` was called first."""
    try:
        import jax.numpy as jnp
        import jax.scipy.special as jsp
    except ImportError:
        raise ImportError("jax is not installed; install it (pip install jax) to export formulas to jax, or use "
                          "formula.torch() or formula.numpy() instead") from None
    return array_function(formula, jnp, jsp)


def _number(value: float, digits: int) -> str:
    """A float for LaTeX math: ``1.23 \\cdot 10^{-4}``."""
    if not math.isfinite(value):
        return r"\infty" if value > 0 else ("-\\infty" if value < 0 else r"\mathrm{NaN}")
    mantissa, _, exp = f"{value:.{digits}g}".partition("e")
    return mantissa if not exp else rf"{mantissa} \cdot 10^{{{int(exp)}}}"


def latex_table(formulas: Sequence[Formula], rows: Sequence[dict[str, Any]], indices: Sequence[int],
                precision: int = 3) -> str:
    """A booktabs LaTeX table (``\\usepackage{booktabs}``): one line per index, with the equation (constants to
    ``precision`` significant digits), its complexity and its training and validation losses."""
    lines = [r"\begin{tabular}{@{}rlrrr@{}}", r"\toprule",
             r"& Equation & Complexity & Train loss & Validation loss \\", r"\midrule"]
    for k in indices:
        f, row = formulas[k], rows[k]
        rounded = f.expr.xreplace({c: sympy.Float(c, precision) for c in f.expr.atoms(sympy.Float)})
        lhs = sympy.latex(sympy.Symbol(f.target))
        lines.append(f"{k} & ${lhs} = {sympy.latex(rounded)}$ & {int(row['complexity'])} & "
                     f"${_number(row['train_loss'], precision)}$ & ${_number(row['val_loss'], precision)}$ \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
