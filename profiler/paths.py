"""Module paths (``named_modules()`` names) and the did-you-mean hint, each written once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["is_within", "parent_of", "within_any", "did_you_mean"]


def is_within(path: str, prefix: str) -> bool:
    """True when ``path`` is ``prefix`` or below it ("" is the root and contains everything)."""
    return prefix == "" or path == prefix or path.startswith(prefix + ".")


def within_any(paths: Iterable[str], prefix: str) -> bool:
    """True when one of ``paths`` is ``prefix`` or below it."""
    return any(is_within(p, prefix) for p in paths)


def parent_of(path: str) -> str:
    """The enclosing module's path ("" for a child of the root)."""
    return path.rsplit(".", 1)[0] if "." in path else ""


def did_you_mean(word: str, choices: Iterable[str], *, known: bool = True, paren: bool = False, n: int = 1,
                 cutoff: float = 0.6) -> str:
    """The hint appended to an "unknown name" message, with its leading separator.

    ``"; did you mean 'x'?"`` for the closest choices, else ``"; known: a, b"`` (when ``known``)
    or ``""``; with ``paren`` the same words go in parentheses: ``" (did you mean 'x'?)"``.
    """
    names = list(choices)
    close = difflib.get_close_matches(word, names, n=n, cutoff=cutoff)
    if close:
        text = "did you mean " + ", ".join(f"'{c}'" for c in close) + "?"
    elif known:
        text = f"known: {', '.join(names) or 'none'}"
    else:
        return ""
    return f" ({text})" if paren else f"; {text}"
