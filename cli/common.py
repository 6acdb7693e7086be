"""What every command shares: option types, the error guard, output writing."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from paramscope.cli.boundary import fail, guarded, real_stdout, stdout_errors, write_stdout
from paramscope.profiler.backends.interface import Backend
from paramscope.profiler.choices import Device
from paramscope.profiler.errors import OutputError
from paramscope.profiler.render.formats import Format, Kind, Report

__all__ = [
    "OutputFormat", "FlopsChoice", "Device", "DebugOpt", "SetOpt", "DeviceOpt", "SeedOpt", "FlopsOpt", "FormatOpt",
    "OutputOpt", "fail", "guarded", "TimeoutOpt", "check_writable", "write_atomic", "emit", "need_format", "show",
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
SeedOpt = Annotated[int, typer.Option("--seed", help="Seeds example inputs, cpu weights and what a meta forward must assume "
                                      "(MoE routing, `if tensor:`); the assumptions are listed under the table.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (Rich), md, csv or json.")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", help="Give up (one error line, exit 2) when building and measuring takes longer than this many seconds.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.")]


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


NATURAL_WIDTH = 1000
"""Width for output that goes to no terminal (a pipe, a file) and no ``COLUMNS``: tables at their natural size."""


def columns_env() -> int | None:
    """``COLUMNS`` as a width, None when unset or empty.

    Raises:
        OutputError: ``COLUMNS`` is not a whole number from 20 to 100000 (``abc``, ``0``, ``5``).
    """
    raw = os.environ.get("COLUMNS", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 20 <= int(raw) <= 100_000:
        raise OutputError(f"COLUMNS={raw[:20]}: not a terminal width (a whole number from 20 to 100000); "
                          "unset it to let paramscope ask the terminal")
    return int(raw)


class _StdoutConsole(Console):
    def on_broken_pipe(self) -> None:
        # rich would point *sys.stdout*'s fd (stderr while a command runs) at /dev/null and exit 1;
        # the boundary's stdout_errors() decides instead (a reader that left is not an error)
        raise BrokenPipeError


def check_writable(path: Path | None, *inputs: str | Path | None) -> None:
    """Fail before any work if ``path`` cannot or must not be written.

    Refused: a missing or unwritable folder, a directory, a special file (device, FIFO, socket),
    and any of ``inputs`` (the config, the ``--plot`` file) under any name, symlinks followed.
    """
    if path is None:
        return
    real = path.resolve()
    if real.is_dir():
        raise OutputError(f"--output {path}: is a directory")
    if real.exists() and not real.is_file():
        raise OutputError(f"--output {path}: not a regular file (a device, FIFO or socket); write to a file")
    for other in inputs:
        if other is not None and Path(other).exists() and Path(other).resolve() == real:
            raise OutputError(f"--output {path}: is also an input ({other}); write somewhere else")
    parent = real.parent
    if not parent.is_dir():
        raise OutputError(f"--output {path}: folder {parent} does not exist")
    try:  # os.access says yes to root on /proc or a read-only mount: try it for real
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise OutputError(f"--output {path}: folder {parent} is not writable ({e.strerror or e})") from None


def _new_file_mode(real: Path) -> int:
    """The existing file's permissions, or what ``open()`` would give a new file under the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(real.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, data: str | bytes, *inputs: str | Path | None) -> None:
    """Write via a temporary file in the same folder and ``os.replace``: never half-written.

    A symlink is followed (the file it points to is replaced, the link stays); the file keeps
    its permissions; Ctrl-C or any error removes the temporary file.
    """
    check_writable(path, *inputs)
    real = path.resolve()
    mode = "wb" if isinstance(data, bytes) else "w"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", dir=real.parent)
        os.fchmod(fd, _new_file_mode(real))
        with os.fdopen(fd, mode, encoding=None if isinstance(data, bytes) else "utf-8") as f:
            f.write(data)
        os.replace(tmp, real)
        tmp = None
    except OSError as e:
        raise OutputError(f"--output {path}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def need_format(kind: Kind[Any], fmt: Format) -> None:
    """Refuse, before any work, a format the report kind does not declare (one line, exit 2)."""
    if fmt not in kind.formats:
        forms = ", ".join(f.value for f in kind.formats)
        fail(f"--format {fmt.value}: {kind.name} has no {fmt.value} form (it has {forms})")


def emit(report: Report[Any], fmt: Format, output: Path | None, *inputs: str | Path | None) -> None:
    """Render ``report`` in ``fmt`` to stdout or ``output``; a format it lacks is refused.

    ``inputs`` (the config, the ``--plot`` file) are never overwritten by ``output``.
    """
    need_format(report.kind, fmt)
    show(report.render(fmt), output, *inputs)


def show(content: Any, output: Path | None = None, *inputs: str | Path | None) -> None:
    """Print a Rich renderable or text to stdout, or write it to ``output`` (atomically).

    Tables fit the terminal without cutting a figure (``render.fit``); output for no terminal
    (a pipe, a file) has no trailing padding.
    """
    from paramscope.profiler.render.fit import fit, fitted_text

    if not isinstance(content, str | bytes):
        stream = real_stdout()
        tty = output is None and stream is not None and stream.isatty()
        width = columns_env() or (shutil.get_terminal_size().columns if tty else NATURAL_WIDTH)
        if tty:
            with stdout_errors():
                _StdoutConsole(file=stream, width=fit(content, width), highlight=False).print(content)
            return
        content = fitted_text(content, width)
    if output is not None:
        write_atomic(output, content, *inputs)
        stderr_console().print(f"wrote {output}", markup=False)
        return
    if isinstance(content, bytes):
        with stdout_errors():
            stream = real_stdout()
            assert stream is not None
            stream_any: Any = stream  # a text stream over a binary buffer (sys.stdout)
            stream_any.buffer.write(content)
            stream.flush()
        return
    write_stdout(content)
