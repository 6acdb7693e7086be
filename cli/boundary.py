"""The line between paramscope and the code it runs: errors, stdout, time.

Every command runs its work inside ``guarded(debug, timeout)``:

- any exception that escapes (a ``ParamscopeError`` from a bad input, or anything user code
  raised: ``KeyError``, ``MemoryError``, ``SystemExit`` from a factory, Ctrl-C) becomes one
  ``error:`` line with its type, exit code 2 (130 for Ctrl-C); ``--debug`` prints the traceback
  first and keeps the exit code;
- ``sys.stdout`` points at stderr while the work runs, so a ``print`` in a user's module,
  factory or forward cannot corrupt ``--format json``; results go to ``real_stdout()``;
- ``--timeout``: ``profiler.deadline.expires`` (SIGALRM in the main thread; a watchdog thread
  ends the process with the same one line if a C call does not return within a grace period);
  ``whatif`` gives the limit to each configuration instead (``deadline.timed``: a failed row).

Writing to stdout: a reader that went away (``| head``, ``| true``) is not an error: the rest
of the output is dropped and the exit code stays what the command decided; a full or closed
stdout is one line and exit 2.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from typing import IO, Any, NoReturn, TypeVar

import typer

from paramscope.profiler.deadline import GRACE_SECONDS, Expired, expires
from paramscope.profiler.errors import ParamscopeError
from paramscope.profiler.render.text import clean as escape_controls

__all__ = [
    "escape_controls", "one_line", "fail", "guarded", "real_stdout", "stdout_errors", "write_stdout",
    "mark_stdout_closed", "about", "GRACE_SECONDS", "check_timeout", "hard_stop", "timeout_line",
]

_state: dict[str, Any] = {"stdout": None, "closed": False, "gone": False, "source": None, "spec": None}
_T = TypeVar("_T")


def one_line(message: str) -> str:
    """The first non-empty line of ``message``, control characters escaped."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), message.strip())
    return escape_controls(first)


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` as one stderr line and exit (2 = the input or the user's code is wrong)."""
    _stderr_line(f"error: {one_line(message)}")
    raise typer.Exit(code)


def about(spec: _T) -> _T:
    """Note the spec a command works on: an error in its forward names its config file."""
    _state["source"] = getattr(spec, "source", None)
    _state["spec"] = spec
    return spec


def _forward_message(e: BaseException) -> str:
    """``config.yaml: forward failed in module 'enc.0': RuntimeError: ...`` (file, module, type)."""
    import re

    text = one_line(str(e))
    cause = e.__cause__ or e.__context__
    while isinstance(cause, ParamscopeError):  # the user's exception under paramscope's wrappers
        cause = cause.__cause__ or cause.__context__
    m = re.match(r"forward failed in '([^']*)'( at step \d+)?:\s*(.*)$", text)
    if m:
        where = (f"module '{m.group(1)}'" if m.group(1) else "the model's top-level forward") + (m.group(2) or "")
        detail = m.group(3)
        if cause is not None and not detail.startswith(type(cause).__name__):
            detail = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
        text = f"forward failed in {where}: {detail}"
    source = _state["source"]
    return f"{source}: {text}" if source and not text.startswith(str(source)) else text


def _describe(e: BaseException, flags: Mapping[str, str] | None = None) -> tuple[str, int]:
    from paramscope.profiler.errors import ArgumentError, ForwardFailed

    if isinstance(e, ArgumentError):  # the library names its parameter; the user typed a flag
        return e.worded((flags or {}).get(e.argument) or "--" + e.argument.replace("_", "-")), 2
    from paramscope.profiler.errors import DoesNotFit, IndexDtype, MetaUnsupported, TimedOut

    if isinstance(e, DoesNotFit):
        return e.worded("use --device meta"), 2
    if isinstance(e, IndexDtype):
        return _forward_message(e) + _integer_hint(), 2

    if isinstance(e, ForwardFailed):  # an op meta cannot run: cpu has the real kernel (and torch's precise message)
        return _forward_message(e) + ("; it may run with --device cpu" if isinstance(e, MetaUnsupported) else ""), 2
    if isinstance(e, TimedOut):  # a configuration that had --timeout seconds (whatif's base design)
        return f"{e} (--timeout)", 2
    if isinstance(e, ParamscopeError):
        return str(e), 2
    if isinstance(e, Expired):
        return timeout_line(e.seconds), 2
    if isinstance(e, KeyboardInterrupt):
        return "interrupted (Ctrl-C)", 130
    if isinstance(e, SystemExit):
        return f"the model's code called sys.exit({e.code!r}); paramscope stopped there", 2
    text = one_line(str(e))
    source = f"{_state['source']}: " if _state["source"] else ""  # user code raised it outside a wrapper
    return source + (f"{type(e).__name__}: {text}" if text else type(e).__name__), 2


def _integer_hint() -> str:
    """``: input ids is float32; write --input ids=1x64:int64 ...``: the float example input named."""
    from paramscope.profiler.build import float_inputs

    spec = _state["spec"]
    floats = float_inputs(spec) if spec is not None and hasattr(spec, "inputs") else {}
    if not floats:
        return ""
    name, (shape, dtype) = next(iter(floats.items()))
    spelled = "x".join(str(d) for d in shape) or "SHAPE"
    return f": input {name} is {dtype}; write --input {name}={spelled}:int64 (in YAML: dtype: int64 under inputs.{name})"


def real_stdout() -> IO[str] | None:
    """Where command output goes (``sys.stdout`` as it was when the command started)."""
    if _state["closed"]:
        return None
    stream: IO[str] | None = _state["stdout"] or sys.stdout
    return stream


def mark_stdout_closed() -> None:
    """Called at start-up when file descriptor 1 was closed (``>&-``): output to stdout is an error."""
    _state["closed"] = True


def _silence_stdout(stream: Any) -> None:
    """Point fd 1 at /dev/null so later writes (and the interpreter's final flush) cannot fail."""
    _state["gone"] = True
    with contextlib.suppress(Exception):
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


@contextlib.contextmanager
def stdout_errors() -> Iterator[None]:
    """Around a write to stdout: a closed pipe ends output quietly; a full disk is an error."""
    from paramscope.profiler.errors import OutputError

    if real_stdout() is None:
        raise OutputError("stdout is closed; write to a file with --output FILE")
    if _state["gone"]:  # the reader left earlier: drop the rest
        with contextlib.suppress(OSError, ValueError):
            yield
        return
    stream = real_stdout()
    try:
        yield
    except BrokenPipeError:
        _silence_stdout(stream)
    except OSError as e:
        _silence_stdout(stream)
        raise OutputError(f"cannot write to stdout: {e.strerror or e}") from None


def write_stdout(text: str) -> None:
    """Write ``text`` to the command's stdout (see ``stdout_errors``)."""
    with stdout_errors():
        stream = real_stdout()
        assert stream is not None
        stream.write(text)
        stream.flush()


def timeout_line(seconds: float) -> str:
    """What a ``--timeout`` that ran out says."""
    return f"gave up after {seconds:g} s (--timeout): building or running the model did not finish"


def hard_stop(seconds: float) -> None:
    """The watchdog's end of a C call that never returned after ``--timeout``: the line, exit 2."""
    _stderr_line(f"error: {timeout_line(seconds)}")
    os._exit(2)


def check_timeout(seconds: float | None) -> None:
    """``--timeout`` must be a positive number of seconds."""
    from paramscope.profiler.errors import ConfigError

    if seconds is not None and (not seconds > 0 or seconds != seconds):
        raise ConfigError(f"--timeout {seconds}: expected a positive number of seconds")


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    check_timeout(seconds)
    if seconds is None:
        yield
        return
    with expires(seconds, functools.partial(hard_stop, seconds)):
        yield


@contextlib.contextmanager
def guarded(debug: bool = False, timeout: float | None = None, flags: Mapping[str, str] | None = None) -> Iterator[None]:
    """Run a command's work: user output to stderr, every escaping exception one line (see module doc).

    ``flags`` maps a library parameter an ``ArgumentError`` names (``carry``) to the flag the
    message should name instead (default ``--parameter``).
    """
    saved = sys.stdout
    _state["stdout"] = saved
    try:
        with contextlib.redirect_stdout(sys.stderr), _deadline(timeout):
            yield
    except (typer.Exit, typer.Abort):
        raise
    except BaseException as e:  # noqa: BLE001 - the boundary: nothing escapes as a traceback
        message, code = _describe(e, flags)
        if debug:
            traceback.print_exception(e, file=sys.stderr)
        fail(message, code)
    finally:
        _state["stdout"] = None
        _state["source"] = _state["spec"] = None
