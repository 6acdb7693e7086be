"""The one format registry: every report kind declares ``{format: renderer}``, nothing else chooses.

A report kind is a ``Kind``: its name, its table/md/csv renderers and the function that turns
its data into the JSON document. ``Kind.of(data)`` binds data to it (a ``Report``), and the
command line's ``emit(report, fmt, output)`` renders it or refuses a format the kind does not
declare. JSON is written in one place, ``json_text``.

Adding a format: a member of ``Format`` and, per kind that can honour it, one renderer here.
Adding a report: one ``Kind(...)`` beside its renderers in ``profiler/render/<report>.py``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from rich.console import RenderableType

__all__ = ["Format", "Kind", "Report", "Rendered", "csv_text", "json_text"]

R = TypeVar("R")

Rendered = str | RenderableType
"""Text (markdown, csv, json: written as is) or a Rich renderable (the table format)."""


class Format(StrEnum):
    """The output formats (``--format``)."""

    TABLE = "table"
    MD = "md"
    CSV = "csv"
    JSON = "json"


def json_text(doc: Mapping[str, Any]) -> str:
    """The JSON document as written: two-space indent, exact integers, a final newline."""
    return json.dumps(doc, indent=2) + "\n"


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """CSV of ``rows`` (the header first): ``None`` is an empty cell, integers stay exact."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows([["" if c is None else c for c in row] for row in rows])
    return buf.getvalue()


@dataclass(frozen=True)
class Kind(Generic[R]):
    """A report kind: its name and a renderer per format it can honour."""

    name: str
    """As the user knows it (the command name: ``breakdown``, ``memory``...)."""
    table: Callable[[R], RenderableType] | None = None
    md: Callable[[R], str] | None = None
    csv: Callable[[R], str] | None = None
    to_dict: Callable[[R], Mapping[str, Any]] | None = None
    """The JSON document (with its ``schema`` key); written by ``json_text``."""
    renderers: Mapping[Format, Callable[[R], Rendered]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        to_dict = self.to_dict
        found: dict[Format, Callable[[R], Rendered] | None] = {
            Format.TABLE: self.table, Format.MD: self.md, Format.CSV: self.csv,
            Format.JSON: None if to_dict is None else (lambda data: json_text(to_dict(data))),
        }
        object.__setattr__(self, "renderers", {f: r for f, r in found.items() if r is not None})

    @property
    def formats(self) -> tuple[Format, ...]:
        """The formats this kind can honour, in ``Format`` order."""
        return tuple(self.renderers)

    def of(self, data: R) -> Report[R]:
        return Report(self, data)


@dataclass(frozen=True)
class Report(Generic[R]):
    """Data bound to its kind, ready to render in any format the kind declares."""

    kind: Kind[R]
    data: R

    @property
    def formats(self) -> tuple[Format, ...]:
        return self.kind.formats

    def render(self, fmt: Format) -> Rendered:
        """The report in ``fmt``; ``ValueError`` when the kind has no such format."""
        renderer = self.kind.renderers.get(fmt)
        if renderer is None:
            raise ValueError(f"{self.kind.name} has no {fmt.value} form")
        return renderer(self.data)
