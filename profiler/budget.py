"""Budgets for CI: ``params <= 12M`` for the model or a submodule, checked against a Profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from paramscope.profiler.errors import ArgumentError
from paramscope.profiler.stats import Profile

__all__ = ["METRICS", "MEMORY_BUDGETS", "Budget", "BudgetResult", "check_budgets", "memory_budgets"]

METRICS = ("params", "macs", "flops", "trainable", "peak")
"""What a budget can limit (``peak``: bytes, as ``peak`` or ``train.peak``)."""
MEMORY_BUDGETS = ("peak", "train.peak")
"""Memory budgets: the simulated inference peak and the fp32 Adam training step's peak, in bytes."""


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


def _value(profile: Profile, budget: Budget, memory: Mapping[str, int]) -> int | None:
    if budget.metric == "peak":
        return memory.get(f"{budget.path}.peak" if budget.path else "peak")
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


def memory_budgets(budgets: Sequence[Budget]) -> tuple[str, ...]:
    """The memory figures the budgets need: ``peak`` and/or ``train.peak``."""
    wanted = {f"{b.path}.peak" if b.path else "peak" for b in budgets if b.metric == "peak"}
    return tuple(k for k in MEMORY_BUDGETS if k in wanted)


def check_budgets(profile: Profile, budgets: Sequence[Budget], memory: Mapping[str, int] | None = None,
                  ) -> tuple[BudgetResult, ...]:
    """Each budget with its measured value (``ok`` is False when over, or not measured).

    ``memory`` holds the simulated peaks (``peak``, ``train.peak``) the memory budgets compare with.
    """
    return tuple(BudgetResult(b, _value(profile, b, memory or {})) for b in budgets)
