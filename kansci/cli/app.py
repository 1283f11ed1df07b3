"""The ``kansci`` Typer app: the root callback, the error-mapping ``command`` decorator and ``main``.

Thin: parse options -> build a config -> call the pipeline -> render.

Exit codes: 0 ok, 1 runtime failure (FitError, internal error), 2 bad input or usage (and a file that cannot be
written: a full disk, a read-only folder), 130 interrupted. Results go to stdout, progress and logs to stderr. No
traceback is printed unless the global ``--debug`` flag is given.
Config precedence everywhere: schema defaults < YAML file < ``--set a.b=v`` < explicit flags.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import typer

from kansci import __version__
from kansci.atomic import os_error
from kansci.cli import render
from kansci.errors import KansciError

__all__ = ["app", "command", "main"]

app = typer.Typer(name="kansci", help="Symbolic regression with Kolmogorov-Arnold Networks: from a CSV to a formula.",
                  add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)

F = TypeVar("F", bound=Callable[..., Any])


# ------------------------------------------------------------------------------------------------ error handling
_STATE = {"debug": False}        # set by the root callback on every invocation
# typer's own exit/usage exceptions pass through the guard (typer >= 0.20 vendors click, older ones use click's)
_PASS_THROUGH = (typer.Exit, typer.Abort, *[c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"])


def command(group: typer.Typer, name: str) -> Callable[[F], F]:
    """Register ``fn`` as ``group``'s command ``name``, mapping exceptions to messages and exit codes."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:  # the outer try: a Ctrl-C that lands while an error is being reported still exits 130
                try:
                    return fn(*args, **kwargs)
                except (*_PASS_THROUGH, KeyboardInterrupt):
                    raise
                except Exception as exc:  # noqa: BLE001 - the CLI boundary: every failure becomes a message + exit code
                    exc = _as_user_error(exc)
                    render.err(render.format_error(exc, debug=_STATE["debug"]))
                    raise typer.Exit(exc.exit_code if isinstance(exc, KansciError) else 1) from None
            except KeyboardInterrupt:
                with _sigint_ignored():
                    render.err("error: interrupted")
                raise typer.Exit(130) from None

        group.command(name)(guarded)
        return fn

    return decorate


#: OSErrors about the machine, not about kansci: a full disk, a quota, a read-only folder, no permission
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG, errno.EROFS,
                             errno.EACCES, errno.EPERM})


def _as_user_error(exc: Exception) -> Exception:
    """An OSError the user can fix (:data:`_MACHINE_ERRNOS`) as a one-line error naming the file (exit 2); a
    :class:`kansci.atomic.FileWriteError` already is one. Anything else unchanged."""
    if isinstance(exc, OSError) and not isinstance(exc, KansciError) and exc.errno in _MACHINE_ERRNOS:
        return os_error(exc, action="")
    return exc


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for the duration (in the main thread), so reporting an interrupt cannot itself be interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def main() -> None:
    """Console-script entry point (``kansci``). A Ctrl-C anywhere, even one that lands while the process is already
    reporting an error or exiting, ends with exit code 130 and no traceback."""
    try:
        try:
            app()
        except KeyboardInterrupt:
            pass
        else:  # click's standalone mode ends with SystemExit; reaching here is unusual
            return
    except KeyboardInterrupt:  # a second Ctrl-C during the first one's handling
        pass
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the process is exiting: nothing may interrupt that now
    render.err("error: interrupted")
    raise SystemExit(130) from None


def _show_version(value: bool) -> None:
    if value:
        render.out(f"kansci {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="print the version and exit")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
) -> None:
    _STATE["debug"] = debug

