"""Config files, presets and ``--set`` overrides -> a validated ``ModelSpec``.

A config names a zoo family (``model: rg_output``) or any importable factory
(``target: "pkg.module:factory"``), its builder arguments (``args:``) and example-input knobs
(``inputs:``). Every error names the file, the key and, where YAML knows it, the line.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paramscope.model_zoo import registry
from paramscope.profiler.errors import ConfigError, UnknownModel
from paramscope.profiler.paths import did_you_mean
from paramscope.profiler.yamlsafe import load_document, read_config_text

__all__ = ["ModelSpec", "Overrides", "load_spec", "spec_from_dict", "apply_overrides"]

TOP_KEYS = ("model", "target", "preset_of", "description", "args", "inputs", "note")
"""``note:`` holds the figures of a preset's research note (read by tests and reports, not by builds)."""


Overrides = Mapping[str, Any] | Sequence[tuple[str, Any]]
"""Config overrides: ``{key: value}``, or ``(key, value)`` pairs applied in order."""


@dataclass(frozen=True)
class ModelSpec:
    """A model to profile, as the user described it (not yet built)."""

    name: str
    """Preset name, file stem or target: what tables and reports call the model."""
    source: str
    """Where it came from (a file path, or ``preset NAME``) for error messages."""
    family: str | None
    """Zoo family name, or None for a ``target:`` model."""
    target: str | None
    """``pkg.module:factory`` for a user model."""
    args: Mapping[str, Any]
    inputs: Mapping[str, Any]
    preset_of: str | None = None
    description: str | None = None
    config_dir: Path | None = None
    """The config file's folder: importable, so a user's model file can sit next to the YAML."""
    lines: Mapping[str, int] = field(default_factory=dict)
    """Dotted key -> line number in the config file (1-based)."""
    overridden: Mapping[str, str] = field(default_factory=dict)
    """Dotted key -> the override that changed it, as locations name it (``--set pred_len=0``)."""

    def where(self, key: str) -> str:
        """Location prefix for a message about ``key``: ``file:line: `` or ``file: ``."""
        probe = key
        while True:
            if probe in self.overridden:
                return f"{self.source} ({self.overridden[probe]}): "
            if "." not in probe:
                break
            probe = probe.rsplit(".", 1)[0]
        line = self.lines.get(key)
        while line is None and "." in key:
            key = key.rsplit(".", 1)[0]
            line = self.lines.get(key)
        return f"{self.source}:{line}: " if line else f"{self.source}: "


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    data, lines = load_document(read_config_text(path), str(path))
    if data is None:
        raise ConfigError(f"{path}: empty config (expected 'model:' or 'target:')")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data, lines


def load_spec(config: str, overrides: Overrides = (), *, origin: str = "override") -> ModelSpec:
    """Load a config by path, preset name or family name, then apply ``overrides``.

    Args:
        config: a YAML path, a preset name (``rg_output_etth1``) or a family name (defaults).
        overrides: ``{key: value}`` (or ``(key, value)`` pairs, applied in order); keys may be
            dotted (``slot_fuse.hidden``), prefixed (``args.pred_len``, ``inputs.batch_size``) or a
            family knob alias (``rank``).
        origin: how error locations name an override (the CLI passes ``--set``).

    Returns:
        The validated spec.
    """
    from paramscope.profiler.sources import entry_spec

    path = Path(config)
    if not path.exists() and (entry := entry_spec(config)) is not None:
        spec = entry
    elif path.suffix in (".yaml", ".yml") or path.exists() or "/" in config:
        data, lines = _read_yaml(path)
        spec = spec_from_dict(data, name=path.stem, source=str(path), config_dir=path.resolve().parent, lines=lines)
    elif (preset := registry.preset_path(config)) is not None:
        data, lines = _read_yaml(preset)
        spec = spec_from_dict(data, name=config, source=str(preset), config_dir=preset.parent, lines=lines)
    elif config in registry.family_names():
        spec = spec_from_dict({"model": config}, name=config, source=f"family {config}")
    else:
        known = sorted({*registry.presets(), *registry.family_names()})
        raise UnknownModel(f"{config}: no such file, preset, zoo family or pkg.module:factory{did_you_mean(config, known)}")
    return apply_overrides(spec, overrides, origin=origin)


def spec_from_dict(
    data: Mapping[str, Any],
    *,
    name: str,
    source: str,
    config_dir: Path | None = None,
    lines: Mapping[str, int] | None = None,
) -> ModelSpec:
    """Validate the top level of a config mapping (the args are checked when resolved)."""
    lines = dict(lines or {})

    def where(key: str) -> str:
        line = lines.get(key)
        return f"{source}:{line}: " if line else f"{source}: "

    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{where(str(key))}{key}: unknown key{did_you_mean(str(key), TOP_KEYS, paren=True)}")
    family, target = data.get("model"), data.get("target")
    if (family is None) == (target is None):
        raise ConfigError(f"{source}: give exactly one of 'model: <zoo family>' or 'target: \"pkg.module:factory\"'")
    if family is not None and family not in registry.family_names():
        hint = did_you_mean(str(family), registry.family_names())
        raise UnknownModel(f"{where('model')}model: unknown zoo family '{family}'{hint}")
    if target is not None and (not isinstance(target, str) or ":" not in target):
        raise ConfigError(f"{where('target')}target: expected \"pkg.module:factory\", got {target!r}")
    for text_key in ("preset_of", "description"):
        if data.get(text_key) is not None and not isinstance(data[text_key], str):
            raise ConfigError(f"{where(text_key)}{text_key}: expected text, got {type(data[text_key]).__name__}")
    for section in ("args", "inputs"):
        if data.get(section) is not None and not isinstance(data[section], dict):
            raise ConfigError(f"{where(section)}{section}: expected a mapping, got {type(data[section]).__name__}")
    return ModelSpec(
        name=name,
        source=source,
        family=family,
        target=target,
        args=dict(data.get("args") or {}),
        inputs=dict(data.get("inputs") or {}),
        preset_of=data.get("preset_of"),
        description=data.get("description"),
        config_dir=config_dir,
        lines={("args." + k[5:] if k.startswith("args.") else k): v for k, v in lines.items()},
    )


def _resolve_key(spec: ModelSpec, key: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """Full dotted key (``args.x`` / ``inputs.x``) for a user key, plus implied settings."""
    if key.startswith(("args.", "inputs.")):
        return key, ()
    if spec.family is not None:
        for knob in registry.get_family(spec.family).knobs:
            if key in (knob.alias, knob.alias.replace("_", "-")):
                return knob.key, knob.implies
    head = key.split(".")[0]
    if head in spec.inputs and head not in spec.args:
        return f"inputs.{key}", ()
    return f"args.{key}", ()


def _set_dotted(root: dict[str, Any], dotted: str, value: Any, label: str, origin: str) -> None:
    parts = dotted.split(".")
    node = root
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{origin} {label}: '{part}' is a value ({nxt!r}), not a mapping")
        node = nxt
    node[parts[-1]] = value


def apply_overrides(spec: ModelSpec, overrides: Overrides, *, origin: str = "override") -> ModelSpec:
    """Return ``spec`` with ``overrides`` applied (a mapping, or ``(key, value)`` pairs in order).

    ``origin`` is how error locations name an override: ``file (override k=v): `` by default,
    ``file (--set k=v): `` when the CLI passes ``--set``.
    """
    items = list(overrides.items()) if isinstance(overrides, Mapping) else list(overrides)
    if not items:
        return spec
    tree: dict[str, Any] = {"args": copy.deepcopy(dict(spec.args)), "inputs": copy.deepcopy(dict(spec.inputs))}
    for key, value in items:
        full, implied = _resolve_key(spec, key)
        for ikey, ivalue in implied:
            _set_dotted(tree, ikey, ivalue, key, origin)
        _set_dotted(tree, full, value, key, origin)
    overridden = dict(spec.overridden)
    for key, value in items:
        full, implied = _resolve_key(spec, key)
        for ikey, _ in implied:
            overridden[ikey] = f"{origin} {key}={value}"
        overridden[full] = f"{origin} {key}={value}"
    return dataclasses.replace(spec, args=tree["args"], inputs=tree["inputs"], overridden=overridden)
