"""Renderers for ``zoo list`` and ``zoo show``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.table import Table

from paramscope.model_zoo import registry
from paramscope.profiler.render.formats import Kind, csv_text
from paramscope.profiler.render.text import md_row
from paramscope.profiler.zoo_info import FamilyDetails, PresetInfo

__all__ = ["ZOO_LIST", "ZOO_SHOW", "zoo_list_table", "zoo_show_renderables"]

_LIST_CAPTION = "paramscope zoo show NAME: knobs and defaults; paramscope breakdown PRESET: the breakdown"


def _list_rows(presets: tuple[PresetInfo, ...]) -> list[list[str]]:
    return [[fam.name, fam.summary, ", ".join(p.name for p in presets if p.family == fam.name) or "-", fam.source]
            for fam in registry.FAMILIES]


def zoo_list_table(presets: tuple[PresetInfo, ...]) -> Table:
    table = Table(title="paramscope model zoo", title_justify="left")
    for head in ("family", "what it is", "presets", "from note"):
        table.add_column(head)
    for row in _list_rows(presets):
        table.add_row(*row)
    table.caption = _LIST_CAPTION
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


def _show_sections(details: FamilyDetails) -> list[tuple[str, tuple[str, ...], list[list[str]]]]:
    """(title, headers, rows) of the three tables ``zoo show`` prints."""
    fam = details.family
    knobs = []
    for k in fam.knobs:
        implied = f" (sets {', '.join(f'{a}={b}' for a, b in k.implies)})" if k.implies else ""
        knobs.append([k.flag, k.key, k.kind, k.meaning + implied])
    forward = [["inputs", "; ".join(fam.inputs) or "-"], ["outputs", ", ".join(fam.outputs) or "-"],
               ["steps carries", ", ".join(f"{out} -> {kw}" for out, kw in fam.carry) or "-"]]
    defaults = [[key, repr(value)] for key, value in _flatten(details.defaults, "args.")]
    defaults += [[key, repr(value)] for key, value in _flatten(details.input_defaults, "inputs.")]
    notes = [(f"{p.name}: parameters its note states ({fam.source})", ("module", "params"),
              [[path or "total", f"{n:,}"] for path, n in p.note_params]) for p in details.presets if p.note_params]
    return [
        (f"{fam.name}: {fam.summary} ({fam.source}); whatif takes each knob as a flag or as --knob NAME=V1,V2",
         ("knob", "config key", "kind", "meaning"), knobs),
        ("forward", ("", ""), forward),
        ("builder defaults (args: / inputs:)", ("key", "default"), defaults),
        ("presets", ("name", "reproduces", "file"), [[p.name, p.preset_of or "-", p.path] for p in details.presets]),
        *notes,
    ]


def zoo_show_renderables(details: FamilyDetails) -> list[Any]:
    tables = []
    for title, heads, rows in _show_sections(details):
        table = Table(title=title, title_justify="left")
        for head in heads:
            table.add_column(head)
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    return tables


def _md_table(heads: tuple[str, ...] | list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads), *(md_row(r) for r in rows)]


def _show_md(details: FamilyDetails) -> str:
    out: list[str] = []
    for title, heads, rows in _show_sections(details):
        out += [f"### {title}", "", *_md_table(heads, rows), ""]
    return "\n".join(out)


def _show_dict(details: FamilyDetails) -> Mapping[str, Any]:
    fam = details.family
    return {"schema": "paramscope.zoo_show/1", "family": fam.name, "summary": fam.summary, "source": fam.source,
            "knobs": [{"flag": k.flag, "key": k.key, "kind": k.kind, "help": k.help, "type": k.type.__name__,
                       "choices": list(k.choices), "implies": dict(k.implies)} for k in fam.knobs],
            "inputs": list(fam.inputs), "outputs": list(fam.outputs),
            "carry": [{"output": out, "input": kw} for out, kw in fam.carry],
            "defaults": {"args": details.defaults, "inputs": details.input_defaults},
            "presets": [{"name": p.name, "preset_of": p.preset_of, "path": p.path, "note_params": dict(p.note_params)}
                        for p in details.presets]}


def _list_csv(presets: tuple[PresetInfo, ...]) -> str:
    return csv_text([("family", "summary", "presets", "source"), *_list_rows(presets)])


def _list_dict(presets: tuple[PresetInfo, ...]) -> Mapping[str, Any]:
    return {"schema": "paramscope.zoo/1",
            "families": [{"name": f.name, "summary": f.summary, "source": f.source,
                          "presets": [p.name for p in presets if p.family == f.name]} for f in registry.FAMILIES],
            "presets": [{"name": p.name, "family": p.family, "preset_of": p.preset_of, "path": p.path} for p in presets]}


ZOO_LIST: Kind[tuple[PresetInfo, ...]] = Kind(
    "zoo list", table=zoo_list_table,
    md=lambda p: "\n".join(["### paramscope model zoo", "", *_md_table(["family", "what it is", "presets", "from note"],
                                                                        _list_rows(p)), "", _LIST_CAPTION]) + "\n",
    csv=_list_csv, to_dict=_list_dict)
ZOO_SHOW: Kind[FamilyDetails] = Kind(
    "zoo show", table=lambda d: Group(*zoo_show_renderables(d)), md=_show_md, to_dict=_show_dict)
