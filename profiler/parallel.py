"""Measure many configurations in worker processes, with the results of one process.

A sweep measures each distinct configuration once. ``premeasure`` measures them all up front in
``jobs`` processes and hands the sweep a ``measure_fn`` that answers from those results, so the
sweep's own logic (grid order, baselines, failed rows) runs unchanged in this process. A
configuration that failed in a worker is measured again here when the sweep asks for it: its
error (type and wording) is exactly the one a one-process sweep reports.

Workers are forked from a fork server that imported torch and paramscope and ran one tiny count
on meta (``profiler/warmup.py``) before doing any work: cheap to start (no second ``import torch``
per worker, no cold first count), and safe where forking a process that already ran OpenMP
kernels is not. ``start_server`` starts it before the caller's own imports, which it overlaps.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

from paramscope.profiler.spec import ModelSpec
from paramscope.profiler.stats import Profile

__all__ = ["default_jobs", "premeasure", "start_server", "WORKER_BYTES", "MIN_AUTO_CONFIGURATIONS"]

WORKER_BYTES = 1 << 30
"""Memory budgeted per worker: torch (~300 MB resident) plus a model on meta and its profile."""
MIN_AUTO_CONFIGURATIONS = 8
"""Below this many configurations the default is one process: starting workers costs about one
``import torch``, more than a few meta measurements save."""
_PRELOAD = ["torch", "torch.utils.flop_counter", "paramscope.profiler.pipeline", "paramscope.profiler.flops",
            "paramscope.profiler.warmup"]

Measure = Callable[[ModelSpec], Profile]
Progress = Callable[[int, int, str], None]


def default_jobs(configurations: int) -> int:
    """Worker processes for a sweep of ``configurations``: the cores, capped by available memory
    (one per ``WORKER_BYTES``); 1 for small sweeps."""
    if configurations < MIN_AUTO_CONFIGURATIONS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    available = _available_bytes()
    by_memory = cores if available is None else max(1, available // WORKER_BYTES)
    return max(1, min(cores, by_memory, configurations))


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _attempt(measure_fn: Measure, spec: ModelSpec) -> Profile | None:
    """In a worker: the profile, or None when measuring failed (the sweep measures it again)."""
    try:
        return measure_fn(spec)
    except Exception:  # noqa: BLE001 - reported by the sweep's own, in-process attempt
        return None


def _context() -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def start_server() -> None:
    """Start the fork server now, so that its imports and warm-up (``_PRELOAD``: torch, paramscope, a
    tiny count: about 5 s of CPU) run beside the caller's own work instead of after it. A sweep of
    rg_output imports torch in the caller too (loading the zoo family): started first, the two
    overlap on two cores."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def premeasure(measure_fn: Measure, specs: Sequence[ModelSpec], jobs: int, progress: Progress | None = None) -> Measure:
    """Measure ``specs`` in ``jobs`` processes; a ``measure_fn`` answering from the results.

    ``measure_fn`` must be picklable (a module-level function or a ``functools.partial`` of one).
    Specs are told apart by their ``repr`` (every field); one the workers did not measure, or that
    failed there, is measured by ``measure_fn`` in this process when asked for.
    """
    unique = list({repr(s): s for s in specs}.items())
    jobs = min(jobs, len(unique))
    if jobs <= 1:
        return measure_fn
    results: dict[str, Profile | None] = {}
    with ProcessPoolExecutor(jobs, mp_context=_context()) as pool:
        answers = pool.map(partial(_attempt, measure_fn), [s for _, s in unique])
        for i, ((key, _), prof) in enumerate(zip(unique, answers, strict=True)):
            results[key] = prof
            if progress:
                progress(i + 1, len(unique), f"measured {i + 1} of {len(unique)} configurations in {jobs} processes")

    def measured(spec: ModelSpec) -> Profile:
        prof = results.get(repr(spec))
        return prof if prof is not None else measure_fn(spec)

    return measured
