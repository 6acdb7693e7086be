"""Meta execution: what can be known is exact, what cannot is assumed, stated and seeded.

On the meta device a tensor has a shape but no values. Most of a forward needs only shapes; a
few ops need values: ``nonzero``, boolean-mask indexing, ``masked_select``, ``unique``,
``bincount``, ``repeat_interleave`` with tensor repeats, ``.item()``/``.tolist()``/``if t:``, and
the routing of a mixture of experts (``topk`` indices fed to ``one_hot``/``nonzero``/``sort``).
``meta_execution`` runs the forward under one ``TorchDispatchMode`` that keeps a side table of
*known values*, small cpu tensors standing beside meta tensors:

- known: buffers (the meta build keeps them on cpu with their true values, parameters on meta;
  see ``params_on_meta``), factory results (``arange``, ``zeros``...) and everything computed
  only from known values (up to ``KNOWN_LIMIT`` elements) are computed for real on cpu;
- assumed: where an op needs a value nobody can know (an activation), a seeded stand-in takes its
  place, drawn i.i.d. N(0, 1) for floats (so ``topk``/``argmax``/``sort`` indices are uniform at
  random, a comparison ``h.mean() > 0`` a coin flip), a fair coin for bools, uniform in
  [0, numel) for integers. A stand-in is then the tensor's known value, so every later op sees
  the same data (routing drawn once feeds ``one_hot``, ``nonzero`` and the expert loop
  consistently). An assumption is reported (``Assumption``) only when an op that needs values
  read it, with the module, the source line and what was assumed.

A mixture of experts routes tokens x top_k slots whatever the indices, so its total MACs are
exact; only the per-expert split follows the assumption.

Why this and not the alternatives (measured on transformers' MixtralForCausalLM, 2 layers, 8
experts, top-2, torch 2.13):

- ``FakeTensorMode`` with a ``ShapeEnv`` gives ``nonzero`` an unbacked size, but the eager
  experts loop (``for expert_idx in expert_hit``, ``if expert_idx == num_experts``) guards on
  it: ``GuardOnDataDependentSymNode: Eq(u0, 0)``. Python control flow needs concrete values, so
  a symbolic shape alone cannot run these models; it would also make every MAC a sympy formula.
- ``torch.library`` meta kernels fix one op each, globally, and still cannot answer ``.item()``.
- A dispatch mode sees every aten op, can hold values beside meta tensors and answer the
  data-dependent ones from them: one small class, no global registration, and it works below
  or above ``FlopCounterMode``, which keeps counting the ops the model really calls. On the zoo
  presets it adds 0.02-0.13 s of cpu time to a count (0.10-0.28 s without it); the known values
  it computes are small (masks, positions, routing), never the activations.
- Keeping a cpu buffer as is and converting it lazily (a meta twin whose value is the buffer
  itself, no copy) keeps ``model.buffers()`` true for every other reader (fvcore's cpu copy,
  memory's buffer bytes) where moving buffers to meta would hide their values in a side table.
- ``FakeTensorMode`` was also tried on the ``_grouped_mm`` path: its meta kernel refuses
  float32 there too. transformers' Mistral and Llama (5.x) call ``.all()`` on their position
  ids to detect packed sequences: on bare meta that is ``Tensor.item() cannot be called on meta
  tensors``; here the position ids are known (``arange``) and the check is exact.

A meta kernel that refuses a dtype (``aten::_grouped_mm`` accepts only bf16 on meta) is run on
bf16 stand-ins of the same shapes. An op that still fails on meta raises ``MetaUnsupported``
naming the op and the module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from paramscope.profiler.errors import MetaUnsupported
from paramscope.profiler.paths import is_within
from paramscope.profiler.stats import Assumption

__all__ = ["KNOWN_LIMIT", "STAND_IN_LIMIT", "AssumptionLog", "meta_execution", "on_meta", "params_on_meta"]

KNOWN_LIMIT = 1 << 20
"""Largest tensor (elements) whose value is computed beside its meta twin; larger ones are unknown."""
STAND_IN_LIMIT = 1 << 24
"""Largest unknown tensor an op may read a stand-in for; beyond it the op fails as unsupported."""

@dataclass
class _Source:
    op: str
    where: str
    line: str | None
    assumed: str
    read_by: dict[tuple[str, str | None], None] = field(default_factory=dict)
    read: bool = False


@dataclass
class AssumptionLog:
    """What a meta execution assumed; ``assumptions`` lists those an op actually read."""

    sources: list[_Source] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    """Modules running, innermost last."""
    reading: dict[str, set[int]] = field(default_factory=dict)
    """Running module -> assumptions an op inside it read (until it returns)."""
    affects: dict[str, set[int]] = field(default_factory=dict)
    """Module -> assumptions read by a module around it before it ran: its figures follow them."""

    @property
    def where(self) -> str:
        return self.stack[-1] if self.stack else ""

    def enter(self, path: str) -> None:
        for scope, read in self.reading.items():
            if is_within(path, scope) and path != scope:
                self.affects.setdefault(path, set()).update(read)
        self.stack.append(path)

    def leave(self, path: str) -> None:
        if self.stack and self.stack[-1] == path:
            self.stack.pop()
            self.reading.pop(path, None)

    def read(self, origins: set[int], reader: tuple[str, str | None]) -> None:
        """An op in the current module needed these assumed values."""
        self.reading.setdefault(self.where, set()).update(origins)
        for i in origins:
            self.sources[i].read = True
            self.sources[i].read_by.setdefault(reader, None)

    @property
    def assumptions(self) -> tuple[Assumption, ...]:
        groups: dict[tuple[str, str | None, str], list[_Source]] = {}
        for s in self.sources:
            if s.read:
                groups.setdefault((s.op, s.line, _generic_assumed(s.assumed)), []).append(s)
        out = []
        for (op, line, _), group in groups.items():
            readers = _readers([r for s in group for r in s.read_by])
            assumed = group[0].assumed if len(group) == 1 else _generic_assumed(group[0].assumed)
            ids = {id(s) for s in group}
            affects = tuple(p for p, read in self.affects.items() if any(id(self.sources[i]) in ids for i in read))
            out.append(Assumption(op=op, where=_common_path([s.where for s in group]), assumed=assumed,
                                  line=line, count=len(group), read_by=readers, affects=affects))
        return tuple(out)


def _readers(reads: list[tuple[str, str | None]]) -> tuple[str, ...]:
    """``aten::nonzero (modeling.py:79, 85)``: each reading op once, with its source lines."""
    lines: dict[str, dict[str, None]] = {}
    for op, line in reads:
        lines.setdefault(_READER_NAMES.get(op, op), {}).update({line: None} if line else {})
    out = []
    for op, where in lines.items():
        files = [w.rsplit(":", 1) for w in where]
        same_file = len({f for f, _ in files}) == 1
        text = f"{files[0][0]}:{', '.join(n for _, n in files)}" if files and same_file else ", ".join(where)
        out.append(f"{op} ({text})" if text else op)
    return tuple(out)


_TO_PYTHON = "tensor to Python (.item(), if, int())"
_READER_NAMES = {"aten::_local_scalar_dense": _TO_PYTHON, "aten::is_nonzero": _TO_PYTHON, "aten::item": _TO_PYTHON}


def _generic_assumed(text: str) -> str:
    """The assumption without its drawn outcome (``taken as True``) so repeats group together."""
    return text.split(": drew ", 1)[0]


def _common_path(paths: list[str]) -> str:
    """``layers.0.moe`` and ``layers.1.moe`` -> ``layers.*.moe``; one path stays as it is."""
    first = paths[0].split(".")
    if any(len(p.split(".")) != len(first) for p in paths):
        return paths[0] + f" (+{len(set(paths)) - 1} more)" if len(set(paths)) > 1 else paths[0]
    parts = [first[i] if all(p.split(".")[i] == first[i] for p in paths) else "*" for i in range(len(first))]
    return ".".join(parts)


_SKIP_DIRS: tuple[str, ...] = ()


def _source_line() -> str | None:
    """``file.py:123`` of the innermost frame outside torch and paramscope (the model's code)."""
    global _SKIP_DIRS
    if not _SKIP_DIRS:
        import torch

        import paramscope.cli

        # torch, and paramscope's library and CLI; not parents[1]: in a source checkout that is
        # the repository root, which holds the user's (and the tests') models too
        _SKIP_DIRS = (str(Path(torch.__file__).parent), str(Path(__file__).parent), str(Path(paramscope.cli.__file__).parent))
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(_SKIP_DIRS) and not name.startswith("<") and "contextlib" not in name:
            return f"{Path(name).name}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def on_meta(model: Any, args: Any = (), kwargs: Any = None) -> bool:
    """A parameter or an input is on meta: the forward must run under ``meta_execution``."""
    from paramscope.profiler.forward import tensor_leaves

    first = next(iter(model.parameters()), None)
    return (first is not None and first.is_meta) or any(t.is_meta for t in tensor_leaves([args, kwargs or {}]))


@contextmanager
def meta_execution(model: Any, *, seed: int = 0, active: bool = True,
                   replay: tuple[Any, ...] | None = None, cache: bool = True) -> Iterator[AssumptionLog]:
    """Forwards of ``model`` run inside: data-dependent ops work on meta, on stated assumptions.

    Yields the ``AssumptionLog`` (``log.assumptions`` once the block has run). ``active=False``
    (a cpu/cuda model) changes and assumes nothing. ``replay`` is for a real (cpu) model: the
    forward's inputs ``(args, kwargs)``; values derived from them or from the parameters count as
    unknown and take the same seeded stand-ins as on meta, so the cpu run follows the meta run's
    assumptions exactly (how tests compare the two where the data matters). ``cache``: meta
    kernels of repeated calls are answered from a ``metacache.MetaCache`` (the same shapes, faster).

    Raises:
        MetaUnsupported: an op failed on meta; the message names the op and the module.
    """
    log = AssumptionLog()
    if not active:
        yield log
        return
    from paramscope.profiler.forward import forward_failed, index_dtype_error, meta_scalars_formatted, module_hooks
    from paramscope.profiler.metacache import MetaCache
    from paramscope.profiler.metamode import MetaMode, _tensors

    unknown = [] if replay is None else [*model.parameters(), *_tensors(replay)]
    with module_hooks(model, log.enter, log.leave), meta_scalars_formatted():
        mode = MetaMode(seed, lambda: log.where, log, unknown, MetaCache() if cache else None)
        try:
            with mode:
                yield log
        except MetaUnsupported:
            raise
        except Exception as e:
            failure = mode.failure
            if failure is not None and failure[2] in (e, e.__cause__, e.__context__):
                op, path, exc = failure
                if index_dtype_error(exc):  # a float index fails on cpu too: not a meta limitation
                    raise forward_failed(path, exc) from e
                raise MetaUnsupported(f"forward failed in '{path}': {op} failed on the meta device: "
                                      f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from e
            raise


@contextmanager
def params_on_meta() -> Iterator[None]:
    """While building: every parameter registered moves to meta; buffers keep their true values.

    Like accelerate's ``init_empty_weights(include_buffers=False)``: index tables, masks and
    position ids are real, so mask indexing on meta gives the true shape. A parameter already
    on meta (a tied weight assigned again) is kept as the same object. Random init of a meta
    parameter (``normal_``, ``uniform_``) is skipped: it has no values to fill, and torch would
    run it through Python decompositions (3 s for a Mixtral-8x7B shape, 0.6 s without). A tensor
    over ``metabuild.BUILD_LIMIT`` bytes (a weight before it is registered, a giant buffer), and
    every tensor once ``BUILD_BUDGET`` is kept, is made on meta to begin with: a meta build never
    asks cpu for what a too-big model would need.
    """
    import torch

    original = torch.nn.Module.register_parameter

    from paramscope.profiler.metabuild import MetaBuild

    mode = MetaBuild()

    def register(module: Any, name: str, param: Any) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            mode.refund(param.numel() * param.element_size())
            if type(param) is torch.nn.Parameter:
                moved = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
            else:  # a Parameter subclass takes its extra attributes as keywords (accelerate does this)
                moved = type(param)(param.to("meta"), **{**param.__dict__, "requires_grad": param.requires_grad})
            moved.__dict__.update(param.__dict__)
            module._parameters[name] = moved

    torch.nn.Module.register_parameter = register  # type: ignore[method-assign,assignment]
    try:
        # tensors over metabuild.BUILD_LIMIT bytes are made on meta; a default device other than
        # cpu is overridden (a device context intercepts every torch call: entered only if needed)
        with (nullcontext() if torch.get_default_device().type == "cpu" else torch.device("cpu")), mode:
            yield
    finally:
        torch.nn.Module.register_parameter = original  # type: ignore[method-assign]
