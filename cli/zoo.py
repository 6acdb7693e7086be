"""``paramscope zoo list|show``: the seed families, their presets and knobs."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import DebugOpt, emit, guarded

zoo_app = typer.Typer(help="The model zoo: families from the research notes, presets and knobs.", no_args_is_help=True)


@zoo_app.command("list")
def zoo_list() -> None:
    """List zoo families and presets (answers without importing torch).

    Example: paramscope zoo list
    """
    from paramscope.profiler.render.zoo import zoo_list_table
    from paramscope.profiler.zoo_info import preset_infos

    emit(zoo_list_table(preset_infos()), None)


@zoo_app.command("show")
def zoo_show(
    name: Annotated[str, typer.Argument(help="A family (rg_output) or preset (rg_output_etth1) name.")],
    debug: DebugOpt = False,
) -> None:
    """Show a family's knobs, its builder defaults and its presets.

    Example: paramscope zoo show rg_output
    """
    from paramscope.profiler.render.zoo import zoo_show_renderables
    from paramscope.profiler.zoo_info import family_details

    with guarded(debug):
        for renderable in zoo_show_renderables(family_details(name)):
            emit(renderable, None)
