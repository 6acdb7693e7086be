"""Two measured models compared per submodule (``paramscope diff``)."""

from __future__ import annotations

from dataclasses import dataclass

from paramscope.profiler.stats import Profile
from paramscope.profiler.sweep import ModuleDelta, changed_modules

__all__ = ["ModelDiff", "diff_models"]


@dataclass(frozen=True)
class ModelDiff:
    """``other`` against ``base``: totals and every submodule (to depth 2) whose params or MACs differ."""

    base: Profile
    other: Profile
    changed: tuple[ModuleDelta, ...]
    """In ``other``'s module order, then the modules only ``base`` has."""

    @property
    def differs(self) -> bool:
        """True when totals or any submodule differ (the exit status of ``diff``)."""
        a, b = self.base.total, self.other.total
        return bool(self.changed) or (a.params, a.macs) != (b.params, b.macs)


def diff_models(base: Profile, other: Profile, depth: int = 2) -> ModelDiff:
    """Compare two profiles module by module, down to ``depth``."""
    return ModelDiff(base, other, changed_modules(other, base, depth))
