"""``paramscope diff``: two configs side by side, per submodule."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.parse import SET_ORIGIN
from paramscope.cli.boundary import about
from paramscope.cli.common import (
    DebugOpt, DeviceOpt, SeedOpt, FormatOpt, OutputFormat, OutputOpt, TimeoutOpt, check_writable, emit, guarded,
)


def diff(
    base: Annotated[str, typer.Argument(help="The reference config (YAML path, preset or family).")],
    other: Annotated[str, typer.Argument(help="The config to compare with it.")],
    module: Annotated[str | None, typer.Option("--module", help="Also list every changed submodule under this one, with both values.")] = None,
    device: DeviceOpt = "meta",
    seed: SeedOpt = 0,
    flops: Annotated[str, typer.Option("--flops", help="MAC backend: torch (default), fvcore, thop or none.")] = "torch",
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    timeout: TimeoutOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compare two models: total params and MACs, and every submodule that differs.

    Exits 1 when the models differ and 0 when they are the same, as diff(1) does (2 for bad input).

    Example: paramscope diff rg_output_etth1 my_variant.yaml
    """
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render.sweep import WHATIF, SweepView
    from paramscope.profiler.spec import load_spec
    from paramscope.profiler.sweep import compare, differs

    with guarded(debug, timeout):
        check_writable(output, base, other)
        metric = None if flops == "none" else flops
        a = measure(about(load_spec(base, entry_sets(inputs, fargs), origin=SET_ORIGIN)), device=device, flops=metric, seed=seed)
        b = measure(about(load_spec(other, entry_sets(inputs, fargs), origin=SET_ORIGIN)), device=device, flops=metric, seed=seed)
        if module is not None:
            _check_module(a, b, module)
        result = compare(a, b)
        emit(WHATIF.of(SweepView(result, module)), fmt, output, base, other)
    if differs(result):
        raise typer.Exit(1)


def _check_module(a: Any, b: Any, module: str) -> None:
    """``--module`` must name a submodule of at least one of the two models."""
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.paths import did_you_mean

    names = sorted({m.path for p in (a, b) for m in p.modules if m.path and not m.is_param})
    if module not in names:
        raise ConfigError(f"--module {module}: no such submodule in either model{did_you_mean(module, names, known=False)}")
