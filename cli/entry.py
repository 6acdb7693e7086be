"""``--input`` and ``--arg``: a model without a YAML file (``pkg.module:factory``, ``hf:``, ...)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paramscope.cli.parse import parse_set

__all__ = ["InputOpt", "ArgOpt", "entry_sets"]

InputOpt = Annotated[
    list[str] | None,
    typer.Option("--input", "-i", help="A forward input NAME=SHAPE[:DTYPE], e.g. --input x=1x3x224x224 "
                 "--input ids=1x128:int64 (overrides the model's default inputs by name). Repeatable."),
]
ArgOpt = Annotated[
    list[str] | None,
    typer.Option("--arg", help="A keyword argument of the factory, e.g. --arg depth=12 (= --set args.depth=12). Repeatable."),
]


def entry_sets(inputs: list[str] | None, args: list[str] | None) -> list[tuple[str, Any]]:
    """``--input``/``--arg`` items as overrides: ``("inputs.x", {shape, dtype})``, ``("args.depth", 12)``."""
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.sources import parse_input

    out: list[tuple[str, Any]] = []
    for item in inputs or ():
        name, desc = parse_input(item)
        out.append((f"inputs.{name}", desc))
    for item in args or ():
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--arg {item}: expected key=value, e.g. --arg depth=12")
        key, value = parse_set(item)
        out.append((f"args.{key}", value))
    return out
