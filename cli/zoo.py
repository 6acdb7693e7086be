"""``paramscope zoo list|show``: the seed families, their presets and knobs."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import DebugOpt, FormatOpt, OutputFormat, OutputOpt, emit, guarded, need_format

zoo_app = typer.Typer(help="The model zoo: families from the research notes, presets and knobs.", no_args_is_help=True)


@zoo_app.command("list")
def zoo_list(fmt: FormatOpt = OutputFormat.TABLE, output: OutputOpt = None, debug: DebugOpt = False) -> None:
    """List zoo families and presets (answers without importing torch).

    Example: paramscope zoo list
    """
    from paramscope.profiler.render.zoo import ZOO_LIST
    from paramscope.profiler.zoo_info import preset_infos

    with guarded(debug):
        emit(ZOO_LIST.of(preset_infos()), fmt, output)


@zoo_app.command("show")
def zoo_show(
    name: Annotated[str, typer.Argument(help="A family (rg_output) or preset (rg_output_etth1) name.")],
    fmt: FormatOpt = OutputFormat.TABLE,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Show a family's knobs, its builder defaults and its presets.

    Example: paramscope zoo show rg_output
    """
    from paramscope.profiler.render.zoo import ZOO_SHOW
    from paramscope.profiler.zoo_info import family_details

    need_format(ZOO_SHOW, fmt)
    with guarded(debug):
        emit(ZOO_SHOW.of(family_details(name)), fmt, output)
