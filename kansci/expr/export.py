"""Write an expression out: as formula text the parser reads back exactly (:func:`to_text`), as display text
(:func:`to_display`), as LaTeX (:func:`to_latex`), and as the source of a stand-alone Python module that needs only
numpy (:func:`to_source`, the run directory's ``formula.py``). Symbols are the user's column names; each form writes
them as :mod:`kansci.expr.names` says (backticks in text, ``\\mathrm{}`` or Greek letters in LaTeX, identifiers with
a mapping in Python).

The module's source is produced by the same tree walk as :func:`kansci.expr.evaluate.to_numpy` and runs the same
numpy operations in the same order, with the constants it folded written at full precision, so it returns the same
float64 bits as ``to_numpy`` does.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sympy
from sympy.printing.str import StrPrinter

from kansci.errors import FormulaError
from kansci.expr.evaluate import Constant, NumpyBackend, compile_tree
from kansci.expr.functions import FUNCTIONS, Function
from kansci.expr.names import CONSTANTS, latex_names, python_identifiers, quote

__all__ = ["to_display", "to_latex", "to_source", "to_text"]


# --------------------------------------------------------------------------------------------------------- text
class _NamePrinter(StrPrinter):
    """sympy's ``str`` notation with names quoted for the parser. Where a variable is named like a constant (``E``,
    ``pi``), which a bare name would mean, the constant is written ``exp(1)`` or ``acos(-1)`` (the same value)."""

    def __init__(self, shadowed: Iterable[str] = ()) -> None:
        super().__init__()
        self.shadowed = set(shadowed) & set(CONSTANTS)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return quote(expr.name)

    def _print_Exp1(self, expr: sympy.Expr) -> str:
        return "exp(1)" if self.shadowed & {"e", "E"} else "E"

    def _print_Pi(self, expr: sympy.Expr) -> str:
        return "acos(-1)" if "pi" in self.shadowed else "pi"


class _ExactPrinter(_NamePrinter):
    """:class:`_NamePrinter` with every float as the shortest text of its float64 value."""

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))


def _names(expr: sympy.Expr, names: Iterable[str] | None) -> list[str]:
    found = sorted(s.name for s in expr.free_symbols if isinstance(s, sympy.Symbol))
    return [*(names or ()), *found]


def to_display(expr: sympy.Expr, names: Iterable[str] | None = None) -> str:
    """``expr`` as text for people, in the column names, quoted as formula text quotes them (``2*`Temp (K)```).
    ``names``: the formula's inputs, when they include names not in ``expr`` (for the constants' spelling)."""
    return _NamePrinter(_names(expr, names)).doprint(expr)


def to_latex(expr: sympy.Expr, names: Sequence[str] | None = None) -> str:
    """LaTeX of ``expr``, each column name written as :func:`kansci.expr.names.latex_names` maps it (the mapping is
    made over ``names`` in order, then any other symbol of ``expr``, so one formula's names always agree)."""
    tex = latex_names(_names(expr, names))
    return sympy.latex(expr, symbol_names={s: tex[s.name] for s in expr.free_symbols if isinstance(s, sympy.Symbol)})


_REWRITES: dict[type, Callable[[sympy.Expr], sympy.Expr]] = {
    sympy.cot: lambda a: 1 / sympy.tan(a), sympy.sec: lambda a: 1 / sympy.cos(a),
    sympy.csc: lambda a: 1 / sympy.sin(a), sympy.erfc: lambda a: 1 - sympy.erf(a),
}
_PARSED = frozenset(f.sympy for f in FUNCTIONS.values() if f.parse)
_NAMES = ", ".join(sorted({f.name for f in FUNCTIONS.values() if f.parse} | {"sqrt"}))


def to_text(expr: sympy.Expr, names: Iterable[str] | None = None) -> str:
    """``expr`` as formula text that ``parse_formula(text, names, float64=True)`` reads back to the same expression:
    sympy's notation, names quoted as :func:`kansci.expr.names.quote` does, and every float written as the shortest
    text of its float64 value (``0.30000000000000004``). ``names``: the variables the text will be parsed with.

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
    return _ExactPrinter(_names(expr, names)).doprint(expr)


# ------------------------------------------------------------------------------------------------------- source
class _Source:
    """A node of the generated source: its text, and the numpy node it mirrors (whose constants it writes)."""

    __slots__ = ("text", "node")

    def __init__(self, text: str, node: Any) -> None:
        self.text, self.node = text, node


class _SourceBackend:
    """Python source that runs :class:`NumpyBackend`'s operations; ``np``/``math``: the modules' names in it."""

    def __init__(self, np_name: str, math_name: str, helper_name: Callable[[Function], str], args: Sequence[str]
                 ) -> None:
        self.numpy = NumpyBackend()
        self.np, self.math, self.helper_name, self.args = np_name, math_name, helper_name, args
        self.helpers: dict[str, str] = {}  # name -> definition

    def _out(self, text: str, node: Any) -> _Source:
        if isinstance(node, Constant):
            value = float(node.value)
            text = repr(value) if abs(value) < float("inf") else f"float('{value!r}')"
            text = f"({text})" if text.startswith("-") else text
        return _Source(text, node)

    def symbol(self, index: int, name: str) -> _Source:
        return _Source(self.args[index], self.numpy.symbol(index, name))

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
    """Source of a module defining ``formula(<args>)``: arrays (or numbers) that broadcast together in, a float64
    array of their broadcast shape out, with the values of ``to_numpy(expr, names)``. It imports numpy, and ``math``
    only when a function needs it (``erf``); invalid operations give NaN/inf without warnings.

    The arguments are the column names made Python identifiers by :func:`kansci.expr.names.python_identifiers`
    (``Temp (K)`` -> ``Temp_K``); the module's ``COLUMNS`` maps each argument to its column name, and
    ``formula_from_columns(table)`` calls ``formula`` on anything indexed by column name (a dict, a DataFrame).

    Args:
        expr: the expression; its symbols are matched to ``names`` by name.
        names: the input column names, any text.
        target: the name of what the formula computes (for the docstring).
        doc: the formula as shown in the docstring (default :func:`to_display`).
    """
    args = python_identifiers(names, reserved={"float"})  # float(...) spells the infinite constants
    taken = set(args) | {"formula", "formula_from_columns", "COLUMNS"}
    np_name, math_name, value = _fresh("numpy", taken), _fresh("math", taken), _fresh("value", taken)
    helper_names: dict[str, str] = {}

    def helper_name(function: Function) -> str:
        if function.name not in helper_names:
            helper_names[function.name] = _fresh(f"_{function.name}", taken)
        return helper_names[function.name]

    backend = _SourceBackend(np_name, math_name, helper_name, args)
    body = compile_tree(expr, names, backend).text
    imports = [f"import math as {math_name}" if math_name != "math" else "import math"] if any(
        f"{math_name}." in h for h in backend.helpers.values()) else []
    imports.append(f"import numpy as {np_name}" if np_name != "numpy" else "import numpy")
    helpers = "".join(f"{line}\n" for line in backend.helpers.values())
    conversions = "".join(f"    {n} = {np_name}.asarray({n}, dtype={np_name}.float64)\n" for n in args)
    shapes = ", ".join(f"{n}.shape" for n in args)
    shown = f"{target} = {doc if doc is not None else to_display(expr, names)}"
    shown = shown.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    columns = "".join(f"    {a!r}: {n!r},\n" for a, n in zip(args, names))
    return (
        '"""Formula found by kansci. Stand-alone: needs only numpy."""\n'
        + "\n".join(sorted(imports)) + "\n"
        + (f"\n{helpers}" if helpers else "")
        + "\n# formula() takes one argument per input column; COLUMNS maps each argument to the column's name.\n"
        + ("COLUMNS = {\n" + columns + "}\n" if columns else "COLUMNS = {}\n")
        + "\n\n"
        + f"def formula({', '.join(args)}):\n"
        + f'    """{shown}"""\n'
        + conversions
        + f'    with {np_name}.errstate(all="ignore"):\n'
        + f"        {value} = {np_name}.asarray({body}, dtype={np_name}.float64)\n"
        + f"    return {np_name}.broadcast_to({value}, {np_name}.broadcast_shapes({shapes})).copy()\n"
        + "\n\n"
        + "def formula_from_columns(table):\n"
        + '    """formula() on a table indexed by column name: a dict of arrays, a pandas DataFrame, ..."""\n'
        + "    return formula(*(table[column] for column in COLUMNS.values()))\n"
    )
