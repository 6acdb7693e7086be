"""Pure formatting helpers shared by every renderer (no rich import here)."""

from __future__ import annotations

__all__ = ["fmt_int", "fmt_pct", "fmt_intensity", "fmt_ms", "human", "human_bytes", "indent_path"]


def fmt_int(n: int | None) -> str:
    """``1234567`` -> ``1,234,567``; None -> ``-`` (not measured)."""
    return "-" if n is None else f"{n:,}"


def fmt_pct(part: int | None, whole: int | None, digits: int = 1) -> str:
    """Share of ``whole`` in percent, or ``-`` when either is unknown or whole is 0."""
    if part is None or not whole:
        return "-"
    return f"{100.0 * part / whole:.{digits}f}%"


def fmt_intensity(x: float | None) -> str:
    """FLOPs per byte, two significant decimals (``0.52``, ``85.3``); ``-`` when unknown."""
    return "-" if x is None else f"{x:.3g}"


def fmt_ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def human(n: int | float | None, unit: str = "") -> str:
    """``53150220288`` -> ``53.15 G`` (decimal prefixes, as MAC/FLOP counts are usually given)."""
    if n is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}{unit}"
    return f"{n:g} {unit}".rstrip()


def human_bytes(n: int | None) -> str:
    """Bytes in decimal units (``3.32 GB``), as rich.filesize.decimal does."""
    if n is None:
        return "-"
    for factor, prefix in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}"
    return f"{n} B"


def indent_path(path: str, depth: int) -> str:
    """The full dotted path, indented two spaces per level below the top."""
    return "  " * max(depth - 1, 0) + (path or "(total)")
