"""``paramscope calibrate``: measure this machine's matmul FLOP/s and bandwidth; save the cpu profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paramscope.cli.common import DebugOpt, FormatOpt, OutputFormat, check_writable, emit, guarded, need_format
from paramscope.profiler.choices import Clock


def calibrate(
    save: Annotated[Path | None, typer.Option("--save", help="Where to save the profile (default: $PARAMSCOPE_HOME/hardware/cpu.yaml, used by --hardware cpu).")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Only print the figures.")] = False,
    clock: Annotated[Clock, typer.Option("--clock", help="thread (default: CPU time of one thread, robust on a busy machine) or wall (all threads).")] = Clock.THREAD,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed calls per measurement; the median counts (as --latency reports).")] = 5,
    fmt: FormatOpt = OutputFormat.TABLE,
    debug: DebugOpt = False,
) -> None:
    """Measure achieved matmul FLOP/s (fp32, bf16, fp16; by the product's smallest dimension), max-pool
    rate, memory bandwidth and per-op overhead on this CPU.

    Takes 10-20 seconds. The profile is saved and replaces the built-in cpu placeholder, so
    `breakdown --hardware cpu` can be compared with `breakdown --latency --device cpu --clock thread`.

    Example: paramscope calibrate && paramscope breakdown rg_output_etth1 --hardware cpu
    """
    from paramscope.profiler.calibrate import calibrate as run
    from paramscope.profiler.render.roofline import CALIBRATE, CalibrationView
    from paramscope.profiler.errors import ConfigError
    from paramscope.profiler.hardware import calibrated_path, save_hardware

    need_format(CALIBRATE, fmt)
    with guarded(debug):
        if repeats < 1:
            raise ConfigError(f"--repeats {repeats}: must be at least 1")
        target = None if no_save else (save or calibrated_path())
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            check_writable(target)
        result = run(repeats=repeats, clock=clock)
        if target is not None:
            save_hardware(result.hardware, target)
        emit(CALIBRATE.of(CalibrationView(result, target)), fmt, None)
