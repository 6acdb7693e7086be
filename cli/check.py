"""``paramscope check``: fail a CI job when a model goes over its parameter or MAC budget."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.boundary import about, stdout_errors
from paramscope.cli.common import DebugOpt, DeviceOpt, SetOpt, TimeoutOpt, guarded, stdout_console


def check(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    budget: Annotated[list[str], typer.Option("--budget", "-b", help="METRIC<=AMOUNT for the model or PATH.METRIC<=AMOUNT for a submodule; metrics: params, trainable, macs, flops. Repeatable.")],
    device: DeviceOpt = "meta",
    flops: Annotated[str, typer.Option("--flops", help="MAC backend: torch (default), fvcore or thop.")] = "torch",
    sets: SetOpt = None,
    timeout: TimeoutOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Check budgets; exit 1 when any is exceeded (2 for bad input), so CI can gate on it.

    Example: paramscope check rg_output_etth1 -b params<=11M -b slot_fuse.params<=2M -b macs<=1G
    """
    from paramscope.profiler.budget import check_budgets, parse_budget
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render.units import fmt_int
    from paramscope.profiler.spec import load_spec

    with guarded(debug, timeout):
        budgets = [parse_budget(b) for b in budget]
        needs_macs = any(b.metric in ("macs", "flops") for b in budgets)
        prof = measure(about(load_spec(config, sets or [])), device=device, flops=flops if needs_macs else None)
        results = check_budgets(prof, budgets)
    # a reader that left (`| true`) must not turn the verdict into another exit code
    with guarded(debug), stdout_errors():
        console = stdout_console()
        for r in results:
            mark = "ok  " if r.ok else "OVER"
            console.print(f"{mark} {r.budget.text}: {fmt_int(r.value)} (limit {fmt_int(r.budget.limit)})", markup=False)
    if not all(r.ok for r in results):
        raise typer.Exit(1)
