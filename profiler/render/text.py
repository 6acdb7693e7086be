"""Text made safe to print: control characters escaped, markdown table cells escaped (no rich here)."""

from __future__ import annotations

import re

from paramscope.profiler.stats import Assumption

__all__ = ["assumed_line", "clean", "md_cell", "md_row"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clean(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\n``, ``\\x1b``): one line, no terminal codes.

    Module names come from user code (``add_module`` accepts any string); a newline or an escape
    sequence in one must not break a table or drive the terminal.
    """
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def md_cell(text: str) -> str:
    """A markdown table cell: control characters escaped, ``|`` escaped so the row keeps its columns."""
    return clean(text).replace("|", "\\|")


def md_row(cells: list[str]) -> str:
    """``| a | b |`` with every cell escaped."""
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"


def assumed_line(a: Assumption) -> str:
    """``assumed: aten::topk in layers.*.gate (model.py:99) x2: ...; read by ...`` (one meta assumption)."""
    line = f" ({a.line})" if a.line else ""
    times = f" x{a.count}" if a.count > 1 else ""
    read = f"; read by {', '.join(a.read_by)}" if a.read_by else ""
    return f"assumed: {a.op} in {a.where or '(root)'}{line}{times}: {a.assumed}{read}"
