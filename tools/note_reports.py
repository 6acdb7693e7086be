"""The four example reports: each seed note's figures (its preset's ``note:``) beside paramscope's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from report_kit import (Measurements, figure_label, head, law_text, macs, match, memory_section, ok, saving, table,
                        times, verdict)

from paramscope.model_zoo import registry
from paramscope.profiler.groups import UNMATCHED, group_parameters
from paramscope.profiler.render.sweep import sweep_markdown
from paramscope.profiler.render.table import breakdown_markdown, select_rows
from paramscope.profiler.render.units import fmt_int, fmt_pct, human
from paramscope.profiler.spec import ModelSpec, apply_overrides, load_spec
from paramscope.profiler.stats import Profile
from paramscope.profiler.sweep import Sweep, fit_law, make_axes, run_sweep

__all__ = ["REPORTS"]


# ---- rg_output -------------------------------------------------------------------------------

def _rg_report(m: Measurements) -> str:
    spec = load_spec("rg_output_etth1")
    note = registry.preset_note("rg_output_etth1")
    lr = note["lowrank_sweep"]
    base = m.profile(spec)
    lowrank = run_sweep(spec, make_axes(spec, {"rank": list(lr["ranks"]), "pred_len": list(lr["pred_lens"])}),
                        measure_fn=m.profile)
    # the baselines of the low-rank sweep are the full-rank preset at each pred_len
    by_len = {v.knobs["pred_len"]: ok(v, "rg_output low-rank sweep", baseline=True) for v in lowrank.variants}
    out = head("rg_output: residual gated output fusion", note["file"])
    out += ["## Breakdown of the preset (depth 2)", "", breakdown_markdown(base, select_rows(base, depth=2))]
    out += [f"## The note says / measured (ETTh1, pred_len {base.config['args']['pred_len']})", ""]
    rows = [[figure_label(p), fmt_int(n), fmt_int(base.get(p).params if p else base.total.params),
             match(n, base.get(p).params if p else base.total.params)] for p, n in note["params"].items()]
    for pred_len, figures in note["at_pred_len"].items():
        for p, n in figures.items():
            got = by_len[pred_len].get(p).params
            rows.append([f"{figure_label(p)} at pred_len {pred_len}", fmt_int(n), fmt_int(got), match(n, got)])
    out += table(["figure", "the note says", "measured", "match"], rows, "lrrl")
    out += _rg_hidden(m, spec, base, note) + _rg_lowrank(lowrank, lr) + _rg_laws([by_len[n] for n in lr["pred_lens"]],
                                                                                 lr["pred_lens"])
    return "\n".join(out + memory_section(m, spec))


def _rg_hidden(m: Measurements, spec: ModelSpec, base: Profile, note: Mapping[str, Any]) -> list[str]:
    hs = note["hidden_sweep"]
    sweep = run_sweep(spec, make_axes(spec, {"hidden": [hs["hidden"]]}), measure_fn=m.profile)
    v = sweep.variants[0]
    small = ok(v, "rg_output hidden sweep")
    what = f"rg_output hidden sweep ({', '.join(f'{k}={x}' for k, x in v.knobs.items())})"
    bp, bm = base.total.params, macs(base, "rg_output preset")
    vp, vm = small.total.params, macs(small, what)
    says = f"{fmt_int(note['params'][''])} -> {fmt_int(hs['total'])} (-{hs['saving_pct']}%)"
    rows = [["params", says, f"{fmt_int(bp)} -> {fmt_int(vp)} (-{saving(vp, bp):.1f}%)"],
            ["MACs", "not given", f"{fmt_int(bm)} -> {fmt_int(vm)} (-{saving(vm, bm):.1f}%)"]]
    old, new = base.config["args"]["slot_fuse"]["hidden"], small.config["args"]["slot_fuse"]["hidden"]
    return ([f"## Hidden sweep: `slot_fuse.hidden` {old} -> {new}", ""]
            + table(["", "the note says", "measured"], rows, "lll") + [sweep_markdown(sweep)])


def _rg_lowrank(sweep: Sweep, lr: Mapping[str, Any]) -> list[str]:
    what = "rg_output low-rank sweep"
    cut = {(v.knobs["rank"], v.knobs["pred_len"]):
           saving(ok(v, what).total.params, ok(v, what, baseline=True).total.params) for v in sweep.variants}
    rows = [[str(r)] + [f"{cut[r, p]:.2f}%" for p in lr["pred_lens"]] for r in lr["ranks"]]
    lo, hi = min(cut, key=cut.__getitem__), max(cut, key=cut.__getitem__)
    lowrank = ok(sweep.variants[0], what).config["args"]["slot_fuse"]
    says_lo, says_hi = lr["saving_pct"]
    out = [f"## Low-rank sweep: `score_mode={lowrank['score_mode']}`, hidden {lowrank['hidden']}", "",
           "Parameter saving of each rank against the full-rank model at the same pred_len:", ""]
    out += table(["rank \\ pred_len", *map(str, lr["pred_lens"])], rows)
    out += table(["", "the note says", "measured"], align="lll", rows=[
        ["saving range", f"{says_lo:.2f}% ~ {says_hi:.2f}%", f"{cut[lo]:.2f}% ~ {cut[hi]:.2f}%"],
        ["smallest saving at", "-", f"rank {lo[0]}, pred_len {lo[1]}"],
        ["largest saving at", "-", f"rank {hi[0]}, pred_len {hi[1]}"]])
    return out + [sweep_markdown(sweep)]


def _rg_laws(profs: Sequence[Profile], pred_lens: Sequence[int]) -> list[str]:
    rows = []
    for mod in profs[0].modules:
        if not mod.path or mod.depth > 2 or mod.path.startswith("slot_projectors."):
            continue
        ps = [pr.get(mod.path).params for pr in profs]
        law = law_text(*fit_law(pred_lens, ps), "pred_len")
        ms = [n for pr in profs if (n := pr.get(mod.path).macs) is not None]
        mlaw = "-" if mod.is_param or len(ms) < len(profs) else law_text(*fit_law(pred_lens, ms), "pred_len")
        rows.append([f"`{mod.path}`", fmt_int(ps[0]), fmt_int(ps[-1]), law, mlaw])
    first, last = pred_lens[0], pred_lens[-1]
    heads = ["module", f"params at pred_len {first}", f"params at pred_len {last}", "params vs pred_len",
             "MACs vs pred_len"]
    return ([f"## Scaling with pred_len (full-rank preset, pred_len {'/'.join(map(str, pred_lens))})", "",
             "The note: `score_mlp` is a fixed cost independent of pred_len; `slot_projectors` grow "
             "linearly with pred_len (K x (d*pred_len + pred_len) = 3,078 per step).", ""]
            + table(heads, rows, "lrrll"))


# ---- gru_router ------------------------------------------------------------------------------

_VARIANT_LABELS = {"lowrank": "low-rank (rank {rank})", "lightweight": "lightweight (Linear + gating)",
                   "block_sparse": "sparse (block-sparse, {num_groups} blocks)", "grouped": "grouped ({num_groups} GRUs)"}


def _gru_report(m: Measurements) -> str:
    spec = load_spec("gru_router_spectra")
    note = registry.preset_note("gru_router_spectra")
    variant = registry.get_family("gru_router").knob("variant")
    assert variant is not None
    sweep = run_sweep(spec, make_axes(spec, {"variant": list(variant.choices), "router_dim": list(note["router_dims"])}),
                      measure_fn=m.profile)
    got: dict[tuple[str, int], Profile] = {
        (v.knobs["variant"], v.knobs["router_dim"]): ok(v, "gru_router sweep") for v in sweep.variants}
    combined = m.profile(apply_overrides(spec, dict(note["combined"]["set"])))
    args, inputs = sweep.base.config["args"], sweep.base.config["inputs"]
    out = head("gru_router: the global GRU load balancer and its cheaper variants", note["file"])
    out += [f"Inputs: batch {inputs['batch_size']}, seq_len {inputs['seq_len']}, token width {args['hidden_size']}, "
            f"{args['num_experts']} experts (GRU hidden = {args['num_experts']} x router_dim). "
            f"`lowrank` uses rank {args['rank']} and `grouped`/`block_sparse` {args['num_groups']} groups, "
            "as the preset, unless said otherwise.", ""]
    out += ["## The note claims / measured", ""] + _gru_claims(got, combined, note)
    out += [f"## Every variant and router_dim against the base ({args['variant']}, router_dim {args['router_dim']})",
            "",
            "`delta %` is against the base design; the scaling law is fitted over router_dim for variant gru.", "",
            sweep_markdown(sweep)]
    rows = [[var, str(d), fmt_int(p.total.params), fmt_int(p.total.macs)] for (var, d), p in got.items()]
    out += ["### Exact counts", ""] + table(["variant", "router_dim", "params", "MACs"], rows, "ll")
    return "\n".join(out + memory_section(m, spec))


def _gru_claims(got: dict[tuple[str, int], Profile], combined: Profile, note: Mapping[str, Any]) -> list[str]:
    def tot(var: str, dim: int, what: str) -> int:
        p = got[var, dim]
        return p.total.params if what == "params" else macs(p, f"gru_router variant={var}, router_dim={dim}")

    base_p, base_m = tot("gru", 128, "params"), tot("gru", 128, "macs")
    gp = note["gru_params"]
    rows = [["GRU params at router_dim 128", gp["says"], fmt_int(base_p), "",
             f"{gp['value'] / 1e6:g}M is {100.0 * (gp['value'] - base_p) / base_p:.1f}% high"]]

    def claim(label: str, text: str, new: int, old: int, lo: float | None, hi: float | None) -> None:
        s = saving(new, old)
        rows.append([label, text, f"{fmt_int(old)} -> {fmt_int(new)}", f"{s:.2f}% ({times(new, old)} less)",
                     verdict(s, lo, hi)])

    def noted(label: str, said: Mapping[str, Any], new: int, old: int) -> None:
        claim(label, said["says"], new, old, *said["pct"])

    r32 = note["router_dim_32"]
    p32, m32 = tot("gru", 32, "params"), tot("gru", 32, "macs")
    claim("router_dim 128 -> 64: params", "not given", tot("gru", 64, "params"), base_p, None, None)
    claim("router_dim 128 -> 64: compute (MACs)", "not given", tot("gru", 64, "macs"), base_m, None, None)
    noted("router_dim 128 -> 32: params", r32["params"], p32, base_p)
    rows.append(["router_dim 32: params", r32["params_total"], fmt_int(p32), "", f"{human(p32)}, not {r32['params_total']}"])
    noted("router_dim 128 -> 32: compute (MACs)", r32["macs"], m32, base_m)
    noted("router_dim 128 -> 32: weight memory (fp32)", r32["weight_memory"], 4 * p32, 4 * base_p)
    for var, pct in note["variants"].items():
        label = _VARIANT_LABELS[var].format(**got[var, 128].config["args"])
        (plo, phi), (mlo, mhi) = pct["params"], pct["macs"]
        claim(f"{label}: params", f"{plo}-{phi}% fewer", tot(var, 128, "params"), base_p, plo, phi)
        claim(f"{label}: compute (MACs)", f"{mlo}-{mhi}% less", tot(var, 128, "macs"), base_m, mlo, mhi)
    cargs = combined.config["args"]
    both = f"router_dim {cargs['router_dim']} + low-rank (rank {cargs['rank']})"
    noted(f"{both}: params", note["combined"]["params"], combined.total.params, base_p)
    noted(f"{both}: compute (MACs)", note["combined"]["macs"], macs(combined, f"gru_router {both}"), base_m)
    heads = ["estimate (vs gru, router_dim 128)", "the note claims", "measured", "measured reduction", "verdict"]
    notes = [f"Variants are at router_dim 128 unless named. The combined row uses rank {cargs['rank']}: the note "
             "recommends rank 128-256 for router_dim 32; rank 128 is the cheaper end. Weight memory is "
             "4 bytes x params. MACs count the matmuls (the GRU gates' elementwise ops are not MACs).", ""]
    return table(heads, rows, "llrrl") + notes


# ---- titan_stream ----------------------------------------------------------------------------

def _keyword_groups(m: Measurements, spec: ModelSpec, keywords: Mapping[str, Sequence[str]]) -> dict[str, tuple[int, int]]:
    """(tensors, elements) per group, by substring of the parameter name, as the note's code does."""
    report = group_parameters(m.build(spec).model, {name: tuple(keys) for name, keys in keywords.items()})
    found = {g.name: (g.tensors, g.elements) for g in report.groups}
    return {name: found.get(name, (0, 0)) for name in (*keywords, UNMATCHED)}


def _titan_report(m: Measurements) -> str:
    spec = load_spec("titan_stream")
    note = registry.preset_note("titan_stream")
    profs = {h: m.profile(apply_overrides(spec, {"head": h})) for h in note["heads"]}
    args, inputs = profs["mean"].config["args"], profs["mean"].config["inputs"]
    out = head("titan_stream: the three forecast heads", note["file"])
    out += [f"Inputs: batch {inputs['batch_size']}, seq_len {args['seq_len']}, c_in {args['c_in']}, "
            f"pred_len {args['pred_len']}, d_model {args['d_model']}.", "",
            "## Head params as a share of the whole model", ""]
    rows = []
    for name, said in note["heads"].items():
        p = profs[name]
        h = p.get("head")
        rows.append([name, fmt_int(h.params), said["params"], fmt_int(p.total.params), fmt_pct(h.params, p.total.params),
                     said["share"], fmt_int(h.macs), fmt_pct(h.macs, p.total.macs)])
    heads = ["head", "head params", "note", "model params", "head share", "note", "head MACs", "head share of MACs"]
    out += table(heads, rows)
    first = profs["flatten_mlp"].get("head.net.1").params
    out += ["The note's 11.5% and 35.1% cannot both hold for one backbone: with the rest of the model fixed at "
            f"the size that gives attention_pool {rows[2][4]}, the mean head is {rows[0][4]}. Its \"201M\" for "
            f"flatten_mlp is its first Linear alone ({fmt_int(first)} params).", ""]
    old_keys = note["old_backbone_keywords"]
    out += ["## Parameter groups by name keyword (mean head)", "",
            "The note's fix groups parameters for two learning rates by substring of the name. "
            f"With the old keywords ({', '.join(f'`{k}`' for k in old_keys)}) nothing matched: \"Backbone Params: 0\".", ""]
    mean = apply_overrides(spec, {"head": "mean"})
    groups = note["groups"]
    fixed = {name: g["keywords"] for name, g in groups.items()}
    old = {name: (old_keys if name == "backbone" else g["keywords"]) for name, g in groups.items()}
    new_n, old_n = _keyword_groups(m, mean, fixed), _keyword_groups(m, mean, old)
    says = {**{name: g["says"] for name, g in groups.items()}, UNMATCHED: "-"}
    rows = [[g, says[g], f"{new_n[g][0]} tensors, {fmt_int(new_n[g][1])} elements",
             f"{old_n[g][0]} tensors, {fmt_int(old_n[g][1])} elements"] for g in new_n]
    heads = ["group", "the note says (fixed keywords)", "measured, fixed keywords", "measured, old keywords"]
    out += table(heads, rows, "llll")
    return "\n".join(out)


# ---- selective_lm ----------------------------------------------------------------------------

_SKIPS = (1, 2, 3, 4, 8)  # skip_interval values of the per-token table (the note uses 2)


def _selective_report(m: Measurements) -> str:
    spec = load_spec("selective_lm")
    note = registry.preset_note("selective_lm")
    learned = m.profile(spec)
    T = int(learned.config["inputs"]["seq_len"])
    out = head("selective_lm: params and MACs per generated token", note["file"])
    rows = [[figure_label(p), fmt_int(n), fmt_int(learned.get(p).params if p else learned.total.params),
             match(n, learned.get(p).params if p else learned.total.params)] for p, n in note["params"].items()]
    out += ["## The note says / measured (learned gate)", ""]
    out += table(["figure", "the note says", "measured", "match"], rows, "lrrl")
    d, vocab = learned.config["args"]["d_model"], learned.config["args"]["vocab_size"]
    out += ["## MACs per generated token against skip_interval", "",
            f"MACs per generated token = MACs of one forward over seq_len {T} (batch 1, full causal attention, "
            f"no KV cache) / the number of tokens the forward emits. With `gate: fixed` the model applies "
            f"`lm_head` at positions N-1, 2N-1, ... (0-based; N = skip_interval), so it emits "
            f"floor({T} / N) tokens; `lm_head MACs` = emitted x {d} x {vocab:,} confirms the count. "
            f"The learned gate scores all {T} positions (its emit/carry decision comes after `lm_head`), "
            f"so its row divides by {T}.", ""]
    fixed = apply_overrides(spec, {"gate": "fixed"})
    rows, first = [], 0
    for n in _SKIPS:
        p = m.profile(apply_overrides(fixed, {"skip_interval": n}))
        emitted, total = T // n, macs(p, f"selective_lm gate=fixed, skip_interval={n}")
        per_token = total // emitted
        first = first or per_token
        rows.append([f"fixed, N={n}", fmt_int(p.total.params), str(emitted), fmt_int(total),
                     fmt_int(p.get("lm_head").macs), fmt_int(per_token), f"{100.0 * per_token / first:.1f}%"])
    lm = macs(learned, "selective_lm (learned gate)")
    rows.append(["learned gate", fmt_int(learned.total.params), f"{T} scored", fmt_int(lm),
                 fmt_int(learned.get("lm_head").macs), fmt_int(lm // T), f"{100.0 * (lm // T) / first:.1f}%"])
    heads = ["model", "params", "emitted tokens", "MACs per forward", "lm_head MACs", "MACs per generated token",
             "vs fixed N=1"]
    out += table(heads, rows)
    out += ["Per-token MACs are rounded down to an integer. The fixed pattern has no `output_gate` "
            f"({fmt_int(learned.get('output_gate').params)} params fewer) and the same parameters at every N: only "
            "`lm_head` MACs shrink with N, while the blocks still run at every position, so the cost per "
            "generated token grows with N.", ""]
    return "\n".join(out)


REPORTS: dict[str, Callable[[Measurements], str]] = {
    "rg_output.md": _rg_report, "gru_router.md": _gru_report,
    "titan_stream.md": _titan_report, "selective_lm.md": _selective_report,
}
"""File name -> the function that measures and renders it."""
