"""``--seed`` and the assumptions of a meta forward, through the CLI (table footer, JSON, errors)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from paramscope.cli.app import app

MODELS = Path(__file__).resolve().parents[1] / "profiler" / "datadep_models.py"


def _config(tmp_path: Path, factory: str, inputs: str) -> str:
    shutil.copy(MODELS, tmp_path / "datadep_models.py")
    path = tmp_path / f"{factory}.yaml"
    path.write_text(f'target: "datadep_models:{factory}"\ninputs: {inputs}\n', encoding="utf-8")
    return str(path)


def _invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_moe_table_states_the_routing_and_marks_the_experts(tmp_path: Path) -> None:
    res = _invoke("breakdown", _config(tmp_path, "moe", "{x: [2, 8, 16]}"), "--seed", "3")
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())  # footer lines wrap at the table's width
    assert text.count("assumed:") == 1
    assert "assumed: aten::topk in (root) (datadep_models.py:99): [16, 4] values not known on meta drawn i.i.d. " \
           "N(0, 1) (indices uniform at random) (seed 3); read by aten::nonzero (datadep_models.py:102)" in text
    assert all("~" in line for line in res.stdout.splitlines() if "experts." in line)
    assert "MACs per forward: 33,792" in res.stdout  # 16 tokens x top-2 of 4 experts, whatever the routing


def test_json_lists_each_assumption(tmp_path: Path) -> None:
    res = _invoke("breakdown", _config(tmp_path, "switch", "{x: [4, 16]}"), "--format", "json")
    assert res.exit_code == 0, res.output
    (a,) = json.loads(res.stdout)["assumptions"]
    assert (a["op"], a["where"], a["line"], a["count"]) == ("aten::gt", "", "datadep_models.py:53", 1)
    assert a["assumed"].endswith(("drew True", "drew False")) and "(seed 0)" in a["assumed"]
    assert a["read_by"] == ["tensor to Python (.item(), if, int()) (datadep_models.py:53)"]


def test_cpu_has_no_assumptions(tmp_path: Path) -> None:
    res = _invoke("breakdown", _config(tmp_path, "switch", "{x: [4, 16]}"), "--format", "json", "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["assumptions"] == []


def test_an_op_failing_on_meta_suggests_cpu(tmp_path: Path) -> None:
    (tmp_path / "badconv.py").write_text("import torch.nn as nn\n\ndef make():\n"
                                         "    return nn.Sequential(nn.Conv2d(4, 8, 3))\n", encoding="utf-8")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text('target: "badconv:make"\ninputs: {x: [1, 3, 8, 8]}\n', encoding="utf-8")
    res = _invoke("breakdown", str(cfg))
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: {cfg}: forward failed in module '0': RuntimeError: aten::convolution "
                                  "failed on the meta device: Invalid channel dimensions; it may run with --device cpu")


def test_memory_states_what_the_meta_step_assumed(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "moe", "{x: [2, 8, 16]}")
    res = _invoke("memory", cfg, "--train", "adam", "--dtype", "fp32", "--seed", "3", "--format", "json")
    assert res.exit_code == 0, res.output
    (plan,) = json.loads(res.stdout)["plans"]
    (a,) = plan["assumptions"]
    assert (a["op"], a["where"], a["count"]) == ("aten::topk", "", 2)  # the routing, once per training step
    assert a["assumed"].endswith("(indices uniform at random) (seed 3)")
    res = _invoke("memory", cfg, "--seed", "3")
    assert res.exit_code == 0, res.output
    assert "assumed: aten::topk in (root) (datadep_models.py:99)" in " ".join(res.stdout.split())


def test_memory_of_an_hf_mixtral_config_on_meta(tmp_path: Path) -> None:
    """Issue 8's Mixtral through ``hf:``: ``_grouped_mm`` (a bf16-only meta kernel) in an Adam step."""
    folder = tmp_path / "mixtral"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "vocab_size": 1000, "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2,
        "num_local_experts": 8, "num_experts_per_tok": 2, "use_cache": False}), encoding="utf-8")
    res = _invoke("memory", f"hf:{folder}", "--input", "input_ids=1x64:int64", "--dtype", "fp32", "--train", "adam",
                  "--format", "json")
    assert res.exit_code == 0, res.output
    (plan,) = json.loads(res.stdout)["plans"]
    # per layer: q, o 256x256, k, v 256x64, two norms, router 256x8, 8 experts x (256x1024 + 512x256);
    # embedding and lm head 1000x256 each, the final norm 256; the buffer: rotary inv_freq, 32 fp32
    params = 2 * (2 * 256 * 256 + 2 * 256 * 64 + 2 * 256 + 256 * 8 + 8 * (256 * 1024 + 512 * 256)) + 2 * 1000 * 256 + 256
    assert params == 7_136_512
    assert plan["live_at_peak"]["weights_bytes"] == 4 * params + 4 * 32
    assert plan["peak_phase"] == "optimizer" and plan["assumptions"] == []  # grouped_mm sizes nothing by the routing
