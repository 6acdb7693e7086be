"""``paramscope steps``: does the autograd graph grow from step to step of a streaming model?"""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import Device, DeviceOpt, SeedOpt
from paramscope.cli.options import Common, with_common

CarryOpt = Annotated[list[str] | None, typer.Option("--carry", "-c", help="OUTPUT_PATH=KEYWORD: feed this output back as this forward keyword, e.g. 1.updated_memory=memory (tuple index, then dict key). Repeatable or comma-separated. Default: the zoo family's carry (paramscope zoo show NAME).")]


@with_common
def steps(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    n_steps: Annotated[int, typer.Option("--steps", "-n", help="Forward passes to run (at least 3).")] = 6,
    carry: CarryOpt = None,
    detach: Annotated[bool, typer.Option("--detach", help="Also rerun with the carried values .detach()-ed (the fix).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if the graph grows from step to step.")] = False,
    device: DeviceOpt = Device.META,
    seed: SeedOpt = 0,
    *,
    common: Common,
) -> None:
    """Check whether a stateful model's autograd graph grows from step to step.

    Runs the forward --steps times in train mode, feeding the --carry outputs back as keyword
    inputs, and counts the autograd nodes reachable from each step's outputs. A carried tensor
    that is not detached drags every earlier step's graph along: the count grows every step.

    Example: paramscope steps titan_stream --steps 6 --detach
    """
    from paramscope.cli.progress import progress
    from paramscope.profiler.build import build
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.render import steps as render
    from paramscope.model_zoo import registry
    from paramscope.cli.parse import parse_carry
    from paramscope.profiler.steps import trace_steps

    with common.guarded(render.STEPS, config):
        spec = common.spec(config)
        family = registry.get_family(spec.family) if spec.family else None
        if not carry and not (family and family.carry):
            with_carry = ", ".join(f.name for f in registry.FAMILIES if f.carry)
            raise ConfigError(f"--carry: missing for {spec.name}; name the outputs fed back to the next step, "
                              f"e.g. --carry 1.state=state (defaults exist for: {with_carry})")
        links = parse_carry(carry) if carry else dict(family.carry if family else ())
        built = build(spec, device, seed)
        reports = []
        for d in (False, True) if detach else (False,):
            with progress("steps" + (" (detached)" if d else ""), n_steps, min_total=50) as report:
                reports.append(trace_steps(built.model, built.args, built.kwargs, links, n_steps, detach=d,
                                           output_names=family.outputs if family else (), progress=report))
        common.emit(render.STEPS.of(render.StepsView(spec.name, reports)), config)
    if strict and reports[0].grows:
        raise typer.Exit(1)
