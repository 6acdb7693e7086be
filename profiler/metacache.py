"""Meta kernels answered from a cache: an op on meta tensors gives the same shapes every time.

On the meta device an op's outputs depend only on its inputs' metadata (shape, stride, dtype)
and its other arguments, yet torch computes them anew on every call, and many meta kernels are
Python decompositions (``addmm``, ``relu`` via ``torch._refs``: 0.5-2 ms a call). A model repeats
the same shapes over and over (the layers of a transformer, the experts of a mixture, a
12,001-module ``Sequential``), so ``MetaCache`` runs each distinct call once and answers the
repeats with fresh ``empty_strided`` tensors of the recorded metadata (a few microseconds).

Only calls whose answer cannot differ are cached: functional ops (not in place, not views, no
output aliasing an input or another output) on meta tensors, whose outputs are plain strided
meta tensors with storages exactly as big as ``empty_strided`` makes them. Every argument is part
of the key with its type (``2`` and ``2.0`` promote differently); a 0-dim cpu tensor with its
value; any other cpu tensor, or an argument that is not a plain value, makes the call uncached.
Errors are never cached: a call that raised runs again (and raises again) next time.

Counts are identical with and without the cache (``tests/profiler/test_metacache.py``: MACs,
per-op MACs, calls, element-wise counts and assumptions on the zoo presets, Llama and Mixtral).
Memory plans on meta run through it too (``meta_execution`` passes one to ``MetaMode``), and
their simulated peaks still equal the cpu tracker's (``test_memory_accuracy``, ``test_memory_moe``).
"""

from __future__ import annotations

from typing import Any

import torch

from paramscope.profiler.metabuild import EagerMode

__all__ = ["MetaCache"]

_PLAIN = (bool, int, float, complex, str, torch.dtype, torch.device, torch.memory_format, torch.layout)
_MISS = object()


class _Uncacheable(Exception):
    pass


def _key_of(a: Any, parts: list[Any]) -> None:
    if isinstance(a, torch.Tensor):
        if a.layout != torch.strided:
            raise _Uncacheable
        if a.device.type == "meta":
            parts.append((a.dtype, tuple(a.shape), a.stride(), a.storage_offset()))
        elif a.dim() == 0 and a.device.type == "cpu":
            parts.append((a.dtype, "cpu", a.item()))
        else:
            raise _Uncacheable
    elif isinstance(a, list | tuple):
        parts.append((type(a), len(a)))
        for x in a:
            _key_of(x, parts)
    elif a is None or isinstance(a, _PLAIN):
        parts.append((type(a), a))
    else:
        raise _Uncacheable


def _cacheable_op(func: Any) -> bool:
    schema = func._schema
    return not (schema.is_mutable or func.is_view or any(r.alias_info is not None for r in schema.returns))


Template = tuple[bool, tuple[tuple[torch.Size, tuple[int, ...], torch.dtype], ...]]


def _template(out: Any) -> Template | None:
    """What ``_remake`` needs to give ``out`` again, or None when it cannot be given exactly."""
    single = isinstance(out, torch.Tensor)
    leaves = (out,) if single else out
    if not single and not (isinstance(out, tuple) and out and all(isinstance(t, torch.Tensor) for t in out)):
        return None
    seen = set()
    specs = []
    for t in leaves:
        if type(t) is not torch.Tensor or t.device.type != "meta" or t.layout != torch.strided or t.storage_offset():
            return None
        storage = t.untyped_storage()
        if storage._cdata in seen:  # two outputs sharing one storage
            return None
        seen.add(storage._cdata)
        shape, stride = t.shape, t.stride()
        if torch.empty_strided(shape, stride, dtype=t.dtype, device="meta").untyped_storage().nbytes() != storage.nbytes():
            return None
        specs.append((shape, stride, t.dtype))
    return single, tuple(specs)


def _remake(template: Template) -> Any:
    single, specs = template
    outs = tuple(torch.empty_strided(shape, stride, dtype=dtype, device="meta") for shape, stride, dtype in specs)
    return outs[0] if single else outs


class MetaCache(EagerMode):
    """A dispatch mode answering repeated meta calls from a cache (see the module docstring).

    Push it below the modes that must see every op (a FLOP counter, ``MetaMode``): they see the
    call as before; only the meta kernel underneath is skipped on a repeat.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[Any, ...], Template | None] = {}
        self.ops: dict[Any, bool] = {}
        self.hits = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return self.call(func, args, kwargs or {})

    def call(self, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        """``func(*args, **kwargs)``, from the cache when it can be (a mode above can call this directly)."""
        cacheable = self.ops.get(func)
        if cacheable is None:
            cacheable = self.ops[func] = _cacheable_op(func)
        if not cacheable:
            return func(*args, **kwargs)
        parts: list[Any] = [func]
        try:
            _key_of(args, parts)
            for name, value in kwargs.items():
                parts.append(name)
                _key_of(value, parts)
        except _Uncacheable:
            return func(*args, **kwargs)
        key = tuple(parts)
        hit = self.entries.get(key, _MISS)
        if hit is _MISS:
            out = func(*args, **kwargs)
            self.entries[key] = _template(out)
            return out
        if hit is None:
            return func(*args, **kwargs)
        self.hits += 1
        return _remake(hit)  # type: ignore[arg-type]

