"""The Python API in two calls: ``paramscope.profile`` counts, ``paramscope.summary`` prints.

::

    import paramscope
    prof = paramscope.profile(model, x)                       # params and MACs per submodule
    prof.get("encoder.layers.0").macs
    paramscope.summary(model, input_size=(1, 3, 224, 224))    # prints the table, returns the Profile
    print(prof); prof.table(depth=3); prof.to_markdown(); prof.to_dict()

Both take a model on any device (meta included) and leave it as it was; MACs come from one
real forward through the torch backend unless ``flops`` names another (or None to skip).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from paramscope.profiler.errors import ConfigError
from paramscope.profiler.fits import check_bytes

if TYPE_CHECKING:
    import torch

    from paramscope.profiler.stats import Profile

__all__ = ["profile", "summary"]


def profile(model: torch.nn.Module, *args: Any, flops: str | None = "torch", backward: bool = False,
            name: str | None = None, **kwargs: Any) -> Profile:
    """Parameters and (unless ``flops=None``) MACs per submodule of ``model(*args, **kwargs)``.

    Args:
        model: any ``torch.nn.Module``, on meta, cpu or cuda.
        *args, **kwargs: the forward's example inputs (none are needed with ``flops=None``).
        flops: MAC backend, ``"torch"`` (default), ``"fvcore"``, ``"thop"``, or None for params only.
        backward: also count the backward pass (torch backend).
        name: the display name; defaults to the class name.
    """
    from paramscope.profiler.flops import count_macs
    from paramscope.profiler.profile import profile_model

    count = None if flops is None else count_macs(model, args, kwargs, flops, backward=backward)
    return profile_model(model, args, kwargs, name=name, flops=count)


def _device_of(model: torch.nn.Module) -> torch.device:
    import torch

    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _shapes(input_size: Sequence[Any]) -> list[tuple[int, ...]]:
    """``(1, 3, 224, 224)`` -> one shape; ``[(1, 10), (1, 5)]`` -> one per input."""
    if all(isinstance(d, int) and not isinstance(d, bool) for d in input_size):
        return [tuple(input_size)]
    shapes = [tuple(s) for s in input_size]
    if not shapes or not all(all(isinstance(d, int) and d >= 0 for d in s) for s in shapes):
        raise ConfigError(f"input_size {input_size!r}: expected a shape like (1, 3, 224, 224) or a list of shapes")
    return shapes


def summary(model: torch.nn.Module, input_size: Sequence[Any] | None = None, *, input_data: Any = None,
            dtypes: Sequence[torch.dtype] | None = None, depth: int = 3, flops: str | None = "torch",
            file: TextIO | None = None, **kwargs: Any) -> Profile:
    """Print the breakdown table of ``model`` (as ``torchinfo.summary`` users expect) and return it.

    Args:
        model: any ``torch.nn.Module``.
        input_size: one shape, or a list of shapes (one per positional input); tensors are made
            on the model's device (``randn``, or zeros for integer ``dtypes``).
        input_data: the inputs themselves instead (a tensor, a tuple of tensors or a dict).
        dtypes: one dtype per input (default float32).
        depth: table depth (1 = top-level submodules).
        flops: MAC backend, or None for parameters only.
        file: where to print (default stdout).
        **kwargs: further keyword inputs of the forward.
    """
    import torch

    if input_data is not None:
        args: tuple[Any, ...] = tuple(input_data) if isinstance(input_data, list | tuple) else (input_data,)
        if isinstance(input_data, dict):
            args, kwargs = (), {**input_data, **kwargs}
    elif input_size is not None:
        device, shapes = _device_of(model), _shapes(input_size)
        kinds = list(dtypes or [torch.float32] * len(shapes))
        check_bytes(f"input_size {tuple(input_size)!r}: ", "the inputs", sum(
            math.prod(s) * d.itemsize for s, d in zip(shapes, kinds)), device.type)
        args = tuple(torch.randn(s, device=device, dtype=d) if d.is_floating_point
                     else torch.zeros(s, device=device, dtype=d) for s, d in zip(shapes, kinds))
    else:
        args, flops = (), None if not kwargs else flops
    prof = profile(model, *args, flops=flops, **kwargs)
    (file or sys.stdout).write(prof.table(depth=depth))
    return prof
