"""Breakdown renderers: golden tables from a hand-built Profile and from the rg_output preset."""

from __future__ import annotations

import json

from conftest import render_plain

from paramscope.profiler.pipeline import measure
from paramscope.profiler.render.table import (
    breakdown_csv,
    breakdown_markdown,
    breakdown_table,
    profile_to_dict,
    select_rows,
)
from paramscope.profiler.spec import load_spec
from paramscope.profiler.stats import ModuleStats, Profile, SharedParam, Totals, Uncounted


def handbuilt() -> Profile:
    rows = (
        ModuleStats("", "TinyLM", 0, 480, 408, 72, 16, macs=1_000),
        ModuleStats("wte", "Embedding", 1, 400, 400, 0, 0, macs=0, calls=1, shared_with=("wte.weight = lm_head.weight (counted here)",)),
        ModuleStats("block", "Linear", 1, 72, 0, 72, 0, macs=600, calls=1),
        ModuleStats("lm_head", "Linear", 1, 0, 0, 0, 0, macs=400, calls=1, shared_with=("lm_head.weight = wte.weight (counted there)",)),
        ModuleStats("scale", "Parameter", 1, 8, 8, 0, 0, is_param=True),
    )
    return Profile(model="tiny", model_class="TinyLM", device="meta", total=Totals(480, 408, 72, 16, 1_000),
                   modules=rows, shared=(SharedParam("wte.weight", ("lm_head.weight",), 400),),
                   input_shapes={"ids": [2, 8]}, flops_backend="torch",
                   uncounted=(Uncounted("aten::my_op", 2, ("block",)),))


def test_handbuilt_table_golden(golden) -> None:
    prof = handbuilt()
    golden("breakdown_handbuilt.txt", render_plain(breakdown_table(prof, select_rows(prof))))


def test_handbuilt_markdown_and_csv(golden) -> None:
    prof = handbuilt()
    rows = select_rows(prof)
    golden("breakdown_handbuilt.md", breakdown_markdown(prof, rows))
    assert breakdown_csv(prof, rows).splitlines()[1] == "wte,Embedding,1,400,400,0,0,0,0,1"


def test_rg_output_table_golden(golden) -> None:
    prof = measure(load_spec("rg_output_etth1"), flops="torch")
    text = render_plain(breakdown_table(prof, select_rows(prof, depth=1)), width=110)
    golden("breakdown_rg_output_depth1.txt", text)
    # invariant: the top-level rows add up to the total (params and MACs)
    top = [m for m in prof.modules if m.depth == 1]
    assert sum(m.params for m in top) == prof.total.params
    assert sum(m.macs or 0 for m in top) == prof.total.macs


def test_json_is_exact_and_complete() -> None:
    prof = measure(load_spec("rg_output_etth1"), flops="torch")
    doc = json.loads(json.dumps(profile_to_dict(prof)))
    assert doc["total"]["flops"] == 2 * doc["total"]["macs"]
    assert {m["path"] for m in doc["modules"]} >= {"slot_fuse.score_mlp", "output_hgate_bias", "encoder.layers.0"}
    for m in doc["modules"]:
        assert isinstance(m["params"], int)


def test_collapse_repeats_folds_identical_numbered_siblings() -> None:
    from paramscope.profiler.render.table import collapse_repeats

    def row(path: str, params: int, type_: str = "Linear") -> ModuleStats:
        return ModuleStats(path, type_, path.count(".") + 1, params, params, 0, 0, macs=params * 2, calls=1)

    heads = [row(f"heads.{i}", 10) for i in range(4)]
    rows = [row("heads", 40, "ModuleList"), *heads, row("proj", 7)]
    out = collapse_repeats(rows)
    # the run is the whole ModuleList: said on the parent's row, the columns still add up
    assert [(m.path, m.type, m.params, m.macs) for m in out] == [
        ("heads", "ModuleList (4 x Linear)", 40, 80), ("proj", "Linear", 7, 14)]
    # a partial run (different sizes break it) stays expanded below three
    mixed = [row("a.0", 1), row("a.1", 1), row("a.2", 2), row("a.3", 1)]
    assert collapse_repeats(mixed) == mixed
    # a run inside a parent that has other children folds into one row with the sums
    inner = [row("p.0", 5), row("p.1", 5), row("p.2", 5)]
    (folded,) = collapse_repeats(inner)
    assert (folded.path, folded.type, folded.params, folded.macs) == ("p.[0-2]", "3 x Linear", 15, 30)
