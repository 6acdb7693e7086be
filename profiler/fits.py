"""Will the model fit? Refuse ``--device cpu`` before allocating what the machine does not have.

Allocating a 300 GB model on cpu either raises deep inside torch or, with Linux's memory
overcommit, succeeds lazily and ends in the OOM killer while the weights are initialised. The
same spec built on meta costs nothing and tells the bytes of the weights, buffers and example
inputs exactly; that sum is compared with the memory the machine has available.
"""

from __future__ import annotations

from typing import Any

from paramscope.profiler.errors import ConfigError, ParamscopeError
from paramscope.profiler.spec import ModelSpec

__all__ = ["memory_info", "resident_bytes", "check_fits"]


def memory_info() -> tuple[int, int]:
    """(total, available) bytes of RAM (``/proc/meminfo``; sysconf where that is missing)."""
    import os

    fields: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                name, _, rest = line.partition(":")
                fields[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    total = fields.get("MemTotal") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return total, fields.get("MemAvailable", total)


def _tensor_bytes(obj: Any) -> int:
    import torch

    if isinstance(obj, torch.Tensor):
        return int(obj.numel() * obj.element_size())
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, tuple | list):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def resident_bytes(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """Bytes of the unique parameters and buffers of ``model`` plus its example inputs."""
    tensors = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return int(sum(t.numel() * t.element_size() for t in tensors.values())) + _tensor_bytes(args) + _tensor_bytes(kwargs)


def _gb(n: int) -> str:
    return f"{n / 1e9:,.0f} GB" if n >= 10e9 else f"{n / 1e9:,.1f} GB"


def check_fits(spec: ModelSpec, device: str) -> None:
    """On cpu: build on meta first and refuse when weights + inputs exceed the available memory.

    A spec that cannot be built on meta (a factory that needs real tensors) is not checked here.
    """
    if device != "cpu":
        return
    from paramscope.profiler.build import build

    try:
        built = build(spec, "meta")
    except ParamscopeError:
        if spec.family is not None:  # the zoo builds on meta: what fails there fails on cpu too
            raise
        return  # a user's factory may not support meta: the real build reports its own errors
    needs = resident_bytes(built.model, built.args, built.kwargs)
    total, available = memory_info()
    if needs > available:
        raise ConfigError(f"{spec.source}: needs {_gb(needs)} on cpu for weights and inputs; this machine has "
                          f"{_gb(total)} ({_gb(available)} available); use --device meta")
