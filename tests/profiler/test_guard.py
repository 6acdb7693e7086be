"""The profiler leaves the user's model as it found it (issue 11, the state-mutation matrix).

A train-mode model with BatchNorm (running statistics, num_batches_tracked), dropout (the global
RNG), user hooks and gradients from an earlier step goes through every backend and analysis,
once normally and once with a forward that raises half-way; afterwards its state_dict, grads,
hooks, training flags and the RNG state are identical, and measuring again gives the same result.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn as nn

from paramscope.profiler.audit import audit
from paramscope.profiler.flops import count_macs
from paramscope.profiler.latency import measure_latency
from paramscope.profiler.memory import Optimizer, Precision, plan_memory_sweep


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.bn = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.5)
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.bn(self.lin(x)))
        if self.fail:
            raise RuntimeError("half-way")
        return x


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = Block()
        self.second = Block()
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.second(self.first(x)))


def _model() -> tuple[Net, list[int]]:
    torch.manual_seed(0)
    model = Net().train()
    model(torch.randn(4, 8)).sum().backward()  # the user's last step left gradients
    calls: list[int] = []
    model.first.register_forward_hook(lambda m, i, o: calls.append(1))
    return model, calls


def _fingerprint(model: nn.Module) -> dict[str, Any]:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()},
        "grad_ids": {n: id(p.grad) for n, p in model.named_parameters()},
        "hooks": {n: {k: tuple(v) for k, v in vars(m).items() if "hooks" in k and isinstance(v, dict)}
                  for n, m in model.named_modules()},
        "training": {n: m.training for n, m in model.named_modules()},
        "rng": torch.get_rng_state().clone(),
        "random": random.getstate(),
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
    }


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert torch.equal(a["state"][k], b["state"][k]), k
    for k in a["grads"]:
        assert (a["grads"][k] is None) == (b["grads"][k] is None), k
        if a["grads"][k] is not None:
            assert torch.equal(a["grads"][k], b["grads"][k]), k
    for key in ("grad_ids", "hooks", "training", "random", "requires_grad"):
        assert a[key] == b[key], key
    assert torch.equal(a["rng"], b["rng"])


X = (torch.randn(4, 8),)
MEASUREMENTS: dict[str, Callable[[nn.Module], Any]] = {
    "torch": lambda m: count_macs(m, X, backend="torch").macs,
    "torch-backward": lambda m: (count_macs(m, X, backend="torch", backward=True).macs,
                                 count_macs(m, X, backend="torch", backward=True).backward_macs),
    "fvcore": lambda m: count_macs(m, X, backend="fvcore").macs,
    "thop": lambda m: count_macs(m, X, backend="thop").macs,
    "audit": lambda m: [(r.path, dict(r.macs)) for r in audit(m, X).rows],
    "memory": lambda m: plan_memory_sweep(m, X, dtypes=[Precision.FP32, Precision.INT8], train=Optimizer.ADAM),
    "latency": lambda m: [r.path for r in measure_latency(m, X, device="cpu", repeats=1, warmup=1).rows],
}


@pytest.mark.parametrize("name", list(MEASUREMENTS))
def test_a_measurement_leaves_the_model_as_it_found_it(name: str) -> None:
    model, calls = _model()
    before = _fingerprint(model)
    first = MEASUREMENTS[name](model)
    _same(before, _fingerprint(model))
    second = MEASUREMENTS[name](model)
    _same(before, _fingerprint(model))
    assert first == second


@pytest.mark.parametrize("name", [n for n in MEASUREMENTS if n != "audit"])
def test_a_forward_that_raises_half_way_leaves_the_model_as_it_found_it(name: str) -> None:
    model, calls = _model()
    model.second.fail = True
    before = _fingerprint(model)
    with pytest.raises(Exception):  # noqa: B017 - each backend words it its own way
        MEASUREMENTS[name](model)
    _same(before, _fingerprint(model))
    n = len(calls)
    model.second.fail = False
    model(torch.randn(4, 8))
    assert len(calls) == n + 1  # the user's hook is there, once


def test_audit_with_a_failing_forward_leaves_the_model_as_it_found_it() -> None:
    model, _ = _model()
    model.second.fail = True
    before = _fingerprint(model)
    report = audit(model, X)
    assert set(report.errors) == {"torch", "fvcore", "thop"}
    _same(before, _fingerprint(model))


class _Reassigns(nn.Module):
    """A forward that replaces its buffer with a new tensor of equal values (a cache refreshed in place of one)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("scale", torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.scale = self.scale.clone()  # a different tensor under the same name, equal values
        return self.lin(x) * self.scale


def test_a_buffer_the_forward_replaced_is_put_back_by_identity() -> None:
    from paramscope.profiler.guard import preserved

    model = _Reassigns()
    original = model.scale
    with preserved(model):
        model(torch.randn(2, 4))
        assert model.scale is not original
    assert model.scale is original
    count_macs(model, (torch.randn(2, 4),))
    assert model.scale is original


class LazyHooks(nn.Module):
    """Installs a hook on its first forward and marks itself, as transformers' output capturing does."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(8, 8)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not getattr(self, "_hooked", False):
            self.inner.register_forward_hook(lambda m, i, o: self.seen.append(o))
            self._hooked = True
        self.seen.clear()
        self.inner(x)
        return self.seen[-1]  # IndexError when the mark outlived the hook


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_an_attribute_the_forward_added_goes_with_its_hook(device: str) -> None:
    """Before: the second measurement failed (IndexError); transformers' SegFormer the same way on meta,
    where a plain forward that needs a value is counted again under meta_execution."""
    model = LazyHooks()
    x = torch.randn(2, 8, device=device)
    if device == "meta":
        model = model.to("meta")
    counts = [count_macs(model, (x,)).total_macs for _ in range(2)]
    assert counts == [2 * 8 * 8] * 2
    assert not hasattr(model, "_hooked") and not model.inner._forward_hooks


class _HooksOnce(nn.Module):
    """Like transformers 5's output capturing: the first forward installs hooks and sets a flag saying so."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.head = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not getattr(self, "_installed", False):
            self.inner.register_forward_hook(lambda m, i, o: self.seen.append(o))
            self._installed = True
        self.seen: list[torch.Tensor] = []
        self.inner(x)
        return self.head(self.seen[-1])  # needs the hook


def test_a_flag_the_forward_set_is_removed_with_the_hooks_it_guards() -> None:
    model, x = _HooksOnce(), torch.randn(2, 4)
    first = count_macs(model, (x,)).total_macs
    assert not hasattr(model, "_installed") and not model.inner._forward_hooks
    assert count_macs(model, (x,)).total_macs == first == 2 * 2 * 4 * 4
    model(x)  # the user's own forward still works
