"""A corpus of transformers architectures nobody here wrote, built from small configs (never weights).

Each ``Case`` names a transformers config class and keyword arguments small enough that a cpu
forward takes milliseconds, the model class (the config's ``architectures[0]``, as ``hf:`` reads
it), the forward's inputs in ``--input`` form and one integer config knob for a what-if.

``reference_macs`` is the independent figure: a bare ``torch.utils.flop_counter.FlopCounterMode``
forward of the same class on cpu with eager attention (cpu's fused SDPA kernel,
``_scaled_dot_product_flash_attention_for_cpu``, has no formula in a bare counter and would count
0), and for mixture-of-experts models the eager experts loop (``_grouped_mm`` likewise). The
eager experts loop runs each routed token through exactly top-k experts, so its total does not
depend on the routing and meta's assumed routing gives the same figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["CASES", "SLOW", "WIDER", "Case", "input_tensors", "reference_macs", "unique_params", "write_config"]

SEQ = 16
"""Tokens of every text input (small: the whole corpus must run in about a minute on 2 cores)."""
VOCAB = 96


@dataclass(frozen=True)
class Case:
    name: str
    config: str
    model: str
    kwargs: dict[str, Any]
    inputs: dict[str, dict[str, Any]]
    knob: tuple[str, int, int]
    """A config key and two values for a what-if."""
    moe: bool = False


def _ids(*names: str, seq: int = SEQ, high: int = VOCAB) -> dict[str, dict[str, Any]]:
    return {n: {"shape": [1, seq], "dtype": "int64", "high": high} for n in names}


def _image(size: int, channels: int = 3) -> dict[str, dict[str, Any]]:
    return {"pixel_values": {"shape": [1, channels, size, size]}}


_LLAMA = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64)
_BERT = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
             max_position_embeddings=64)
_BART = dict(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
             decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)
_LAYERS = ("num_hidden_layers", 1, 3)

CASES: tuple[Case, ...] = (
    # --- decoder LMs
    Case("gpt2", "GPT2Config", "GPT2LMHeadModel",
         dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64), _ids("input_ids"), ("n_layer", 1, 3)),
    Case("gptj", "GPTJConfig", "GPTJForCausalLM",
         dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, rotary_dim=4, n_positions=64), _ids("input_ids"),
         ("n_layer", 1, 3)),
    Case("gpt_neox", "GPTNeoXConfig", "GPTNeoXForCausalLM",
         dict(_BERT, rotary_pct=0.25), _ids("input_ids"), _LAYERS),
    Case("gpt_neo", "GPTNeoConfig", "GPTNeoForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, num_layers=2, num_heads=4, attention_types=[[["global", "local"], 1]],
              window_size=8, max_position_embeddings=64), _ids("input_ids"), ("hidden_size", 32, 64)),
    Case("opt", "OPTConfig", "OPTForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
              word_embed_proj_dim=16, max_position_embeddings=64), _ids("input_ids"), _LAYERS),
    Case("bloom", "BloomConfig", "BloomForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, n_layer=2, n_head=4), _ids("input_ids"), ("n_layer", 1, 3)),
    Case("falcon", "FalconConfig", "FalconForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, new_decoder_architecture=True,
              num_kv_heads=2), _ids("input_ids"), _LAYERS),
    Case("llama", "LlamaConfig", "LlamaForCausalLM", _LLAMA, _ids("input_ids"), _LAYERS),
    Case("mistral", "MistralConfig", "MistralForCausalLM", dict(_LLAMA, sliding_window=8), _ids("input_ids"), _LAYERS),
    Case("qwen2", "Qwen2Config", "Qwen2ForCausalLM", _LLAMA, _ids("input_ids"), _LAYERS),
    Case("qwen3", "Qwen3Config", "Qwen3ForCausalLM", dict(_LLAMA, head_dim=8), _ids("input_ids"), _LAYERS),
    Case("phi", "PhiConfig", "PhiForCausalLM", dict(_LLAMA, partial_rotary_factor=0.5), _ids("input_ids"), _LAYERS),
    Case("phi3", "Phi3Config", "Phi3ForCausalLM", dict(_LLAMA, pad_token_id=0), _ids("input_ids"), _LAYERS),
    Case("gemma", "GemmaConfig", "GemmaForCausalLM", dict(_LLAMA, head_dim=8), _ids("input_ids"), _LAYERS),
    Case("gemma2", "Gemma2Config", "Gemma2ForCausalLM", dict(_LLAMA, head_dim=8, sliding_window=8),
         _ids("input_ids"), _LAYERS),
    Case("starcoder2", "Starcoder2Config", "Starcoder2ForCausalLM", _LLAMA, _ids("input_ids"), _LAYERS),
    Case("gpt_bigcode", "GPTBigCodeConfig", "GPTBigCodeForCausalLM",
         dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64), _ids("input_ids"), ("n_layer", 1, 3)),
    # --- mixture of experts
    Case("mixtral", "MixtralConfig", "MixtralForCausalLM",
         dict(_LLAMA, num_local_experts=4, num_experts_per_tok=2), _ids("input_ids"), _LAYERS, moe=True),
    Case("qwen2_moe", "Qwen2MoeConfig", "Qwen2MoeForCausalLM",
         dict(_LLAMA, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=48),
         _ids("input_ids"), _LAYERS, moe=True),
    Case("switch", "SwitchTransformersConfig", "SwitchTransformersForConditionalGeneration",
         dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4, num_experts=4,
              encoder_sparse_step=1, decoder_sparse_step=1, decoder_start_token_id=0),
         _ids("input_ids", "decoder_input_ids"), ("d_ff", 64, 128), moe=True),
    # --- encoders
    Case("bert", "BertConfig", "BertForMaskedLM", _BERT, _ids("input_ids"), _LAYERS),
    Case("roberta", "RobertaConfig", "RobertaForMaskedLM", dict(_BERT, max_position_embeddings=SEQ + 4, pad_token_id=1),
         _ids("input_ids"), _LAYERS),
    Case("distilbert", "DistilBertConfig", "DistilBertForMaskedLM",
         dict(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64),
         _ids("input_ids"), ("n_layers", 1, 3)),
    Case("albert", "AlbertConfig", "AlbertForMaskedLM", dict(_BERT, embedding_size=16), _ids("input_ids"), _LAYERS),
    Case("deberta_v2", "DebertaV2Config", "DebertaV2ForMaskedLM",
         dict(_BERT, relative_attention=True, position_buckets=8, pos_att_type=["p2c", "c2p"]),
         _ids("input_ids"), _LAYERS),
    Case("electra", "ElectraConfig", "ElectraForMaskedLM", dict(_BERT, embedding_size=16), _ids("input_ids"), _LAYERS),
    # --- encoder-decoders
    Case("t5", "T5Config", "T5ForConditionalGeneration",
         dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0),
         _ids("input_ids", "decoder_input_ids"), ("num_layers", 1, 3)),
    Case("bart", "BartConfig", "BartForConditionalGeneration", _BART, _ids("input_ids", "decoder_input_ids"),
         ("encoder_layers", 1, 3)),
    Case("pegasus", "PegasusConfig", "PegasusForConditionalGeneration", _BART, _ids("input_ids", "decoder_input_ids"),
         ("decoder_layers", 1, 3)),
    Case("marian", "MarianConfig", "MarianMTModel", dict(_BART, decoder_vocab_size=VOCAB, pad_token_id=VOCAB - 1),
         _ids("input_ids", "decoder_input_ids"), ("encoder_layers", 1, 3)),
    Case("whisper", "WhisperConfig", "WhisperForConditionalGeneration",
         dict(_BART, num_mel_bins=16, max_source_positions=16, max_target_positions=32, pad_token_id=VOCAB - 1,
              bos_token_id=VOCAB - 2, eos_token_id=VOCAB - 2, decoder_start_token_id=VOCAB - 3),
         {"input_features": {"shape": [1, 16, 32]}, **_ids("decoder_input_ids", seq=8)}, ("decoder_layers", 1, 3)),
    # --- vision
    Case("vit", "ViTConfig", "ViTForImageClassification",
         dict(_BERT, image_size=32, patch_size=8, num_labels=10), _image(32), _LAYERS),
    Case("swin", "SwinConfig", "SwinForImageClassification",
         dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4], window_size=4, num_labels=10),
         _image(32), ("embed_dim", 16, 32)),
    Case("convnext", "ConvNextConfig", "ConvNextForImageClassification",
         dict(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=10), _image(32), ("num_labels", 10, 20)),
    Case("resnet", "ResNetConfig", "ResNetForImageClassification",
         dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="bottleneck", num_labels=10),
         _image(32), ("embedding_size", 8, 16)),
    Case("clip", "CLIPConfig", "CLIPModel",
         dict(text_config=dict(_BERT, max_position_embeddings=SEQ), vision_config=dict(_BERT, image_size=32, patch_size=8),
              projection_dim=16), {**_ids("input_ids"), **_image(32)}, ("projection_dim", 16, 32)),
    Case("segformer", "SegformerConfig", "SegformerForSemanticSegmentation",
         dict(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], patch_sizes=[7, 3],
              strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=5),
         _image(32), ("decoder_hidden_size", 16, 32)),
    # --- audio
    Case("wav2vec2", "Wav2Vec2Config", "Wav2Vec2ForCTC",
         dict(_BERT, conv_dim=[8, 8], conv_stride=[5, 2], conv_kernel=[10, 3], num_conv_pos_embeddings=8,
              num_conv_pos_embedding_groups=2, do_stable_layer_norm=True, feat_extract_norm="layer"),
         {"input_values": {"shape": [1, 400]}}, _LAYERS),
    Case("hubert", "HubertConfig", "HubertForCTC",
         dict(_BERT, conv_dim=[8, 8], conv_stride=[5, 2], conv_kernel=[10, 3], num_conv_pos_embeddings=8,
              num_conv_pos_embedding_groups=2), {"input_values": {"shape": [1, 400]}}, _LAYERS),
    # --- state space / recurrent
    Case("mamba", "MambaConfig", "MambaForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4),
         _ids("input_ids"), _LAYERS),
    Case("rwkv", "RwkvConfig", "RwkvForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, attention_hidden_size=32, intermediate_size=64,
              context_length=64), _ids("input_ids"), ("num_hidden_layers", 2, 3)),
)


SLOW = frozenset({"mistral", "qwen3", "phi3", "gemma", "starcoder2", "gpt_bigcode", "pegasus", "electra", "hubert"})
"""Cases of ``CASES`` that repeat a layer type covered by another one: counted in the slow part only
(the default part must stay about a minute on 2 cores)."""


def write_config(case: Case, folder: Path) -> Path:
    """The case's ``config.json`` (with ``architectures``), as a downloaded model folder holds it."""
    import transformers

    config = getattr(transformers, case.config)(**case.kwargs)
    data = config.to_dict()
    data["architectures"] = [case.model]
    path = folder / case.name / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def input_tensors(case: Case, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The case's inputs as tensors (ids drawn below ``high``, floats normal)."""
    out = {}
    for name, desc in case.inputs.items():
        if desc.get("dtype", "float32") == "int64":
            out[name] = torch.randint(0, desc["high"], desc["shape"], device=device)
        else:
            out[name] = torch.randn(desc["shape"], device=device)
    return out


def unique_params(model: torch.nn.Module) -> int:
    """sum(p.numel()) over unique parameter tensors (a tied weight once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _lstm_macs(lstm: torch.nn.LSTM, x: torch.Tensor) -> int:
    """An ``nn.LSTM`` call: per step, layer and direction 4 gates of H x (input + H) (no projection)."""
    steps, batch = (x.shape[1], x.shape[0]) if lstm.batch_first else (x.shape[0], x.shape[1] if x.dim() == 3 else 1)
    dirs, hidden = 2 if lstm.bidirectional else 1, lstm.hidden_size
    inputs = [lstm.input_size] + [dirs * hidden] * (lstm.num_layers - 1)
    return sum(steps * batch * dirs * 4 * hidden * (i + hidden) for i in inputs)


def reference_macs(model: torch.nn.Module, kwargs: dict[str, Any]) -> int:
    """MACs of a bare FlopCounterMode forward (FLOPs / 2), eager attention and experts, on the model's device.

    A bare counter has no formula for cpu's fused LSTM kernel (``mkldnn_rnn_layer``: it counts 0),
    so each ``nn.LSTM`` call adds its analytic gate products (``_lstm_macs``).
    """
    from torch.utils.flop_counter import FlopCounterMode

    for what in ("attn", "experts"):
        setter = getattr(model, f"set_{what}_implementation", None)
        if setter is not None and getattr(model, f"_can_set_{what}_implementation", lambda: False)():
            setter("eager")
    lstm: list[int] = []
    hooks = [m.register_forward_pre_hook(lambda m, a: lstm.append(_lstm_macs(m, a[0])))
             for m in model.modules() if isinstance(m, torch.nn.LSTM) and not m.proj_size]
    try:
        for grad in (True, False):
            # torch's ModuleTracker (inside FlopCounterMode) asserts "Expected gradient function to be set" on a
            # module input that requires grad but has no grad_fn: DeBERTa-v2's relative embeddings under no_grad,
            # Reformer's reversible layers (an autograd Function's forward) with grad on. One of the two runs.
            counter, lstm[:] = FlopCounterMode(display=False), []
            try:
                with counter, torch.set_grad_enabled(grad):
                    model(**kwargs)
                break
            except AssertionError as e:
                if "gradient function" not in str(e) or not grad:
                    raise
    finally:
        for h in hooks:
            h.remove()
    return int(counter.get_total_flops()) // 2 + sum(lstm)


_MOE = dict(_LLAMA, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
_W2V = dict(_BERT, conv_dim=[8, 8], conv_stride=[5, 2], conv_kernel=[10, 3], num_conv_pos_embeddings=8,
            num_conv_pos_embedding_groups=2)
_AUDIO = {"input_values": {"shape": [2, 400]}}

WIDER: tuple[Case, ...] = (
    Case("gemma3", "Gemma3TextConfig", "Gemma3ForCausalLM", dict(_LLAMA, head_dim=8, sliding_window=8),
         _ids("input_ids"), _LAYERS),
    Case("cohere", "CohereConfig", "CohereForCausalLM", _LLAMA, _ids("input_ids"), _LAYERS),
    Case("stablelm", "StableLmConfig", "StableLmForCausalLM", _LLAMA, _ids("input_ids"), _LAYERS),
    Case("persimmon", "PersimmonConfig", "PersimmonForCausalLM", _BERT, _ids("input_ids"), _LAYERS),
    Case("olmo", "OlmoConfig", "OlmoForCausalLM", _LLAMA, _ids("input_ids"), _LAYERS),
    Case("granite", "GraniteConfig", "GraniteForCausalLM", _LLAMA, _ids("input_ids"), _LAYERS),
    Case("codegen", "CodeGenConfig", "CodeGenForCausalLM",
         dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, rotary_dim=4, n_positions=64, n_ctx=64),
         _ids("input_ids"), ("n_layer", 1, 3)),
    Case("mpt", "MptConfig", "MptForCausalLM", dict(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, max_seq_len=64),
         _ids("input_ids"), ("n_layers", 1, 3)),
    Case("deepseek_v3", "DeepseekV3Config", "DeepseekV3ForCausalLM",
         dict(_MOE, n_routed_experts=4, n_shared_experts=1, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=16,
              qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8, n_group=1, topk_group=1, num_key_value_heads=4),
         _ids("input_ids"), _LAYERS, moe=True),
    Case("olmoe", "OlmoeConfig", "OlmoeForCausalLM", _MOE, _ids("input_ids"), _LAYERS, moe=True),
    Case("qwen3_moe", "Qwen3MoeConfig", "Qwen3MoeForCausalLM", dict(_MOE, head_dim=8), _ids("input_ids"), _LAYERS,
         moe=True),
    Case("gpt_oss", "GptOssConfig", "GptOssForCausalLM",
         dict(_LLAMA, head_dim=8, num_local_experts=4, num_experts_per_tok=2, sliding_window=8), _ids("input_ids"),
         _LAYERS, moe=True),
    Case("jamba", "JambaConfig", "JambaForCausalLM",
         dict(_LLAMA, num_experts=2, num_experts_per_tok=1, attn_layer_period=2, attn_layer_offset=1,
              expert_layer_period=2, expert_layer_offset=1, mamba_d_state=8, mamba_dt_rank=4, use_mamba_kernels=False),
         _ids("input_ids"), ("hidden_size", 32, 64), moe=True),
    Case("mamba2", "Mamba2Config", "Mamba2ForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4, num_heads=8,
              head_dim=8, n_groups=1, chunk_size=8), _ids("input_ids"), _LAYERS),
    Case("falcon_mamba", "FalconMambaConfig", "FalconMambaForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4),
         _ids("input_ids"), _LAYERS),
    Case("recurrent_gemma", "RecurrentGemmaConfig", "RecurrentGemmaForCausalLM",
         dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=1, lru_width=32, attention_window_size=8, conv1d_width=4),
         _ids("input_ids"), ("num_hidden_layers", 3, 4)),
    Case("bert_batch", "BertConfig", "BertForSequenceClassification", _BERT,
         {**_ids("input_ids"), "attention_mask": {"shape": [3, SEQ], "dtype": "int64", "high": 2},
          "input_ids": {"shape": [3, SEQ], "dtype": "int64", "high": VOCAB}}, _LAYERS),
    Case("modernbert", "ModernBertConfig", "ModernBertForMaskedLM",
         dict(_BERT, global_attn_every_n_layers=2, local_attention=8, pad_token_id=0, bos_token_id=1, eos_token_id=2,
              cls_token_id=1, sep_token_id=2), _ids("input_ids"), _LAYERS),
    Case("mpnet", "MPNetConfig", "MPNetForMaskedLM", _BERT, _ids("input_ids"), _LAYERS),
    Case("funnel", "FunnelConfig", "FunnelForMaskedLM",
         dict(vocab_size=VOCAB, d_model=32, n_head=4, d_head=8, d_inner=64, block_sizes=[1, 1], num_decoder_layers=1),
         _ids("input_ids"), ("d_inner", 64, 128)),
    Case("xlnet", "XLNetConfig", "XLNetLMHeadModel", dict(vocab_size=VOCAB, d_model=32, n_layer=2, n_head=4, d_inner=64),
         _ids("input_ids"), ("n_layer", 1, 3)),
    Case("big_bird", "BigBirdConfig", "BigBirdForMaskedLM", dict(_BERT, attention_type="original_full"),
         _ids("input_ids"), _LAYERS),
    Case("ernie", "ErnieConfig", "ErnieForMaskedLM", _BERT, _ids("input_ids"), _LAYERS),
    Case("mt5", "MT5Config", "MT5ForConditionalGeneration",
         dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0),
         _ids("input_ids", "decoder_input_ids"), ("num_layers", 1, 3)),
    Case("mbart", "MBartConfig", "MBartForConditionalGeneration", _BART, _ids("input_ids", "decoder_input_ids"),
         ("encoder_layers", 1, 3)),
    Case("blenderbot", "BlenderbotConfig", "BlenderbotForConditionalGeneration", _BART,
         _ids("input_ids", "decoder_input_ids"), ("encoder_layers", 1, 3)),
    Case("led", "LEDConfig", "LEDForConditionalGeneration",
         dict(_BART, attention_window=[8, 8], max_encoder_position_embeddings=64, max_decoder_position_embeddings=64),
         _ids("input_ids", "decoder_input_ids"), ("decoder_layers", 1, 3)),
    Case("speech2text", "Speech2TextConfig", "Speech2TextForConditionalGeneration",
         dict(_BART, input_feat_per_channel=16, conv_channels=16, max_source_positions=64, max_target_positions=64),
         {"input_features": {"shape": [1, 32, 16]}, **_ids("decoder_input_ids", seq=8)}, ("decoder_layers", 1, 3)),
    Case("dinov2", "Dinov2Config", "Dinov2Model", dict(_BERT, image_size=32, patch_size=8), _image(32),
         ("num_hidden_layers", 2, 3)),
    Case("beit", "BeitConfig", "BeitForImageClassification",
         dict(_BERT, image_size=32, patch_size=8, use_relative_position_bias=True), _image(32),
         ("num_hidden_layers", 2, 3)),
    Case("yolos", "YolosConfig", "YolosForObjectDetection",
         dict(_BERT, image_size=[32, 32], patch_size=8, num_detection_tokens=4), _image(32), _LAYERS),
    Case("siglip", "SiglipConfig", "SiglipModel",
         dict(text_config=dict(_BERT, max_position_embeddings=SEQ), vision_config=dict(_BERT, image_size=32, patch_size=8)),
         {**_ids("input_ids"), **_image(32)}, ("text_config.num_hidden_layers", 1, 3)),
    Case("mobilevit", "MobileViTConfig", "MobileViTForImageClassification",
         dict(image_size=32, hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 32], num_labels=10),
         _image(32), ("num_labels", 10, 20)),
    Case("levit", "LevitConfig", "LevitForImageClassification",
         dict(image_size=32, hidden_sizes=[16, 32, 48], num_attention_heads=[1, 2, 3], depths=[1, 1, 1], key_dim=[8, 8, 8],
              mlp_ratio=[2, 2, 2], attention_ratio=[2, 2, 2], num_labels=10), _image(32), ("num_labels", 10, 20)),
    Case("cvt", "CvtConfig", "CvtForImageClassification",
         dict(embed_dim=[8, 16, 32], num_heads=[1, 2, 4], depth=[1, 2, 3], num_labels=10), _image(32),
         ("num_labels", 10, 20)),
    Case("efficientnet", "EfficientNetConfig", "EfficientNetForImageClassification",
         dict(image_size=32, width_coefficient=0.25, depth_coefficient=0.25, hidden_dim=320, num_labels=10), _image(32),
         ("num_labels", 10, 20)),
    Case("mobilenet_v2", "MobileNetV2Config", "MobileNetV2ForImageClassification",
         dict(image_size=32, depth_multiplier=0.25, num_labels=10), _image(32), ("num_labels", 10, 20)),
    Case("poolformer", "PoolFormerConfig", "PoolFormerForImageClassification",
         dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_labels=10), _image(32), ("num_labels", 10, 20)),
    Case("detr", "DetrConfig", "DetrForObjectDetection",
         dict(use_timm_backbone=False, use_pretrained_backbone=False,
              backbone_config=dict(model_type="resnet", embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                                   out_features=["stage4"]),
              d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
              encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=8), _image(64), ("num_queries", 8, 16)),
    Case("wavlm", "WavLMConfig", "WavLMForCTC", dict(_W2V, num_buckets=16, max_bucket_distance=32), _AUDIO, _LAYERS),
    Case("sew", "SEWConfig", "SEWForCTC", dict(_W2V, squeeze_factor=2), _AUDIO, _LAYERS),
    Case("data2vec_audio", "Data2VecAudioConfig", "Data2VecAudioForCTC", dict(_W2V, conv_pos_kernel_size=5,
         num_conv_pos_embeddings=5), _AUDIO, _LAYERS),
    Case("unispeech", "UniSpeechConfig", "UniSpeechForCTC", _W2V, _AUDIO, _LAYERS),
    # --- sparse / linear / LSH attention, codecs, time series, more MoE
    Case("big_bird_sparse", "BigBirdConfig", "BigBirdForMaskedLM", dict(_BERT, attention_type="block_sparse", block_size=4, num_random_blocks=2, max_position_embeddings=128),
         _ids("input_ids", seq=64), _LAYERS),
    Case("longformer", "LongformerConfig", "LongformerForMaskedLM", dict(_BERT, attention_window=[8, 8], max_position_embeddings=80, pad_token_id=1),
         _ids("input_ids", seq=32), _LAYERS),
    Case("reformer", "ReformerConfig", "ReformerModelWithLMHead", dict(vocab_size=VOCAB, hidden_size=32, num_attention_heads=2, attention_head_size=16, feed_forward_size=64,
         attn_layers=["local", "lsh"], axial_pos_shape=[4, 8], axial_pos_embds_dim=[16, 16], max_position_embeddings=32, local_attn_chunk_length=8, lsh_attn_chunk_length=8, num_buckets=4, is_decoder=True),
         _ids("input_ids", seq=32), ("feed_forward_size", 64, 128)),
    Case("fnet", "FNetConfig", "FNetForMaskedLM", _BERT, _ids("input_ids"), _LAYERS),
    Case("convbert", "ConvBertConfig", "ConvBertForMaskedLM", dict(_BERT, embedding_size=32), _ids("input_ids"), _LAYERS),
    Case("squeezebert", "SqueezeBertConfig", "SqueezeBertForMaskedLM", dict(_BERT, embedding_size=32, q_groups=2, k_groups=2, v_groups=2, post_attention_groups=2, intermediate_groups=2, output_groups=2), _ids("input_ids"), _LAYERS),
    Case("nystromformer", "NystromformerConfig", "NystromformerForMaskedLM", dict(_BERT, num_landmarks=4, segment_means_seq_len=SEQ), _ids("input_ids"), _LAYERS),
    Case("vit_mae", "ViTMAEConfig", "ViTMAEForPreTraining", dict(_BERT, image_size=32, patch_size=8, decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=32), _image(32), _LAYERS),
    Case("perceiver", "PerceiverConfig", "PerceiverForMaskedLM", dict(vocab_size=VOCAB, d_model=32, d_latents=32, num_latents=8, num_blocks=1, num_self_attends_per_block=1, num_self_attention_heads=2, num_cross_attention_heads=2, max_position_embeddings=SEQ), _ids("input_ids"), ("num_latents", 8, 16)),
    Case("patchtst", "PatchTSTConfig", "PatchTSTForPrediction", dict(num_input_channels=3, context_length=32, patch_length=8, patch_stride=8, prediction_length=8, d_model=16, num_attention_heads=2, num_hidden_layers=1, ffn_dim=32),
         {"past_values": {"shape": [1, 32, 3]}}, ("d_model", 16, 32)),
    Case("convnextv2", "ConvNextV2Config", "ConvNextV2ForImageClassification", dict(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=10), _image(32), ("num_labels", 10, 20)),
    Case("dpt", "DPTConfig", "DPTForDepthEstimation", dict(_BERT, num_hidden_layers=4, image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5]), _image(32), ("fusion_hidden_size", 16, 32)),
    Case("encodec", "EncodecConfig", "EncodecModel", dict(hidden_size=16, num_filters=4, num_residual_layers=1, upsampling_ratios=[4, 2], codebook_size=32, codebook_dim=16, audio_channels=1), {"input_values": {"shape": [1, 1, 320]}}, ("num_filters", 4, 8)),
    Case("layoutlm", "LayoutLMConfig", "LayoutLMForMaskedLM", _BERT, _ids("input_ids"), _LAYERS),
    Case("prophetnet", "ProphetNetConfig", "ProphetNetForConditionalGeneration", dict(vocab_size=VOCAB, hidden_size=32, encoder_ffn_dim=64, decoder_ffn_dim=64, num_encoder_layers=1, num_decoder_layers=1, num_encoder_attention_heads=4, num_decoder_attention_heads=4, ngram=2, num_buckets=8, relative_max_distance=16), _ids("input_ids", "decoder_input_ids"), ("hidden_size", 32, 64)),
    Case("nllb_moe", "NllbMoeConfig", "NllbMoeForConditionalGeneration", dict(_BART, num_experts=4, encoder_sparse_step=1, decoder_sparse_step=1, expert_capacity=32), _ids("input_ids", "decoder_input_ids"), ("d_model", 32, 64), moe=True),
    Case("dbrx", "DbrxConfig", "DbrxForCausalLM", dict(vocab_size=VOCAB, d_model=32, n_heads=4, n_layers=2, max_seq_len=64, attn_config=dict(kv_n_heads=2, rope_theta=10000.0, clip_qkv=8.0), ffn_config=dict(ffn_hidden_size=64, moe_num_experts=4, moe_top_k=2)), _ids("input_ids"), ("n_layers", 1, 3), moe=True),
    Case("bamba", "BambaConfig", "BambaForCausalLM", dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, attn_layer_indices=[1], mamba_n_heads=4, mamba_d_head=16, mamba_d_state=8, mamba_n_groups=1, mamba_chunk_size=8), _ids("input_ids"), ("intermediate_size", 64, 128)),
)
