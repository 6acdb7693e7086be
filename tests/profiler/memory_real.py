"""Measure a simulated step's real cpu allocations independently of paramscope's tracker.

Method: the same step runs for real on cpu (``plan_memory(..., device="cpu")``: real tensors,
real kernels) inside a ``torch.profiler`` session with ``profile_memory=True``. The c10 cpu
allocator reports every allocation and free it serves (including kernel workspaces that are not
tensor storages, which the tracker cannot see) as profiler Allocation events with the block's
pointer and size. The running sum of those events, plus the inputs that existed before the session
(the step's copy of the model is made inside it), is the real live memory; its maximum is the
real peak. The tracker's own peak on that run and the meta simulation are compared with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile
from torch.utils._pytree import tree_leaves

T = TypeVar("T")


def _allocator_events(prof: Any) -> list[tuple[int, int, int]]:
    """(time ns, +/- bytes, pointer) of every allocator event, in time order."""
    out = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            f = node.extra_fields
            out.append((node.start_time_ns, f.alloc_size, f.ptr))
        stack.extend(node.children)
    out.sort()
    return out


def real_peak(run: Callable[[], T], inputs: Any) -> tuple[int, T]:
    """Run ``run()`` under the profiler; return (real peak bytes, its result).

    Frees of blocks allocated before the session are ignored (their allocation was not seen).
    """
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = run()
    live: dict[int, int] = {}
    cur = peak = 0
    for _, delta, ptr in _allocator_events(prof):
        if delta > 0:
            live[ptr] = delta
            cur += delta
        elif ptr in live:
            cur -= live.pop(ptr)
        peak = max(peak, cur)
    before = sum(t.untyped_storage().nbytes() for t in {id(t): t for t in tree_leaves(inputs)
                                                        if isinstance(t, torch.Tensor)}.values())
    return peak + before, result


def within(a: int, b: int, pct: float = 3.0) -> bool:
    """``a`` within ``pct`` percent of ``b``."""
    return abs(a - b) <= pct / 100 * b
