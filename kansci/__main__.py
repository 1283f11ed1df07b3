"""``python -m kansci`` and the ``kansci`` console script: the command line of :mod:`kansci.cli`.

A Ctrl-C that lands while the command line is still being imported (typer, the commands) ends the process at once
with exit code 130 and one line, like a Ctrl-C at any later moment: nothing has been written yet, and Python's own
handling would print a traceback and die by the signal instead.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any


def _interrupted_while_starting(signum: int, frame: Any) -> None:  # noqa: ARG001
    os.write(2, b"error: interrupted\n")
    os._exit(130)


def main() -> None:
    """Import the command line with Ctrl-C ending the process at once, then run it with Ctrl-C as KeyboardInterrupt
    (which :func:`kansci.cli.app.main` turns into exit code 130); once it returns, Ctrl-C is ignored while the
    interpreter exits, so the exit code stays the command's."""
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from kansci.cli import main as cli_main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli_main()
    except KeyboardInterrupt:  # one that lands as the command line returns: the command itself has finished
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.write(2, b"error: interrupted\n")
        _exit_interrupted()
    except SystemExit as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting: a Ctrl-C now would kill the interpreter by signal
        if exc.code == 130:
            _exit_interrupted()
        raise
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exit_interrupted() -> None:
    """Exit with code 130 once everything is flushed. Not through the interpreter's own exit: a KeyboardInterrupt
    that passed through code run by a C extension (an import that was interrupted) leaves CPython marked as killed by
    Ctrl-C, and it would then end itself by SIGINT (exit status -2) instead of returning 130."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(130)


if __name__ == "__main__":
    main()
