"""The contract every zoo family follows, and the torch-free registry metadata.

A family is a module under ``paramscope.model_zoo`` that defines:

- ``Config``: a (possibly nested) frozen dataclass of the builder's arguments. Its
  ``__post_init__`` raises ``ValueError("key: what is wrong")`` for impossible shapes.
- ``Inputs``: a frozen dataclass of example-input knobs (``batch_size``, ...).
- ``build(cfg: Config) -> torch.nn.Module``: a real module with a real ``forward``.
- ``example_inputs(cfg, inputs, device) -> dict[str, Tensor]``: keyword arguments for ``forward``.
- ``param_formula(cfg) -> dict[str, int]``: closed-form parameter counts by module path
  (a test oracle, as nanoGPT's ``get_num_params``).
- optionally ``mac_formula(cfg, inputs) -> dict[str, int]``: closed-form MACs by module path.

This file imports nothing from torch, so ``paramscope zoo list`` and ``--help`` stay instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Knob", "FamilyInfo"]

KnobKind = Literal["design", "workload"]


@dataclass(frozen=True, slots=True)
class Knob:
    """A short name for a config key, as ``whatif --rank`` uses it."""

    alias: str
    """Flag name without dashes, e.g. ``rank`` (``--rank``) or ``pred_len`` (``--pred-len``)."""
    key: str
    """Dotted config key, e.g. ``args.slot_fuse.rank`` or ``inputs.batch_size``."""
    kind: KnobKind
    """``design`` changes the architecture; ``workload`` changes what it is run on."""
    help: str
    implies: tuple[tuple[str, Any], ...] = ()
    """Other keys set together with this one, e.g. rank implies score_mode=lowrank."""


@dataclass(frozen=True, slots=True)
class FamilyInfo:
    """What the registry knows about a family without importing torch."""

    name: str
    module: str
    """Import path of the family module, e.g. ``paramscope.model_zoo.rg_output``."""
    summary: str
    source: str
    """The research note the family comes from."""
    knobs: tuple[Knob, ...] = field(default_factory=tuple)
