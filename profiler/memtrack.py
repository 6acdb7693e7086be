"""Track every tensor storage's allocation and release in time, on meta or a real device.

A ``TorchDispatchMode`` sees the outputs of every op below autograd (forward, backward, optimizer
kernels, foreach temporaries). Each output whose untyped storage is new is one allocation; a
``weakref.finalize`` on that storage (torch keeps one Python object per StorageImpl alive as long
as the storage lives) records its release. Views and in-place results share a known storage and
cost nothing. The same code runs on meta, where nothing is allocated, and on cpu, where the tests
check it against the c10 allocator's own accounting (``torch.profiler`` memory events).

Each allocation carries the phase and the innermost module running when it was made: module
forward hooks keep a stack in forward, and in backward the autograd node being executed
(``torch._C._current_autograd_node``) is mapped back to the module that created it through its
sequence number. Kinds (weights, gradients, optimizer state, saved activations, inputs,
temporaries) are settled after the step by identity: what ended up as a ``.grad``, in the
optimizer's state, saved for backward, and so on.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from paramscope.profiler.forward import CallTracker, module_hooks

__all__ = ["Kind", "Allocation", "StorageTracker", "storage_of"]


class Kind(StrEnum):
    """What a storage holds, settled after the step."""

    WEIGHTS = "weights"
    GRADS = "grads"
    OPTIMIZER = "optimizer"
    ACTIVATION = "activation"
    TEMPORARY = "temporary"
    INPUT = "input"


@dataclass(slots=True, eq=False)
class Allocation:
    """One storage: its bytes (as the modelled allocator rounds them) and its life."""

    nbytes: int
    phase: str
    module: str
    born: int
    """Event index of the allocation."""
    kind: Kind = Kind.TEMPORARY
    died: int | None = None
    """Event index of the release; None while alive."""


def storage_of(t: torch.Tensor) -> torch.UntypedStorage | None:
    """The untyped storage behind ``t`` (one Python object per StorageImpl), or None (sparse...)."""
    try:
        return t.untyped_storage()
    except (RuntimeError, NotImplementedError, TypeError):
        return None


class StorageTracker(TorchDispatchMode):  # type: ignore[no-untyped-call]  # unannotated in torch
    """Records allocations and releases of storages while active (see the module docstring).

    Args:
        round_bytes: allocator block size; each storage costs ``ceil(nbytes / round_bytes)``
            blocks (1 = exact bytes as the cpu allocator reports them, 512 = cuda caching
            allocator blocks).
    """

    def __init__(self, round_bytes: int = 1) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # unannotated in torch
        self.round_bytes = round_bytes
        self.allocs: list[Allocation] = []
        self.events: list[tuple[int, Allocation]] = []
        """(+nbytes or -nbytes, allocation) in time order."""
        self.event_phase: list[str] = []
        """The phase running at each event."""
        self.closed = False
        self.live = 0
        self.peak = 0
        self.peak_event = -1
        self.peak_phase = ""
        self.peak_module = ""
        self.peak_step = 0
        self.phase = ""
        self.step = 1
        """1-based step being run (the caller advances it)."""
        self._live: dict[int, Allocation] = {}
        self._stack: list[str] = []
        self._marks: list[int] = []
        self._mark_paths: list[str] = []
        self._param_owner: dict[int, str] = {}

    # --- allocation bookkeeping ------------------------------------------------------------------

    def _round(self, n: int) -> int:
        r = self.round_bytes
        return -(-n // r) * r if r > 1 else n

    def register(self, t: torch.Tensor, kind: Kind, module: str = "", nbytes: int | None = None,
                 ) -> Allocation | None:
        """Count an existing tensor's storage (weights, inputs) as live from now on.

        ``nbytes`` overrides the storage's size (weights stored at int8/int4 in the plan).
        """
        st = storage_of(t)
        if st is None:
            return None
        known = self._live.get(id(st))
        if known is not None:
            return known
        return self._add(st, kind, module, nbytes)

    def find(self, t: torch.Tensor) -> Allocation | None:
        """The live allocation behind ``t``, if tracked."""
        st = storage_of(t)
        return None if st is None else self._live.get(id(st))

    def _add(self, st: torch.UntypedStorage, kind: Kind, module: str, nbytes: int | None = None,
             ) -> Allocation | None:
        n = int(st.nbytes()) if nbytes is None else nbytes
        if n == 0:
            return None
        rec = Allocation(self._round(n), self.phase, module, len(self.events), kind)
        key = id(st)
        self._live[key] = rec
        self.allocs.append(rec)
        self._event(rec.nbytes, rec)
        weakref.finalize(st, self._release, key, rec)
        return rec

    def _release(self, key: int, rec: Allocation) -> None:
        if self._live.get(key) is rec:
            del self._live[key]
        if not self.closed:
            rec.died = len(self.events)
            self._event(-rec.nbytes, rec)

    def close(self) -> None:
        """Stop recording: what is released afterwards (the copy, the optimizer) is not the step."""
        self.closed = True

    def _event(self, delta: int, rec: Allocation) -> None:
        self.events.append((delta, rec))
        self.event_phase.append(self.phase)
        self.live += delta
        if self.live > self.peak:
            self.peak, self.peak_event = self.live, len(self.events) - 1
            self.peak_phase, self.peak_module, self.peak_step = rec.phase, rec.module, self.step

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        module = self.current_module() or self._module_of_args(args)
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                st = storage_of(t)
                if st is not None and id(st) not in self._live:
                    self._add(st, Kind.TEMPORARY, module)
        return out

    # --- where we are --------------------------------------------------------------------------

    def current_module(self) -> str:
        """Innermost module running: the forward stack, else the module of the backward node."""
        if self._stack:
            return self._stack[-1]
        node: Any = torch._C._current_autograd_node()
        return "" if node is None else self.module_of_node(node)

    def _module_of_args(self, args: Any) -> str:
        """Outside forward and backward (optimizer step): the module owning a tracked argument."""
        for t in tree_leaves(args):
            if isinstance(t, torch.Tensor):
                rec = self.find(t)
                if rec is not None and rec.module:
                    return rec.module
        return ""

    def module_of_node(self, node: Any) -> str:
        """Module that created an autograd node (by sequence number); AccumulateGrad: its param's."""
        var = getattr(node, "variable", None)
        if isinstance(var, torch.Tensor):
            return self._param_owner.get(id(var), "")
        seq = node._sequence_nr()
        i = bisect.bisect_right(self._marks, seq) - 1
        return self._mark_paths[i] if i >= 0 else ""

    @contextmanager
    def modules(self, model: nn.Module) -> Iterator[None]:
        """Forward hooks keeping the module stack and sequence-number marks for backward."""
        self._param_owner = {id(p): name.rpartition(".")[0] for name, p in model.named_parameters()}
        calls = CallTracker(stack=self._stack)

        def mark() -> None:
            self._marks.append(torch._C._autograd._get_sequence_nr())
            self._mark_paths.append(calls.current)

        def pre(path: str) -> None:
            calls.enter(path)
            mark()

        def post(path: str) -> None:
            calls.leave(path)
            mark()

        try:
            with module_hooks(model, pre, post):
                yield
        finally:
            self._stack.clear()

    @contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        """Label the allocations made inside the block with ``phase``."""
        self.phase = phase
        try:
            yield
        finally:
            self.phase = ""

    # --- after the step --------------------------------------------------------------------------

    def settle(self, tensors: Iterable[torch.Tensor], kind: Kind, module: str | None = None) -> None:
        """Give the live storages of ``tensors`` their final kind (and owning module)."""
        for t in tensors:
            rec = self.find(t)
            if rec is not None:
                rec.kind = kind
                if module is not None:
                    rec.module = module

    def live_at(self, event: int) -> list[Allocation]:
        """Allocations alive just after event ``event``."""
        return [a for a in self.allocs if a.born <= event and (a.died is None or a.died > event)]
