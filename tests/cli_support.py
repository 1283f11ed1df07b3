"""Shared by the bad-input and bad-config tests: run the CLI inside a case folder and show that folder as <cwd>."""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from kansci.cli import app


@contextmanager
def in_folder(path: Path) -> Iterator[None]:
    """Work in ``path`` for the duration (relative paths in argv resolve there), then return."""
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def invoke_in(folder: Path, argv: Sequence[str]) -> Result:
    """``kansci *argv`` through typer's test runner, with ``folder`` as the working directory."""
    with in_folder(folder):
        return CliRunner().invoke(app, list(argv))


def hide_folder(text: str, folder: Path) -> str:
    """``text`` with the folder's path (as given and resolved) replaced by ``<cwd>``, so messages compare exactly."""
    for path in {str(folder.resolve()), str(folder)}:
        text = text.replace(path, "<cwd>")
    return text
