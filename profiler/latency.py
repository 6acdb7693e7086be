"""Forward latency of the whole model and of each submodule, on cpu or cuda.

Method:

- The model runs in eval mode under ``torch.inference_mode``; its per-module training flags are
  restored afterwards and every hook is removed in a ``finally``.
- After ``warmup`` calls of each kind, ``repeats`` rounds each time one call without hooks (the
  whole-model time) and one call with forward pre/post hooks on every submodule (per-module
  times). Interleaving the two kinds keeps slow drift of the machine out of their difference.
- Inclusive time of a call is post-hook minus pre-hook; self time is inclusive minus the inclusive
  time of the module calls made directly inside it (the dynamic call tree, so shared modules and
  modules called several times are handled). Per repeat, a path's times are summed over its calls;
  the report gives the median and the p10/p90 over repeats (linear interpolation).
- The hook overhead is (median hooked whole-model time) - (median unhooked time). The sum of the
  per-module self medians is compared with the hooked whole-model median: the root's self time
  holds the functional code of the top-level forward, so the two differ only by the root hooks and
  by taking medians per module rather than of the sum.
- ``clock``: ``wall`` (default) is ``time.perf_counter`` on cpu and CUDA events on cuda, i.e. the
  latency a user sees. On a busy machine other processes pre-empt the run; a pre-emption inflates
  the whole-model time of its repeat but the self time of only one module, so the sum of per-module
  medians falls below the median whole-model time and the self-sum check shows it. ``thread``
  (cpu only) counts the CPU time of the calling thread (``time.thread_time``), which excludes
  pre-emption: the cost on an idle core. Worker threads would be invisible to it, so it runs with
  one intra-op thread.
- ``threads`` optionally sets ``torch.set_num_threads`` while timing (restored after).
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple, assert_never

import torch
from torch import nn

from paramscope.profiler.choices import Clock
from paramscope.profiler.errors import ArgumentError, ConfigError, ForwardFailed, ParamscopeError
from paramscope.profiler.forward import module_hooks, run_forward, tensor_leaves
from paramscope.profiler.guard import preserved

__all__ = ["Clock", "Timing", "LatencyRow", "LatencyReport", "measure_latency"]

META_MESSAGE = "latency needs real tensors: build the model on device cpu or cuda"


@dataclass(frozen=True, slots=True)
class Timing:
    """Median and spread of a time over repeats, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """Times of one submodule per forward of the whole model."""

    path: str
    """``named_modules()`` key; "" is the root."""
    type: str
    """Class name of the module."""
    calls: int
    """Calls per forward of the whole model."""
    inclusive_ms: Timing
    """Time inside the module, children included, summed over its calls."""
    self_ms: Timing
    """Inclusive time minus the inclusive time of the module calls made directly inside it."""


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """Forward latency of a model and of its submodules."""

    device: str
    """Device the model ran on, e.g. "cpu" or "cuda:0"."""
    repeats: int
    """Timed calls of each kind (with and without hooks)."""
    warmup: int
    """Untimed calls of each kind before timing."""
    total_ms: Timing
    """Whole-model time without hooks."""
    hooked_total_ms: Timing
    """Whole-model time with the per-module hooks installed."""
    hook_overhead_ms: float
    """``hooked_total_ms.median_ms - total_ms.median_ms`` (may be slightly negative from noise)."""
    rows: tuple[LatencyRow, ...]
    """Modules called during the forward, in ``named_modules()`` order."""
    self_sum_ms: float
    """Sum over rows of the median self time."""
    self_sum_diff_ms: float
    """``self_sum_ms - hooked_total_ms.median_ms``."""
    self_sum_vs_total_pct: float
    """``100 * self_sum_diff_ms / hooked_total_ms.median_ms``."""
    self_sum_vs_unhooked_pct: float
    """``100 * (self_sum_ms - total_ms.median_ms) / total_ms.median_ms``."""
    clock: Clock = Clock.WALL
    """Clock the times were taken with."""
    threads: int = 0
    """Intra-op threads while timing (``torch.get_num_threads()``)."""


def measure_latency(
    model: nn.Module,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    device: str,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    clock: Clock = Clock.WALL,
) -> LatencyReport:
    """Time ``model(*args, **kwargs)`` as a whole and per submodule.

    Args:
        model: the model, already on ``device``.
        args: positional example inputs, already on ``device``.
        kwargs: keyword example inputs.
        device: "cpu", "cuda" or "cuda:N"; "meta" is refused.
        repeats: timed calls of each kind (at least 1; 20 or more for a stable median).
        warmup: untimed calls of each kind first.
        threads: intra-op threads while timing (``torch.set_num_threads``); None keeps torch's.
        clock: ``wall`` latency, or ``thread`` CPU time (cpu only, one thread), which a busy
            machine does not disturb.

    Returns:
        A frozen ``LatencyReport``; see the module docstring for the method.

    Raises:
        ParamscopeError: device meta (or tensors on meta), cuda unavailable, or a model on
            another device.
        ArgumentError: repeats or threads < 1, or warmup < 0 (naming the parameter).
        ForwardFailed: the forward pass raised; the message names the submodule.
    """
    for name, value, least in (("repeats", repeats, 1), ("warmup", warmup, 0), ("threads", threads, 1)):
        if value is not None and value < least:
            raise ArgumentError(name, value, f"expected at least {least}")
    try:
        clock = Clock(clock)
    except ValueError:
        raise ConfigError(f"unknown clock {clock!r}; use one of {', '.join(c.value for c in Clock)}") from None
    kwargs = dict(kwargs or {})
    dev = _check_device(model, args, kwargs, device)
    timer, threads = _clock(clock, dev, threads)
    runner = _Runner(model, tuple(args), kwargs, timer)
    with preserved(model), _timing_state(model, threads):
        used_threads = torch.get_num_threads()
        for _ in range(warmup):
            runner.plain()
            runner.hooked()
        plain: list[float] = []
        hooked: list[float] = []
        per_path: list[dict[str, _PathTimes]] = []
        for _ in range(repeats):
            plain.append(runner.plain())
            total, paths = runner.hooked()
            hooked.append(total)
            per_path.append(paths)
    report = _report(model, str(dev), repeats, warmup, plain, hooked, per_path)
    return dataclasses.replace(report, clock=clock, threads=used_threads)


def _clock(clock: Clock, dev: torch.device, threads: int | None) -> tuple[_CpuClock | _CudaClock, int | None]:
    """The timer for ``clock`` on ``dev`` and the thread count to time with."""
    if clock is Clock.WALL:
        return (_CudaClock(dev) if dev.type == "cuda" else _CpuClock()), threads
    if clock is Clock.THREAD:
        if dev.type != "cpu":
            raise ParamscopeError("the thread clock measures cpu only; use the wall clock on cuda")
        if threads not in (None, 1):
            raise ConfigError(f"the thread clock times one intra-op thread; got threads={threads}")
        return _ThreadClock(), 1
    assert_never(clock)


# --- device and state ---------------------------------------------------------------------------


def _check_device(model: nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any], device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ArgumentError("device", repr(device), "unknown device; use cpu or cuda") from None
    tensors = [*model.parameters(), *model.buffers(), *tensor_leaves([list(args), dict(kwargs)])]
    if dev.type == "meta" or any(t.device.type == "meta" for t in tensors):
        raise ParamscopeError(META_MESSAGE)
    if dev.type not in ("cpu", "cuda"):
        raise ParamscopeError(f"latency is measured on cpu or cuda, not {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentError("device", "cuda", "torch sees no CUDA device; use cpu")
    wrong = {str(t.device) for t in tensors if t.device.type != dev.type}
    if wrong:
        raise ParamscopeError(f"model or inputs are on {', '.join(sorted(wrong))}, not {device}; build them on {device}")
    return dev


@contextmanager
def _timing_state(model: nn.Module, threads: int | None) -> Iterator[None]:
    """eval mode, inference mode, no garbage collector, maybe fewer threads; all restored after."""
    modes = {m: m.training for m in model.modules()}
    gc_was_enabled = gc.isenabled()
    threads_before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        model.eval()
        gc.collect()
        gc.disable()
        with torch.inference_mode():
            yield
    finally:
        if gc_was_enabled:
            gc.enable()
        torch.set_num_threads(threads_before)
        for m, flag in modes.items():
            m.training = flag


# --- clocks -------------------------------------------------------------------------------------


class _CpuClock:
    def mark(self) -> float:
        return time.perf_counter()

    def sync(self) -> None:
        pass

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return (float(end) - float(start)) * 1000.0


class _ThreadClock(_CpuClock):
    def mark(self) -> float:
        return time.thread_time()


class _CudaClock:
    """CUDA events: a mark is queued on the stream; times are read after synchronising."""

    def __init__(self, dev: torch.device) -> None:
        self.dev = dev

    def mark(self) -> Any:
        ev = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]  # Event.__init__ is unannotated
        ev.record()
        return ev

    def sync(self) -> None:
        torch.cuda.synchronize(self.dev)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))


# --- runs ---------------------------------------------------------------------------------------


class _Runner:
    """One call of the model, without hooks or with hooks on every submodule."""

    def __init__(self, model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], clock: _CpuClock | _CudaClock) -> None:
        self.model, self.args, self.kwargs, self.clock = model, args, kwargs, clock

    def _call(self, where: Callable[[], str]) -> float:
        self.clock.sync()
        start = self.clock.mark()
        run_forward(self.model, self.args, self.kwargs, where)
        end = self.clock.mark()
        self.clock.sync()
        return self.clock.elapsed_ms(start, end)

    def plain(self) -> float:
        try:
            return self._call(lambda: "")
        except ForwardFailed:
            self.hooked()  # raises again, naming the submodule
            raise

    def hooked(self) -> tuple[float, dict[str, _PathTimes]]:
        """Whole time and each path's calls, inclusive and self time of one hooked call."""
        records: list[_Call] = []
        stack: list[int] = []
        with module_hooks(self.model, self._pre(records, stack), self._post(records, stack)):
            total = self._call(lambda: records[stack[-1]].path if stack else "")
        return total, self._resolve(records)

    def _pre(self, records: list[_Call], stack: list[int]) -> Callable[[str], None]:
        clock = self.clock

        def pre(path: str) -> None:
            call = _Call(path, stack[-1] if stack else -1)
            records.append(call)
            stack.append(len(records) - 1)
            call.start = clock.mark()  # last, so the bookkeeping is not timed

        return pre

    def _post(self, records: list[_Call], stack: list[int]) -> Callable[[str], None]:
        clock = self.clock

        def post(_path: str) -> None:
            end = clock.mark()  # first, so the bookkeeping is not timed
            records[stack.pop()].end = end

        return post

    def _resolve(self, records: list[_Call]) -> dict[str, _PathTimes]:
        inclusive = [self.clock.elapsed_ms(r.start, r.end) for r in records]
        children = [0.0] * len(records)
        for i, r in enumerate(records):
            if r.parent >= 0:
                children[r.parent] += inclusive[i]
        out: dict[str, _PathTimes] = {}
        for i, r in enumerate(records):
            acc = out.get(r.path, _PathTimes())
            out[r.path] = _PathTimes(acc.calls + 1, acc.inclusive_ms + inclusive[i],
                                     acc.self_ms + inclusive[i] - children[i])
        return out


@dataclass(slots=True)
class _Call:
    """One module call of a hooked forward."""

    path: str
    parent: int
    """Index of the enclosing call in the records; -1 at the top."""
    start: Any = None
    """The clock's mark at the pre-hook (a float, or a CUDA event)."""
    end: Any = None


class _PathTimes(NamedTuple):
    """One path's calls and times in one hooked forward, summed over its calls."""

    calls: int = 0
    inclusive_ms: float = 0.0
    self_ms: float = 0.0


# --- statistics ---------------------------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0..100) with linear interpolation between order statistics."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _timing(values: Sequence[float]) -> Timing:
    return Timing(_percentile(values, 50), _percentile(values, 10), _percentile(values, 90))


def _report(
    model: nn.Module,
    device: str,
    repeats: int,
    warmup: int,
    plain: Sequence[float],
    hooked: Sequence[float],
    per_path: Sequence[Mapping[str, _PathTimes]],
) -> LatencyReport:
    rows = []
    for path, mod in model.named_modules():
        samples = [r.get(path, _PathTimes()) for r in per_path]
        calls = max(s.calls for s in samples)
        if calls:
            rows.append(LatencyRow(path, type(mod).__name__, calls, _timing([s.inclusive_ms for s in samples]),
                                   _timing([s.self_ms for s in samples])))
    total, hooked_total = _timing(plain), _timing(hooked)
    self_sum = sum(r.self_ms.median_ms for r in rows)
    diff = self_sum - hooked_total.median_ms
    return LatencyReport(
        device=device,
        repeats=repeats,
        warmup=warmup,
        total_ms=total,
        hooked_total_ms=hooked_total,
        hook_overhead_ms=hooked_total.median_ms - total.median_ms,
        rows=tuple(rows),
        self_sum_ms=self_sum,
        self_sum_diff_ms=diff,
        self_sum_vs_total_pct=_pct(diff, hooked_total.median_ms),
        self_sum_vs_unhooked_pct=_pct(self_sum - total.median_ms, total.median_ms),
    )


def _pct(diff: float, base: float) -> float:
    return 100.0 * diff / base if base > 0 else 0.0
