"""The ``paramscope`` command. Thin: parse options, call the library, render, exit code.

Nothing here imports torch at module level, so ``paramscope --help`` answers instantly.
"""

from __future__ import annotations

import typer

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

app = typer.Typer(
    name="paramscope",
    help=(
        "Where the parameters, MACs/FLOPs, latency and memory of a PyTorch model go, per submodule.\n\n"
        "Models come from a YAML config, a zoo preset (paramscope zoo list) or any factory "
        "(target: \"pkg.module:factory\"). Built on the meta device by default: no weights are allocated."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
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
