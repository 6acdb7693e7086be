"""Check plain YAML values against a dataclass's annotations, with key paths in every message.

The zoo declares its builders' arguments as (nested) frozen dataclasses; this module turns the
``args:`` mapping of a config file into an instance, or raises ``ConfigError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from paramscope.profiler.errors import ConfigError
from paramscope.profiler.paths import did_you_mean

__all__ = ["coerce_dataclass", "coerce_value", "describe_type"]

Locate = Callable[[str], str]
"""Maps a dotted key to a location prefix such as ``config.yaml:12: ``."""


def _no_location(key: str) -> str:
    return ""


def describe_type(tp: Any) -> str:
    """A short human name for a type annotation (``int``, ``one of full|lowrank``...)."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + " | ".join(str(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list of " + describe_type(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def coerce_value(tp: Any, value: Any, key: str, locate: Locate = _no_location) -> Any:
    """Return ``value`` checked (and lightly converted) against annotation ``tp``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise _wrong(key, value, tp, locate)
        return coerce_dataclass(tp, value, key, locate)  # type: ignore[arg-type]
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise _wrong(key, value, tp, locate)
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            try:
                return coerce_value(arg, value, key, locate)
            except ConfigError:
                continue
        raise _wrong(key, value, tp, locate)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _wrong(key, value, tp, locate)
        (item,) = typing.get_args(tp)[:1]
        return tuple(coerce_value(item, v, f"{key}[{i}]", locate) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise _wrong(key, value, tp, locate)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(key, value, tp, locate)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong(key, value, tp, locate)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _wrong(key, value, tp, locate)
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a zoo bug, not a user error


def coerce_dataclass(cls: type, data: Mapping[str, Any], prefix: str, locate: Locate = _no_location) -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types are ``ConfigError``."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"{locate(dotted)}{dotted}: unknown key{did_you_mean(str(key), names, paren=True)}")
        kwargs[key] = coerce_value(hints[key], value, dotted, locate)
    try:
        return cls(**kwargs)
    except ValueError as e:
        # zoo convention: ValueError("<key inside this dataclass>: what is wrong")
        msg = str(e)
        sub = msg.split(":", 1)[0].strip()
        if sub.split(".")[0] in names:
            dotted = f"{prefix}.{sub}" if prefix else sub
            full = f"{prefix}.{msg}" if prefix else msg
        else:
            dotted = prefix
            full = f"{prefix}: {msg}" if prefix else msg
        raise ConfigError(f"{locate(dotted)}{full}") from None


def _wrong(key: str, value: Any, tp: Any, locate: Locate) -> ConfigError:
    return ConfigError(f"{locate(key)}{key}: expected {describe_type(tp)}, got {value!r}")
