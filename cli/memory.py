"""``paramscope memory``: the peak of a simulated training step or inference forward, and what is live at it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from paramscope.cli.common import Device, DeviceOpt, SeedOpt, check_writable, write_atomic
from paramscope.cli.options import Common, with_common

_E = TypeVar("_E", bound=StrEnum)


MAX_STEPS = 100
"""Most training steps ``memory --steps`` simulates."""


@with_common
def memory(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    dtype: Annotated[str, typer.Option("--dtype", help="Precisions to compare: fp32,bf16,fp16,int8,int4.")] = "fp32,bf16,int8",
    train: Annotated[str | None, typer.Option("--train", help="Simulate a training step with this optimizer: adam, adamw or sgd (momentum 0.9). Without it: inference.")] = None,
    steps: Annotated[int, typer.Option("--steps", help="Training steps to simulate, 1 to 100 (2: the second runs with optimizer state).")] = 2,
    amp: Annotated[str | None, typer.Option("--amp", help="Autocast the forward to bf16 or fp16 over fp32 weights.")] = None,
    keep: Annotated[list[str] | None, typer.Option("--keep", help="Keep a submodule in a precision, e.g. fp32:load_balancer (the QAT note's mixed plan). Repeatable.")] = None,
    checkpoint: Annotated[list[str] | None, typer.Option("--checkpoint", help="Run submodules matching this pattern (e.g. 'encoder.layers.*') under torch.utils.checkpoint. Repeatable.")] = None,
    allocator: Annotated[str | None, typer.Option("--allocator", help="Allocator modelled: cpu (exact bytes, for-loop optimizers) or cuda (512-byte blocks, foreach optimizers). Default: the device's.")] = None,
    modules: Annotated[int | None, typer.Option("--modules", help="Also show the N modules holding most at the peak (first plan).")] = None,
    timeline: Annotated[Path | None, typer.Option("--timeline", help="Write live bytes by kind over the step (first plan) to this PNG.")] = None,
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    *,
    common: Common,
) -> None:
    """Peak memory of a training step or inference, simulated storage by storage.

    The step (forward, backward, optimizer.step, zero_grad(set_to_none=True), --steps times) runs
    on meta by default and every tensor allocation and release is tracked: the report gives the
    peak, when it happens, and what is live at it (weights, gradients, optimizer state, saved
    activations, temporaries, inputs).

    Example: paramscope memory gru_router_spectra --dtype fp32,int8 --train adam --keep fp32:load_balancer
    """
    from paramscope.profiler.build import build
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.memory import Allocator, Optimizer, Precision, plan_memory_sweep
    from paramscope.profiler.render import memory as render

    def choice(enum: type[_E], value: str, label: str) -> _E:
        try:
            return enum(value.strip().lower())
        except ValueError:
            raise ConfigError(f"{label} {value}: expected one of {', '.join(e.value for e in enum)}") from None

    with common.guarded(render.MEMORY, config):
        check_writable(timeline)
        if not 1 <= steps <= MAX_STEPS:  # from step 2 on each step repeats the last: 100 is plenty, 1e5 runs for hours
            raise ConfigError(f"--steps {steps}: expected 1 to {MAX_STEPS}")
        if modules is not None and modules < 1:
            raise ConfigError(f"--modules {modules}: expected at least 1")
        dtypes = [choice(Precision, d, "--dtype") for d in dtype.split(",") if d.strip()]
        if not dtypes:
            raise ConfigError(f"--dtype {dtype!r}: give at least one of {', '.join(p.value for p in Precision)}")
        optimizer = choice(Optimizer, train, "--train") if train else None
        amp_prec = choice(Precision, amp, "--amp") if amp else None
        if amp_prec is not None and amp_prec not in (Precision.BF16, Precision.FP16):
            raise ConfigError(f"--amp {amp}: expected bf16 or fp16")
        alloc = choice(Allocator, allocator, "--allocator") if allocator else None
        plan: dict[str, Precision] = {}
        for item in keep or []:
            prec, sep, path = item.partition(":")
            if not sep or not path:
                raise ConfigError(f"--keep {item}: expected PRECISION:PATH, e.g. --keep fp32:load_balancer")
            plan[path] = choice(Precision, prec, "--keep")
        built = build(common.spec(config), device, seed)
        reports = plan_memory_sweep(built.model, built.args, built.kwargs, dtypes=dtypes, train=optimizer, keep=plan,
                                    steps=steps, amp=amp_prec, checkpoint=tuple(checkpoint or ()), allocator=alloc,
                                    device=device, seed=seed)
        if timeline is not None:
            write_atomic(timeline, render.memory_timeline_png(reports[0], built.spec.name))
        common.emit(render.MEMORY.of(render.MemoryView(built.spec.name, reports, modules)), config)
