"""Row order and counts stay right on a model with 10,000 submodules (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn as nn

from paramscope.profiler import profile_model


class Block(nn.Module):
    """Five modules: the block, a Linear, a LayerNorm, a Sequential and its ReLU; one direct parameter."""

    def __init__(self, frozen: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2, bias=not frozen)
        self.norm = nn.LayerNorm(2)
        self.act = nn.Sequential(nn.ReLU())
        self.gate = nn.Parameter(torch.ones(2), requires_grad=not frozen)
        self.lin.requires_grad_(not frozen)


def _expected(mod: nn.Module, path: str) -> Iterator[tuple[str, int, int, bool]]:
    """(path, params, trainable, is_param) in pre-order, written without paramscope: a container's
    own parameters follow its subtree."""
    yield path, sum(p.numel() for p in mod.parameters()), sum(p.numel() for p in mod.parameters() if p.requires_grad), False
    children = list(mod.named_children())
    for name, child in children:
        yield from _expected(child, f"{path}.{name}" if path else name)
    if children:
        for name, p in mod.named_parameters(recurse=False):
            yield f"{path}.{name}" if path else name, p.numel(), p.numel() if p.requires_grad else 0, True


def test_ten_thousand_modules_rows_in_order_with_right_counts() -> None:
    model = nn.Sequential(*(Block(frozen=i % 3 == 0) for i in range(2000)))  # cpu: tiny, and faster to build than meta
    model.register_parameter("head_bias", nn.Parameter(torch.zeros(7)))
    assert len(list(model.named_modules())) == 10_001
    prof = profile_model(model)
    got = [(m.path, m.params, m.trainable, m.is_param) for m in prof.modules]
    assert got == list(_expected(model, ""))
    # 2000 blocks x (Linear 3*2 [+2 bias when trainable] + LayerNorm 2+2 + gate 2) + head_bias 7;
    # 667 blocks (i % 3 == 0) have no Linear bias
    assert prof.total.params == 2000 * (6 + 4 + 2) + (2000 - 667) * 2 + 7
    assert prof.total.trainable == (2000 - 667) * (6 + 2 + 4 + 2) + 667 * 4 + 7
    assert all(prof.get(m.path) is m for m in prof.modules)
