"""The options every model command shares, declared once.

``@with_common`` replaces a command's ``common: Common`` parameter with ``--format``, ``--output``,
``--set``, ``--input``, ``--arg``, ``--timeout`` and ``--debug`` (in that order, after the
command's own options), and hands them to the command as one ``Common``: a new shared option
is one field here and one line in ``_OPTIONS``, not an edit of every command.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from paramscope.cli.common import (
    DebugOpt, FormatOpt, OutputFormat, OutputOpt, SetOpt, TimeoutOpt, check_writable, emit, guarded, need_format,
)
from paramscope.cli.entry import ArgOpt, InputOpt

if TYPE_CHECKING:
    from paramscope.profiler.render.formats import Kind, Report
    from paramscope.profiler.spec import ModelSpec

__all__ = ["Common", "with_common"]

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Common:
    """What the shared options said, and the steps every command takes with them."""

    fmt: OutputFormat = OutputFormat.TABLE
    output: Path | None = None
    sets: Sequence[str] | None = None
    inputs: Sequence[str] | None = None
    fargs: Sequence[str] | None = None
    timeout: float | None = None
    debug: bool = False

    @contextmanager
    def guarded(self, kind: Kind[Any], config: str, flags: dict[str, str] | None = None) -> Iterator[None]:
        """Refuse a format ``kind`` lacks, then run the command's work under the boundary
        (one error line, ``--timeout``) with ``--output`` checked before any work."""
        need_format(kind, self.fmt)
        with guarded(self.debug, self.timeout, flags=flags):
            check_writable(self.output, config)
            yield

    def spec(self, config: str, extra: Sequence[tuple[str, Any]] = ()) -> ModelSpec:
        """``config`` with ``--set`` (then ``extra``), ``--input`` and ``--arg`` applied."""
        from paramscope.cli.boundary import about
        from paramscope.cli.entry import entry_sets
        from paramscope.cli.parse import SET_ORIGIN, parse_sets
        from paramscope.profiler.spec import load_spec

        sets = [*parse_sets(list(self.sets or [])), *extra, *entry_sets(list(self.inputs or []), list(self.fargs or []))]
        return about(load_spec(config, sets, origin=SET_ORIGIN))

    def emit(self, report: Report[Any], config: str) -> None:
        """The report in ``--format`` to stdout or ``--output`` (never over ``config``)."""
        emit(report, self.fmt, self.output, config)


_OPTIONS: dict[str, Any] = {
    "fmt": FormatOpt, "output": OutputOpt, "sets": SetOpt, "inputs": InputOpt, "fargs": ArgOpt,
    "timeout": TimeoutOpt, "debug": DebugOpt,
}
"""The Typer declaration of each ``Common`` field (the defaults are the dataclass's)."""


def _parameters() -> list[inspect.Parameter]:
    return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=_OPTIONS[f.name])
            for f in fields(Common)]


def with_common(func: _F) -> _F:
    """Give ``func`` (which takes ``common: Common``) the shared options in place of ``common``."""
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "common"]
    names = [f.name for f in fields(Common)]

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        common = Common(**{n: kwargs.pop(n) for n in names if n in kwargs})
        return func(*args, **kwargs, common=common)

    command.__signature__ = sig.replace(parameters=[*own, *_parameters()])  # type: ignore[attr-defined]
    return command  # type: ignore[return-value]
