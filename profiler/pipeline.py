"""Spec -> build -> measure -> Profile: the pipeline every command runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from paramscope.profiler.backends.interface import Backend
from paramscope.profiler.build import Built, build
from paramscope.profiler.choices import Device, Fusion
from paramscope.profiler.profile import profile_model
from paramscope.profiler.spec import ModelSpec
from paramscope.profiler.stats import Profile

__all__ = ["measure", "measure_built", "config_of", "with_bytes"]


def config_of(built: Built) -> dict[str, Any]:
    """The args/inputs the model was built from, as plain data (for JSON and reports)."""
    if built.config is not None:
        return {"args": dataclasses.asdict(built.config), "inputs": dataclasses.asdict(built.input_knobs)}
    return {"args": dict(built.spec.args), "inputs": dict(built.spec.inputs)}


def with_bytes(prof: Profile, moved: Mapping[str, int]) -> Profile:
    """``prof`` with inclusive bytes moved per module and in total (``ByteCount.bytes``)."""
    rows = tuple(m if m.is_param else dataclasses.replace(m, bytes=moved.get(m.path, 0)) for m in prof.modules)
    return dataclasses.replace(prof, modules=rows, total=dataclasses.replace(prof.total, bytes=moved.get("", 0)))


def measure_built(built: Built, *, flops: Backend | None = None, backward: bool = False,
                  elementwise: bool = False, layers: bool = False, bytes_moved: bool = False, fusion: Fusion | str = Fusion.NONE,
                  hardware: Any = None, precision: Any = None) -> Profile:
    """Profile an already built model; ``flops`` is the counting backend, None skips MACs.

    ``elementwise`` also counts output elements of element-wise ops (torch backend only);
    ``layers`` records each submodule's shapes and layer details (one more hooked forward);
    ``bytes_moved`` the bytes each module's ops move (``fusion``: see ``profiler/bytes.py``), with
    floating tensors at ``precision`` (a ``Precision``; None = as run); ``hardware`` (a
    ``Hardware``) adds the roofline time per module (``profiler/roofline.py``).
    """
    count = None
    if flops is not None:
        from paramscope.profiler.flops import count_macs

        count = count_macs(built.model, built.args, built.kwargs, flops, backward=backward, elementwise=elementwise,
                           seed=built.seed)
    elif elementwise:
        from paramscope.profiler.errors import ArgumentError

        raise ArgumentError("elementwise", None, "needs a MAC backend (torch); none was given")
    prof = profile_model(built.model, built.args, built.kwargs, name=built.spec.name, flops=count, device=built.device)
    if bytes_moved or hardware is not None:
        from paramscope.profiler.bytes import count_bytes, reprice

        moved = count_bytes(built.model, built.args, built.kwargs, fusion=Fusion(fusion))
        prof = with_bytes(prof, reprice(moved, precision))
        if hardware is not None:
            from paramscope.profiler.roofline import roofline, with_roofline

            prof = with_roofline(prof, roofline(moved, hardware, precision))
    shapes = {}
    if layers:
        from paramscope.profiler.layers import record_layers

        shapes = record_layers(built.model, built.args, built.kwargs)
    return dataclasses.replace(prof, source=built.spec.source, preset_of=built.spec.preset_of, config=config_of(built),
                               layers=shapes)


def measure(spec: ModelSpec, *, device: Device | str = Device.META, flops: Backend | None = None,
            backward: bool = False, elementwise: bool = False, seed: int = 0) -> Profile:
    """Build ``spec`` on ``device`` and profile it (parameters, and MACs with a backend).

    ``seed`` seeds the build and the values a meta forward must assume (``Profile.assumptions``).
    """
    built = build(spec, device, seed, inputs=flops is not None)  # params alone need no forward
    return measure_built(built, flops=flops, backward=backward, elementwise=elementwise)
