"""Function modes that make a step on meta allocate what it would allocate on the real device.

- ``sdpa_as_on_cpu``: on meta, ``F.scaled_dot_product_attention`` always takes the math path, while
  cpu picks its flash kernel when it can (it saves a log-sum-exp, not the attention matrix). The
  mode asks torch's own selector (``torch._fused_sdp_choice``) with zero-cost cpu stand-ins of the
  same shapes and flags, and calls the flash kernel (which has meta kernels) when cpu would.
- ``fake_quant_weights``: quantisation-aware training as ``torch.ao.quantization`` does it for
  weights: each use of a ``weight*`` parameter of an int8/int4 module in a weight op goes through
  ``torch.fake_quantize_per_tensor_affine`` (fp32 in, fp32 out, a 1-byte mask saved for the
  straight-through gradient), so the master weights stay fp32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import _disable_current_modes

from paramscope.profiler.precision import Precision

__all__ = ["gru_as_on_cpu", "sdpa_as_on_cpu", "fake_quant_weights", "autocast_on_meta", "leave_autocast_region"]

_FLASH = 1  # torch._fused_sdp_choice: 0 math, 1 flash (cpu)


def _stand_in(t: torch.Tensor | None) -> torch.Tensor | None:
    """A cpu tensor of ``t``'s shape, dtype and grad flag that allocates one row."""
    if t is None:
        return None
    row = torch.empty(t.shape[-1] if t.dim() else 1, dtype=t.dtype)
    return row.expand(t.shape).requires_grad_(t.requires_grad) if t.is_floating_point() else row.expand(t.shape)


def _flash_if_cpu_would(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
                        dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                        enable_gqa: bool = False) -> torch.Tensor | None:
    if q.device.type != "meta":
        return None
    with _disable_current_modes():  # the stand-ins are not the step's memory
        sq, sk, sv = (_stand_in(t) for t in (q, k, v))
        assert sq is not None and sk is not None and sv is not None
        choice = torch._fused_sdp_choice(sq, sk, sv, _stand_in(attn_mask), dropout_p, is_causal, scale=scale,
                                         enable_gqa=enable_gqa)
    if choice != _FLASH:
        return None
    out = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, dropout_p, is_causal, attn_mask=attn_mask, scale=scale)
    first: torch.Tensor = out[0]
    return first


@contextmanager
def sdpa_as_on_cpu() -> Iterator[None]:
    """Attention on meta takes the kernel cpu would take (see the module docstring).

    ``torch.nn.functional.scaled_dot_product_attention`` is swapped for the duration (the
    ``nn.MultiheadAttention`` path looks it up there too); a function mode would miss the calls
    made inside other torch functions.
    """
    original = F.scaled_dot_product_attention

    def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if _AMP:  # autocast casts attention's operands before the kernel choice
            q, k, v = (_AMP[-1].cast(t) for t in (q, k, v))
        out = _flash_if_cpu_would(q, k, v, *args, **kwargs)
        return original(q, k, v, *args, **kwargs) if out is None else out

    F.scaled_dot_product_attention = sdpa  # type: ignore[assignment]  # same call, Python-level
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


# ops whose weight operand QAT fake-quantises (torch.ao.quantization: Linear, Conv, Embedding, RNNs)
_WEIGHT_OPS = frozenset({
    "linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "embedding", "embedding_bag", "matmul", "mm", "bmm", "addmm", "baddbmm", "einsum", "__matmul__", "__rmatmul__",
    "gru", "lstm", "rnn_tanh", "rnn_relu",
})


class _FakeQuantSTE(torch.autograd.Function):
    """``fake_quantize_per_tensor_affine`` as torch runs it, memory for memory, on any device.

    torch's kernel (``..._cachemask``) has no meta implementation; this one allocates what it
    allocates: an fp32 output, a bool mask saved for backward, and ``grad * mask`` in backward.
    On real devices the values are those of the real kernel (scale 0.01, zero point 0).
    """

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, bits: int) -> torch.Tensor:
        half = 1 << (bits - 1)
        if w.device.type == "meta":
            out, mask = torch.empty_like(w), torch.empty_like(w, dtype=torch.bool)
        else:
            out, mask = torch.ops.aten.fake_quantize_per_tensor_affine_cachemask(w, 0.01, 0, -half, half - 1)
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None


_FQ: list[_FakeQuant] = []


class _FakeQuant(TorchFunctionMode):
    def __init__(self, bits: Mapping[int, int]) -> None:
        super().__init__()
        self.bits = bits
        self.suspended = 0
        """> 0 inside an op that fake-quantised its weights once already (the replayed GRU)."""

    def _q(self, t: Any) -> Any:
        if isinstance(t, torch.Tensor) and id(t) in self.bits:
            return _FakeQuantSTE.apply(t, self.bits[id(t)])  # type: ignore[no-untyped-call]  # unannotated in torch
        if isinstance(t, (list, tuple)) and any(id(x) in self.bits for x in t):
            return type(t)(self._q(x) for x in t)
        return t

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if self.suspended or getattr(func, "__name__", "") not in _WEIGHT_OPS:
            return func(*args, **kwargs)
        return func(*(self._q(a) for a in args), **{k: self._q(v) for k, v in kwargs.items()})


@contextmanager
def fake_quant_weights(model: nn.Module, precision_of: Callable[[str], Precision]) -> Iterator[None]:
    """Fake-quantise every use of the floating parameters of int8/int4 modules (QAT)."""
    bits: dict[int, int] = {}
    for name, p in model.named_parameters():
        prec = precision_of(name.rpartition(".")[0])
        weight = name.rpartition(".")[2].startswith("weight")  # QAT leaves biases (and norms' affine) in float
        if weight and not prec.is_float and p.is_floating_point() and p.requires_grad:
            bits[id(p)] = prec.bits
    if not bits:
        yield
        return
    mode = _FakeQuant(bits)
    _FQ.append(mode)
    try:
        with mode:
            yield
    finally:
        _FQ.pop()


# torch.autocast's lower-precision op list for cpu (autocast_mode.cpp); cuda's fp32 list adds norms,
# softmax and reductions run in fp32
_LOWER_OPS = frozenset({
    "conv1d", "conv2d", "conv3d", "bmm", "mm", "linalg_vecdot", "baddbmm", "addmm", "addbmm", "linear", "matmul",
    "__matmul__", "__rmatmul__", "conv_tbc", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "prelu",
    "scaled_dot_product_attention",
})
_AMP: list[_Autocast] = []


class _Autocast(TorchFunctionMode):
    """``torch.autocast`` for meta tensors, which have no autocast dispatch key.

    Ops of the lower-precision list get their fp32 floating operands cast to ``dtype`` above
    autograd (the casts are recorded, and what the op saves is the low-precision copy); casts of
    leaf tensors that require grad (parameters) are cached for the region, as autocast's weight
    cache does. Other ops run on what they get (type promotion), as under autocast.
    """

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.cache: dict[int, torch.Tensor] = {}

    def cast(self, t: Any) -> Any:
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.float32):
            return t
        if t.is_leaf and t.requires_grad:
            if id(t) not in self.cache:
                self.cache[id(t)] = t.to(self.dtype)
            return self.cache[id(t)]
        return t.to(self.dtype)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in _LOWER_OPS:
            args = tuple(self.cast(a) for a in args)
            kwargs = {k: self.cast(v) for k, v in kwargs.items()}
        return func(*args, **kwargs)


@contextmanager
def autocast_on_meta(dtype: torch.dtype) -> Iterator[None]:
    """Autocast's casts for a forward on meta (see ``_Autocast``); the weight cache dies on exit."""
    mode = _Autocast(dtype)
    linear = F.linear

    def cast_linear(*args: Any, **kwargs: Any) -> torch.Tensor:  # F's own callers (multi-head attention)
        return linear(*(mode.cast(a) for a in args), **{k: mode.cast(v) for k, v in kwargs.items()})

    _AMP.append(mode)
    F.linear = cast_linear
    try:
        with mode:
            yield
    finally:
        F.linear = linear
        _AMP.pop()
        mode.cache.clear()


def leave_autocast_region() -> None:
    """What leaving ``torch.autocast`` does to its weight cache: the casts not saved by an op die."""
    if _AMP:
        _AMP[-1].cache.clear()


def _gru_cpu(input: torch.Tensor, hx: torch.Tensor, params: list[torch.Tensor], has_biases: bool, num_layers: int,
             dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """ATen's cpu GRU (RNN.cpp) op for op: the input projection of a whole layer precomputed at once.

    Meta tensors take the generic path (one input projection per time step); this replays the
    cpu path so that what is allocated and saved matches a cpu run.
    """
    x = input.transpose(0, 1) if batch_first else input
    per = 4 if has_biases else 2
    finals = []
    for layer, h in enumerate(hx.unbind(0)):
        w = params[layer * per:(layer + 1) * per]
        w_ih, w_hh = w[0], w[1]
        b_ih, b_hh = (w[2], w[3]) if has_biases else (None, None)
        steps = F.linear(x, w_ih, b_ih).unbind(0)
        outs = []
        for ig_all in steps:
            ig = ig_all.unsafe_chunk(3, 1)
            hg = F.linear(h, w_hh, b_hh).unsafe_chunk(3, 1)
            reset = hg[0].add_(ig[0]).sigmoid_()
            update = hg[1].add_(ig[1]).sigmoid_()
            new = ig[2].add(hg[2].mul_(reset)).tanh_()
            h = (h - new).mul_(update).add_(new)
            outs.append(h)
        x = torch.stack(outs, 0)
        finals.append(h)
    out = x.transpose(0, 1) if batch_first else x
    return out, torch.stack(finals, 0)


@contextmanager
def gru_as_on_cpu() -> Iterator[None]:
    """``nn.GRU`` on meta runs ATen's cpu algorithm (``_gru_cpu``); other cases keep torch's own path."""
    from torch import _VF

    original = _VF.gru

    def gru(*args: Any, **kwargs: Any) -> Any:
        if (len(args) == 9 and not kwargs and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta"
                and not args[7] and not (args[5] and args[6] and args[4] > 1)):
            if not _FQ:
                return _gru_cpu(*args)
            fq = _FQ[-1]  # the flat weights are fake-quantised once per call, as for the real op
            args = (*args[:2], fq._q(list(args[2])), *args[3:])
            fq.suspended += 1
            try:
                return _gru_cpu(*args)
            finally:
                fq.suspended -= 1
        return original(*args, **kwargs)

    _VF.gru = gru
    try:
        yield
    finally:
        del _VF.gru
