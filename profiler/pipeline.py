"""Spec -> build -> measure -> Profile: the pipeline every command runs."""

from __future__ import annotations

import dataclasses
from typing import Any

from paramscope.profiler.backends.interface import Backend
from paramscope.profiler.build import Built, build
from paramscope.profiler.choices import Device
from paramscope.profiler.profile import profile_model
from paramscope.profiler.spec import ModelSpec
from paramscope.profiler.stats import Profile

__all__ = ["measure", "measure_built", "config_of"]


def config_of(built: Built) -> dict[str, Any]:
    """The args/inputs the model was built from, as plain data (for JSON and reports)."""
    if built.config is not None:
        return {"args": dataclasses.asdict(built.config), "inputs": dataclasses.asdict(built.input_knobs)}
    return {"args": dict(built.spec.args), "inputs": dict(built.spec.inputs)}


def measure_built(built: Built, *, flops: Backend | None = None, backward: bool = False,
                  elementwise: bool = False, layers: bool = False) -> Profile:
    """Profile an already built model; ``flops`` is the counting backend, None skips MACs.

    ``elementwise`` also counts output elements of element-wise ops (torch backend only);
    ``layers`` records each submodule's shapes and layer details (one more hooked forward).
    """
    count = None
    if flops is not None:
        from paramscope.profiler.flops import count_macs

        count = count_macs(built.model, built.args, built.kwargs, flops, backward=backward, elementwise=elementwise)
    elif elementwise:
        from paramscope.profiler.errors import ArgumentError

        raise ArgumentError("elementwise", None, "needs a MAC backend (torch); none was given")
    prof = profile_model(built.model, built.args, built.kwargs, name=built.spec.name, flops=count, device=built.device)
    shapes = {}
    if layers:
        from paramscope.profiler.layers import record_layers

        shapes = record_layers(built.model, built.args, built.kwargs)
    return dataclasses.replace(prof, source=built.spec.source, preset_of=built.spec.preset_of, config=config_of(built),
                               layers=shapes)


def measure(spec: ModelSpec, *, device: Device | str = Device.META, flops: Backend | None = None, backward: bool = False,
            elementwise: bool = False) -> Profile:
    """Build ``spec`` on ``device`` and profile it (parameters, and MACs with a backend)."""
    return measure_built(build(spec, device), flops=flops, backward=backward, elementwise=elementwise)
