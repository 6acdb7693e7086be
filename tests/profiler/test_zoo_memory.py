"""Saved-activation bytes measured on meta equal those measured on cpu, for every zoo family."""

from __future__ import annotations

import pytest
from test_zoo_flops import FAMILY_CASES

from paramscope.cli.parse import parse_sets
from paramscope.profiler import build, load_spec
from paramscope.profiler.memory import Optimizer, Precision, plan_memory


def _plan(name: str, device: str):  # type: ignore[no-untyped-def]
    built = build(load_spec(name, parse_sets(FAMILY_CASES[name])), device)
    return plan_memory(built.model, built.args, built.kwargs, dtype=Precision.FP32, train=Optimizer.ADAM)


@pytest.mark.parametrize("name", list(FAMILY_CASES))
def test_saved_activations_meta_equal_cpu(name: str) -> None:
    meta, cpu = _plan(name, "meta"), _plan(name, "cpu")
    assert meta.totals.activation_bytes > 0
    assert meta.totals == cpu.totals
    assert [(r.path, r.activation_bytes) for r in meta.rows] == [(r.path, r.activation_bytes) for r in cpu.rows]
