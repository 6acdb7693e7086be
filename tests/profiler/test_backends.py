"""MAC counting backends: exact formulas, meta == cpu, no silent zeros, no side effects."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from paramscope.profiler.backends.interface import Backend, FlopCount
from paramscope.profiler.errors import ForwardFailed, ParamscopeError
from paramscope.profiler.flops import DEFAULT_BACKEND, backend_for, count_macs

ALL = [b.value for b in Backend]


def build(factory, *shapes, device="meta"):
    with torch.device(device):
        torch.manual_seed(0)
        return factory(), tuple(torch.randn(*s) for s in shapes)


class UserModel(nn.Module):
    """A user model with an LSTM, a Conv1d and F.scaled_dot_product_attention."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.conv = nn.Conv1d(32, 32, kernel_size=3, padding=1)

    def forward(self, x):  # x: (B, T, 16)
        h, _ = self.lstm(x)  # (B, T, 32)
        h = self.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, T, 32)
        q = h.view(2, 10, 4, 8).transpose(1, 2)  # (B, heads, T, 8)
        return F.scaled_dot_product_attention(q, q, q)


# LSTM: T*B*4*(I*H + H*H) = 10*2*4*(16*32 + 32*32) = 122,880
# Conv1d: B*T*Cout*Cin*K = 2*10*32*32*3 = 61,440
# SDPA: B*heads*Lq*Lk*(E + Ev) = 2*4*10*10*(8 + 8) = 12,800
USER_MACS = {"": 122_880 + 61_440 + 12_800, "lstm": 122_880, "conv": 61_440}


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_user_model_default_backend_is_exact(device):
    model, (x,) = build(UserModel, (2, 10, 16), device=device)
    result = count_macs(model, (x,))
    assert result.backend == DEFAULT_BACKEND
    assert dict(result.macs) == USER_MACS
    assert result.total_macs == 197_120 and result.total_flops == 394_240
    assert result.uncounted == ()
    assert dict(result.calls) == {"": 1, "lstm": 1, "conv": 1}


@pytest.mark.parametrize("backend", ["torch", "fvcore"])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_user_model_trace_backends(backend, device):
    model, (x,) = build(UserModel, (2, 10, 16), device=device)
    assert dict(count_macs(model, (x,), backend=backend).macs) == USER_MACS


def test_user_model_thop_misses_functional_attention_only():
    model, (x,) = build(UserModel, (2, 10, 16))
    result = count_macs(model, (x,), backend="thop")
    # thop sees modules, not F.scaled_dot_product_attention called by the root
    assert dict(result.macs) == {**USER_MACS, "": 122_880 + 61_440}


@pytest.mark.parametrize("backend", ALL)
def test_gru_router_size_exact_on_meta(backend):
    model, (x,) = build(lambda: nn.GRU(512, 16384, bias=False), (1, 64, 512))
    # 64 tokens x 3 gates x (512*16384 + 16384*16384) = 53,150,220,288
    assert count_macs(model, (x,), backend=backend).total_macs == 64 * 3 * (512 * 16384 + 16384 * 16384)
    assert count_macs(model, (x,), backend=backend).total_macs == 53_150_220_288


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 16, num_layers=2, bidirectional=True)
        self.rnn = nn.RNN(8, 4, nonlinearity="relu")
        self.mha = nn.MultiheadAttention(32, 4, batch_first=True)
        self.ln = nn.LayerNorm(32)
        self.head = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 8))

    def forward(self, x):  # x: (T=5, B=2, 8)
        g, _ = self.gru(x)  # (5, 2, 32)
        r, _ = self.rnn(x)
        g = g.transpose(0, 1)  # (2, 5, 32)
        a, _ = self.mha(g, g, g)
        return {"y": self.head(self.ln(a)), "r": r, "aux": None}


@pytest.mark.parametrize("backend", ALL)
def test_meta_and_cpu_counts_identical(backend):
    meta = count_macs(*build(Mixed, (5, 2, 8)), backend=backend)
    cpu = count_macs(*build(Mixed, (5, 2, 8), device="cpu"), backend=backend)
    assert dict(meta.macs) == dict(cpu.macs)
    # GRU layer 0: 10 tokens*2 dirs*3*(8*16 + 16*16) = 23,040; layer 1: 10*2*3*(32*16 + 16*16) = 46,080
    assert meta.macs["gru"] == 69_120
    # RNN: 10 tokens * (8*4 + 4*4) = 480
    assert meta.macs["rnn"] == 480
    # MHA, B*L = 10 rows, E = 32: in-proj 3*10*32*32 + QK^T and AV 2*2*5*5*32 + out-proj 10*32*32
    assert meta.macs["mha"] == 30_720 + 3_200 + 10_240
    # head: 10*32*64 + 10*64*8 = 25,600
    assert meta.macs["head"] == 25_600


def test_trace_and_rule_backends_agree_except_elementwise():
    model, (x,) = build(Mixed, (5, 2, 8))
    torch_r = count_macs(model, (x,), backend="torch")
    thop_r = count_macs(model, (x,), backend="thop")
    fv = count_macs(model, (x,), backend="fvcore")
    assert dict(torch_r.macs) == dict(thop_r.macs)
    # fvcore's norm_flop_counter charges 5 per element with an affine: 5 * (2*5*32) = 1,600
    assert fv.macs["ln"] == 5 * 2 * 5 * 32
    assert fv.total_macs == torch_r.total_macs + fv.macs["ln"]


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(self.fc(x))


@pytest.mark.parametrize("backend", ALL)
def test_module_called_twice_costs_twice(backend):
    result = count_macs(*build(Twice, (4, 8)), backend=backend)
    # 2 calls x 4*8*8 = 512
    assert result.macs["fc"] == 512 and result.total_macs == 512
    assert result.calls["fc"] == 2


class TripleWeight(nn.Module):
    """One weight applied to three gates (the seed's LowRankGRU pattern)."""

    def __init__(self) -> None:
        super().__init__()
        self.v = nn.Linear(16, 4, bias=False)

    def forward(self, x):
        return sum(F.linear(x + i, self.v.weight) for i in range(3))


@pytest.mark.parametrize("backend", ["torch", "fvcore"])
def test_weight_used_three_times_costs_three_times(backend):
    result = count_macs(*build(TripleWeight, (2, 16)), backend=backend)
    # 3 x 2*16*4 = 384 MACs, from 64 parameters
    assert result.total_macs == 384


def test_thop_reports_functional_weight_use_instead_of_zero():
    result = count_macs(*build(TripleWeight, (2, 16)), backend="thop")
    assert result.total_macs == 0  # thop cannot see F.linear ...
    assert result.uncounted == ()  # ... and the container has no own parameters: the audit explains it


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        fc = nn.Linear(4, 4)
        self.a = nn.Sequential(fc)
        self.b = nn.Sequential(fc)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("backend", ALL)
def test_shared_module_booked_and_noted(backend):
    result = count_macs(*build(Shared, (1, 4)), backend=backend)
    assert result.macs["a.0"] == 32  # both calls, booked at the first path
    assert result.total_macs == 32
    assert any("'a.0' is shared" in n and "'b.0'" in n for n in result.notes)


class ScaleParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(8))

    def forward(self, x):
        return x * self.w


class WithCustom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = ScaleParam()

    def forward(self, x):
        return self.scale(self.fc(x))


def test_thop_leaves_model_unchanged_and_is_repeatable():
    model, (x,) = build(WithCustom, (3, 8), device="cpu")
    keys = list(model.state_dict())
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]
    model.train()
    first = count_macs(model, (x,), backend="thop")
    second = count_macs(model, (x,), backend="thop")
    assert list(model.state_dict()) == keys
    assert [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()] == hooks
    assert model.training
    assert first == second
    model.load_state_dict(WithCustom().state_dict())  # would fail on leftover total_ops buffers
    assert first.macs["fc"] == 3 * 8 * 8
    assert [(u.name, u.count, u.where) for u in first.uncounted] == [("ScaleParam", 1, ("scale",))]


class MixedModes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bn = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Sequential(nn.Linear(8, 4), nn.Dropout(0.1))

    def forward(self, x):
        return self.head(self.drop(self.bn(self.fc(x))))


@pytest.mark.parametrize("backend", ALL)
def test_per_module_training_flags_survive(backend):
    model, (x,) = build(MixedModes, (3, 8), device="cpu")
    model.train()
    model.bn.eval()  # a frozen BatchNorm inside a model that is training
    model.head[1].eval()
    before = {name: m.training for name, m in model.named_modules()}
    assert before[""] and not before["bn"] and not before["head.1"] and before["head.0"]
    count_macs(model, (x,), backend=backend)
    assert {name: m.training for name, m in model.named_modules()} == before


torch.library.define("paramscope_test::opaque_mm", "(Tensor a, Tensor b) -> Tensor")


@torch.library.impl("paramscope_test::opaque_mm", "CompositeExplicitAutograd")
def _opaque_mm(a, b):
    return a @ b


@torch.library.register_fake("paramscope_test::opaque_mm")
def _opaque_mm_fake(a, b):
    return a.new_empty(a.shape[0], b.shape[1])


class Opaque(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(8, 8)

    def forward(self, x):
        return torch.ops.paramscope_test.opaque_mm(self.inner(x), x.t())


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_op_without_formula_is_listed_not_silent(device):
    result = count_macs(*build(Opaque, (4, 8), device=device))
    assert result.macs["inner"] == 4 * 8 * 8
    assert [(u.name, u.count, u.where) for u in result.uncounted] == [("paramscope_test::opaque_mm", 1, ("",))]


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ok = nn.Linear(4, 4)
        self.bad = nn.Linear(5, 4)

    def forward(self, x):
        return self.bad(self.ok(x))


@pytest.mark.parametrize("backend", ALL)
def test_forward_failure_names_the_module(backend):
    with pytest.raises(ForwardFailed, match="forward failed in 'bad'"):
        count_macs(*build(Broken, (2, 4), device="cpu"), backend=backend)


def test_unknown_backend_lists_valid_names():
    with pytest.raises(ParamscopeError, match="unknown FLOP backend 'ptflops'; choose one of: torch, fvcore, thop"):
        count_macs(nn.Linear(1, 1), (torch.ones(1, 1),), backend="ptflops")


def test_every_backend_has_an_adapter():
    for b in Backend:
        assert backend_for(b).name == b.value


@dataclass
class Out:
    y: torch.Tensor
    extra: tuple


class DataclassOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, *, scale: float = 1.0):
        y = self.fc(x) * scale
        return Out(y, (y, "tag"))


@pytest.mark.parametrize("backend", ALL)
def test_dataclass_outputs_and_kwargs(backend):
    model, (x,) = build(DataclassOut, (2, 4))
    result = count_macs(model, (x,), {"scale": 2.0}, backend=backend)
    assert result.total_macs == 2 * 4 * 4


def test_fvcore_falls_back_when_trace_fails():
    class Cache:  # an HF-like cache object: JIT tracing rejects it as an output
        pass

    class WithCache(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x), Cache()

    class Caller(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dec = WithCache()

        def forward(self, x):
            y, cache = self.dec(x)
            return {"y": y, "n": len(vars(cache)) + torch.ops.aten.sym_numel(y)}

    model, (x,) = build(Caller, (2, 4))
    result = count_macs(model, (x,), backend="fvcore")
    assert result.total_macs == 2 * 4 * 4
    if result.backend == "torch":
        assert "fell back to torch" in result.notes[0]


def test_backward_macs_measured_by_torch_only():
    model, (x,) = build(lambda: nn.Linear(8, 4), (3, 8))
    x.requires_grad_(True)
    result = count_macs(model, (x,), backward=True)
    # forward 3*8*4 = 96; backward: grad_input 96 + grad_weight 96
    assert result.total_macs == 96 and result.backward_macs == {"": 192}
    for other in ("fvcore", "thop"):
        r = count_macs(model, (x,), backend=other, backward=True)
        assert r.backward_macs is None and any("backward MACs not measured" in n for n in r.notes)


def test_flopcount_is_frozen():
    r = FlopCount("torch", {"": 1}, {"": 1})
    with pytest.raises(AttributeError):
        r.backend = "x"  # type: ignore[misc]


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 8), n_in=st.integers(1, 64), n_out=st.integers(1, 64))
def test_linear_macs_property(batch, n_in, n_out):
    with torch.device("meta"):
        model, x = nn.Linear(n_in, n_out), torch.randn(batch, n_in)
        x2 = torch.randn(2 * batch, n_in)
    one = count_macs(model, (x,)).total_macs
    assert one == batch * n_in * n_out
    assert count_macs(model, (x2,)).total_macs == 2 * one  # linear in batch


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_parameter_view_passed_to_a_submodule(device):
    """The titan note's attention pooling: ``query.expand(-1, B, -1)`` fed to nn.MultiheadAttention."""

    class Pool(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = nn.Parameter(torch.randn(1, 1, 8))
            self.attn = nn.MultiheadAttention(8, 2)

        def forward(self, x):
            return self.attn(self.query.expand(-1, x.shape[1], -1), x, x)[0]

    with torch.device(device):
        model = Pool()
    x = torch.randn(5, 3, 8, device=device)  # (S, B, E)
    result = count_macs(model, (x,), {}, "torch")
    # in_proj q 3*1*8*8 = 192, k and v 3*5*8*8 = 960 each, QK^T and AV 3*2*(1*5*4) = 120 each,
    # out_proj 3*1*8*8 = 192 -> 2,544
    assert result.total_macs == 192 + 960 + 960 + 120 + 120 + 192
    assert result.macs["attn"] == result.total_macs  # counted under no_grad, booked to the submodule
