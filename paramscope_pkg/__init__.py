"""paramscope: where the parameters, FLOPs, latency and memory of a PyTorch model go.

``paramscope.profile(model, *inputs)`` counts, ``paramscope.summary(model, input_size=...)``
prints; both return a ``Profile`` (see ``paramscope.profiler.api``). Importing this package
imports no torch: the CLI's ``--help`` stays instant.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "profile", "summary"]


def profile(model: Any, *args: Any, **kwargs: Any) -> Any:
    """Parameters and MACs per submodule: see ``paramscope.profiler.api.profile``."""
    from paramscope.profiler.api import profile as _profile

    return _profile(model, *args, **kwargs)


def summary(model: Any, input_size: Any = None, **kwargs: Any) -> Any:
    """Print the breakdown table and return the Profile: see ``paramscope.profiler.api.summary``."""
    from paramscope.profiler.api import summary as _summary

    return _summary(model, input_size, **kwargs)
