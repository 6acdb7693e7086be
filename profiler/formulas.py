"""MAC formulas: one pure function per op, in MACs, shared by every counting backend.

A formula registered with ``@formula("op", ...)`` receives the aten op's arguments in schema
order, each tensor replaced by its shape (a tuple of ints) and each list of tensors by a list of
shapes; other arguments come as they are. It returns MACs (1 MAC = one multiply-accumulate;
FLOPs = 2 x MACs). ``formula`` refuses a second formula for an op, as torch's
``register_flop_formula`` does.

The adapters are thin tables over ``FORMULAS``: torch_backend's ``_TORCH_OPS`` (FlopCounterMode
closures, which double to its FLOP unit), fvcore_backend's ``_FVCORE_OPS`` (JIT handles, whose
jit values are turned into shapes) and thop_backend's ``_RULES`` (per module class; those call
the plain helpers below with the module's shapes). Adding a formula is one function here plus
one table line in each backend that can use it.

``is_matmul_class`` says which aten ops do matmul-class work, so that an op that runs without a
formula is reported as uncounted rather than read as 0; ``NOT_MATMUL`` and ``UNCOUNTED`` name the
ops the pattern matches that need no formula or have none yet (tests/profiler/test_formulas.py
scans torch's operator registry against these lists).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from math import prod
from typing import TypeVar

__all__ = [
    "FORMULAS", "NOT_MATMUL", "UNCOUNTED", "Shape", "conv_transpose_macs", "formula", "is_matmul_class",
    "multi_head_attention_macs", "rnn_layer_macs", "sdpa_macs",
]

Shape = Sequence[int]
Formula = Callable[..., int]
_F = TypeVar("_F", bound=Formula)

FORMULAS: dict[str, Formula] = {}
"""aten op name (no namespace, no overload) -> its MAC formula."""


def formula(*ops: str) -> Callable[[_F], _F]:
    """Register ``fn`` as the MAC formula of each aten op in ``ops``; a second formula for an op raises."""

    def register(fn: _F) -> _F:
        for op in ops:
            if op in FORMULAS:
                raise ValueError(f"a MAC formula for aten::{op} is already registered ({FORMULAS[op].__name__})")
            FORMULAS[op] = fn
        return fn

    return register


# --------------------------------------------------------------------------------------------
# plain helpers (also used by thop's per-class rules)


def rnn_layer_macs(input_shape: Shape, weight_shapes: Iterable[Shape]) -> int:
    """MACs of one RNN layer/direction: tokens x sum of its matrices' sizes.

    A GRU layer holds W_ih (3H x I) and W_hh (3H x H), so this is T*B*3*(I*H + H*H); an LSTM
    with proj_size adds W_hr (P x H). Biases and gate nonlinearities are elementwise: not counted.
    """
    tokens = prod(input_shape[:-1])
    return tokens * sum(prod(w) for w in weight_shapes if len(w) == 2)


def sdpa_macs(q_shape: Shape, k_shape: Shape, v_shape: Shape) -> int:
    """MACs of softmax(Q K^T) V: Q K^T is B*Hq*Lq*Lk*E, (.)V is B*Hq*Lq*Lk*Ev (any batch dims)."""
    *batch, lq, e = q_shape
    lk, ev = k_shape[-2], v_shape[-1]
    return prod(batch) * lq * lk * (e + ev)


def multi_head_attention_macs(q_shape: Shape, k_shape: Shape, v_shape: Shape, embed_dim: int) -> int:
    """MACs of nn.MultiheadAttention on batch-first (B, L, E) or unbatched (L, E) inputs.

    in-projections Lq*B*E*E + Lk*B*kdim*E + Lv*B*vdim*E, Q K^T and (.)V 2*B*Lq*Lk*E, out-projection Lq*B*E*E.
    """
    e = embed_dim
    b_lq, b_lk, b_lv = prod(q_shape[:-1]), prod(k_shape[:-1]), prod(v_shape[:-1])
    lk = k_shape[-2]
    return b_lq * e * e + b_lk * k_shape[-1] * e + b_lv * v_shape[-1] * e + 2 * b_lq * lk * e + b_lq * e * e


def conv_transpose_macs(x_shape: Shape, w_shape: Shape) -> int:
    """A transposed convolution: every input position meets every weight, B*spatial_in*Cin*(Cout/groups)*k.

    The weight is (Cin, Cout/groups, *kernel). Counting output positions instead (as for a
    forward convolution) overcounts by the stride's product.
    """
    return x_shape[0] * prod(x_shape[2:]) * prod(w_shape)


def mm_macs(a: Shape, b: Shape) -> int:
    """(n x k) @ (k x m): n*k*m."""
    return a[0] * a[1] * b[-1]


# --------------------------------------------------------------------------------------------
# aten op formulas (arguments in schema order; unused trailing ones are ignored)


@formula("mv", "addmv", "addmv_")
def mv_macs(*args: object) -> int:
    """(n x k) @ (k): n*k; ``addmv(self, mat, vec)`` takes the matrix second."""
    mat = next(a for a in args if isinstance(a, Sequence) and len(a) == 2)
    return prod(mat)


@formula("dot", "vdot")
def dot_macs(a: Shape, *_: object, **__: object) -> int:
    """One MAC per element of either vector."""
    return a[0]


@formula("addmm_", "_addmm_activation", "_int_mm", "_scaled_mm_v2")
def addmm_macs(*args: object, **__: object) -> int:
    """mm / addmm-like: (n x k) @ (k x m); the bias, when first, is skipped (it is 1-D or broadcast)."""
    mats = [a for a in args[:3] if isinstance(a, Sequence) and len(a) == 2]
    return mm_macs(*mats[-2:])


@formula("baddbmm", "addbmm", "baddbmm_", "addbmm_")
def baddbmm_macs(bias: Shape, batch1: Shape, batch2: Shape, *_: object, **__: object) -> int:
    """bias + batch1 @ batch2 over b batches (summed for addbmm): b*n*k*m."""
    return batch1[0] * batch1[1] * batch1[2] * batch2[-1]


@formula("_grouped_mm", "_scaled_grouped_mm", "_scaled_grouped_mm_v2")
def grouped_mm_macs(mat_a: Shape, mat_b: Shape, *_: object, **__: object) -> int:
    """Grouped GEMM (mixture-of-experts experts in one call); groups split M, N or K by ``offs``.

    2-D x 3-D (tokens sorted by expert): M*K*N; 3-D x 2-D: M*K*N; 2-D x 2-D (groups along K):
    M*K*N; 3-D x 3-D (a batched mm): G*M*K*N. Rows past ``offs[-1]`` are assumed used (the
    offsets' values are not known on meta).
    """
    rows_k = prod(mat_a) if len(mat_a) == len(mat_b) == 3 else prod(mat_a[-2:])
    return rows_k * mat_b[-1]


@formula("_euclidean_dist", "_cdist_forward", "cdist")
def cdist_macs(x1: Shape, x2: Shape, *_: object, **__: object) -> int:
    """Pairwise distances (..., P, M) x (..., R, M): one MAC per pair and coordinate, B*P*R*M."""
    return prod(x1[:-1]) * x2[-2] * x1[-1]


@formula("_pdist_forward", "pdist")
def pdist_macs(x: Shape, *_: object, **__: object) -> int:
    """Distances between the N rows of (N, M) once per pair: N*(N-1)/2*M."""
    n, m = x
    return n * (n - 1) // 2 * m


@formula("_trilinear")
def trilinear_macs(i1: Shape, i2: Shape, i3: Shape, expand1: Sequence[int], expand2: Sequence[int],
                   expand3: Sequence[int], *_: object, **__: object) -> int:
    """The triple product behind nn.Bilinear: one MAC per point of the three inputs' broadcast shape.

    For ``bilinear(x1 (B, I), x2 (B, J), W (O, I, J))`` that is B*O*I*J.
    """
    expanded = [_unsqueezed(s, e) for s, e in ((i1, expand1), (i2, expand2), (i3, expand3))]
    return prod(max(dims) for dims in zip(*expanded, strict=True))


def _unsqueezed(shape: Shape, dims: Sequence[int]) -> list[int]:
    out = list(shape)
    for d in sorted(dims):
        out.insert(d, 1)
    return out


@formula("bilinear")
def bilinear_macs(input1: Shape, input2: Shape, weight: Shape, *_: object, **__: object) -> int:
    """nn.Bilinear: each of the B rows meets the whole (O, I, J) weight: B*O*I*J."""
    return prod(input1[:-1]) * prod(weight)


@formula("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu")
def scaled_dot_product_attention_macs(query: Shape, key: Shape, value: Shape, *_: object, **__: object) -> int:
    """See ``sdpa_macs``."""
    return sdpa_macs(query, key, value)


@formula("_scaled_dot_product_flash_attention_for_cpu_backward")
def sdpa_backward_macs(grad_out: Shape, query: Shape, key: Shape, value: Shape, *_: object, **__: object) -> int:
    """dQ, dK, dV and dP: twice the forward's two matmuls."""
    return 2 * sdpa_macs(query, key, value)


@formula("_native_multi_head_attention")
def native_multi_head_attention_macs(query: Shape, key: Shape, value: Shape, embed_dim: int,
                                     *_: object, **__: object) -> int:
    """nn.MultiheadAttention's fused inference path (batch-first inputs): see ``multi_head_attention_macs``."""
    return multi_head_attention_macs(query, key, value, embed_dim)


@formula("mkldnn_rnn_layer")
def mkldnn_rnn_layer_macs(inp: Shape, weight0: Shape, weight1: Shape, *_: object, **__: object) -> int:
    """One layer/direction of nn.LSTM on cpu: see ``rnn_layer_macs``."""
    return rnn_layer_macs(inp, (weight0, weight1))


@formula("mkldnn_rnn_layer_backward")
def mkldnn_rnn_layer_backward_macs(inp: Shape, weight0: Shape, weight1: Shape, *_: object, **__: object) -> int:
    """Gradients wrt input and wrt weights: twice the forward (the same rule as mm's backward)."""
    return 2 * rnn_layer_macs(inp, (weight0, weight1))


@formula("gru", "lstm", "rnn_tanh", "rnn_relu")
def rnn_macs(inp: Shape, *args: object) -> int:
    """A whole nn.RNN/GRU/LSTM as one op: tokens x every 2-D weight (all layers and directions).

    The weights are the last list among the next three arguments (an LSTM's (h, c) is a list
    too; the packed-sequence overload puts ``batch_sizes`` first). Every layer and direction
    sees the same number of tokens.
    """
    lists = [a for a in args[:3] if isinstance(a, list)]
    return rnn_layer_macs(inp, lists[-1])


# --------------------------------------------------------------------------------------------
# which ops need a formula

_MATMUL_CLASS = re.compile(
    r"(?:^|_)(?:[a-z]*mm|(?:add)?mv|v?dot|vecdot|matmul|einsum|tensordot|(?:bi|tri)?linear|conv(?!ert)[a-z0-9]*"
    r"|attention|gru|lstm|rnn|cdist|pdist|euclidean)(?:_|$)"
)


def is_matmul_class(op: str) -> bool:
    """The op (``aten::name[.overload]`` or ``aten.name``) does matmul-like work by its name.

    Whole name parts only: ``upsample_bilinear2d`` (interpolation) and ``convert_element_type``
    do not match.
    """
    base = re.split(r"::|\.", op)[1 if ("::" in op or op.startswith("aten.")) else 0]
    return base not in NOT_MATMUL and _MATMUL_CLASS.search(base) is not None


NOT_MATMUL = frozenset({
    # weight layout
    "mkldnn_reorder_conv2d_weight", "mkldnn_reorder_conv3d_weight", "_cudnn_rnn_flatten_weight",
    # the element-wise gate arithmetic of fused RNN cells (their matmuls run as separate ops)
    "_thnn_fused_gru_cell", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell_backward", "_thnn_fused_lstm_cell_backward_impl",
})
"""Ops whose names match the matmul-class pattern but that do no matmul work."""

UNCOUNTED = frozenset({
    # quantized, sparse and low-precision kernels: reported as uncounted when they run
    "_cslt_sparse_mm", "_cslt_sparse_mm_search", "_dyn_quant_matmul_4bit", "_mixed_dtypes_linear",
    "_sparse_addmm", "_sparse_mm_reduce_impl", "_sparse_mm_reduce_impl_backward", "_sparse_semi_structured_addmm",
    "_sparse_semi_structured_linear", "_sparse_semi_structured_mm", "_sparse_sparse_matmul", "_weight_int4pack_mm",
    "_weight_int4pack_mm_for_cpu", "_weight_int4pack_mm_with_scales_and_zeros", "_weight_int8pack_mm",
    "quantized_gru", "quantized_lstm", "hspmm", "sparse_sampled_addmm",
    "_foreach_mm", "_compute_linear_combination",
    # backends this package does not run on (cuda fused RNNs, MPS, ROCm, triton)
    "_cudnn_rnn", "_cudnn_rnn_backward", "miopen_rnn", "miopen_rnn_backward", "_lstm_mps", "lstm_mps_backward",
    "_mps_convolution", "_mps_convolution_transpose", "mps_convolution_backward", "mps_convolution_transpose_backward",
    "miopen_convolution", "miopen_convolution_add_relu", "miopen_convolution_relu", "miopen_convolution_transpose",
    "miopen_depthwise_convolution", "cudnn_convolution_add_relu", "cudnn_convolution_relu",
    "cudnn_convolution_transpose", "_triton_multi_head_attention", "_triton_scaled_dot_attention",
    "_cudnn_attention_forward", "_cudnn_attention_backward", "_scaled_dot_product_fused_attention_overrideable",
    "_scaled_dot_product_fused_attention_overrideable_backward", "_flash_attention_forward_no_dropout_inplace",
    "_scaled_dot_product_attention_math_for_mps",
    # backward kernels of ops counted forward only; the torch backend's backward total misses them
    "_cdist_backward", "_pdist_backward", "convolution_backward_overrideable", "_slow_conv2d_backward",
    "linear_backward", "matmul_backward",
    "mkldnn_linear_backward", "mkldnn_linear_backward_input", "mkldnn_linear_backward_weights",
    # forward kernels without a formula yet (cpu paths not taken by nn modules on meta)
    "mkldnn_linear", "mkldnn_convolution", "_nnpack_spatial_convolution", "conv_tbc", "_conv_depthwise2d",
    "conv_depthwise3d", "slow_conv3d_forward", "slow_conv_dilated2d", "slow_conv_dilated3d",
    "slow_conv_transpose2d", "slow_conv_transpose3d",
})
"""Matmul-class ops with no formula: when one runs, the backend lists it as uncounted."""
