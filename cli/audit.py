"""``paramscope audit``: the MAC backends side by side, disagreements over 1% explained."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.boundary import about
from paramscope.cli.common import (
    Device, DebugOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, SeedOpt, SetOpt, TimeoutOpt, check_writable, emit,
    guarded, need_format,
)
from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets


def audit(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    backends: Annotated[str, typer.Option("--backends", help="Comma-separated backends to compare.")] = "torch,fvcore,thop",
    only_flagged: Annotated[bool, typer.Option("--only-flagged", help="Show only modules where the backends disagree by more than 1%.")] = False,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    sets: SetOpt = None,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    timeout: TimeoutOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Count MACs with every backend (torch, fvcore, thop) and compare them per module.

    Disagreements over 1% are highlighted and explained where the cause is known (an op one
    backend cannot see, elementwise work one counts and another does not).

    Example: paramscope audit rg_output_etth1 --only-flagged
    """
    from paramscope.profiler.build import build
    from paramscope.profiler.audit import audit as run_audit
    from paramscope.profiler.render.audit import AUDIT, AuditView
    from paramscope.cli.parse import SET_ORIGIN, parse_sets
    from paramscope.profiler.spec import load_spec

    need_format(AUDIT, fmt)
    with guarded(debug, timeout):
        check_writable(output, config)
        names = [b.strip() for b in backends.split(",") if b.strip()]
        if not names:
            from paramscope.profiler.errors import ConfigError

            raise ConfigError(f"--backends {backends!r}: name at least one backend, e.g. --backends torch,fvcore")
        from paramscope.profiler.flops import backend_for

        for name in names:
            backend_for(name)  # an unknown name is a one-line error before any work
        built = build(about(load_spec(config, [*parse_sets(sets), *entry_sets(inputs, fargs)], origin=SET_ORIGIN)), device, seed)
        report = run_audit(built.model, built.args, built.kwargs, names, seed=built.seed)
        emit(AUDIT.of(AuditView(report, only_flagged)), fmt, output, config)
    if not report.counts:  # every backend failed: nothing was compared
        raise typer.Exit(1)
