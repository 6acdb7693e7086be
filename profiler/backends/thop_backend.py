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
from math import prod
from typing import Any

from paramscope.profiler.backends.interface import (
    FlopCount,
    _forward_failed,
    _shared_module_notes,
    _uncounted,
    _with_all_paths,
)
from paramscope.profiler.backends.torch_backend import rnn_layer_macs
from paramscope.profiler.errors import BackendUnavailable, ForwardFailed
from paramscope.profiler.forward import track_calls as _track_calls

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


def _rnn_macs(m: Any, x: tuple[Any, ...], y: Any) -> int:
    # nn.RNN/GRU/LSTM and their *Cell: every 2-D weight (W_ih, W_hh, W_hr) is applied once per token
    return rnn_layer_macs((_tokens(x[0]), 1), [tuple(p.shape) for _, p in m.named_parameters()])


def _mha_macs(m: Any, x: tuple[Any, ...], y: Any) -> int | None:
    """nn.MultiheadAttention: in-projections, Q K^T, (.)V and out-projection."""
    if len(x) < 3:
        return None  # called with keyword arguments: forward hooks see positional inputs only
    q, k, v = x[:3]
    e = m.embed_dim
    lk = k.shape[1] if (m.batch_first and k.dim() == 3) else k.shape[0]
    b_lq, b_lk = prod(q.shape[:-1]), prod(k.shape[:-1])
    return int(b_lq * e * e + b_lk * k.shape[-1] * e + b_lk * v.shape[-1] * e + 2 * b_lq * lk * e + b_lq * e * e)


_RULES = {"RNN": _rnn_macs, "GRU": _rnn_macs, "LSTM": _rnn_macs, "RNNCell": _rnn_macs,
          "GRUCell": _rnn_macs, "LSTMCell": _rnn_macs, "MultiheadAttention": _mha_macs}


class _Bound:
    """Calls the model with keyword arguments bound: thop passes positional inputs only."""

    @staticmethod
    def wrap(model: Any, kwargs: dict[str, Any]) -> Any:
        import torch

        class _Kw(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *args: Any) -> Any:
                return self.model(*args, **kwargs)

        return _Kw()


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

        canonical = {id(m): p for p, m in model.named_modules()}
        macs: defaultdict[str, int] = defaultdict(int)
        missing: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        hooks_before = {id(m): (set(m._forward_hooks), set(m._forward_pre_hooks)) for m in model.modules()}
        buffers_before = {id(m): set(m._buffers) for m in model.modules()}
        training = {m: m.training for m in model.modules()}  # per module: train(mode) would flatten it
        last_output: dict[int, Any] = {}
        with _track_calls(model) as tracker:

            def recording(rule: Any, native: bool = False) -> Any:
                def fn(m: Any, x: Any, y: Any) -> None:
                    # thop's model.apply() hooks a shared module once per parent: count each call once
                    if last_output.get(id(m)) is y:
                        return
                    last_output[id(m)] = y
                    path = canonical[id(m)]
                    if native:  # thop's own rules add to the module's total_ops buffer
                        before = float(m.total_ops.item())
                        rule(m, x, y)
                        n: int | None = round(float(m.total_ops.item()) - before)
                    else:
                        n = rule(m, x, y)
                    if n is None or n < 0:
                        why = " (called with keyword inputs)" if n is None else ""
                        missing[type(m).__name__ + why][path] += 1
                        return
                    # thop's hooks run after ours popped the module: book to it and its callers
                    for p in {*tracker.stack, path}:
                        macs[p] += int(n)

                return fn

            custom = self._rules(model, thop_rules, recording, missing, canonical)
            target = _Bound.wrap(model, kwargs) if kwargs else model
            try:
                thop.profile(target, inputs=tuple(args), custom_ops=custom, verbose=False)
            except ForwardFailed:
                raise
            except Exception as e:
                raise _forward_failed(tracker, e) from e
            finally:
                last_output.clear()
                for m, mode in training.items():
                    m.training = mode
                self._undo(model, hooks_before, buffers_before)

        notes = ["thop rules count matmul/conv MACs only (its elementwise rules for norms, softmax and "
                 "pooling are replaced by 0, the other backends' convention)"]
        notes.extend(_shared_module_notes(model, "every caller's total includes it"))
        if backward:
            notes.append("backward MACs not measured: thop runs the forward under no_grad (use --flops torch)")
        return FlopCount(self.name, _with_all_paths(model, macs), _with_all_paths(model, tracker.calls),
                         _uncounted(missing), tuple(notes))

    @staticmethod
    def _rules(model: Any, thop_rules: Any, recording: Any, missing: Any, canonical: dict[int, str]) -> dict[Any, Any]:
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

    @staticmethod
    def _undo(model: Any, hooks_before: dict[int, Any], buffers_before: dict[int, set[str]]) -> None:
        """Remove every hook and buffer thop added, whether or not it finished."""
        for m in model.modules():
            fwd, pre = hooks_before.get(id(m), (set(), set()))
            for key in set(m._forward_hooks) - fwd:
                m._forward_hooks.pop(key, None)
            for key in set(m._forward_pre_hooks) - pre:
                m._forward_pre_hooks.pop(key, None)
            for key in set(m._buffers) - buffers_before.get(id(m), set()):
                m._buffers.pop(key, None)

