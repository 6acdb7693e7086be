"""Closed choices of the library, torch-free so the command line can offer them without importing torch."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Clock", "Device", "Fusion"]


class Device(StrEnum):
    """Where a model is built and run: meta (no weights allocated), cpu or cuda."""

    META = "meta"
    CPU = "cpu"
    CUDA = "cuda"


class Clock(StrEnum):
    """What a time is: wall-clock latency, or CPU time of the calling thread (cpu only)."""

    WALL = "wall"
    THREAD = "thread"


class Fusion(StrEnum):
    """How ops are assumed to be combined into kernels (bytes moved, roofline)."""

    NONE = "none"
    """Every op is its own kernel (the default)."""
    ELEMENTWISE = "elementwise"
    """Element-wise ops run in their producer's kernel."""
