"""MACs per module through a chosen backend (the backends side by side: profiler/audit.py)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any, assert_never

from paramscope.profiler.assumptions import meta_execution, on_meta
from paramscope.profiler.backends.interface import Backend, CountingBackend, FlopCount
from paramscope.profiler.errors import ArgumentError, ParamscopeError
from paramscope.profiler.guard import capture, restore

__all__ = ["DEFAULT_BACKEND", "UnknownBackend", "backend_for", "count_macs", "not_called"]

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
    seed: int = 0,
) -> FlopCount:
    """Run the model's forward once and count inclusive MACs per ``named_modules()`` path.

    On meta the forward runs under ``meta_execution``: data-dependent ops work on stated,
    seeded assumptions (``FlopCount.assumptions``); fvcore's JIT trace runs without it.

    Args:
        model: the model, on meta (no weights allocated), cpu or cuda.
        args: positional inputs of ``model.forward``.
        kwargs: keyword inputs of ``model.forward``.
        backend: ``"torch"`` (default), ``"fvcore"`` or ``"thop"``.
        backward: also measure the backward pass, where the backend can.
        elementwise: also count output elements of element-wise ops (torch backend only).
        seed: seeds the values a meta forward must assume (routing, tensor-to-bool...).

    Returns:
        A ``FlopCount``; FLOPs are ``2 * macs``.

    Raises:
        UnknownBackend: bad backend name. BackendUnavailable: library missing.
        ArgumentError: ``elementwise`` with a backend other than torch.
        ForwardFailed: the forward raised (the message names the submodule).
    """
    adapter = backend_for(backend)
    if elementwise and adapter.name != Backend.TORCH:
        raise ArgumentError("elementwise", None, f"needs the torch backend (not {adapter.name})")
    active = on_meta(model, args, kwargs) and adapter.name != Backend.FVCORE
    count = _count(adapter, model, tuple(args), dict(kwargs or {}), backward=backward, elementwise=elementwise,
                   seed=seed, active=active)
    elem = None if count.elementwise is None else _sum_uncalled_containers(model, count, count.elementwise)
    return dataclasses.replace(count, macs=_sum_uncalled_containers(model, count), elementwise=elem)


def _count(adapter: CountingBackend, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool,
           elementwise: bool, seed: int, active: bool) -> FlopCount:
    """The backend's count, the model left as the user left it; ``active``: on meta.

    On meta the forward first runs plainly, meta kernels answered from a ``MetaCache``: most
    models need no value on meta, and then ``meta_execution`` (a Python hop on every op, about a
    fifth of a forward) would add nothing. Any op that needs a value raises on bare meta
    (``nonzero``, ``.item()``, a cpu buffer meeting a meta activation, ``.cpu()``), and the count
    is then made again under ``meta_execution``, which answers it on stated assumptions. The
    same ops reach the counter either way, so the MACs are the same.
    """
    measure = partial(adapter.count, model, args, kwargs, backward=backward, elementwise=elementwise)
    state = capture(model)  # the model as the user left it, put back after each attempt
    try:
        if active:
            from paramscope.profiler.metacache import MetaCache

            try:
                with MetaCache():
                    return measure()
            except Exception:  # noqa: BLE001 - a value was needed: counted again under meta_execution below
                log.debug("plain meta forward failed; counting under meta_execution", exc_info=True)
                restore(state)
        with meta_execution(model, seed=seed, active=active) as assumed:
            count = measure()
    finally:
        restore(state)
    return dataclasses.replace(count, assumptions=(*count.assumptions, *assumed.assumptions))


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


def not_called(count: FlopCount) -> frozenset[str]:
    """Paths of modules that never ran: no call of theirs or of a submodule, no MACs booked to them.

    Their MACs are unknown rather than 0 (a breakdown shows "not called"; JSON ``macs: null``).
    """
    ran = {""}
    for path, n in count.calls.items():
        if n or count.macs.get(path):
            parts = path.split(".")
            ran.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(p for p in count.calls if p not in ran)
