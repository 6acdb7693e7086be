"""paramscope's library: config, build, measure, sweep, report. Never prints; imports torch lazily.

Public API::

    from paramscope.profiler import profile_model, load_spec, build, measure
    prof = profile_model(model, (x,))          # any nn.Module
    prof = measure(load_spec("rg_output_etth1"))  # a config / preset
"""

from __future__ import annotations

from paramscope.profiler.build import Built, build
from paramscope.profiler.errors import (
    BackendUnavailable,
    ConfigError,
    ForwardFailed,
    OutputError,
    ParamscopeError,
    UnknownModel,
)
from paramscope.profiler.pipeline import measure, measure_built
from paramscope.profiler.profile import profile_model
from paramscope.profiler.spec import ModelSpec, apply_overrides, load_spec
from paramscope.profiler.stats import ModuleStats, Profile, SharedParam, Totals, Uncounted

__all__ = [
    "BackendUnavailable", "Built", "ConfigError", "ForwardFailed", "ModelSpec", "ModuleStats",
    "OutputError", "ParamscopeError", "Profile", "SharedParam", "Totals", "Uncounted", "UnknownModel",
    "apply_overrides", "build", "load_spec", "measure", "measure_built", "profile_model",
]
