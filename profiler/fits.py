"""Will the model fit? Refuse ``--device cpu`` before allocating what the machine does not have.

Allocating a 300 GB model on cpu either raises deep inside torch or, with Linux's memory
overcommit, succeeds lazily and ends in the OOM killer while the weights are initialised. The
same spec built on meta tells the bytes of the weights, buffers and example inputs exactly; that
sum is compared with the memory the machine has available. The pre-build makes every tensor over
``PRE_BUILD_LIMIT`` bytes on meta (a giant buffer too, which a meta build otherwise keeps real).
"""

from __future__ import annotations

import math
import re
from typing import Any

from paramscope.profiler.errors import DoesNotFit, ParamscopeError, TooLarge, gigabytes
from paramscope.profiler.spec import ModelSpec

__all__ = ["PRE_BUILD_LIMIT", "PRE_BUILD_BUDGET", "MAX_BYTES", "memory_info", "resident_bytes", "check_fits", "check_bytes",
           "allocation_failure"]

PRE_BUILD_LIMIT = 1 << 24
"""Largest tensor (bytes) the pre-build makes on cpu (``metabuild.BUILD_LIMIT`` for meta builds)."""
PRE_BUILD_BUDGET = 1 << 28
"""Bytes of cpu tensors the pre-build keeps in all: far below any machine's memory."""


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


def _formula_bytes(spec: ModelSpec) -> int:
    """Bytes of a zoo family's float32 weights by its closed-form ``param_formula`` (0 for a target)."""
    if spec.family is None:
        return 0
    from paramscope.profiler.build import resolve_family

    family, cfg, _ = resolve_family(spec)
    try:
        return 4 * int(family.param_formula(cfg)[""])
    except Exception:  # noqa: BLE001 - an oracle that cannot answer: the pre-build measures instead
        return 0


def _pre_build(spec: ModelSpec, inputs: bool) -> Any:
    """``spec`` built on meta with only small tensors real (``metabuild``); None if a target cannot be.

    A build whose code needs the values of a tensor the pre-build made on meta is retried at the
    meta build's own limits. A zoo family builds on meta: what fails there fails on cpu too.
    A user's factory may not support meta: the real build then reports its own errors.
    """
    from paramscope.profiler.build import build
    from paramscope.profiler.metabuild import BUILD_BUDGET, BUILD_LIMIT, build_limit

    for limit, budget in ((PRE_BUILD_LIMIT, PRE_BUILD_BUDGET), (BUILD_LIMIT, BUILD_BUDGET)):
        try:
            with build_limit(limit, budget):
                return build(spec, "meta", inputs=inputs)
        except ParamscopeError:
            if limit == BUILD_LIMIT and spec.family is not None:
                raise
    return None


def check_fits(spec: ModelSpec, device: str, *, inputs: bool = True) -> None:
    """On cpu: build on meta first and raise ``DoesNotFit`` when weights, buffers and inputs exceed
    the available memory. Nothing big is allocated on the way (``metabuild``)."""
    if device != "cpu":
        return
    # a million experts: refused by the zoo's formula before building a million modules
    check_bytes(f"{spec.source}: ", "its weights alone", _formula_bytes(spec), device)
    built = _pre_build(spec, inputs)
    if built is not None:
        check_bytes(f"{spec.source}: ", "weights, buffers and inputs" if inputs else "weights and buffers",
                    resident_bytes(built.model, built.args, built.kwargs), device)


def check_bytes(where: str, what: str, needs: int, device: str) -> None:
    """Raise ``DoesNotFit`` when ``needs`` bytes on cpu exceed the available memory, and
    ``TooLarge`` when they pass ``MAX_BYTES``, where no device (meta included) can hold them."""
    if needs > MAX_BYTES:
        raise TooLarge(f"{where}needs {gigabytes(needs)} for {what}: more than any device can hold "
                       "(over 2^63 bytes, where torch's sizes overflow); check the sizes")
    if device == "cpu":
        total, available = memory_info()
        if needs > available:
            raise DoesNotFit(where, what, needs, device, total, available)


_REFUSED = re.compile(r"can't allocate memory: you tried to allocate (\d+) bytes")
_OVERFLOWED = re.compile(r"Storage size calculation overflowed with sizes=\[([\d, ]*)\]")
MAX_BYTES = (1 << 63) - 1
"""Bytes torch can size a storage with (int64): beyond it no device, not even meta, holds a tensor."""


def allocation_failure(exc: BaseException) -> str | None:
    """torch's refused cpu allocation in one short clause (``out of memory: one tensor of 400 GB
    on cpu; this machine has ...``), a tensor whose bytes overflow int64 on any device (``one tensor
    of [3000000000, 1000000000] ...: more than any device can hold``), or None for anything else."""
    text = str(exc)
    m = _REFUSED.search(text)
    if m is not None:
        total, available = memory_info()
        return (f"out of memory: one tensor of {gigabytes(int(m.group(1)))} on cpu; this machine has "
                f"{gigabytes(total)} ({gigabytes(available)} available)")
    m = _OVERFLOWED.search(text)
    if m is None:
        return None
    sizes = [int(d) for d in m.group(1).replace(" ", "").split(",") if d]
    return (f"one tensor of shape {sizes} ({math.prod(sizes):,} elements) is more than any device can hold: "
            "its size in bytes overflows 64 bits; check the sizes")
