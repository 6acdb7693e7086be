"""``paramscope whatif``: a grid of knob values against the base design."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.parse import SET_ORIGIN
from paramscope.cli.common import (
    Device, DebugOpt, FlopsChoice, FlopsOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, check_writable, emit, guarded, stderr_console,
    write_atomic,
)
from paramscope.cli.knobs import knob_grid, with_knob_flags

if TYPE_CHECKING:
    from paramscope.profiler.spec import ModelSpec
    from paramscope.profiler.stats import Profile
    from paramscope.profiler.sweep import Axis, Sweep


@with_knob_flags
def whatif(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    knob: Annotated[list[str] | None, typer.Option("--knob", "-k", metavar="NAME=V1,V2", help="Any knob of the model's zoo family with values: --knob rank=192,384 (the same as --rank 192,384). Repeatable.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="Any config key with values: --set d_model=256,512. Repeatable.")] = None,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    workload: Annotated[list[str] | None, typer.Option("--workload", help="Treat this --set key as a workload knob. Repeatable.")] = None,
    module: Annotated[str | None, typer.Option("--module", help="Follow one submodule across the grid, e.g. slot_fuse.score_mlp.")] = None,
    device: DeviceOpt = Device.META,
    flops: FlopsOpt = FlopsChoice.TORCH,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG chart (stacked parameters by submodule).")] = None,
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
    from paramscope.profiler.sweep import Status, make_axes

    with guarded(debug):
        check_writable(output)
        check_writable(plot)
        spec = load_spec(config, entry_sets(inputs, fargs), origin=SET_ORIGIN)
        knobs = knob_grid(spec, knob_flags, knob or [], sets or [])
        if not knobs:
            raise ConfigError("give at least one knob to vary, e.g. --rank 192,384 or --set d_model=256,512")
        axes = make_axes(spec, knobs, workload or [])
        measure_fn = partial(measure, device=device, flops=flops.backend)
        sweep = _run(spec, axes, measure_fn)
        if module is not None:
            _check_module(sweep.base, module)
        if plot is not None:
            write_atomic(plot, render.sweep_plot(sweep))
            stderr_console().print(f"wrote {plot}", markup=False)
        emit(render.WHATIF.of(render.SweepView(sweep, module)), fmt, output)
    if all(v.status is Status.FAILED for v in sweep.variants):  # not one variant could be measured
        raise typer.Exit(1)


def _check_module(base: Profile, module: str) -> None:
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.paths import did_you_mean

    names = [m.path for m in base.modules if not m.is_param]
    if module not in names:
        raise ConfigError(f"--module {module}: no such submodule{did_you_mean(module, names, known=False)}")


def _run(spec: ModelSpec, axes: tuple[Axis, ...], measure_fn: Callable[[ModelSpec], Profile]) -> Sweep:
    from rich.progress import Progress

    from paramscope.profiler.sweep import run_sweep

    n = 1
    for a in axes:
        n *= len(a.values)
    with Progress(console=stderr_console(), transient=True, disable=n < 3) as bar:
        task = bar.add_task("what if", total=n)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, description=label)

        return run_sweep(spec, axes, measure_fn=measure_fn, progress=progress)
