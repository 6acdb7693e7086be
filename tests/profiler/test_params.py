"""Parameter counting conventions, on models defined here (zoo-independent)."""

from __future__ import annotations

import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from paramscope.profiler import profile_model


class TiedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(50, 8)
        self.block = nn.Linear(8, 8)
        self.lm_head = nn.Linear(8, 50, bias=False)
        self.lm_head.weight = self.wte.weight  # nanoGPT-style weight tying
        self.scale = nn.Parameter(torch.ones(8))
        self.register_buffer("mask", torch.ones(4, 4))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.block(self.wte(ids)) * self.scale)


class SharedBlock(nn.Module):
    """The same submodule object registered under two names and called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = self.a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def test_tied_weight_counted_once_and_marked() -> None:
    prof = profile_model(TiedLM())
    # wte 50*8 = 400, block 8*8+8 = 72, lm_head tied (0 new), scale 8 -> 480
    assert prof.total.params == 480
    assert prof.get("wte").params == 400
    assert prof.get("lm_head").params == 0
    assert any("counted there" in s for s in prof.get("lm_head").shared_with)
    assert any("counted here" in s for s in prof.get("wte").shared_with)
    assert [(s.owner, s.aliases, s.numel) for s in prof.shared] == [("wte.weight", ("lm_head.weight",), 400)]


def test_buffers_apart_and_direct_parameter_row_after_subtree() -> None:
    prof = profile_model(TiedLM())
    assert prof.total.buffers == 16  # mask 4*4, never in params
    assert prof.modules[-1].path == "scale" and prof.modules[-1].is_param and prof.modules[-1].params == 8


def test_shared_submodule_counted_once() -> None:
    prof = profile_model(SharedBlock())
    assert prof.total.params == 20  # 4*4 + 4, though reachable as a and b
    assert [m.path for m in prof.modules] == ["", "a"]


def test_frozen_parameters_apart() -> None:
    m = TiedLM()
    m.block.requires_grad_(False)
    prof = profile_model(m)
    assert (prof.total.trainable, prof.total.frozen) == (408, 72)
    assert prof.get("block").frozen == 72


def test_meta_and_cpu_counts_equal() -> None:
    cpu = profile_model(TiedLM())
    with torch.device("meta"):
        meta = profile_model(TiedLM())
    assert [(m.path, m.params) for m in cpu.modules] == [(m.path, m.params) for m in meta.modules]


@settings(max_examples=40, deadline=None)
@given(i=st.integers(1, 64), o=st.integers(1, 64), bias=st.booleans(), depth=st.integers(1, 4))
def test_linear_stack_params(i: int, o: int, bias: bool, depth: int) -> None:
    with torch.device("meta"):
        layers = [nn.Linear(i, o, bias=bias)] + [nn.Linear(o, o, bias=bias) for _ in range(depth - 1)]
        model = nn.Sequential(*layers)
    prof = profile_model(model)
    assert prof.get("0").params == i * o + (o if bias else 0)
    assert prof.total.params == i * o + (depth - 1) * o * o + (depth * o if bias else 0)
    # a parent's total is the sum of its children
    assert prof.total.params == sum(m.params for m in prof.modules if m.depth == 1)
