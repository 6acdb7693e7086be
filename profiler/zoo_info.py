"""Facts about the zoo for ``zoo list`` / ``zoo show`` (torch only when defaults are asked for)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from paramscope.model_zoo import registry
from paramscope.model_zoo.base import FamilyInfo
from paramscope.profiler.errors import UnknownModel
from paramscope.profiler.paths import did_you_mean

__all__ = ["PresetInfo", "FamilyDetails", "preset_infos", "family_details"]


@dataclass(frozen=True, slots=True)
class PresetInfo:
    name: str
    family: str
    preset_of: str | None
    path: str
    note_params: tuple[tuple[str, int], ...] = ()
    """Parameter counts its research note states, by module path ("" = the total): the ``note:`` block."""


@dataclass(frozen=True)
class FamilyDetails:
    family: FamilyInfo
    defaults: dict[str, Any]
    input_defaults: dict[str, Any]
    presets: tuple[PresetInfo, ...]


def preset_infos() -> tuple[PresetInfo, ...]:
    """Every preset YAML in the zoo, with the family it configures (reads YAML only)."""
    out = []
    for name, path in registry.presets().items():
        data = registry.preset_doc(name)
        figures = registry.preset_note(name).get("params") or {}
        out.append(PresetInfo(name, str(data.get("model", "?")), data.get("preset_of"), str(path),
                              tuple((str(k), int(v)) for k, v in figures.items())))
    return tuple(out)


def family_details(name: str) -> FamilyDetails:
    """Knobs, builder defaults and presets of a family (or of the family of a preset)."""
    presets = preset_infos()
    by_preset = {p.name: p for p in presets}
    family = by_preset[name].family if name in by_preset else name
    if family not in registry.family_names():
        known = sorted({*registry.family_names(), *by_preset})
        raise UnknownModel(f"{name}: no zoo family or preset of that name{did_you_mean(name, known)}")
    loaded = registry.load_family(family)
    return FamilyDetails(
        family=loaded.info,
        defaults=dataclasses.asdict(loaded.config_class()),
        input_defaults=dataclasses.asdict(loaded.inputs_class()),
        presets=tuple(p for p in presets if p.family == family),
    )
