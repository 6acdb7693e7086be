"""Memory of a training step or an inference forward, simulated storage by storage.

The step the user means runs on a private copy of the model (on meta by default: nothing is
allocated) while every tensor storage's allocation and release is recorded in time
(``profiler/memtrack.py``, ``profiler/memstep.py``). The report gives the peak, when it happens
(phase and module), and what is live at that moment by kind and by module.

Conventions (also in the README):

- Training: ``steps`` iterations of forward, ``loss.backward()`` (the loss is the sum of the floating
  outputs), ``optimizer.step()``, ``optimizer.zero_grad(set_to_none=True)``; the optimizer is
  torch's own (Adam, AdamW, SGD with momentum 0.9) with torch's default implementation for the
  modelled allocator: for-loop on cpu, ``foreach`` on cuda (its temporaries count). Inference:
  one forward in eval mode under ``torch.inference_mode()``.
- Kinds: weights (parameters and buffers), gradients (``.grad``), optimizer state, activations
  saved for backward, inputs, and temporaries (everything else: op outputs not saved, backward
  intermediates, optimizer scratch tensors). A storage has one kind for its whole life.
- Precisions: fp32/bf16/fp16 store and compute in that dtype; ``amp`` keeps fp32 weights and runs
  the forward under ``torch.autocast``; int8/int4 training is QAT (fp32 master weights, each
  weight use fake-quantised); int8/int4 inference stores the weights at 1 or 1/2 byte per element
  (weight-only quantisation) and computes in fp32. ``keep`` maps module-path prefixes to another
  precision; the longest matching prefix wins.
- Bytes: a storage costs its ``nbytes`` under the cpu allocator and ``nbytes`` rounded up to
  512-byte blocks under the cuda caching allocator.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from torch import nn

from paramscope.profiler.errors import ConfigError
from paramscope.profiler.memstep import StepPlan, simulate_step
from paramscope.profiler.memtrack import Allocation, Kind, StorageTracker
from paramscope.profiler.paths import did_you_mean, is_within
from paramscope.profiler.precision import Optimizer, Precision, tensor_bytes
from paramscope.profiler.stats import Assumption

__all__ = [
    "Allocator", "Precision", "Optimizer", "LiveBytes", "MemoryRow", "TimelinePoint", "MemoryReport",
    "plan_memory", "plan_memory_sweep", "tensor_bytes",
]


class Allocator(StrEnum):
    """The allocator whose rounding (and optimizer default) the simulation models."""

    CPU = "cpu"
    CUDA = "cuda"

    @property
    def block_bytes(self) -> int:
        """Each storage is rounded up to a multiple of this (cuda caching allocator: 512)."""
        return 512 if self is Allocator.CUDA else 1


_KIND_FIELD = {
    Kind.WEIGHTS: "weights_bytes", Kind.GRADS: "grads_bytes", Kind.OPTIMIZER: "optimizer_bytes",
    Kind.ACTIVATION: "activation_bytes", Kind.TEMPORARY: "temporary_bytes", Kind.INPUT: "input_bytes",
}


@dataclass(frozen=True, slots=True)
class LiveBytes:
    """Live bytes by kind at one moment (the peak, or a timeline point)."""

    weights_bytes: int = 0
    """Parameters and buffers."""
    grads_bytes: int = 0
    optimizer_bytes: int = 0
    activation_bytes: int = 0
    """Tensors saved for backward."""
    temporary_bytes: int = 0
    input_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        """Sum over kinds."""
        return sum(getattr(self, f.name) for f in dataclasses.fields(LiveBytes))


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryRow(LiveBytes):
    """What one module holds at the peak (its own parameters' state, what it allocated)."""

    path: str
    """``named_modules()`` key; "" is the root (and holds the inputs)."""
    type: str
    precision: Precision


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """Live bytes by kind after one allocation or release event."""

    event: int
    phase: str
    live: LiveBytes


@dataclass(frozen=True, slots=True)
class MemoryReport:
    """Simulated memory of one plan."""

    dtype: Precision
    train: Optimizer | None
    keep: tuple[tuple[str, Precision], ...]
    amp: Precision | None
    steps: int
    checkpoint: tuple[str, ...]
    allocator: Allocator
    measured_on: str
    """Device the step ran on (meta: simulated, nothing allocated)."""
    peak_bytes: int
    peak_phase: str
    """forward, backward, optimizer, zero_grad (training) or forward (inference)."""
    peak_module: str
    """Innermost module running when the peak was reached ("" = outside any submodule)."""
    peak_step: int
    """1-based step of the peak."""
    live_at_peak: LiveBytes
    rows: tuple[MemoryRow, ...]
    timeline: tuple[TimelinePoint, ...]
    recompute_macs: int | None = None
    """MACs recomputed in backward by checkpointed submodules (None without ``checkpoint``)."""
    assumptions: tuple[Assumption, ...] = ()
    """Values the meta device cannot know, assumed (seeded) where the step needed them (MoE routing...)."""

    def subtree(self, path: str) -> LiveBytes:
        """Bytes at the peak held by ``path`` and everything under it ("" = everything)."""
        return _sum(r for r in self.rows if is_within(r.path, path))


def plan_memory(
    model: nn.Module, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
    dtype: Precision, train: Optimizer | None = None, keep: Mapping[str, Precision] | None = None,
    **options: Any,
) -> MemoryReport:
    """Simulate one plan; see ``plan_memory_sweep``."""
    return plan_memory_sweep(model, args, kwargs, dtypes=(dtype,), train=train, keep=keep, **options)[0]


def plan_memory_sweep(
    model: nn.Module, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
    dtypes: Sequence[Precision], train: Optimizer | None = None, keep: Mapping[str, Precision] | None = None,
    steps: int = 2, amp: Precision | None = None, checkpoint: Sequence[str] = (),
    allocator: Allocator | None = None, device: str = "meta", seed: int = 0, replay: bool = False,
) -> tuple[MemoryReport, ...]:
    """Simulate the training step (``train`` set) or inference forward for each precision.

    Args:
        model: the model (left as found: the step runs on a copy).
        args, kwargs: example inputs of ``model.forward``.
        dtypes: one plan per precision.
        train: optimizer of the training step; None for inference.
        keep: ``{module_path_prefix: precision}`` overriding the plan precision for subtrees.
        steps: training steps simulated (2: the second one runs with optimizer state).
        amp: autocast dtype (bf16/fp16) over fp32 weights; None for none.
        checkpoint: ``fnmatch`` patterns of module paths run under ``torch.utils.checkpoint``.
        allocator: rounding and optimizer implementation modelled; default from ``device``.
        device: where the step runs: "meta" (simulated) or a real device.
        seed: seeds the values a meta step must assume (routing, tensor-to-bool...), as in ``count_macs``.
        replay: on a real device, the values a meta run cannot know take the meta run's seeded
            stand-ins (same routing): how tests compare meta and cpu where the data matters.

    Raises:
        ConfigError: a ``keep`` path or ``checkpoint`` pattern names no submodule, bad numbers.
        ForwardFailed: the forward raised; the message names the submodule (``MetaUnsupported``:
            an op that cannot run on meta even under assumptions).
    """
    keep_plan = _validate_keep(model, keep or {})
    _validate_checkpoint(model, checkpoint)
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}")
    if amp is not None and amp not in (Precision.BF16, Precision.FP16):
        raise ConfigError(f"amp: autocast runs in bf16 or fp16, not {amp.value}")
    alloc = allocator or (Allocator.CUDA if device.startswith("cuda") else Allocator.CPU)
    reports = []
    for d in dtypes:
        prec = Precision(d)
        plan = StepPlan(prec, train, keep_plan, steps if train is not None else 1, amp, tuple(checkpoint),
                        alloc.block_bytes, foreach=alloc is Allocator.CUDA)
        tracker, clone, assumed = simulate_step(model, args, kwargs or {}, plan, device,
                                                _plan_precision(prec, keep_plan), seed, replay)
        macs = _recompute_macs(model, args, kwargs or {}, checkpoint, seed) if checkpoint else None
        reports.append(_report(plan, tracker, clone, alloc, device, macs, assumed))
    return tuple(reports)


# --- plan validation ----------------------------------------------------------------------------


def _validate_keep(model: nn.Module, keep: Mapping[str, Precision]) -> dict[str, Precision]:
    paths = [p for p, _ in model.named_modules(remove_duplicate=False)]
    known = set(paths)
    plan: dict[str, Precision] = {}
    for path, prec in keep.items():
        if path not in known:
            hint = did_you_mean(path, paths, known=False, n=5, cutoff=0.5)
            raise ConfigError(f"keep: no submodule named {path!r} in {type(model).__name__}{hint}")
        try:
            plan[path] = Precision(prec)
        except ValueError:
            names = ", ".join(p.value for p in Precision)
            raise ConfigError(f"keep: unknown precision {prec!r} for {path!r}; use one of {names}") from None
    return plan


def _validate_checkpoint(model: nn.Module, patterns: Sequence[str]) -> None:
    paths = [p for p, _ in model.named_modules() if p]
    for pat in patterns:
        if not any(fnmatch.fnmatchcase(p, pat) for p in paths):
            hint = did_you_mean(pat, paths, known=False, n=3, cutoff=0.5)
            raise ConfigError(f"checkpoint: no submodule matches {pat!r} in {type(model).__name__}{hint}")


def _plan_precision(dtype: Precision, keep: Mapping[str, Precision]) -> Callable[[str], Precision]:
    """``path -> precision`` of one plan."""
    return lambda path: _precision_of(path, dtype, keep)


def _precision_of(path: str, dtype: Precision, keep: Mapping[str, Precision]) -> Precision:
    best: tuple[int, Precision] | None = None
    for prefix, prec in keep.items():
        if is_within(path, prefix) and (best is None or len(prefix) >= best[0]):
            best = (len(prefix), prec)
    return dtype if best is None else best[1]


# --- report -------------------------------------------------------------------------------------


def _sum(items: Any) -> LiveBytes:
    names = [f.name for f in dataclasses.fields(LiveBytes)]
    return LiveBytes(*(sum(getattr(r, c) for r in items) for c in names))


def _by_kind(allocs: Sequence[Allocation]) -> LiveBytes:
    cols = dict.fromkeys(_KIND_FIELD.values(), 0)
    for a in allocs:
        cols[_KIND_FIELD[a.kind]] += a.nbytes
    return LiveBytes(**cols)


def _report(plan: StepPlan, tracker: StorageTracker, clone: nn.Module, alloc: Allocator, device: str,
            macs: int | None, assumed: tuple[Assumption, ...]) -> MemoryReport:
    live = tracker.live_at(tracker.peak_event) if tracker.peak_event >= 0 else []
    modules = dict(clone.named_modules())
    per_module: dict[str, list[Allocation]] = {path: [] for path in modules}
    for a in live:
        per_module.setdefault(a.module, []).append(a)
    rows = tuple(
        MemoryRow(**dataclasses.asdict(_by_kind(allocs)), path=path,
                  type=type(modules[path]).__name__ if path in modules else "",
                  precision=_precision_of(path, plan.dtype, plan.keep))
        for path, allocs in per_module.items()
    )
    return MemoryReport(
        dtype=plan.dtype, train=plan.train, keep=tuple(sorted(plan.keep.items())), amp=plan.amp,
        steps=plan.steps, checkpoint=plan.checkpoint, allocator=alloc, measured_on=device,
        peak_bytes=tracker.peak, peak_phase=tracker.peak_phase,
        peak_module=tracker.peak_module, peak_step=tracker.peak_step,
        live_at_peak=_by_kind(live), rows=rows, timeline=_timeline(tracker), recompute_macs=macs,
        assumptions=assumed,
    )


def _timeline(tracker: StorageTracker, points: int = 1500) -> tuple[TimelinePoint, ...]:
    """Live bytes by kind after every ``k``-th event (and at the peak), at most ~``points``."""
    every = max(1, len(tracker.events) // points)
    cols = dict.fromkeys(_KIND_FIELD.values(), 0)
    out = []
    for i, ((delta, rec), phase) in enumerate(zip(tracker.events, tracker.event_phase, strict=True)):
        cols[_KIND_FIELD[rec.kind]] += delta
        if i % every == 0 or i == tracker.peak_event or i == len(tracker.events) - 1:
            out.append(TimelinePoint(i, phase, LiveBytes(**cols)))
    return tuple(out)


def _recompute_macs(model: nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any],
                    patterns: Sequence[str], seed: int) -> int:
    """Forward MACs of the checkpointed submodules: what backward runs again."""
    from paramscope.profiler.flops import count_macs

    count = count_macs(model, tuple(args), dict(kwargs), seed=seed)
    paths = [p for p, _ in model.named_modules() if p and any(fnmatch.fnmatchcase(p, pat) for pat in patterns)]
    outer = [p for p in paths if not any(is_within(p, q) and p != q for q in paths)]
    return sum(int(count.macs.get(p) or 0) for p in outer)
