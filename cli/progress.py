"""Progress on stderr for long runs: a live bar on a terminal, one line per 10% otherwise.

A sweep of hundreds of variants piped into a file or a CI log must not look hung: when stderr
is not a terminal, ``what if: 30% (38/125) rank=192, pred_len=96`` is printed each time another
tenth of the work is done.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from paramscope.cli.boundary import escape_controls

__all__ = ["Report", "progress"]

Report = Callable[[int, int, str], None]
"""``report(done, total, label)``."""


@contextlib.contextmanager
def progress(title: str, total: int, *, min_total: int = 3) -> Iterator[Report]:
    """A ``report(done, total, label)`` callback for ``total`` steps (silent below ``min_total``)."""
    if total < min_total:
        yield lambda done, n, label: None
        return
    if sys.stderr.isatty():
        from rich.progress import Progress

        from paramscope.cli.common import stderr_console

        with Progress(console=stderr_console(), transient=True) as bar:
            task = bar.add_task(title, total=total)

            def live(done: int, n: int, label: str) -> None:
                bar.update(task, completed=done, description=escape_controls(label))

            yield live
        return
    shown = [0]

    def lines(done: int, n: int, label: str) -> None:
        tenth = done * 10 // max(n, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            text = f"{title}: {tenth * 10}% ({done}/{n})" + (f" {escape_controls(label)}" if label and done < n else "")
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(text + "\n")
                sys.stderr.flush()

    yield lines
