"""The ``paramscope`` command. Thin: parse options, call the library, render, exit code.

Nothing here imports torch at module level, so ``paramscope --help`` answers instantly.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from paramscope.cli.audit import audit
from paramscope.cli.breakdown import breakdown
from paramscope.cli.calibrate import calibrate
from paramscope.cli.check import check
from paramscope.cli.diff import diff
from paramscope.cli.groups import groups
from paramscope.cli.memory import memory
from paramscope.cli.steps import steps
from paramscope.cli.whatif import whatif
from paramscope.cli.zoo import zoo_app



class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value outside a choice) as one ``error:`` line, exit 2."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        call = {"args": args, "prog_name": prog_name, "complete_var": complete_var, "standalone_mode": False,
                "windows_expand_args": windows_expand_args, **extra}
        if not standalone_mode:
            return super().main(**call)
        try:
            rv = super().main(**call)
        except typer.Abort:
            print("Aborted!", file=sys.stderr)
            sys.exit(1)
        except Exception as e:  # click's ClickException (vendored as typer._click by recent typer)
            if not (hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int)):
                raise
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `paramscope`: the help
                e.show()  # type: ignore[attr-defined]
            else:
                message = ' '.join(e.format_message().replace("Value error, ", "").split())
                print(f"error: {message}", file=sys.stderr)
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        sys.exit(rv if isinstance(rv, int) else 0)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            _given_once(ctx, cmd, rest)
        return name, cmd, rest


def _given_once(ctx: Any, cmd: Any, args: list[str]) -> None:
    """Refuse a single-valued option given twice (click would keep the last one silently)."""
    args = args[:args.index("--")] if "--" in args else args
    typed = [a.split("=", 1)[0] for a in args if a.startswith("-")]
    for param in getattr(cmd, "params", ()):
        if param.param_type_name != "option" or param.multiple or getattr(param, "count", False):
            continue
        names = {*param.opts, *param.secondary_opts}
        seen = [a for a in typed if a in names]
        if len(seen) > 1:
            raise typer.BadParameter(f"given {len(seen)} times ({', '.join(seen)}); give it once", ctx=ctx,
                                     param_hint=f"'{param.opts[0]}'")


def _version(value: bool) -> None:
    if value:
        from paramscope import __version__

        print(f"paramscope {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="paramscope",
    cls=OneLineErrors,
    help=(
        "Where the parameters, MACs/FLOPs, latency and memory of a PyTorch model go, per submodule.\n\n"
        "Models come from a YAML config, a zoo preset (paramscope zoo list) or any factory "
        "(target: \"pkg.module:factory\"). Built on the meta device by default: no weights are allocated."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version, help="Print the version and exit.")] = False,
) -> None:
    from paramscope.cli.boundary import fail
    from paramscope.cli.common import columns_env
    from paramscope.profiler.errors import OutputError

    try:  # a COLUMNS that is not a width is refused before any work, not after it
        columns_env()
    except OutputError as e:
        fail(str(e))


app.command("breakdown")(breakdown)
app.command("whatif")(whatif)
app.command("audit")(audit)
app.command("memory")(memory)
app.command("check")(check)
app.command("diff")(diff)
app.command("groups")(groups)
app.command("steps")(steps)
app.command("calibrate")(calibrate)
app.add_typer(zoo_app, name="zoo")


def main() -> None:
    """Console-script entry point."""
    _hold_closed_stdout()
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before a command's guard (while importing torch)
        from paramscope.cli.boundary import fail

        fail("interrupted (Ctrl-C)", 130)


def _hold_closed_stdout() -> None:
    """Started with stdout closed (``>&-``): keep fd 1 taken by /dev/null, so no file paramscope
    or the user's code opens lands on it, and make output to stdout a one-line error."""
    import os

    from paramscope.cli.boundary import mark_stdout_closed

    try:
        os.fstat(1)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
        mark_stdout_closed()


if __name__ == "__main__":
    main()
