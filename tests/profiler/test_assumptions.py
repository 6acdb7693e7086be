"""Data-dependent forwards on meta: exact where the data does not matter, stated assumptions where it does.

Each case runs three ways: on meta; on cpu (the ground truth: real data); and on cpu replaying
the meta run's assumptions (``meta_execution(replay=...)``), which must give meta's figures
module by module, so the assumption is the only difference between meta and real data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import datadep_models as dm
from paramscope.profiler.assumptions import meta_execution, params_on_meta
from paramscope.profiler.build import build
from paramscope.profiler.errors import MetaUnsupported
from paramscope.profiler.flops import count_macs
from paramscope.profiler.pipeline import measure
from paramscope.profiler.spec import load_spec

SHAPES = {"mask_buffer": [2, 5, dm.D], "switch": [4, dm.D], "dataops": [8, dm.D], "moe": [2, 8, dm.D],
          "proposals": [1, 3, 6, 6]}


def _runs(name: str, seed: int = 0) -> dict[str, Any]:
    """The FlopCount of ``name`` on meta, on cpu, and on cpu replaying meta's assumptions."""
    out = {}
    for how in ("meta", "cpu", "replay"):
        torch.manual_seed(seed)
        device = "meta" if how == "meta" else "cpu"
        if how == "meta":
            with params_on_meta():
                model = dm.make(name)
        else:
            model = dm.make(name)
        x = torch.randn(SHAPES[name], device=device)
        replay = ((x,), {}) if how == "replay" else None
        with meta_execution(model, seed=seed, replay=replay, active=how == "replay") as log:
            count = count_macs(model, (x,), {}, seed=seed)  # on meta, under its own meta_execution
        out[how] = (count, count.assumptions + log.assumptions)
    return out


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_cpu_replaying_the_assumptions_gives_meta_figures_module_by_module(name: str) -> None:
    runs = _runs(name)
    (meta, meta_assumed), (replay, replay_assumed) = runs["meta"], runs["replay"]
    assert meta.macs == replay.macs
    assert [(a.op, a.where, a.line, a.assumed, a.count) for a in meta_assumed] == \
        [(a.op, a.where, a.line, a.assumed, a.count) for a in replay_assumed]


def test_mask_buffer_is_exact_on_meta_and_assumes_nothing() -> None:
    runs = _runs("mask_buffer")
    tokens = 2 * 5
    assert runs["meta"][0].total_macs == runs["cpu"][0].total_macs == dm.mask_buffer_macs(tokens)  # 800
    assert runs["meta"][1] == ()


def test_buffers_keep_true_values_and_parameters_stay_on_meta() -> None:
    with params_on_meta():
        model = dm.MaskBuffer()
    assert model.proj.weight.is_meta
    assert model.keep.device.type == "cpu" and model.keep.tolist() == [i % 3 != 0 for i in range(dm.D)]
    assert model.order.tolist() == list(range(dm.D - 1, -1, -1))


def test_moe_total_is_exact_whatever_the_routing_and_the_split_follows_it() -> None:
    tokens = 2 * 8
    totals = {s: _runs("moe", seed=s) for s in (0, 1)}
    for runs in totals.values():
        assert runs["meta"][0].total_macs == runs["cpu"][0].total_macs == dm.experts_moe_macs(tokens)  # 33,792
        (assumed,) = runs["meta"][1]
        assert assumed.op == "aten::topk" and "uniform at random" in assumed.assumed
        assert assumed.line == "datadep_models.py:99" and assumed.read_by == ("aten::nonzero (datadep_models.py:102)",)
    split = [[runs["meta"][0].macs[f"experts.{e}"] for e in range(4)] for runs in totals.values()]
    assert split[0] != split[1]  # another seed, another routing: the per-expert figures are assumptions
    assert all(sum(s) == tokens * 2 * (dm.D * 32 * 2) for s in split)


def test_control_flow_on_a_buffer_is_exact_and_on_an_activation_a_seeded_decision() -> None:
    runs = _runs("switch")
    count, (assumed,) = runs["meta"]
    assert assumed.op == "aten::gt" and assumed.line == "datadep_models.py:53"
    taken = assumed.assumed.endswith("drew True")
    assert assumed.assumed.endswith(("drew True", "drew False"))
    # fc1, fc3 three times (repeats.item() of a buffer), and fc2 when the decision says so
    assert count.total_macs == 4 * dm.D * dm.D * (1 + 3 + (1 if taken else 0))
    assert count.calls["fc3"] == 3


def test_data_ops_on_buffers_are_exact_and_on_activations_stated() -> None:
    runs = _runs("dataops")
    count, assumed = runs["meta"]
    assert {(a.op, a.line) for a in assumed} == {("aten::gt", "datadep_models.py:76"), ("aten::gt", "datadep_models.py:77")}
    rows = next(a for a in assumed if a.line.endswith(":77"))
    kept = int(rows.assumed.rsplit("drew ", 1)[1].split(" of ")[0])
    assert count.total_macs == dm.dataops_known_macs(8) + kept * dm.D * 4


def test_detection_proposals_count_the_kept_anchors_under_the_stated_threshold_draw() -> None:
    runs = _runs("proposals")
    count, (assumed,) = runs["meta"]
    assert assumed.read_by == ("aten::nonzero (datadep_models.py:127)",)
    kept = int(assumed.assumed.rsplit("drew ", 1)[1].split(" of ")[0])
    assert count.total_macs == dm.proposals_fixed_macs(6, 6) + kept * 8 * 4
    assert runs["cpu"][0].macs["backbone"] == count.macs["backbone"]  # where the data does not matter


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_changes_only_what_is_assumed(tmp_path: Path) -> None:
    spec = load_spec(str(_yaml(tmp_path, 'target: "datadep_models:moe"\ninputs: {x: [2, 8, 16]}\n')))
    a, b = measure(spec, flops="torch", seed=0), measure(spec, flops="torch", seed=0)
    c = measure(spec, flops="torch", seed=5)
    assert a.assumptions == b.assumptions and a.get("experts.0").macs == b.get("experts.0").macs
    assert a.total.macs == c.total.macs and "(seed 5)" in c.assumptions[0].assumed


def test_an_op_that_cannot_run_on_meta_names_the_op_and_the_module(tmp_path: Path) -> None:
    (tmp_path / "badconv.py").write_text("import torch.nn as nn\n\ndef make():\n"
                                         "    return nn.Sequential(nn.Conv2d(4, 8, 3))\n", encoding="utf-8")
    spec = load_spec(str(_yaml(tmp_path, 'target: "badconv:make"\ninputs: {x: [1, 3, 8, 8]}\n')))
    built = build(spec, "meta")
    with pytest.raises(MetaUnsupported, match=r"forward failed in '0': aten::convolution failed on the meta device"):
        count_macs(built.model, built.args, built.kwargs)


transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("impl", ["eager", None])
def test_mixtral_runs_on_meta_with_the_cpu_total(impl: str | None) -> None:
    counts = {}
    for device in ("meta", "cpu"):
        torch.manual_seed(0)
        if device == "meta":
            with params_on_meta():
                model = dm.mixtral(impl)
        else:
            model = dm.mixtral(impl)
        ids = torch.randint(0, 1000, (1, 64), device=device)
        counts[device] = count_macs(model.eval(), (), {"input_ids": ids})
    assert counts["meta"].macs == counts["cpu"].macs
    assert counts["meta"].total_macs == dm.mixtral_macs(64) == 142_475_264
    assert counts["meta"].uncounted == counts["cpu"].uncounted == ()
    if impl == "eager":  # the nonzero loop reads the routing; _grouped_mm only its shape
        (routing,) = counts["meta"].assumptions
        assert (routing.op, routing.where, routing.count) == ("aten::topk", "model.layers.*.mlp.gate", 2)


class _NamedExperts(torch.nn.Module):
    """Experts in a ModuleDict found by ``f"expert_{e}"`` of a routed index (Switch Transformers' and NLLB-MoE's way)."""

    def __init__(self, experts: int = 4) -> None:
        super().__init__()
        self.router = torch.nn.Linear(dm.D, experts, bias=False)
        self.experts = torch.nn.ModuleDict({f"expert_{e}": torch.nn.Linear(dm.D, dm.D) for e in range(experts)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = self.router(x).argmax(-1)
        out = torch.zeros_like(x)
        for e in torch.unique(idx):  # 0-dim tensors: the name is formatted from their value
            (rows,) = torch.where(idx == e)
            out[rows] = self.experts[f"expert_{e}"](x[rows])
        return out


def test_a_module_named_by_a_formatted_index_is_found_on_meta() -> None:
    """Before: KeyError "expert_tensor(..., device='meta', size=(), dtype=torch.int64)" (a 0-dim meta tensor
    formatted as its repr). Each token goes through the router (D x 4) and one expert (D x D), whatever the routing."""
    tokens = 8
    with params_on_meta():
        meta = _NamedExperts()
    counts = [count_macs(model, (torch.randn(tokens, dm.D, device=device),)).total_macs
              for model, device in ((meta, "meta"), (_NamedExperts(), "cpu"))]
    assert counts == [tokens * dm.D * 4 + tokens * dm.D * dm.D] * 2  # 2,560
    assert f"{torch.tensor(3, device='meta')}".startswith("tensor(")  # outside a meta forward torch's own format
