"""``paramscope whatif``: a grid of knob values against the base design."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.parse import SET_ORIGIN
from paramscope.cli.boundary import about, check_timeout, hard_stop
from paramscope.cli.common import (
    Device, DebugOpt, DeviceOpt, FlopsChoice, FlopsOpt, FormatOpt, OutputFormat, OutputOpt, SeedOpt,
    check_writable, emit, guarded, need_format, stderr_console, write_atomic,
)
from paramscope.cli.knobs import knob_grid, parse_values, with_knob_flags
from paramscope.profiler.choices import Fusion

MAX_VARIANTS = 1000
"""Default of ``--max-variants``: a larger grid is refused before anything is built."""

if TYPE_CHECKING:
    pass


@with_knob_flags
def whatif(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    knob: Annotated[list[str] | None, typer.Option("--knob", "-k", metavar="NAME=V1,V2", help="Any knob of the model's zoo family with values: --knob rank=192,384 (the same as --rank 192,384). Repeatable.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="Any config key with values: --set d_model=256,512. Repeatable.")] = None,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    workload: Annotated[list[str] | None, typer.Option("--workload", help="Treat this --set key as a workload knob. Repeatable.")] = None,
    dim: Annotated[list[str] | None, typer.Option("--dim", metavar="INPUT.AXIS=V1,V2", help="A workload axis of a target: model's input shape: --dim x.1=96,336,720 (axis 1 of input x). Repeatable.")] = None,
    module: Annotated[str | None, typer.Option("--module", help="Follow one submodule across the grid, e.g. slot_fuse.score_mlp.")] = None,
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    flops: FlopsOpt = FlopsChoice.TORCH,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    hardware: Annotated[str | None, typer.Option("--hardware", help="Predict forward time instead: comma-separated hardware (h100-sxm,l4,cpu or a YAML), roofline per op.")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="With --hardware: comma-separated precisions, e.g. bf16,fp32 (default: as the model runs).")] = None,
    fusion: Annotated[Fusion, typer.Option("--fusion", help="With --hardware: none or elementwise (element-wise ops folded into their producer).")] = Fusion.NONE,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG chart: params and MACs as lines by knob, a dashed baseline per workload value, --module dotted.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", help="Worker processes measuring variants (default: the cores, capped by memory; 1 for grids under 8 configurations). Results are the same with any N.")] = None,
    max_variants: Annotated[int, typer.Option("--max-variants", help="Refuse a grid with more variants than this.")] = MAX_VARIANTS,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds each configuration (the base, a variant, a baseline) may take to build and measure; one that takes longer is a failed row 'timed out after N s' and the sweep goes on.")] = None,
    debug: DebugOpt = False,
    **knob_flags: str | None,
) -> None:
    """Compare variants of a model over a grid of knob values (params, MACs, what changed, scaling).

    Design knobs (rank, hidden, router_dim...) are compared with the base design at the same
    workload knobs (pred_len, seq_len, batch_size), as the seed notes do by hand. The knob flags
    come from the zoo families (paramscope zoo show FAMILY lists a family's knobs). Exits 1 when
    every variant failed.

    Example: paramscope whatif rg_output_etth1 --rank 192,384 --pred-len 96,720
    """
    from functools import partial

    from paramscope.profiler.deadline import timed
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render import sweep as render
    from paramscope.profiler.render.sweep_plot import sweep_plot
    from paramscope.profiler.spec import load_spec
    from paramscope.profiler.sweep import Status, make_axes, run_sweep

    with guarded(debug):  # --timeout bounds each configuration, not the sweep
        check_timeout(timeout)
        if plot is not None and output is not None and plot.resolve() == output.resolve():
            raise ConfigError(f"--output {output}: is also the --plot file; give them different names")
        check_writable(output, config, plot)
        check_writable(plot, config)
        spec = about(load_spec(config, entry_sets(inputs, fargs), origin=SET_ORIGIN))
        knobs = knob_grid(spec, knob_flags, knob or [], sets or [])
        shapes = tuple(_shape_axis(spec, item) for item in dim or [])
        if not knobs and not shapes and hardware is None:
            raise ConfigError("give at least one knob to vary, e.g. --rank 192,384 or --set d_model=256,512")
        _check_grid(knobs, max_variants)
        axes = make_axes(spec, knobs, workload or []) + shapes
        if hardware is not None:
            _predict(spec, axes, hardware, dtype, fusion, device, fmt, output, timeout)
            return
        if dtype is not None or fusion is not Fusion.NONE:
            raise ConfigError("--dtype and --fusion need --hardware (e.g. --hardware h100-sxm,l4 --dtype bf16,fp32)")
        measure_fn = partial(measure, device=device, flops=flops.backend, seed=seed)
        if timeout is not None:  # picklable: the workers bound each configuration alike
            measure_fn = partial(timed, timeout, measure_fn, hard_stop=partial(hard_stop, timeout))
        sweep = _run(spec, axes, measure_fn, partial(run_sweep, jobs=_jobs(jobs, axes)))
        if module is not None:
            check_module(sweep.base, module)
        if plot is not None:
            write_atomic(plot, sweep_plot(sweep, module), config)
            stderr_console().print(f"wrote {plot}", markup=False)
        emit(render.WHATIF.of(render.SweepView(sweep, module)), fmt, output, config, plot)
    if all(v.status is Status.FAILED for v in sweep.variants):
        raise typer.Exit(1)  # nothing could be measured: a CI job should notice


def _jobs(jobs: int | None, axes: Any) -> int:
    import math

    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.parallel import default_jobs

    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected at least 1")
    return default_jobs(math.prod(len(a.values) for a in axes)) if jobs is None else jobs


def _predict(spec: Any, axes: Any, hardware: str, dtype: str | None, fusion: Fusion, device: str,
             fmt: OutputFormat, output: Path | None, timeout: float | None) -> None:
    """``--hardware``: predicted forward time per knob value x hardware x precision."""
    from functools import partial

    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.hardware import load_hardware
    from paramscope.profiler.memory import Precision
    from paramscope.profiler.predict import predict_grid
    from paramscope.profiler.render import roofline as render

    machines = [load_hardware(h) for h in parse_values(hardware, "--hardware", str)]
    precisions: list[Precision | None] = [None]
    if dtype is not None:
        names = [str(d) for d in parse_values(dtype, "--dtype", str)]
        bad = [d for d in names if _precision(d) is None]
        if bad:
            raise ConfigError(f"--dtype {bad[0]}: expected one of {', '.join(p.value for p in Precision)}")
        precisions = [Precision(d) for d in names]
    need_format(render.PREDICT, fmt)
    stop = None if timeout is None else partial(hard_stop, timeout)
    grid = predict_grid(spec, axes, machines, precisions, fusion=fusion, device=device, timeout=timeout, hard_stop=stop)
    emit(render.PREDICT.of(grid), fmt, output)


def _precision(name: str) -> Any:
    from paramscope.profiler.memory import Precision

    try:
        return Precision(name)
    except ValueError:
        return None


def _shape_axis(spec: Any, item: str) -> Any:
    from paramscope.cli.knobs import parse_values
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.sweep import shape_axis

    target, sep, raw = item.partition("=")
    name, _, axis = target.strip().rpartition(".")
    if not sep or not name or not axis.lstrip("-").isdigit():
        raise ConfigError(f"--dim {item}: expected INPUT.AXIS=V1,V2, e.g. --dim x.1=96,336,720")
    try:
        return shape_axis(spec, name, int(axis), parse_values(raw, f"--dim {target}=", int))
    except ConfigError as e:
        raise ConfigError(f"--{e}") from None


def check_module(base: Any, module: str) -> None:
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
