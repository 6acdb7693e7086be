"""Parsers of command-line strings into the typed arguments the library takes.

The library (``paramscope.profiler``) takes mappings and data objects, never ``KEY=VALUE``
strings; the errors here name the flag the user typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from paramscope.profiler.budget import METRICS, Budget
from paramscope.profiler.errors import ConfigError

__all__ = ["SET_ORIGIN", "parse_set", "parse_sets", "parse_group", "parse_carry", "parse_amount", "parse_budget"]

SET_ORIGIN = "--set"
"""How the library's locations name an override given on the command line: ``file (--set k=v): ``."""


def parse_set(item: str) -> tuple[str, Any]:
    """``"slot_fuse.hidden=512"`` -> ``("slot_fuse.hidden", 512)`` (the value is read as YAML)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item}: expected key=value, e.g. --set pred_len=720")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def parse_sets(items: Sequence[str] | None) -> list[tuple[str, Any]]:
    """Every ``--set KEY=VALUE``, in order (a key given twice keeps its last value)."""
    return [parse_set(item) for item in items or ()]


def parse_group(item: str) -> tuple[str, tuple[str, ...]]:
    """Parse ``NAME=kw1,kw2`` (``--group``) into ``(name, keywords)``.

    Raises:
        ConfigError: no ``=``, an empty name, or an empty keyword (which would match everything).
    """
    name, sep, rest = item.partition("=")
    name = name.strip()
    keywords = tuple(k.strip() for k in rest.split(","))
    if not sep or not name:
        raise ConfigError(f"--group {item}: expected NAME=keyword1,keyword2, e.g. --group backbone=encoder,embedding")
    if not rest.strip() or any(not k for k in keywords):
        raise ConfigError(f"--group {item}: empty keyword (it would match every parameter); list keywords separated by commas")
    return name, keywords


def parse_carry(items: Sequence[str]) -> dict[str, str]:
    """Parse ``OUTPUT_PATH=KWARG`` items (``--carry``; each may hold several, comma-separated).

    Raises:
        ConfigError: an item without ``=``, an empty side, or a keyword fed twice.
    """
    carry: dict[str, str] = {}
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            path, sep, kwarg = (s.strip() for s in part.partition("="))
            if not sep or not path or not kwarg or "" in path.split("."):
                raise ConfigError(f"--carry {part}: expected OUTPUT_PATH=KEYWORD, e.g. --carry 1.updated_memory=memory")
            if kwarg in carry.values():
                raise ConfigError(f"--carry {part}: keyword '{kwarg}' is fed twice")
            carry[path] = kwarg
    return carry


_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_amount(text: str, label: str) -> int:
    """``12M`` -> 12,000,000; ``1.5G`` -> 1,500,000,000; ``10_371_074`` -> 10,371,074 (decimal prefixes)."""
    m = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMgGtT]?)\s*", text)
    if not m:
        raise ConfigError(f"{label}: expected a number such as 12M, 1.5G or 10371074, got {text!r}")
    number = float(m.group(1).replace("_", "").replace(",", ""))
    return round(number * _SUFFIX[m.group(2).lower()])


def parse_budget(text: str) -> Budget:
    """``--budget``: ``params<=12M``, ``macs<=1G``, ``slot_fuse.params<=2M`` (module path before the metric)."""
    left, sep, right = text.partition("<=")
    if not sep:
        raise ConfigError(f"--budget {text}: expected METRIC<=AMOUNT, e.g. params<=12M or slot_fuse.macs<=100M")
    path, _, metric = left.strip().rpartition(".")
    if metric not in METRICS:
        raise ConfigError(f"--budget {text}: unknown metric '{metric}' (known: {', '.join(METRICS)})")
    return Budget(metric, parse_amount(right, f"--budget {text}"), path, text)
