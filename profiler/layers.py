"""Per-module shapes and layer details: what torchinfo and Lightning users read first.

``record_layers`` runs one forward with hooks on every submodule and keeps, per path, the
tensor shapes of its first call's inputs and outputs, how often it ran, and static details
read from the module itself (kernel/stride/padding of a convolution, in/out features of a
Linear, heads of an attention, the parameters' dtype and train/eval mode). The forward runs on
whatever device the model is on (meta by default), under ``no_grad``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paramscope.profiler.forward import run_forward, tensor_leaves, track_calls

if TYPE_CHECKING:
    import torch

__all__ = ["LayerInfo", "record_layers", "layer_details", "shape_text"]

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One submodule as the forward saw it."""

    path: str
    calls: int
    input_shapes: tuple[Shape, ...]
    """Tensor inputs of the first call (positional, then keyword), in order."""
    output_shapes: tuple[Shape, ...]
    """Tensor outputs of the first call (a tuple/dict output gives several)."""
    details: str
    """``k=3x3 s=2 p=1``, ``512->10``, ``heads=8``...; empty when the type has none."""
    dtype: str | None
    """dtype of the module's own parameters (``float32``), None when it holds none."""
    training: bool


def _pair(v: Any) -> str:
    return "x".join(str(int(x)) for x in v) if isinstance(v, tuple | list) else str(v)


def layer_details(mod: torch.nn.Module) -> str:
    """Static details of common layer types, read from their attributes."""
    parts: list[str] = []
    if hasattr(mod, "kernel_size"):  # Conv*, pools
        parts.append(f"k={_pair(mod.kernel_size)}")
        for short, attr, default in (("s", "stride", 1), ("p", "padding", 0), ("d", "dilation", 1)):
            v = getattr(mod, attr, default)
            if v not in (default, (default,) * 2, (default,) * 3, (default,)):
                parts.append(f"{short}={_pair(v)}")
        if getattr(mod, "groups", 1) != 1:
            parts.append(f"g={mod.groups}")
    for a, b in (("in_channels", "out_channels"), ("in_features", "out_features"),
                 ("num_embeddings", "embedding_dim"), ("input_size", "hidden_size")):
        if hasattr(mod, a) and hasattr(mod, b):
            parts.insert(0, f"{getattr(mod, a)}->{getattr(mod, b)}")
            break
    if hasattr(mod, "num_features") and not parts:  # BatchNorm / InstanceNorm
        parts.append(f"features={mod.num_features}")
    if hasattr(mod, "num_heads"):
        parts.append(f"heads={mod.num_heads}")
    if hasattr(mod, "num_layers") and getattr(mod, "num_layers", 1) != 1:
        parts.append(f"layers={mod.num_layers}")
    if hasattr(mod, "normalized_shape"):
        parts.append(f"norm={_pair(mod.normalized_shape)}")
    if hasattr(mod, "p") and type(mod).__name__.startswith("Dropout"):
        parts.append(f"p={mod.p}")
    return " ".join(parts)


def _own_dtype(mod: torch.nn.Module) -> str | None:
    for p in mod.parameters(recurse=False):
        return str(p.dtype).removeprefix("torch.")
    return None


def _shapes(obj: Any) -> tuple[Shape, ...]:
    return tuple(tuple(int(d) for d in t.shape) for t in tensor_leaves(obj))


def record_layers(model: torch.nn.Module, args: Sequence[Any] = (),
                  kwargs: Mapping[str, Any] | None = None) -> dict[str, LayerInfo]:
    """Shapes of each submodule's first call, its call count and details (one forward)."""
    import torch

    seen: dict[str, tuple[tuple[Shape, ...], tuple[Shape, ...]]] = {}
    handles = []

    def hook(path: str) -> Any:
        def after(_m: Any, inputs: Any, kwargs_in: Any, output: Any) -> None:
            if path not in seen:
                seen[path] = (_shapes([inputs, kwargs_in]), _shapes(output))
        return after

    try:
        for path, mod in model.named_modules():
            handles.append(mod.register_forward_hook(hook(path), with_kwargs=True))
        with track_calls(model) as tracker, torch.no_grad():
            run_forward(model, args, dict(kwargs or {}), lambda: tracker.current)
    finally:
        for h in handles:
            h.remove()
    calls = tracker.calls
    out: dict[str, LayerInfo] = {}
    for path, mod in model.named_modules():
        ins, outs = seen.get(path, ((), ()))
        out[path] = LayerInfo(path=path, calls=calls.get(path, 0), input_shapes=ins, output_shapes=outs,
                              details=layer_details(mod), dtype=_own_dtype(mod), training=mod.training)
    return out


def shape_text(shapes: tuple[Shape, ...], limit: int = 2) -> str:
    """``[1, 336, 7]``; several tensors joined by ``, `` (``+N`` beyond ``limit``)."""
    text = ", ".join(str(list(s)) for s in shapes[:limit])
    return text + (f" +{len(shapes) - limit}" if len(shapes) > limit else "")
