"""Models without a YAML file: ``pkg.module:factory``, ``hf:``, ``torchvision:`` and ``timm:``.

Each entry point becomes an ordinary ``target:`` ``ModelSpec`` whose factory lives here, so
every command (breakdown, whatif, memory, audit, diff, check) takes them unchanged and their
keys are knobs like any config's: ``--set num_hidden_layers=24`` reaches the transformers
config, ``whatif hf:config.json --set hidden_size=768,1024`` sweeps it.

- ``pkg.module:factory``: imported from the current folder (like ``python -c``, it runs that
  code); ``--arg k=v`` are its keyword arguments, ``--input x=1x3x224x224`` its inputs.
- ``hf:PATH`` (a ``config.json`` or a folder holding one) or ``hf:NAME`` (transformers' config
  lookup: local cache or the hub). The class is the config's ``architectures[0]`` when given,
  else ``AutoModel``; weights are never loaded. Default inputs follow the forward's signature
  (``input_ids`` 1x128 or the config's positions, ``pixel_values``, ``input_features``,
  ``input_values``, ``decoder_input_ids``; see ``_hf_inputs``).
- ``torchvision:NAME`` / ``timm:NAME``: ``weights=None`` / ``pretrained=False``, at the model's
  conventional input size.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramscope.profiler.errors import ConfigError, UnknownModel
from paramscope.profiler.limits import check_repeats

if TYPE_CHECKING:
    from paramscope.profiler.spec import ModelSpec

__all__ = ["entry_spec", "parse_input", "hf_model", "torchvision_model", "timm_model", "HF_SEQ_LEN"]

HF_SEQ_LEN = 128
"""Tokens in the default ``input_ids`` of an ``hf:`` model (``--input input_ids=1x512`` overrides)."""

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_HERE = "paramscope.profiler.sources"
_TORCHVISION_SIZES = {"inception_v3": 299, "googlenet": 224}


def entry_spec(config: str) -> ModelSpec | None:
    """The spec of a no-YAML entry point, or None when ``config`` is not one."""
    from paramscope.profiler.spec import ModelSpec

    scheme, sep, rest = config.partition(":")
    if sep and scheme in ("hf", "torchvision", "timm"):
        if not rest:
            raise UnknownModel(f"{config}: give a name after '{scheme}:', e.g. {scheme}:{_EXAMPLE[scheme]}")
        factory, arg = _SCHEMES[scheme]
        name = Path(rest).parent.name if scheme == "hf" and rest.endswith(".json") else Path(rest).name
        return ModelSpec(name=name or rest, source=config, family=None, target=f"{_HERE}:{factory}",
                         args={arg: rest}, inputs={}, config_dir=Path.cwd())
    if _FACTORY.match(config) and not Path(config).exists():
        return ModelSpec(name=config, source=config, family=None, target=config, args={}, inputs={},
                         config_dir=Path.cwd())
    return None


_SCHEMES = {"hf": ("hf_model", "hf_config"), "torchvision": ("torchvision_model", "torchvision_name"),
            "timm": ("timm_model", "timm_name")}
_EXAMPLE = {"hf": "path/to/config.json", "torchvision": "resnet50", "timm": "vit_base_patch16_224"}


def parse_input(item: str) -> tuple[str, dict[str, Any]]:
    """``"x=1x3x224x224"`` / ``"ids=1x128:int64"`` -> ``("x", {"shape": [...], "dtype": ...})``."""
    from paramscope.profiler.yamlsafe import check_int_range

    name, sep, rest = item.partition("=")
    shape_text, colon, dtype = rest.partition(":")
    dims = shape_text.lower().replace(",", "x").split("x")
    if (not sep or not name.strip().isidentifier() or not all(d.strip().isascii() and d.strip().isdigit() for d in dims)
            or (colon and not dtype.strip())):
        raise ConfigError(f"--input {item}: expected NAME=SHAPE[:DTYPE], e.g. x=1x3x224x224 or ids=1x128:int64")
    for d in dims:
        check_int_range(int(d), f"--input {item}: dimension")
    desc: dict[str, Any] = {"shape": [int(d) for d in dims]}
    if dtype:
        desc["dtype"] = dtype
    return name.strip(), desc


def _import(package: str, scheme: str) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as e:
        raise UnknownModel(f"{scheme}: needs the '{package}' package, which does not import here: "
                           f"{type(e).__name__}: {e}") from None


# --- transformers -------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """The hub client logs each failed request on stderr: our one error line says it instead."""
    loggers = [logging.getLogger(n) for n in ("huggingface_hub", "transformers")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _merged(data: Mapping[str, Any], overrides: Mapping[str, Any], per_layer: bool = False) -> dict[str, Any]:
    """``data`` with ``overrides``: a sub-config is merged key by key (``--set text_config.num_hidden_layers=1``
    keeps the rest of ``text_config``). With ``per_layer``, a list as long as an overridden layer count
    (``layer_types``, Longformer's ``attention_window``) follows the new count, its pattern repeated or cut,
    unless it is overridden too (transformers refuses a ``layer_types`` whose length is not ``num_hidden_layers``)."""
    out = dict(data)
    for key, value in overrides.items():
        old = data.get(key)
        out[key] = _merged(old, value, per_layer) if isinstance(value, Mapping) and isinstance(old, Mapping) else value
        if not per_layer or "layer" not in key:
            continue
        if isinstance(old, int) and isinstance(value, int) and 0 < old != value and value > 0:
            for name, entries in data.items():
                if name not in overrides and isinstance(entries, list) and len(entries) == old:
                    out[name] = [entries[i % old] for i in range(value)]
    return out


def _hf_config(source: str, overrides: Mapping[str, Any], per_layer: bool = False) -> Any:
    transformers = _import("transformers", "hf")
    path = Path(source)
    try:
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "model_type" not in data:
                raise ConfigError(f"hf:{source}: not a transformers config.json (no 'model_type')")
            return transformers.AutoConfig.for_model(**_merged(data, overrides, per_layer))
        with _quiet_hub():
            config = transformers.AutoConfig.from_pretrained(source)
        return transformers.AutoConfig.for_model(**_merged(config.to_dict(), overrides, per_layer)) if overrides else config
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnknownModel(f"hf:{source}: cannot read a transformers config: {first}") from None


def _hf_class(transformers: Any, config: Any) -> Any:
    for arch in getattr(config, "architectures", None) or ():
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    return transformers.AutoModel


_POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx")
_IMAGE_TOKEN_KEYS = ("image_token_id", "image_token_index")
"""A vision-language model whose ids must hold image placeholders: its default input is text alone."""
_AUDIO_SAMPLES = 16_000
"""Samples of the default ``input_values`` (raw audio: one second at 16 kHz, wav2vec2's rate)."""


def _config_value(config: Any, keys: tuple[str, ...], subs: tuple[str, ...]) -> Any:
    """The first of ``keys`` set on ``config``, else on one of its sub-configs (``vision_config``...)."""
    for cfg in (config, *(getattr(config, s, None) for s in subs)):
        for key in keys:
            value = getattr(cfg, key, None) if cfg is not None else None
            if value is not None:
                return value
    return None


def _hf_inputs(model: Any, config: Any) -> dict[str, Any]:
    """Default example inputs from the forward's signature (batch 1), floats in the model's dtype.

    Token ids are ``HF_SEQ_LEN`` long, or as many as the learned positions allow (a small config's
    ``max_position_embeddings`` below 128); a forward that takes both text and images (CLIP) gets
    both, unless the ids would need image placeholder tokens (Llava: text alone). Raw audio
    (``input_values``, wav2vec2) is one second at 16 kHz.
    """
    import torch

    params = inspect.signature(model.forward).parameters
    # a config.json with "dtype": "bfloat16" builds a bf16 model: its float inputs are bf16 too (a conv refuses fp32)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    vocab = int(_config_value(config, ("vocab_size",), ("text_config",)) or 2)
    limit = _config_value(config, _POSITION_KEYS, ("text_config",))
    seq = min(HF_SEQ_LEN, limit) if isinstance(limit, int) and limit > 0 else HF_SEQ_LEN
    ids = torch.randint(0, vocab, (1, seq))
    out: dict[str, Any] = {}
    if "input_ids" in params:
        out["input_ids"] = ids
    if "pixel_values" in params and not (out and _config_value(config, _IMAGE_TOKEN_KEYS, ())):
        size = _config_value(config, ("image_size",), ("vision_config",)) or 224
        size = size if isinstance(size, int) else int(size[0])
        channels = int(_config_value(config, ("num_channels",), ("vision_config",)) or 3)
        out["pixel_values"] = torch.randn(1, channels, size, size, dtype=dtype)
    if "input_features" in params and not out:
        frames = 2 * int(getattr(config, "max_source_positions", 1500))
        out["input_features"] = torch.randn(1, int(getattr(config, "num_mel_bins", 80)), frames, dtype=dtype)
    if "input_values" in params and not out:
        out["input_values"] = torch.randn(1, _AUDIO_SAMPLES, dtype=dtype)
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in params:
        out["decoder_input_ids"] = ids[:, : min(seq, int(getattr(config, "max_target_positions", seq)))]
    return out


def hf_model(hf_config: str, **overrides: Any) -> tuple[Any, dict[str, Any]]:
    """A transformers model from its config (never its weights), with default inputs."""
    try:
        return _hf_build(hf_config, overrides, per_layer=False)
    except Exception as e:
        if not overrides:
            raise
        first = e
    try:  # a new layer count that transformers refuses with the config's per-layer lists: resize them
        return _hf_build(hf_config, overrides, per_layer=True)
    except Exception:  # noqa: BLE001 - not that: the first failure is the one to report
        raise first from None


def _hf_build(hf_config: str, overrides: Mapping[str, Any], *, per_layer: bool) -> tuple[Any, dict[str, Any]]:
    transformers = _import("transformers", "hf")
    config = _hf_config(hf_config, overrides, per_layer)
    check_repeats(config.to_dict(), "", lambda key: f"hf:{hf_config}: ")  # num_hidden_layers: 1e9 builds for days
    cls = _hf_class(transformers, config)
    model = cls.from_config(config) if hasattr(cls, "from_config") else cls._from_config(config)
    return model, _hf_inputs(model, config)


# --- torchvision / timm -------------------------------------------------------------------

def torchvision_model(torchvision_name: str, **kwargs: Any) -> tuple[Any, tuple[Any, ...]]:
    """``torchvision.models.get_model(NAME, weights=None)`` on a 1x3xSxS image."""
    import torch

    models = _import("torchvision.models", "torchvision")
    try:
        model = models.get_model(torchvision_name, weights=None, **kwargs)
    except ValueError as e:
        raise UnknownModel(f"torchvision:{torchvision_name}: {e}") from None
    size = _TORCHVISION_SIZES.get(torchvision_name, 224)
    return model, (torch.randn(1, 3, size, size),)


def timm_model(timm_name: str, **kwargs: Any) -> tuple[Any, tuple[Any, ...]]:
    """``timm.create_model(NAME, pretrained=False)`` at its configured input size."""
    import torch

    timm = _import("timm", "timm")
    try:
        model = timm.create_model(timm_name, pretrained=False, **kwargs)
    except RuntimeError as e:  # timm: "Unknown model (...)"
        raise UnknownModel(f"timm:{timm_name}: {e}") from None
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    size = tuple(cfg.get("input_size", (3, 224, 224)))
    return model, (torch.randn(1, *size),)
