"""The package installs from a wheel into a fresh virtual environment and runs from there.

Catches a module or data file (presets) missing from the wheel. The fresh venv gets only the
wheel; its dependencies (torch, ...) are borrowed from this interpreter's site-packages through a
.pth file, so the test needs no network and takes seconds.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_into_fresh_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("paramscope-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    # our own checkout must not leak in through the borrowed site-packages (editable install)
    (Path(purelib) / "borrowed_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", purelib, str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["COLUMNS"] = "140"
    where = subprocess.run([str(py), "-c", "import paramscope.profiler as p; print(p.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path, env=env).stdout
    assert purelib in where, f"imported from {where}, not from the fresh venv"
    script = venv / "bin" / "paramscope"
    run = [str(script)] if script.exists() else [str(py), "-m", "paramscope.cli.app"]
    help_out = subprocess.run([*run, "--help"], check=True, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert "breakdown" in help_out.stdout
    out = subprocess.run([*run, "breakdown", "rg_output_etth1", "--format", "json"], check=True,
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert json.loads(out.stdout)["total"]["params"] == 10_371_074
