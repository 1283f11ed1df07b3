"""The project's own error types.

Every error a user can cause (a bad CSV, a bad YAML file, a missing run directory, an unsafe formula) is raised as a
:class:`KansciError` subclass. It carries a one-line ``message`` naming the thing at fault (file, line, column) and a
``hint`` saying how to fix it. The CLI prints ``error: <message> (hint: <hint>)`` and exits with ``exit_code``.
"""
from __future__ import annotations


class KansciError(Exception):
    """Base class for errors a user can cause and fix. ``exit_code`` is what the CLI returns (2 = bad input)."""

    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint on a single line, as the CLI prints it."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" (hint: {' '.join(self.hint.split())})"
        return text

    def __str__(self) -> str:
        return self.one_line()


class DataError(KansciError):
    """A data file or data value is unusable (bad CSV, NaN, unknown column, ...)."""


class FormulaError(KansciError):
    """A user formula string is unsafe or cannot be parsed."""


class ConfigError(KansciError):
    """A YAML config or a --set override is invalid."""


class RunDirError(KansciError):
    """A run directory is missing, incomplete or corrupt."""


class FitError(KansciError):
    """A runtime failure during training or symbolic fitting (not the user's input)."""

    exit_code = 1
