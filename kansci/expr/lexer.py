"""The formula parser's first pass: text -> code that Python's :mod:`ast` can parse, with a map of columns back.

- Every character must be printable ASCII or whitespace, except inside a quoted name or a declared name.
- A quoted name (```Temp (K)```, a backtick inside written as two) and a declared name that Python cannot parse bare
  (a keyword such as ``lambda``, or non-ASCII such as ``θ``) become placeholder identifiers; :class:`Prepared`
  maps each placeholder back to the name. A placeholder starts with ``_`` and never occurs in the text, so no name
  the user wrote can be taken for one.
- ``^`` becomes ``**`` (people write ``x^2``); tabs and line breaks become spaces; leading blanks are dropped.
"""
from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kansci.errors import FormulaError
from kansci.expr.names import IDENT

__all__ = ["Prepared", "formula_error", "prepare"]

# a number literal with whatever letters, digits and dots follow it (``2x``, ``1e-3``): passed on to ast as is
_NUMBER = re.compile(r"(?:\d|\.\d)(?:[eE][+-]?\d|[\w.])*")


@dataclass
class Prepared:
    """``code`` for :func:`ast.parse`; ``colmap[i]``: the 0-based column in the text of code column ``i`` (one more
    entry, for the end of input); ``quoted``: placeholder -> the name it stands for."""

    code: str
    colmap: list[int]
    quoted: dict[str, str] = field(default_factory=dict)
    keywords: list[tuple[str, int]] = field(default_factory=list)  # undeclared keywords left in: (word, column)


def formula_error(source: str, text: str, what: str, column: int | None, hint: str) -> FormulaError:
    """A FormulaError ``<source>: <what> at column <column> in '<text>'``; ``.column`` is the 1-based column."""
    shown = f" in {text!r}" if len(text) <= 80 else ""
    where = f" at column {column}" if column is not None else ""
    err = FormulaError(f"{source}: {what}{where}{shown}", hint)
    err.column = column
    return err


class _Out:
    def __init__(self, text: str) -> None:
        self.parts: list[str] = []
        self.colmap: list[int] = []
        self.quoted: dict[str, str] = {}
        self.names: dict[str, str] = {}  # name -> its placeholder
        self.keywords: list[tuple[str, int]] = []
        prefix = "_q"
        while prefix in text:
            prefix = "_" + prefix
        self.prefix = prefix

    def emit(self, code: str, column: int, spread: bool = False) -> None:
        """Append ``code``; its characters map to ``column`` (or to ``column``, ``column + 1``, ... with spread)."""
        self.parts.append(code)
        self.colmap += [column + k for k in range(len(code))] if spread else [column] * len(code)

    def placeholder(self, name: str, column: int) -> None:
        if name not in self.names:
            self.names[name] = f"{self.prefix}{len(self.names)}"
            self.quoted[self.names[name]] = name
        self.emit(self.names[name], column)


def _quoted(text: str, start: int, source: str) -> tuple[str, int]:
    """The name in backticks starting at ``text[start]`` and the index after its closing backtick."""
    parts: list[str] = []
    j = start + 1
    while True:
        k = text.find("`", j)
        if k < 0:
            raise formula_error(source, text, "unterminated quoted name", start + 1,
                                "close the name with a backtick, e.g. `Temp (K)`; write a backtick inside as ``")
        parts.append(text[j:k])
        if text.startswith("``", k):
            parts.append("`")
            j = k + 2
            continue
        name = "".join(parts)
        if not name.strip():
            raise formula_error(source, text, "empty quoted name", start + 1, "put a column name between the backticks")
        return name, k + 1


def prepare(text: str, source: str, declared: Callable[[str], bool]) -> Prepared:
    """Check ``text`` and turn it into code (see the module docstring); ``declared(name)`` says whether a name
    is a variable, so that a bare keyword or non-ASCII name is accepted only as one."""
    out = _Out(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "`":
            name, end = _quoted(text, i, source)
            out.placeholder(name, i)
            i = end
        elif match := IDENT.match(text, i):
            word = match.group()
            if word.isascii() and not keyword.iskeyword(word):
                out.emit(word, i, spread=True)
            elif declared(word):
                out.placeholder(word, i)
            elif not word.isascii():
                k = next(k for k, c in enumerate(word) if not c.isascii())
                raise _bad_character(source, text, i + k)
            else:
                out.emit(word, i, spread=True)  # a keyword: the parser says what is wrong with it
                out.keywords.append((word, i))
            i = match.end()
        elif match := _NUMBER.match(text, i):
            if not match.group().isascii():
                raise _bad_character(source, text, i + next(k for k, c in enumerate(match.group()) if not c.isascii()))
            out.emit(match.group(), i, spread=True)
            i = match.end()
        elif ch == "^":
            out.emit("**", i)
            i += 1
        elif " " <= ch <= "~" or ch in "\t\n\r":
            if out.parts or ch not in " \t\n\r":  # leading whitespace would be an IndentationError
                out.emit(" " if ch in "\t\n\r" else ch, i)
            i += 1
        else:
            raise _bad_character(source, text, i)
    out.colmap.append(n)  # one past the end, for errors at end of input
    code = "".join(out.parts)
    if not code.strip():
        raise formula_error(source, text, "formula is empty", None, "write an expression such as 'sin(x) + y'")
    return Prepared(code, out.colmap, out.quoted, out.keywords)


def _bad_character(source: str, text: str, i: int) -> FormulaError:
    return formula_error(source, text, f"character {text[i]!r} is not allowed", i + 1,
                         "use plain ASCII (e.g. theta instead of θ); write a column name with other characters in "
                         "backticks, e.g. `θ` or `Temp (K)`")
