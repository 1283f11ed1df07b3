"""The :class:`Formula` object and its exporters: text, exact text, LaTeX, sympy srepr, a stand-alone numpy module,
numpy and torch functions. Every numeric form goes through :mod:`kansci.expr` (one evaluator, one function table).

A formula's symbols are named exactly like the data's columns, whatever the names are (``Temp (K)``, ``lambda``,
``θ``, ``I``); every text form writes them through the one mapping of :mod:`kansci.expr.names`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from kansci.errors import FormulaError, RunDirError
from kansci.expr.evaluate import to_numpy, to_torch
from kansci.expr.export import to_display, to_latex, to_source, to_text
from kansci.expr.names import CONSTANTS, quote
from kansci.expr.text import parse_formula
from kansci.symbolic.uncertainty import format_constant

__all__ = ["EXACT_KEY", "Formula", "make_symbols"]

#: Key of ``formula.json`` holding the formula as text that :func:`~kansci.expr.text.parse_formula` reads back exactly.
EXACT_KEY = "exact_text"


@dataclass
class Formula:
    """A closed-form formula of named input columns, predicting ``target``. ``constants``: the fitted constants with
    their uncertainties, as :func:`kansci.symbolic.uncertainty.constant_table` lists them (None: not known)."""

    expr: sympy.Expr
    input_names: list[str]
    target: str = "y"
    constants: list[dict[str, Any]] | None = field(default=None, compare=False)

    @property
    def symbols(self) -> list[sympy.Symbol]:
        by_name = {s.name: s for s in self.expr.free_symbols}
        return [by_name.get(n, sympy.Symbol(n)) for n in self.input_names]

    @property
    def text(self) -> str:
        """The formula in the column names; a name that formula text cannot hold bare is in backticks
        (``2*`Temp (K)` + `lambda```), so the text parses back (:func:`~kansci.expr.text.parse_formula`)."""
        return to_display(self.expr, self.input_names)

    def rounded(self, digits: int = 4) -> str:
        """Display text with floats shown to ``digits`` significant digits (the stored formula keeps all)."""
        return to_display(self.expr.xreplace({f: sympy.Float(f, digits) for f in self.expr.atoms(sympy.Float)}),
                          self.input_names)

    def __str__(self) -> str:
        return self.text

    def with_uncertainties(self) -> str | None:
        """The display text with every fitted constant as value(±stderr) in honest digits, e.g.
        ``107.3(±2.1)*P/(0.081(±0.004)*P + 1)``; None when the constants' uncertainties are not known."""
        if self.constants is None:
            return None
        known = {float(c["value"]): c.get("stderr") for c in self.constants if not c.get("snapped")}
        return _AnnotatingPrinter(self.input_names, known).doprint(self.expr)

    def sympy(self) -> sympy.Expr:
        return self.expr

    def latex(self) -> str:
        """LaTeX, column names as ``\\mathrm{Temp\\ (K)}``, ``\\lambda``, ``\\theta`` (:mod:`kansci.expr.names`)."""
        return to_latex(self.expr, self.input_names)

    def numpy(self) -> Callable[..., np.ndarray]:
        """A numpy function taking the input columns as positional arguments, in ``input_names`` order; they
        broadcast together and the result (float64) has their broadcast shape."""
        fn = to_numpy(self.expr, self.input_names)

        def call(*cols: np.ndarray) -> np.ndarray:
            arrays = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in cols))
            shape = arrays[0].shape if arrays else ()
            X = np.stack([a.reshape(-1) for a in arrays], -1) if arrays else np.zeros((1, 0))
            return fn(X).reshape(shape)

        return call

    def torch(self) -> Callable[..., Any]:
        """A torch function of one tensor per input column (``input_names`` order), differentiable by autograd."""
        return to_torch(self.expr, self.input_names)

    def __call__(self, X: np.ndarray | None = None, **columns: np.ndarray) -> np.ndarray:
        """Evaluate on X (n, d) in ``input_names`` order, or on named columns; returns (n,) float64."""
        if X is not None:
            X = np.asarray(X, dtype=np.float64)
            assert X.ndim == 2 and X.shape[1] == len(self.input_names), (X.shape, self.input_names)
            return to_numpy(self.expr, self.input_names)(X)
        missing = [n for n in self.input_names if n not in columns]
        if missing:
            raise TypeError(f"missing columns: {missing}")
        return self.numpy()(*(columns[n] for n in self.input_names))

    def complexity(self) -> int:
        """Number of nodes of the expression tree (SRBench's model size)."""
        return sum(1 for _ in sympy.preorder_traversal(self.expr))

    def python_module(self) -> str:
        """Source of a stand-alone module with ``formula(<args>)`` that needs only numpy (and the standard library);
        it returns the same values as calling this Formula. The arguments are the input names made Python identifiers;
        its ``COLUMNS`` dict maps them back, and ``formula_from_columns(table)`` takes a table of named columns."""
        return to_source(self.expr, self.input_names, target=self.target, doc=self.text)

    def to_json(self) -> dict[str, Any]:
        """The ``formula.json`` fields: display forms, and :data:`EXACT_KEY` with ``assumptions`` (the input symbols'
        sympy assumptions), from which :meth:`from_json` rebuilds the same expression through the formula parser.
        The exact text is ``None`` for an expression the parser cannot read (a ``Max`` or ``floor`` from sympy's
        rewriting): such a formula is written out but cannot be reloaded."""
        doc: dict[str, Any] = {"text": self.text, "srepr": sympy.srepr(self.expr), "latex": self.latex(),
                               "inputs": self.input_names, "target": self.target, "complexity": self.complexity()}
        try:
            doc[EXACT_KEY] = to_text(self.expr, self.input_names)
        except FormulaError:
            doc[EXACT_KEY] = None
        doc["assumptions"] = {s.name: _assumptions(s) for s in self.symbols}
        doc["constants"] = None if self.constants is None else [dict(c) for c in self.constants]
        doc["with_uncertainties"] = self.with_uncertainties()
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], source: str = "formula.json") -> Formula:
        """Rebuild a Formula from :meth:`to_json`'s fields: :data:`EXACT_KEY` is read by the safe formula parser.

        Raises:
            RunDirError: the document lacks the exact text (written by a kansci before it had one), its fields are
                malformed, or the text does not parse.
        """
        if EXACT_KEY not in doc:
            raise RunDirError(f"{source}: no {EXACT_KEY!r} field (the formula was written by an older kansci)",
                              "re-run `kansci symbolify RUN` to write it again")
        inputs, text = doc.get("inputs"), doc[EXACT_KEY]
        if text is None:
            raise RunDirError(f"{source}: the formula {doc.get('text')} uses a function that formula text cannot "
                              "express, so it cannot be reloaded", "use the model in the run directory instead")
        assumptions = doc.get("assumptions") or {}
        if (not isinstance(inputs, list) or not all(isinstance(n, str) for n in inputs) or not isinstance(text, str)
                or not isinstance(assumptions, dict) or not all(isinstance(a, dict) for a in assumptions.values())):
            raise RunDirError(f"{source}: malformed formula fields", "re-run `kansci symbolify RUN`")
        try:
            symbols = {n: sympy.Symbol(n, **{str(k): bool(v) for k, v in assumptions.get(n, {}).items()})
                       for n in inputs}
        except (TypeError, ValueError) as exc:
            raise RunDirError(f"{source}: malformed symbol assumptions ({exc})", "re-run `kansci symbolify RUN`"
                              ) from exc
        try:
            expr = parse_formula(text, inputs, source=f"{source}:{EXACT_KEY}", symbols=symbols, float64=True)
        except FormulaError as exc:  # kansci wrote text that parses: the file was changed or damaged
            raise RunDirError(exc.message, "re-run `kansci symbolify RUN` to write it again") from exc
        return cls(expr, list(inputs), str(doc.get("target", "y")), _constants(doc.get("constants"), source))


def _constants(raw: Any, source: str) -> list[dict[str, Any]] | None:
    """``formula.json``'s ``constants`` list, checked; None where the file has none (an older kansci)."""
    if raw is None:
        return None
    ok = isinstance(raw, list) and all(
        isinstance(c, dict) and isinstance(c.get("value"), (int, float)) and not isinstance(c.get("value"), bool)
        and (c.get("stderr") is None or isinstance(c.get("stderr"), (int, float))) for c in raw)
    if not ok:
        raise RunDirError(f"{source}: malformed 'constants' field", "re-run `kansci symbolify RUN`")
    return [{"value": float(c["value"]), "stderr": None if c.get("stderr") is None else float(c["stderr"]),
             "snapped": bool(c.get("snapped", False)), "exact": None if c.get("exact") is None else str(c["exact"]),
             "text": str(c.get("text", ""))} for c in raw]


class _AnnotatingPrinter(StrPrinter):
    """Display text (names as :func:`~kansci.expr.export.to_display` writes them) with each Float that has an
    uncertainty written as value(±stderr); a Float without one is written in 4 significant digits."""

    def __init__(self, names: Sequence[str], stderr: Mapping[float, float | None]) -> None:
        super().__init__()
        self._stderr = stderr
        self._shadowed = set(names) & set(CONSTANTS)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return quote(expr.name)

    def _print_Exp1(self, expr: sympy.Expr) -> str:
        return "exp(1)" if self._shadowed & {"e", "E"} else "E"

    def _print_Pi(self, expr: sympy.Expr) -> str:
        return "acos(-1)" if "pi" in self._shadowed else "pi"

    def _print_Float(self, expr: sympy.Float) -> str:
        v = float(expr)
        for sign in (1.0, -1.0):
            if sign * v in self._stderr:
                value, err = format_constant(v, self._stderr[sign * v])
                return f"{value}(±{err})"
        return f"{v:.4g}"


def _assumptions(symbol: sympy.Symbol) -> dict[str, bool]:
    """The fewest keyword assumptions that rebuild ``symbol`` (``{"positive": True}`` for make_symbols' symbols)."""
    for kwargs in ({}, {"positive": True}, {"real": True}):
        if sympy.Symbol(symbol.name, **kwargs) == symbol:
            return kwargs
    return dict(symbol.assumptions0)


def make_symbols(names: Sequence[str], X: np.ndarray) -> list[sympy.Symbol]:
    """Symbols for the input columns: ``positive`` where the column is strictly positive, else ``real``."""
    return [sympy.Symbol(n, positive=True) if np.all(X[:, k] > 0) else sympy.Symbol(n, real=True)
            for k, n in enumerate(names)]

