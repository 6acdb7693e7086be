"""Parameter and buffer counts per submodule, with shared tensors counted once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paramscope.profiler.paths import parent_of
from paramscope.profiler.stats import SharedParam

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ParamCounts", "count_params"]


@dataclass(frozen=True)
class ParamCounts:
    """Inclusive element counts per module path, plus the shared tensors."""

    params: dict[str, int]
    trainable: dict[str, int]
    buffers: dict[str, int]
    direct: dict[str, list[tuple[str, int, bool]]]
    """Module path -> its direct parameters (name, numel, trainable), first owners only."""
    shared: tuple[SharedParam, ...]


def count_params(model: nn.Module) -> ParamCounts:
    """Count parameters and buffers of ``model`` (works on meta: uses only ``numel``).

    A tensor reachable under several names (tied embeddings, a module registered twice) is
    counted once, at the first name ``named_parameters()`` yields, as nanoGPT and torchinfo do.
    """
    names_by_id: dict[int, list[str]] = defaultdict(list)
    first: dict[int, Any] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names_by_id[id(p)].append(name)
        first.setdefault(id(p), p)
    paths = [path for path, _ in model.named_modules()]
    params = dict.fromkeys(paths, 0)
    trainable = dict.fromkeys(paths, 0)
    direct: dict[str, list[tuple[str, int, bool]]] = defaultdict(list)
    for pid, names in names_by_id.items():
        p = first[pid]
        owner = parent_of(names[0])
        direct[owner].append((names[0], p.numel(), p.requires_grad))
        _add_up(params, owner, p.numel())
        if p.requires_grad:
            _add_up(trainable, owner, p.numel())
    buffers = dict.fromkeys(paths, 0)
    for name, b in model.named_buffers():
        _add_up(buffers, parent_of(name), b.numel())
    shared = tuple(
        SharedParam(owner=names[0], aliases=tuple(names[1:]), numel=first[pid].numel())
        for pid, names in names_by_id.items()
        if len(names) > 1
    )
    return ParamCounts(params, trainable, buffers, dict(direct), shared)


def _add_up(table: dict[str, int], path: str, n: int) -> None:
    """Add ``n`` to ``path`` and each of its ancestors present in ``table``."""
    while True:
        if path in table:
            table[path] += n
        if path == "":
            return
        path = parent_of(path)
