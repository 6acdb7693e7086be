"""Adapter for thop (``thop.profile``, module-rule based; counts MACs). Not the AGPL ultralytics fork.

thop gives each module class a rule and silently treats a module without one as 0. Here every
module class in the model gets a rule: thop's own for Linear and convolutions, paramscope's for
RNNs, attention and the zero-cost layers (matmul-only MACs, the convention of the other
backends), and a recording "no rule" for the rest, which is reported as uncounted. Each rule's
MACs are booked to the module and every module on the call stack (inclusive, caller-based, like
the torch backend). thop's ``total_ops``/``total_params`` buffers and hooks are removed in a
``finally`` so that the user's model is left exactly as it was.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from math import prod
from typing import Any

from paramscope.profiler.backends.interface import (
    FlopCount,
    _first_line,
    _forward_failed,
    _shared_module_notes,
    _uncounted,
    _with_all_paths,
)
from paramscope.profiler.errors import BackendUnavailable, ForwardFailed
from paramscope.profiler.forward import track_calls as _track_calls
from paramscope.profiler.formulas import bilinear_macs, conv_transpose_macs, multi_head_attention_macs, rnn_layer_macs

__all__ = ["ThopBackend"]

log = logging.getLogger(__name__)

# Classes that do no matmul-like work: 0 MACs by convention (thop counts some elementwise work
# for norms, softmax and pooling; the other backends do not).
_ZERO_COST = (
    "ReLU", "ReLU6", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "LeakyReLU",
    "ELU", "PReLU", "Hardswish", "Hardsigmoid", "Softplus", "GLU", "Identity", "Dropout", "Dropout1d",
    "Dropout2d", "Dropout3d", "AlphaDropout", "Flatten", "Unflatten", "Embedding", "EmbeddingBag",
    "LayerNorm", "GroupNorm", "RMSNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Upsample", "ZeroPad1d", "ZeroPad2d",
    "ConstantPad1d", "ConstantPad2d", "PixelShuffle", "Sequential", "ModuleList", "ModuleDict",
)


def _tokens(x: Any) -> int:
    """Rows a recurrent module processes: T*B (or the packed sequence's total length)."""
    from torch.nn.utils.rnn import PackedSequence

    data = x.data if isinstance(x, PackedSequence) else x
    return prod(data.shape[:-1])


def _rnn(m: Any, x: tuple[Any, ...], y: Any) -> int:
    # nn.RNN/GRU/LSTM and their *Cell: every 2-D weight (W_ih, W_hh, W_hr) is applied once per token
    return rnn_layer_macs((_tokens(x[0]), 1), [tuple(p.shape) for _, p in m.named_parameters()])


def _mha(m: Any, x: tuple[Any, ...], y: Any) -> int:
    q, k, v = (t.transpose(0, 1) if t.dim() == 3 and not m.batch_first else t for t in x[:3])
    return multi_head_attention_macs(q.shape, k.shape, v.shape, m.embed_dim)


def _bilinear(m: Any, x: tuple[Any, ...], y: Any) -> int:
    return bilinear_macs(x[0].shape, x[1].shape, m.weight.shape)


def _conv_transpose(m: Any, x: tuple[Any, ...], y: Any) -> int:
    # thop's own rule counts output positions: 4x too many at stride 2 in 2-D
    return conv_transpose_macs(x[0].shape if x[0].dim() == m.weight.dim() else (1, *x[0].shape), m.weight.shape)


# paramscope's rules, by torch.nn class name, over profiler/formulas.py: one line each.
_RULES = {"RNN": _rnn, "GRU": _rnn, "LSTM": _rnn, "RNNCell": _rnn, "GRUCell": _rnn, "LSTMCell": _rnn,
          "MultiheadAttention": _mha, "Bilinear": _bilinear, "ConvTranspose1d": _conv_transpose,
          "ConvTranspose2d": _conv_transpose, "ConvTranspose3d": _conv_transpose}


def _bound(model: Any, kwargs: dict[str, Any]) -> Any:
    """The model called with keyword arguments bound: thop passes positional inputs only."""
    import torch

    class _Kw(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return self.model(*args, **kwargs)

    return _Kw()


@contextmanager
def _positional_inputs(model: Any) -> Iterator[dict[int, tuple[Any, ...]]]:
    """Each module's inputs of its latest call, keyword ones bound to their positions.

    Forward hooks (thop's, and the rules') see positional inputs only: ``rnn(input=x)`` or
    ``attn(query=q, key=k, value=v)`` would look like a call without inputs.
    """
    import inspect

    inputs: dict[int, tuple[Any, ...]] = {}

    def capture(m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if kwargs:
            try:
                inputs[id(m)] = inspect.signature(m.forward).bind(*args, **kwargs).args
            except (TypeError, ValueError):  # a signature inspect cannot read: keep the positional ones
                inputs.pop(id(m), None)
        else:
            inputs.pop(id(m), None)

    handles = [m.register_forward_pre_hook(capture, with_kwargs=True) for m in model.modules()]
    try:
        yield inputs
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _eager(model: Any) -> Iterator[None]:
    """Compiled submodules run eagerly, with room for thop's buffers.

    thop registers ``total_ops`` on every module; a ``torch.compile`` wrapper forwards attribute
    reads to the module it wraps, which already has one, and thop's ``register_buffer`` raises.
    """
    import torch

    for m in model.modules():
        if hasattr(m, "_orig_mod"):
            for name in ("total_ops", "total_params"):
                m._buffers.setdefault(name, torch.zeros(1, dtype=torch.float64))
    stance = getattr(torch.compiler, "set_stance", None)
    if stance is None:  # torch < 2.6: compiled modules compile
        yield
    else:
        with stance("force_eager"):
            yield


def _apply(rule: Any, native: bool, m: Any, x: tuple[Any, ...], y: Any) -> int:
    """MACs of one call by one rule; thop's own rules add to the module's ``total_ops`` buffer."""
    if not native:
        return int(rule(m, x, y))
    before = float(m.total_ops.item())
    rule(m, x, y)
    return round(float(m.total_ops.item()) - before)



class _Recorder:
    """Books each rule's MACs to the module and every module on the call stack (inclusive)."""

    def __init__(self, model: Any, tracker: Any, inputs: dict[int, tuple[Any, ...]]) -> None:
        self.canonical = {id(m): p for p, m in model.named_modules()}
        self.tracker, self.inputs = tracker, inputs
        self.macs: defaultdict[str, int] = defaultdict(int)
        self.added: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.missing: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.last_output: dict[int, Any] = {}

    def hook(self, rule: Any, native: bool = False) -> Any:
        """A thop custom op (forward hook) that applies ``rule`` and books its MACs."""

        def fn(m: Any, x: Any, y: Any) -> None:
            # thop's model.apply() hooks a shared module once per parent: count each call once
            if self.last_output.get(id(m)) is y:
                return
            self.last_output[id(m)] = y
            path, name = self.canonical[id(m)], type(m).__name__
            try:
                n = _apply(rule, native, m, self.inputs.get(id(m), x), y)
            except Exception as e:  # the forward ran; the rule (not the user's model) failed
                log.debug("thop rule for %s at %r failed", name, path, exc_info=True)
                self.missing[f"{name} (rule failed: {_first_line(e)[:80]})"][path] += 1
                return
            if n < 0:
                self.missing[name][path] += 1
                return
            # thop's hooks run after ours popped the module: book to it and its callers
            for p in {*self.tracker.stack, path}:
                self.macs[p] += n
                if rule in _RULES.values() and n:
                    self.added[name][p] += n

        return fn


@contextmanager
def _restored(model: Any) -> Iterator[None]:
    """The model exactly as it was afterwards: training flags per module, no hook or buffer of thop's."""
    hooks_before = {id(m): (set(m._forward_hooks), set(m._forward_pre_hooks)) for m in model.modules()}
    buffers_before = {id(m): set(m._buffers) for m in model.modules()}
    training = {m: m.training for m in model.modules()}  # per module: train(mode) would flatten it
    try:
        yield
    finally:
        for m, mode in training.items():
            m.training = mode
        for m in model.modules():
            fwd, pre = hooks_before.get(id(m), (set(), set()))
            for key in set(m._forward_hooks) - fwd:
                m._forward_hooks.pop(key, None)
            for key in set(m._forward_pre_hooks) - pre:
                m._forward_pre_hooks.pop(key, None)
            for key in set(m._buffers) - buffers_before.get(id(m), set()):
                m._buffers.pop(key, None)


def _notes(model: Any, backward: bool) -> tuple[str, ...]:
    notes = ["thop rules count matmul/conv MACs only (its elementwise rules for norms, softmax and "
             "pooling are replaced by 0, the other backends' convention)"]
    notes.extend(_shared_module_notes(model, "every caller's total includes it"))
    if any(type(m).__name__.startswith("ConvTranspose") for m in model.modules()):
        notes.append("ConvTranspose counted by paramscope's rule: thop's own counts output positions, "
                     "stride**dims times too many (4x at stride 2 in 2-D)")
    if backward:
        notes.append("backward MACs not measured: thop runs the forward under no_grad (use --flops torch)")
    return tuple(notes)


class ThopBackend:
    """Counts MACs with ``thop.profile`` and complete per-class rules."""

    name = "thop"

    def count(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, backward: bool = False,
              elementwise: bool = False) -> FlopCount:
        """See ``CountingBackend.count``. thop runs under ``no_grad`` (no backward); no element-wise counts."""
        try:
            import thop
            from thop.profile import register_hooks as thop_rules
        except ImportError as e:
            raise BackendUnavailable(f"thop is not installed ({e}); run `pip install thop`") from e

        with _track_calls(model) as tracker, _positional_inputs(model) as inputs:
            rec = _Recorder(model, tracker, inputs)
            custom = self._rules(model, thop_rules, rec.hook)
            target = _bound(model, kwargs) if kwargs else model
            try:
                with _restored(model), _eager(model):
                    thop.profile(target, inputs=tuple(args), custom_ops=custom, verbose=False)
            except ForwardFailed:
                raise
            except Exception as e:
                raise _forward_failed(tracker, e) from e
        return FlopCount(self.name, _with_all_paths(model, rec.macs), _with_all_paths(model, tracker.calls),
                         _uncounted(rec.missing), _notes(model, backward),
                         added_macs={k: dict(v) for k, v in rec.added.items()})

    def explain(self, count: FlopCount, path: str, *, low: bool, high: bool, guess: bool = False) -> tuple[str, ...]:
        """See ``CountingBackend.explain``."""
        reasons = [f"thop could not count {op.name}" if "(" in op.name else f"thop has no rule for {op.name}"
                   for op in count.uncounted_within(path)]
        if guess and low:
            reasons.append("thop sees modules only: functional calls (F.*, torch.*) made inside "
                           f"'{path}' and forwards called directly (module.forward(x)) are not counted by thop")
        return tuple(reasons)

    @staticmethod
    def _rules(model: Any, thop_rules: Any, recording: Any) -> dict[Any, Any]:
        """A rule for every module class in the model."""
        rules: dict[Any, Any] = {}
        for m in model.modules():
            cls = type(m)
            name = cls.__name__
            if cls in rules:
                continue
            if name in _RULES and cls.__module__.startswith("torch.nn"):
                rules[cls] = recording(_RULES[name])
            elif name in _ZERO_COST and cls.__module__.startswith("torch.nn"):
                rules[cls] = recording(lambda m, x, y: 0)
            elif cls in thop_rules:
                rules[cls] = recording(thop_rules[cls], native=True)
            elif not any(True for _ in m.children()) or any(True for _ in m.parameters(recurse=False)):
                # a leaf thop knows nothing about, or a container doing its own work with its own
                # parameters: thop would silently count 0
                rules[cls] = recording(lambda m, x, y: -1)
        return rules
