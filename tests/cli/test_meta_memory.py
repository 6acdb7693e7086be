"""Profiling the 830,472,192-parameter GRU router on meta must not allocate its 3.3 GB of weights."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD = """
import json, resource, sys
from typer.testing import CliRunner
from paramscope.cli.app import app
res = CliRunner().invoke(app, ["breakdown", "gru_router_spectra", "--format", "json", "--flops", sys.argv[1]])
assert res.exit_code == 0, res.output
doc = json.loads(res.stdout)
print(json.dumps({"params": doc["total"]["params"], "macs": doc["total"]["macs"],
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

FLOOR = "import torch, resource; torch.zeros(2, 3, device='meta').mean(); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


@pytest.mark.parametrize("flops", ["none", "torch"])
def test_gru_router_on_meta_stays_near_the_import_floor(flops: str) -> None:
    floor_kb = int(subprocess.run([sys.executable, "-c", FLOOR], check=True, capture_output=True, text=True).stdout)
    out = subprocess.run([sys.executable, "-c", CHILD, flops], check=True, capture_output=True, text=True)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["params"] == 830_472_192  # 3 * (512*16384 + 16384*16384)
    if flops == "torch":
        assert doc["macs"] == 53_150_220_288  # 64 steps * 3 gates * (512*16384 + 16384*16384)
    # the weights alone would be 3,321,888,768 bytes; allow the CLI, rich and the forward some room
    assert doc["rss_kb"] < floor_kb + 250_000, (doc["rss_kb"], floor_kb)
