"""Imported by a sweep's fork server (``parallel``): one tiny count on meta, before any worker forks.

The first count in a process pays for torch's lazily loaded meta machinery: meta kernels written
in Python (``torch._meta_registrations``, ``torch._refs``), the symbolic-shapes module and sympy
they import, and the ``torch._dynamo`` import their wrappers trigger (about 2-3 s of CPU, against
0.2 s for each further rg_output variant). Paid here, once, every worker forked from the server
starts warm. Only meta tensors are made: no cpu kernel runs (a fork server must not start the
OpenMP thread pool its children would inherit).
"""

from __future__ import annotations

import logging

__all__: list[str] = []


def _warm() -> None:
    import torch

    from paramscope.profiler.flops import count_macs

    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU(), torch.nn.LayerNorm(4),
                                    torch.nn.Conv1d(4, 4, 3, padding=1))
        x = torch.empty(2, 4, 4)
    count_macs(model, (x,))


try:
    _warm()
except Exception:  # noqa: BLE001 - a warm-up that fails only means workers start cold
    logging.getLogger(__name__).debug("sweep worker warm-up failed", exc_info=True)
