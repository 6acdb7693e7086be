"""fvcore and thop never give a wrong number without saying so (issue 8, part 3)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from paramscope.profiler.flops import count_macs


def _meta_parameters(model: nn.Module) -> nn.Module:
    """Parameters on meta, buffers kept on cpu with their real values (what a meta build does)."""
    for m in model.modules():
        for name, p in list(m._parameters.items()):
            if p is not None:
                m._parameters[name] = nn.Parameter(p.to("meta"), requires_grad=p.requires_grad)
    return model


class MaskedFeatures(nn.Module):
    """Keeps the features a mask buffer made at init selects, then projects them."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("keep", torch.arange(64) % 4 != 0)  # 48 of 64 features
        self.fc = nn.Linear(48, 32)

    def forward(self, x):  # (B, T, 64)
        return self.fc(x[..., self.keep])


# fc on the kept features: B*T = 2*16 = 32 rows * 48 * 32 = 49,152
MASKED_MACS = 32 * 48 * 32


def test_fvcore_traces_a_mask_buffer_with_its_real_values():
    model = _meta_parameters(MaskedFeatures())
    x = torch.randn(2, 16, 64, device="meta")
    runs = [count_macs(model, (x,), backend="fvcore") for _ in range(3)]
    assert [r.backend for r in runs] == ["fvcore"] * 3
    assert [r.total_macs for r in runs] == [MASKED_MACS] * 3


def test_fvcore_refuses_a_mask_buffer_without_values():
    with torch.device("meta"):
        model, x = MaskedFeatures(), torch.randn(2, 16, 64)
    try:
        result = count_macs(model, (x,), backend="fvcore")
    except Exception as e:  # the torch fallback cannot index with a meta mask either: one line, no number
        assert "forward failed" in str(e)
    else:
        assert result.backend == "torch" and "buffer 'keep' (torch.bool) is on meta" in result.notes[0]


def test_thop_rnn_at_the_root_fed_by_keyword():
    with torch.device("meta"):
        model, x = nn.GRU(8, 16), torch.randn(5, 2, 8)
    # 10 tokens * 3 gates * (8*16 + 16*16) = 11,520
    for backend in ("thop", "torch", "fvcore"):
        assert count_macs(model, (), {"input": x}, backend=backend).total_macs == 11_520


class CompiledSub(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sub = torch.compile(nn.Linear(8, 8))
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.sub(x))


def test_thop_with_a_compiled_submodule():
    model, x = CompiledSub(), torch.randn(3, 8)
    result = count_macs(model, (x,), backend="thop")
    # 3*8*8 + 3*8*4 = 192 + 96 = 288
    assert result.total_macs == 288 and result.macs["sub._orig_mod"] == 192
    assert not any(hasattr(m, "total_ops") for m in model.modules())


@pytest.mark.parametrize("backend", ["torch", "fvcore", "thop"])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_stride_2_conv_transpose(backend, device):
    with torch.device(device):
        model, x = nn.ConvTranspose2d(4, 6, 3, stride=2), torch.randn(1, 4, 5, 5)
    # every input position meets every weight: 25 positions * 4 * 6 * 3*3 = 5,400
    # (thop's own rule counts the 11*11 output positions: 121 * 4 * 6 * 9 = 26,136)
    result = count_macs(model, (x,), backend=backend)
    assert result.total_macs == 5_400
    if backend == "thop":
        assert result.added_macs == {"ConvTranspose2d": {"": 5_400}}
        assert any("thop's own counts output positions" in n for n in result.notes)
