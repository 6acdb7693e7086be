"""The meta kernel cache (profiler/metacache.py) changes no figure, only how fast they come.

Counts with the cache are compared with counts where every call misses it (``_template`` patched
to refuse), on the zoo presets and on transformers models, dense and mixture-of-experts (which
count under ``meta_execution`` after the plain attempt fails on routing). The cached metadata
itself is checked against the meta kernel over many shapes.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import paramscope.profiler.metacache as metacache
from paramscope.profiler.build import build
from paramscope.profiler.flops import count_macs
from paramscope.profiler.metacache import MetaCache, _remake, _template
from paramscope.profiler.spec import load_spec

META = torch.device("meta")


def _count(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    c = count_macs(model, args, kwargs, elementwise=True)
    return c.macs, c.op_macs, dict(c.calls), c.elementwise, [a.assumed for a in c.assumptions], c.uncounted


def _same_without_cache(monkeypatch: pytest.MonkeyPatch, model: nn.Module, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
    cached = _count(model, args, kwargs)
    with monkeypatch.context() as m:
        m.setattr(metacache, "_template", lambda out: None)  # every call runs its meta kernel
        uncached = _count(model, args, kwargs)
    assert cached == uncached
    return cached


@pytest.mark.parametrize("preset", ["rg_output_etth1", "gru_router_spectra", "titan_stream", "selective_lm", "spectra_layer_qat"])
def test_zoo_counts_are_the_same_without_the_cache(monkeypatch: pytest.MonkeyPatch, preset: str) -> None:
    built = build(load_spec(preset))
    macs = _same_without_cache(monkeypatch, built.model, built.args, built.kwargs)[0]
    assert macs[""] > 0


def _hf(kind: str) -> nn.Module:
    transformers = pytest.importorskip("transformers")
    if kind == "llama":
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=100))
    from datadep_models import mixtral

    return mixtral("eager" if kind == "mixtral-eager" else None)


@pytest.mark.parametrize("kind", ["llama", "mixtral-grouped-mm", "mixtral-eager"])
def test_transformers_counts_are_the_same_without_the_cache(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    from paramscope.profiler.assumptions import params_on_meta
    from datadep_models import mixtral_macs

    with params_on_meta():
        model = _hf(kind).eval()
    kwargs = {"input_ids": torch.zeros(1, 16, dtype=torch.long, device=META)}
    macs, *_, assumptions, _ = _same_without_cache(monkeypatch, model, (), kwargs)
    if kind != "llama":
        assert macs[""] == mixtral_macs(16)
    assert bool(assumptions) == (kind == "mixtral-eager")  # the eager experts read the routing (nonzero)


def test_repeated_layers_are_answered_from_the_cache() -> None:
    model = nn.Sequential(*(nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(20))).to(META)
    with MetaCache() as cache:
        out = model(torch.randn(3, 8, device=META))
    assert out.shape == (3, 8) and out.is_meta
    assert cache.hits >= 2 * 19  # every layer after the first: its matmul and its relu


def test_views_and_in_place_ops_are_never_cached() -> None:
    x = torch.empty(4, 6, device=META)
    with MetaCache() as cache:
        for _ in range(3):
            t = x.t()
            assert t.untyped_storage()._cdata == x.untyped_storage()._cdata  # still a view of x
            y = x.add_(1)
            assert y is x
    assert cache.hits == 0


def test_scalar_types_are_part_of_the_key() -> None:
    ints = torch.empty(3, dtype=torch.long, device=META)
    with MetaCache():
        assert (ints * 2).dtype == torch.long
        assert (ints * 2.0).dtype == torch.float32
        assert (ints * 2).dtype == torch.long
        assert (ints * True).dtype == torch.long


OPS = {
    "addmm": lambda a, b: torch.addmm(torch.empty(b.shape[-1], device=META), a, b),
    "relu": lambda a, b: torch.relu(a),
    "softmax": lambda a, b: torch.softmax(a, dim=-1),
    "cat": lambda a, b: torch.cat([a, a], dim=0),
    "matmul_t": lambda a, b: a @ b,
    "layer_norm": lambda a, b: nn.functional.layer_norm(a, a.shape[-1:]),
    "max_dim": lambda a, b: a.max(dim=-1),
    "permuted_add": lambda a, b: a.t().contiguous() + 1,
}


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 33), inner=st.integers(1, 17), cols=st.integers(1, 9), op=st.sampled_from(sorted(OPS)))
def test_the_cached_metadata_is_the_meta_kernels(rows: int, inner: int, cols: int, op: str) -> None:
    a, b = torch.empty(rows, inner, device=META), torch.empty(inner, cols, device=META)
    out = OPS[op](a, b)
    template = _template(out)
    assert template is not None
    again = _remake(template)
    for t, u in zip(out if isinstance(out, tuple) else (out,), again if isinstance(again, tuple) else (again,),
                    strict=True):
        assert (u.shape, u.stride(), u.dtype, u.untyped_storage().nbytes()) == \
               (t.shape, t.stride(), t.dtype, t.untyped_storage().nbytes())
