"""Evaluate a sympy expression with torch operations.

``sympy_to_torch(expr, symbols)`` walks the expression tree once and returns a callable that takes one tensor per
symbol (in ``symbols`` order) and returns a tensor. Inputs broadcast against each other; the result has their
broadcast shape, dtype and device (integer inputs are promoted to the default float dtype). Constant subtrees
(``pi/2``, ``sin(1)``, ``Rational(1, 3)``) are folded to Python floats at compile time, so they take the dtype of
the tensors they meet. A node with no torch counterpart (``Piecewise``, a relational, an unknown function) or a
non-real constant raises :class:`~kansci.errors.FormulaError` at compile time, never at call time.

No ``eval``/``lambdify`` is involved: the callable is a tree of closures over torch functions. It is differentiable
with autograd wherever the torch functions are.
"""
from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence

import sympy
import torch

from kansci.errors import FormulaError

__all__ = ["sympy_to_torch", "SUPPORTED_FUNCTIONS"]

# A compiled node maps the tuple of input tensors to a tensor or a Python float (folded constants only).
_Node = Callable[[tuple[torch.Tensor, ...]], "torch.Tensor | float"]

_UNARY: dict[type, Callable[[torch.Tensor], torch.Tensor]] = {
    sympy.sin: torch.sin,
    sympy.cos: torch.cos,
    sympy.tan: torch.tan,
    sympy.cot: lambda t: 1.0 / torch.tan(t),
    sympy.sec: lambda t: 1.0 / torch.cos(t),
    sympy.csc: lambda t: 1.0 / torch.sin(t),
    sympy.asin: torch.asin,
    sympy.acos: torch.acos,
    sympy.atan: torch.atan,
    sympy.sinh: torch.sinh,
    sympy.cosh: torch.cosh,
    sympy.tanh: torch.tanh,
    sympy.asinh: torch.asinh,
    sympy.acosh: torch.acosh,
    sympy.atanh: torch.atanh,
    sympy.exp: torch.exp,
    sympy.log: torch.log,
    sympy.Abs: torch.abs,
    sympy.sign: torch.sign,
    sympy.erf: torch.special.erf,
    sympy.erfc: torch.special.erfc,
    sympy.floor: torch.floor,
    sympy.ceiling: torch.ceil,
    sympy.loggamma: torch.lgamma,
}
_BINARY: dict[type, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    sympy.atan2: torch.atan2,
}
_VARIADIC: dict[type, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    sympy.Max: torch.maximum,
    sympy.Min: torch.minimum,
}

#: Names of the sympy functions the converter understands (for error hints and docs).
SUPPORTED_FUNCTIONS: tuple[str, ...] = tuple(
    sorted(f.__name__ for f in (*_UNARY, *_BINARY, *_VARIADIC))
)


def _as_tensor(v: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.full((), v, dtype=like.dtype, device=like.device)


def _constant(node: sympy.Expr) -> float:
    """Fold a symbol-free subtree to a real Python float, or raise FormulaError."""
    try:
        value = complex(node.evalf(30))
    except (TypeError, ValueError) as err:
        raise FormulaError(
            f"constant {node} cannot be evaluated to a number", "use only real, finite constants"
        ) from err
    if value.imag != 0.0 or not math.isfinite(value.real):
        raise FormulaError(f"constant {node} is not a finite real number", "use only real, finite constants")
    return value.real


def _pow(base: _Node, exponent: sympy.Expr, exp_node: _Node) -> _Node:
    """Pow with fast paths for the common numeric exponents."""
    if exponent.is_Number:
        e = _constant(exponent)
        if e == 0.5:
            return lambda v: torch.sqrt(base(v))
        if e == -0.5:
            return lambda v: torch.rsqrt(base(v))
        if e == -1.0:
            return lambda v: torch.reciprocal(base(v))
        if e == 2.0:
            return lambda v: torch.square(base(v))
        if e.is_integer() and e < 0:  # reciprocal of a positive power: much faster than pow(x, -n) on CPU
            n = int(-e)
            return lambda v: torch.reciprocal(torch.pow(base(v), n))
        if e.is_integer():
            k = int(e)
            return lambda v: torch.pow(base(v), k)
        if (2 * e).is_integer() and abs(e) < 8:  # half-integer powers via sqrt (pow(x, 1.5) is slow on CPU)
            h = int(2 * abs(e))
            if e > 0:
                return lambda v: torch.pow(torch.sqrt(base(v)), h)
            return lambda v: torch.reciprocal(torch.pow(torch.sqrt(base(v)), h))
        return lambda v: torch.pow(base(v), e)
    return lambda v: torch.pow(base(v), exp_node(v))


def _compile(node: sympy.Expr, index: dict[sympy.Symbol, int]) -> _Node:
    """Translate one sympy node (recursively) into a closure over the input tuple."""
    if not node.free_symbols:
        value = _constant(node)
        return lambda v: value
    if isinstance(node, sympy.Symbol):
        if node not in index:
            raise FormulaError(
                f"symbol {node} is not one of the inputs {sorted(map(str, index))}",
                "pass every free symbol of the expression in `symbols`",
            )
        i = index[node]
        return lambda v: v[i]
    func = node.func
    known = isinstance(node, (sympy.Add, sympy.Mul, sympy.Pow)) or func in _VARIADIC
    if not (known or (func in _UNARY and len(node.args) == 1) or (func in _BINARY and len(node.args) == 2)):
        raise FormulaError(
            f"'{func.__name__}' in {node} has no torch equivalent",
            f"use only + - * / ** and {', '.join(SUPPORTED_FUNCTIONS)}",
        )
    args = [_compile(a, index) for a in node.args]
    if isinstance(node, sympy.Add):
        return lambda v: functools.reduce(operator.add, (f(v) for f in args))
    if isinstance(node, sympy.Mul):
        return lambda v: functools.reduce(operator.mul, (f(v) for f in args))
    if isinstance(node, sympy.Pow):
        return _pow(args[0], node.args[1], args[1])
    if func in _UNARY:
        fn, (arg,) = _UNARY[func], args
        return lambda v: fn(arg(v))
    if func in _BINARY:
        fn2, (first, second) = _BINARY[func], args
        return lambda v: fn2(*_both(first(v), second(v)))
    fnv = _VARIADIC[func]
    return lambda v: functools.reduce(lambda p, q: fnv(*_both(p, q)), (f(v) for f in args))


def _both(p: torch.Tensor | float, q: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    like = p if isinstance(p, torch.Tensor) else q
    assert isinstance(like, torch.Tensor)
    return _as_tensor(p, like), _as_tensor(q, like)


def sympy_to_torch(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> Callable[..., torch.Tensor]:
    """Compile ``expr`` into a torch function of the tensors bound to ``symbols`` (in that order).

    Args:
        expr: a real-valued sympy expression whose free symbols are all in ``symbols``.
        symbols: the argument order of the returned function.

    Returns:
        ``fn(*tensors) -> Tensor``. Each argument is a tensor (or anything ``torch.as_tensor`` accepts); they
        broadcast together and the result has the broadcast shape, dtype and device. With no arguments the result
        is a 0-d tensor of the default dtype.

    Raises:
        FormulaError: the expression uses a node without torch equivalent, a non-real constant, or a free symbol
            missing from ``symbols``.
    """
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = sympy.Float(expr) if isinstance(expr, float) else sympy.Integer(expr)
    if not isinstance(expr, sympy.Basic):
        raise TypeError(f"expected a sympy expression, got {type(expr).__name__} (parse text with parse_formula)")
    index = {s: i for i, s in enumerate(symbols)}
    if len(index) != len(symbols):
        raise ValueError(f"duplicate symbols in {list(symbols)}")
    compiled = _compile(expr, index)
    n_args = len(index)

    def fn(*inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != n_args:
            raise TypeError(f"expected {n_args} tensors ({list(symbols)}), got {len(inputs)}")
        tensors = tuple(_float_tensor(t) for t in inputs)
        like = tensors[0] if tensors else torch.zeros(())
        out = _as_tensor(compiled(tensors), like)
        if n_args == 1:
            shape = like.shape
        else:
            shape = torch.broadcast_shapes(*(t.shape for t in tensors)) if tensors else torch.Size()
        if out.shape != shape:  # the expression ignores some inputs (or is constant)
            out = torch.broadcast_to(out, shape).clone()
        return out

    return fn


def _float_tensor(t: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())
