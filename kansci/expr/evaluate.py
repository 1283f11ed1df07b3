"""Evaluate a sympy expression with numpy or torch: one tree walker, one function table, no ``eval``/``lambdify``.

:func:`compile_tree` walks the expression once and hands every node to a backend, which turns it into something
evaluable: a closure over numpy arrays (:func:`to_numpy`), a closure over tensors (:func:`to_torch`) or Python
source (:mod:`kansci.expr.export`). Symbols are matched to the inputs by name. The functions come from
:data:`kansci.expr.functions.FUNCTIONS`; a node outside it (``Piecewise``, a relational, an unknown function), a
symbol that is not an input, or (torch) a non-real constant raises :class:`~kansci.errors.FormulaError` when the
expression is compiled, never when it is called.

The backends differ only where their callers need them to:

- numpy evaluates constant subtrees with the same float64 operations as everything else (at compile time), and
  takes ``x**0.5`` as ``sqrt(x)`` and ``x**-1`` as ``1/x``; invalid operations give NaN/inf without warnings. The
  exported ``formula.py`` runs exactly these operations, so it returns the same bits.
- torch folds constant subtrees to Python floats through sympy's ``evalf`` (so they take the dtype of the tensors
  they meet) and has fast paths for integer and half-integer powers; the result is differentiable with autograd
  wherever the torch functions are. torch is imported only here, when a torch function is compiled.
"""
from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import sympy

from kansci.errors import FormulaError
from kansci.expr.functions import FUNCTIONS, Function, supported_names

__all__ = ["Backend", "Constant", "NumpyBackend", "compile_tree", "to_numpy", "to_torch"]

N = TypeVar("N")


class Backend(Protocol[N]):
    """What :func:`compile_tree` needs from a backend; ``N`` is its compiled node."""

    def symbol(self, index: int, name: str) -> N: ...
    def constant(self, node: sympy.Expr) -> N | None: ...  # a symbol-free node; None: compile it node by node
    def add(self, args: list[N]) -> N: ...
    def mul(self, args: list[N]) -> N: ...
    def power(self, base: N, exponent: sympy.Expr, exp_node: N) -> N: ...
    def call(self, function: Function, args: list[N]) -> N: ...


def _as_expr(expr: Any) -> sympy.Basic:
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        return sympy.Float(expr) if isinstance(expr, float) else sympy.Integer(expr)
    if not isinstance(expr, sympy.Basic):
        raise TypeError(f"expected a sympy expression, got {type(expr).__name__} (parse text with parse_formula)")
    return expr


def _index(symbols: Sequence[sympy.Symbol | str]) -> dict[str, int]:
    names = [s if isinstance(s, str) else s.name for s in symbols]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate symbols in {list(symbols)}")
    return {n: i for i, n in enumerate(names)}


def compile_tree(expr: sympy.Expr, symbols: Sequence[sympy.Symbol | str], backend: Backend[N]) -> N:
    """Translate ``expr`` into the backend's node; a symbol is input ``i`` when its name is that of ``symbols[i]``."""
    index = _index(symbols)

    def walk(node: sympy.Basic) -> N:
        if isinstance(node, sympy.Symbol):
            if node.name not in index:
                raise FormulaError(f"symbol {node} is not one of the inputs {sorted(index)}",
                                   "pass every free symbol of the expression in `symbols`")
            return backend.symbol(index[node.name], node.name)
        if not node.free_symbols:
            folded = backend.constant(node)
            if folded is not None:
                return folded
        function = FUNCTIONS.get(node.func)
        known = isinstance(node, (sympy.Add, sympy.Mul, sympy.Pow)) or (
            function is not None and (function.arity == 0 or len(node.args) == function.arity))
        if not known:
            raise FormulaError(f"'{node.func.__name__}' in {node} cannot be evaluated",
                               f"use only + - * / ** and {', '.join(supported_names())}")
        args = [walk(a) for a in node.args]
        if isinstance(node, sympy.Add):
            return backend.add(args)
        if isinstance(node, sympy.Mul):
            return backend.mul(args)
        if isinstance(node, sympy.Pow):
            return backend.power(args[0], node.args[1], args[1])
        assert function is not None
        return backend.call(function, args)

    return walk(_as_expr(expr))


# ------------------------------------------------------------------------------------------------------- numpy
_Cols = tuple[np.ndarray, ...]
_NumpyNode = Callable[[_Cols], Any]


class Constant:
    """A numpy node whose value is known at compile time (``value``: a float, np.float64 or 0-d array)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, v: _Cols) -> Any:
        return self.value


class NumpyBackend:
    """Closures over the input columns. A node whose arguments are all :class:`Constant` is evaluated at once, by the
    same numpy operation it would run at call time, so folding changes no bit."""

    def symbol(self, index: int, name: str) -> _NumpyNode:
        return lambda v: v[index]

    def constant(self, node: sympy.Expr) -> Constant | None:
        """Numbers (and pi, E) become floats; other constant subtrees are compiled, then folded by :meth:`_fold`."""
        if not (node.is_Number or node.is_NumberSymbol):
            return None
        try:
            return Constant(float(node))
        except TypeError as err:  # zoo, complex numbers
            raise FormulaError(f"constant {node} is not a real number", "use only real constants") from err

    @staticmethod
    def _fold(fn: _NumpyNode, args: Sequence[_NumpyNode]) -> _NumpyNode:
        if all(isinstance(a, Constant) for a in args):
            with np.errstate(all="ignore"):
                return Constant(fn(()))
        return fn

    def add(self, args: list[_NumpyNode]) -> _NumpyNode:
        return self._fold(lambda v: functools.reduce(np.add, (f(v) for f in args)), args)

    def mul(self, args: list[_NumpyNode]) -> _NumpyNode:
        return self._fold(lambda v: functools.reduce(np.multiply, (f(v) for f in args)), args)

    def power(self, base: _NumpyNode, exponent: sympy.Expr, exp_node: _NumpyNode) -> _NumpyNode:
        if not isinstance(exp_node, Constant):
            return lambda v: np.power(base(v), exp_node(v))
        e = exp_node.value
        if isinstance(e, float) and e == 0.5:
            return self._fold(lambda v: np.sqrt(base(v)), [base])
        if isinstance(e, float) and e == -1.0:
            return self._fold(lambda v: np.divide(1.0, base(v)), [base])
        return self._fold(lambda v: np.power(base(v), e), [base])

    def call(self, function: Function, args: list[_NumpyNode]) -> _NumpyNode:
        fn = function.numpy
        if function.arity == 0:
            return self._fold(lambda v: functools.reduce(fn, (f(v) for f in args)), args)
        return self._fold(lambda v: fn(*(f(v) for f in args)), args)


def to_numpy(expr: sympy.Expr, symbols: Sequence[sympy.Symbol | str]) -> Callable[[np.ndarray], np.ndarray]:
    """Compile ``expr`` into ``fn(X)``: X (n, d) float64, column ``i`` bound to the symbol named like ``symbols[i]``;
    returns (n,) float64 (a constant expression is broadcast). Invalid operations give NaN/inf, without warnings."""
    node = compile_tree(expr, symbols, NumpyBackend())
    d = len(symbols)

    def fn(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"expected X of shape (n, {d}) for {list(symbols)}, got {X.shape}")
        with np.errstate(all="ignore"):
            values = node(tuple(X[:, i] for i in range(d)))
        return np.broadcast_to(np.asarray(values, dtype=np.float64), (X.shape[0],)).copy()

    return fn


# ------------------------------------------------------------------------------------------------------- torch
class _TorchBackend:
    """Closures over a tuple of tensors; constant subtrees fold to Python floats through ``evalf``."""

    def __init__(self) -> None:
        import torch  # only the torch evaluator needs torch

        self.torch = torch

    def symbol(self, index: int, name: str) -> Callable[[tuple], Any]:
        return lambda v: v[index]

    def constant(self, node: sympy.Expr) -> Callable[[tuple], float]:
        value = _real_constant(node)
        return lambda v: value

    def add(self, args: list[Callable]) -> Callable:
        return lambda v: functools.reduce(operator.add, (f(v) for f in args))

    def mul(self, args: list[Callable]) -> Callable:
        return lambda v: functools.reduce(operator.mul, (f(v) for f in args))

    def power(self, base: Callable, exponent: sympy.Expr, exp_node: Callable) -> Callable:
        """Pow with fast paths for the common numeric exponents."""
        T = self.torch
        if not exponent.is_Number:
            return lambda v: T.pow(base(v), exp_node(v))
        e = _real_constant(exponent)
        if e == 0.5:
            return lambda v: T.sqrt(base(v))
        if e == -0.5:
            return lambda v: T.rsqrt(base(v))
        if e == -1.0:
            return lambda v: T.reciprocal(base(v))
        if e == 2.0:
            return lambda v: T.square(base(v))
        if e.is_integer() and e < 0:  # reciprocal of a positive power: much faster than pow(x, -n) on CPU
            n = int(-e)
            return lambda v: T.reciprocal(T.pow(base(v), n))
        if e.is_integer():
            k = int(e)
            return lambda v: T.pow(base(v), k)
        if (2 * e).is_integer() and abs(e) < 8:  # half-integer powers via sqrt (pow(x, 1.5) is slow on CPU)
            h = int(2 * abs(e))
            if e > 0:
                return lambda v: T.pow(T.sqrt(base(v)), h)
            return lambda v: T.reciprocal(T.pow(T.sqrt(base(v)), h))
        return lambda v: T.pow(base(v), e)

    def call(self, function: Function, args: list[Callable]) -> Callable:
        fn = function.torch(self.torch)
        if function.arity == 1:
            (arg,) = args
            return lambda v: fn(arg(v))
        both = self._both
        if function.arity == 2:
            first, second = args
            return lambda v: fn(*both(first(v), second(v)))
        return lambda v: functools.reduce(lambda p, q: fn(*both(p, q)), (f(v) for f in args))

    def _both(self, p: Any, q: Any) -> tuple[Any, Any]:
        """Both operands as tensors (a folded constant takes the other one's dtype and device)."""
        like = p if isinstance(p, self.torch.Tensor) else q
        return self._as_tensor(p, like), self._as_tensor(q, like)

    def _as_tensor(self, v: Any, like: Any) -> Any:
        return v if isinstance(v, self.torch.Tensor) else self.torch.full((), v, dtype=like.dtype, device=like.device)


def _real_constant(node: sympy.Expr) -> float:
    """Fold a symbol-free subtree to a real Python float, or raise FormulaError."""
    try:
        value = complex(node.evalf(30))
    except (TypeError, ValueError) as err:
        raise FormulaError(f"constant {node} cannot be evaluated to a number", "use only real, finite constants"
                           ) from err
    if value.imag != 0.0 or not math.isfinite(value.real):
        raise FormulaError(f"constant {node} is not a finite real number", "use only real, finite constants")
    return value.real


def to_torch(expr: sympy.Expr, symbols: Sequence[sympy.Symbol | str]) -> Callable[..., Any]:
    """Compile ``expr`` into a torch function of one tensor per symbol (in ``symbols`` order).

    Returns:
        ``fn(*tensors) -> Tensor``. Each argument is a tensor (or anything ``torch.as_tensor`` accepts; integer
        tensors become the default float dtype); they broadcast together and the result has the broadcast shape,
        dtype and device. With no symbols the result is a 0-d tensor of the default dtype.

    Raises:
        FormulaError: a node without torch form, a non-real constant, or a free symbol missing from ``symbols``.
    """
    backend = _TorchBackend()
    T = backend.torch
    compiled = compile_tree(expr, symbols, backend)
    n_args = len(symbols)

    def fn(*inputs: Any) -> Any:
        if len(inputs) != n_args:
            raise TypeError(f"expected {n_args} tensors ({list(symbols)}), got {len(inputs)}")
        tensors = tuple(_float_tensor(T, t) for t in inputs)
        like = tensors[0] if tensors else T.zeros(())
        out = backend._as_tensor(compiled(tensors), like)
        if n_args == 1:
            shape = like.shape
        else:
            shape = T.broadcast_shapes(*(t.shape for t in tensors)) if tensors else T.Size()
        if out.shape != shape:  # the expression ignores some inputs (or is constant)
            out = T.broadcast_to(out, shape).clone()
        return out

    return fn


def _float_tensor(T: Any, t: Any) -> Any:
    t = T.as_tensor(t)
    return t if t.is_floating_point() else t.to(T.get_default_dtype())
