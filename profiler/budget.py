"""Budgets for CI: ``params <= 12M`` for the model or a submodule, checked against a Profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paramscope.profiler.errors import ArgumentError
from paramscope.profiler.stats import Profile

__all__ = ["METRICS", "Budget", "BudgetResult", "check_budgets"]

METRICS = ("params", "macs", "flops", "trainable")
"""What a budget can limit."""


@dataclass(frozen=True, slots=True)
class Budget:
    metric: str
    """One of ``METRICS``: ``params``, ``trainable``, ``macs`` or ``flops``."""
    limit: int
    path: str = ""
    """Module path; "" is the whole model."""
    text: str = ""
    """As the user wrote it."""


@dataclass(frozen=True, slots=True)
class BudgetResult:
    budget: Budget
    value: int | None
    """Measured value; None when the metric was not measured."""

    @property
    def ok(self) -> bool:
        return self.value is not None and self.value <= self.budget.limit


def _value(profile: Profile, budget: Budget) -> int | None:
    if budget.path:
        try:
            row = profile.get(budget.path)
        except KeyError:
            raise ArgumentError("budgets", budget.text, f"no submodule '{budget.path}'") from None
        values = {"params": row.params, "trainable": row.trainable, "macs": row.macs, "flops": row.flops}
    else:
        t = profile.total
        values = {"params": t.params, "trainable": t.trainable, "macs": t.macs, "flops": t.flops}
    return values[budget.metric]


def check_budgets(profile: Profile, budgets: Sequence[Budget]) -> tuple[BudgetResult, ...]:
    """Each budget with its measured value (``ok`` is False when over, or not measured)."""
    return tuple(BudgetResult(b, _value(profile, b)) for b in budgets)
