"""The contract every zoo family follows, and the torch-free registry metadata.

A family is two things, both inside ``paramscope.model_zoo`` (adding one touches nothing else):

1. A ``FamilyInfo`` in ``registry.FAMILIES`` (torch-free, so ``zoo list`` and ``--help`` stay
   instant): its knobs (``whatif --ALIAS`` / ``--knob ALIAS=...`` / ``--set ALIAS=...``), the
   names of its forward's inputs and outputs, and the state ``steps`` carries by default.
2. A module (``FamilyInfo.module``) that defines, checked by ``registry.load_family``:

   - ``Config``: a (possibly nested) frozen dataclass of the builder's arguments. Its
     ``__post_init__`` raises ``ValueError("key: what is wrong")`` for impossible shapes.
   - ``Inputs``: a frozen dataclass of example-input knobs (``batch_size``, ...).
   - ``build(cfg: Config) -> torch.nn.Module``: a real module with a real ``forward``.
   - ``example_inputs(cfg, inputs, device) -> dict[str, Tensor]``: keyword arguments for ``forward``.
   - ``param_formula(cfg) -> dict[str, int]``: closed-form parameter counts by module path
     (a test oracle, as nanoGPT's ``get_num_params``).
   - optionally ``mac_formula(cfg, inputs) -> dict[str, int]``: closed-form MACs by module path.

Presets are YAML files in ``configs/`` naming the family (``model: NAME``); a preset may carry the
figures of its research note in a ``note:`` block (see ``registry.preset_note``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Knob", "FamilyInfo", "Family", "REQUIRED", "knob_flag"]

KnobKind = Literal["design", "workload"]
KnobType = type[int] | type[float] | type[str] | type[bool]


def knob_flag(alias: str) -> str:
    """The command-line spelling of a knob alias: ``pred_len`` -> ``--pred-len``."""
    return "--" + alias.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Knob:
    """A short name for a config key, as ``whatif --rank`` uses it."""

    alias: str
    """Name without dashes, e.g. ``rank`` (flag ``--rank``) or ``pred_len`` (``--pred-len``)."""
    key: str
    """Dotted config key, e.g. ``args.slot_fuse.rank`` or ``inputs.batch_size``."""
    kind: KnobKind
    """``design`` changes the architecture; ``workload`` changes what it is run on."""
    help: str
    type: KnobType = int
    """Type of one value (the config field's type; a test holds them together)."""
    choices: tuple[str, ...] = ()
    """The allowed values of a closed choice (a ``Literal`` field), else empty."""
    implies: tuple[tuple[str, Any], ...] = ()
    """Other keys set together with this one, e.g. rank implies score_mode=lowrank."""

    @property
    def flag(self) -> str:
        return knob_flag(self.alias)

    @property
    def meaning(self) -> str:
        """``help`` with the choices spelled out, e.g. ``head of the model: mean | flatten_mlp``."""
        return f"{self.help}: {' | '.join(self.choices)}" if self.choices else self.help


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
    inputs: tuple[str, ...] = ()
    """Forward keyword inputs as ``name: shape``, e.g. ``x: (batch_size, seq_len, c_in)``."""
    outputs: tuple[str, ...] = ()
    """Names of the items of the forward's output tuple (usable in ``steps --carry`` paths)."""
    carry: tuple[tuple[str, str], ...] = ()
    """What ``steps`` feeds back by default: (output path, forward keyword) pairs."""

    def knob(self, alias: str) -> Knob | None:
        """The knob called ``alias`` (dashes or underscores), or None."""
        alias = alias.replace("-", "_")
        return next((k for k in self.knobs if k.alias == alias), None)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.split(":", 1)[0].strip() for i in self.inputs)


REQUIRED = ("Config", "Inputs", "build", "example_inputs", "param_formula")
"""Attributes a family module must define (``mac_formula`` is optional)."""


@dataclass(frozen=True)
class Family:
    """A loaded family: its metadata and the module's builder functions (``registry.load_family``)."""

    info: FamilyInfo
    config_class: type
    inputs_class: type
    build: Callable[[Any], Any]
    """``build(cfg) -> torch.nn.Module``."""
    example_inputs: Callable[[Any, Any, Any], Mapping[str, Any]]
    """``example_inputs(cfg, inputs, device) -> {keyword: tensor}``."""
    param_formula: Callable[[Any], Mapping[str, int]]
    mac_formula: Callable[[Any, Any], Mapping[str, int]] | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @classmethod
    def from_module(cls, info: FamilyInfo, module: Any) -> Family:
        """Check ``module`` against the contract; ``TypeError`` names what is missing."""
        missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
        if missing:
            raise TypeError(f"zoo family {info.name}: {info.module} does not define {', '.join(missing)}")
        return cls(info, module.Config, module.Inputs, module.build, module.example_inputs, module.param_formula,
                   getattr(module, "mac_formula", None))
