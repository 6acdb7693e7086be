"""``paramscope diff``: two configs side by side, per submodule."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.parse import SET_ORIGIN
from paramscope.cli.common import DebugOpt, DeviceOpt, SeedOpt, FormatOpt, OutputFormat, OutputOpt, check_writable, emit, guarded


def diff(
    base: Annotated[str, typer.Argument(help="The reference config (YAML path, preset or family).")],
    other: Annotated[str, typer.Argument(help="The config to compare with it.")],
    module: Annotated[str | None, typer.Option("--module", help="Also show this submodule's params in both.")] = None,
    device: DeviceOpt = "meta",
    seed: SeedOpt = 0,
    flops: Annotated[str, typer.Option("--flops", help="MAC backend: torch (default), fvcore, thop or none.")] = "torch",
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
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
        metric = None if flops == "none" else flops
        a = measure(load_spec(base, entry_sets(inputs, fargs), origin=SET_ORIGIN), device=device, flops=metric, seed=seed)
        b = measure(load_spec(other, entry_sets(inputs, fargs), origin=SET_ORIGIN), device=device, flops=metric, seed=seed)
        result = compare(a, b)
        emit(WHATIF.of(SweepView(result, module)), fmt, output)
