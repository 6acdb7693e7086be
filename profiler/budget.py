"""Budgets for CI: ``params <= 12M`` for the model or a submodule, checked against a Profile."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from paramscope.profiler.errors import ConfigError
from paramscope.profiler.stats import Profile

__all__ = ["Budget", "BudgetResult", "parse_budget", "parse_amount", "check_budgets"]

_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_METRICS = ("params", "macs", "flops", "trainable")


@dataclass(frozen=True, slots=True)
class Budget:
    metric: str
    """``params``, ``trainable``, ``macs`` or ``flops``."""
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


def parse_amount(text: str, label: str) -> int:
    """``12M`` -> 12,000,000; ``1.5G`` -> 1,500,000,000; ``10_371_074`` -> 10,371,074 (decimal prefixes)."""
    m = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMgGtT]?)\s*", text)
    if not m:
        raise ConfigError(f"{label}: expected a number such as 12M, 1.5G or 10371074, got {text!r}")
    # exact: a float would turn params<=9007199254740993 into ...992 and 400 digits into inf
    number = Fraction(m.group(1).replace("_", "").replace(",", ""))
    return round(number * _SUFFIX[m.group(2).lower()])


def parse_budget(text: str) -> Budget:
    """``params<=12M``, ``macs<=1G``, ``slot_fuse.params<=2M`` (module path before the metric)."""
    left, sep, right = text.partition("<=")
    if not sep:
        raise ConfigError(f"--budget {text}: expected METRIC<=AMOUNT, e.g. params<=12M or slot_fuse.macs<=100M")
    path, _, metric = left.strip().rpartition(".")
    if metric not in _METRICS:
        raise ConfigError(f"--budget {text}: unknown metric '{metric}' (known: {', '.join(_METRICS)})")
    return Budget(metric, parse_amount(right, f"--budget {text}"), path, text)


def _value(profile: Profile, budget: Budget) -> int | None:
    if budget.path:
        try:
            row = profile.get(budget.path)
        except KeyError:
            raise ConfigError(f"--budget {budget.text}: no submodule '{budget.path}'") from None
        values = {"params": row.params, "trainable": row.trainable, "macs": row.macs, "flops": row.flops}
    else:
        t = profile.total
        values = {"params": t.params, "trainable": t.trainable, "macs": t.macs, "flops": t.flops}
    return values[budget.metric]


def check_budgets(profile: Profile, budgets: Sequence[Budget]) -> tuple[BudgetResult, ...]:
    """Each budget with its measured value (``ok`` is False when over, or not measured)."""
    return tuple(BudgetResult(b, _value(profile, b)) for b in budgets)
