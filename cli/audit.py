"""``paramscope audit``: the MAC backends side by side, disagreements over 1% explained."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import Device, DeviceOpt, SeedOpt
from paramscope.cli.options import Common, with_common


@with_common
def audit(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    backends: Annotated[str, typer.Option("--backends", help="Comma-separated backends to compare.")] = "torch,fvcore,thop",
    only_flagged: Annotated[bool, typer.Option("--only-flagged", help="Show only modules where the backends disagree by more than 1%.")] = False,
    *,
    common: Common,
) -> None:
    """Count MACs with every backend (torch, fvcore, thop) and compare them per module.

    Disagreements over 1% are highlighted and explained where the cause is known (an op one
    backend cannot see, elementwise work one counts and another does not).

    Example: paramscope audit rg_output_etth1 --only-flagged
    """
    from paramscope.profiler.build import build
    from paramscope.profiler.audit import audit as run_audit
    from paramscope.profiler.render.audit import AUDIT, AuditView

    with common.guarded(AUDIT, config):
        names = [b.strip() for b in backends.split(",") if b.strip()]
        if not names:
            from paramscope.profiler.errors import ConfigError

            raise ConfigError(f"--backends {backends!r}: name at least one backend, e.g. --backends torch,fvcore")
        from paramscope.profiler.flops import backend_for

        for name in names:
            backend_for(name)  # an unknown name is a one-line error before any work
        built = build(common.spec(config), device, seed)
        report = run_audit(built.model, built.args, built.kwargs, names, seed=built.seed)
        common.emit(AUDIT.of(AuditView(report, only_flagged)), config)
    if not report.counts:  # every backend failed: nothing was compared
        raise typer.Exit(1)
