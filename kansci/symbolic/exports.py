"""The :class:`Formula` object and its exporters: text, LaTeX, sympy srepr, a standalone numpy module, torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from kansci.symbolic.sympy_torch import sympy_to_torch


@dataclass
class Formula:
    """A closed-form formula of named input columns, predicting ``target``."""

    expr: sympy.Expr
    input_names: list[str]
    target: str = "y"

    @property
    def symbols(self) -> list[sympy.Symbol]:
        by_name = {s.name: s for s in self.expr.free_symbols}
        return [by_name.get(n, sympy.Symbol(n)) for n in self.input_names]

    @property
    def text(self) -> str:
        return str(self.expr)

    def rounded(self, digits: int = 4) -> str:
        """Display text with floats shown to ``digits`` significant digits (the stored formula keeps all)."""
        return str(self.expr.xreplace({f: sympy.Float(f, digits) for f in self.expr.atoms(sympy.Float)}))

    def __str__(self) -> str:
        return self.text

    def sympy(self) -> sympy.Expr:
        return self.expr

    def latex(self) -> str:
        return sympy.latex(self.expr)

    def numpy(self) -> Callable[..., np.ndarray]:
        """A numpy function taking the input columns as positional arguments, in ``input_names`` order."""
        fn = sympy.lambdify(self.symbols, self.expr, modules="numpy")

        def call(*cols: np.ndarray) -> np.ndarray:
            out = fn(*cols)
            return np.broadcast_to(np.asarray(out, dtype=np.float64), np.broadcast(*cols).shape).copy()

        return call

    def torch(self) -> Callable[..., Any]:
        return sympy_to_torch(self.expr, self.symbols)

    def __call__(self, X: np.ndarray | None = None, **columns: np.ndarray) -> np.ndarray:
        """Evaluate on X (n, d) in ``input_names`` order, or on named columns."""
        if X is not None:
            X = np.asarray(X, dtype=np.float64)
            assert X.ndim == 2 and X.shape[1] == len(self.input_names), (X.shape, self.input_names)
            cols = [X[:, k] for k in range(X.shape[1])]
        else:
            missing = [n for n in self.input_names if n not in columns]
            if missing:
                raise TypeError(f"missing columns: {missing}")
            cols = [np.asarray(columns[n], dtype=np.float64) for n in self.input_names]
        return self.numpy()(*cols)

    def complexity(self) -> int:
        """Number of nodes of the expression tree (SRBench's model size)."""
        return sum(1 for _ in sympy.preorder_traversal(self.expr))

    def python_module(self) -> str:
        """Source of a standalone module with ``formula(<named args>)`` using numpy only."""
        printer = NumPyPrinter({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": False})
        body = printer.doprint(self.expr)
        args = ", ".join(self.input_names)
        return (
            '"""Formula found by kansci. Standalone: needs only numpy."""\n'
            "import numpy\n\n\n"
            f"def formula({args}):\n"
            f'    """{self.target} = {self.text}"""\n'
            f"    return {body}\n"
        )

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "srepr": sympy.srepr(self.expr), "latex": self.latex(),
                "inputs": self.input_names, "target": self.target, "complexity": self.complexity()}


def make_symbols(names: Sequence[str], X: np.ndarray) -> list[sympy.Symbol]:
    """Symbols for the input columns: ``positive`` where the column is strictly positive, else ``real``."""
    return [sympy.Symbol(n, positive=True) if np.all(X[:, k] > 0) else sympy.Symbol(n, real=True)
            for k, n in enumerate(names)]
