"""plan_memory: exact weight bytes per precision, training state, measured saved activations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from paramscope.profiler.errors import ConfigError, ForwardFailed
from paramscope.profiler.memory import (
    Optimizer,
    Precision,
    plan_memory,
    plan_memory_sweep,
    tensor_bytes,
)


# --- small models -------------------------------------------------------------------------------


class Attention(nn.Module):
    def __init__(self, d: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, C/H)
        return self.out(y.transpose(1, 2).reshape(b, t, c))


class Router(nn.Module):
    """A GRU router (the QAT note's load_balancer) feeding a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.load_balancer = nn.GRU(8, 12, bias=False, batch_first=True)
        self.head = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.load_balancer(x)[0])


def _mlp() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Dropout(0.1), nn.Linear(32, 8)), (torch.randn(4, 16),)


def _conv() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
    return m, (torch.randn(2, 3, 16, 16),)


def _attention() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return nn.Sequential(nn.LayerNorm(32), Attention()), (torch.randn(2, 10, 32),)


def _gru() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return Router(), (torch.randn(2, 5, 8),)


BUILDERS = {"mlp": _mlp, "conv": _conv, "attention": _attention, "gru": _gru}


def _build(name: str, device: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(0)
    with torch.device(device):
        return BUILDERS[name]()


# --- weights ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_gru() -> tuple[nn.Module, torch.Tensor]:
    # 3.3 GB in fp32: built on meta only, never allocated
    with torch.device("meta"):
        return nn.GRU(512, 16384, bias=False, batch_first=True), torch.randn(1, 2, 512)


def test_gru_router_weights_fp32_and_int8(big_gru: tuple[nn.Module, torch.Tensor]) -> None:
    gru, x = big_gru
    fp32, int8 = plan_memory_sweep(gru, (x,), dtypes=[Precision.FP32, Precision.INT8])
    # params = 3 gates * 16384 * (512 + 16384) = 830,472,192
    assert fp32.totals.weights_bytes == 830_472_192 * 4 == 3_321_888_768
    assert int8.totals.weights_bytes == 830_472_192
    assert fp32.measured_on == "meta"


def test_gru_router_adam_adds_grads_and_two_fp32_moments(big_gru: tuple[nn.Module, torch.Tensor]) -> None:
    gru, x = big_gru
    fp32, int8 = plan_memory_sweep(gru, (x,), dtypes=[Precision.FP32, Precision.INT8], train=Optimizer.ADAM)
    t = fp32.totals
    assert t.weights_bytes == t.grads_bytes == 3_321_888_768
    assert t.optimizer_bytes == 2 * 3_321_888_768 == 6_643_777_536
    assert t.master_weights_bytes == 0
    # QAT: int8 storage, fp32 master copy, fp32 gradients, fp32 moments
    q = int8.totals
    assert (q.weights_bytes, q.master_weights_bytes, q.grads_bytes, q.optimizer_bytes) == (
        830_472_192, 3_321_888_768, 3_321_888_768, 6_643_777_536)
    sgd = plan_memory(gru, (x,), dtype=Precision.BF16, train=Optimizer.SGD).totals
    assert (sgd.weights_bytes, sgd.grads_bytes, sgd.optimizer_bytes) == (1_660_944_384, 1_660_944_384, 0)


@settings(max_examples=25, deadline=None)
@given(
    dims=st.lists(st.integers(1, 9), min_size=2, max_size=5),
    bias=st.booleans(),
    prec=st.sampled_from(list(Precision)),
)
def test_weight_bytes_are_ceil_numel_bits_per_tensor(dims: list[int], bias: bool, prec: Precision) -> None:
    with torch.device("meta"):
        model = nn.Sequential(*(nn.Linear(a, b, bias=bias) for a, b in zip(dims, dims[1:])))
        x = torch.randn(2, dims[0])
    report = plan_memory(model, (x,), dtype=prec)
    # per tensor: ceil(numel * bits / 8); weight a*b, bias b
    expected = sum(tensor_bytes(a * b, prec) + (tensor_bytes(b, prec) if bias else 0)
                   for a, b in zip(dims, dims[1:]))
    assert report.totals.weights_bytes == expected
    if prec is Precision.FP32:
        assert expected == 4 * sum(a * b + (b if bias else 0) for a, b in zip(dims, dims[1:]))


def test_int4_rounds_up_per_tensor() -> None:
    # Linear(3, 1): weight 3 elements -> ceil(12 / 8) = 2 bytes, bias 1 element -> 1 byte
    with torch.device("meta"):
        report = plan_memory(nn.Linear(3, 1), (torch.randn(1, 3),), dtype=Precision.INT4)
    assert report.totals.weights_bytes == 3


def test_tied_weights_counted_once_at_first_owner() -> None:
    emb, head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(emb, head)
    report = plan_memory(model, (torch.tensor([[1, 2, 3]]),), dtype=Precision.FP32)
    by_path = {r.path: r for r in report.rows}
    assert by_path["0"].weights_bytes == 10 * 4 * 4 == 160
    assert by_path["1"].weights_bytes == 0
    assert report.totals.weights_bytes == 160


def test_buffers_apart_and_norm_stats_stay_fp32_under_int8() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    report = plan_memory(model, (torch.randn(3, 4),), dtype=Precision.INT8)
    bn = next(r for r in report.rows if r.path == "1")
    # running_mean + running_var: 2 * 4 fp32 = 32; num_batches_tracked: one int64 = 8
    assert bn.buffers_bytes == 2 * 4 * 4 + 8 == 40
    # weights: Linear 16 + 4, BN affine 4 + 4 -> 28 elements at one byte each
    assert report.totals.weights_bytes == 28
    assert report.peak_estimate_bytes == sum(
        getattr(report.totals, a) for a in ("weights_bytes", "buffers_bytes", "master_weights_bytes",
                                            "grads_bytes", "optimizer_bytes", "activation_bytes"))


def test_frozen_parameters_have_no_training_state() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    t = plan_memory(model, (torch.randn(1, 4),), dtype=Precision.FP32, train=Optimizer.ADAMW).totals
    # trainable: Linear(4, 2) = 8 + 2 = 10 elements -> grads 40 B, moments 2 * 40 B
    assert (t.grads_bytes, t.optimizer_bytes) == (40, 80)


# --- mixed plans --------------------------------------------------------------------------------


def test_keep_router_fp32_rest_int8() -> None:
    model, (x,) = _build("gru", "meta")
    report = plan_memory(model, (x,), dtype=Precision.INT8, keep={"load_balancer": Precision.FP32})
    rows = {r.path: r for r in report.rows}
    # GRU(8, 12, bias=False): 3 * 12 * (8 + 12) = 720 params, kept fp32 -> 2,880 B
    assert rows["load_balancer"].precision is Precision.FP32
    assert rows["load_balancer"].weights_bytes == 720 * 4 == 2880
    # head Linear(12, 4): 48 + 4 = 52 params at int8
    assert rows["head"].precision is Precision.INT8
    assert rows["head"].weights_bytes == 52
    assert report.keep == (("load_balancer", Precision.FP32),)
    # activations follow the plan too: the kept router's saved tensors stay 4 bytes per element
    full = plan_memory(model, (x,), dtype=Precision.FP32)
    full_rows = {r.path: r for r in full.rows}
    assert rows["load_balancer"].activation_bytes == full_rows["load_balancer"].activation_bytes
    assert rows["head"].activation_bytes * 4 == full_rows["head"].activation_bytes


def test_unknown_keep_path_names_it_and_close_matches() -> None:
    model, (x,) = _build("gru", "meta")
    with pytest.raises(ConfigError, match=r"'load_balancr'.*did you mean 'load_balancer'"):
        plan_memory(model, (x,), dtype=Precision.INT8, keep={"load_balancr": Precision.FP32})


# --- saved activations --------------------------------------------------------------------------


def test_parameters_saved_for_backward_are_not_activations() -> None:
    # Linear(4, 3) saves its input (2 x 4 fp32 = 32 B) and weight.t(), a view of a parameter
    report = plan_memory(nn.Linear(4, 3), (torch.randn(2, 4),), dtype=Precision.FP32)
    assert report.totals.activation_bytes == 2 * 4 * 4 == 32


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_meta_and_cpu_save_identical_bytes(name: str) -> None:
    dtypes = list(Precision)
    on_meta = plan_memory_sweep(*_build(name, "meta")[:1], _build(name, "meta")[1], dtypes=dtypes)
    model, args = _build(name, "cpu")
    on_cpu = plan_memory_sweep(model, args, dtypes=dtypes, train=None)
    for m, c in zip(on_meta, on_cpu):
        assert m.totals.activation_bytes > 0
        assert [(r.path, r.activation_bytes) for r in m.rows] == [(r.path, r.activation_bytes) for r in c.rows]
        assert m.totals == c.totals
    assert (on_meta[0].measured_on, on_cpu[0].measured_on) == ("meta", "cpu")


def test_float_activations_scale_with_precision() -> None:
    model, (x,) = _build("attention", "meta")  # every saved tensor is floating
    fp32, bf16, int4 = plan_memory_sweep(model, (x,), dtypes=[Precision.FP32, Precision.BF16, Precision.INT4])
    assert bf16.totals.activation_bytes * 2 == fp32.totals.activation_bytes
    assert int4.totals.activation_bytes * 8 >= fp32.totals.activation_bytes


def test_integer_saved_tensors_keep_their_bytes() -> None:
    # Embedding saves its int64 indices (1 x 3 x 8 B = 24 B), whatever the plan precision
    model = nn.Embedding(10, 4)
    idx = torch.tensor([[1, 2, 3]])
    fp32, int4 = plan_memory_sweep(model, (idx,), dtypes=[Precision.FP32, Precision.INT4])
    assert fp32.totals.activation_bytes == int4.totals.activation_bytes == 3 * 8 == 24


def test_measurement_leaves_model_untouched() -> None:
    model, (x,) = _build("conv", "cpu")
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plan_memory(model, (x,), dtype=Precision.FP32, train=Optimizer.ADAM)
    assert not model.training and not any(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_forward_failure_names_the_module() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(5, 2)))
    with pytest.raises(ForwardFailed, match=r"forward failed in '1\.0'"):
        plan_memory(model, (torch.randn(1, 4),), dtype=Precision.FP32)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_measurement_frees_the_graph() -> None:
    """The saved-tensor hooks must not keep the measured forward's graph (and its memory) alive."""
    import gc
    import weakref

    model = nn.Sequential(nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 16))
    outputs: list[weakref.ref[torch.Tensor]] = []
    model[1].register_forward_hook(lambda mod, i, o: outputs.append(weakref.ref(o)))
    plan_memory(model, (torch.randn(2, 16),), dtype=Precision.FP32)
    gc.collect()
    assert outputs and all(ref() is None for ref in outputs)
