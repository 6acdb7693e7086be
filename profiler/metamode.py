"""The dispatch mode behind ``assumptions.meta_execution`` (imports torch: loaded only for a forward).

Every tensor either has a *known value* (a cpu tensor: a buffer, a factory result, anything
computed from known values) or not (an activation on meta). The mode computes known values beside
meta ops, answers data-dependent ops from them, and draws a seeded stand-in where a value is needed
but unknown. With ``replay`` on a cpu model, parameters and inputs count as unknown and the same
stand-ins replace their values, so a cpu run follows exactly the assumptions a meta run makes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import _disable_current_modes, _get_current_dispatch_mode_stack
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten
from torch.utils.weak import WeakTensorKeyDictionary

from paramscope.profiler.assumptions import KNOWN_LIMIT, STAND_IN_LIMIT, AssumptionLog, _source_line, _Source
from paramscope.profiler.errors import MetaUnsupported
from paramscope.profiler.metabuild import EagerMode, arg_tensors
from paramscope.profiler.metacache import MetaCache

__all__ = ["MetaMode"]

# ops that turn values into indices or decisions: seeded where they run when their input is
# unknown, so everything downstream (one_hot, nonzero, sort, the expert loop) sees one draw
_INDEX_SOURCES = frozenset({"topk", "sort", "argsort", "argmax", "argmin", "max", "min", "kthvalue", "mode", "median",
                            "nanmedian"})
_SOURCES = _INDEX_SOURCES | {"eq", "ne", "gt", "ge", "lt", "le", "isin", "isnan", "isinf", "isfinite", "signbit"}
# ops whose output shape or Python result depends on values: computed on cpu values
_DATA = frozenset({
    "nonzero", "nonzero_numpy", "argwhere", "_unique", "_unique2", "unique_dim", "unique_consecutive",
    "unique_dim_consecutive", "bincount", "repeat_interleave", "_local_scalar_dense", "equal", "masked_select",
    # under inference_mode the composite ops reach the mode undecomposed (``bool(t)``, ``t.item()``)
    "is_nonzero", "item", "allclose",
})
_INDEXING = frozenset({"index", "index_put", "index_put_", "_index_put_impl_", "_unsafe_index", "_unsafe_index_put"})
_META = torch.device("meta")
_MASKS = (torch.bool, torch.uint8)


@dataclass
class _Known:
    value: Any
    """The cpu tensor with the values; None for a real tensor that is its own value (the table is
    weak in its keys: a value holding its key would keep it alive, a leak a memory replay sees)."""
    origins: frozenset[int]
    """Indices (in the log) of the assumptions the value depends on."""
    version: int | None
    """The meta tensor's version counter when the value was taken: an in-place op invalidates it."""


@dataclass(frozen=True, slots=True)
class _Op:
    """What the mode needs to know of an op, worked out once per op."""

    name: str
    op: str
    bump: int
    """1 for an op that writes its input (its version counter moves)."""
    seeded: bool


class _KnownTable(WeakTensorKeyDictionary):
    """The table of known values, and the ``id`` of every tensor ever put in it: a tensor whose id is
    not there is not known, answered without building a weak reference (most ops on meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[int] = set()

    def __setitem__(self, key: Any, value: Any) -> None:
        self.ids.add(id(key))
        super().__setitem__(key, value)


def _version(t: Any) -> int | None:
    try:
        return int(t._version)
    except (RuntimeError, AttributeError):  # inference tensors have no version counter
        return None


def _quiet() -> AbstractContextManager[Any]:
    """Helper ops run below every mode: a counter above this one must not see them."""
    return _disable_current_modes() if _get_current_dispatch_mode_stack() else nullcontext()


def _tensors(tree: Any) -> list[Any]:
    return [a for a in tree_flatten(tree)[0] if isinstance(a, torch.Tensor)]


def _op_name(func: Any) -> str:
    return f"{func.namespace}::{func.overloadpacket.__name__}"


class MetaMode(EagerMode):
    """Known values beside meta tensors, seeded stand-ins where a value is needed but unknown."""

    def __init__(self, seed: int, where: Callable[[], str], log: AssumptionLog, unknown: Sequence[Any] = (),
                 cache: MetaCache | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.seed, self.where, self.log = seed, where, log
        self.gen = torch.Generator().manual_seed(seed)
        self.known: Any = _KnownTable()
        self.unknown: Any = WeakTensorKeyDictionary()
        for t in unknown:  # replay: real tensors treated as unknown (parameters, inputs)
            self.unknown[t] = True
        self.replay = bool(unknown)
        self.cache = cache
        """Answers repeated meta kernels (``metacache``): called directly, one mode hop fewer an op."""
        self.ops: dict[Any, _Op] = {}
        self.failure: tuple[str, str, BaseException] | None = None

    # ---- the table of values
    def value(self, t: Any) -> _Known | None:
        if t.is_meta:
            if id(t) not in self.known.ids:  # the common case: an activation nothing is known of
                return None
        elif t in self.unknown:
            return None
        k: _Known | None = self.known.get(t)
        if k is not None and k.version is not None and _version(t) != k.version:
            del self.known[t]
            return None
        if k is not None and k.value is None:
            return _Known(t, k.origins, k.version)
        return k if k is not None or t.is_meta else _Known(t, frozenset(), None)

    def remember(self, t: Any, value: Any, origins: frozenset[int], bump: int = 0) -> None:
        v = _version(t)
        self.known[t] = _Known(value, origins, None if v is None else v + bump)

    def to_meta(self, t: Any) -> Any:
        with _quiet():
            m = t.to(_META)
        k = self.value(t)
        if k is not None:  # the same cpu tensor: no copy, whatever its size
            self.remember(m, t, k.origins)
        return m

    def stand_in(self, t: Any, op: str, *, pending: bool) -> _Known:
        """A seeded value for unknown ``t``, remembered as its value; an assumption of ``op``."""
        if t.numel() > STAND_IN_LIMIT:
            raise MetaUnsupported(f"forward failed in '{self.where()}': {op} needs the values of a {list(t.shape)} "
                                  "tensor that are not known on the meta device")
        shape = f"{list(t.shape)} " if t.dim() else ""
        with _quiet():
            if t.dtype == torch.bool:
                v = torch.rand(t.shape, generator=self.gen) < 0.5
                what = f"{shape}mask not known on meta: each element True with p=0.5"
            elif t.dtype.is_floating_point or t.dtype.is_complex:
                v = torch.randn(t.shape, generator=self.gen).to(t.dtype)
                what = f"{shape}values not known on meta drawn i.i.d. N(0, 1)"
                if op.removeprefix("aten::") in _INDEX_SOURCES:
                    what += " (indices uniform at random)"
            else:
                n = max(t.numel(), 2)
                v = torch.randint(0, n, t.shape, generator=self.gen).to(t.dtype)
                what = f"{shape}integers not known on meta drawn uniformly in [0, {n})"
        self.log.sources.append(_Source(op, self.where(), _source_line(), f"{what} (seed {self.seed})",
                                        read=not pending))
        k = _Known(v, frozenset({len(self.log.sources) - 1}), _version(t))
        self.known[t] = k
        self.unknown.pop(t, None)
        return k

    def read(self, origins: set[int], op: str) -> None:
        """Ops that needed values read these assumptions: they are reported."""
        if origins:
            self.log.read(origins, (op, _source_line()))

    # ---- dispatch
    def op(self, func: Any) -> _Op:
        info = self.ops.get(func)
        if info is None:
            name = func.overloadpacket.__name__
            info = self.ops[func] = _Op(name, _op_name(func), int(bool(func._schema.is_mutable)),
                                        torch.Tag.nondeterministic_seeded in func.tags)
        return info

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        inputs = arg_tensors((args, kwargs))
        on_meta = any(t.is_meta for t in inputs) or ("device" in kwargs and str(kwargs["device"]) == "meta")
        if not on_meta and not self.replay:
            return func(*args, **kwargs)
        if on_meta and any(not t.is_meta and t.dim() > 0 for t in inputs):
            # a cpu buffer meets a meta activation: its meta twin, with the value remembered
            flat, spec = tree_flatten((args, kwargs))
            flat = [self.to_meta(a) if isinstance(a, torch.Tensor) and not a.is_meta and a.dim() > 0 else a
                    for a in flat]
            args, kwargs = tree_unflatten(flat, spec)
            inputs = [a for a in flat if isinstance(a, torch.Tensor)]
        info = self.op(func)
        name, op = info.name, info.op
        leaves_meta = name == "_to_copy" and on_meta and str(kwargs.get("device", "meta")) != "meta"
        if name in _DATA or leaves_meta or (name == "where" and len(args) == 1):  # where(cond): nonzero
            return self.compute(func, args, kwargs, op, pending=False, twin=on_meta and not leaves_meta)
        if name in _INDEXING and len(args) > 1 and isinstance(args[1], list | tuple):
            args = self.masks(args, op)
            inputs = arg_tensors((args, kwargs))
        if name in _SOURCES and sum(t.numel() for t in inputs) <= KNOWN_LIMIT \
                and any(self.value(t) is None for t in inputs):
            return self.compute(func, args, kwargs, op, pending=True, twin=on_meta)
        out = self.run(func, args, kwargs, op)
        self.propagate(func, args, kwargs, out, inputs, info)
        return out

    def run(self, func: Any, args: Any, kwargs: Any, op: str) -> Any:
        try:
            return func(*args, **kwargs) if self.cache is None else self.cache.call(func, args, kwargs)
        except Exception as e:
            retry = _retry_in_bf16(func, args, kwargs)
            if retry is not None:
                return retry
            self.failure = (op, self.where(), e)
            raise

    def cpu_values(self, tree: Any, op: str, origins: set[int], *, pending: bool) -> Any:
        """``tree`` with each tensor replaced by its value (a stand-in when unknown)."""

        def cpu(a: Any) -> Any:
            if isinstance(a, torch.Tensor):
                k = self.value(a) or self.stand_in(a, op, pending=pending)
                origins.update(k.origins)
                return k.value
            return torch.device("cpu") if isinstance(a, torch.device) and a.type == "meta" else a

        return tree_map(cpu, tree)

    def compute(self, func: Any, args: Any, kwargs: Any, op: str, *, pending: bool, twin: bool) -> Any:
        """Run ``func`` on values (known, or stand-ins); on meta give meta twins of the results."""
        origins: set[int] = set()
        first_new = len(self.log.sources)
        cpu_args, cpu_kwargs = self.cpu_values((args, kwargs), op, origins, pending=pending)
        if not pending:
            self.read(origins, op)
        with _quiet():
            result = func(*cpu_args, **cpu_kwargs)
        _state_outcome(self.log.sources[first_new:], result)

        def wrap(r: Any) -> Any:
            if not isinstance(r, torch.Tensor):
                return r
            m = r
            if twin:
                with _quiet():
                    m = r.to(_META)
            if twin or origins:
                self.known[m] = _Known(None if m is r else r, frozenset(origins), _version(m))
            return m

        return tree_map(wrap, result)

    def masks(self, args: Any, op: str) -> Any:
        """Boolean index masks as cpu values: meta kernels take a cpu mask and give the true shape."""
        origins: set[int] = set()
        indices = [self.cpu_values(i, op, origins, pending=False)
                   if isinstance(i, torch.Tensor) and i.dtype in _MASKS and (i.device.type == "meta" or self.replay)
                   else i for i in args[1]]
        self.read(origins, op)
        return (args[0], indices, *args[2:])

    def propagate(self, func: Any, args: Any, kwargs: Any, out: Any, inputs: list[Any], info: _Op) -> None:
        """The value of ``out`` when every input's value is known (and it is small)."""
        bump = info.bump
        quick = not (self.replay or bump)
        known = []
        for t in inputs:
            k = self.value(t)
            if k is None and quick:  # the common case on meta: an activation, nothing to record
                return
            known.append(k)
        unknown = any(k is None for k in known) or info.seeded
        if unknown and quick:
            return
        outs = arg_tensors(out)
        if unknown:
            for m in outs:  # unknown (an in-place op on a known tensor makes it unknown)
                self.known.pop(m, None)
                if m.device.type != "meta":
                    self.unknown[m] = True
            return
        origins = frozenset(i for k in known if k is not None for i in k.origins)
        meta_outs = [m for m in outs if m.device.type == "meta"]
        if not meta_outs:  # real tensors: their own values; only the assumptions behind them to carry
            for m in outs:
                if origins:
                    self.known[m] = _Known(None, origins, None)
            return
        if sum(t.numel() for t in meta_outs) > KNOWN_LIMIT:
            return
        cpu_args, cpu_kwargs = self.cpu_values((args, kwargs), info.op, set(), pending=True)
        try:
            with _quiet():
                result = func(*cpu_args, **cpu_kwargs)
        except Exception:  # noqa: BLE001 - a value we cannot compute stays unknown
            return
        for m, r in zip(outs, arg_tensors(result), strict=False):
            self.remember(m, r, origins, bump if any(m is a for a in inputs) else 0)


def _state_outcome(new: list[_Source], result: Any) -> None:
    """A single drawn decision or number is stated with its assumption (``: drew True``)."""
    if isinstance(result, torch.Tensor) and result.numel() == 1 and result.dim() == 0:
        result = result.item()
    if isinstance(result, torch.Tensor) and result.dtype == torch.bool:
        result = f"{int(result.sum())} of {result.numel()} True"
    if isinstance(result, bool | int | float | str):
        for s in new:
            s.assumed += f": drew {format(result, '.4g') if isinstance(result, float) else result}"


def _retry_in_bf16(func: Any, args: Any, kwargs: Any) -> Any:
    """``aten::_grouped_mm`` on meta accepts only bf16: the same shapes in bf16, cast back."""
    if func.overloadpacket.__name__ not in ("_grouped_mm", "grouped_mm"):
        return None
    floats = [a for a in _tensors(args) if a.dtype.is_floating_point]
    if not floats or all(a.dtype == torch.bfloat16 for a in floats) or floats[0].device.type != "meta":
        return None
    dtype = kwargs.get("out_dtype") or floats[0].dtype
    bf16 = tree_map(lambda a: a.to(torch.bfloat16) if isinstance(a, torch.Tensor) and a.dtype.is_floating_point
                    else a, (args, {k: v for k, v in kwargs.items() if k != "out_dtype"}))
    return func(*bf16[0], **bf16[1]).to(dtype)
