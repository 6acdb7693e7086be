"""Time limits: ``expires`` bounds a block, ``timed`` one measurement (a what-if variant).

SIGALRM raises ``Expired`` in the main thread: it interrupts Python code, sleeps and most waits,
and as a ``BaseException`` it passes through the ``except Exception`` of user code. The handler
only runs between bytecodes, so a C call that never returns is ended by a watchdog thread, which
calls ``hard_stop`` (the CLI prints its line and ends the process) a grace period later.
Outside the main thread only the watchdog runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from paramscope.profiler.errors import TimedOut

__all__ = ["Expired", "expires", "timed", "GRACE_SECONDS"]

GRACE_SECONDS = 5.0
"""How long after the signal the watchdog waits before calling ``hard_stop``."""

_T = TypeVar("_T")
_R = TypeVar("_R")


class Expired(BaseException):
    """The time of an ``expires`` block ran out (``seconds`` is its limit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"gave up after {seconds:g} s")


@contextlib.contextmanager
def expires(seconds: float, hard_stop: Callable[[], None] | None = None) -> Iterator[None]:
    """Raise ``Expired`` in the body after ``seconds``; an enclosing limit is re-armed on exit."""
    watchdog = threading.Timer(seconds + GRACE_SECONDS, hard_stop) if hard_stop is not None else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
    in_main = threading.current_thread() is threading.main_thread()
    start = time.monotonic()
    if in_main:
        def handler(signum: int, frame: Any) -> None:
            raise Expired(seconds)

        old = signal.signal(signal.SIGALRM, handler)
        outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if in_main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            if outer > 0:  # the enclosing limit keeps its own deadline (fires at once if it is past)
                signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))


def timed(seconds: float, fn: Callable[[_T], _R], arg: _T, hard_stop: Callable[[], None] | None = None) -> _R:
    """``fn(arg)``, or ``TimedOut`` ("timed out after N s") when it takes longer than ``seconds``.

    Picklable as ``functools.partial(timed, seconds, fn)`` when ``fn`` is: a sweep's worker
    processes bound each configuration alike.
    """
    try:
        with expires(seconds, hard_stop):
            return fn(arg)
    except Expired as e:
        raise TimedOut(seconds, f"timed out after {e.seconds:g} s") from None
