"""``paramscope breakdown``: parameters (and MACs) per submodule."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import (
    DebugOpt, DeviceOpt, FormatOpt, OutputFormat, OutputOpt, SetOpt, check_writable, emit, guarded,
)


def breakdown(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name (rg_output_etth1) or a zoo family.")],
    depth: Annotated[int, typer.Option("--depth", help="Show submodules down to this depth (1 = top level).")] = 2,
    top: Annotated[int | None, typer.Option("--top", help="Show only the N largest rows.")] = None,
    sort: Annotated[str, typer.Option("--sort", help="tree (default), params, macs or name.")] = "tree",
    device: DeviceOpt = "meta",
    flops: Annotated[str, typer.Option("--flops", help="MAC/FLOP backend: torch (default), fvcore, thop, or none.")] = "torch",
    backward: Annotated[bool, typer.Option("--backward", help="Also count the backward pass (torch backend).")] = False,
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    sets: SetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Break a model's parameters and MACs/FLOPs down by submodule.

    Builds on the meta device (no weights allocated) and runs one real forward pass with the
    model's example inputs to count MACs.

    Example: paramscope breakdown rg_output_etth1 --set pred_len=720 --depth 1
    """
    from paramscope.profiler.pipeline import measure
    from paramscope.profiler.render import table as render
    from paramscope.profiler.spec import load_spec

    with guarded(debug):
        if sort not in ("tree", "params", "macs", "name"):
            raise _bad(f"--sort {sort}: expected tree, params, macs or name")
        check_writable(output)
        spec = load_spec(config, sets or [])
        prof = measure(spec, device=device, flops=None if flops == "none" else flops, backward=backward)
        rows = render.select_rows(prof, depth=depth, top=top, sort=sort)  # type: ignore[arg-type]
        if fmt is OutputFormat.JSON:
            emit(render.breakdown_json(prof), output)
        elif fmt is OutputFormat.MD:
            emit(render.breakdown_markdown(prof, rows), output)
        elif fmt is OutputFormat.CSV:
            emit(render.breakdown_csv(prof, rows), output)
        else:
            emit(render.breakdown_table(prof, rows), output)


def _bad(message: str) -> Exception:
    from paramscope.profiler.errors import ConfigError

    return ConfigError(message)
