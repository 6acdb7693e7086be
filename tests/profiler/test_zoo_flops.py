"""Issue 3 acceptance on the model zoo: exact MACs per module, every backend, meta == cpu.

All expected numbers are exact integers with their arithmetic in comments; nothing is timed.
"""

from __future__ import annotations

import importlib
import re

import pytest

from paramscope.cli.parse import parse_sets
from paramscope.model_zoo import gru_router
from paramscope.profiler.backends.interface import Backend, FlopCount
from paramscope.profiler.build import Built, build
from paramscope.profiler.flops import DEFAULT_BACKEND, count_macs
from paramscope.profiler.spec import load_spec

ALL_BACKENDS = [b.value for b in Backend]
# an uncounted op whose name looks like this would be a silent matmul zero
MATMUL_LIKE = re.compile(r"mm|mv|dot|matmul|linear|conv|attention|gru|lstm|rnn|einsum", re.IGNORECASE)

GRU_PRESET = "gru_router_spectra"  # I=512, 128 experts x router_dim 128 -> H=16384, batch 1, seq_len 64


def _count(name: str, sets: list[str], device: str, backend: str = DEFAULT_BACKEND) -> tuple[Built, FlopCount]:
    built = build(load_spec(name, parse_sets(sets)), device)
    return built, count_macs(built.model, built.args, built.kwargs, backend)


def _matmul_uncounted(result: FlopCount) -> list[str]:
    return [op.name for op in result.uncounted if MATMUL_LIKE.search(op.name)]


def _children(macs: dict[str, int], path: str) -> list[str]:
    prefix = f"{path}." if path else ""
    return [p for p in macs if p.startswith(prefix) and p != path and "." not in p[len(prefix):]]


def _inclusive(result: FlopCount, path: str) -> int:
    """Inclusive MACs of ``path`` (count_macs sums the children of a never-called ModuleList)."""
    return result.macs[path]


# --------------------------------------------------------------------------------------------
# 1. the gru_router preset on meta, every backend


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_gru_preset_meta_every_backend(backend):
    _, result = _count(GRU_PRESET, [], "meta", backend)
    assert result.backend == backend  # no silent fallback to another backend
    # 64 tokens x 3 gates x (W_ih 512*16384 + W_hh 16384*16384)
    # = 64 x 3 x (8,388,608 + 268,435,456) = 64 x 830,472,192 = 53,150,220,288
    assert 64 * 3 * (512 * 16384 + 16384 * 16384) == 53_150_220_288
    assert result.macs["load_balancer"] == 53_150_220_288
    assert result.total_macs == 53_150_220_288  # the read-out (mean, softmax) has no matmul
    assert result.total_flops == 106_300_440_576
    assert _matmul_uncounted(result) == []


# --------------------------------------------------------------------------------------------
# 2. the same architecture, small enough to run on cpu, every backend


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_gru_small_cpu_equals_meta_every_backend(backend):
    sets = ["router_dim=8"]  # H = 128 experts x 8 = 1024; batch 1, seq_len 64 as in the preset
    # 64 x 3 x (512*1024 + 1024*1024) = 64 x 3 x (524,288 + 1,048,576) = 64 x 4,718,592 = 301,989,888
    expected = 64 * 3 * (512 * 1024 + 1024 * 1024)
    assert expected == 301_989_888
    _, cpu = _count(GRU_PRESET, sets, "cpu", backend)
    _, meta = _count(GRU_PRESET, sets, "meta", backend)
    assert cpu.backend == meta.backend == backend
    assert cpu.macs["load_balancer"] == meta.macs["load_balancer"] == 301_989_888
    assert dict(cpu.macs) == dict(meta.macs)
    assert _matmul_uncounted(cpu) == [] and _matmul_uncounted(meta) == []


# --------------------------------------------------------------------------------------------
# 3. the cheaper variants: measured == analytic formula


# preset (I=512, H=16384, r=256, G=4, T=64): expected load_balancer MACs
# lowrank:      64 x (512*768 + 768*16384 + 16384*768 + 768*16384) = 64 x 38,141,952 = 2,441,084,928
# lightweight:  64 x 2 x 512*16384                                  = 64 x 16,777,216 = 1,073,741,824
# block_sparse: 64 x 3 x (512*16384 + 16384*16384) / 4              = 64 x 207,618,048 = 13,287,555,072
# grouped:      64 x 4 x 3 x (512*4096 + 4096*4096)                 = 64 x 226,492,416 = 14,495,514,624
PRESET_VARIANT_MACS = {
    "lowrank": 2_441_084_928,
    "lightweight": 1_073_741_824,
    "block_sparse": 13_287_555_072,
    "grouped": 14_495_514_624,
}
# small: I=32, H=8 experts x 2 = 16, r=8 (lowrank), G=4, batch 2 x seq_len 5 = 10 tokens
SMALL = ["hidden_size=32", "num_experts=8", "router_dim=2", "inputs.seq_len=5", "inputs.batch_size=2"]
# lowrank:      10 x (32*24 + 24*16 + 16*24 + 24*16) = 10 x 1,920 = 19,200
# lightweight:  10 x 2 x 32*16                      = 10 x 1,024 = 10,240
# block_sparse: 10 x 3 x (32*16 + 16*16) / 4        = 10 x 576   = 5,760
# grouped:      10 x 4 x 3 x (32*4 + 4*4)           = 10 x 1,728 = 17,280
SMALL_VARIANT_MACS = {"lowrank": 19_200, "lightweight": 10_240, "block_sparse": 5_760, "grouped": 17_280}


def _variant_sets(variant: str, small: bool) -> list[str]:
    # "args.rank" (not the "rank" alias, which implies variant=lowrank)
    extra = SMALL + (["args.rank=8"] if variant == "lowrank" else []) if small else []
    return [f"variant={variant}", *extra]


@pytest.mark.parametrize("small", [False, True], ids=["preset", "small"])
@pytest.mark.parametrize("variant", list(PRESET_VARIANT_MACS))
def test_variant_measured_equals_formula(variant, small):
    built, result = _count(GRU_PRESET, _variant_sets(variant, small), "meta")
    assert built.config.variant == variant
    formula = gru_router.mac_formula(built.config, built.input_knobs)
    expected = (SMALL_VARIANT_MACS if small else PRESET_VARIANT_MACS)[variant]
    assert formula["load_balancer"] == expected
    for path, macs in formula.items():  # every submodule the formula names, not only the total
        assert result.macs[path] == macs, path
    assert result.uncounted == ()


def test_lowrank_macs_are_not_its_parameter_count():
    built, result = _count(GRU_PRESET, ["variant=lowrank"], "meta")
    params = gru_router.param_formula(built.config)
    # parameters: 512*768 + 256*16384 + 16384*768 + 256*16384 = 21,364,736
    assert params["load_balancer"] == 21_364_736
    per_token = result.macs["load_balancer"] // 64
    # per token: 512*768 + 3*256*16384 + 16384*768 + 3*256*16384 = 38,141,952 (V used by 3 gates)
    assert per_token * 64 == result.macs["load_balancer"] and per_token == 38_141_952
    assert per_token != params["load_balancer"]
    # each V holds r*H = 4,194,304 weights but costs 3*r*H = 12,582,912 MACs per token
    for v in ("load_balancer.V_ih", "load_balancer.V_hh"):
        assert params[v] == 256 * 16384 == 4_194_304
        assert result.macs[v] == 64 * 3 * params[v] == 805_306_368


# --------------------------------------------------------------------------------------------
# 4. every family, small: meta == cpu per module, measured == formula, attention counted


FAMILY_CASES = {
    # d=64, 4 heads, L = (336-84)/42 + 1 = 7 patch tokens, N = batch 2 x 7 channels = 14 series
    "rg_output_etth1": ["d_model=64", "n_heads=4", "d_ff=128", "embed_hidden=128", "pe_hidden=64",
                        "slot_fuse.hidden=128", "inputs.batch_size=2"],
    # D=32, 4 heads, N = 8 persistent + 64 = 72 tokens per block, batch 2
    "titan_stream": ["d_model=32", "n_heads=4", "d_ff=64", "n_persistent=8", "seq_len=64", "pred_len=16",
                     "forecast_hidden_dim=64", "inputs.batch_size=2"],
    # d=32, 4 heads, 2 blocks, vocab 256, T=32, batch 2
    "selective_lm": ["vocab_size=256", "block_size=32", "d_model=32", "n_layers=2", "n_heads=4", "d_ff=80",
                     "gate_hidden=16", "inputs.seq_len=32", "inputs.batch_size=2"],
    # the router family too (GRU H = 8 x 2 = 16)
    "gru_router_spectra": [*SMALL],
}

# attention modules whose projections are child Linears: MACs - children = QK^T + AV
#   rg_output:    N*2*L*L*d = 14 x 2 x 7*7 x 64 = 87,808
#   titan_stream: B*2*N*N*D = 2 x 2 x 72*72 x 32 = 663,552 (per block)
#   selective_lm: B*2*T*T*d = 2 x 2 x 32*32 x 32 = 131,072 (per block)
ATTENTION_CORE = {
    "rg_output_etth1": {"encoder.layers.0.attention": 14 * 2 * 7 * 7 * 64},
    "titan_stream": {"core.0.attn": 2 * 2 * 72 * 72 * 32, "core.1.attn": 2 * 2 * 72 * 72 * 32},
    "selective_lm": {"blocks.0.attn": 2 * 2 * 32 * 32 * 32, "blocks.1.attn": 2 * 2 * 32 * 32 * 32},
    "gru_router_spectra": {},
}
# nn.MultiheadAttention modules (in-projection and QK^T/AV inside, out_proj a child): counted, and
# their parent's formula (which includes QK^T and AV) is matched below
MHA = {"rg_output_etth1": ["slot_attn.attn"], "titan_stream": ["head.forecast_attn"]}

_results: dict[tuple[str, str], tuple[Built, FlopCount]] = {}


def _family(name: str, device: str) -> tuple[Built, FlopCount]:
    if (name, device) not in _results:
        _results[name, device] = _count(name, FAMILY_CASES[name], device)
    return _results[name, device]


@pytest.mark.parametrize("name", list(FAMILY_CASES))
def test_family_meta_equals_cpu_per_module(name):
    _, meta = _family(name, "meta")
    _, cpu = _family(name, "cpu")
    assert meta.backend == cpu.backend == DEFAULT_BACKEND
    assert dict(meta.macs) == dict(cpu.macs)
    assert dict(meta.calls) == dict(cpu.calls)
    assert meta.total_macs > 0
    assert _matmul_uncounted(meta) == [] and _matmul_uncounted(cpu) == []


@pytest.mark.parametrize("name", list(FAMILY_CASES))
def test_family_measured_equals_formula(name):
    built, meta = _family(name, "meta")
    formula = importlib.import_module(f"paramscope.model_zoo.{built.spec.family}").mac_formula(
        built.config, built.input_knobs
    )
    assert formula[""] == meta.total_macs
    for path, macs in formula.items():
        assert _inclusive(meta, path) == macs, path


@pytest.mark.parametrize("name", [n for n in FAMILY_CASES if ATTENTION_CORE[n] or MHA.get(n)])
def test_family_attention_is_counted(name):
    _, meta = _family(name, "meta")
    macs = dict(meta.macs)
    for path, qk_av in ATTENTION_CORE[name].items():
        children = sum(macs[c] for c in _children(macs, path))
        assert children > 0, path  # the q/k/v/out projections
        assert macs[path] - children == qk_av, path  # QK^T + AV, counted on meta
    for path in MHA.get(name, []):
        own = macs[path] - sum(macs[c] for c in _children(macs, path))
        assert own > 0, path  # in-projection + QK^T + AV, beyond out_proj


def test_family_formulas_cover_attention():
    """The formulas matched above include QK^T and AV (so the match proves attention is counted)."""
    built, _ = _family("rg_output_etth1", "meta")
    c = importlib.import_module("paramscope.model_zoo.rg_output").mac_formula(built.config, built.input_knobs)
    # encoder = N*L*(4d^2 + 2Ld + 2d*d_ff) = 14*7*(16,384 + 896 + 16,384) = 98 x 33,664 = 3,299,072
    assert c["encoder"] == 14 * 7 * (4 * 64 * 64 + 2 * 7 * 64 + 2 * 64 * 128) == 3_299_072
    built, _ = _family("titan_stream", "meta")
    c = importlib.import_module("paramscope.model_zoo.titan_stream").mac_formula(built.config, built.input_knobs)
    # block = B*(4*N*D^2 + 2*N^2*D + 2*N*D*d_ff) = 2*(294,912 + 331,776 + 294,912) = 1,843,200
    assert c["core.0"] == 2 * (4 * 72 * 32 * 32 + 2 * 72 * 72 * 32 + 2 * 72 * 32 * 64) == 1_843_200


@pytest.mark.slow
def test_gru_preset_cpu_every_backend() -> None:
    """The full 830M-parameter GRU on cpu (3.3 GB of weights, about a minute): every backend exact."""
    built = build(load_spec(GRU_PRESET), "cpu")
    for backend in ALL_BACKENDS:
        result = count_macs(built.model, built.args, built.kwargs, backend)
        assert result.macs["load_balancer"] == 53_150_220_288, backend  # 64 x 3 x (512*16384 + 16384*16384)
    del built
