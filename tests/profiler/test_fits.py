"""A model or input that does not fit on cpu is refused before anything big is allocated.

Every case asks for terabytes, so it is refused on any machine; each runs under an address-space
cap of a few GB above what the process already maps (``capped``), so a regression that really
allocates fails at once instead of taking the shared machine's memory. The bytes are checked
against closed forms: the zoo's ``param_formula`` (float32, 4 B per parameter) and shape products.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import paramscope
from paramscope.model_zoo import registry
from paramscope.profiler import fits
from paramscope.profiler.assumptions import params_on_meta
from paramscope.profiler.build import build, resolve_family
from paramscope.profiler.errors import DoesNotFit, ForwardFailed
from paramscope.profiler.metabuild import build_limit
from paramscope.profiler.sources import entry_spec
from paramscope.profiler.spec import ModelSpec, load_spec

GB = 10**9
TOTAL, AVAILABLE = 24 * GB, 20 * GB


@pytest.fixture(autouse=True)
def capped(capped_address_space: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the address-space cap (conftest); the machine reads as 24 GB, 20 GB available."""
    monkeypatch.setattr(fits, "memory_info", lambda: (TOTAL, AVAILABLE))


class _BigBuffer(nn.Module):
    def __init__(self, rows: int = 100_000) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("table", torch.zeros(rows, 1_000_000))  # 400 GB at 100,000 rows
        self.register_buffer("pos", torch.arange(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def test_a_meta_build_makes_big_tensors_on_meta_and_keeps_small_buffers_real() -> None:
    with params_on_meta():
        lin = nn.Linear(1_000_000, 1_000_000)  # 4 TB: made on meta, never asked of cpu
        big = _BigBuffer()
    assert lin.weight.is_meta and big.table.is_meta and tuple(big.table.shape) == (100_000, 1_000_000)
    assert big.pos.device.type == "cpu" and big.pos.tolist() == list(range(8))  # issue 8: values kept


def test_a_meta_build_keeps_no_more_than_its_budget_on_cpu() -> None:
    """40 buffers of 1 MiB under a 10 MiB budget: the first 10 real, the rest on meta; parameters
    moved to meta as they register are refunded (16 MiB of weights leave the budget untouched)."""
    class Many(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lins = nn.ModuleList(nn.Linear(1024, 1024) for _ in range(4))
            for i in range(40):
                self.register_buffer(f"b{i}", torch.ones(1 << 18))

    with build_limit(1 << 24, 10 << 20), params_on_meta():
        m = Many()
    real = [name for name, b in m.named_buffers() if not b.is_meta]
    assert real == [f"b{i}" for i in range(10)]
    assert all(p.is_meta for p in m.parameters())


def _spec(tmp_path: Path, text: str) -> ModelSpec:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(str(path))


# (family's preset, --set, the knob's config key, value): a width knob blown up, per zoo family
ZOO_KNOBS = [
    ("rg_output_etth1", "d_model", 100_000),
    ("gru_router_spectra", "router_dim", 1_000_000),
    ("titan_stream", "d_model", 1_000_000),
    ("selective_lm", "d_model", 1_000_000),
    ("spectra_layer_qat", "router_dim", 1_000_000),
]


@pytest.mark.parametrize(("preset", "knob", "value"), ZOO_KNOBS, ids=[f"{p}-{k}" for p, k, _ in ZOO_KNOBS])
def test_every_zoo_family_blown_up_is_refused_by_its_formula(preset: str, knob: str, value: int) -> None:
    spec = load_spec(preset, {knob: value})
    family, cfg, _ = resolve_family(spec)
    with pytest.raises(DoesNotFit) as e:
        build(spec, "cpu")
    assert e.value.needs == 4 * family.param_formula(cfg)[""] > AVAILABLE
    assert str(e.value).endswith("on cpu for its weights alone; this machine has 24 GB (20 GB available); "
                                 "build it on the meta device")


def test_a_million_experts_is_refused_without_building_them() -> None:
    spec = load_spec("spectra_layer_qat", {"num_experts": 1_000_000})
    family, cfg, _ = resolve_family(spec)
    with pytest.raises(DoesNotFit, match="its weights alone") as e:
        fits.check_fits(spec, "cpu")
    assert e.value.needs == 4 * family.param_formula(cfg)[""]


def test_a_huge_batch_is_refused_with_weights_buffers_and_inputs() -> None:
    """rg_output at batch 10**9: inputs x [B, seq_len, c_in] float32 on top of the preset's bytes."""
    small = build(load_spec("rg_output_etth1"), "meta")
    spec = load_spec("rg_output_etth1", {"batch_size": 10**9})
    cfg = small.config
    with pytest.raises(DoesNotFit, match="for weights, buffers and inputs") as e:
        build(spec, "cpu")
    base = fits.resident_bytes(small.model, small.args, small.kwargs)
    x = small.kwargs["x"]
    assert e.value.needs == base + (10**9 - x.shape[0]) * cfg.seq_len * x.shape[2] * 4


def test_a_target_whose_init_allocates_a_huge_buffer(tmp_path: Path) -> None:
    (tmp_path / "bigbuf.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.lin = nn.Linear(4, 4)\n"
        "        self.register_buffer('table', torch.zeros(100_000, 1_000_000))\n\n"
        "    def forward(self, x):\n        return self.lin(x)\n", encoding="utf-8")
    spec = _spec(tmp_path, 'target: "bigbuf:M"\ninputs: {x: [2, 4]}\n')
    with pytest.raises(DoesNotFit) as e:
        build(spec, "cpu")
    assert e.value.needs == 100_000 * 1_000_000 * 4 + (16 + 4) * 4 + 2 * 4 * 4
    assert build(spec, "meta").model.table.is_meta  # and --device meta works


def test_an_input_of_940_gb_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lin.py").write_text("from torch import nn\n\n\ndef make():\n    return nn.Linear(4, 4)\n",
                                     encoding="utf-8")
    spec = _spec(tmp_path, 'target: "lin:make"\ninputs: {x: {shape: [1000000, 235000]}}\n')
    with pytest.raises(DoesNotFit, match="needs 940 GB on cpu for weights, buffers and inputs") as e:
        build(spec, "cpu")
    assert e.value.needs == 1_000_000 * 235_000 * 4 + 20 * 4


def test_an_hf_config_with_a_huge_hidden_size_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Llama, untied: embed + lm_head V*h, per layer q,k,v,o 4*h*h + MLP 3*h*i + 2 norms 2*h, final norm h."""
    pytest.importorskip("transformers")
    h, i, layers, vocab = 1_000_000, 64, 1, 100
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": h, "intermediate_size": i,
        "num_hidden_layers": layers, "num_attention_heads": 8, "num_key_value_heads": 8, "vocab_size": vocab}))
    monkeypatch.chdir(tmp_path)
    spec = entry_spec("hf:config.json")
    assert spec is not None
    with pytest.raises(DoesNotFit) as e:
        build(spec, "cpu")
    params = 2 * vocab * h + layers * (4 * h * h + 3 * h * i + 2 * h) + h
    assert 4 * params <= e.value.needs < 4 * params + 10 * GB  # + rotary tables and input_ids


def test_summary_refuses_an_input_of_940_gb() -> None:
    with pytest.raises(DoesNotFit, match=r"^input_size \(1000000, 235000\): needs 940 GB on cpu for the inputs"):
        paramscope.summary(nn.Linear(235_000, 4), input_size=(1_000_000, 235_000))


def test_profile_names_a_forward_that_runs_out_of_memory() -> None:
    class Blow(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) + x.new_empty(10**12).sum()  # 4 TB: refused by the allocator

    with pytest.raises(ForwardFailed, match=r"^forward failed in '': out of memory: one tensor of 4,000 GB on cpu; "
                                            r"this machine has 24 GB \(20 GB available\)$"):
        paramscope.profile(Blow(), torch.zeros(2, 4))


def test_a_model_that_fits_is_built_on_cpu_unchanged() -> None:
    spec = load_spec("rg_output_etth1")
    built = build(spec, "cpu")
    assert not any(t.is_meta for t in (*built.model.parameters(), *built.model.buffers()))
    assert dataclasses.asdict(built.config) == dataclasses.asdict(resolve_family(spec)[1])
    assert registry.load_family("rg_output").param_formula(built.config)[""] == sum(
        p.numel() for p in built.model.parameters())
