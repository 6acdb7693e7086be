"""Parsers of command-line strings into the typed arguments the library takes.

The library (``paramscope.profiler``) takes mappings and data objects, never ``KEY=VALUE``
strings; the errors here name the flag the user typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from paramscope.profiler.budget import METRICS, Budget, Op
from paramscope.profiler.errors import ConfigError
from paramscope.profiler.yamlsafe import load_value

__all__ = ["SET_ORIGIN", "parse_set", "parse_sets", "parse_group", "parse_carry", "parse_amount", "parse_budget"]

SET_ORIGIN = "--set"
"""How the library's locations name an override given on the command line: ``file (--set k=v): ``."""


def parse_set(item: str) -> tuple[str, Any]:
    """``"slot_fuse.hidden=512"`` -> ``("slot_fuse.hidden", 512)`` (the value is read as YAML)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item}: expected key=value, e.g. --set pred_len=720")
    # bounded YAML: an alias bomb or a 2**70 typed on the command line is one line too
    value = load_value(raw, f"--set {key.strip()}") if raw.strip() else ""
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
_BINARY = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_amount(text: str, label: str) -> int:
    """``12M`` -> 12,000,000; ``1.5G`` -> 1,500,000,000; ``10_371_074`` -> 10,371,074 (decimal prefixes);
    bytes may say so: ``16GB`` (decimal), ``16GiB`` (binary)."""
    m = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?)[bB]?\s*", text)
    if not m or (m.group(3) and not m.group(2)):
        raise ConfigError(f"{label}: expected a number such as 12M, 1.5G, 16GB or 10371074, got {text!r}")
    # exact: a float would turn params<=9007199254740993 into ...992 and 400 digits into inf
    number = Fraction(m.group(1).replace("_", "").replace(",", ""))
    return round(number * (_BINARY if m.group(3) else _SUFFIX)[m.group(2).lower()])


def parse_budget(text: str) -> Budget:
    """``--budget``: ``params<=12M``, ``macs>1G``, ``slot_fuse.params<2M`` (module path before the metric)."""
    m = re.fullmatch(r"\s*([^<>=]*?)\s*(<=|>=|<|>)\s*(.*)", text)
    if not m:
        raise ConfigError(f"--budget {text}: expected METRIC<=AMOUNT (or >=, <, >), e.g. params<=12M or "
                          "slot_fuse.macs<100M")
    path, _, metric = m.group(1).rpartition(".")
    if metric == "peak" and path not in ("", "train"):
        raise ConfigError(f"--budget {text}: memory budgets are peak<=AMOUNT (inference) or train.peak<=AMOUNT")
    if metric not in METRICS:
        from paramscope.profiler.paths import did_you_mean

        raise ConfigError(f"--budget {text}: unknown metric '{metric}'{did_you_mean(metric, METRICS)}")
    label = f"--budget {text}"
    amount = parse_amount(m.group(3), label) if metric != "latency_ms" else _parse_ms(m.group(3), label)
    return Budget(metric, amount, path, text, Op(m.group(2)))


def _parse_ms(text: str, label: str) -> float:
    try:
        return float(text.strip().removesuffix("ms"))
    except ValueError:
        raise ConfigError(f"{label}: expected milliseconds such as 5 or 2.5ms, got {text!r}") from None
