"""``paramscope diff``: two configs side by side, per submodule."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import Device, DebugOpt, FlopsChoice, FlopsOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, check_writable, emit, guarded


def diff(
    base: Annotated[str, typer.Argument(help="The reference config (YAML path, preset or family).")],
    other: Annotated[str, typer.Argument(help="The config to compare with it.")],
    module: Annotated[str | None, typer.Option("--module", help="Also show this submodule's params in both.")] = None,
    device: DeviceOpt = Device.META,
    flops: FlopsOpt = FlopsChoice.TORCH,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compare two models: total params and MACs, and every submodule that differs.

    Example: paramscope diff rg_output_etth1 my_variant.yaml
    """
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render.sweep import WHATIF, SweepView
    from paramscope.profiler.spec import load_spec
    from paramscope.profiler.sweep import compare

    with guarded(debug):
        check_writable(output)
        metric = flops.backend
        a = measure(load_spec(base), device=device, flops=metric)
        b = measure(load_spec(other), device=device, flops=metric)
        result = compare(a, b)
        emit(WHATIF.of(SweepView(result, module)), fmt, output)
