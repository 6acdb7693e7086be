"""plan_memory: the simulated step's peak, its kinds, weight bytes per precision, plans, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from paramscope.profiler.errors import ConfigError, ForwardFailed
from paramscope.profiler.memory import (
    Allocator,
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

GRU_PARAMS = 830_472_192  # 3 gates * 16384 * (512 + 16384)


@pytest.fixture(scope="module")
def big_gru() -> tuple[nn.Module, torch.Tensor]:
    # 3.3 GB in fp32: built on meta only, never allocated
    with torch.device("meta"):
        return nn.GRU(512, 16384, bias=False, batch_first=True), torch.randn(1, 2, 512)


def test_gru_router_inference_weights_by_precision(big_gru: tuple[nn.Module, torch.Tensor]) -> None:
    gru, x = big_gru
    fp32, bf16, int8, int4 = plan_memory_sweep(gru, (x,), dtypes=list(Precision)[:2] + list(Precision)[3:])
    assert fp32.live_at_peak.weights_bytes == GRU_PARAMS * 4 == 3_321_888_768
    assert bf16.live_at_peak.weights_bytes == GRU_PARAMS * 2
    assert int8.live_at_peak.weights_bytes == GRU_PARAMS  # weight-only int8 storage
    assert int4.live_at_peak.weights_bytes == GRU_PARAMS // 2
    assert fp32.measured_on == "meta" and fp32.peak_phase == "forward"


def test_gru_router_adam_peak_is_in_the_optimizer_step(big_gru: tuple[nn.Module, torch.Tensor]) -> None:
    gru, x = big_gru
    fp32 = plan_memory(gru, (x,), dtype=Precision.FP32, train=Optimizer.ADAM)
    live = fp32.live_at_peak
    # for-loop Adam (torch's cpu default) on weight_hh (3 * 16384 * 16384 elements): while it
    # updates it, weights, gradients and both moments are live, plus sqrt(v) and sqrt(v) / bc2 --
    # and the previous iteration's ``denom`` of weight_ih (3 * 16384 * 512), still bound in the loop
    hh, ih = 3 * 16384 * 16384, 3 * 16384 * 512
    assert (fp32.peak_phase, fp32.peak_module) == ("optimizer", "")
    assert live.weights_bytes == live.grads_bytes == 4 * GRU_PARAMS
    assert live.optimizer_bytes == 8 * GRU_PARAMS + 4 * 2  # + one fp32 step tensor per parameter
    assert live.temporary_bytes == 2 * 4 * hh + 4 * ih
    assert fp32.peak_bytes == live.total_bytes


def test_foreach_adam_on_the_cuda_allocator_rounds_and_batches(big_gru: tuple[nn.Module, torch.Tensor]) -> None:
    gru, x = big_gru
    cuda = plan_memory(gru, (x,), dtype=Precision.FP32, train=Optimizer.ADAMW, allocator=Allocator.CUDA)
    # foreach AdamW (torch's cuda default): sqrt(v) for every parameter at once, then in place
    assert cuda.allocator is Allocator.CUDA
    assert cuda.live_at_peak.temporary_bytes >= 4 * GRU_PARAMS
    assert all(getattr(cuda.live_at_peak, f) % 512 == 0 for f in ("weights_bytes", "grads_bytes"))


def test_sgd_momentum_keeps_one_buffer_per_parameter() -> None:
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    with torch.device("meta"):
        x = torch.randn(8, 64)
    r = plan_memory(model, (x,), dtype=Precision.FP32, train=Optimizer.SGD)
    n = sum(p.numel() for p in model.parameters())
    # step 2 holds the momentum buffers (fp32, one per element) next to weights and gradients
    assert r.rows and max(p.live.optimizer_bytes for p in r.timeline) == 4 * n


@settings(max_examples=15, deadline=None)
@given(
    dims=st.lists(st.integers(1, 9), min_size=2, max_size=4),
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
    assert report.live_at_peak.weights_bytes == expected


def test_int4_rounds_up_per_tensor() -> None:
    # Linear(3, 1): weight 3 elements -> ceil(12 / 8) = 2 bytes, bias 1 element -> 1 byte
    with torch.device("meta"):
        report = plan_memory(nn.Linear(3, 1), (torch.randn(1, 3),), dtype=Precision.INT4)
    assert report.live_at_peak.weights_bytes == 3


def test_tied_weights_counted_once_at_first_owner() -> None:
    emb, head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(emb, head)
    report = plan_memory(model, (torch.tensor([[1, 2, 3]]),), dtype=Precision.FP32)
    by_path = {r.path: r for r in report.rows}
    assert by_path["0"].weights_bytes == 10 * 4 * 4 == 160
    assert by_path["1"].weights_bytes == 0
    assert report.live_at_peak.weights_bytes == 160


def test_int8_qat_keeps_fp32_master_weights_and_saves_fake_quant_copies() -> None:
    model, (x,) = _build("mlp", "meta")
    fp32, int8 = plan_memory_sweep(model, (x,), dtypes=[Precision.FP32, Precision.INT8], train=Optimizer.ADAM)
    n = sum(p.numel() for p in model.parameters())
    assert int8.live_at_peak.weights_bytes == fp32.live_at_peak.weights_bytes == 4 * n
    # each Linear weight use saves a bool mask (1 B per element) for the straight-through gradient,
    # and the fp32 fake-quantised copy (4 B) when the layer's input needs a gradient (not layer 0's)
    peak_fwd = [p for p in int8.timeline if p.phase == "forward"]
    peak_fwd32 = [p for p in fp32.timeline if p.phase == "forward"]
    w0, w1 = 16 * 32, 32 * 8
    assert max(p.live.activation_bytes for p in peak_fwd) - max(p.live.activation_bytes for p in peak_fwd32) == w0 + 5 * w1


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


def test_unknown_keep_path_names_it_and_close_matches() -> None:
    model, (x,) = _build("gru", "meta")
    with pytest.raises(ConfigError, match=r"'load_balancr'.*did you mean 'load_balancer'"):
        plan_memory(model, (x,), dtype=Precision.INT8, keep={"load_balancr": Precision.FP32})


def test_checkpoint_pattern_that_matches_nothing_is_a_config_error() -> None:
    model, (x,) = _build("gru", "meta")
    with pytest.raises(ConfigError, match=r"checkpoint: no submodule matches 'load_balancr'"):
        plan_memory(model, (x,), dtype=Precision.FP32, train=Optimizer.ADAM, checkpoint=("load_balancr",))


# --- the simulation ----------------------------------------------------------------------------


def test_parameters_saved_for_backward_are_not_activations() -> None:
    # Linear(4, 3) saves its input (2 x 4 fp32 = 32 B, an input here) and its weight (a parameter)
    report = plan_memory(nn.Linear(4, 3), (torch.randn(2, 4),), dtype=Precision.FP32, train=Optimizer.SGD)
    assert max(p.live.activation_bytes for p in report.timeline) == 0


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_meta_and_cpu_simulations_agree(name: str) -> None:
    on_meta = plan_memory(*_build(name, "meta"), dtype=Precision.FP32, train=Optimizer.ADAM)
    model, args = _build(name, "cpu")
    on_cpu = plan_memory(model, args, dtype=Precision.FP32, train=Optimizer.ADAM, device="cpu")
    assert on_meta.peak_bytes == on_cpu.peak_bytes and on_meta.live_at_peak == on_cpu.live_at_peak
    assert (on_meta.measured_on, on_cpu.measured_on) == ("meta", "cpu")


def test_bf16_halves_every_floating_kind() -> None:
    model, (x,) = _build("attention", "meta")
    fp32, bf16 = plan_memory_sweep(model, (x,), dtypes=[Precision.FP32, Precision.BF16], train=Optimizer.ADAM)
    # Adam's state follows the parameter dtype; only the per-parameter fp32 ``step`` tensors do not
    assert bf16.live_at_peak.weights_bytes * 2 == fp32.live_at_peak.weights_bytes
    assert bf16.peak_bytes < 0.55 * fp32.peak_bytes


def test_simulation_leaves_model_untouched() -> None:
    model, (x,) = _build("conv", "cpu")
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plan_memory(model, (x,), dtype=Precision.FP32, train=Optimizer.ADAM, device="cpu")
    plan_memory(model, (x,), dtype=Precision.FP32, train=Optimizer.ADAM)
    assert not model.training and not any(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(p.device.type == "cpu" and p.grad is None for p in model.parameters())


def test_forward_failure_names_the_module() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(5, 2)))
    with pytest.raises(ForwardFailed, match=r"forward failed in '1\.0'"):
        plan_memory(model, (torch.randn(1, 4),), dtype=Precision.FP32)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_simulation_frees_the_graph() -> None:
    """Nothing of the simulated step (its copy, graph, optimizer) outlives it."""
    import gc
    import weakref

    model = nn.Sequential(nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 16))
    outputs: list[weakref.ref[torch.Tensor]] = []
    model[1].register_forward_hook(lambda mod, i, o: outputs.append(weakref.ref(o)))
    plan_memory(model, (torch.randn(2, 16),), dtype=Precision.FP32, train=Optimizer.ADAM, device="cpu")
    gc.collect()
    assert outputs and all(ref() is None for ref in outputs)
