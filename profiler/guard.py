"""Leave the user's model as it was found: snapshot what a measurement touches, restore it after.

Counting MACs, timing and measuring memory all run the model's forward (and backward). On a
model in train mode that changes it: BatchNorm updates its running statistics and
``num_batches_tracked``, ``backward`` leaves ``.grad`` set (and doubles it next time), dropout
advances the global random generator, a backend that fails half-way can leave hooks behind, and
some analyses switch ``train()``/``eval()``. ``preserved(model)`` records, for every submodule:

- buffers (the tensors' values and which tensor each name holds) and parameters' identity;
- each parameter's ``.grad`` (the tensor object and its values) and ``requires_grad``;
- every per-module hook dictionary and the global module hooks;
- every other attribute of each submodule, by identity: the ``training`` flag, a flag the forward
  sets (transformers' ``_output_capturing_hooks_installed``, which says hooks are installed that
  restoring the hook registries removes), a cache it fills;
- the random generators: torch's (cpu and, if initialised, cuda), Python's ``random`` and
  NumPy's legacy global generator when NumPy is loaded;

and puts all of it back on exit, whether the measurement returned or raised. Values are copied
back into the same tensor objects, so references a user holds stay valid. Tensors on meta have
no values: their identity and flags are restored.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelState", "capture", "restore", "preserved"]


_HOOK_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}
"""The hook-registry names among a module's attribute names, per set of names (one per module class, in practice)."""


def _hook_dicts(module: Any) -> dict[str, Any]:
    """The module's hook registries: every dict attribute whose name says hooks."""
    attrs = vars(module)
    keys = tuple(attrs)
    names = _HOOK_NAMES.get(keys)
    if names is None:
        if len(_HOOK_NAMES) > 4096:  # attribute names that vary per instance: keep the table small
            _HOOK_NAMES.clear()
        names = _HOOK_NAMES[keys] = tuple(n for n in keys if "hooks" in n)
    return {name: value for name in names if isinstance(value := attrs[name], dict)}


def _global_hook_dicts() -> dict[str, Any]:
    from torch.nn.modules import module as torch_module

    return {name: value for name, value in vars(torch_module).items()
            if name.startswith("_global") and "hook" in name and isinstance(value, dict)}


def _copy(t: Any) -> Any:
    if t is None or t.device.type == "meta":
        return None
    return t.detach().clone()


_Items = tuple[tuple[Any, Any], ...]
"""A dict's items, in order: what ``_refill`` puts back."""


@dataclass
class ModelState:
    """Everything ``restore`` puts back (see the module docstring)."""

    modules: list[Any] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    """Per module, a shallow copy of its ``__dict__`` (``training``, flags, caches)."""
    buffers: list[_Items] = field(default_factory=list)
    buffer_values: dict[int, Any] = field(default_factory=dict)
    parameters: list[_Items] = field(default_factory=list)
    grads: dict[int, tuple[Any, Any, Any, bool]] = field(default_factory=dict)
    """id(parameter) -> (parameter, its .grad, a copy of the grad's values, requires_grad)."""
    hooks: list[dict[str, _Items]] = field(default_factory=list)
    """Per module, the hook registries that held hooks (an empty one is not recorded)."""
    global_hooks: dict[str, _Items] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)


def _capture_rng() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["cuda"] = torch.cuda.get_rng_state_all()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        with contextlib.suppress(Exception):
            state["numpy"] = numpy.random.get_state()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        sys.modules["numpy"].random.set_state(state["numpy"])


def capture(model: Any) -> ModelState:
    """Record the state of ``model`` (an ``nn.Module``) and of the random generators."""
    state = ModelState()
    for mod in model.modules():
        state.modules.append(mod)
        state.attributes.append(dict(vars(mod)))
        state.buffers.append(tuple(mod._buffers.items()))
        for buf in mod._buffers.values():
            if buf is not None and id(buf) not in state.buffer_values:
                state.buffer_values[id(buf)] = (buf, _copy(buf))
        state.parameters.append(tuple(mod._parameters.items()))
        for p in mod._parameters.values():
            if p is not None and id(p) not in state.grads:
                state.grads[id(p)] = (p, p.grad, _copy(p.grad), p.requires_grad)
        state.hooks.append({name: tuple(d.items()) for name, d in _hook_dicts(mod).items() if d})
    state.global_hooks = {name: tuple(d.items()) for name, d in _global_hook_dicts().items()}
    state.rng = _capture_rng()
    return state


def _refill(target: dict[Any, Any], saved: _Items) -> None:
    """``target`` holds ``saved`` again: the same keys, in order, with the same objects (by identity:
    a buffer the measurement replaced is a different tensor even when its values are equal)."""
    if len(target) != len(saved) or any(k != k0 or v is not v0 for (k, v), (k0, v0) in zip(target.items(), saved)):
        target.clear()
        target.update(saved)


_GONE = object()


def _put_back(attrs: dict[str, Any], saved: dict[str, Any]) -> None:
    """``attrs`` (a module's ``__dict__``) holds the same objects as ``saved`` again, and nothing more."""
    if len(attrs) == len(saved) and all(attrs.get(k, _GONE) is v for k, v in saved.items()):
        return
    for name in [n for n in attrs if n not in saved]:  # set by the measurement
        del attrs[name]
    attrs.update(saved)


def restore(state: ModelState) -> None:
    """Put back what ``capture`` recorded."""
    import torch

    with torch.no_grad():
        for mod, attributes, buffers, params, hooks in zip(
                state.modules, state.attributes, state.buffers, state.parameters, state.hooks, strict=True):
            _put_back(vars(mod), attributes)
            _refill(mod._buffers, buffers)
            _refill(mod._parameters, params)
            for name, current in _hook_dicts(mod).items():  # a registry the measurement created is emptied
                saved = hooks.get(name, ())
                if current or saved:
                    _refill(current, saved)
        for buf, values in state.buffer_values.values():
            if values is not None and buf.shape == values.shape:
                buf.copy_(values)
        for param, grad, values, requires_grad in state.grads.values():
            param.grad = grad
            if grad is not None and values is not None and grad.shape == values.shape:
                grad.copy_(values)
            param.requires_grad_(requires_grad)
    globals_now = _global_hook_dicts()
    for name, saved in state.global_hooks.items():
        _refill(globals_now[name], saved)
    _restore_rng(state.rng)


@contextlib.contextmanager
def preserved(model: Any) -> Iterator[None]:
    """Run the body and leave ``model`` (and the random generators) as they were before it."""
    state = capture(model)
    try:
        yield
    finally:
        restore(state)
