"""Helpers shared by the zoo family tests: preset YAMLs, meta builds, measured params and MACs.

A *family* is a module of ``paramscope.model_zoo`` following the contract of
``paramscope.model_zoo.base`` (``Config``, ``Inputs``, ``build``, ``example_inputs``, ...).
The helpers measure what torch itself reports (``named_modules``, ``FlopCounterMode``,
forward hooks), so that the tests can hold the families' closed-form formulas against it.

The test files import this module as ``from zoo_testing import ...``: there is no
``__init__.py`` in ``tests/model_zoo``, so pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "build_meta",
    "called_modules",
    "forward_macs",
    "load_preset",
    "measured_macs",
    "measured_params",
    "module_names",
    "parameters_without_gradient",
    "preset_path",
]


def preset_path(family: ModuleType, filename: str) -> Path:
    """The preset YAML ``filename`` shipped in the ``configs`` folder beside ``family``."""
    return Path(family.__file__ or "").resolve().parent / "configs" / filename


def load_preset(
    family: ModuleType,
    filename: str,
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Read a preset YAML of ``family`` and return ``(Config, Inputs, raw document)``.

    ``convert`` receives a copy of the document's ``args`` and returns the keyword arguments of
    ``family.Config``, for families whose config nests dataclasses or tuples that YAML cannot spell.
    """
    doc = yaml.safe_load(preset_path(family, filename).read_text())
    args = doc["args"] if convert is None else convert(dict(doc["args"]))
    return family.Config(**args), family.Inputs(**doc["inputs"]), doc


def build_meta(family: ModuleType, cfg: Any) -> nn.Module:
    """``family.build(cfg)`` on the meta device: shapes only, no memory, however large."""
    with torch.device("meta"):
        return family.build(cfg)


def measured_params(model: nn.Module, keys: list[str], *, parameter_keys: bool = False) -> dict[str, int]:
    """Number of parameter elements under each module path in ``keys`` (``""`` is the whole model).

    A key that names no module raises ``KeyError``, unless ``parameter_keys`` is set: then it may
    also name a parameter (e.g. a bare ``nn.Parameter`` attribute) and counts that tensor.
    """
    modules = dict(model.named_modules())
    if not parameter_keys:
        return {k: sum(p.numel() for p in modules[k].parameters()) for k in keys}
    params = dict(model.named_parameters())
    return {k: sum(p.numel() for p in modules[k].parameters()) if k in modules else params[k].numel()
            for k in keys}


def forward_macs(
    model: nn.Module,
    kwargs: Mapping[str, torch.Tensor],
    *,
    no_grad: bool = True,
    sums: Mapping[str, str] | None = None,
) -> tuple[Any, dict[str, int]]:
    """Run ``model(**kwargs)`` under ``FlopCounterMode``; return its output and the MACs per module.

    Keys are module paths as ``named_modules`` spells them, ``""`` for the whole run; the
    counter's ``"Global"`` entry is dropped. MACs are FLOPs // 2 (the counter counts a multiply-add
    as 2 FLOPs). ``no_grad`` runs the forward as the profiler does. ``sums`` maps an extra key to a
    regular expression: that key gets the FLOPs of every module whose whole path matches it, e.g.
    ``{"blocks": r"blocks\\.\\d+"}`` for a ``ModuleList``, which has no forward and so no entry.
    """
    grad_mode = torch.no_grad() if no_grad else contextlib.nullcontext()
    with grad_mode, FlopCounterMode(display=False) as fc:
        out = model(**kwargs)
    prefix = type(model).__name__
    flops = {k.removeprefix(prefix).removeprefix("."): sum(v.values())
             for k, v in fc.get_flop_counts().items() if k != "Global"}
    flops[""] = fc.get_total_flops()
    for key, pattern in (sums or {}).items():
        flops[key] = sum(v for k, v in flops.items() if re.fullmatch(pattern, k))
    return out, {k: v // 2 for k, v in flops.items()}  # FLOPs = 2 x MACs


def measured_macs(
    model: nn.Module,
    kwargs: Mapping[str, torch.Tensor],
    *,
    no_grad: bool = True,
    sums: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """The MACs per module of :func:`forward_macs`, without the model's output."""
    return forward_macs(model, kwargs, no_grad=no_grad, sums=sums)[1]


def module_names(model: nn.Module, *, skip: tuple[type[nn.Module], ...] = ()) -> set[str]:
    """Paths of all modules of ``model`` (``""`` included), except instances of ``skip``.

    Containers such as ``nn.ModuleList`` have no forward of their own: skip them when comparing
    with :func:`called_modules`.
    """
    return {name for name, m in model.named_modules() if not isinstance(m, skip)}


@contextlib.contextmanager
def called_modules(model: nn.Module) -> Iterator[set[str]]:
    """Record the path of every module of ``model`` whose forward runs inside the ``with`` block.

    Yields the set, which fills as modules run; the hooks are removed on leaving the block.
    """
    called: set[str] = set()
    handles = [module.register_forward_hook(lambda m, a, o, name=name: called.add(name))
               for name, module in model.named_modules()]
    try:
        yield called
    finally:
        for handle in handles:
            handle.remove()


def parameters_without_gradient(model: nn.Module) -> list[str]:
    """Names of the parameters whose ``.grad`` is missing or all zero after a backward pass."""
    return [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
