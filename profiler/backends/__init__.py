"""Counting backends: one adapter per library behind ``CountingBackend`` (see interface.py).

Adapters import their library lazily, so importing this package imports neither fvcore nor thop.
"""

from __future__ import annotations

from paramscope.profiler.backends.interface import Backend, CountingBackend, FlopCount, UncountedOp

__all__ = ["Backend", "CountingBackend", "FlopCount", "UncountedOp"]
