"""The Python API: ``paramscope.profile`` counts, ``paramscope.summary`` prints, a Profile renders."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import paramscope


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))


def test_profile_counts_macs_by_default() -> None:
    prof = paramscope.profile(_net(), torch.randn(1, 3, 8, 8))
    assert prof.total.params == (3 * 3 * 3 * 8 + 8) + (288 * 10 + 10)
    assert prof.get("0").macs == 6 * 6 * 8 * 3 * 3 * 3  # output positions x out channels x kernel volume
    assert prof.get("3").macs == 288 * 10
    assert prof.total.macs == prof.get("0").macs + prof.get("3").macs
    assert prof.flops_backend == "torch"


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 8), fan_in=st.integers(1, 512), fan_out=st.integers(1, 512))
def test_profile_linear_on_meta_matches_the_formula(batch: int, fan_in: int, fan_out: int) -> None:
    with torch.device("meta"):
        model = nn.Linear(fan_in, fan_out)
        x = torch.randn(batch, fan_in)
    prof = paramscope.profile(model, x)
    assert prof.total.macs == batch * fan_in * fan_out
    assert prof.total.params == fan_in * fan_out + fan_out and prof.device == "meta"


def test_profile_without_flops_needs_no_inputs() -> None:
    prof = paramscope.profile(_net(), flops=None)
    assert prof.total.macs is None and prof.total.params == 3114


@pytest.mark.parametrize("backend", ["torch", "fvcore", "thop"])
def test_profile_takes_every_backend_by_name(backend: str) -> None:
    prof = paramscope.profile(_net(), torch.randn(1, 3, 8, 8), flops=backend)
    assert prof.get("3").macs == 2880 and prof.flops_backend == backend


def test_summary_prints_the_table_and_returns_the_profile() -> None:
    out = io.StringIO()
    prof = paramscope.summary(_net(), input_size=(1, 3, 8, 8), file=out)
    text = out.getvalue()
    assert "3,114" in text and "10,656" in text and "Conv2d" in text
    assert prof.total.macs == 10_656
    assert str(prof) == prof.table()
    assert "| `3` | Linear | 2,890 |" in prof.to_markdown()
    assert prof.to_dict()["total"]["macs"] == 10_656


def test_summary_with_several_inputs_and_dtypes() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.lin = nn.Linear(16, 4)

        def forward(self, ids: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return self.lin(self.emb(ids) + x)

    prof = paramscope.summary(Two(), input_size=[(2, 5), (2, 5, 16)], dtypes=[torch.long, torch.float32],
                              file=io.StringIO())
    assert prof.get("lin").macs == 2 * 5 * 16 * 4


def test_profile_leaves_a_plain_model_usable() -> None:
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    paramscope.profile(model, torch.randn(1, 3, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 10)
