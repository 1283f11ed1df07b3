"""The project's own error types.

Every error a user can cause (a bad CSV, a bad YAML file, a missing run directory, an unsafe formula) is raised as a
:class:`KansciError` subclass. It carries a one-line ``message`` naming the thing at fault (file, line, column) and a
``hint`` saying how to fix it. The CLI prints ``error: <message> (hint: <hint>)`` and exits with ``exit_code``.

The message is for people. Code that needs to know what an error is about reads its structured fields instead, never
the message text: ``path`` (the file at fault, as the message shows it), ``line`` (1-based line in that file), ``key``
(the dotted config key of the setting at fault, e.g. ``data.target`` or ``symbolic.custom.0.expr``) and ``column``
(a data table's column name, or the 1-based character column in a line of text such as a YAML file or a formula).
Each is None when it does not apply or is unknown.

Errors about bad input values (:class:`DataError`, :class:`FormulaError`, :class:`ConfigError`) are also
``ValueError``, so code written for Python's conventions (scikit-learn's, for one) catches them as such.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = ["KansciError", "DataError", "FormulaError", "ConfigError", "RunDirError", "FitError"]

_FIELDS = ("path", "line", "key", "column")


class KansciError(Exception):
    """Base class for errors a user can cause and fix. ``exit_code`` is what the CLI returns (2 = bad input)."""

    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None, *, path: str | os.PathLike[str] | None = None,
                 line: int | None = None, key: str | None = None, column: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path: str | None = None if path is None else os.fspath(path)
        self.line = line
        self.key = key
        self.column = column

    def one_line(self) -> str:
        """The message and hint on a single line, as the CLI prints it."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" (hint: {' '.join(self.hint.split())})"
        return text

    def fields(self) -> dict[str, Any]:
        """The structured fields that are set (``path``, ``line``, ``key``, ``column``), for logs and tests."""
        return {name: getattr(self, name) for name in _FIELDS if getattr(self, name) is not None}

    def __str__(self) -> str:
        return self.one_line()


class DataError(KansciError, ValueError):
    """A data file or data value is unusable (bad CSV, NaN, unknown column, ...). A ValueError too, as Python (and
    scikit-learn) expects of bad input values."""


class FormulaError(KansciError, ValueError):
    """A user formula string is unsafe or cannot be parsed (a ValueError too)."""


class ConfigError(KansciError, ValueError):
    """A YAML config or a --set override is invalid (a ValueError too). ``issues`` lists every problem of one config
    load, each a :class:`kansci.config.yaml12.ConfigIssue` (location, dotted key, message; not imported here: this
    module is the bottom layer); it is empty for an error that is not about a loaded config's values."""

    def __init__(self, message: str, hint: str | None = None, *, path: str | os.PathLike[str] | None = None,
                 line: int | None = None, key: str | None = None, column: str | int | None = None,
                 issues: Sequence[Any] = ()) -> None:
        super().__init__(message, hint, path=path, line=line, key=key, column=column)
        self.issues: list[Any] = list(issues)


class RunDirError(KansciError):
    """A run directory is missing, incomplete or corrupt."""


class FitError(KansciError):
    """A runtime failure during training or symbolic fitting (not the user's input)."""

    exit_code = 1
