"""The dispatch mode of a meta build: big tensors are made on meta, small ones keep their values.

``params_on_meta`` builds a model with buffers real on cpu (their values answer mask indexing on
meta) and parameters moved to meta as they are registered. A parameter is made before it is
registered, though (``nn.Linear`` calls ``torch.empty((out, in))``), and a buffer can be of any
size: a ``d_model`` of 1e9 asked torch for 336 GB on cpu during a *meta* build. Here every op
of the build that would make a new tensor from cpu inputs (or none: ``empty``, ``zeros``,
``arange``, an outer product...) first runs on meta, which costs no memory and tells the output's
bytes; above ``limit`` bytes the meta result is kept (no values: a buffer that size is never
read on meta anyway, see ``assumptions.STAND_IN_LIMIT``), otherwise the op runs for real.
Many small tensors add up too (a million layers, each with its own mask): once the real tensors
made in one build, less the parameters moved to meta (``refund``), exceed ``budget`` bytes,
every further new tensor is made on meta. A later op that mixes a meta tensor with cpu tensors
runs on meta.

A random in-place init of a meta tensor (``normal_``, ``uniform_``) returns it untouched: it has
no values to fill, and torch would run it through Python decompositions.
"""

from __future__ import annotations

from collections.abc import Iterator
import math
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

__all__ = ["BUILD_LIMIT", "BUILD_BUDGET", "EagerMode", "MetaBuild", "build_limit"]

BUILD_LIMIT = 1 << 30
"""Largest tensor (bytes) a meta build makes on cpu; larger ones are made on meta."""
BUILD_BUDGET = 4 << 30
"""Bytes of cpu tensors a meta build may keep in all (parameters moved to meta not counted)."""

_LIMIT: ContextVar[tuple[int, int]] = ContextVar("paramscope_meta_build_limit", default=(BUILD_LIMIT, BUILD_BUDGET))
_META = torch.device("meta")
_EMPTY = torch.ops.aten.empty.memory_format


@contextmanager
def build_limit(limit: int, budget: int) -> Iterator[None]:
    """Meta builds inside keep at most ``limit`` bytes per tensor and ``budget`` in all on cpu."""
    token = _LIMIT.set((limit, budget))
    try:
        yield
    finally:
        _LIMIT.reset(token)


def arg_tensors(tree: Any, out: list[Any] | None = None) -> list[Any]:
    """The tensors of an op's arguments (or results) in ``tree_flatten`` order: aten arguments
    nest only lists, tuples and dicts, and this walk costs a fraction of a pytree flatten, which
    every op of a build or a forward would pay."""
    out = [] if out is None else out
    _walk((tree,), out)
    return out


def _walk(items: Any, out: list[Any]) -> None:
    for a in items:  # sizes are lists of ints: each element checked here, not in a call of its own
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, list | tuple):
            _walk(a, out)
        elif isinstance(a, dict):
            _walk(a.values(), out)


def _nbytes(tree: Any) -> int:
    return sum(t.numel() * t.element_size() for t in arg_tensors(tree))


def _on_meta(tree: Any) -> Any:
    return tree_map(lambda a: a.to(_META) if isinstance(a, torch.Tensor) and not a.is_meta else a, tree)


class EagerMode(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's class is unannotated
    """A dispatch mode that nothing compiles: its ``__torch_dispatch__`` runs unwrapped.

    torch wraps a mode's ``__torch_dispatch__`` in ``_disable_dynamo``: a frame-evaluation switch
    on every op, and on its first call an import of ``torch._dynamo`` and sympy (about 1 s of a
    params-only run that never runs a forward).
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False


def _is_random_init(func: Any, args: Any) -> bool:
    return (torch.Tag.nondeterministic_seeded in func.tags and func._schema.is_mutable and bool(args)
            and isinstance(args[0], torch.Tensor) and args[0].is_meta)


class MetaBuild(EagerMode):
    """See the module docstring: new tensors over ``limit`` (or ``budget``) on meta, random init of meta skipped."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.limit, self.budget = _LIMIT.get()
        self.made = 0
        """Bytes of the cpu tensors made so far, less the refunds."""

    def refund(self, nbytes: int) -> None:
        """A cpu tensor of ``nbytes`` was replaced by a meta one (a parameter as it is registered)."""
        self.made = max(0, self.made - nbytes)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = arg_tensors((args, kwargs))
        if any(t.is_meta for t in tensors):
            if _is_random_init(func, args):
                return args[0]
            if not func._schema.is_mutable and any(not t.is_meta and t.dim() for t in tensors):
                args, kwargs = _on_meta((args, kwargs))  # a big meta tensor met a cpu one
            return func(*args, **kwargs)
        device = kwargs.get("device")
        if func._schema.is_mutable or func.is_view or (device is not None and torch.device(device).type == "meta"):
            return func(*args, **kwargs)  # writes or views an existing storage, or makes a meta tensor
        if func is _EMPTY:  # the bytes are the size's product: no meta run needed to tell them
            nbytes = math.prod(args[0]) * (kwargs.get("dtype") or torch.get_default_dtype()).itemsize
            if nbytes > self.limit or self.made + nbytes > self.budget:
                return func(*args, **{**kwargs, "device": _META})
            self.made += nbytes
            return func(*args, **kwargs)
        try:
            meta_args, meta_kwargs = _on_meta((args, kwargs)) if tensors else (args, kwargs)
            if "device" in meta_kwargs:
                meta_kwargs = {**meta_kwargs, "device": _META}
            meta_out = func(*meta_args, **meta_kwargs)
        except Exception:  # noqa: BLE001 - no meta kernel (.item(), nonzero): it only runs for real
            return func(*args, **kwargs)
        nbytes = _nbytes(meta_out)
        if nbytes > self.limit or self.made + nbytes > self.budget:
            return meta_out
        self.made += nbytes
        return func(*args, **kwargs)
