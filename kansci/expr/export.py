"""Write an expression out: as formula text the parser reads back exactly (:func:`to_text`), and as the source of a
stand-alone Python module that needs only numpy (:func:`to_source`, the run directory's ``formula.py``).

The module's source is produced by the same tree walk as :func:`kansci.expr.evaluate.to_numpy` and runs the same
numpy operations in the same order, with the constants it folded written at full precision, so it returns the same
float64 bits as ``to_numpy`` does.
"""
from __future__ import annotations

import keyword
from collections.abc import Callable, Sequence
from typing import Any

import sympy
from sympy.printing.str import StrPrinter

from kansci.errors import FormulaError
from kansci.expr.evaluate import Constant, NumpyBackend, compile_tree
from kansci.expr.functions import FUNCTIONS, Function

__all__ = ["to_source", "to_text"]


# --------------------------------------------------------------------------------------------------------- text
class _ExactPrinter(StrPrinter):
    """sympy's ``str`` notation with every float as the shortest text of its float64 value."""

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))


_REWRITES: dict[type, Callable[[sympy.Expr], sympy.Expr]] = {
    sympy.cot: lambda a: 1 / sympy.tan(a), sympy.sec: lambda a: 1 / sympy.cos(a),
    sympy.csc: lambda a: 1 / sympy.sin(a), sympy.erfc: lambda a: 1 - sympy.erf(a),
}
_PARSED = frozenset(f.sympy for f in FUNCTIONS.values() if f.parse)
_NAMES = ", ".join(sorted({f.name for f in FUNCTIONS.values() if f.parse} | {"sqrt"}))


def to_text(expr: sympy.Expr) -> str:
    """``expr`` as formula text that ``parse_formula(text, float64=True)`` reads back to the same expression: sympy's
    notation, with every float written as the shortest text of its float64 value (``0.30000000000000004``).

    ``cot``, ``sec``, ``csc`` and ``erfc`` (which only sympy's rewriting produces) are written as ``1/tan``,
    ``1/cos``, ``1/sin`` and ``1 - erf``: the same values, not the same tree.

    Raises:
        FormulaError: a node the parser has no name for (``Max``, ``floor``, ...) or a constant that is not a finite
            real number (``I``, ``oo``, a non-finite float).
    """
    for func, rewrite in _REWRITES.items():
        if expr.has(func):
            expr = expr.replace(func, rewrite)
    for node in sympy.preorder_traversal(expr):
        if node.is_Atom:
            finite = not node.is_Float or abs(float(node)) < float("inf")  # NaN fails too
            if not (node.is_Symbol or node.is_Rational or node.is_Float or node in (sympy.pi, sympy.E)) or not finite:
                raise FormulaError(f"constant {node} in a formula is not a finite real number",
                                   "formulas must be real-valued and finite")
        elif not (node.is_Add or node.is_Mul or node.is_Pow or node.func in _PARSED):
            raise FormulaError(f"'{node.func.__name__}' in {node} cannot be written as formula text",
                               f"formulas may use + - * / ** and {_NAMES}")
    return _ExactPrinter().doprint(expr)


# ------------------------------------------------------------------------------------------------------- source
class _Source:
    """A node of the generated source: its text, and the numpy node it mirrors (whose constants it writes)."""

    __slots__ = ("text", "node")

    def __init__(self, text: str, node: Any) -> None:
        self.text, self.node = text, node


class _SourceBackend:
    """Python source that runs :class:`NumpyBackend`'s operations; ``np``/``math``: the modules' names in it."""

    def __init__(self, np_name: str, math_name: str, helper_name: Callable[[Function], str]) -> None:
        self.numpy = NumpyBackend()
        self.np, self.math, self.helper_name = np_name, math_name, helper_name
        self.helpers: dict[str, str] = {}  # name -> definition

    def _out(self, text: str, node: Any) -> _Source:
        if isinstance(node, Constant):
            value = float(node.value)
            text = repr(value) if abs(value) < float("inf") else f"float('{value!r}')"
            text = f"({text})" if text.startswith("-") else text
        return _Source(text, node)

    def symbol(self, index: int, name: str) -> _Source:
        return _Source(name, self.numpy.symbol(index, name))

    def constant(self, node: sympy.Expr) -> _Source | None:
        folded = self.numpy.constant(node)
        return None if folded is None else self._out("", folded)

    def add(self, args: list[_Source]) -> _Source:
        return self._out(f"({' + '.join(a.text for a in args)})", self.numpy.add([a.node for a in args]))

    def mul(self, args: list[_Source]) -> _Source:
        return self._out(f"({' * '.join(a.text for a in args)})", self.numpy.mul([a.node for a in args]))

    def power(self, base: _Source, exponent: sympy.Expr, exp_node: _Source) -> _Source:
        node = self.numpy.power(base.node, exponent, exp_node.node)
        e = exp_node.node.value if isinstance(exp_node.node, Constant) else None
        if isinstance(e, float) and e == 0.5:  # the same choices as NumpyBackend.power
            return self._out(f"{self.np}.sqrt({base.text})", node)
        if isinstance(e, float) and e == -1.0:
            return self._out(f"{self.np}.divide(1.0, {base.text})", node)
        return self._out(f"{self.np}.power({base.text}, {exp_node.text})", node)

    def call(self, function: Function, args: list[_Source]) -> _Source:
        node = self.numpy.call(function, [a.node for a in args])
        names = {"np": self.np, "math": self.math, "h": self.helper_name(function)}
        if function.helper:
            self.helpers[names["h"]] = function.helper.format(**names)
        texts = [a.text for a in args]
        if function.arity == 0:  # variadic: nested pairwise calls, as functools.reduce does
            text = texts[0]
            for t in texts[1:]:
                text = function.source.format(text, t, **names)
            return self._out(text, node)
        return self._out(function.source.format(*texts, **names), node)


def _fresh(base: str, taken: set[str]) -> str:
    while base in taken:
        base += "_"
    taken.add(base)
    return base


def to_source(expr: sympy.Expr, names: Sequence[str], *, target: str = "y", doc: str | None = None) -> str:
    """Source of a module defining ``formula(<names>)``: arrays (or numbers) that broadcast together in, a float64
    array of their broadcast shape out, with the values of ``to_numpy(expr, names)``. It imports numpy, and ``math``
    only when a function needs it (``erf``); invalid operations give NaN/inf without warnings.

    Args:
        expr: the expression; its symbols are matched to ``names`` by name.
        names: the argument names (Python identifiers, not keywords).
        target: the name of what the formula computes (for the docstring).
        doc: the formula as shown in the docstring (default ``str(expr)``).
    """
    bad = [n for n in names if not n.isidentifier() or keyword.iskeyword(n)]
    if bad:
        raise FormulaError(f"input names {bad} cannot be Python argument names", "rename the columns")
    taken = set(names) | {"formula"}
    np_name, math_name, value = _fresh("numpy", taken), _fresh("math", taken), _fresh("value", taken)
    helper_names: dict[str, str] = {}

    def helper_name(function: Function) -> str:
        if function.name not in helper_names:
            helper_names[function.name] = _fresh(f"_{function.name}", taken)
        return helper_names[function.name]

    backend = _SourceBackend(np_name, math_name, helper_name)
    body = compile_tree(expr, names, backend).text
    imports = [f"import math as {math_name}" if math_name != "math" else "import math"] if any(
        f"{math_name}." in h for h in backend.helpers.values()) else []
    imports.append(f"import numpy as {np_name}" if np_name != "numpy" else "import numpy")
    helpers = "".join(f"{line}\n" for line in backend.helpers.values())
    conversions = "".join(f"    {n} = {np_name}.asarray({n}, dtype={np_name}.float64)\n" for n in names)
    shapes = ", ".join(f"{n}.shape" for n in names)
    shown = (doc if doc is not None else str(expr)).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return (
        '"""Formula found by kansci. Stand-alone: needs only numpy."""\n'
        + "\n".join(sorted(imports)) + "\n"
        + (f"\n{helpers}" if helpers else "")
        + "\n\n"
        + f"def formula({', '.join(names)}):\n"
        + f'    """{target} = {shown}"""\n'
        + conversions
        + f'    with {np_name}.errstate(all="ignore"):\n'
        + f"        {value} = {np_name}.asarray({body}, dtype={np_name}.float64)\n"
        + f"    return {np_name}.broadcast_to({value}, {np_name}.broadcast_shapes({shapes})).copy()\n"
    )
