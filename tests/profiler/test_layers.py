"""Per-module shapes and layer details, checked against the shape formulas and a cpu run."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from paramscope.profiler.layers import layer_details, record_layers, shape_text


@settings(max_examples=25, deadline=None)
@given(size=st.integers(4, 40), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       cin=st.integers(1, 8), cout=st.integers(1, 8))
def test_conv_output_shape_is_the_formula(size: int, k: int, s: int, p: int, cin: int, cout: int) -> None:
    with torch.device("meta"):
        conv = nn.Conv2d(cin, cout, k, stride=s, padding=p)
        x = torch.randn(2, cin, size, size)
    info = record_layers(conv, (x,))[""]
    out = (size + 2 * p - k) // s + 1
    assert info.input_shapes == ((2, cin, size, size),)
    assert info.output_shapes == ((2, cout, out, out),)
    assert info.calls == 1 and info.dtype == "float32"


def test_meta_and_cpu_record_the_same_shapes() -> None:
    def net() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).eval()

    with torch.device("meta"):
        meta = record_layers(net(), (torch.randn(1, 3, 16, 16),))
    cpu = record_layers(net(), (torch.randn(1, 3, 16, 16),))
    assert meta == cpu
    assert cpu["4"].input_shapes == ((1, 512),) and cpu["4"].output_shapes == ((1, 10),)


def test_details_calls_and_modules_that_never_ran() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 2)
            self.attn = nn.MultiheadAttention(4, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.lin(self.lin(x))
            return self.attn(y, y, y, need_weights=False)[0]

    infos = record_layers(Twice().train(), (torch.randn(1, 3, 4),))
    assert infos["lin"].calls == 2 and infos["lin"].details == "4->4"
    assert infos["unused"].calls == 0 and infos["unused"].input_shapes == ()
    assert infos["attn"].details == "heads=2" and infos["attn"].training
    assert infos["attn"].input_shapes == ((1, 3, 4),) * 3  # query, key, value (need_weights is no tensor)
    assert shape_text(infos["attn"].input_shapes) == "[1, 3, 4], [1, 3, 4] +1"


def test_layer_details_of_common_types() -> None:
    with torch.device("meta"):
        assert layer_details(nn.Conv1d(4, 8, 5, stride=2, groups=2)) == "4->8 k=5 s=2 g=2"
        assert layer_details(nn.Conv2d(3, 3, 3, padding=1, dilation=2)) == "3->3 k=3x3 p=1x1 d=2x2"
        assert layer_details(nn.Embedding(100, 16)) == "100->16"
        assert layer_details(nn.GRU(8, 16, num_layers=2)) == "8->16 layers=2"
        assert layer_details(nn.LayerNorm(32)) == "norm=32"
        assert layer_details(nn.BatchNorm1d(7)) == "features=7"
        assert layer_details(nn.Dropout(0.25)) == "p=0.25"
        assert layer_details(nn.ReLU()) == ""
