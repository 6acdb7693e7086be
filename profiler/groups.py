"""Parameter groups by name keywords, as optimizer param groups are usually built.

The convention follows the Titan-Stream note (``titan_stream_fixes.zh.md``, section 5): a parameter
belongs to the FIRST group one of whose keywords is a substring of its ``named_parameters()`` name
(case-sensitive, as ``any(k in name for k in keywords)``); parameters no keyword matches go to the
``rest`` group. The note's bug was a group whose keywords matched nothing ("Backbone Params: 0"),
so the report makes empty groups, overlaps and unmatched parameters explicit data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paramscope.profiler.errors import ArgumentError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "IGNORE", "UNMATCHED", "GroupReport", "Overlap", "ParamGroup", "group_parameters",
]

IGNORE = "ignore"
"""``rest=IGNORE``: parameters no keyword matches join no group (they are listed in ``ignored``)."""
UNMATCHED = "unmatched"
"""Name of the group that receives unmatched parameters when no ``rest`` is given."""


@dataclass(frozen=True, slots=True)
class ParamGroup:
    """One parameter group and what it received."""

    name: str
    keywords: tuple[str, ...]
    """Its keywords, in the order given (empty for a rest-only group)."""
    names: tuple[str, ...]
    """Every parameter name assigned to it, in ``named_parameters()`` order."""
    elements: int
    """Sum of ``numel`` over its parameters."""
    matched: int
    """How many of ``names`` a keyword matched (the others came in as the rest)."""
    keyword_hits: tuple[tuple[str, int], ...]
    """(keyword, parameters it assigned here): the first matching keyword of this group counts."""

    @property
    def tensors(self) -> int:
        """Number of parameter tensors in the group."""
        return len(self.names)


@dataclass(frozen=True, slots=True)
class Overlap:
    """A parameter whose name matches keywords of more than one group (the first group wins)."""

    name: str
    matches: tuple[tuple[str, str], ...]
    """(group, keyword) for every group that matched, in group order; ``matches[0]`` won."""


@dataclass(frozen=True, slots=True)
class GroupReport:
    """The result of ``group_parameters``."""

    groups: tuple[ParamGroup, ...]
    """The keyword groups in the order given, then the rest group if it is a new one."""
    rest: str | None
    """The ``rest`` argument as given (None: unmatched parameters went to ``UNMATCHED``)."""
    ignored: tuple[str, ...]
    """Unmatched parameters left out of every group (``rest=IGNORE``)."""
    unmatched: tuple[str, ...]
    """Parameters no keyword matched, wherever they went."""
    overlaps: tuple[Overlap, ...]
    total_tensors: int
    """Unique parameter tensors in the model (a shared tensor once)."""
    total_elements: int
    sample_names: tuple[str, ...]
    """A few parameter names from different top-level modules: what the names look like."""

    @property
    def empty_groups(self) -> tuple[ParamGroup, ...]:
        """Keyword groups that no keyword matched (the note's "Backbone Params: 0")."""
        return tuple(g for g in self.groups if g.keywords and g.matched == 0)

    @property
    def clean(self) -> bool:
        """No empty keyword group, and no unmatched parameter unless a ``rest`` was chosen."""
        return not self.empty_groups and (self.rest is not None or not self.unmatched)


def _validate(groups: Mapping[str, Sequence[str]], rest: str | None) -> None:
    if not groups:
        raise ArgumentError("groups", None, "no groups; give at least one group name with its keywords")
    for name, keywords in groups.items():
        if name == IGNORE:
            raise ArgumentError("groups", IGNORE, f"the name is reserved for rest={IGNORE!r}; choose another name")
        if not keywords or any(not k for k in keywords):
            raise ArgumentError("groups", name, "empty keyword list or keyword (it would match every parameter)")
    if rest is not None and not rest.strip():
        raise ArgumentError("rest", None, "empty group name; use an existing group, a new name or 'ignore'")


def _sample_names(names: Sequence[str], limit: int = 6) -> tuple[str, ...]:
    """The first parameter name under each top-level module, up to ``limit``."""
    seen: dict[str, str] = {}
    for n in names:
        seen.setdefault(n.split(".", 1)[0], n)
    return tuple(list(seen.values())[:limit])


def group_parameters(model: nn.Module, groups: Mapping[str, Sequence[str]], rest: str | None = None) -> GroupReport:
    """Assign every parameter of ``model`` to the first group whose keyword is in its name.

    Works on meta (uses only names and ``numel``). Shared tensors count once, at the name
    ``named_parameters()`` yields first.

    Args:
        model: any ``torch.nn.Module``.
        groups: group name -> keywords, in priority order (the first matching group wins).
        rest: where unmatched parameters go: an existing group, a new group name, ``IGNORE``
            (nowhere), or None (a new group ``UNMATCHED``).

    Returns:
        A ``GroupReport``; it never raises for empty groups: they are data (``empty_groups``).
    """
    _validate(groups, rest)
    params = [(n, int(p.numel())) for n, p in model.named_parameters()]
    assigned: dict[str, list[tuple[str, int, str | None]]] = {g: [] for g in groups}
    unmatched: list[tuple[str, int]] = []
    overlaps: list[Overlap] = []
    for pname, numel in params:
        hits = [(g, next((k for k in kws if k in pname), None)) for g, kws in groups.items()]
        matches = tuple((g, k) for g, k in hits if k is not None)
        if not matches:
            unmatched.append((pname, numel))
            continue
        assigned[matches[0][0]].append((pname, numel, matches[0][1]))
        if len(matches) > 1:
            overlaps.append(Overlap(pname, matches))
    rest_name = UNMATCHED if rest is None else rest
    order = list(groups)
    if rest_name != IGNORE:
        if rest_name not in assigned:
            assigned[rest_name] = []
            order.append(rest_name)
        assigned[rest_name].extend((n, e, None) for n, e in unmatched)
    out = tuple(_group(g, tuple(groups.get(g, ())), assigned[g]) for g in order)
    return GroupReport(
        groups=out, rest=rest, ignored=tuple(n for n, _ in unmatched) if rest_name == IGNORE else (),
        unmatched=tuple(n for n, _ in unmatched), overlaps=tuple(overlaps),
        total_tensors=len(params), total_elements=sum(e for _, e in params),
        sample_names=_sample_names([n for n, _ in params]),
    )


def _group(name: str, keywords: tuple[str, ...], members: list[tuple[str, int, str | None]]) -> ParamGroup:
    hits = {k: 0 for k in keywords}
    for _, _, k in members:
        if k is not None:
            hits[k] += 1
    return ParamGroup(
        name=name, keywords=keywords, names=tuple(n for n, _, _ in members),
        elements=sum(e for _, e, _ in members), matched=sum(1 for *_, k in members if k is not None),
        keyword_hits=tuple(hits.items()),
    )
