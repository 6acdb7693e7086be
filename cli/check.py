"""``paramscope check``: fail a CI job when a model goes over its parameter or MAC budget."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.common import (
    DebugOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, SetOpt, check_writable, emit, guarded, need_format,
)


def check(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    budget: Annotated[list[str], typer.Option("--budget", "-b", help="METRIC<=AMOUNT for the model or PATH.METRIC<=AMOUNT for a submodule (also >=, <, >; quote it for the shell); metrics: params, trainable, macs, flops, latency_ms (whole model, --device cpu). Repeatable.")],
    device: DeviceOpt = "meta",
    flops: Annotated[str, typer.Option("--flops", help="MAC backend: torch (default), fvcore or thop.")] = "torch",
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    sets: SetOpt = None,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Check budgets; exit 1 when any is exceeded (2 for bad input), so CI can gate on it.

    Example: paramscope check rg_output_etth1 -b 'params<=11M' -b 'slot_fuse.params<=2M' -b 'macs<1G'
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
        spec = load_spec(config, [*parse_sets(sets), *entry_sets(inputs, fargs)], origin=SET_ORIGIN)
        prof = measure(spec, device=device, flops=flops if needs_macs else None)
        measured = _latency(spec, device) if any(b.metric == "latency_ms" for b in budgets) else {}
        results = check_budgets(prof, budgets, measured)
        emit(CHECK.of(CheckView(prof.model, results)), fmt, output)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _latency(spec: object, device: str) -> dict[str, float]:
    """The whole model's median forward time (20 timed calls) for ``latency_ms`` budgets."""
    from paramscope.profiler.build import build
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.latency import measure_latency

    if device == "meta":
        raise ConfigError("--budget latency_ms: needs a real device, e.g. --device cpu")
    built = build(spec, device)  # type: ignore[arg-type]
    report = measure_latency(built.model, built.args, built.kwargs, device=device)
    return {"latency_ms": report.total_ms.median_ms}
