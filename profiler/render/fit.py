"""Tables that fit a terminal: a figure is never cut; optional columns drop, then names wrap.

Rich shrinks every column evenly when a table is too wide, so ``10,371,074`` becomes ``10,37…``.
``fit(renderable, width)`` sets the widths itself before Rich renders: right-aligned columns
(the figures) keep their full width, the columns a renderer declared ``droppable`` go first
(least useful first), then the left-aligned columns (names, types, reasons) fold. When even that
is too wide, it returns the width the table needs: the caller prints at that width (the terminal
wraps the line) rather than cut a number.
"""

from __future__ import annotations

from collections.abc import Iterator
from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

__all__ = ["droppable", "fit", "fitted_text"]

_DROP: WeakKeyDictionary[Table, tuple[str, ...]] = WeakKeyDictionary()
TEXT_MIN = 12
"""A text column folds down to this width, no further (shorter texts keep theirs)."""
NAME_MIN = 20
"""The same for the first column (the module names): it is the last to fold."""


def droppable(table: Table, *headers: str) -> Table:
    """Declare the columns ``fit`` may drop from ``table`` when it is too wide, first to go first."""
    _DROP[table] = headers
    return table


def _plain(cell: object) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return ""


def _widest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _widest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _needs(column: Column, first: bool) -> tuple[int, int]:
    """(smallest, natural) content width of a column: a figure column cannot shrink at all."""
    natural = max([_widest_line(_plain(c)) for c in column._cells] + [_widest_line(_plain(column.header))])
    if column.justify == "right":
        full = max([_widest_line(_plain(c)) for c in column._cells] + [_widest_word(_plain(column.header))])
        return full, natural
    return min(natural, NAME_MIN if first else TEXT_MIN), natural


def _all_needs(table: Table) -> list[tuple[int, int]]:
    return [_needs(c, i == 0) for i, c in enumerate(table.columns)]


def _tables(renderable: RenderableType) -> Iterator[Table]:
    if isinstance(renderable, Table):
        yield renderable
    elif isinstance(renderable, Group):
        for part in renderable.renderables:
            yield from _tables(part)


def _drop(table: Table, header: str) -> None:
    table.columns[:] = [c for c in table.columns if _plain(c.header) != header]
    for i, c in enumerate(table.columns):
        c._index = i


def _overhead(table: Table) -> int:
    return table._extra_width + sum(table._get_padding_width(i) for i in range(len(table.columns)))


def fit_table(table: Table, width: int) -> int:
    """Fit ``table`` into ``width`` columns (see the module docstring); the width it needs."""
    if table.width is not None or not table.columns:
        return width
    if sum(hi for _, hi in _all_needs(table)) + _overhead(table) <= width:
        return width  # fits as it is
    for header in _DROP.get(table, ()):
        if sum(lo for lo, _ in _all_needs(table)) + _overhead(table) <= width:
            break
        _drop(table, header)
    needs = _all_needs(table)
    widths = [lo for lo, _ in needs]
    room = width - _overhead(table) - sum(widths)
    # the room left goes to the names first, then to the other text columns, the smallest wish first
    for i in [0, *sorted(range(1, len(needs)), key=lambda i: needs[i][1] - needs[i][0])]:
        grant = min(needs[i][1] - widths[i], max(room, 0))
        widths[i] += grant
        room -= grant
    for column, w in zip(table.columns, widths, strict=True):
        column.width = w
        if column.justify != "right":
            column.no_wrap = False
            column.overflow = "fold"
    return max(width, sum(widths) + _overhead(table))


def fit(renderable: RenderableType, width: int) -> int:
    """Fit every table in ``renderable`` into ``width``; the width to print at (more when one cannot fit)."""
    return max([width, *(fit_table(t, width) for t in _tables(renderable))])


def fitted_text(renderable: RenderableType, width: int) -> str:
    """``renderable`` as plain text fitted into ``width`` (see ``fit``), lines without trailing padding."""
    console = Console(width=fit(renderable, width), color_system=None, highlight=False)
    with console.capture() as captured:
        console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in captured.get().splitlines())
