"""Facts about the zoo for ``zoo list`` / ``zoo show`` (torch only when defaults are asked for)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import yaml

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
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out.append(PresetInfo(name, str(data.get("model", "?")), data.get("preset_of"), str(path)))
    return tuple(out)


def family_details(name: str) -> FamilyDetails:
    """Knobs, builder defaults and presets of a family (or of the family of a preset)."""
    presets = preset_infos()
    by_preset = {p.name: p for p in presets}
    family = by_preset[name].family if name in by_preset else name
    if family not in registry.family_names():
        known = sorted({*registry.family_names(), *by_preset})
        raise UnknownModel(f"{name}: no zoo family or preset of that name{did_you_mean(name, known)}")
    module = registry.load_family(family)
    return FamilyDetails(
        family=registry.get_family(family),
        defaults=dataclasses.asdict(module.Config()),
        input_defaults=dataclasses.asdict(module.Inputs()),
        presets=tuple(p for p in presets if p.family == family),
    )
