"""Hardware profiles for the roofline: peak FLOP/s per precision and memory bandwidth.

Built-in accelerators live in ``profiler/data/hardware.yaml`` (each row cites its datasheet).
A custom profile is a YAML file with the same fields::

    name: My accelerator
    source: where the figures come from
    memory_bandwidth_gbs: 900        # GB/s (1 GB = 1e9 bytes)
    peak_tflops: {fp32: 20, bf16: 160, fp16: 160, int8: 320}
    # optional, measured by `paramscope calibrate` (a CPU's kernels fall short of its peak):
    matmul_dim_tflops: {1: 0.005, 16: 0.018, 256: 0.066, 1024: 0.073}   # fp32 rate by smallest dim
    pool_gelems: 0.21                # pooling-window elements visited per ns (1e9 per second)
    op_overhead_us: 2.4              # fixed cost per op

``paramscope calibrate`` measures this machine and saves such a file as the ``cpu`` profile
(``$PARAMSCOPE_HOME/hardware/cpu.yaml``, default ``~/.cache/paramscope``), which then replaces the
built-in ``cpu`` row (the development container's calibration).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from paramscope.profiler.errors import ConfigError
from paramscope.profiler.precision import Precision
from paramscope.profiler.paths import did_you_mean

__all__ = ["Hardware", "builtin_hardware", "load_hardware", "calibrated_path", "save_hardware", "hardware_dict"]

_FIELDS = ("name", "source", "memory_bandwidth_gbs", "peak_tflops", "memory_gb", "op_overhead_us",
           "matmul_dim_tflops", "pool_gelems")


@dataclass(frozen=True, slots=True)
class Hardware:
    """One accelerator (or CPU): what the roofline needs."""

    key: str
    """Short name used on the command line (``h100-sxm``) or the file it came from."""
    name: str
    source: str
    """Where the figures come from (datasheet, or the calibration run)."""
    memory_bandwidth_gbs: float
    peak_tflops: Mapping[str, float] = field(default_factory=dict)
    """Peak dense throughput per precision name (``fp32``, ``bf16``...), in TFLOP/s (TOPS for int8)."""
    memory_gb: float | None = None
    op_overhead_us: float = 0.0
    """Fixed cost per op (dispatch, kernel launch) added to its roofline time; 0 for datasheet rows,
    measured by ``paramscope calibrate``."""
    matmul_dim_tflops: Mapping[int, float] = field(default_factory=dict)
    """Achieved fp32 matmul TFLOP/s by the smallest dimension of an (M, K) x (K, N) product, operands
    not in cache (measured by ``paramscope calibrate``; empty on datasheet rows: every matmul at peak)."""
    pool_gelems: float | None = None
    """Pooling-window elements visited per second, in 1e9 (measured on ``max_pool2d``; None: pooling
    costs only its bytes)."""

    @property
    def bandwidth(self) -> float:
        """Memory bandwidth in bytes per second."""
        return self.memory_bandwidth_gbs * 1e9

    def peak(self, precision: Precision) -> float:
        """Peak FLOP/s at ``precision``.

        Raises:
            ConfigError: the profile lists no peak for that precision.
        """
        tflops = self.peak_tflops.get(precision.value)
        if tflops is None:
            listed = ", ".join(self.peak_tflops)
            raise ConfigError(f"hardware {self.key}: no peak for {precision.value} (it lists {listed})")
        return tflops * 1e12

    def matmul_efficiency(self, dim: int) -> float:
        """Fraction of the peak a matrix product whose smallest dimension is ``dim`` reaches (1 without
        a measured curve).

        The measured fp32 rate at ``dim``, interpolated linearly in log(dim) between the measured
        points and held at the ends, over the fp32 peak (at most 1); other precisions scale alike.
        """
        curve = sorted(self.matmul_dim_tflops.items())
        peak = self.peak_tflops.get("fp32")
        if not curve or not peak or dim <= 0:
            return 1.0
        rate = curve[0][1] if dim <= curve[0][0] else curve[-1][1]
        for (d0, t0), (d1, t1) in zip(curve, curve[1:]):
            if d0 <= dim <= d1:
                rate = t0 + (t1 - t0) * (math.log(dim) - math.log(d0)) / (math.log(d1) - math.log(d0))
                break
        return min(rate / peak, 1.0)

    def ridge(self, precision: Precision) -> float:
        """FLOPs per byte above which an op is compute-bound (peak / bandwidth)."""
        return self.peak(precision) / self.bandwidth


def _builtin_table() -> dict[str, Any]:
    text = resources.files("paramscope.profiler").joinpath("data/hardware.yaml").read_text(encoding="utf-8")
    table: dict[str, Any] = yaml.safe_load(text)
    return table


def builtin_hardware() -> dict[str, Hardware]:
    """The packaged accelerators, by key (the ``cpu`` row is the development container's calibration)."""
    return {key: _parse(key, row, "hardware.yaml") for key, row in _builtin_table().items()}


def calibrated_path() -> Path:
    """Where ``paramscope calibrate`` saves this machine's profile."""
    home = os.environ.get("PARAMSCOPE_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "paramscope"
    return base / "hardware" / "cpu.yaml"


def load_hardware(name: str) -> Hardware:
    """A built-in key (``h100-sxm``), ``cpu`` (calibrated when a profile was saved), or a YAML path.

    Raises:
        ConfigError: unknown name, unreadable file or a malformed profile.
    """
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        return _load_file(Path(name))
    if name == "cpu" and calibrated_path().exists():
        return _load_file(calibrated_path(), key="cpu")
    table = builtin_hardware()
    if name in table:
        return table[name]
    hint = did_you_mean(name, table, known=False, paren=True)
    raise ConfigError(f"unknown hardware {name!r}{hint}; choose one of: {', '.join(table)}, or a YAML file")


def _load_file(path: Path, key: str | None = None) -> Hardware:
    try:
        row = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the hardware profile ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    return _parse(key or path.stem, row, str(path))


def _parse(key: str, row: Any, where: str) -> Hardware:
    if not isinstance(row, Mapping):
        raise ConfigError(f"{where}: {key}: expected a mapping with {', '.join(_FIELDS[:4])}")
    unknown = [k for k in row if k not in _FIELDS]
    if unknown:
        raise ConfigError(f"{where}: {key}.{unknown[0]}: unknown key; expected {', '.join(_FIELDS)}")
    bw = row.get("memory_bandwidth_gbs")
    peaks = row.get("peak_tflops")
    if not isinstance(bw, (int, float)) or isinstance(bw, bool) or bw <= 0:
        raise ConfigError(f"{where}: {key}.memory_bandwidth_gbs: expected a positive number of GB/s, got {bw!r}")
    if not isinstance(peaks, Mapping) or not peaks:
        raise ConfigError(f"{where}: {key}.peak_tflops: expected a mapping such as {{fp32: 20, bf16: 160}}")
    for p, v in peaks.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{where}: {key}.peak_tflops.{p}: expected a positive number of TFLOP/s, got {v!r}")
    mem = row.get("memory_gb")
    overhead = row.get("op_overhead_us", 0.0)
    if not isinstance(overhead, (int, float)) or isinstance(overhead, bool) or overhead < 0:
        raise ConfigError(f"{where}: {key}.op_overhead_us: expected a number of microseconds >= 0, got {overhead!r}")
    pool = row.get("pool_gelems")
    if pool is not None and (not _positive(pool)):
        raise ConfigError(f"{where}: {key}.pool_gelems: expected a positive number, got {pool!r}")
    return Hardware(key=key, name=str(row.get("name", key)), source=str(row.get("source", where)),
                    memory_bandwidth_gbs=float(bw), peak_tflops={str(k): float(v) for k, v in peaks.items()},
                    memory_gb=None if mem is None else float(mem), op_overhead_us=float(overhead),
                    matmul_dim_tflops=_dim_curve(row.get("matmul_dim_tflops", {}), f"{where}: {key}"),
                    pool_gelems=None if pool is None else float(pool))


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _dim_curve(curve: Any, where: str) -> dict[int, float]:
    if not isinstance(curve, Mapping):
        raise ConfigError(f"{where}.matmul_dim_tflops: expected a mapping such as {{1: 0.005, 1024: 0.07}}")
    for r, v in curve.items():
        if not (isinstance(r, int) and not isinstance(r, bool) and r > 0 and _positive(v)):
            raise ConfigError(f"{where}.matmul_dim_tflops.{r}: expected a positive dimension and TFLOP/s, got {v!r}")
    return {int(r): float(v) for r, v in curve.items()}


def hardware_dict(hw: Hardware) -> dict[str, Any]:
    """The profile as plain data (the YAML fields, for JSON output and for saving)."""
    d: dict[str, Any] = {"name": hw.name, "source": hw.source, "memory_bandwidth_gbs": hw.memory_bandwidth_gbs,
                         "peak_tflops": dict(hw.peak_tflops)}
    if hw.memory_gb is not None:
        d["memory_gb"] = hw.memory_gb
    if hw.op_overhead_us:
        d["op_overhead_us"] = hw.op_overhead_us
    if hw.matmul_dim_tflops:
        d["matmul_dim_tflops"] = dict(hw.matmul_dim_tflops)
    if hw.pool_gelems is not None:
        d["pool_gelems"] = hw.pool_gelems
    return d


def save_hardware(hw: Hardware, path: Path) -> None:
    """Write ``hw`` as a profile YAML (atomically: a temporary file renamed over ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(hardware_dict(hw), sort_keys=False), encoding="utf-8")
    tmp.replace(path)
