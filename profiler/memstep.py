"""Run the step a user means on a private copy of the model while ``StorageTracker`` watches.

The copy is made with ``copy.deepcopy`` and a memo that maps each parameter and buffer to a
fresh tensor on the simulation device at the plan's dtype, so the user's model, its weights, its
hooks and the global RNG are left as found, and on meta nothing is allocated. A training step is
``forward -> loss.backward() -> optimizer.step() -> optimizer.zero_grad(set_to_none=True)``,
repeated ``steps`` times (optimizer state exists from the first step on); inference is one
forward in eval mode under ``torch.inference_mode()``. The loss is the sum of every floating
output (its own memory is a scalar).

On meta the copy keeps its buffers on cpu with their true values (parameters on meta) and the
whole step (forward, backward, optimizer) runs under ``assumptions.meta_execution``, as a
``breakdown`` forward does: data-dependent models (MoE routing, ``nonzero``, masks, ``.item()``)
run on stated, seeded assumptions. The tracker is entered after it, so it is the outer mode in
dispatch order: it sees each op's result as the model gets it, and none of the value bookkeeping
(known values on cpu, bf16 stand-ins of a meta kernel, meta twins of cpu buffers), which runs
with every mode disabled and allocates nothing on the device being modelled.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks
from torch.utils._pytree import tree_leaves, tree_map

from paramscope.profiler.assumptions import meta_execution
from paramscope.profiler.errors import ForwardFailed
from paramscope.profiler.forward import device_of, run_forward
from paramscope.profiler.memtrack import Kind, StorageTracker
from paramscope.profiler.precision import Optimizer, Precision, tensor_bytes
from paramscope.profiler.stats import Assumption
from paramscope.profiler.simmodes import (
    autocast_on_meta, fake_quant_weights, gru_as_on_cpu, leave_autocast_region, sdpa_as_on_cpu,
)

__all__ = ["StepPlan", "simulate_step"]


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What to simulate (see ``paramscope.profiler.memory.plan_memory``)."""

    dtype: Precision
    train: Optimizer | None
    keep: Mapping[str, Precision]
    steps: int = 2
    amp: Precision | None = None
    checkpoint: tuple[str, ...] = ()
    round_bytes: int = 1
    foreach: bool = False


def simulate_step(
    model: nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any], plan: StepPlan, device: str,
    precision_of: Callable[[str], Precision], seed: int = 0, replay: bool = False,
) -> tuple[StorageTracker, nn.Module, tuple[Assumption, ...]]:
    """Run ``plan`` on a copy of ``model`` on ``device``: the tracker, the copy and, on meta,
    the assumptions the step made (``seed`` seeds them). ``replay`` on a real device: values a
    meta run cannot know take the same seeded stand-ins (``meta_execution(replay=...)``)."""
    tracker = StorageTracker(plan.round_bytes)
    with torch.random.fork_rng(devices=[]), ExitStack() as stack:
        clone, weight_bytes = _clone(model, device, plan, precision_of)
        root = _compute_dtype(precision_of(""), plan)
        inputs = tree_map(lambda t: _to_device(t, device, root), (tuple(args), dict(kwargs)))
        _cast_at_precision_borders(clone, plan, precision_of)
        owners = _owners(clone)
        # meta execution below the tracker (entered first): see the module docstring
        real = device != "meta"
        log = stack.enter_context(meta_execution(clone, seed=seed, active=not real or replay,
                                                 replay=inputs if real and replay else None))
        stack.enter_context(tracker.modules(clone))
        stack.enter_context(tracker)
        for _name, t in (*clone.named_parameters(), *clone.named_buffers()):
            tracker.register(t, Kind.WEIGHTS, owners.get(id(t), ""), nbytes=weight_bytes.get(id(t)))
        for t in tree_leaves(inputs):
            if isinstance(t, torch.Tensor):
                tracker.register(t, Kind.INPUT)
        _wrap_checkpoints(clone, plan.checkpoint)
        if plan.train is None:
            _inference(clone, inputs, tracker, plan, precision_of)
        else:
            _train(clone, inputs, tracker, plan, owners, precision_of)
        tracker.close()
        del inputs
    return tracker, clone, log.assumptions


# --- the copy ------------------------------------------------------------------------------------


def _float_dtype(prec: Precision) -> torch.dtype:
    return {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(prec, torch.float32)


def _owners(model: nn.Module) -> dict[int, str]:
    out: dict[int, str] = {}
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        out.setdefault(id(t), name.rpartition(".")[0])
    return out


def _compute_dtype(prec: Precision, plan: StepPlan) -> torch.dtype:
    """The dtype a module computes in: fp32 under amp and for int8/int4 (QAT, weight-only)."""
    return torch.float32 if (plan.amp is not None or not prec.is_float) else _float_dtype(prec)


def _to_device(t: Any, device: str, dtype: torch.dtype) -> Any:
    """Inputs on the simulation device; floating inputs in the plan's compute dtype (as a user feeds them)."""
    if not isinstance(t, torch.Tensor):
        return t
    return t.to(device, dtype) if t.is_floating_point() else t.to(device)


def _cast_at_precision_borders(model: nn.Module, plan: StepPlan, precision_of: Callable[[str], Precision]) -> None:
    """Hooks on the copy: a module kept at another compute dtype than its parent casts its floating
    inputs to its dtype and its outputs back, as a hand-written mixed-precision model would."""
    for path, mod in model.named_modules():
        if not path:
            continue
        mine = _compute_dtype(precision_of(path), plan)
        parent = _compute_dtype(precision_of(path.rpartition(".")[0]), plan)
        if mine == parent:
            continue

        to_mine, to_parent = _caster(mine), _caster(parent)
        mod.register_forward_pre_hook(lambda _m, a, k, c=to_mine: (c(a), c(k)), with_kwargs=True)
        mod.register_forward_hook(lambda _m, _a, o, c=to_parent: c(o))


def _caster(dtype: torch.dtype) -> Callable[[Any], Any]:
    """Cast the floating tensors of a nest to ``dtype``."""
    return lambda x: tree_map(lambda t: t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t, x)


def _clone(model: nn.Module, device: str, plan: StepPlan, precision_of: Callable[[str], Precision],
           ) -> tuple[nn.Module, dict[int, int]]:
    """The copy, and the bytes of weights stored below fp32 integer precision (inference int8/int4)."""
    memo: dict[int, Any] = {}
    nbytes: dict[int, int] = {}
    for name, p in model.named_parameters():
        prec = precision_of(name.rpartition(".")[0])
        dtype = p.dtype
        if p.is_floating_point():
            dtype = _compute_dtype(prec, plan)
        new = nn.Parameter(_fresh(p, device, dtype), requires_grad=p.requires_grad)
        memo[id(p)] = new
        if not prec.is_float and plan.train is None:  # weight-only quantised storage
            nbytes[id(new)] = tensor_bytes(p.numel(), prec)
    for name, b in model.named_buffers():
        if id(b) in memo:
            continue
        prec = precision_of(name.rpartition(".")[0])
        dtype = b.dtype
        if b.is_floating_point():
            dtype = _compute_dtype(prec, plan)
        memo[id(b)] = _fresh(b, device, dtype, keep_values=True)
    try:
        clone = copy.deepcopy(model, memo)
    except Exception as e:  # noqa: BLE001 - any failure to copy is reported the same way
        raise ForwardFailed(f"cannot copy the model to simulate its step: {e}") from e
    return clone, nbytes


def _fresh(t: torch.Tensor, device: str, dtype: torch.dtype, *, keep_values: bool = False) -> torch.Tensor:
    """``t``'s copy for the step; on meta a buffer (``keep_values``) stays on cpu with its values."""
    if keep_values and device == "meta" and t.device.type != "meta":
        return t.detach().to(dtype=dtype, copy=True)
    if device == "meta" or t.device.type == "meta":
        return torch.empty_strided(t.shape, t.stride(), dtype=dtype, device=device)
    return t.detach().to(device=device, dtype=dtype, copy=True)


def _wrap_checkpoints(model: nn.Module, patterns: Sequence[str]) -> None:
    """Run matching submodules under non-reentrant ``torch.utils.checkpoint`` (on the copy)."""
    from torch.utils.checkpoint import checkpoint

    for path, mod in model.named_modules():
        if path and any(fnmatch.fnmatchcase(path, p) for p in patterns):
            inner = mod.forward

            def fwd(*a: Any, _inner: Callable[..., Any] = inner, **k: Any) -> Any:
                return checkpoint(_inner, *a, use_reentrant=False, **k)

            mod.forward = fwd


# --- the step -----------------------------------------------------------------------------------


@contextmanager
def _forward_context(tracker: StorageTracker, plan: StepPlan, device: str, model: nn.Module,
                     precision_of: Callable[[str], Precision]) -> Iterator[None]:
    with ExitStack() as stack, tracker.in_phase("forward"):
        if device == "meta":
            stack.enter_context(sdpa_as_on_cpu())
            stack.enter_context(gru_as_on_cpu())
        if plan.amp is not None and device == "meta":
            stack.enter_context(autocast_on_meta(_float_dtype(plan.amp)))
        if plan.train is not None:
            stack.enter_context(fake_quant_weights(model, precision_of))
        yield


def _real_autocast(plan: StepPlan, device: str) -> Any:
    """``torch.autocast`` around the forward only (backward runs outside it, as torch recommends)."""
    if plan.amp is None or device == "meta":
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=_float_dtype(plan.amp))


def _run_forward(model: nn.Module, inputs: tuple[tuple[Any, ...], dict[str, Any]], tracker: StorageTracker) -> Any:
    return run_forward(model, inputs[0], inputs[1], tracker.current_module, step=tracker.step if tracker.step > 1 else None)


def _inference(model: nn.Module, inputs: Any, tracker: StorageTracker, plan: StepPlan,
               precision_of: Callable[[str], Precision]) -> None:
    model.eval()
    device = _device_of(model, inputs)
    with torch.inference_mode(), _forward_context(tracker, plan, device, model, precision_of), \
            _real_autocast(plan, device):
        out = _run_forward(model, inputs, tracker)
    del out
    tracker.close()


def _train(model: nn.Module, inputs: Any, tracker: StorageTracker, plan: StepPlan, owners: Mapping[int, str],
           precision_of: Callable[[str], Precision]) -> None:
    assert plan.train is not None
    model.train()
    device = _device_of(model, inputs)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _optimizer(plan.train, params, plan.foreach)

    def pack(t: torch.Tensor) -> torch.Tensor:
        rec = tracker.find(t)
        if rec is not None and rec.kind is Kind.TEMPORARY:
            rec.kind = Kind.ACTIVATION
        return t.detach()  # an alias: returning ``t`` would let a node hold its own output (a cycle)

    for step in range(1, plan.steps + 1):
        tracker.step = step
        # the modes stay on through backward: a checkpointed module's recompute must run as its forward did
        with _forward_context(tracker, plan, device, model, precision_of):
            with saved_tensors_hooks(pack, _identity), _real_autocast(plan, device):
                out = _run_forward(model, inputs, tracker)
            leave_autocast_region()
            loss = _loss(out)
            del out
            with tracker.in_phase("backward"):
                if loss is not None:
                    loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
                leave_autocast_region()  # a checkpoint's recompute re-enters autocast
            del loss
        for p in params:
            if p.grad is not None:
                tracker.settle([p.grad], Kind.GRADS, owners.get(id(p), ""))
        with tracker.in_phase("optimizer"):
            opt.step()
        for p in params:
            tracker.settle([t for t in opt.state.get(p, {}).values() if isinstance(t, torch.Tensor)],
                           Kind.OPTIMIZER, owners.get(id(p), ""))
        with tracker.in_phase("zero_grad"):
            opt.zero_grad(set_to_none=True)
    tracker.close()  # before the optimizer and its state go out of scope


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _loss(out: Any) -> torch.Tensor | None:
    parts = [t.sum() for t in tree_leaves(out)
             if isinstance(t, torch.Tensor) and t.is_floating_point() and t.requires_grad]
    if not parts:
        return None
    loss = parts[0]
    for p in parts[1:]:
        loss = loss + p
    return loss


def _optimizer(which: Optimizer, params: list[nn.Parameter], foreach: bool) -> torch.optim.Optimizer:
    if which is Optimizer.SGD:
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, foreach=foreach)
    if which is Optimizer.ADAMW:
        return torch.optim.AdamW(params, lr=1e-3, foreach=foreach)
    return torch.optim.Adam(params, lr=1e-3, foreach=foreach)


def _device_of(model: nn.Module, inputs: tuple[tuple[Any, ...], dict[str, Any]]) -> str:
    return device_of(model, inputs[0], inputs[1])
