#!/usr/bin/env python
"""Simulated peak (meta) against the measured peak (a real cpu run) of each zoo preset's training step.

    python benchmarks/memory_accuracy.py [--models NAME ...] [--batch 1] [--max-real-gb 6]
                                         [--out benchmarks/memory.md]

Per preset: ``plan_memory(..., train=adam)`` on meta (timed: the seconds a user waits), then the
same two fp32 Adam steps for real on cpu under ``torch.profiler``'s allocator accounting (the
method of tests/profiler/memory_real.py: every block the cpu allocator serves, kernel
workspaces included). A preset whose simulated peak exceeds ``--max-real-gb`` is not run for real
(the 830M-parameter GRU router needs ~20 GB), and its row says so. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "profiler"))
MODELS = ("rg_output_etth1", "gru_router_spectra", "titan_stream", "selective_lm")


def _row(name: str, batch: int, max_real: float) -> str:
    from memory_real import real_peak

    from paramscope.cli.parse import parse_sets
    from paramscope.profiler import build, load_spec
    from paramscope.profiler.memory import Optimizer, Precision, plan_memory

    sets = [f"inputs.batch_size={batch}"]
    built = build(load_spec(name, parse_sets(sets)), "meta")
    t0 = time.perf_counter()
    meta = plan_memory(built.model, built.args, built.kwargs, dtype=Precision.FP32, train=Optimizer.ADAM)
    secs = time.perf_counter() - t0
    when = f"step {meta.peak_step} {meta.peak_phase}" + (f", in {meta.peak_module}" if meta.peak_module else "")
    if meta.peak_bytes > max_real * 1e9:
        return f"| {name} | {batch} | {meta.peak_bytes:,} | {when} | {secs:.1f} | not run (> {max_real:g} GB) | — |"
    cpu = build(load_spec(name, parse_sets(sets)), "cpu")
    real, _ = real_peak(lambda: plan_memory(cpu.model, cpu.args, cpu.kwargs, dtype=Precision.FP32,
                                            train=Optimizer.ADAM, device="cpu"), (cpu.args, cpu.kwargs))
    err = 100.0 * (meta.peak_bytes - real) / real
    return f"| {name} | {batch} | {meta.peak_bytes:,} | {when} | {secs:.1f} | {real:,} | {err:+.2f}% |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--max-real-gb", type=float, default=6.0)
    ap.add_argument("--out", type=Path, default=HERE / "memory.md")
    a = ap.parse_args()
    lines = ["| preset | batch | simulated peak B (meta) | when | simulate s | measured peak B (cpu) | error |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for name in a.models:
        lines.append(_row(name, a.batch, a.max_real_gb))
        print(lines[-1], flush=True)
    a.out.write_text("fp32, Adam, 2 steps (`benchmarks/memory_accuracy.py`)\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
