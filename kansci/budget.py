"""Wall-clock budgets, the one implementation of the deadline check. No torch import.

A deadline is a ``time.perf_counter()`` value, or ``None`` for no limit. Long loops (training stages, the
architecture search, edge fitting, constant snapping, candidate formulas) check :func:`expired` between units of
work and return their best result so far. :func:`time_limit` bounds a single sympy call that cannot check a deadline
itself (``simplify``, ``expand``).
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["deadline_after", "expired", "remaining", "time_limit", "with_grace"]


def deadline_after(seconds: float | None) -> float | None:
    """The deadline ``seconds`` from now; ``None`` (no limit) for ``None`` or 0."""
    return time.perf_counter() + seconds if seconds else None


def expired(deadline: float | None) -> bool:
    """True once ``deadline`` has passed; never for ``None``."""
    return deadline is not None and time.perf_counter() > deadline


def remaining(deadline: float | None) -> float:
    """Seconds left before ``deadline`` (0 once passed); ``inf`` for ``None``."""
    return float("inf") if deadline is None else max(0.0, deadline - time.perf_counter())


def with_grace(deadline: float | None, seconds: float = 1.0) -> float | None:
    """``deadline``, or ``seconds`` from now if that is later: for the one unit of work that must run even past
    the deadline (the first candidate of a search), so that it is finished to a usable state, but briefly."""
    return None if deadline is None else max(deadline, time.perf_counter() + seconds)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError after ``seconds``. Uses SIGALRM, so it only works in the main thread of a process;
    elsewhere (Dask worker threads) the block runs without a limit, and the caller's process timeout applies."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001 (signal handler signature)
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
