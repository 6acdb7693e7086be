"""MACs per module through a chosen backend, and the backends compared side by side (audit)."""

from __future__ import annotations

import dataclasses

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from paramscope.profiler.backends.interface import Backend, CountingBackend, FlopCount
from paramscope.profiler.errors import ConfigError, ParamscopeError
from paramscope.profiler.guard import preserved
from paramscope.profiler.paths import within_any

__all__ = ["DEFAULT_BACKEND", "UnknownBackend", "AuditRow", "AuditReport", "backend_for", "count_macs", "audit"]

log = logging.getLogger(__name__)

# Default chosen by measurement (tests/profiler/test_backends.py models, torch 2.13 cpu, 2 cores):
# - torch (FlopCounterMode + paramscope's formulas) is exact on every test model, on meta and cpu
#   with identical counts (LSTM, GRU, Conv1d, SDPA, MultiheadAttention, a module called twice,
#   a weight used three times), sees functional calls made by containers, and is the only one
#   that measures backward MACs. nn.GRU(512, 16384) x 64 tokens on meta: 53,150,220,288 MACs in
#   about 0.05 s (no weights allocated).
# - fvcore needs a JIT trace: it fails on meta for convolutions (we retrace an uninitialised CPU
#   copy, capped at 1 GiB of weights), fails on HF cache outputs, drops unused results, and adds
#   elementwise MACs for norms; thop only sees modules with a rule, so F.* calls in a container
#   (e.g. F.scaled_dot_product_attention) are invisible to it.
DEFAULT_BACKEND = Backend.TORCH

# A disagreement above this relative size is flagged by the audit.
DISAGREEMENT_THRESHOLD = 0.01


class UnknownBackend(ParamscopeError):
    """The backend name is not one of ``Backend``."""


def backend_for(backend: Backend | str) -> CountingBackend:
    """The adapter for a backend name; imports its library lazily.

    Raises:
        UnknownBackend: the name is not a ``Backend`` value.
    """
    try:
        which = Backend(backend)
    except ValueError:
        valid = ", ".join(b.value for b in Backend)
        raise UnknownBackend(f"unknown FLOP backend {str(backend)!r}; choose one of: {valid}") from None
    if which is Backend.TORCH:
        from paramscope.profiler.backends.torch_backend import TorchBackend

        return TorchBackend()
    if which is Backend.FVCORE:
        from paramscope.profiler.backends.fvcore_backend import FvcoreBackend

        return FvcoreBackend()
    if which is Backend.THOP:
        from paramscope.profiler.backends.thop_backend import ThopBackend

        return ThopBackend()
    assert_never(which)


def count_macs(
    model: Any,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    backend: Backend | str = DEFAULT_BACKEND,
    *,
    backward: bool = False,
    elementwise: bool = False,
) -> FlopCount:
    """Run the model's forward once and count inclusive MACs per ``named_modules()`` path.

    Args:
        model: the model, on meta (no weights allocated), cpu or cuda.
        args: positional inputs of ``model.forward``.
        kwargs: keyword inputs of ``model.forward``.
        backend: ``"torch"`` (default), ``"fvcore"`` or ``"thop"``.
        backward: also measure the backward pass, where the backend can.
        elementwise: also count output elements of element-wise ops (torch backend only).

    Returns:
        A ``FlopCount``; FLOPs are ``2 * macs``.

    Raises:
        UnknownBackend: bad backend name. BackendUnavailable: library missing.
        ConfigError: ``elementwise`` with a backend other than torch.
        ForwardFailed: the forward raised (the message names the submodule).
    """
    adapter = backend_for(backend)
    if elementwise and adapter.name != Backend.TORCH:
        raise ConfigError(f"--elementwise needs --flops torch (not {adapter.name})")
    with preserved(model):  # BatchNorm statistics, .grad, hooks, flags and RNG as the user left them
        count = adapter.count(model, tuple(args), dict(kwargs or {}), backward=backward, elementwise=elementwise)
    elem = None if count.elementwise is None else _sum_uncalled_containers(model, count, count.elementwise)
    return dataclasses.replace(count, macs=_sum_uncalled_containers(model, count), elementwise=elem)


def _sum_uncalled_containers(model: Any, count: FlopCount, values: Mapping[str, int] | None = None) -> dict[str, int]:
    """Inclusive MACs (or ``values``) where a container never runs its own forward (ModuleList, ModuleDict).

    Backends book MACs to the modules whose forward ran; a ``ModuleList`` of projectors is
    never called itself, so its inclusive figure is the sum of its children's.
    """
    macs = dict(count.macs if values is None else values)
    children = {path: [f"{path}.{n}" if path else n for n, _ in mod.named_children()]
                for path, mod in model.named_modules()}
    for path in reversed(list(children)):  # children before parents
        if children[path] and not count.calls.get(path):
            macs[path] = sum(macs.get(c, 0) for c in children[path])
    return macs


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One module, every backend's MACs."""

    path: str
    """``named_modules()`` path; ``""`` is the root."""
    macs: Mapping[str, int | None]
    """Backend name -> inclusive MACs (None when the backend failed)."""
    max_rel_diff: float
    """(max - min) / max over the backends that ran; 0.0 when all are 0."""
    flagged: bool
    """``max_rel_diff`` is above 1%."""
    explanation: str | None = None
    """Why the backends disagree, where known."""


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The backends side by side, per module."""

    backends: tuple[str, ...]
    """Backend names, in column order."""
    rows: tuple[AuditRow, ...]
    """One row per module path, in ``named_modules()`` order."""
    counts: Mapping[str, FlopCount]
    """The full result of each backend that ran."""
    errors: Mapping[str, str]
    """Backend name -> why it could not run."""

    @property
    def flagged(self) -> tuple[AuditRow, ...]:
        """The rows whose disagreement is over the threshold."""
        return tuple(r for r in self.rows if r.flagged)


def audit(
    model: Any,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    backends: Iterable[Backend | str] = tuple(Backend),
) -> AuditReport:
    """Count with several backends and compare them module by module.

    A backend that is unavailable or raises becomes an entry in ``errors``, not a crash.
    """
    names = tuple(Backend(b).value for b in backends)
    counts: dict[str, FlopCount] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            result = count_macs(model, args, kwargs, name)
        except Exception as e:  # one broken backend must not hide the others
            log.info("audit: backend %s failed: %s", name, e)
            errors[name] = f"{type(e).__name__}: {e}"
            continue
        if result.backend != name:  # fvcore fell back to torch: not an independent opinion
            errors[name] = "; ".join(n for n in result.notes if "fell back" in n) or f"fell back to {result.backend}"
            continue
        counts[name] = result
    rows = tuple(_row(path, counts, names, model) for path, _ in model.named_modules())
    return AuditReport(backends=names, rows=rows, counts=counts, errors=errors)


def _row(path: str, counts: Mapping[str, FlopCount], names: tuple[str, ...], model: Any) -> AuditRow:
    macs = {n: (counts[n].macs.get(path, 0) if n in counts else None) for n in names}
    values = [v for v in macs.values() if v is not None]
    hi = max(values, default=0)
    rel = (hi - min(values, default=0)) / hi if hi else 0.0
    flagged = rel > DISAGREEMENT_THRESHOLD
    return AuditRow(path, macs, rel, flagged, _explain(path, counts, macs, model) if flagged else None)


def _explain(path: str, counts: Mapping[str, FlopCount], macs: Mapping[str, int | None], model: Any) -> str | None:
    """Known reasons, most specific first."""
    reasons: list[str] = []
    for name, result in counts.items():
        for op in result.uncounted:
            if not within_any(op.where, path):
                continue
            if name == "thop" and "(" in op.name:
                reasons.append(f"thop could not count {op.name}")
            elif name == "thop":
                reasons.append(f"thop has no rule for {op.name}")
            elif name == "fvcore" and not _is_elementwise(op.name):
                reasons.append(f"fvcore leaves {op.name} uncounted")
            elif name == "torch":
                reasons.append(f"torch has no formula for {op.name}")
    present = {n: v for n, v in macs.items() if v is not None}
    if "fvcore" in present and "torch" in present and present["fvcore"] > present["torch"]:
        reasons.append("elementwise ops (norms, pooling, upsampling) counted by fvcore but not torch")
    if "thop" in present and "torch" in present and present["thop"] < present["torch"] and not reasons:
        reasons.append("thop sees modules only: functional calls (F.*, torch.*) made inside "
                       f"'{path}' are not counted by thop")
    if "fvcore" in present and "torch" in present and present["fvcore"] < present["torch"] and not reasons:
        reasons.append("fvcore's JIT trace drops ops whose results are unused")
    return "; ".join(dict.fromkeys(reasons)) or None


def _is_elementwise(op: str) -> bool:
    # fvcore lists every op it skips; only matmul-like ones explain a MAC disagreement
    from paramscope.profiler.backends.torch_backend import _MATMUL_LIKE

    return _MATMUL_LIKE.search(op) is None
