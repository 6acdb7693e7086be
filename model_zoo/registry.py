"""Registry of zoo families and presets. Imports no torch until a family is loaded.

Adding a family touches this package only: a ``FamilyInfo`` below, the family module (the contract
is in ``base.py``) and its preset YAMLs in ``configs/``. The CLI's knob flags (``whatif --rank``),
``zoo show`` and ``steps``' carry defaults are all read from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from paramscope.model_zoo.base import Family, FamilyInfo, Knob

__all__ = [
    "FAMILIES", "CONFIG_DIR", "family_names", "get_family", "load_family", "presets", "preset_path",
    "preset_doc", "preset_note", "knob_aliases",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

_BATCH = Knob("batch_size", "inputs.batch_size", "workload", "example-input batch size")

FAMILIES: tuple[FamilyInfo, ...] = (
    FamilyInfo(
        name="rg_output",
        module="paramscope.model_zoo.rg_output",
        summary="slot forecaster with slot_fuse.mode=residual_gated_output (ETTh1/ETTh2)",
        source="rg_output_param_issue.ko.md",
        knobs=(
            Knob("hidden", "args.slot_fuse.hidden", "design", "score_mlp hidden width"),
            Knob("rank", "args.slot_fuse.rank", "design", "low-rank factor of score_mlp's first layer",
                 implies=(("args.slot_fuse.score_mode", "lowrank"),)),
            Knob("score_mode", "args.slot_fuse.score_mode", "design", "score_mlp's first layer", str,
                 ("full", "lowrank")),
            Knob("d_model", "args.d_model", "design", "model width"),
            Knob("hgate_init", "args.hgate_init", "design", "horizon-gate bias schedule", str, ("linear", "sigmix")),
            Knob("pred_len", "args.pred_len", "workload", "forecast horizon"),
            Knob("seq_len", "args.seq_len", "workload", "look-back window"),
            _BATCH,
        ),
        inputs=("x: (batch_size, seq_len, c_in)",),
    ),
    FamilyInfo(
        name="gru_router",
        module="paramscope.model_zoo.gru_router",
        summary="global GRU load balancer of a MoE router, and its five cheaper variants",
        source="global_gru_optimization.ko.md",
        knobs=(
            Knob("router_dim", "args.router_dim", "design", "per-expert router width (GRU hidden = num_experts*router_dim)"),
            Knob("num_experts", "args.num_experts", "design", "number of experts"),
            Knob("variant", "args.variant", "design", "load balancer", str,
                 ("gru", "lowrank", "lightweight", "block_sparse", "grouped")),
            Knob("rank", "args.rank", "design", "rank of the low-rank GRU", implies=(("args.variant", "lowrank"),)),
            Knob("num_groups", "args.num_groups", "design", "groups of the grouped / block-sparse GRU"),
            Knob("seq_len", "inputs.seq_len", "workload", "tokens per sequence"),
            _BATCH,
        ),
        inputs=("x: (batch_size, seq_len, hidden_size)",),
    ),
    FamilyInfo(
        name="titan_stream",
        module="paramscope.model_zoo.titan_stream",
        summary="Titan-Stream streaming forecaster with neural memory and three forecast heads",
        source="titan_stream_fixes.zh.md",
        knobs=(
            Knob("head", "args.head", "design", "forecast head", str, ("mean", "flatten_mlp", "attention_pool")),
            Knob("d_model", "args.d_model", "design", "model width D"),
            Knob("forecast_hidden_dim", "args.forecast_hidden_dim", "design", "hidden width of the flatten_mlp head"),
            Knob("pred_len", "args.pred_len", "workload", "forecast horizon"),
            Knob("seq_len", "args.seq_len", "workload", "look-back window"),
            _BATCH,
        ),
        inputs=("x: (batch_size, seq_len, c_in)", "memory: (batch_size, d_model, d_model), optional",
                "momentum: (batch_size, d_model, d_model), optional"),
        outputs=("forecast", "stats"),  # TitanStream.forward returns (forecast, stats)
        # the note's training loop: temp_memory = stats['updated_memory'] (+ momentum), fed back
        carry=(("stats.updated_memory", "memory"), ("stats.updated_momentum", "momentum")),
    ),
    FamilyInfo(
        name="selective_lm",
        module="paramscope.model_zoo.selective_lm",
        summary="language model with a selective output gate / fixed skip pattern",
        source="selective_output_lm.ja.md",
        knobs=(
            Knob("skip_interval", "args.skip_interval", "design", "emit a token every N positions"),
            Knob("gate", "args.gate", "design", "output gate", str, ("learned", "fixed")),
            Knob("d_model", "args.d_model", "design", "model width"),
            Knob("n_layers", "args.n_layers", "design", "transformer blocks"),
            Knob("seq_len", "inputs.seq_len", "workload", "tokens per sequence"),
            _BATCH,
        ),
        inputs=("input_ids: (batch_size, seq_len), int64",),
    ),
    FamilyInfo(
        name="spectra_layer",
        module="paramscope.model_zoo.spectra_layer",
        summary="SPECTRA MoE layer (attention, global GRU router, experts) for mixed-precision / QAT plans",
        source="gru_qat_analysis.ko.md",
        knobs=(
            Knob("router_dim", "args.router_dim", "design", "per-expert router width (GRU hidden = num_experts*router_dim)"),
            Knob("num_experts", "args.num_experts", "design", "number of experts"),
            Knob("d_ff", "args.d_ff", "design", "hidden width of each expert"),
            Knob("seq_len", "inputs.seq_len", "workload", "tokens per sequence"),
            _BATCH,
        ),
        inputs=("x: (batch_size, seq_len, hidden_size)", "hn: (1, batch_size, num_experts*router_dim), optional"),
        outputs=("y", "hn"),  # the note: routing_logits, hn = self.load_balancer(x, hn)
        carry=(("hn", "hn"),),  # hn is handed on to the next call
    ),
)

_BY_NAME = {f.name: f for f in FAMILIES}


def family_names() -> list[str]:
    """Names of all zoo families, in registry order."""
    return [f.name for f in FAMILIES]


def get_family(name: str) -> FamilyInfo:
    """The registry entry of ``name``; ``KeyError`` if there is none."""
    return _BY_NAME[name]


def load_family(name: str) -> Family:
    """Import a family module (this imports torch) and check it against the contract."""
    info = get_family(name)
    return Family.from_module(info, importlib.import_module(info.module))


def knob_aliases() -> dict[str, list[tuple[str, Knob]]]:
    """Every knob alias of every family -> [(family, knob)], aliases in first-seen order."""
    out: dict[str, list[tuple[str, Knob]]] = {}
    for fam in FAMILIES:
        for knob in fam.knobs:
            out.setdefault(knob.alias, []).append((fam.name, knob))
    return out


def presets() -> dict[str, Path]:
    """Preset name (file stem) -> YAML path, sorted by name."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}


def preset_path(name: str) -> Path | None:
    """Path of the preset called ``name``, or None."""
    return presets().get(name)


def preset_doc(name: str) -> dict[str, Any]:
    """The YAML document of preset ``name`` (``KeyError`` if there is no such preset)."""
    path = presets()[name]
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data if isinstance(data, dict) else {}


def preset_note(name: str) -> Mapping[str, Any]:
    """The ``note:`` block of preset ``name``: the figures its research note states (may be empty)."""
    note = preset_doc(name).get("note") or {}
    return note if isinstance(note, Mapping) else {}
