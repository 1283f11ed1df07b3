"""The ``kansci`` command line (Typer). Thin: parse options -> build a config -> call the pipeline -> render.

Exit codes: 0 ok, 1 runtime failure (FitError, internal error), 2 bad input or usage, 130 interrupted. Results go to
stdout, progress and logs to stderr (only :mod:`kansci.cli.render` writes to the terminal). No traceback is printed
unless the global ``--debug`` flag is given. Config precedence everywhere: schema defaults < YAML file <
``--set a.b=v`` < explicit flags.

Importing this package registers every command on :data:`app`: the pipeline commands (:mod:`.run`, with ``predict``
from :mod:`.predict`), the small tools (:mod:`.tools`) and the benchmarks (:mod:`.bench`). ``--json`` documents are
built in :mod:`.jsondoc` (schemas in docs/cli_json.md).
"""
from __future__ import annotations

from kansci.cli import bench, run, tools
from kansci.cli.app import app, main

__all__ = ["app", "main", "bench", "run", "tools"]
