"""Models without a YAML file: ``pkg.module:factory --input``, ``hf:``, ``torchvision:``, ``timm:``.

Every figure is checked against an independent count (``named_parameters`` of the same class
built by hand, or the Linear MAC formula), through every command that takes a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramscope.cli.app import app

runner = CliRunner()

FACTORY = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, depth=2, width=16):
        super().__init__()
        self.blocks = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])
        self.emb = nn.Embedding(100, width)

    def forward(self, x, ids=None):
        y = self.blocks(x)
        return y if ids is None else y + self.emb(ids).mean(1, keepdim=True)


def make(depth=2, width=16):
    return Net(depth, width)
'''


def run(*args: str):
    return runner.invoke(app, list(args))


def doc_of(*args: str) -> dict:
    res = run(*args, "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture
def factory_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    name = f"entry_nets_{tmp_path.name}"  # a fresh module name per test: no stale sys.modules entry
    (tmp_path / f"{name}.py").write_text(FACTORY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path / name


@pytest.mark.parametrize("depth,width,tokens", [(1, 8, 3), (3, 16, 4), (5, 32, 1)])
def test_factory_with_input_and_arg_needs_no_yaml(factory_dir: Path, depth: int, width: int, tokens: int) -> None:
    target = f"{factory_dir.name}:make"
    doc = doc_of("breakdown", target, "--input", f"x=1x{tokens}x{width}", "--input", "ids=1x8:int64",
                 "--arg", f"depth={depth}", "--arg", f"width={width}")
    assert doc["total"]["params"] == depth * (width * width + width) + 100 * width
    assert doc["total"]["macs"] == depth * tokens * width * width  # Linear: tokens x in x out
    assert doc["inputs"] == {"x": [1, tokens, width], "ids": [1, 8]}


def test_factory_errors_are_one_line(factory_dir: Path) -> None:
    target = f"{factory_dir.name}:make"
    for args, needle in [
        (["--input", "x=1x4y16"], "--input x=1x4y16: expected NAME=SHAPE[:DTYPE]"),
        (["--input", "x=1x4x16", "--arg", "depht=3"], "args.depht: unknown key for"),
        (["--input", "x=1x4x16", "--arg", "depth"], "--arg depth: expected key=value"),
    ]:
        res = run("breakdown", target, *args)
        assert res.exit_code == 2, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.output
    res = run("breakdown", f"{factory_dir.name}:mkae", "--input", "x=1x4x16")
    assert res.exit_code == 2 and "did you mean 'make'" in res.output


# --- transformers -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import BertConfig

    folder = tmp_path_factory.mktemp("bert")
    BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128,
               vocab_size=1000, max_position_embeddings=256, architectures=["BertModel"]).to_json_file(folder / "config.json")
    return folder


def _bert_params(layers: int) -> int:
    import torch
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        model = BertModel(BertConfig(num_hidden_layers=layers, hidden_size=64, num_attention_heads=2,
                                     intermediate_size=128, vocab_size=1000, max_position_embeddings=256))
    return sum(p.numel() for p in model.parameters())


def test_hf_config_file_and_folder_give_the_real_model(bert_dir: Path) -> None:
    by_file = doc_of("breakdown", f"hf:{bert_dir / 'config.json'}")
    by_folder = doc_of("breakdown", f"hf:{bert_dir}")
    assert by_file["total"] == by_folder["total"]
    assert by_file["total"]["params"] == _bert_params(2)
    assert by_file["model_class"] == "BertModel"  # architectures[0]
    assert by_file["inputs"] == {"input_ids": [1, 128]}
    # per layer at 128 tokens: Q, K, V, O (64x64), the FFN (64x128, 128x64), QK^T and AV (128x128x64 each)
    layer_macs = 128 * (4 * 64 * 64 + 2 * 64 * 128) + 2 * 128 * 128 * 64
    by_path = {m["path"]: m["macs"] for m in by_file["modules"]}
    assert by_path["encoder.layer.0"] == layer_macs


def test_hf_config_keys_are_knobs(bert_dir: Path) -> None:
    doc = doc_of("breakdown", f"hf:{bert_dir}", "--set", "num_hidden_layers=4", "--input", "input_ids=1x32:int64")
    assert doc["total"]["params"] == _bert_params(4)
    assert doc["inputs"] == {"input_ids": [1, 32]}
    sweep = doc_of("whatif", f"hf:{bert_dir}", "--set", "num_hidden_layers=2,3", "--flops", "none")
    got = {v["knobs"]["num_hidden_layers"]: v["params"] for v in sweep["variants"]}
    assert got == {2: _bert_params(2), 3: _bert_params(3)}


def test_hf_inputs_follow_the_forward(tmp_path: Path) -> None:
    from transformers import T5Config, ViTConfig

    T5Config(num_layers=1, d_model=32, d_ff=64, num_heads=2, d_kv=16, vocab_size=500,
             architectures=["T5ForConditionalGeneration"]).to_json_file(tmp_path / "t5.json")
    ViTConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64,
              image_size=32, patch_size=8).to_json_file(tmp_path / "vit.json")
    t5 = doc_of("breakdown", f"hf:{tmp_path / 't5.json'}")
    assert t5["inputs"] == {"input_ids": [1, 128], "decoder_input_ids": [1, 128]}
    assert t5["model_class"] == "T5ForConditionalGeneration"
    vit = doc_of("breakdown", f"hf:{tmp_path / 'vit.json'}")
    assert vit["inputs"] == {"pixel_values": [1, 3, 32, 32]} and vit["model_class"] == "ViTModel"


def test_hf_default_inputs_fit_the_config(tmp_path: Path) -> None:
    """Without --input: ids no longer than the learned positions, text and image for CLIP, raw audio for wav2vec2.

    Before: GPT-2 with n_positions=64 was counted at 128 ids it cannot run (on meta an embedding
    lookup has no bounds check; --device cpu: "index out of range in self"), CLIPModel got no
    pixel_values (exit 2: "'NoneType' object has no attribute 'shape'") and Wav2Vec2ForCTC no input
    at all (exit 2: "missing 1 required positional argument: 'input_values'").
    """
    from transformers import CLIPConfig, GPT2Config, Wav2Vec2Config

    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=64, vocab_size=100,
               architectures=["GPT2LMHeadModel"]).to_json_file(tmp_path / "gpt2.json")
    CLIPConfig(text_config=dict(small, max_position_embeddings=16, vocab_size=100),
               vision_config=dict(small, image_size=32, patch_size=8), projection_dim=16,
               architectures=["CLIPModel"]).to_json_file(tmp_path / "clip.json")
    Wav2Vec2Config(**small, vocab_size=20, conv_dim=[8, 8], conv_stride=[5, 2], conv_kernel=[10, 3],
                   num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
                   architectures=["Wav2Vec2ForCTC"]).to_json_file(tmp_path / "w2v.json")
    expect = {"gpt2": {"input_ids": [1, 64]}, "clip": {"input_ids": [1, 16], "pixel_values": [1, 3, 32, 32]},
              "w2v": {"input_values": [1, 16000]}}
    for name, inputs in expect.items():
        doc = doc_of("breakdown", f"hf:{tmp_path / f'{name}.json'}")
        assert doc["inputs"] == inputs
        assert doc["total"]["macs"] > 0


def test_hf_bf16_config_gets_bf16_inputs(tmp_path: Path) -> None:
    """A config.json saying "dtype": "bfloat16" (as most published checkpoints do) builds a bf16 model; its float
    inputs, default or --input without a dtype, are bf16 too. Before: exit 2, "Input type (float) and bias type
    (c10::BFloat16) should be the same" in the first convolution. MACs are the fp32 model's."""
    from transformers import Wav2Vec2Config

    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=20,
                 conv_dim=[8, 8], conv_stride=[5, 2], conv_kernel=[10, 3], num_conv_pos_embeddings=8,
                 num_conv_pos_embedding_groups=2, architectures=["Wav2Vec2ForCTC"])
    Wav2Vec2Config(**small).to_json_file(tmp_path / "fp32.json")
    Wav2Vec2Config(**small, dtype="bfloat16").to_json_file(tmp_path / "bf16.json")
    assert json.loads((tmp_path / "bf16.json").read_text())["dtype"] == "bfloat16"
    for extra in ([], ["--input", "input_values=1x400"]):
        fp32 = doc_of("breakdown", f"hf:{tmp_path / 'fp32.json'}", *extra)["total"]["macs"]
        for device in ("meta", "cpu"):
            assert doc_of("breakdown", f"hf:{tmp_path / 'bf16.json'}", "--device", device, *extra)["total"]["macs"] == fp32


def _meta_params(cls: object, config: object) -> int:
    import torch

    with torch.device("meta"):
        return sum(p.numel() for p in cls(config).parameters())  # type: ignore[operator]


def test_hf_layer_knobs_keep_the_config_consistent(tmp_path: Path) -> None:
    """--set num_hidden_layers on a config.json listing layer_types resizes the list (its pattern repeated), and
    --set text_config.num_hidden_layers changes that key alone. Before: every variant failed, 'validate_layer_type'
    (Qwen2, Gemma2/3, gpt-oss, ModernBERT), and a nested key replaced the whole sub-config (SigLIP/CLIP at default
    sizes: 'a and b must have same reduction dim')."""
    from transformers import CLIPConfig, CLIPModel, Qwen2Config, Qwen2ForCausalLM

    qwen = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2)
    Qwen2Config(**qwen, num_hidden_layers=2, architectures=["Qwen2ForCausalLM"]).to_json_file(tmp_path / "qwen.json")
    assert len(json.loads((tmp_path / "qwen.json").read_text())["layer_types"]) == 2
    sweep = doc_of("whatif", f"hf:{tmp_path / 'qwen.json'}", "--set", "num_hidden_layers=1,3", "--input",
                   "input_ids=1x8:int64")
    got = {v["knobs"]["num_hidden_layers"]: v["params"] for v in sweep["variants"]}
    assert got == {n: _meta_params(Qwen2ForCausalLM, Qwen2Config(**qwen, num_hidden_layers=n)) for n in (1, 3)}
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    text, vision = dict(small, max_position_embeddings=16, vocab_size=100), dict(small, image_size=32, patch_size=8)
    CLIPConfig(text_config=text, vision_config=vision, projection_dim=16,
               architectures=["CLIPModel"]).to_json_file(tmp_path / "clip.json")
    doc = doc_of("breakdown", f"hf:{tmp_path / 'clip.json'}", "--set", "text_config.num_hidden_layers=2")
    deeper = CLIPConfig(text_config=dict(text, num_hidden_layers=2), vision_config=vision, projection_dim=16)
    assert doc["total"]["params"] == _meta_params(CLIPModel, deeper)


def test_hf_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network in tests: fail fast
    (tmp_path / "bad.json").write_text('{"hidden_size": 8}', encoding="utf-8")
    for target, needle in [
        (f"hf:{tmp_path / 'bad.json'}", "not a transformers config.json (no 'model_type')"),
        ("hf:no-such-org/no-such-model-xyz", "hf:no-such-org/no-such-model-xyz: cannot read a transformers config"),
        ("hf:", "give a name after 'hf:'"),
    ]:
        res = run("breakdown", target)
        assert res.exit_code == 2, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], res.output


@pytest.mark.parametrize("command", [
    ["breakdown"], ["whatif", "--set", "num_hidden_layers=1,2"], ["memory"], ["audit"], ["check", "-b", "params<=1G"],
])
def test_every_command_takes_an_hf_model(bert_dir: Path, command: list[str]) -> None:
    res = run(command[0], f"hf:{bert_dir}", *command[1:], "--input", "input_ids=1x16:int64")
    assert res.exit_code == 0, res.output


def test_diff_of_two_hf_configs(bert_dir: Path, tmp_path: Path) -> None:
    from transformers import BertConfig

    BertConfig(num_hidden_layers=3, hidden_size=64, num_attention_heads=2, intermediate_size=128,
               vocab_size=1000, max_position_embeddings=256).to_json_file(tmp_path / "config.json")
    res = run("diff", f"hf:{bert_dir}", f"hf:{tmp_path}", "--format", "json", "--flops", "none")
    assert res.exit_code == 1, res.output  # 1 = the models differ (diff(1))
    doc = json.loads(res.stdout)
    assert doc["other"]["params"] - doc["base"]["params"] == _bert_params(3) - _bert_params(2)


# --- torchvision / timm: stand-in packages (the registry's builds do not import beside cpu torch)

STANDIN_TV = '''
import torch
from torch import nn

def get_model(name, weights=None, **kwargs):
    assert weights is None
    if name != "tiny_cnn":
        raise ValueError(f"Unknown model {name}")
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.Flatten(), nn.LazyLinear(10) if False else nn.Linear(4 * 111 * 111, 10))
'''

STANDIN_TIMM = '''
from torch import nn

def create_model(name, pretrained=False, **kwargs):
    assert pretrained is False
    if name != "tiny_vit":
        raise RuntimeError(f"Unknown model ({name})")
    m = nn.Sequential(nn.Conv2d(3, 8, 16, stride=16), nn.Flatten(2))
    m.pretrained_cfg = {"input_size": (3, 64, 64)}
    return m
'''


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "torchvision" / "models.py").write_text(STANDIN_TV, encoding="utf-8")
    (tmp_path / "timm.py").write_text(STANDIN_TIMM, encoding="utf-8")
    for name in ("torchvision", "torchvision.models", "timm"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_torchvision_and_timm_names(standins: None) -> None:
    tv = doc_of("breakdown", "torchvision:tiny_cnn")
    assert tv["inputs"] == {"arg0": [1, 3, 224, 224]}
    assert tv["total"]["macs"] == 111 * 111 * 4 * 3 * 3 * 3 + 4 * 111 * 111 * 10
    tm = doc_of("breakdown", "timm:tiny_vit")
    assert tm["inputs"] == {"arg0": [1, 3, 64, 64]}
    assert tm["total"]["macs"] == 4 * 4 * 8 * 3 * 16 * 16  # 16 patches of 3x16x16 -> 8
    for target, needle in [("torchvision:resnet9000", "torchvision:resnet9000: Unknown model"),
                           ("timm:nope", "timm:nope: Unknown model")]:
        res = run("breakdown", target)
        assert res.exit_code == 2 and needle in res.output, res.output
