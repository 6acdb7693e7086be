"""Budgets for CI: ``params <= 12M`` for the model or a submodule, checked against a Profile."""

from __future__ import annotations

<<<<<<< HEAD
import re
from collections.abc import Mapping, Sequence
=======
from collections.abc import Sequence
>>>>>>> main
from dataclasses import dataclass

from paramscope.profiler.errors import ArgumentError
from paramscope.profiler.stats import Profile

<<<<<<< HEAD
__all__ = ["Budget", "BudgetResult", "MEMORY_BUDGETS", "parse_budget", "parse_amount", "check_budgets", "memory_budgets"]

_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_METRICS = ("params", "macs", "flops", "trainable", "peak")
MEMORY_BUDGETS = ("peak", "train.peak")
"""Memory budgets: the simulated inference peak and the fp32 Adam training step's peak, in bytes."""
=======
__all__ = ["METRICS", "Budget", "BudgetResult", "check_budgets"]

METRICS = ("params", "macs", "flops", "trainable")
"""What a budget can limit."""
>>>>>>> main


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


<<<<<<< HEAD
def parse_amount(text: str, label: str) -> int:
    """``12M`` -> 12,000,000; ``1.5G`` -> 1,500,000,000; ``10_371_074`` -> 10,371,074 (decimal prefixes);
    bytes may say so: ``16GB`` (decimal), ``16GiB`` (binary)."""
    m = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?)[bB]?\s*", text)
    if not m or (m.group(3) and not m.group(2)):
        raise ConfigError(f"{label}: expected a number such as 12M, 1.5G, 16GB or 10371074, got {text!r}")
    number = float(m.group(1).replace("_", "").replace(",", ""))
    table = _BINARY if m.group(3) else _SUFFIX
    return round(number * table[m.group(2).lower()])


def parse_budget(text: str) -> Budget:
    """``params<=12M``, ``macs<=1G``, ``slot_fuse.params<=2M`` (module path before the metric)."""
    left, sep, right = text.partition("<=")
    if not sep:
        raise ConfigError(f"--budget {text}: expected METRIC<=AMOUNT, e.g. params<=12M or slot_fuse.macs<=100M")
    path, _, metric = left.strip().rpartition(".")
    if metric == "peak" and path not in ("", "train"):
        raise ConfigError(f"--budget {text}: memory budgets are peak<=AMOUNT (inference) or train.peak<=AMOUNT")
    if metric not in _METRICS:
        raise ConfigError(f"--budget {text}: unknown metric '{metric}' (known: {', '.join(_METRICS)})")
    return Budget(metric, parse_amount(right, f"--budget {text}"), path, text)


def _value(profile: Profile, budget: Budget, memory: Mapping[str, int]) -> int | None:
    if budget.metric == "peak":
        return memory.get(f"{budget.path}.peak" if budget.path else "peak")
=======
def _value(profile: Profile, budget: Budget) -> int | None:
>>>>>>> main
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
    return tuple(k for k in MEMORY_BUDGETS if any(b.metric == "peak" and (b.path or "") == k.rpartition(".")[0]
                                                  for b in budgets))


def check_budgets(profile: Profile, budgets: Sequence[Budget], memory: Mapping[str, int] | None = None,
                  ) -> tuple[BudgetResult, ...]:
    """Each budget with its measured value (``ok`` is False when over, or not measured).

    ``memory`` holds the simulated peaks (``peak``, ``train.peak``) the memory budgets compare with.
    """
    return tuple(BudgetResult(b, _value(profile, b, memory or {})) for b in budgets)
