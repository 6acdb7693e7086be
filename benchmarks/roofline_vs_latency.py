#!/usr/bin/env python
"""The roofline prediction against measured forward latency, per model and per module.

    python benchmarks/roofline_vs_latency.py [--device cpu|cuda] [--hardware NAME|FILE]
                                             [--repeats 5] [--models NAME ...] [--out FILE.md]

On cpu (default) the prediction uses this machine's calibrated profile: ``paramscope calibrate``
is run first unless ``--hardware`` names a profile. Latency is ``measure_latency`` with the
``thread`` clock (CPU time of one thread, one intra-op thread): the machine this was developed on
is shared, and wall-clock times there vary several-fold. On cuda, pass ``--device cuda
--hardware h100-sxm`` (or the card's row, or a YAML): latency is then CUDA-event wall time.

Models: the zoo presets (the GRU router at ``router_dim=16``: the full 830M-parameter preset needs
3.3 GB of fp32 weights), a ResNet-like stand-in built here (torchvision does not import on the
development machine), one BERT layer from a ``transformers`` config (random weights, never
downloaded), and the GRU router.

Per model: predicted total (ms), measured total (median ms), their ratio (within 2x is the
target), and the top five leaf modules by measured inclusive time next to the top five by
predicted time (identical layers get identical predictions; such ties are ordered by the
measurement). The sets are compared strictly and within the measurement's noise: a predicted
top-five module outside the measured top five still matches when its measured p90 reaches the
p10 of the fifth-slowest measured module (over the repeats the two cannot be told apart; a
ResNet's stages have convolutions of equal FLOPs that trade places from run to run). No timing
is asserted anywhere.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from paramscope.profiler.build import build
from paramscope.profiler.bytes import count_bytes
from paramscope.profiler.hardware import Hardware, load_hardware
from paramscope.profiler.latency import Clock, Timing, measure_latency
from paramscope.profiler.roofline import roofline
from paramscope.profiler.spec import load_spec

TOP = 5
Made = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convs with batch norm, and a (projected) residual."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.down(x))


class ResNetLike(nn.Module):
    """ResNet-18's layout (stem, 4 stages of 2 basic blocks, pool, fc) at a smaller width."""

    def __init__(self, width: int = 32, classes: int = 100) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        chans = [width, 2 * width, 4 * width, 8 * width]
        stages, cin = [], width
        for i, c in enumerate(chans):
            stages.append(nn.Sequential(BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)))
            cin = c
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def _resnet(device: str) -> Made:
    return ResNetLike().to(device).eval(), (torch.randn(1, 3, 128, 128, device=device),), {}


def _bert_layer(device: str) -> Made:
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLayer

    cfg = BertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072, attn_implementation="eager")
    return BertLayer(cfg).to(device).eval(), (torch.randn(1, 128, 768, device=device),), {}


def _preset(name: str, *sets: tuple[str, Any]) -> Callable[[str], Made]:
    def make(device: str) -> Made:
        built = build(load_spec(name, list(sets)), device)
        return built.model.eval(), tuple(built.args), dict(built.kwargs)

    return make


MODELS: dict[str, Callable[[str], Made]] = {
    "rg_output_etth1": _preset("rg_output_etth1"),
    "titan_stream": _preset("titan_stream"),
    "selective_lm": _preset("selective_lm"),
    "gru_router (router_dim=16)": _preset("gru_router_spectra", ("router_dim", 16)),
    "resnet_like (1x3x128x128)": _resnet,
    "bert_layer (1x128x768)": _bert_layer,
}


def _leaves(model: nn.Module) -> set[str]:
    return {p for p, m in model.named_modules() if p and not any(True for _ in m.children())}


def compare(name: str, hw: Hardware, device: str, repeats: int) -> dict[str, Any]:
    model, args, kwargs = MODELS[name](device)
    clock = Clock.THREAD if device == "cpu" else Clock.WALL
    roof = roofline(count_bytes(model, args, kwargs), hw)
    lat = measure_latency(model, args, kwargs, device=device, repeats=repeats, warmup=1, clock=clock)
    leaves = _leaves(model)
    spread = {r.path: r.inclusive_ms for r in lat.rows if r.path in leaves}
    measured = {p: t.median_ms for p, t in spread.items()}
    predicted = {p: r.roofline_ms for p, r in roof.modules.items() if p in leaves}
    top_m = sorted(measured, key=lambda p: -measured[p])[:TOP]
    # identical layers (blocks.0.mlp.0, blocks.1.mlp.0...) get the same prediction: no static model can
    # order them, so equal predictions (to 3 significant digits) are ordered by the measurement
    top_p = sorted(predicted, key=lambda p: (-float(f"{predicted[p]:.3g}"), -measured.get(p, 0.0)))[:TOP]
    return {"model": name, "predicted_ms": roof.total.roofline_ms, "measured_ms": lat.total_ms.median_ms,
            "bound": roof.total.bound.value, "top_measured": top_m, "top_predicted": top_p,
            "order_match": top_m == top_p, "set_match": set(top_m) == set(top_p),
            "noise_match": _within_noise(top_m, top_p, spread)}


def _within_noise(top_m: list[str], top_p: list[str], spread: dict[str, Timing]) -> bool:
    """Every predicted top module is in the measured top, or tied with its last one over the repeats."""
    if not top_m:
        return not top_p
    fifth = spread[top_m[-1]].p10_ms
    return all(p in top_m or (p in spread and spread[p].p90_ms >= fifth) for p in top_p)


def _table(rows: list[dict[str, Any]], hw: Hardware, device: str, repeats: int) -> str:
    out = [f"# Roofline prediction vs measured latency ({device})", "",
           f"hardware profile: `{hw.key}` ({hw.name}); {hw.memory_bandwidth_gbs:g} GB/s, peak TFLOP/s "
           f"{dict(hw.peak_tflops)}, per-op overhead {hw.op_overhead_us:g} us"
           + (f", fp32 matmul TFLOP/s by smallest dimension {dict(hw.matmul_dim_tflops)}" if hw.matmul_dim_tflops else "")
           + (f", max-pool {hw.pool_gelems:g}G window elements/s" if hw.pool_gelems else "")
           + f". Source: {hw.source}.",
           f"latency: median of {repeats} repeats, clock {'thread (CPU time, 1 thread)' if device == 'cpu' else 'wall'}; "
           f"torch {torch.__version__}, {platform.machine()}, python {platform.python_version()}.", "",
           "| model | predicted ms | measured ms | predicted / measured | bound | top-5 leaves (measured) | "
           "top-5 leaves (predicted) | top-5 order / set / set within noise |",
           "|---|---:|---:|---:|---|---|---|---|"]
    for r in rows:
        ratio = r["predicted_ms"] / r["measured_ms"]
        out.append(f"| {r['model']} | {r['predicted_ms']:.3g} | {r['measured_ms']:.3g} | {ratio:.2f} | {r['bound']} | "
                   f"{', '.join(r['top_measured'])} | {', '.join(r['top_predicted'])} | "
                   f"{' / '.join('yes' if r[k] else 'no' for k in ('order_match', 'set_match', 'noise_match'))} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--hardware", default=None, help="a profile name or YAML (default on cpu: calibrate now)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS), metavar="NAME")
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args(argv)
    if opts.hardware is None and opts.device == "cuda":
        ap.error("--device cuda needs --hardware (e.g. h100-sxm, or a YAML for your card)")
    if opts.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False)")
    if opts.hardware is None:
        from paramscope.profiler.calibrate import calibrate

        hw = calibrate().hardware
    else:
        hw = load_hardware(opts.hardware)
    rows = []
    for name in opts.models:
        print(f"... {name}", file=sys.stderr, flush=True)
        rows.append(compare(name, hw, opts.device, opts.repeats))
    text = _table(rows, hw, opts.device, opts.repeats)
    if opts.out is not None:
        opts.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
