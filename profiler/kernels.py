"""What a kernel does beyond the bytes it moves: shape figures for calibrated CPU rates, and fused
attention handed to the byte counter whole (``profiler/bytes.py`` records both per op)."""

from __future__ import annotations

from math import prod
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["shape_figures", "attention_operands", "attention_flops", "WholeAttention"]

_MATMULS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation")
_CONVS = ("aten::convolution", "aten::_convolution")
_POOLS = ("aten::max_pool", "aten::avg_pool")


def shape_figures(name: str, args: Any, out: Any) -> tuple[int, int]:
    """(gemm_dim, window) of one op: see ``OpCost.gemm_dim`` and ``OpCost.window``."""
    first = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(first, torch.Tensor) or first.dim() == 0:
        return 0, 0
    if name in _MATMULS:
        a, b = [t for t in args if isinstance(t, torch.Tensor)][-2:]
        return min(int(a.shape[-2]) if a.dim() > 1 else 1, int(a.shape[-1]), int(b.shape[-1]) if b.dim() > 1 else 1), 0
    if name in _CONVS and first.dim() > 2 and len(args) > 8:
        weight, transposed, groups = args[1], bool(args[6]), max(int(args[8]), 1)
        area = prod(int(k) for k in weight.shape[2:])
        cin, cout = (weight.shape[0], weight.shape[1] * groups) if transposed else (weight.shape[1] * groups, weight.shape[0])
        return min(first.numel() // int(first.shape[1]), int(cin) // groups * area, int(cout) // groups), 0
    if name.startswith(_POOLS) and "backward" not in name and len(args) > 1:
        kernel = [int(k) for k in (args[1] if isinstance(args[1], (list, tuple)) else [args[1]])]
        spatial = max(first.dim() - 2, 1)
        area = prod(kernel) if len(kernel) == spatial else kernel[0] ** spatial
        return 0, first.numel() * area
    return 0, 0


class WholeAttention(TorchFunctionMode):
    """Runs ``scaled_dot_product_attention`` (and ``nn.MultiheadAttention``'s functional forward,
    which calls it) under ``inference_mode``, so that the composite op reaches a dispatch mode whole:
    under ``no_grad`` the autograd layer decomposes it first (into its math path on meta)."""

    _WHOLE = (F.scaled_dot_product_attention, F.multi_head_attention_forward)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func in self._WHOLE:
            with torch.inference_mode():
                return func(*args, **(kwargs or {}))
        return func(*args, **(kwargs or {}))


def attention_operands(args: Any, kwargs: Any) -> list[torch.Tensor]:
    """q, k, v and the mask (when a tensor) of ``scaled_dot_product_attention(q, k, v, attn_mask, ...)``."""
    mask = args[3] if len(args) > 3 else kwargs.get("attn_mask")
    return [*args[:3], *([mask] if isinstance(mask, torch.Tensor) else [])]


def attention_flops(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> int:
    """2 x MACs of softmax(q k^T) v: (..., L, E) x (..., E, S), then (..., L, S) x (..., S, Ev), per
    query batch and head (grouped-query attention shares k and v across heads)."""
    batch = prod(int(d) for d in q.shape[:-2])
    return 2 * batch * int(q.shape[-2]) * int(k.shape[-2]) * (int(q.shape[-1]) + int(v.shape[-1]))
