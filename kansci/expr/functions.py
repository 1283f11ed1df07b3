"""The one table of the functions a formula may contain, with everything needed to evaluate or export each.

Every entry of :data:`FUNCTIONS` (keyed by the sympy function class) carries

- ``numpy``: an implementation on float64 arrays (used by :func:`kansci.expr.evaluate.to_numpy`);
- ``torch``: a function of the torch module returning the torch implementation, so that torch is imported only by
  the torch evaluator (``lambda T: T.special.erf``);
- ``source``: the Python source of a call in the generated stand-alone ``formula.py`` (numpy and the standard library
  only), with ``{np}``/``{math}`` for the module names and ``{0}``, ``{1}`` for the arguments, plus the module-level
  ``helper`` definition of ``{h}`` it needs, if any (``erf`` is ``math.erf`` vectorised, so no scipy).

``parse`` marks the functions the safe parser (:mod:`kansci.expr.text`) reads by name; the others (``cot``, ``sec``,
``Max``, ...) can only come out of sympy's own rewriting (``simplify``), and are evaluated all the same. Powers and
``sqrt`` are ``sympy.Pow`` nodes, handled by the evaluator itself, not listed here.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import sympy

__all__ = ["Function", "FUNCTIONS", "by_name", "supported_names"]


@dataclass(frozen=True)
class Function:
    """One supported function.

    Attributes:
        name: its name in formula text (sympy's printed name, e.g. ``"Abs"``, ``"atan2"``).
        sympy: the sympy function class.
        arity: number of arguments; 0 for variadic functions (``Max``, ``Min``), reduced pairwise.
        numpy: elementwise implementation on float64 arrays (and Python floats).
        torch: ``torch module -> implementation`` on tensors.
        source: Python source template of a call (``"{np}.sin({0})"``; ``{h}`` is the helper's name).
        helper: module-level definition of ``{h}`` that ``source`` needs (``""`` if none).
        parse: readable by the safe formula parser under ``name``.
    """

    name: str
    sympy: type
    arity: int
    numpy: Callable[..., Any]
    torch: Callable[[ModuleType], Callable[..., Any]]
    source: str
    helper: str = ""
    parse: bool = True


def _vectorised(fn: Callable[[float], float]) -> Callable[[Any], np.ndarray]:
    return np.vectorize(fn, otypes=[np.float64])


_erf = _vectorised(math.erf)
_erfc = _vectorised(math.erfc)
_lgamma = _vectorised(math.lgamma)


def _unary(name: str, fn: type, np_fn: Callable[..., Any], torch_fn: Callable[[ModuleType], Callable[..., Any]],
           source: str, helper: str = "", parse: bool = True) -> Function:
    return Function(name, fn, 1, np_fn, torch_fn, source, helper, parse)


_TABLE: tuple[Function, ...] = (
    _unary("sin", sympy.sin, np.sin, lambda T: T.sin, "{np}.sin({0})"),
    _unary("cos", sympy.cos, np.cos, lambda T: T.cos, "{np}.cos({0})"),
    _unary("tan", sympy.tan, np.tan, lambda T: T.tan, "{np}.tan({0})"),
    _unary("asin", sympy.asin, np.arcsin, lambda T: T.asin, "{np}.arcsin({0})"),
    _unary("acos", sympy.acos, np.arccos, lambda T: T.acos, "{np}.arccos({0})"),
    _unary("atan", sympy.atan, np.arctan, lambda T: T.atan, "{np}.arctan({0})"),
    Function("atan2", sympy.atan2, 2, np.arctan2, lambda T: T.atan2, "{np}.arctan2({0}, {1})"),
    _unary("sinh", sympy.sinh, np.sinh, lambda T: T.sinh, "{np}.sinh({0})"),
    _unary("cosh", sympy.cosh, np.cosh, lambda T: T.cosh, "{np}.cosh({0})"),
    _unary("tanh", sympy.tanh, np.tanh, lambda T: T.tanh, "{np}.tanh({0})"),
    _unary("asinh", sympy.asinh, np.arcsinh, lambda T: T.asinh, "{np}.arcsinh({0})"),
    _unary("acosh", sympy.acosh, np.arccosh, lambda T: T.acosh, "{np}.arccosh({0})"),
    _unary("atanh", sympy.atanh, np.arctanh, lambda T: T.atanh, "{np}.arctanh({0})"),
    _unary("exp", sympy.exp, np.exp, lambda T: T.exp, "{np}.exp({0})"),
    _unary("log", sympy.log, np.log, lambda T: T.log, "{np}.log({0})"),
    _unary("Abs", sympy.Abs, np.abs, lambda T: T.abs, "{np}.abs({0})"),
    _unary("sign", sympy.sign, np.sign, lambda T: T.sign, "{np}.sign({0})"),
    _unary("erf", sympy.erf, _erf, lambda T: T.special.erf, "{h}({0})",
           "{h} = {np}.vectorize({math}.erf, otypes=[{np}.float64])"),
    # produced by sympy's rewriting only (the parser does not read these names)
    _unary("cot", sympy.cot, lambda x: 1.0 / np.tan(x), lambda T: lambda t: 1.0 / T.tan(t), "(1.0 / {np}.tan({0}))",
           parse=False),
    _unary("sec", sympy.sec, lambda x: 1.0 / np.cos(x), lambda T: lambda t: 1.0 / T.cos(t), "(1.0 / {np}.cos({0}))",
           parse=False),
    _unary("csc", sympy.csc, lambda x: 1.0 / np.sin(x), lambda T: lambda t: 1.0 / T.sin(t), "(1.0 / {np}.sin({0}))",
           parse=False),
    _unary("erfc", sympy.erfc, _erfc, lambda T: T.special.erfc, "{h}({0})",
           "{h} = {np}.vectorize({math}.erfc, otypes=[{np}.float64])", parse=False),
    _unary("floor", sympy.floor, np.floor, lambda T: T.floor, "{np}.floor({0})", parse=False),
    _unary("ceiling", sympy.ceiling, np.ceil, lambda T: T.ceil, "{np}.ceil({0})", parse=False),
    _unary("loggamma", sympy.loggamma, _lgamma, lambda T: T.lgamma, "{h}({0})",
           "{h} = {np}.vectorize({math}.lgamma, otypes=[{np}.float64])", parse=False),
    Function("Max", sympy.Max, 0, np.maximum, lambda T: T.maximum, "{np}.maximum({0}, {1})", parse=False),
    Function("Min", sympy.Min, 0, np.minimum, lambda T: T.minimum, "{np}.minimum({0}, {1})", parse=False),
)

#: sympy function class -> :class:`Function`.
FUNCTIONS: dict[type, Function] = {f.sympy: f for f in _TABLE}


def by_name(name: str) -> Function:
    """The entry named ``name`` (KeyError if none)."""
    for f in _TABLE:
        if f.name == name:
            return f
    raise KeyError(name)


def supported_names() -> tuple[str, ...]:
    """Names of all supported functions, sorted (for error hints and docs)."""
    return tuple(sorted(f.name for f in _TABLE))
