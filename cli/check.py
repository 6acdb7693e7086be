"""``paramscope check``: fail a CI job when a model goes over its parameter or MAC budget."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.common import (
    Device, DebugOpt, FlopsChoice, FlopsOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, SetOpt, check_writable, emit, guarded, need_format,
)


def check(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    budget: Annotated[list[str], typer.Option("--budget", "-b", help="METRIC<=AMOUNT for the model or PATH.METRIC<=AMOUNT for a submodule; metrics: params, trainable, macs, flops. Repeatable.")],
    device: DeviceOpt = Device.META,
    flops: FlopsOpt = FlopsChoice.TORCH,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    sets: SetOpt = None,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Check budgets; exit 1 when any is exceeded (2 for bad input), so CI can gate on it.

    Example: paramscope check rg_output_etth1 -b params<=11M -b slot_fuse.params<=2M -b macs<=1G
    """
    from paramscope.profiler.budget import check_budgets
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render.check import CHECK, CheckView
    from paramscope.cli.parse import SET_ORIGIN, parse_budget, parse_sets
    from paramscope.profiler.spec import load_spec

    need_format(CHECK, fmt)
    with guarded(debug, flags={"budgets": "--budget"}):
        check_writable(output)
        budgets = [parse_budget(b) for b in budget]
        needs_macs = any(b.metric in ("macs", "flops") for b in budgets)
        prof = measure(load_spec(config, [*parse_sets(sets), *entry_sets(inputs, fargs)], origin=SET_ORIGIN),
                       device=device, flops=flops.backend if needs_macs else None)
        results = check_budgets(prof, budgets)
        emit(CHECK.of(CheckView(prof.model, results)), fmt, output)
    if not all(r.ok for r in results):
        raise typer.Exit(1)
