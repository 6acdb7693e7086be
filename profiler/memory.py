"""Memory by precision and for training: weights, gradients, optimizer state, saved activations.

Conventions (also in the README):

- Bytes of a tensor at a precision are ``ceil(numel * bits / 8)``, per tensor, so int4 packs two
  elements per byte and an odd element count rounds up.
- Weights: unique parameters (``model.named_parameters()`` de-duplicates tied and shared tensors;
  each is counted once, at its first owner). ``keep`` maps module-path prefixes to a precision that
  overrides ``dtype`` for that subtree; the longest matching prefix wins.
- Buffers are listed apart (``buffers_bytes``). Floating buffers follow a float plan precision;
  under int8/int4 they stay fp32 (quantisers keep norm statistics and scales in float). Integer
  buffers keep their own dtype.
- Training (``train`` set) covers trainable parameters only (``requires_grad=True``):
  * float precisions (fp32, bf16, fp16) train in that precision: gradients have the weights'
    precision and there is no master copy;
  * int8 and int4 train as QAT with fake quantisation, which keeps fp32 master weights: such
    parameters get an fp32 master copy (``master_weights_bytes``) and fp32 gradients, and the
    activations they save are fp32 too;
  * optimizer state is fp32 whatever the precision: Adam and AdamW keep two moment buffers per
    trainable element (8 bytes), plain SGD none.
- Activations saved for backward are measured, not guessed: one forward in train mode with grad
  enabled under ``torch.autograd.graph.saved_tensors_hooks``. Each saved storage is counted once
  (two views of one storage are one allocation), parameters and buffers saved by an op are not
  activations, and the bytes go to the innermost module running when the op saved them. The model's
  own dtype is measured once; floating tensors are rescaled element for element to the plan
  precision (non-floating tensors such as dropout masks keep their bytes). Attention runs the
  reference math kernel of ``scaled_dot_product_attention`` during the measurement so that meta
  and real devices give identical bytes; fused kernels (flash, memory-efficient) save less.
- ``peak_estimate_bytes`` = weights + buffers + master weights + gradients + optimizer state +
  saved activations: everything resident at the end of a training forward. Without ``train`` the
  activation term is what a forward with grad enabled would hold (an upper bound for inference).
"""

from __future__ import annotations

import dataclasses

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks
from torch.nn.attention import SDPBackend, sdpa_kernel

from paramscope.profiler.errors import ConfigError
from paramscope.profiler.forward import CallTracker, device_of, module_hooks, run_forward, storage_key, storage_nbytes
from paramscope.profiler.guard import preserved
from paramscope.profiler.paths import did_you_mean, is_within

__all__ = [
    "Precision",
    "Optimizer",
    "MemoryRow",
    "MemoryTotals",
    "MemoryReport",
    "plan_memory",
    "plan_memory_sweep",
    "tensor_bytes",
]


class Precision(StrEnum):
    """Storage precision of a plan."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    INT8 = "int8"
    INT4 = "int4"

    @property
    def bits(self) -> int:
        """Bits per element (int4 = 4, i.e. half a byte)."""
        return _BITS[self]

    @property
    def is_float(self) -> bool:
        """True for fp32, bf16 and fp16; False for the integer (quantised) precisions."""
        return self in (Precision.FP32, Precision.BF16, Precision.FP16)


_BITS: dict[Precision, int] = {
    Precision.FP32: 32, Precision.BF16: 16, Precision.FP16: 16, Precision.INT8: 8, Precision.INT4: 4,
}


class Optimizer(StrEnum):
    """Optimizer whose state is counted when training."""

    SGD = "sgd"
    ADAM = "adam"
    ADAMW = "adamw"

    @property
    def fp32_states_per_element(self) -> int:
        """fp32 state tensors kept per trainable element: SGD (no momentum) 0, Adam/AdamW 2."""
        return 0 if self is Optimizer.SGD else 2


def tensor_bytes(numel: int, precision: Precision) -> int:
    """Bytes of one tensor of ``numel`` elements at ``precision``: ``ceil(numel * bits / 8)``."""
    return (numel * precision.bits + 7) // 8


@dataclass(frozen=True, slots=True)
class MemoryTotals:
    """Bytes by column: what one module owns directly (``MemoryRow``), or a sum over modules."""

    weights_bytes: int
    """Parameters, at the plan precision of their module."""
    buffers_bytes: int
    """Buffers (never in ``weights_bytes``)."""
    master_weights_bytes: int
    """fp32 master copy of trainable int8/int4 parameters when training (QAT); else 0."""
    grads_bytes: int
    """Gradients of trainable parameters when training; else 0."""
    optimizer_bytes: int
    """Optimizer state of trainable parameters when training; else 0."""
    activation_bytes: int
    """Saved-for-backward tensors stored while the module was the innermost one running."""

    @property
    def total_bytes(self) -> int:
        """Sum of every column."""
        return sum(getattr(self, f.name) for f in dataclasses.fields(MemoryTotals))

    @property
    def peak_estimate_bytes(self) -> int:
        """weights + buffers + master weights + gradients + optimizer + activations."""
        return self.total_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryRow(MemoryTotals):
    """What one module owns directly (not its children). A subtree is the sum over its paths."""

    path: str
    """``named_modules()`` key; "" is the root."""
    type: str
    """Class name of the module."""
    precision: Precision
    """Plan precision of this module (``keep`` or ``dtype``)."""


@dataclass(frozen=True, slots=True)
class MemoryReport:
    """Memory of one plan (precision, optional training, kept subtrees)."""

    dtype: Precision
    """Default precision of the plan."""
    train: Optimizer | None
    """Optimizer when training; None for inference."""
    keep: tuple[tuple[str, Precision], ...]
    """Module-path prefixes kept at another precision, sorted by path."""
    rows: tuple[MemoryRow, ...]
    """One row per module, in ``named_modules()`` order."""
    totals: MemoryTotals
    """Column sums over ``rows``."""
    peak_estimate_bytes: int
    """``totals.peak_estimate_bytes`` (stored for JSON)."""
    measured_on: str = field(default="meta")
    """Device type the activations were measured on (meta and real devices agree)."""

    def subtree(self, path: str) -> MemoryTotals:
        """Column sums over ``path`` and everything under it ("" = the whole model)."""
        return _sum_rows(r for r in self.rows if is_within(r.path, path))


@dataclass(frozen=True, slots=True)
class _Saved:
    """One saved storage: where it was saved and its bytes in the model's own dtype."""

    path: str
    nbytes: int
    element_size: int
    floating: bool


def plan_memory(
    model: nn.Module,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    dtype: Precision,
    train: Optimizer | None = None,
    keep: Mapping[str, Precision] | None = None,
) -> MemoryReport:
    """Memory of ``model`` stored at ``dtype`` (``keep`` subtrees aside), optionally trained.

    Args:
        model: the model, on meta (no weight memory needed) or a real device.
        args: positional example inputs of ``model.forward``.
        kwargs: keyword example inputs.
        dtype: default precision of the plan.
        train: optimizer when training (adds master weights, gradients, optimizer state).
        keep: ``{module_path_prefix: precision}`` overriding ``dtype`` for those subtrees,
            e.g. ``{"load_balancer": Precision.FP32}``.

    Returns:
        A frozen ``MemoryReport``; see the module docstring for the conventions.

    Raises:
        ConfigError: a ``keep`` path names no submodule.
        ForwardFailed: the forward pass raised; the message names the submodule.
    """
    return plan_memory_sweep(model, args, kwargs, dtypes=(dtype,), train=train, keep=keep)[0]


def plan_memory_sweep(
    model: nn.Module,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    dtypes: Sequence[Precision],
    train: Optimizer | None = None,
    keep: Mapping[str, Precision] | None = None,
) -> tuple[MemoryReport, ...]:
    """``plan_memory`` for several precisions, running the forward once.

    Activations are measured once, in the model's own dtype, and each floating saved tensor is
    rescaled element for element to every plan's precision (see the module docstring).

    Returns:
        One report per entry of ``dtypes``, in order.
    """
    keep_plan = _validate_keep(model, keep or {})
    with preserved(model):  # .grad, hooks, flags and RNG (dropout) as the user left them
        saved = _measure_saved(model, tuple(args), dict(kwargs or {}))
    device = device_of(model, args)
    return tuple(
        _build_report(model, Precision(d), train, keep_plan, saved, device) for d in dtypes
    )


# --- plan ---------------------------------------------------------------------------------------


def _validate_keep(model: nn.Module, keep: Mapping[str, Precision]) -> dict[str, Precision]:
    paths = [p for p, _ in model.named_modules(remove_duplicate=False)]
    known = set(paths)
    plan: dict[str, Precision] = {}
    for path, prec in keep.items():
        if path not in known:
            hint = did_you_mean(path, paths, known=False, n=5, cutoff=0.5)
            raise ConfigError(f"keep: no submodule named {path!r} in {type(model).__name__}{hint}")
        try:
            plan[path] = Precision(prec)
        except ValueError:
            names = ", ".join(p.value for p in Precision)
            raise ConfigError(f"keep: unknown precision {prec!r} for {path!r}; use one of {names}") from None
    return plan


def _precision_of(path: str, dtype: Precision, keep: Mapping[str, Precision]) -> Precision:
    best: tuple[int, Precision] | None = None
    for prefix, prec in keep.items():
        if is_within(path, prefix) and (best is None or len(prefix) >= best[0]):
            best = (len(prefix), prec)
    return dtype if best is None else best[1]


def _buffer_bytes(buf: torch.Tensor, prec: Precision) -> int:
    if buf.is_floating_point():
        return tensor_bytes(buf.numel(), prec if prec.is_float else Precision.FP32)
    return buf.numel() * buf.element_size()


def _param_columns(p: nn.Parameter, prec: Precision, train: Optimizer | None) -> tuple[int, int, int, int]:
    """(weights, master, grads, optimizer) bytes of one parameter."""
    n = p.numel()
    weights = tensor_bytes(n, prec)
    if train is None or not p.requires_grad:
        return weights, 0, 0, 0
    qat = not prec.is_float  # fake-quant QAT: fp32 master weights and fp32 gradients
    master = tensor_bytes(n, Precision.FP32) if qat else 0
    grads = tensor_bytes(n, Precision.FP32 if qat else prec)
    optim = train.fp32_states_per_element * tensor_bytes(n, Precision.FP32)
    return weights, master, grads, optim


def _activation_precision(prec: Precision, train: Optimizer | None) -> Precision:
    # QAT saves the fp32 outputs of its fake-quant ops; inference int8/int4 stores integers.
    return Precision.FP32 if train is not None and not prec.is_float else prec


def _saved_bytes(s: _Saved, prec: Precision) -> int:
    if not s.floating:
        return s.nbytes
    return tensor_bytes(s.nbytes // s.element_size, prec)


def _build_report(
    model: nn.Module,
    dtype: Precision,
    train: Optimizer | None,
    keep: Mapping[str, Precision],
    saved: Sequence[_Saved],
    device: str,
) -> MemoryReport:
    modules = dict(model.named_modules())
    cols: dict[str, list[int]] = {path: [0] * 6 for path in modules}
    prec = {path: _precision_of(path, dtype, keep) for path in modules}
    for name, p in model.named_parameters():
        owner = name.rpartition(".")[0]
        w, m, g, o = _param_columns(p, prec[owner], train)
        for i, v in ((0, w), (2, m), (3, g), (4, o)):
            cols[owner][i] += v
    for name, b in model.named_buffers():
        owner = name.rpartition(".")[0]
        cols[owner][1] += _buffer_bytes(b, prec[owner])
    for s in saved:
        cols[s.path][5] += _saved_bytes(s, _activation_precision(prec[s.path], train))
    rows = tuple(MemoryRow(*cols[path], path=path, type=type(mod).__name__, precision=prec[path])
                 for path, mod in modules.items())
    totals = _sum_rows(rows)
    return MemoryReport(
        dtype=dtype,
        train=train,
        keep=tuple(sorted(keep.items())),
        rows=rows,
        totals=totals,
        peak_estimate_bytes=totals.peak_estimate_bytes,
        measured_on=device,
    )


def _sum_rows(rows: Any) -> MemoryTotals:
    columns = [f.name for f in dataclasses.fields(MemoryTotals)]
    return MemoryTotals(*(sum(getattr(r, c) for r in rows) for c in columns))


# --- measurement of saved activations -----------------------------------------------------------


def _measure_saved(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[_Saved]:
    """Run one training forward and record each storage saved for backward, once."""
    exclude = {storage_key(t) for t in (*model.parameters(), *model.buffers())}
    seen: dict[tuple[Any, ...], _Saved] = {}
    alive: list[torch.Tensor] = []  # keep saved tensors alive so storage keys are never reused

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = storage_key(t)
        if key not in exclude and key not in seen:
            alive.append(t)
            seen[key] = _Saved(tracker.current, storage_nbytes(t),
                               t.element_size(), t.is_floating_point())
        # a detached alias: returning ``t`` itself would let a node hold its own output with
        # its grad_fn, a reference cycle that keeps the whole graph (real memory on cpu) alive
        return t.detach()

    tracker = CallTracker()
    modes = {m: m.training for m in model.modules()}
    snapshot = _snapshot_buffers(model)
    try:
        model.train()
        with (torch.enable_grad(), sdpa_kernel(SDPBackend.MATH), saved_tensors_hooks(pack, _identity),
              module_hooks(model, tracker.enter, tracker.leave)):
            out = run_forward(model, args, kwargs, lambda: tracker.current)
        del out
    finally:
        # the graph's saved variables hold ``pack`` (and so ``alive``): clearing it breaks the
        # cycle graph -> pack -> alive -> tensor -> graph that gc cannot see through C++
        alive.clear()
        for m, flag in modes.items():
            m.training = flag
        _restore_buffers(model, snapshot)
    return list(seen.values())


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _snapshot_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of real buffers: a train-mode forward updates BatchNorm statistics in place."""
    return {n: b.detach().clone() for n, b in model.named_buffers() if b.device.type != "meta"}


def _restore_buffers(model: nn.Module, snapshot: Mapping[str, torch.Tensor]) -> None:
    if not snapshot:
        return
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name in snapshot:
                buf.copy_(snapshot[name])
