"""profiler/formulas.py: one registry of MAC formulas; no matmul-class aten op neither counted nor listed."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from paramscope.profiler import formulas
from paramscope.profiler.backends.fvcore_backend import _FVCORE_OPS
from paramscope.profiler.backends.thop_backend import _RULES
from paramscope.profiler.backends.torch_backend import _TORCH_OPS
from paramscope.profiler.flops import count_macs
from paramscope.profiler.formulas import FORMULAS, NOT_MATMUL, UNCOUNTED, formula, is_matmul_class


def test_a_second_formula_for_an_op_is_refused():
    with pytest.raises(ValueError, match=r"aten::mm_test_dup is already registered \(first\)"):

        @formula("mm_test_dup")
        def first(a: tuple[int, ...]) -> int:
            return 0

        @formula("mm_test_dup")
        def second(a: tuple[int, ...]) -> int:
            return 1

    FORMULAS.pop("mm_test_dup")


def test_adapter_tables_name_registered_formulas_only():
    assert set(_TORCH_OPS) <= set(FORMULAS) and set(_FVCORE_OPS) <= set(FORMULAS)
    assert {"GRU", "MultiheadAttention", "Bilinear", "ConvTranspose2d"} <= set(_RULES)


def _aten_ops() -> dict[str, list[str]]:
    """aten op name -> its overload names, from the dispatcher of the installed torch."""
    ops: dict[str, list[str]] = {}
    for full in torch._C._dispatch_get_all_op_names():
        if full.startswith("aten::"):
            name, _, overload = full[len("aten::"):].partition(".")
            ops.setdefault(name, []).append(overload)
    return ops


def _decomposes(name: str, overloads: list[str]) -> bool:
    """A CompositeImplicitAutograd op: FlopCounterMode sees the ops it is made of, never the op itself."""
    functional = [o for o in overloads if not o.endswith("out")] or overloads
    return any(torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{name}{'.' + o if o else ''}",
                                                              "CompositeImplicitAutograd") for o in functional)


def test_every_matmul_class_aten_op_is_counted_or_listed():
    """A new torch that adds a matmul-class op fails here until it gets a formula or a listing."""
    from torch.utils.flop_counter import flop_registry

    counted = {str(k).removeprefix("aten.") for k in flop_registry} | set(_TORCH_OPS)
    unclassified = [
        name for name, overloads in sorted(_aten_ops().items())
        if is_matmul_class(name) and name not in counted and name not in UNCOUNTED
        and not _decomposes(name, overloads)
    ]
    assert unclassified == []


def test_listed_ops_reach_the_counter():
    """An op listed as uncounted that decomposes (CompositeImplicitAutograd) never runs: a dead entry."""
    ops = _aten_ops()
    assert [n for n in sorted(UNCOUNTED | NOT_MATMUL) if n in ops and _decomposes(n, ops[n])] == []


def test_grouped_and_distance_ops_have_formulas():
    for op in ("_grouped_mm", "_euclidean_dist", "_cdist_forward", "_trilinear", "baddbmm", "addbmm"):
        assert op in FORMULAS and (op == "baddbmm" or op in _TORCH_OPS)  # torch counts baddbmm itself


@pytest.mark.parametrize("op", ["upsample_bilinear2d", "_upsample_bilinear2d_aa", "upsample_linear1d",
                                "upsample_trilinear3d", "grid_sampler_2d", "convert_element_type", "dist",
                                "cummax", "digamma", "hamming_window", "_thnn_fused_gru_cell", "is_distributed"])
def test_no_false_alarms(op):
    assert not is_matmul_class(f"aten::{op}") and not is_matmul_class(f"aten.{op}.default")


@pytest.mark.parametrize("op", ["aten::_grouped_mm", "aten::_trilinear", "aten::bilinear", "aten::cdist",
                                "aten::_euclidean_dist", "aten::mkldnn_rnn_layer", "aten.conv_transpose2d.input",
                                "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::hspmm", "aten::vdot"])
def test_matmul_class_names(op):
    assert is_matmul_class(op)


def test_lists_hold_matmul_class_names_only():
    """A listed name the pattern no longer matches is a dead entry."""
    raw = formulas._MATMUL_CLASS
    assert [n for n in sorted(NOT_MATMUL | UNCOUNTED) if raw.search(n) is None] == []
    assert not NOT_MATMUL & UNCOUNTED and not NOT_MATMUL & set(FORMULAS)


def _count(fn, *tensors, device):
    class Call(nn.Module):
        def forward(self, *xs):
            return fn(*xs)

    return count_macs(Call(), tuple(t.to(device) for t in tensors))


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_distance_and_batched_ops(device):
    a, b = torch.randn(3, 40, 6), torch.randn(3, 30, 6)
    # cdist (p=2, > 25 rows: the mm-based _euclidean_dist): B*P*R*M = 3*40*30*6 = 21,600
    assert _count(torch.cdist, a, b, device=device).total_macs == 21_600
    # small inputs take _cdist_forward: 3*4*5*6 = 360
    assert _count(torch.cdist, a[:, :4], b[:, :5], device=device).total_macs == 360
    # pdist over 10 rows of 6: 10*9/2*6 = 270
    assert _count(F.pdist, a[0, :10], device=device).total_macs == 270
    bias, m1, m2 = torch.randn(4, 5), torch.randn(3, 4, 6), torch.randn(3, 6, 5)
    # addbmm/baddbmm: b*n*k*m = 3*4*6*5 = 360
    assert _count(torch.addbmm, bias, m1, m2, device=device).total_macs == 360
    assert _count(torch.baddbmm, bias, m1, m2, device=device).total_macs == 360


@pytest.mark.parametrize("backend", ["torch", "fvcore", "thop"])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_bilinear(backend, device):
    with torch.device(device):
        model, x1, x2 = nn.Bilinear(6, 7, 5), torch.randn(4, 6), torch.randn(4, 7)
    # B*O*I*J = 4*5*6*7 = 840
    assert count_macs(model, (x1, x2), backend=backend).total_macs == 840


def _grouped(x, w, offs):
    return torch._grouped_mm(x, w, offs=offs)


@settings(max_examples=10, deadline=None)
@given(groups=st.integers(1, 4), k=st.sampled_from([4, 8, 24]), n=st.sampled_from([4, 16, 20]),
       per=st.lists(st.integers(1, 6), min_size=4, max_size=4))
def test_grouped_mm_counts_every_row_once(groups, k, n, per):
    """2-D tokens sorted by expert x 3-D expert weights: tokens*K*N, however the rows split.

    (K and N multiples of 4: the kernel wants 16-byte strides.)"""
    counts = per[:groups]
    rows = sum(counts)
    x, w = torch.randn(rows, k), torch.randn(groups, k, n)
    offs = torch.tensor(counts).cumsum(0).to(torch.int32)
    assert _count(_grouped, x, w, offs, device="cpu").total_macs == rows * k * n
    assert formulas.grouped_mm_macs((groups, rows, k), (groups, k, n)) == groups * rows * k * n
    assert formulas.grouped_mm_macs((rows, k * groups), (k * groups, n)) == rows * k * groups * n
