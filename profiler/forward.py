"""Helpers of every forward pass paramscope runs, each written once.

Module-tracking hooks (which submodule is running, how often each ran), the ``ForwardFailed``
wording, the tensors inside a nest of outputs, the identity of a tensor's storage and the
device a model and its inputs live on. Used by the counting backends, memory, latency and steps.
torch is imported lazily: a params-only breakdown never runs a forward.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

from paramscope.profiler.errors import ForwardFailed, IndexDtype, ParamscopeError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CallTracker", "module_hooks", "track_calls", "forward_failed", "index_dtype_error", "run_forward", "tensor_leaves",
    "storage_key", "storage_nbytes", "device_of", "meta_scalars_formatted",
]

Hook = Callable[[str], None]


@contextmanager
def module_hooks(model: torch.nn.Module, pre: Hook, post: Hook) -> Iterator[None]:
    """Call ``pre(path)`` before and ``post(path)`` after each submodule's forward; removed on exit.

    ``path`` is the ``named_modules()`` name. A module that raises never runs its post hook.
    One global hook pair looks each module up by identity: registering a pair per module cost
    about 35 us a hook (0.85 s for a 12,001-module model), the dict lookup costs nothing.
    """
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    paths = {id(mod): (path, mod) for path, mod in model.named_modules()}  # the module too: its id stays its own

    def before(mod: torch.nn.Module, _args: Any) -> None:
        hit = paths.get(id(mod))
        if hit is not None and hit[1] is mod:
            pre(hit[0])

    def after(mod: torch.nn.Module, _args: Any, _out: Any) -> None:
        hit = paths.get(id(mod))
        if hit is not None and hit[1] is mod:
            post(hit[0])

    handles = [register_module_forward_pre_hook(before), register_module_forward_hook(after)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def meta_scalars_formatted() -> Iterator[None]:
    """Inside, ``f"{t}"`` of a 0-dim meta tensor formats its value (``t.item()``), as on cpu.

    torch formats a 0-dim tensor by its ``item()`` except on meta, where it prints the repr
    (``tensor(..., device='meta', size=())``): a module name built from an index (Switch
    Transformers' and NLLB-MoE's ``self[f"expert_{expert_idx[0]}"]``) then names no module and the
    forward fails with a ``KeyError``. Under ``meta_execution`` ``item()`` answers with the known
    (or stated, assumed) value, so formatting goes through it.
    """
    import torch
    from torch.overrides import has_torch_function_unary

    original = torch.Tensor.__format__

    def formatted(self: torch.Tensor, spec: str) -> str:
        if self.is_meta and self.dim() == 0 and type(self) is torch.Tensor and not has_torch_function_unary(self):
            return format(self.detach().item(), spec)
        return str(original(self, spec))  # type: ignore[no-untyped-call]  # torch's __format__ is unannotated

    torch.Tensor.__format__ = formatted  # type: ignore[method-assign]  # restored below
    try:
        yield
    finally:
        torch.Tensor.__format__ = original  # type: ignore[method-assign]


@dataclass(slots=True)
class CallTracker:
    """Forward calls per path, and the paths of the modules running (innermost last)."""

    calls: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    stack: list[str] = field(default_factory=list)

    @property
    def current(self) -> str:
        """The innermost module running ("" outside any); after an exception, the one that raised."""
        return self.stack[-1] if self.stack else ""

    def enter(self, path: str) -> None:
        self.calls[path] += 1
        self.stack.append(path)

    def leave(self, path: str) -> None:
        if self.stack and self.stack[-1] == path:
            self.stack.pop()


@contextmanager
def track_calls(model: torch.nn.Module) -> Iterator[CallTracker]:
    """A ``CallTracker`` kept up to date by hooks on every submodule (removed on exit)."""
    tracker = CallTracker()
    with module_hooks(model, tracker.enter, tracker.leave):
        yield tracker


_INDEX_DTYPE = re.compile(r"\b(indices|index|target)\b.{0,80}\b(long|int32|int64|int)\b|\b(long|int32|int64)\b.{0,40}"
                         r"\bindex\b|only applicable to index tensor", re.IGNORECASE)
"""torch's wordings of an index of the wrong dtype: embedding, embedding_bag, gather, scatter,
index_select, index_add, take, one_hot, ``x[idx]``, a loss's class targets (cpu and meta)."""


def index_dtype_error(exc: BaseException) -> bool:
    """True when ``exc`` is torch refusing a non-integer index tensor (the same on every device)."""
    return isinstance(exc, RuntimeError | IndexError) and _INDEX_DTYPE.search(str(exc).split("\n", 1)[0]) is not None


def forward_failed(where: str, exc: BaseException, *, step: int | None = None) -> ForwardFailed:
    """The one wording of a forward that raised: ``forward failed in '<path>'[ at step N]: <error>``;
    ``IndexDtype`` when an op that takes integer indices got a float tensor."""
    from paramscope.profiler.fits import allocation_failure

    at = f" at step {step}" if step is not None else ""
    text = f"forward failed in '{where}'{at}: {allocation_failure(exc) or str(exc) or type(exc).__name__}"
    if index_dtype_error(exc):
        return IndexDtype(f"{text.splitlines()[0]}; indices must be an integer tensor")
    return ForwardFailed(text)


def run_forward(model: Any, args: Sequence[Any], kwargs: Mapping[str, Any], where: Callable[[], str] = lambda: "",
                *, step: int | None = None) -> Any:
    """``model(*args, **kwargs)``; an error of the model becomes ``ForwardFailed`` naming ``where()``."""
    try:
        return model(*args, **kwargs)
    except ParamscopeError:
        raise
    except Exception as e:
        raise forward_failed(where(), e, step=step) from e


def tensor_leaves(obj: Any, _depth: int = 0) -> list[torch.Tensor]:
    """Tensors inside ``obj``: tensor, tuple/list, dict (HF ModelOutput), dataclass; others skipped."""
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if _depth > 8:
        return []
    if isinstance(obj, Mapping):
        return [t for v in obj.values() for t in tensor_leaves(v, _depth + 1)]
    if isinstance(obj, (tuple, list)):
        return [t for v in obj for t in tensor_leaves(v, _depth + 1)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [t for f in dataclasses.fields(obj) for t in tensor_leaves(getattr(obj, f.name), _depth + 1)]
    return []


def storage_key(t: torch.Tensor) -> tuple[Any, ...]:
    """Identity of the allocation behind ``t``: the StorageImpl (works on meta, where data_ptr is 0)."""
    try:
        s = t.untyped_storage()
    except (RuntimeError, NotImplementedError):  # sparse / opaque tensors have no storage
        return ("tensor", id(t))
    cdata = getattr(s, "_cdata", None)
    if cdata is not None:
        return ("storage", cdata)
    if t.device.type != "meta" and s.data_ptr() != 0:
        return ("ptr", t.device.type, t.device.index, s.data_ptr())
    return ("tensor", id(t))


def storage_nbytes(t: torch.Tensor) -> int:
    """Bytes of the whole storage behind ``t`` (a view holds all of it)."""
    try:
        return int(t.untyped_storage().nbytes())
    except (RuntimeError, NotImplementedError):
        return t.numel() * t.element_size()


def device_of(model: torch.nn.Module, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> str:
    """Device type of the first parameter, else buffer, else input tensor; ``"cpu"`` when none."""
    inputs = tensor_leaves([list(args), dict(kwargs or {})])
    for t in chain(model.parameters(), model.buffers(), inputs):
        return str(t.device.type)
    return "cpu"
