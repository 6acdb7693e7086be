"""``paramscope whatif``: a grid of knob values against the base design."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from paramscope.cli.common import (
    Device, DebugOpt, FlopsChoice, FlopsOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, check_writable, emit, guarded, stderr_console,
    write_atomic,
)

if TYPE_CHECKING:
    from paramscope.profiler.spec import ModelSpec
    from paramscope.profiler.stats import Profile
    from paramscope.profiler.sweep import Axis, Sweep

_KNOB_HELP = "Comma-separated values, e.g. 192,384."
ValuesOpt = Annotated[str | None, typer.Option(help=_KNOB_HELP)]


def whatif(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    rank: Annotated[str | None, typer.Option("--rank", help="Low-rank factor (rg_output: implies score_mode=lowrank; gru_router: variant=lowrank).")] = None,
    pred_len: Annotated[str | None, typer.Option("--pred-len", help="Forecast horizons (workload knob).")] = None,
    hidden: Annotated[str | None, typer.Option("--hidden", help="rg_output score_mlp hidden widths.")] = None,
    router_dim: Annotated[str | None, typer.Option("--router-dim", help="gru_router per-expert widths.")] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="gru_router variants, e.g. gru,lowrank,grouped.")] = None,
    head: Annotated[str | None, typer.Option("--head", help="titan_stream heads: mean,flatten_mlp,attention_pool.")] = None,
    skip_interval: Annotated[str | None, typer.Option("--skip-interval", help="selective_lm output intervals.")] = None,
    seq_len: Annotated[str | None, typer.Option("--seq-len", help="Sequence lengths (workload knob).")] = None,
    batch_size: Annotated[str | None, typer.Option("--batch-size", help="Batch sizes (workload knob).")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="Any config key with values: --set d_model=256,512. Repeatable.")] = None,
    workload: Annotated[list[str] | None, typer.Option("--workload", help="Treat this --set key as a workload knob. Repeatable.")] = None,
    module: Annotated[str | None, typer.Option("--module", help="Follow one submodule across the grid, e.g. slot_fuse.score_mlp.")] = None,
    device: DeviceOpt = Device.META,
    flops: FlopsOpt = FlopsChoice.TORCH,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG chart (stacked parameters by submodule).")] = None,
    debug: DebugOpt = False,
) -> None:
    """Compare variants of a model over a grid of knob values (params, MACs, what changed, scaling).

    Design knobs (rank, hidden, router_dim...) are compared with the base design at the same
    workload knobs (pred_len, seq_len, batch_size), as the seed notes do by hand.

    Example: paramscope whatif rg_output_etth1 --rank 192,384 --pred-len 96,720
    """
    from functools import partial

    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render import sweep as render
    from paramscope.profiler.spec import load_spec, parse_set
    from paramscope.profiler.sweep import make_axes

    with guarded(debug):
        check_writable(output)
        check_writable(plot)
        spec = load_spec(config)
        knobs: dict[str, list[Any]] = {}
        named = {"rank": rank, "pred_len": pred_len, "hidden": hidden, "router_dim": router_dim, "variant": variant,
                 "head": head, "skip_interval": skip_interval, "seq_len": seq_len, "batch_size": batch_size}
        for alias, raw in named.items():
            if raw is not None:
                _check_knob(spec, alias)
                knobs[alias] = _values(raw, f"--{alias.replace('_', '-')}")
        for item in sets or []:
            key, _ = parse_set(item)
            knobs[key] = _values(item.partition("=")[2], f"--set {key}")
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


def _check_knob(spec: ModelSpec, alias: str) -> None:
    """A knob flag the model's family does not have is a user error (``--set`` takes any key)."""
    from paramscope.model_zoo import registry
    from paramscope.profiler.errors import ConfigError

    if spec.family is None:
        return
    known = [k.alias for k in registry.get_family(spec.family).knobs]
    if alias not in known:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in known)
        raise ConfigError(f"--{alias.replace('_', '-')}: {spec.family} has no such knob (its knobs: {flags}; any key: --set KEY=V1,V2)")


def _values(raw: str, label: str) -> list[Any]:
    import yaml

    from paramscope.profiler.errors import ConfigError

    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{label}: expected comma-separated values, e.g. {label} 192,384")
    values = []
    for part in parts:
        try:
            values.append(yaml.safe_load(part))
        except yaml.YAMLError:
            raise ConfigError(f"{label} {part!r}: not a value; give plain comma-separated values, e.g. {label} 192,384") from None
    return values


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
