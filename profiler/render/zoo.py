"""Renderers for ``zoo list`` and ``zoo show``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from paramscope.model_zoo import registry
from paramscope.profiler.zoo_info import FamilyDetails, PresetInfo

__all__ = ["zoo_list_table", "zoo_show_renderables"]


def zoo_list_table(presets: tuple[PresetInfo, ...]) -> Table:
    table = Table(title="paramscope model zoo", title_justify="left")
    for head in ("family", "what it is", "presets", "from note"):
        table.add_column(head)
    for fam in registry.FAMILIES:
        names = ", ".join(p.name for p in presets if p.family == fam.name) or "-"
        table.add_row(fam.name, fam.summary, names, fam.source)
    table.caption = "paramscope zoo show NAME: knobs and defaults; paramscope breakdown PRESET: the breakdown"
    table.caption_justify = "left"
    return table


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(_flatten(v, key + "."))
        else:
            out.append((key, v))
    return out


def zoo_show_renderables(details: FamilyDetails) -> list[Any]:
    fam = details.family
    knobs = Table(title=f"{fam.name}: {fam.summary} ({fam.source})", title_justify="left")
    for head in ("knob", "config key", "kind", "meaning"):
        knobs.add_column(head)
    for k in fam.knobs:
        implied = f" (sets {', '.join(f'{a}={b}' for a, b in k.implies)})" if k.implies else ""
        knobs.add_row(k.flag, k.key, k.kind, k.meaning + implied)
    knobs.caption = "whatif takes each knob as a flag (values comma-separated) or as --knob NAME=V1,V2"
    knobs.caption_justify = "left"
    forward = Table(title="forward", title_justify="left")
    forward.add_column("")
    forward.add_column("")
    forward.add_row("inputs", "\n".join(fam.inputs) or "-")
    forward.add_row("outputs", ", ".join(fam.outputs) or "-")
    forward.add_row("steps carries", ", ".join(f"{out} -> {kw}" for out, kw in fam.carry) or "-")
    defaults = Table(title="builder defaults (args: / inputs:)", title_justify="left")
    defaults.add_column("key")
    defaults.add_column("default")
    for key, value in _flatten(details.defaults, "args."):
        defaults.add_row(key, repr(value))
    for key, value in _flatten(details.input_defaults, "inputs."):
        defaults.add_row(key, repr(value))
    presets = Table(title="presets", title_justify="left")
    presets.add_column("name")
    presets.add_column("reproduces")
    presets.add_column("file")
    for p in details.presets:
        presets.add_row(p.name, p.preset_of or "-", p.path)
    out: list[Any] = [knobs, forward, defaults, presets]
    for p in details.presets:
        if p.note_params:
            note = Table(title=f"{p.name}: parameters its note states ({fam.source})", title_justify="left")
            note.add_column("module")
            note.add_column("params", justify="right")
            for path, n in p.note_params:
                note.add_row(path or "total", f"{n:,}")
            out.append(note)
    return out
