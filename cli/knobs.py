"""``whatif``'s knob flags, generated from the knobs the zoo families declare.

Every knob alias of every family becomes a flag (``rank`` -> ``--rank``) whose help says which
families have it; ``--knob NAME=V1,V2`` names any knob of the model's family, and ``--set KEY=V1,V2``
any config key. A family added to ``paramscope.model_zoo.registry`` gets its flags here without an
edit to cli/.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

import typer

from paramscope.model_zoo import registry
from paramscope.model_zoo.base import FamilyInfo, Knob, knob_flag
from paramscope.profiler.errors import ConfigError

__all__ = ["PREFIX", "with_knob_flags", "knob_grid", "parse_values", "family_flags"]

PREFIX = "knob__"
"""Parameter-name prefix of the generated flags (keeps them apart from the command's own options)."""

_F = TypeVar("_F", bound=Callable[..., Any])
_METAVAR = {int: "INT,...", float: "FLOAT,...", bool: "BOOL,...", str: "VALUE,..."}


def _help(alias: str, owners: Sequence[tuple[str, Knob]]) -> str:
    kinds = {k.kind for _, k in owners}
    kind = f" ({kinds.pop()} knob)" if len(kinds) == 1 else ""
    by_meaning: dict[str, list[str]] = {}
    for family, knob in owners:
        sets = ", ".join(f"{key.rsplit('.', 1)[-1]}={v}" for key, v in knob.implies)
        by_meaning.setdefault(knob.meaning + (f"; sets {sets}" if sets else ""), []).append(family)
    parts = [f"{', '.join(families)}: {meaning}" for meaning, families in by_meaning.items()]
    return f"Values of {alias}{kind}. " + ". ".join(parts) + "."


def _parameters() -> list[inspect.Parameter]:
    out = []
    for alias, owners in registry.knob_aliases().items():
        metavar = _METAVAR.get(owners[0][1].type, "VALUE,...")
        option = typer.Option(knob_flag(alias), help=_help(alias, owners), metavar=metavar, show_default=False,
                              rich_help_panel="Knobs of the zoo families (or --knob NAME=V1,V2)")
        out.append(inspect.Parameter(PREFIX + alias, inspect.Parameter.KEYWORD_ONLY, default=None,
                                     annotation=Annotated[str | None, option]))
    return out


def with_knob_flags(func: _F) -> _F:
    """Give ``func`` (which takes ``**knob_flags``) one option per knob alias of the zoo."""
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    func.__signature__ = sig.replace(parameters=[*own, *_parameters()])  # type: ignore[attr-defined]
    return func


def family_flags(family: FamilyInfo) -> str:
    """``--hidden, --rank, ...``: the knob flags ``family`` has."""
    return ", ".join(k.flag for k in family.knobs)


def _knob_of(spec: Any, alias: str, label: str) -> Knob | None:
    """The family's knob ``alias``; a knob the family lacks is a user error (None for target models)."""
    if spec.family is None:
        return None
    family = registry.get_family(spec.family)
    knob = family.knob(alias)
    if knob is None:
        raise ConfigError(f"{label}: {family.name} has no such knob (its knobs: {family_flags(family)}; "
                          "any key: --set KEY=V1,V2)")
    return knob


def parse_values(raw: str, label: str, kind: type | None = None) -> list[Any]:
    """``"192,384"`` -> ``[192, 384]``: YAML scalars (bounded, 64-bit ints), or plain strings for a ``str`` knob."""
    from paramscope.profiler.yamlsafe import load_document

    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{label}: expected comma-separated values, e.g. {label} 192,384")
    if kind is str:
        return parts
    values = []
    for part in parts:
        try:
            values.append(load_document(part, f"{label} {part}", located=False)[0])
        except ConfigError as e:
            if "malformed YAML" not in str(e):
                raise
            raise ConfigError(f"{label} {part!r}: not a value; give plain comma-separated values, e.g. {label} 192,384") from None
    return values


def knob_grid(spec: Any, flags: Mapping[str, str | None], knobs: Sequence[str], sets: Sequence[str]) -> dict[str, list[Any]]:
    """The knobs to vary: generated flags (``{PREFIX + alias: raw}``), ``--knob`` and ``--set`` items."""
    from paramscope.cli.parse import parse_set

    grid: dict[str, list[Any]] = {}
    for name, raw in flags.items():
        if raw is not None:
            alias = name.removeprefix(PREFIX)
            label = knob_flag(alias)
            knob = _knob_of(spec, alias, label)
            grid[alias] = parse_values(raw, label, knob.type if knob else None)
    for item in knobs:
        alias, sep, raw = item.partition("=")
        alias = alias.strip().replace("-", "_")
        if not sep or not alias:
            raise ConfigError(f"--knob {item}: expected NAME=V1,V2, e.g. --knob rank=192,384")
        if spec.family is None:
            raise ConfigError(f"--knob {alias}: {spec.name} is not a zoo family and has no knobs; use --set KEY=V1,V2")
        knob = _knob_of(spec, alias, f"--knob {alias}")
        grid[alias] = parse_values(raw, f"--knob {alias}=", knob.type if knob else None)
    for item in sets:
        key, _ = parse_set(item)
        grid[key] = parse_values(item.partition("=")[2], f"--set {key}")
    return grid
