"""Safe parser for formula text: text -> sympy expression, without eval.

The text is parsed by Python's :mod:`ast` (``mode="eval"``), every node is checked against a whitelist, and the sympy
expression is built by walking the tree. Nothing in the text is ever executed, and ``sympify``/``parse_expr`` are not
used. What is accepted:

- numbers: integer and float literals (``3``, ``2.5``, ``1e-3``); integers stay exact (``1/2`` is ``Rational(1, 2)``),
  floats become ``sympy.Float`` from their literal text (or the nearest float64 with ``float64=True``);
- names: the given variables (plain ``sympy.Symbol(name)``, or the Symbol passed in ``symbols``), and the constants
  ``pi``, ``e`` and ``E`` (Euler's number) unless a variable of that name is declared;
- quoted names: any column name in backticks is a variable, whatever it holds (```Temp (K)```, ```lambda```,
  ```sin```, ```pi```); a backtick inside is written twice. A declared name that Python cannot read bare (a keyword
  such as ``lambda``, or a non-ASCII name such as ``θ``) may also be written without backticks.
  :func:`kansci.expr.names.quote` writes names this way;
- operators: unary ``+ -``, binary ``+ - * / **``; ``^`` is read as a power (like ``**``, with the precedence of
  ``**``), because people write ``x^2``; there is no bitwise xor;
- calls of the functions in :data:`FUNCTIONS` with positional arguments (aliases: ``arcsin arccos arctan arctan2
  arcsinh arccosh arctanh ln abs``). ``log(x, b)`` is the logarithm of ``x`` to base ``b``. The functions are those
  of :mod:`kansci.expr.functions` marked ``parse``, plus ``sqrt``.

An undeclared Python keyword is not a name (``lambda x: x`` is refused): the Feynman table writes ``lambd``. Bare
names may not start with ``_``. Outside quoted and declared names only printable ASCII is accepted (so no Unicode
look-alike names); the first pass over the text is :mod:`kansci.expr.lexer`. Everything else (attributes, indexing,
strings, lambdas, comparisons, comprehensions, keyword arguments, ...) raises :class:`~kansci.errors.FormulaError`
whose one-line message names the 1-based column in the original text; the error also carries ``.column``.

:func:`kansci.expr.export.to_text` writes an expression back in this grammar with every float at full precision, so
that ``parse_formula(to_text(e), float64=True)`` rebuilds ``e`` exactly (how a run directory stores its formula).
"""
from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping, Sequence

import sympy

from kansci.errors import FormulaError
from kansci.expr.functions import FUNCTIONS as _TABLE
from kansci.expr.lexer import formula_error as _error
from kansci.expr.lexer import prepare
from kansci.expr.names import ALIASES as _ALIASES
from kansci.expr.names import CONSTANTS, quote, reserved_names

__all__ = ["FUNCTIONS", "CONSTANTS", "MAX_LENGTH", "MAX_DEPTH", "parse_formula", "reserved_names"]

MAX_LENGTH = 2000  # characters of formula text
MAX_DEPTH = 100  # nesting depth of the expression (a long chain like a+b+c+... counts as one level)
_MAX_EXACT_BITS = 2048  # refuse exact integers/rationals larger than this (e.g. 10**10**10): sympy would hang

# name -> (sympy function, allowed argument counts)
FUNCTIONS: dict[str, tuple[Callable[..., sympy.Expr], tuple[int, ...]]] = {
    f.name: (f.sympy, (1, 2) if f.name == "log" else (f.arity,)) for f in _TABLE.values() if f.parse
}
FUNCTIONS["sqrt"] = (sympy.sqrt, (1,))  # a power (sympy.Pow), evaluated as such
for _alias, _target in _ALIASES.items():
    FUNCTIONS[_alias] = FUNCTIONS[_target]

_FORBIDDEN: dict[type, str] = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension", ast.Compare: "a comparison", ast.BoolOp: "a boolean operator",
    ast.IfExp: "a conditional expression", ast.NamedExpr: "an assignment (:=)", ast.JoinedStr: "an f-string",
    ast.Starred: "a starred argument", ast.Tuple: "a tuple", ast.List: "a list", ast.Set: "a set",
    ast.Dict: "a dict", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}
_BINOPS: dict[type, Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b,
}
_BAD_OPS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
            ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.Invert: "~", ast.Not: "not"}


class _Builder:
    """Walks a validated-as-it-goes AST and builds the sympy expression."""

    def __init__(self, text: str, code: str, colmap: list[int], source: str, quoted: Mapping[str, str],
                 variables: frozenset[str] | None, symbols: Mapping[str, sympy.Symbol], float64: bool) -> None:
        self.text, self.code, self.colmap, self.source, self.quoted = text, code, colmap, source, quoted
        self.variables, self.symbols, self.float64 = variables, symbols, float64

    # -- errors ---------------------------------------------------------------------------------------------
    def fail(self, what: str, code_col: int, hint: str) -> FormulaError:
        """An error at 0-based column ``code_col`` of the parsed code, reported as a 1-based original column."""
        column = self.colmap[min(max(code_col, 0), len(self.colmap) - 1)] + 1
        return _error(self.source, self.text, what, column, hint)

    def fail_at(self, node: ast.AST, what: str, hint: str) -> FormulaError:
        return self.fail(what, getattr(node, "col_offset", 0), hint)

    # -- walking --------------------------------------------------------------------------------------------
    def build(self, node: ast.AST, depth: int) -> sympy.Expr:
        if depth > MAX_DEPTH:
            raise self.fail_at(node, f"formula nested deeper than {MAX_DEPTH} levels", "simplify the expression")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, depth + 1)
            raise self.fail_at(node, f"operator '{_BAD_OPS[type(node.op)]}' is not allowed",
                               "use only + - * / ** and the listed functions")
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        what = _FORBIDDEN.get(type(node), f"'{type(node).__name__}' syntax")
        raise self.fail_at(node, f"{what} is not allowed in a formula",
                           "use numbers, variable names, + - * / ** and calls like sin(x)")

    def binop(self, node: ast.BinOp, depth: int) -> sympy.Expr:
        # Left-leaning chains (a + b - c + ...) are walked iteratively so long sums do not count as deep nesting.
        chain: list[ast.BinOp] = []
        left: ast.AST = node
        while isinstance(left, ast.BinOp) and not isinstance(left.op, ast.Pow):
            chain.append(left)
            left = left.left
        if not chain:  # a power: right-associative, recurse normally
            chain, left = [node], node.left
        result = self.build(left, depth + 1)
        for op_node in reversed(chain):
            op = _BINOPS.get(type(op_node.op))
            if op is None:
                symbol = _BAD_OPS.get(type(op_node.op), type(op_node.op).__name__)
                raise self.fail(f"operator '{symbol}' is not allowed", _op_column(self.code, op_node),
                                "use only + - * / and ** (or ^) for powers")
            right = self.build(op_node.right, depth + 1)
            if isinstance(op_node.op, ast.Pow):
                self.check_power(op_node, result, right)
            result = self.checked(op_node, op(result, right))
        return result

    def check_power(self, node: ast.BinOp, base: sympy.Expr, exponent: sympy.Expr) -> None:
        if isinstance(base, sympy.Rational) and isinstance(exponent, sympy.Rational) and abs(base) not in (0, 1):
            bits = max(int(base.p).bit_length(), int(base.q).bit_length()) * abs(float(exponent))
            if bits > _MAX_EXACT_BITS:
                raise self.fail(f"exact power too large (about {bits:.3g} bits)", _op_column(self.code, node),
                                "write a float such as 1e300 or use a smaller exponent")

    def checked(self, node: ast.AST, expr: sympy.Expr) -> sympy.Expr:
        if isinstance(expr, sympy.Rational) and max(abs(int(expr.p)), int(expr.q)).bit_length() > _MAX_EXACT_BITS:
            raise self.fail_at(node, f"exact number larger than {_MAX_EXACT_BITS} bits",
                               "write it as a float, e.g. 1e300")
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise self.fail_at(node, "this part evaluates to infinity or NaN (e.g. division by zero, log(0))",
                               "fix the constant so the expression is finite")
        if expr.has(sympy.I):
            raise self.fail_at(node, "this part evaluates to a complex number (e.g. sqrt(-1))",
                               "formulas must be real-valued")
        return expr

    def constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a string" if isinstance(value, (str, bytes)) else f"the literal {value!r}"
            raise self.fail_at(node, f"{kind} is not allowed in a formula", "use numbers and variable names only")
        if isinstance(value, int):
            return self.checked(node, sympy.Integer(value))
        literal = self.code[node.col_offset:node.end_col_offset].replace("_", "")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail_at(node, f"number {literal} is not finite", "use a number within float64 range")
        # float64: the literal's nearest float64, subnormals included (Python's float() rounds it once, correctly).
        # A literal far below float64's range (3.3e-17337418, from an exp coefficient) is read as its float64 value
        # too: an exact decimal of that size takes sympy minutes to build.
        tiny = value == 0.0 and any(ch in "123456789" for ch in literal.lower().split("e")[0])
        return sympy.Float(float(literal)) if self.float64 or tiny else sympy.Float(literal)

    def name(self, node: ast.Name) -> sympy.Expr:
        name = node.id
        if name in self.quoted:  # a quoted name, or a declared keyword or non-ASCII name: always a variable
            return self.variable(node, self.quoted[name])
        if name.startswith("_"):
            raise self.fail_at(node, f"name '{name}' starts with '_'", "rename the variable without a leading '_'")
        if name in self.symbols:
            return self.symbols[name]
        if self.variables is not None and name in self.variables:
            return sympy.Symbol(name)
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise self.fail_at(node, f"'{name}' is a function", f"call it, e.g. {name}(x)")
        if self.variables is None:
            return sympy.Symbol(name)
        return self.variable(node, name)

    def variable(self, node: ast.AST, name: str) -> sympy.Expr:
        """The variable ``name`` (given as a Symbol, declared, or any name when no variables are declared)."""
        if name in self.symbols:
            return self.symbols[name]
        if self.variables is None or name in self.variables:
            return sympy.Symbol(name)
        allowed = sorted(self.variables | set(self.symbols))
        raise self.fail_at(node, f"unknown variable {quote(name)!r}",
                           _suggest(quote(name), [quote(a) for a in allowed] + sorted(CONSTANTS),
                                    [quote(a) for a in allowed]))

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            what = _FORBIDDEN.get(type(node.func), "calling an expression")
            raise self.fail_at(node.func, f"{what} is not allowed in a formula",
                               "call a listed function by name, e.g. sin(x)")
        fname = node.func.id
        if fname in self.quoted:
            raise self.fail_at(node.func, f"{quote(self.quoted[fname])!r} is a variable and cannot be called",
                               "put an operator between the variable and '(' (e.g. x*(y+1))")
        if fname.startswith("_"):
            raise self.fail_at(node.func, f"name '{fname}' starts with '_'", "call a listed function, e.g. sin(x)")
        if fname not in FUNCTIONS:
            if fname in self.symbols or (self.variables is not None and fname in self.variables):
                raise self.fail_at(node.func, f"'{fname}' is a variable and cannot be called",
                                   "put an operator between the variable and '(' (e.g. x*(y+1))")
            known = sorted(n for n in FUNCTIONS if n not in _ALIASES)
            raise self.fail_at(node.func, f"unknown function '{fname}'", _suggest(fname, list(FUNCTIONS), known))
        if node.keywords:
            raise self.fail_at(node.keywords[0].value, "keyword arguments are not allowed",
                               f"pass the arguments of {fname}() by position")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail_at(arg, "a starred argument is not allowed",
                                   f"pass the arguments of {fname}() one by one")
        func, arities = FUNCTIONS[fname]
        if len(node.args) not in arities:
            want = " or ".join(str(a) for a in arities)
            example = f"{fname}({', '.join('xyz'[:arities[0]])})"
            raise self.fail_at(node, f"{fname}() takes {want} argument(s), got {len(node.args)}",
                               f"write e.g. {example}")
        args = [self.build(a, depth + 1) for a in node.args]
        return self.checked(node, func(*args))


def _op_column(code: str, node: ast.BinOp) -> int:
    """0-based column of the operator between ``node.left`` and ``node.right`` (first non-space, non-paren char)."""
    start = getattr(node.left, "end_col_offset", node.col_offset) or node.col_offset
    end = node.right.col_offset
    for i in range(start, end):
        if code[i] not in " )":
            return i
    return node.col_offset


def _suggest(name: str, candidates: Sequence[str], allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    listing = ", ".join(allowed) if allowed else "(none)"
    return (f"did you mean '{close[0]}'? " if close else "") + f"allowed: {listing}"


def parse_formula(text: str, variables: Sequence[str] | None = None, *, source: str = "formula",
                  symbols: Mapping[str, sympy.Symbol] | None = None, float64: bool = False) -> sympy.Expr:
    """Parse a formula string into a sympy expression without executing it.

    Args:
        text: the formula, e.g. ``"exp(-theta**2/2)/sqrt(2*pi)"``.
        variables: names allowed as variables. ``None`` makes any other identifier a variable (constants and function
            names keep their meaning). Declared names take precedence over the constants ``pi``, ``e``, ``E``.
        source: what to call the text in error messages (e.g. ``"config.yaml:data.formula"``).
        symbols: optional Symbols to use for given names (these names are allowed too, and take precedence).
        float64: make every float literal the nearest float64 (a 53-bit ``sympy.Float``) instead of a Float with
            the literal's own digits; reads the text of :func:`kansci.expr.export.to_text` back exactly.

    Returns:
        The sympy expression (automatic sympy evaluation applies, so ``1/2`` is ``Rational(1, 2)``).

    Raises:
        FormulaError: unsafe, unknown or malformed input; the message names the column (``.column``, 1-based).
    """
    if not isinstance(text, str):
        raise FormulaError(f"{source}: expected a formula string, got {type(text).__name__}", "pass text like 'x*y'")
    if len(text) > MAX_LENGTH:
        raise _error(source, text, f"formula is {len(text)} characters long (limit {MAX_LENGTH})", None,
                     "shorten the formula")
    declared = frozenset(variables or ()) | frozenset(symbols or ())
    prepared = prepare(text, source, declared.__contains__)
    code, colmap = prepared.code, prepared.colmap
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as exc:
        if prepared.keywords:  # most likely a column named like a keyword, used without being declared
            word, at = prepared.keywords[0]
            raise _error(source, text, f"syntax error: '{word}' is a Python keyword", at + 1,
                         f"if it is a column name, write it in backticks: `{word}`") from None
        col = (exc.offset or 1) - 1 if (exc.lineno or 1) == 1 else len(code)
        column = colmap[min(max(col, 0), len(colmap) - 1)] + 1
        raise _error(source, text, f"syntax error ({exc.msg})", column,
                     "check the parentheses and operators there; use ** for powers") from None
    except (RecursionError, MemoryError, ValueError):
        raise _error(source, text, "formula too complex to parse", None, "simplify the expression") from None
    var_set = None if variables is None else frozenset(variables)
    builder = _Builder(text, code, colmap, source, prepared.quoted, var_set, dict(symbols or {}), float64)
    try:
        return builder.build(tree.body, 0)
    except RecursionError:
        raise _error(source, text, "formula too deeply nested", None, "simplify the expression") from None
