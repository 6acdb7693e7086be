"""``paramscope diff``: two configs side by side, per submodule."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paramscope.cli.boundary import about
from paramscope.cli.common import (
    Device, DebugOpt, DeviceOpt, FlopsChoice, FlopsOpt, FormatOpt, OutputFormat, OutputOpt, SeedOpt, TimeoutOpt,
    check_writable, emit, guarded, need_format,
)
from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.parse import SET_ORIGIN


def diff(
    base: Annotated[str, typer.Argument(help="The reference config (YAML path, preset or family).")],
    other: Annotated[str, typer.Argument(help="The config to compare with it.")],
    module: Annotated[str | None, typer.Option("--module", help="Also list every changed submodule under this one (any depth), or the module itself with both values when nothing under it changed.")] = None,
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    flops: FlopsOpt = FlopsChoice.TORCH,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    timeout: TimeoutOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compare two models: total params and MACs, and every submodule that differs (both values).

    Exits 1 when the models differ and 0 when they are the same, as diff(1) does (2 for bad input).

    Example: paramscope diff rg_output_etth1 my_variant.yaml
    """
    from paramscope.profiler.diff import diff_models
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render.diff import DIFF, DiffView
    from paramscope.profiler.spec import load_spec

    need_format(DIFF, fmt)
    with guarded(debug, timeout):
        check_writable(output, base, other)
        a = measure(about(load_spec(base, entry_sets(inputs, fargs), origin=SET_ORIGIN)), device=device,
                    flops=flops.backend, seed=seed)
        b = measure(about(load_spec(other, entry_sets(inputs, fargs), origin=SET_ORIGIN)), device=device,
                    flops=flops.backend, seed=seed)
        if module is not None:
            _check_module(a, b, module)
        result = diff_models(a, b)
        emit(DIFF.of(DiffView(result, module)), fmt, output, base, other)
    if result.differs:
        raise typer.Exit(1)


def _check_module(a: Any, b: Any, module: str) -> None:
    """``--module`` must name a submodule of at least one of the two models."""
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.paths import did_you_mean

    names = sorted({m.path for p in (a, b) for m in p.modules if m.path and not m.is_param})
    if module not in names:
        raise ConfigError(f"--module {module}: no such submodule in either model{did_you_mean(module, names, known=False)}")
