"""``paramscope memory``: weights, gradients, optimizer state and saved activations by precision."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, TypeVar

import typer

from paramscope.cli.entry import ArgOpt, InputOpt, entry_sets
from paramscope.cli.common import (
    Device, DebugOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, SetOpt, check_writable, emit, guarded, need_format,
)

_E = TypeVar("_E", bound=StrEnum)


def memory(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    dtype: Annotated[str, typer.Option("--dtype", help="Precisions to compare: fp32,bf16,fp16,int8,int4.")] = "fp32,bf16,int8",
    train: Annotated[str | None, typer.Option("--train", help="Add gradients and optimizer state: adam, adamw or sgd.")] = None,
    keep: Annotated[list[str] | None, typer.Option("--keep", help="Keep a submodule in a precision, e.g. fp32:load_balancer (the QAT note's mixed plan). Repeatable.")] = None,
    modules: Annotated[int | None, typer.Option("--modules", help="Also show the N largest submodules of the first plan.")] = None,
    device: DeviceOpt = Device.META,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    sets: SetOpt = None,
    inputs: InputOpt = None,
    fargs: ArgOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Memory by precision: weights, gradients, optimizer state, saved activations (measured).

    Activations saved for backward are measured by running the forward on meta under
    saved_tensors_hooks, not guessed; --keep plans mixed precision per submodule.

    Example: paramscope memory gru_router_spectra --dtype fp32,int8 --train adam --keep fp32:load_balancer
    """
    from paramscope.profiler.build import build
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.memory import Optimizer, Precision, plan_memory_sweep
    from paramscope.profiler.render import memory as render
    from paramscope.cli.parse import SET_ORIGIN, parse_sets
    from paramscope.profiler.spec import load_spec

    def choice(enum: type[_E], value: str, label: str) -> _E:
        try:
            return enum(value.strip().lower())
        except ValueError:
            raise ConfigError(f"{label} {value}: expected one of {', '.join(e.value for e in enum)}") from None

    need_format(render.MEMORY, fmt)
    with guarded(debug):
        check_writable(output)
        dtypes = [choice(Precision, d, "--dtype") for d in dtype.split(",") if d.strip()]
        optimizer = choice(Optimizer, train, "--train") if train else None
        plan: dict[str, Precision] = {}
        for item in keep or []:
            prec, sep, path = item.partition(":")
            if not sep or not path:
                raise ConfigError(f"--keep {item}: expected PRECISION:PATH, e.g. --keep fp32:load_balancer")
            plan[path] = choice(Precision, prec, "--keep")
        built = build(load_spec(config, [*parse_sets(sets), *entry_sets(inputs, fargs)], origin=SET_ORIGIN), device)
        reports = plan_memory_sweep(built.model, built.args, built.kwargs, dtypes=dtypes, train=optimizer, keep=plan)
        emit(render.MEMORY.of(render.MemoryView(built.spec.name, reports, modules)), fmt, output)
