"""Bounded YAML: reading a config costs at most what its size allows, whatever it contains.

``yaml.safe_load`` never executes tags, but three things about a hostile document still hurt:

- an alias bomb (``&a [*b, *b, ...]`` nine levels deep) is a few hundred bytes whose *expansion*
  has billions of nodes: anything that walks the loaded data as a tree (the line-number pass,
  a deep copy, a validation) walks every expansion;
- 500 levels of ``[`` make PyYAML's recursive composer (and any recursive walk) raise
  ``RecursionError``;
- a self-referencing alias (``args: &r {self: *r}``) loads as a cyclic object.

So a document is first read as a stream of events (PyYAML's parser is a state machine, not a
recursion) to bound its nesting depth; then its node graph is walked once per *node* (aliases
share nodes) to compute the size and depth of its expansion, refusing cycles and expansions over
``MAX_EXPANDED_NODES``. Only then is it constructed. Integers outside the signed 64-bit range
(what torch can hold) are refused with the line they are on.

Files are opened without blocking (a FIFO does not hang the open), checked to be regular files
and read up to ``MAX_CONFIG_BYTES`` before anything parses them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from paramscope.profiler.errors import ConfigError

__all__ = [
    "MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_EXPANDED_NODES", "INT_MIN", "INT_MAX",
    "read_config_text", "load_document", "load_value", "check_int_range",
]

MAX_CONFIG_BYTES = 1 << 20
"""A config is a few hundred bytes; 1 MiB leaves room for generated ones."""
MAX_DEPTH = 64
"""Nesting levels (mappings and lists); the zoo's deepest config has 3."""
MAX_EXPANDED_NODES = 100_000
"""Nodes of the document with every alias expanded."""
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1

_INT_TAG = "tag:yaml.org,2002:int"


def read_config_text(path: Path) -> str:
    """The text of a config file; special files, oversized files and bad encodings are errors."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    st = os.fstat(fd)
    problem = ("is a directory, not a config file" if _is_dir(st.st_mode)
               else "not a regular file (a device, FIFO or socket); give a YAML file" if not _is_regular(st.st_mode)
               else f"{st.st_size:,} bytes; a config may be at most {MAX_CONFIG_BYTES:,} bytes"
               if st.st_size > MAX_CONFIG_BYTES else None)
    if problem is not None:
        os.close(fd)
        raise ConfigError(f"{path}: {problem}")
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:  # grew while we read it
        raise ConfigError(f"{path}: more than {MAX_CONFIG_BYTES:,} bytes; a config may be at most that")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read: not UTF-8 text (byte {e.start})") from None


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _is_dir(mode: int) -> bool:
    import stat

    return stat.S_ISDIR(mode)


def _malformed(source: str, e: yaml.YAMLError) -> ConfigError:
    mark = getattr(e, "problem_mark", None)
    where = f"{source}:{mark.line + 1}" if mark else source
    problem = getattr(e, "problem", None) or (str(e).splitlines() or ["unreadable"])[0]
    return ConfigError(f"{where}: malformed YAML: {problem}")


def _check_depth(text: str, source: str) -> None:
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise ConfigError(f"{source}:{line}: nested more than {MAX_DEPTH} levels deep; "
                                      "a config is a few levels of mappings")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as e:
        raise _malformed(source, e) from None


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield k
            yield v


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Size of the alias-expanded document, one visit per node (iterative, cycle-aware)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_EXPANDED_NODES:
                raise ConfigError(f"{source}:{node.start_mark.line + 1}: aliases expand to more than "
                                  f"{MAX_EXPANDED_NODES:,} values (an alias bomb?); write the values out")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: an alias refers to the value that "
                              "contains it (a self-referencing anchor); a config must be a tree")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise ConfigError(f"{source}:{child.start_mark.line + 1}: an alias refers to the value "
                                  "that contains it (a self-referencing anchor); a config must be a tree")
            if id(child) not in size:
                stack.append((child, False))


def _key_lines_and_ints(root: yaml.Node, source: str, located: bool) -> dict[str, int]:
    """Dotted key -> line, visiting each node once; integers out of range are refused here."""
    out: dict[str, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
            value = yaml.SafeLoader("").construct_yaml_int(node)
            where = f"{source}:{node.start_mark.line + 1}: {prefix or 'value'}" if located else source
            check_int_range(value, where)
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for k, v in node.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else "?"
                dotted = f"{prefix}.{name}" if prefix else str(name)
                if name in first and name not in ("<<", "?"):  # YAML keeps the last silently: a slip
                    where = f"{source}:{k.start_mark.line + 1}" if located else source
                    again = f" (first on line {first[name]})" if located else ""
                    raise ConfigError(f"{where}: {dotted}: given twice{again}; keep one")
                first[name] = k.start_mark.line + 1
                out.setdefault(dotted, k.start_mark.line + 1)
                stack.append((k, dotted))
                stack.append((v, dotted))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, f"{prefix}[{i}]"))
    return out


def check_int_range(value: Any, label: str) -> None:
    """Integers must fit a signed 64-bit value (torch's shapes and sizes)."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        raise ConfigError(f"{label}: {value} does not fit in 64 bits (at most {INT_MAX:,})")


def load_document(text: str, source: str, *, located: bool = True) -> tuple[Any, dict[str, int]]:
    """Parse ``text`` (named ``source`` in messages) to plain data and dotted key -> line numbers.

    ``located``: messages name ``source:line: key`` (a file) rather than just ``source`` (a flag).
    """
    _check_depth(text, source)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_expansion(node, source)
        lines = _key_lines_and_ints(node, source, located)
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        raise _malformed(source, e) from None
    finally:
        loader.dispose()
    return data, lines


def load_value(text: str, label: str) -> Any:
    """One value typed on the command line (``--set k=V``, a what-if list), read as bounded YAML.

    Text that is not valid YAML is kept as the string it is.
    """
    try:
        value, _ = load_document(text, label, located=False)
    except ConfigError as e:
        if "malformed YAML" in str(e):
            return text
        raise
    return value
