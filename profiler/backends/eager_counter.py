"""FlopCounterMode's inner dispatch mode, unwrapped and with its per-op checks worked out once.

``torch.utils.flop_counter._FlopCounterMode`` runs on every op: torch wraps its
``__torch_dispatch__`` in ``_disable_dynamo`` (a frame switch per op), and the body builds a set of
fifteen ops to skip and tries a decomposition (entering the mode again) for every op without a
formula. ``EagerFlopCounterMode`` does the same, in the same order, with the skip set built once
and whether an op decomposes at all (``OpOverload._can_decompose``) asked once per op: on the
MoE experts loop of a DeepSeek-V3 shape that is most of the counter's own cost. Should a torch
release rename what this relies on, ``eager_mode_class`` returns None and torch's own mode runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["eager_mode_class"]

_CLASS: list[Any] = []


def eager_mode_class() -> Any:
    """The mode class (built once), or None when this torch lacks what it relies on."""
    if not _CLASS:
        try:
            _CLASS.append(_build())
        except (ImportError, AttributeError):
            _CLASS.append(None)
    return _CLASS[0]


def _build() -> Any:
    import torch
    from torch.utils.flop_counter import _FlopCounterMode

    aten = torch.ops.aten
    skip = frozenset({  # as in torch's __torch_dispatch__: metadata queries of non-standard tensors
        aten.sym_is_contiguous.default, aten.is_contiguous.default, aten.is_contiguous.memory_format,
        aten.is_strides_like_format.default, aten.is_non_overlapping_and_dense.default, aten.size.default,
        aten.sym_size.default, aten.stride.default, aten.sym_stride.default, aten.storage_offset.default,
        aten.sym_storage_offset.default, aten.numel.default, aten.sym_numel.default, aten.dim.default,
        torch.ops.prim.layout.default})
    device = torch.ops.prim.device.default
    higher_order = torch._ops.HigherOrderOperator
    decomposes: dict[Any, bool] = {}

    class EagerFlopCounterMode(_FlopCounterMode):  # type: ignore[no-untyped-call]  # torch's class is unannotated
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs if kwargs else {}
            if func in skip:
                return NotImplemented
            if isinstance(func, higher_order):
                return self._handle_higher_order_ops(func, types, args, kwargs)  # type: ignore[no-untyped-call]
            counter = self.counter
            if func not in counter.flop_registry and func is not device:
                can = decomposes.get(func)
                if can is None:
                    can = decomposes[func] = bool(func._can_decompose())
                if can:
                    with self:
                        r = func.decompose(*args, **kwargs)
                        if r is not NotImplemented:
                            return r
            out = func(*args, **kwargs)
            return counter._count_flops(func._overloadpacket, out, args, kwargs)  # type: ignore[no-untyped-call]

    return EagerFlopCounterMode
