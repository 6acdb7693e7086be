"""``paramscope breakdown``: parameters (and MACs) per submodule."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from paramscope.cli.common import Device, DeviceOpt, FlopsChoice, FlopsOpt, OutputFormat, SeedOpt, check_writable
from paramscope.cli.options import Common, with_common
from paramscope.profiler.choices import Clock, Fusion
from paramscope.profiler.render.table import SortKey

if TYPE_CHECKING:
    from paramscope.profiler.build import Built
    from paramscope.profiler.stats import Profile
    from paramscope.profiler.latency import LatencyReport


@with_common
def breakdown(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name (rg_output_etth1) or a zoo family.")],
    depth: Annotated[int, typer.Option("--depth", help="Show submodules down to this depth (1 = top level).")] = 2,
    expand: Annotated[bool, typer.Option("--expand", help="Show identical numbered siblings (proj.0 .. proj.5) one by one.")] = False,
    top: Annotated[int | None, typer.Option("--top", help="Show only the N largest rows.")] = None,
    sort: Annotated[SortKey, typer.Option("--sort", help="tree (default), params, macs or name.")] = SortKey.TREE,
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    flops: FlopsOpt = FlopsChoice.TORCH,
    backward: Annotated[bool, typer.Option("--backward", help="Also count the backward pass (torch backend).")] = False,
    elementwise: Annotated[bool, typer.Option("--elementwise", help="Also count output elements of element-wise ops (activations, norms, softmax; torch backend); not MACs.")] = False,
    columns: Annotated[str | None, typer.Option("--columns", "-c", metavar="NAMES", help="Table columns, comma-separated: type, params, %params, trainable, frozen, buffers, macs, %macs, flops, calls, elementwise, bytes, intensity, roofline, bound, shared, shape (in_shape, out_shape: the first call's tensors), kernel (layer details: k=3x3 s=2, 512->10, heads), dtype, mode. '+shape' adds to the default set.")] = None,
    bytes_moved: Annotated[bool, typer.Option("--bytes", help="Also count the bytes each module's ops read and write, and FLOPs per byte (arithmetic intensity).")] = False,
    fusion: Annotated[Fusion, typer.Option("--fusion", help="With --bytes/--hardware: none (each op its own kernel) or elementwise (element-wise ops folded into their producer).")] = Fusion.NONE,
    hardware: Annotated[str | None, typer.Option("--hardware", help="Roofline time per module on a built-in accelerator (h100-sxm, h200, a100-80gb, l4, rtx-4090, mi300x, cpu) or a profile YAML; implies --bytes.")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="With --bytes/--hardware: store and compute floating tensors at fp32, bf16, fp16 or int8 (default: as the model runs).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="With --hardware: write a roofline PNG (each module a point under the roof; with --latency also its measured FLOP/s).")] = None,
    ops: Annotated[str | None, typer.Option("--ops", metavar="PATH", help="Also show which aten ops this submodule's MACs come from, e.g. --ops slot_fuse ('' for the whole model; torch backend).")] = None,
    latency: Annotated[bool, typer.Option("--latency", help="Time every submodule's forward (needs --device cpu or cuda).")] = False,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed forward passes for --latency.")] = 20,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed forward passes before timing.")] = 3,
    clock: Annotated[Clock, typer.Option("--clock", help="wall (default) or thread (cpu time of this thread: robust on a busy machine).")] = Clock.WALL,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Shortcut for --set inputs.batch_size=N.")] = None,
    *,
    common: Common,
) -> None:
    """Break a model's parameters and MACs/FLOPs down by submodule.

    Builds on the meta device (no weights allocated) and runs one real forward pass with the
    model's example inputs to count MACs.

    Example: paramscope breakdown rg_output_etth1 --set pred_len=720 --depth 1
    """
    from paramscope.profiler.build import build
    from paramscope.profiler.pipeline import measure_built
    from paramscope.profiler.render.breakdown import BREAKDOWN, BreakdownView
    from paramscope.profiler.render import table as render

    with common.guarded(BREAKDOWN, config):
        if elementwise and flops is not FlopsChoice.TORCH:
            raise _bad("--elementwise needs --flops torch")
        check_writable(plot)
        if plot is not None and hardware is None:
            raise _bad("--plot needs --hardware NAME (the roof to plot under)")
        chosen = _columns(columns)
        hw, precision = _hardware(hardware, dtype)
        extra = [("inputs.batch_size", batch_size)] if batch_size is not None else []
        spec = common.spec(config, extra)
        if latency and device is Device.META:
            raise _bad("--latency needs real tensors: pass --device cpu or --device cuda")
        if depth < 1 or (top is not None and top < 1):
            raise _bad(f"{f'--depth {depth}' if depth < 1 else f'--top {top}'}: expected at least 1")
        layers = _needs_layers(chosen)
        built = build(spec, device, seed, inputs=flops is not FlopsChoice.NONE or latency or layers)
        prof = measure_built(built, flops=flops.backend, backward=backward, layers=layers, elementwise=elementwise,
                             bytes_moved=bytes_moved or dtype is not None, fusion=fusion, hardware=hw,
                             precision=precision)
        lat = _latency(built, repeats, warmup, clock) if latency else None
        rows = render.select_rows(prof, depth=depth, top=top, sort=sort)
        if sort is SortKey.TREE and top is None and not expand:
            rows = render.collapse_repeats(rows)
        if plot is not None:
            measured = None if lat is None else {r.path: r.inclusive_ms.median_ms for r in lat.rows}
            _plot(prof, rows, plot, measured)
        if ops is not None:
            _check_ops(prof, ops, common.fmt)
        common.emit(BREAKDOWN.of(BreakdownView(prof, tuple(rows), lat, depth=depth, top=top, ops=ops, columns=chosen)),
                    config)


def _hardware(name: str | None, dtype: str | None) -> tuple[Any, Any]:
    if name is None and dtype is None:  # the usual case imports neither (a params-only run stays light)
        return None, None
    from paramscope.profiler.hardware import load_hardware
    from paramscope.profiler.precision import Precision

    precision = None
    if dtype is not None:
        try:
            precision = Precision(dtype)
        except ValueError:
            raise _bad(f"--dtype {dtype}: expected one of {', '.join(p.value for p in Precision)}") from None
    return (None if name is None else load_hardware(name)), precision


def _plot(prof: Any, rows: Any, path: Path, measured: Any) -> None:
    from paramscope.cli.common import stderr_console
    from paramscope.profiler.render.roofline import plot_roofline

    plot_roofline(prof, rows, path, measured)
    stderr_console().print(f"wrote {path}", markup=False)


def _latency(built: Built, repeats: int, warmup: int, clock: Clock) -> LatencyReport:
    from paramscope.profiler.latency import measure_latency

    return measure_latency(built.model, built.args, built.kwargs, device=built.device,
                           repeats=repeats, warmup=warmup, clock=clock)


def _columns(text: str | None) -> tuple[str, ...] | None:
    """``--columns`` as column names (None: the default set)."""
    from paramscope.profiler.render.columns import parse_columns

    if text is None:
        return None
    try:
        return parse_columns(text)
    except ValueError as e:
        raise _bad(f"--columns {text}: {e}") from None


def _needs_layers(chosen: tuple[str, ...] | None) -> bool:
    from paramscope.profiler.render.columns import LAYER_COLUMNS

    return bool(LAYER_COLUMNS & set(chosen or ()))


def _check_ops(prof: Profile, path: str, fmt: OutputFormat) -> None:
    """``--ops PATH`` needs per-op counts (torch backend), a real submodule and a format with room for it."""
    from paramscope.profiler.paths import did_you_mean

    if prof.flops_backend != "torch":
        raise _bad("--ops needs --flops torch (the backend that sees aten ops)")
    if path and path not in prof.by_path:
        raise _bad(f"--ops {path}: no such submodule{did_you_mean(path, [m.path for m in prof.modules if m.path])}")
    if fmt is OutputFormat.CSV:
        raise _bad("--ops has no csv form: use --format table, md or json")


def _bad(message: str) -> Exception:
    from paramscope.profiler.errors import ConfigError

    return ConfigError(message)
