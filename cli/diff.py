"""``paramscope diff``: two configs side by side, per submodule."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import (
    Device, DebugOpt, DeviceOpt, FlopsChoice, FlopsOpt, FormatOpt, OutputFormat, OutputOpt, check_writable, emit, guarded,
    need_format,
)
from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.parse import SET_ORIGIN


def diff(
    base: Annotated[str, typer.Argument(help="The reference config (YAML path, preset or family).")],
    other: Annotated[str, typer.Argument(help="The config to compare with it.")],
    module: Annotated[str | None, typer.Option("--module", help="Also show this submodule in both, changed or not.")] = None,
    device: DeviceOpt = Device.META,
    flops: FlopsOpt = FlopsChoice.TORCH,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compare two models: total params and MACs, and every submodule that differs (both values).

    Exits 1 when the models differ, 0 when they do not (as diff(1) does).

    Example: paramscope diff rg_output_etth1 my_variant.yaml
    """
    from paramscope.profiler.diff import diff_models
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.paths import did_you_mean
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render.diff import DIFF, DiffView
    from paramscope.profiler.spec import load_spec

    need_format(DIFF, fmt)
    with guarded(debug):
        check_writable(output)
        a = measure(load_spec(base, entry_sets(inputs, fargs), origin=SET_ORIGIN), device=device, flops=flops.backend)
        b = measure(load_spec(other, entry_sets(inputs, fargs), origin=SET_ORIGIN), device=device, flops=flops.backend)
        names = {m.path for p in (a, b) for m in p.modules if m.path and not m.is_param}
        if module is not None and module not in names:
            raise ConfigError(f"--module {module}: no such submodule in either model{did_you_mean(module, sorted(names), known=False)}")
        result = diff_models(a, b)
        emit(DIFF.of(DiffView(result, module)), fmt, output)
    if result.differs:
        raise typer.Exit(1)
