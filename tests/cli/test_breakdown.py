"""`paramscope breakdown` through Typer's runner: figures, formats, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RG_OUTPUT_NOTE, one_error_line

from paramscope.cli.app import app

runner = CliRunner()

RG_NOTE = {path: n for path, n in RG_OUTPUT_NOTE.items() if path}  # the note's submodule figures


def run(*args: str):
    return runner.invoke(app, list(args))


def breakdown_json(*args: str) -> dict:
    res = run("breakdown", *args, "--format", "json", "--flops", "none")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_rg_output_preset_reproduces_every_figure_of_the_note() -> None:
    doc = breakdown_json("rg_output_etth1")
    assert doc["total"]["params"] == 10_371_074
    by_path = {m["path"]: m["params"] for m in doc["modules"]}
    for path, want in RG_NOTE.items():
        assert by_path[path] == want, path


def test_table_shows_the_figures_with_separators() -> None:
    res = run("breakdown", "rg_output_etth1", "--flops", "none")
    assert res.exit_code == 0, res.output
    for path, want in RG_NOTE.items():
        if path.count(".") < 2:  # the default depth
            assert path in res.stdout and f"{want:,}" in res.stdout
    assert "10,371,074" in res.stdout


def test_set_pred_len_720() -> None:
    doc = breakdown_json("rg_output_etth1", "--set", "pred_len=720")
    by_path = {m["path"]: m["params"] for m in doc["modules"]}
    assert by_path["slot_projectors"] == 2_216_160  # 6 * (512*720 + 720)
    assert doc["config"]["args"]["pred_len"] == 720


def test_hidden_512_total() -> None:
    assert breakdown_json("rg_output_etth1", "--set", "slot_fuse.hidden=512")["total"]["params"] == 8_008_706


def test_family_name_and_path_both_work(tmp_path: Path) -> None:
    from paramscope.model_zoo.registry import preset_path

    doc = breakdown_json(str(preset_path("rg_output_etth1")))
    assert doc["total"]["params"] == 10_371_074


@pytest.mark.parametrize("fmt", ["md", "csv"])
def test_md_and_csv(fmt: str) -> None:
    res = run("breakdown", "rg_output_etth1", "--flops", "none", "--format", fmt, "--depth", "1")
    assert res.exit_code == 0, res.output
    if fmt == "md":
        assert "| `slot_fuse` | ResidualGatedFuse | 3,150,338 |" in res.stdout
    else:
        assert "slot_fuse,ResidualGatedFuse,1,3150338," in res.stdout


def test_output_file_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    res = run("breakdown", "rg_output_etth1", "--flops", "none", "--format", "json", "--output", str(out))
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["total"]["params"] == 10_371_074
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temp file left behind


def test_user_target_model_next_to_yaml(user_config: Path) -> None:
    doc = breakdown_json(str(user_config))
    # emb 100*16 = 1600 (head tied: 0), conv 16*16*3+16 = 784,
    # lstm 4*(16*16 + 16*16 + 16 + 16) = 2176, qkv 16*48 + 48 = 816 -> 5376
    assert doc["total"]["params"] == 5376
    assert doc["shared"] == [{"owner": "emb.weight", "aliases": ["head.weight"], "numel": 1600}]
    assert doc["inputs"] == {}  # --flops none runs no forward: no example inputs are made


def test_user_factory_returning_inputs(user_config: Path) -> None:
    cfg = user_config.parent / "pair.yaml"
    cfg.write_text('target: "usermodel:make_with_inputs"\n', encoding="utf-8")
    doc = breakdown_json(str(cfg))
    assert doc["inputs"] == {"arg0": [2, 8]}


# ---- bad input: one line, exit code 2, no traceback ------------------------------------------

_error = one_error_line


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_missing_file(tmp_path: Path) -> None:
    line = _error(run("breakdown", str(tmp_path / "nope.yaml")))
    assert line == f"error: {tmp_path / 'nope.yaml'}: no such file"


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model: rg_output\nargs:\n  pred_len: [96\n")
    line = _error(run("breakdown", path))
    assert line.startswith(f"error: {path}:") and "malformed YAML" in line


def test_unknown_top_key_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model: rg_output\nargz:\n  pred_len: 96\n")
    assert _error(run("breakdown", path)) == f"error: {path}:2: argz: unknown key (did you mean 'args'?)"


def test_unknown_arg_key_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model: rg_output\nargs:\n  pred_len: 96\n  slot_fuse:\n    hiden: 512\n")
    assert _error(run("breakdown", path)) == f"error: {path}:5: args.slot_fuse.hiden: unknown key (did you mean 'hidden'?)"


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "model: rg_output\nargs:\n  pred_len: ninety\n")
    assert _error(run("breakdown", path)) == f"error: {path}:3: args.pred_len: expected int, got 'ninety'"


def test_impossible_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "model: rg_output\nargs:\n  d_model: 510\n")
    line = _error(run("breakdown", path))
    assert line.startswith(f"error: {path}:3: args.d_model: 510 is not divisible by n_heads=8")


def test_unknown_model(tmp_path: Path) -> None:
    path = write(tmp_path, "model: rg_outptu\n")
    assert _error(run("breakdown", path)) == f"error: {path}:1: model: unknown zoo family 'rg_outptu'; did you mean 'rg_output'?"


def test_unknown_preset_name() -> None:
    line = _error(run("breakdown", "rg_output_ettx1"))
    assert line.startswith("error: rg_output_ettx1: no such file, preset, zoo family or pkg.module:factory; did you mean")


def test_unknown_target(tmp_path: Path) -> None:
    path = write(tmp_path, 'target: "no_such_pkg.mod:make"\ninputs: {x: [1, 2]}\n')
    line = _error(run("breakdown", path))
    assert line.startswith(f"error: {path}:1: target: cannot import 'no_such_pkg.mod'")


def test_unknown_factory_arg(user_config: Path) -> None:
    path = write(user_config.parent, 'target: "usermodel:make"\nargs: {vocb: 10}\ninputs: {ids: {shape: [1, 4], dtype: int64}}\n', "bad.yaml")
    line = _error(run("breakdown", path))
    assert line == f"error: {path}:2: args.vocb: unknown key for usermodel:make (did you mean 'vocab'?)"


def test_bad_set_override() -> None:
    assert _error(run("breakdown", "rg_output_etth1", "--set", "pred_len")) == (
        "error: --set pred_len: expected key=value, e.g. --set pred_len=720")


def test_set_wrong_type_names_the_override() -> None:
    line = _error(run("breakdown", "rg_output_etth1", "--set", "pred_len=abc"))
    assert line.endswith("(--set pred_len=abc): args.pred_len: expected int, got 'abc'")


def test_unwritable_output_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "missing_dir" / "out.json"
    line = _error(run("breakdown", "rg_output_etth1", "--output", str(target)))
    assert line == f"error: --output {target}: folder {target.parent} does not exist"
    assert not target.parent.exists()


def test_bad_device() -> None:
    assert _error(run("breakdown", "rg_output_etth1", "--device", "tpu")) == (
        "error: Invalid value for '--device' / '-d': 'tpu' is not one of 'meta', 'cpu', 'cuda'.")


@pytest.mark.parametrize(("command", "option", "choices"), [
    ("breakdown", "--sort", "'tree', 'params', 'macs', 'name'"),
    ("breakdown", "--clock", "'wall', 'thread'"),
    ("breakdown", "--flops", "'torch', 'fvcore', 'thop', 'none'"),
    ("whatif", "--flops", "'torch', 'fvcore', 'thop', 'none'"),
    ("diff", "--flops", "'torch', 'fvcore', 'thop', 'none'"),
    ("check", "--flops", "'torch', 'fvcore', 'thop', 'none'"),
    ("audit", "--device", "'meta', 'cpu', 'cuda'"),
    ("steps", "--device", "'meta', 'cpu', 'cuda'"),
])
def test_closed_choices_are_validated_before_any_work(command: str, option: str, choices: str) -> None:
    # a bad value is refused while parsing (the config does not even exist): one line naming the choices
    line = _error(run(command, "no_such_model", *(["x"] if command == "diff" else []), option, "bogus"))
    assert line.startswith(f"error: Invalid value for '{option}'") and line.endswith(f"'bogus' is not one of {choices}.")


def test_debug_shows_traceback() -> None:
    res = run("breakdown", "rg_output_ettx1", "--debug")
    assert res.exit_code != 0 and res.exception is not None


def test_help_and_zoo_list_do_not_import_torch() -> None:
    code = ("import sys; from typer.testing import CliRunner; from paramscope.cli.app import app; "
            "r = CliRunner(); assert r.invoke(app, ['--help']).exit_code == 0; "
            "assert r.invoke(app, ['zoo', 'list']).exit_code == 0; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "COLUMNS": "120"})


def test_zoo_list_and_show() -> None:
    res = run("zoo", "list")
    assert res.exit_code == 0
    for name in ("rg_output", "gru_router", "titan_stream", "selective_lm", "rg_output_etth1"):
        assert name in res.stdout
    res = run("zoo", "show", "rg_output")
    assert res.exit_code == 0 and "--rank" in res.stdout and "args.slot_fuse.rank" in res.stdout
    assert _error(run("zoo", "show", "nope")).startswith("error: nope: no zoo family or preset")


def test_backward_macs(tmp_path: Path) -> None:
    (tmp_path / "lin.py").write_text("import torch.nn as nn\n\ndef make():\n    return nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3))\n")
    cfg = write(tmp_path, 'target: "lin:make"\ninputs: {x: [2, 8]}\n')
    res = run("breakdown", cfg, "--backward", "--format", "json")
    assert res.exit_code == 0, res.output
    total = json.loads(res.stdout)["total"]
    assert total["macs"] == 2 * 8 * 4 + 2 * 4 * 3  # 64 + 24 = 88
    # weight grads of both layers (64 + 24) and the input grad of the second (2*3*4 = 24);
    # the input x does not require grad, so the first layer's input grad is not computed
    assert total["backward_macs"] == 64 + 24 + 24


def test_audit_command_side_by_side() -> None:
    res = run("audit", "rg_output_etth1", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["backends"] == ["torch", "fvcore", "thop"]
    rows = {m["path"]: m for m in doc["modules"]}
    assert rows["slot_fuse.score_mlp"]["macs"]["torch"] == rows["slot_fuse.score_mlp"]["macs"]["thop"]
    flagged = [m for m in doc["modules"] if m["flagged"]]
    assert flagged and all(m["explanation"] for m in flagged)  # every >1% disagreement explained
    table = run("audit", "rg_output_etth1", "--only-flagged")
    assert table.exit_code == 0 and "enc_embedding.norm1" in table.stdout
    assert _error(run("audit", "rg_output_etth1", "--backends", "torch,ptflops")).startswith("error: unknown FLOP backend 'ptflops'")


def test_check_budgets_exit_codes() -> None:
    ok = run("check", "rg_output_etth1", "-b", "params<=10_371_074", "-b", "slot_fuse.score_mlp.params<=3.2M")
    assert ok.exit_code == 0, ok.output
    assert "ok   params<=10_371_074: 10,371,074 (limit <= 10,371,074)" in ok.stdout
    over = run("check", "rg_output_etth1", "-b", "params<=10M", "-b", "macs<=1G")
    assert over.exit_code == 1  # a check the user asked for failed
    assert "FAIL params<=10M: 10,371,074 (limit <= 10,000,000)" in over.stdout
    assert "ok   macs<=1G: 496,891,136 (limit <= 1,000,000,000)" in over.stdout
    assert _error(run("check", "rg_output_etth1", "-b", "param<=1M")) == (
        "error: --budget param<=1M: unknown metric 'param'; did you mean 'params'?")
    assert _error(run("check", "rg_output_etth1", "-b", "nope.params<=1M")) == "error: --budget nope.params<=1M: no submodule 'nope'"
    assert _error(run("check", "rg_output_etth1", "-b", "params<=lots")).startswith("error: --budget params<=lots: expected a number")


def test_compiled_model_is_profiled_in_eager(tmp_path: Path) -> None:
    (tmp_path / "compiled.py").write_text(
        "import torch\nimport torch.nn as nn\n\ndef make():\n    return torch.compile(nn.Linear(8, 4))\n")
    cfg = write(tmp_path, 'target: "compiled:make"\ninputs: {x: [2, 8]}\n')
    doc = json.loads(run("breakdown", cfg, "--format", "json").stdout)
    assert (doc["model_class"], doc["total"]["params"], doc["total"]["macs"]) == ("Linear", 36, 64)  # 8*4+4; 2*8*4


def test_diff_two_configs(tmp_path: Path) -> None:
    other = write(tmp_path, "model: rg_output\nargs:\n  slot_fuse: {score_mode: lowrank, rank: 192}\n", "lowrank.yaml")
    res = run("diff", "rg_output_etth1", other, "--format", "json", "--module", "slot_fuse.gate")
    assert res.exit_code == 1, res.output  # the models differ, as diff(1) says it
    doc = json.loads(res.stdout)
    assert doc["schema"] == "paramscope.diff/1" and doc["differs"] is True
    assert (doc["other"]["params"], doc["base"]["params"]) == (10_371_074 - 2_457_600, 10_371_074)  # 1536*2048 - 3584*192
    assert [c["path"] for c in doc["changed"] if c["delta_params"]] == ["slot_fuse", "slot_fuse.score_mlp"]
    assert (doc["module"]["params"], doc["module"]["baseline_params"]) == (513, 513)  # unchanged, shown in both
    table = run("diff", "rg_output_etth1", other)
    assert table.exit_code == 1 and "diff: rg_output_etth1 -> lowrank" in table.stdout
    assert "3,149,825" in table.stdout and "692,225" in table.stdout  # score_mlp in both: 3,149,825 - 2,457,600
    same = run("diff", "rg_output_etth1", "rg_output_etth1", "--flops", "none")
    assert same.exit_code == 0 and "no difference" in same.stdout
    assert _error(run("diff", "rg_output_etth1", other, "--module", "slot_fuze")).endswith("did you mean 'slot_fuse'?")
    assert _error(run("diff", "rg_output_etth1", str(tmp_path / "missing.yaml"))) == f"error: {tmp_path / 'missing.yaml'}: no such file"


def test_table_and_latency_written_to_one_file(tmp_path: Path) -> None:
    out = tmp_path / "b.txt"
    res = run("breakdown", "rg_output_etth1", "--flops", "none", "--depth", "1", "--output", str(out))
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "slot_fuse" in text and "10,371,074" in text and "\x1b[" not in text  # plain text, no colour codes
    md = tmp_path / "lat.md"
    res = run("breakdown", "rg_output_etth1", "--flops", "none", "--depth", "1", "--device", "cpu", "--latency",
              "--repeats", "2", "--warmup", "1", "--format", "md", "--output", str(md))
    assert res.exit_code == 0, res.output
    assert "| `slot_fuse` |" in md.read_text() and "hook overhead" in md.read_text()
    assert "slot_fuse" not in res.stdout  # nothing of the report went to the terminal


def test_sort_params_top_two() -> None:
    res = run("breakdown", "rg_output_etth1", "--flops", "none", "--format", "csv", "--top", "2", "--sort", "params", "--depth", "1")
    lines = res.stdout.strip().splitlines()
    assert [line.split(",")[0] for line in lines[1:-1]] == ["encoder", "slot_fuse"]  # 3,153,408 > 3,150,338


def test_depth_and_top_must_be_positive() -> None:
    assert _error(run("breakdown", "rg_output_etth1", "--top", "0")) == "error: --top 0: expected at least 1"


def test_multi_line_forward_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "multi.py").write_text(
        "import torch.nn as nn\n\nclass M(nn.Module):\n    def forward(self, x):\n"
        "        raise RuntimeError('shapes do not match\\nsecond line\\nthird line')\n\ndef make():\n    return M()\n")
    cfg = write(tmp_path, 'target: "multi:make"\ninputs: {x: [1, 4]}\n')
    assert _error(run("breakdown", cfg)) == (f"error: {cfg}: forward failed in the model's top-level forward: "
                                             "RuntimeError: shapes do not match")
