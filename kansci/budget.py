"""A wall-clock limit for sympy calls that can run for minutes (simplify, expand). No torch import."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError after ``seconds``. Uses SIGALRM, so it only works in the main thread of a process;
    elsewhere (Dask worker threads) the block runs without a limit, and the caller's process timeout applies."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
