"""Registry of zoo families and presets. Imports no torch until a family is loaded."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from paramscope.model_zoo.base import FamilyInfo, Knob

__all__ = ["FAMILIES", "CONFIG_DIR", "family_names", "get_family", "load_family", "presets", "preset_path"]

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
            Knob("score_mode", "args.slot_fuse.score_mode", "design", "full | lowrank"),
            Knob("d_model", "args.d_model", "design", "model width"),
            Knob("hgate_init", "args.hgate_init", "design", "horizon-gate bias schedule: linear | sigmix"),
            Knob("pred_len", "args.pred_len", "workload", "forecast horizon"),
            Knob("seq_len", "args.seq_len", "workload", "look-back window"),
            _BATCH,
        ),
    ),
    FamilyInfo(
        name="gru_router",
        module="paramscope.model_zoo.gru_router",
        summary="global GRU load balancer of a MoE router, and its five cheaper variants",
        source="global_gru_optimization.ko.md",
        knobs=(
            Knob("router_dim", "args.router_dim", "design", "per-expert router width (GRU hidden = num_experts*router_dim)"),
            Knob("num_experts", "args.num_experts", "design", "number of experts"),
            Knob("variant", "args.variant", "design", "gru | lowrank | lightweight | block_sparse | grouped"),
            Knob("rank", "args.rank", "design", "rank of the low-rank GRU", implies=(("args.variant", "lowrank"),)),
            Knob("num_groups", "args.num_groups", "design", "groups of the grouped / block-sparse GRU"),
            Knob("seq_len", "inputs.seq_len", "workload", "tokens per sequence"),
            _BATCH,
        ),
    ),
    FamilyInfo(
        name="titan_stream",
        module="paramscope.model_zoo.titan_stream",
        summary="Titan-Stream streaming forecaster with neural memory and three forecast heads",
        source="titan_stream_fixes.zh.md",
        knobs=(
            Knob("head", "args.head", "design", "mean | flatten_mlp | attention_pool"),
            Knob("d_model", "args.d_model", "design", "model width D"),
            Knob("forecast_hidden_dim", "args.forecast_hidden_dim", "design", "hidden width of the flatten_mlp head"),
            Knob("pred_len", "args.pred_len", "workload", "forecast horizon"),
            Knob("seq_len", "args.seq_len", "workload", "look-back window"),
            _BATCH,
        ),
    ),
    FamilyInfo(
        name="selective_lm",
        module="paramscope.model_zoo.selective_lm",
        summary="language model with a selective output gate / fixed skip pattern",
        source="selective_output_lm.ja.md",
        knobs=(
            Knob("skip_interval", "args.skip_interval", "design", "emit a token every N positions"),
            Knob("gate", "args.gate", "design", "learned | fixed"),
            Knob("d_model", "args.d_model", "design", "model width"),
            Knob("n_layers", "args.n_layers", "design", "transformer blocks"),
            Knob("seq_len", "inputs.seq_len", "workload", "tokens per sequence"),
            _BATCH,
        ),
    ),
)

_BY_NAME = {f.name: f for f in FAMILIES}


def family_names() -> list[str]:
    """Names of all zoo families, in registry order."""
    return [f.name for f in FAMILIES]


def get_family(name: str) -> FamilyInfo:
    """The registry entry of ``name``; ``KeyError`` if there is none."""
    return _BY_NAME[name]


def load_family(name: str) -> ModuleType:
    """Import a family module (this imports torch)."""
    return importlib.import_module(get_family(name).module)


def presets() -> dict[str, Path]:
    """Preset name (file stem) -> YAML path, sorted by name."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}


def preset_path(name: str) -> Path | None:
    """Path of the preset called ``name``, or None."""
    return presets().get(name)
