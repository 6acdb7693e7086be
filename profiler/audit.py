"""The counting backends side by side, module by module (``paramscope audit``).

Each disagreement over ``DISAGREEMENT_THRESHOLD`` is explained by the adapters themselves
(``CountingBackend.explain``): each knows what its library cannot see or counts differently, so
no backend name is hard-coded here. A flagged row always has a reason, if only "not explained".
Each fvcore/thop figure also says how much of it comes from paramscope's added formulas rather
than the library's own (``AuditRow.added``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paramscope.profiler.backends.interface import Backend, FlopCount
from paramscope.profiler.flops import backend_for, count_macs

__all__ = ["DISAGREEMENT_THRESHOLD", "AuditRow", "AuditReport", "audit"]

log = logging.getLogger(__name__)

# A disagreement above this relative size is flagged by the audit.
DISAGREEMENT_THRESHOLD = 0.01


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One module, every backend's MACs."""

    path: str
    """``named_modules()`` path; ``""`` is the root."""
    macs: Mapping[str, int | None]
    """Backend name -> inclusive MACs (None when the backend failed)."""
    max_rel_diff: float
    """(max - min) / max over the backends that ran; 0.0 when all are 0."""
    flagged: bool
    """``max_rel_diff`` is above 1%."""
    explanation: str | None = None
    """Why the backends disagree (always set on a flagged row)."""
    added: Mapping[str, int] = field(default_factory=dict)
    """Backend name -> the part of its MACs here that paramscope's added formulas counted
    (not the library's own); only backends with such a part."""


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The backends side by side, per module."""

    backends: tuple[str, ...]
    """Backend names, in column order."""
    rows: tuple[AuditRow, ...]
    """One row per module path, in ``named_modules()`` order."""
    counts: Mapping[str, FlopCount]
    """The full result of each backend that ran."""
    errors: Mapping[str, str]
    """Backend name -> why it could not run."""

    @property
    def flagged(self) -> tuple[AuditRow, ...]:
        """The rows whose disagreement is over the threshold."""
        return tuple(r for r in self.rows if r.flagged)

    @property
    def added_rules(self) -> dict[str, tuple[str, ...]]:
        """Backend name -> the names of paramscope's added formulas/rules that counted something."""
        return {name: tuple(sorted(c.added_macs)) for name, c in self.counts.items() if c.added_macs}


def audit(
    model: Any,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    backends: Iterable[Backend | str] = tuple(Backend),
    seed: int = 0,
) -> AuditReport:
    """Count with several backends and compare them module by module.

    A backend that is unavailable or raises becomes an entry in ``errors``, not a crash.
    """
    names = tuple(Backend(b).value for b in backends)
    counts: dict[str, FlopCount] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            result = count_macs(model, args, kwargs, name, seed=seed)
        except Exception as e:  # one broken backend must not hide the others
            log.info("audit: backend %s failed: %s", name, e)
            errors[name] = f"{type(e).__name__}: {e}"
            continue
        if result.backend != name:  # fell back to another backend: not an independent opinion
            errors[name] = "; ".join(n for n in result.notes if "fell back" in n) or f"fell back to {result.backend}"
            continue
        counts[name] = result
    rows = tuple(_row(path, counts, names) for path, _ in model.named_modules())
    return AuditReport(backends=names, rows=rows, counts=counts, errors=errors)


def _row(path: str, counts: Mapping[str, FlopCount], names: tuple[str, ...]) -> AuditRow:
    macs = {n: (counts[n].macs.get(path, 0) if n in counts else None) for n in names}
    values = [v for v in macs.values() if v is not None]
    hi = max(values, default=0)
    rel = (hi - min(values, default=0)) / hi if hi else 0.0
    flagged = rel > DISAGREEMENT_THRESHOLD
    added = {n: a for n, c in counts.items() if (a := sum(p.get(path, 0) for p in c.added_macs.values()))}
    return AuditRow(path, macs, rel, flagged, _explain(path, counts, macs) if flagged else None, added)


def _explain(path: str, counts: Mapping[str, FlopCount], macs: Mapping[str, int | None]) -> str:
    """Each backend's own reasons for being below or above the others here."""
    present = {n: v for n, v in macs.items() if v is not None}
    for guess in (False, True):  # known causes first; a backend's likely cause only when none is known
        reasons: list[str] = []
        for name, count in counts.items():
            mine = present[name]
            others = [v for n, v in present.items() if n != name]
            low, high = mine < max(others, default=mine), mine > min(others, default=mine)
            reasons.extend(backend_for(name).explain(count, path, low=low, high=high, guess=guess))
        if reasons:
            return "; ".join(dict.fromkeys(reasons))
    figures = ", ".join(f"{n} {v:,}" for n, v in present.items())
    return f"not explained by any backend ({figures}): compare their per-op counts"
