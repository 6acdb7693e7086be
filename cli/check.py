"""``paramscope check``: fail a CI job when a model goes over its parameter or MAC budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from paramscope.cli.common import Device, DeviceOpt, FlopsChoice, FlopsOpt, SeedOpt
from paramscope.cli.options import Common, with_common

if TYPE_CHECKING:
    from paramscope.profiler.build import Built


@with_common
def check(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    budget: Annotated[list[str], typer.Option("--budget", "-b", help="METRIC<=AMOUNT for the model or PATH.METRIC<=AMOUNT for a submodule (also >=, <, >; quote it for the shell); metrics: params, trainable, macs, flops; memory: peak<=16G (simulated inference peak), train.peak<=16G (fp32 Adam step); latency_ms (whole model, --device cpu). Repeatable.")],
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    flops: FlopsOpt = FlopsChoice.TORCH,
    *,
    common: Common,
) -> None:
    """Check budgets; exit 1 when any is exceeded (2 for bad input), so CI can gate on it.

    Example: paramscope check rg_output_etth1 -b 'params<=11M' -b 'slot_fuse.params<=2M' -b 'macs<1G'
    """
    from paramscope.profiler.budget import check_budgets, memory_budgets
    from paramscope.profiler.build import build
    from paramscope.profiler.pipeline import measure_built
    from paramscope.profiler.render.check import CHECK, CheckView
    from paramscope.cli.parse import parse_budget
    from paramscope.profiler.errors import ConfigError

    with common.guarded(CHECK, config, flags={"budgets": "--budget"}):
        budgets = [parse_budget(b) for b in budget]
        needs_macs = any(b.metric in ("macs", "flops") for b in budgets)
        memory = memory_budgets(budgets)
        latency = any(b.metric == "latency_ms" for b in budgets)
        if latency and device is Device.META:
            raise ConfigError("--budget latency_ms: needs a real device, e.g. --device cpu")
        # one build serves every budget: the memory step runs on a copy, latency and MACs on the model
        built = build(common.spec(config), device, seed, inputs=needs_macs or bool(memory) or latency)
        prof = measure_built(built, flops=flops.backend if needs_macs else None)
        measured: dict[str, float] = dict(_memory_peaks(built, memory))
        if latency:
            measured.update(_latency(built))
        results = check_budgets(prof, budgets, measured)
        common.emit(CHECK.of(CheckView(prof.model, results)), config)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _memory_peaks(built: Built, wanted: tuple[str, ...]) -> dict[str, int]:
    """The simulated peaks the memory budgets need (fp32; ``train.peak``: two Adam steps)."""
    from paramscope.profiler.memory import Optimizer, Precision, plan_memory

    return {key: plan_memory(built.model, built.args, built.kwargs, dtype=Precision.FP32, device=built.device, seed=built.seed,
                             train=Optimizer.ADAM if key == "train.peak" else None).peak_bytes for key in wanted}


def _latency(built: Built) -> dict[str, float]:
    """The whole model's median forward time (20 timed calls) for ``latency_ms`` budgets."""
    from paramscope.profiler.latency import measure_latency

    report = measure_latency(built.model, built.args, built.kwargs, device=built.device)
    return {"latency_ms": report.total_ms.median_ms}
