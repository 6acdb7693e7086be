"""What every command shares: option types, the error guard, output writing."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from paramscope.profiler.backends.interface import Backend
from paramscope.profiler.choices import Device
from paramscope.profiler.errors import ArgumentError, OutputError, ParamscopeError
from paramscope.profiler.render.formats import Format, Kind, Report

__all__ = [
    "OutputFormat", "FlopsChoice", "Device", "DebugOpt", "SetOpt", "DeviceOpt", "FlopsOpt", "FormatOpt", "OutputOpt",
    "fail", "guarded", "check_writable", "write_atomic", "emit", "need_format", "show",
    "stderr_console", "columns_env",
]

OutputFormat = Format
"""The ``--format`` choices (the registry's ``Format``)."""


class FlopsChoice(StrEnum):
    """``--flops``: a counting ``Backend``, or none (parameters only)."""

    TORCH = Backend.TORCH.value
    FVCORE = Backend.FVCORE.value
    THOP = Backend.THOP.value
    NONE = "none"

    @property
    def backend(self) -> Backend | None:
        return None if self is FlopsChoice.NONE else Backend(self.value)


DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key, e.g. --set pred_len=720 or --set slot_fuse.hidden=512. Repeatable."),
]
DeviceOpt = Annotated[Device, typer.Option("--device", "-d", help="meta (default: no weights allocated), cpu or cuda.")]
FlopsOpt = Annotated[FlopsChoice, typer.Option("--flops", help="MAC/FLOP backend: torch (default), fvcore, thop, or none.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (Rich), md, csv or json.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.")]


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


NATURAL_WIDTH = 1000
"""Width for output that goes to no terminal (a pipe, a file) and no ``COLUMNS``: tables at their natural size."""


def columns_env() -> int | None:
    """``COLUMNS`` when it is a usable width (20 or more); ``abc``, ``0`` or ``5`` are ignored."""
    raw = os.environ.get("COLUMNS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) >= 20 else None


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` as one stderr line and exit (2 = the user's input is wrong)."""
    # one line: a torch exception inside a forward can span many (--debug shows all of it)
    first = next((line.strip() for line in message.splitlines() if line.strip()), message)
    stderr_console().print(f"error: {first}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def guarded(debug: bool = False, flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn ``ParamscopeError`` into one line and exit code 2 (re-raised with ``--debug``).

    The library names the parameter an ``ArgumentError`` is about (``carry``, ``steps``); the
    message names the flag instead: ``flags[parameter]``, else ``--parameter``.
    """
    try:
        yield
    except ParamscopeError as e:
        if debug:
            raise
        if isinstance(e, ArgumentError):
            fail(e.worded((flags or {}).get(e.argument) or "--" + e.argument.replace("_", "-")))
        fail(str(e))


def check_writable(path: Path | None) -> None:
    """Fail before any work if ``path`` cannot be written (missing folder, no permission)."""
    if path is None:
        return
    parent = path.resolve().parent
    if path.is_dir():
        raise OutputError(f"--output {path}: is a directory")
    if not parent.is_dir():
        raise OutputError(f"--output {path}: folder {parent} does not exist")
    try:  # os.access says yes to root on /proc or a read-only mount: try it for real
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise OutputError(f"--output {path}: folder {parent} is not writable ({e.strerror or e})") from None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temporary file in the same folder and ``os.replace``: never half-written."""
    check_writable(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
        with os.fdopen(fd, mode, encoding=None if isinstance(data, bytes) else "utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise OutputError(f"--output {path}: cannot write: {e.strerror or e}") from None


def need_format(kind: Kind[Any], fmt: Format) -> None:
    """Refuse, before any work, a format the report kind does not declare (one line, exit 2)."""
    if fmt not in kind.formats:
        forms = ", ".join(f.value for f in kind.formats)
        fail(f"--format {fmt.value}: {kind.name} has no {fmt.value} form (it has {forms})")


def emit(report: Report[Any], fmt: Format, output: Path | None) -> None:
    """Render ``report`` in ``fmt`` to stdout or ``output``; a format it lacks is refused."""
    need_format(report.kind, fmt)
    show(report.render(fmt), output)


def show(content: Any, output: Path | None = None) -> None:
    """Print a Rich renderable or text to stdout, or write it to ``output`` (atomically).

    Tables fit the terminal without cutting a figure (``render.fit``); output for no terminal
    (a pipe, a file) has no trailing padding.
    """
    from paramscope.profiler.render.fit import fit

    if not isinstance(content, str | bytes):
        tty = output is None and sys.stdout.isatty()
        width = columns_env() or (shutil.get_terminal_size().columns if tty else NATURAL_WIDTH)
        console = Console(width=fit(content, width), highlight=False, color_system="auto" if tty else None)
        if tty:
            console.print(content)
            return
        with console.capture() as captured:
            console.print(content)
        content = "".join(line.rstrip() + "\n" for line in captured.get().splitlines())
    if output is not None:
        write_atomic(output, content)
        stderr_console().print(f"wrote {output}", markup=False)
        return
    if isinstance(content, bytes):
        sys.stdout.buffer.write(content)
    else:
        sys.stdout.write(content)
    sys.stdout.flush()
