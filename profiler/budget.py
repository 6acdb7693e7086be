"""Budgets for CI: ``params <= 12M`` for the model or a submodule, checked against a Profile."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from paramscope.profiler.errors import ArgumentError
from paramscope.profiler.stats import Profile

__all__ = ["METRICS", "MEMORY_BUDGETS", "WHOLE_MODEL_METRICS", "Op", "Budget", "BudgetResult", "check_budgets",
           "memory_budgets"]

METRICS = ("params", "macs", "flops", "trainable", "peak", "latency_ms")
"""What a budget can limit (``peak``: bytes, as ``peak`` or ``train.peak``)."""
MEMORY_BUDGETS = ("peak", "train.peak")
"""Memory budgets: the simulated inference peak and the fp32 Adam training step's peak, in bytes."""
WHOLE_MODEL_METRICS = ("latency_ms",)
"""Metrics measured for the whole model only (no ``path.``), passed to ``check_budgets`` in ``measured``."""


class Op(StrEnum):
    """How a measured value must compare with the limit."""

    LE = "<="
    GE = ">="
    LT = "<"
    GT = ">"


_COMPARE: dict[Op, Callable[[float, float], bool]] = {
    Op.LE: operator.le, Op.GE: operator.ge, Op.LT: operator.lt, Op.GT: operator.gt}


@dataclass(frozen=True, slots=True)
class Budget:
    metric: str
    """One of ``METRICS``: ``params``, ``trainable``, ``macs`` or ``flops``."""
    limit: int | float
    path: str = ""
    """Module path; "" is the whole model."""
    text: str = ""
    """As the user wrote it."""
    op: Op = Op.LE
    """``value <op> limit`` must hold."""


@dataclass(frozen=True, slots=True)
class BudgetResult:
    budget: Budget
    value: int | float | None
    """Measured value; None when the metric was not measured."""

    @property
    def ok(self) -> bool:
        return self.value is not None and _COMPARE[self.budget.op](self.value, self.budget.limit)


def _value(profile: Profile, budget: Budget, measured: Mapping[str, float]) -> int | float | None:
    if budget.metric == "peak":
        return measured.get(f"{budget.path}.peak" if budget.path else "peak")
    if budget.metric in WHOLE_MODEL_METRICS:
        if budget.path:
            raise ArgumentError("budgets", budget.text, f"{budget.metric} is measured for the whole model only")
        return measured.get(budget.metric)
    if budget.path:
        try:
            row = profile.get(budget.path)
        except KeyError:
            from paramscope.profiler.paths import did_you_mean

            names = [m.path for m in profile.modules if m.path and not m.is_param]
            raise ArgumentError("budgets", budget.text, f"no submodule '{budget.path}'"
                                f"{did_you_mean(budget.path, names, known=False)}") from None
        values = {"params": row.params, "trainable": row.trainable, "macs": row.macs, "flops": row.flops}
    else:
        t = profile.total
        values = {"params": t.params, "trainable": t.trainable, "macs": t.macs, "flops": t.flops}
    return values[budget.metric]


def memory_budgets(budgets: Sequence[Budget]) -> tuple[str, ...]:
    """The memory figures the budgets need: ``peak`` and/or ``train.peak``."""
    wanted = {f"{b.path}.peak" if b.path else "peak" for b in budgets if b.metric == "peak"}
    return tuple(k for k in MEMORY_BUDGETS if k in wanted)


def check_budgets(profile: Profile, budgets: Sequence[Budget], measured: Mapping[str, float] | None = None,
                  ) -> tuple[BudgetResult, ...]:
    """Each budget with its measured value (``ok`` is False when it fails, or was not measured).

    ``measured`` holds the figures a Profile does not carry: the simulated peaks (``peak``,
    ``train.peak``) the memory budgets compare with, and ``latency_ms``.
    """
    return tuple(BudgetResult(b, _value(profile, b, measured or {})) for b in budgets)
