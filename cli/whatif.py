"""``paramscope whatif``: a grid of knob values against the base design."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from paramscope.cli.boundary import about
from paramscope.cli.common import (
    DebugOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, TimeoutOpt, check_writable, emit, guarded,
    stderr_console, write_atomic,
)
from paramscope.cli.knobs import knob_grid, with_knob_flags

MAX_VARIANTS = 1000
"""Default of ``--max-variants``: a larger grid is refused before anything is built."""


@with_knob_flags
def whatif(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    knob: Annotated[list[str] | None, typer.Option("--knob", "-k", metavar="NAME=V1,V2", help="Any knob of the model's zoo family with values: --knob rank=192,384 (the same as --rank 192,384). Repeatable.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="Any config key with values: --set d_model=256,512. Repeatable.")] = None,
    workload: Annotated[list[str] | None, typer.Option("--workload", help="Treat this --set key as a workload knob. Repeatable.")] = None,
    module: Annotated[str | None, typer.Option("--module", help="Follow one submodule across the grid, e.g. slot_fuse.score_mlp.")] = None,
    device: DeviceOpt = "meta",
    flops: Annotated[str, typer.Option("--flops", help="MAC backend for the MACs columns: torch (default), fvcore, thop or none.")] = "torch",
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG chart (stacked parameters by submodule).")] = None,
    max_variants: Annotated[int, typer.Option("--max-variants", help="Refuse a grid with more variants than this.")] = MAX_VARIANTS,
    timeout: TimeoutOpt = None,
    debug: DebugOpt = False,
    **knob_flags: str | None,
) -> None:
    """Compare variants of a model over a grid of knob values (params, MACs, what changed, scaling).

    Design knobs (rank, hidden, router_dim...) are compared with the base design at the same
    workload knobs (pred_len, seq_len, batch_size), as the seed notes do by hand. The knob flags
    come from the zoo families (paramscope zoo show FAMILY lists a family's knobs).

    Example: paramscope whatif rg_output_etth1 --rank 192,384 --pred-len 96,720
    """
    from functools import partial

    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render import sweep as render
    from paramscope.profiler.spec import load_spec
    from paramscope.profiler.sweep import make_axes, run_sweep

    with guarded(debug, timeout):
        if plot is not None and output is not None and plot.resolve() == output.resolve():
            raise ConfigError(f"--output {output}: is also the --plot file; give them different names")
        check_writable(output, config, plot)
        check_writable(plot, config)
        spec = about(load_spec(config))
        knobs = knob_grid(spec, knob_flags, knob or [], sets or [])
        if not knobs:
            raise ConfigError("give at least one knob to vary, e.g. --rank 192,384 or --set d_model=256,512")
        _check_grid(knobs, max_variants)
        axes = make_axes(spec, knobs, workload or [])
        measure_fn = partial(measure, device=device, flops=None if flops == "none" else flops)
        sweep = _run(spec, axes, measure_fn, run_sweep)
        if module is not None:
            _check_module(sweep.base, module)
        if plot is not None:
            write_atomic(plot, render.sweep_plot(sweep), config)
            stderr_console().print(f"wrote {plot}", markup=False)
        emit(render.WHATIF.of(render.SweepView(sweep, module)), fmt, output, config, plot)


def _check_module(base: Any, module: str) -> None:
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.paths import did_you_mean

    names = [m.path for m in base.modules if not m.is_param]
    if module not in names:
        raise ConfigError(f"--module {module}: no such submodule{did_you_mean(module, names, known=False)}")


def _check_grid(knobs: dict[str, list[Any]], limit: int) -> None:
    """A grid larger than ``--max-variants`` is refused before anything is built."""
    import math

    from paramscope.profiler.errors import ConfigError

    n = math.prod(len(v) for v in knobs.values())
    if limit < 1:
        raise ConfigError(f"--max-variants {limit}: expected at least 1")
    if n > limit:
        sizes = " x ".join(str(len(v)) for v in knobs.values())
        raise ConfigError(f"the grid has {n:,} variants ({sizes}); the limit is {limit:,}: "
                          "give fewer values or raise --max-variants")


def _run(spec: Any, axes: Any, measure_fn: Any, run_sweep: Any) -> Any:
    import math

    from paramscope.cli.progress import progress

    with progress("what if", math.prod(len(a.values) for a in axes)) as report:
        return run_sweep(spec, axes, measure_fn=measure_fn, progress=report)
