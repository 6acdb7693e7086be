"""``paramscope groups``: parameter groups by name keywords, loud when a group matches nothing."""

from __future__ import annotations

from typing import Annotated

import typer

from paramscope.cli.common import stderr_console
from paramscope.cli.options import Common, with_common

GroupOpt = Annotated[list[str], typer.Option("--group", "-g", help="NAME=keyword1,keyword2: a group and its name keywords. Repeatable; the first matching group wins.")]
RestOpt = Annotated[str | None, typer.Option("--rest", help="Where unmatched parameters go: an existing group, a new group name, or 'ignore'. Default: a group 'unmatched'.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 1 if a group matches nothing, or (without --rest) a parameter matches no group.")]


@with_common
def groups(
    config: Annotated[str, typer.Argument(help="A config YAML, a preset name or a zoo family.")],
    group: GroupOpt,
    rest: RestOpt = None,
    strict: StrictOpt = False,
    *,
    common: Common,
) -> None:
    """Split parameters into groups by name keywords, as optimizer param groups are built.

    Each parameter (shared tensors once) joins the FIRST group one of whose keywords is a
    substring of its name. A group that matches nothing gets a warning; --strict turns it into exit 1.

    Example: paramscope groups titan_stream --set head=mean --group backbone=core,input_proj,q_proj,k_proj,v_proj --group head=memory,head,gate,persistent --strict
    """
    from paramscope.profiler.build import build
    from paramscope.profiler.errors import ConfigError
    from paramscope.cli.parse import parse_group
    from paramscope.profiler.groups import group_parameters
    from paramscope.profiler.render import groups as render

    with common.guarded(render.GROUPS, config, flags={"groups": "--group"}):
        parsed = [parse_group(item) for item in group]
        duplicate = next((n for i, (n, _) in enumerate(parsed) if n in dict(parsed[:i])), None)
        if duplicate is not None:
            raise ConfigError(f"--group {duplicate}: given twice; put all its keywords in one --group")
        built = build(common.spec(config), "meta")
        report = group_parameters(built.model, dict(parsed), rest)
        common.emit(render.GROUPS.of(render.GroupsView(built.spec.name, report)), config)
    for line in render.warning_lines(report):
        stderr_console().print(line, markup=False, soft_wrap=True, style="bold yellow" if line.startswith("warning") else None)
    if strict and not report.clean:
        raise typer.Exit(1)
