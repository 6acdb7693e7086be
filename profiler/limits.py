"""Counts no model has: refused before anything is built, and a ceiling on what a build makes.

A zoo parameter formula has an entry per layer and a build makes each layer's modules one by one
(about a millisecond each on meta), so ``n_layers=1000000000`` would run for days and exhaust
memory long before a fit check or ``--timeout`` could say why. Two guards:

- ``check_repeats``: a config value whose key names a repeat count (``n_layers``,
  ``num_hidden_layers``, ``n_layer``, ``num_local_experts``, ``num_blocks``, ``depth``) above
  ``MAX_REPEATS`` is refused at once, in a zoo config, a ``target:`` factory's arguments and a
  transformers config alike;
- ``module_limit``: any build (a factory that loops a billion times under another name) stops
  with one error once it has made ``MAX_MODULES`` modules (12x the largest model of the scale
  benchmarks, DeepSeek-V3 with one module per expert).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from paramscope.profiler.errors import ConfigError

__all__ = ["MAX_REPEATS", "MAX_MODULES", "check_repeats", "module_limit"]

MAX_REPEATS = 100_000
"""Most layers, experts or blocks a config may ask for: the deepest published transformers have 1,000
layers, the scale benchmark's synthetic Sequential 16,000 blocks; a billion is refused at once."""
MAX_MODULES = 1_000_000
"""Most modules one build may make."""

_REPEATS = {"layer": "layers", "layers": "layers", "depth": "layers", "experts": "experts", "blocks": "blocks"}
"""Last word of a key (after ``_``) that names a repeat count -> what is repeated."""


def check_repeats(values: Mapping[str, Any], prefix: str, where: Callable[[str], str]) -> None:
    """Raise ``ConfigError`` for a repeat count over ``MAX_REPEATS`` (or negative) anywhere in ``values`` (nested
    mappings walked); ``where(key)`` is the location prefix of dotted ``key`` (``c.yaml:4: ``)."""
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, Mapping):
            check_repeats(value, key, where)
            continue
        what = _REPEATS.get(str(name).lower().rsplit("_", 1)[-1])
        if not what or not isinstance(value, int) or isinstance(value, bool):
            continue
        if value > MAX_REPEATS:
            raise ConfigError(f"{where(key)}{key}: {value:,} {what} is more than any model has; paramscope builds "
                              f"at most {MAX_REPEATS:,}")
        if value < 0:
            raise ConfigError(f"{where(key)}{key}: {value:,} {what}: a count of {what} cannot be negative")


@contextlib.contextmanager
def module_limit(where: str, limit: int | None = None) -> Iterator[None]:
    """Count the modules made inside; the one past ``limit`` (default ``MAX_MODULES``) raises
    ``ConfigError`` (``where`` prefixes its message) before it is made."""
    import torch

    cap = MAX_MODULES if limit is None else limit
    original = torch.nn.Module.__init__
    made = 0

    @functools.wraps(original)
    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal made
        made += 1
        if made > cap:
            raise ConfigError(f"{where}the build made more than {cap:,} modules, more than paramscope builds "
                              "(is a layer or expert count too large?)")
        original(self, *args, **kwargs)

    torch.nn.Module.__init__ = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.nn.Module.__init__ = original  # type: ignore[method-assign]
