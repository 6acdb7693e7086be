#!/usr/bin/env python
"""How paramscope scales with the number of modules, with model size and with sweep size, in one run.

    python benchmarks/run_scale.py [--quick] [--only GROUP ...] [--out benchmarks/results.md]

Every cell is one fresh child process timed by the parent (``run_peers.spawn``: wall from
``perf_counter``, user+system CPU and peak RSS from ``wait4``). Each paramscope cell has a twin
running a bare ``FlopCounterMode`` forward on the same model built the same way (on meta, from
``scale_models.py``), and the ratio of the two is the figure to read: the machine is shared, so
absolute seconds drift while ratios measured in the same run hold. Targets (issue 13) are
printed beside the figures; nothing here asserts.

Groups: ``seq`` (nn.Sequential, 1k -> 48k modules), ``hf`` (a narrow Llama with many layers),
``llama`` (Llama-2-7B and -70B shapes), ``params`` (params-only breakdown vs ``import torch``),
``moe`` (Mixtral-8x7B and DeepSeek-V3 shapes: a bare FlopCounterMode stops on their data-dependent
routing on meta, so they have no twin ratio), ``whatif`` (100 variants with --jobs 1 and 2).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from run_peers import SCALE_MARK as MARK
from run_peers import Child, _versions, paramscope_cmd, spawn, write_atomic

HERE = Path(__file__).resolve().parent
GROUPS = ("params", "seq", "hf", "llama", "moe", "whatif")

BARE = """
import json, sys, torch
sys.path.insert(0, {here!r})
import scale_models
from torch.utils.flop_counter import FlopCounterMode
with torch.device("meta"):
    model, ex = getattr(scale_models, sys.argv[1])(**json.loads(sys.argv[2]))
args, kwargs = ((), ex) if isinstance(ex, dict) else ((ex,), {{}})
with FlopCounterMode(display=False) as mode, torch.no_grad():
    model.eval()(*args, **kwargs)
print(json.dumps({{"macs": mode.get_total_flops() // 2}}))
"""


@dataclass
class Cell:
    group: str
    label: str
    tool: str
    child: Child
    load: float = 0.0
    """1-minute load average when the cell started."""

    @property
    def ok(self) -> bool:
        return self.child.returncode == 0

    @property
    def macs(self) -> int | None:
        if not self.ok:
            return None
        try:
            doc = json.loads(self.child.stdout)
        except ValueError:
            return None
        return doc.get("macs", (doc.get("total") or {}).get("macs"))


class Runner:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir, self.cells = env, workdir, []  # type: list[Cell]

    def run(self, group: str, label: str, tool: str, cmd: list[str]) -> Cell:
        load = os.getloadavg()[0]
        cell = Cell(group, label, tool, spawn(cmd, self.env), load)
        self.cells.append(cell)
        err = "" if cell.ok else f"  FAILED: {(cell.child.stderr.strip().splitlines() or ['?'])[-1][:150]}"
        print(f"{group:<7} {label:<28} {tool:<22} {cell.child.wall_s:7.2f} s wall {cell.child.cpu_s:7.2f} s cpu "
              f"{cell.child.rss_mb:6.0f} MB load {load:5.2f}{err}", file=sys.stderr, flush=True)
        return cell

    def target(self, factory: str, args: dict[str, object]) -> str:
        """A config file for ``paramscope`` building ``scale_models.<factory>(**args)``."""
        path = self.workdir / f"{factory}_{abs(hash(json.dumps(args, sort_keys=True)))}.yaml"
        path.write_text(f'target: "scale_models:{factory}"\nargs: {json.dumps(args)}\n', encoding="utf-8")
        return str(path)

    def pair(self, group: str, label: str, factory: str, args: dict[str, object]) -> None:
        """paramscope and the bare FlopCounterMode script on the same model."""
        self.run(group, label, "paramscope", [*paramscope_cmd(), "breakdown", self.target(factory, args),
                                              "--format", "json"])
        self.run(group, label, "bare FlopCounterMode",
                 [sys.executable, "-c", BARE.format(here=str(HERE)), factory, json.dumps(args)])


def plan(r: Runner, groups: list[str], quick: bool, variants: int = 100) -> None:
    py = sys.executable
    if "params" in groups:
        r.run("params", "-", "import torch", [py, "-c", "import torch"])
        r.run("params", "gru_router_spectra", "paramscope --flops none",
              [*paramscope_cmd(), "breakdown", "gru_router_spectra", "--flops", "none", "--format", "json"])
    if "seq" in groups:
        for blocks in (333, 1333, 4000) if quick else (333, 1333, 4000, 16000):
            r.pair("seq", f"Sequential {3 * blocks + 1:,} modules", "sequential", {"blocks": blocks})
    if "hf" in groups:
        for layers in (16, 64) if quick else (16, 64, 256):
            r.pair("hf", f"Llama d256 x {layers} layers", "llama", {"layers": layers, "hidden": 256, "seq": 32})
    if "llama" in groups:
        r.pair("llama", "Llama-2-7B shape", "llama", {"size": "7b"})
        r.pair("llama", "Llama-2-70B shape", "llama", {"size": "70b"})
    if "moe" in groups:
        r.pair("moe", "Mixtral-8x7B shape", "mixtral", {})
        r.pair("moe", "DeepSeek-V3 shape, 8 of 61 layers", "deepseek_v3", {"layers": 8})  # a point to extrapolate from
        r.pair("moe", "DeepSeek-V3 shape (74,240 expert modules)", "deepseek_v3", {})
    if "whatif" in groups:
        r.run("whatif", "rg_output_etth1", "breakdown (one)", [*paramscope_cmd(), "breakdown", "rg_output_etth1",
                                                              "--format", "json"])
        ranks = ",".join(str(16 * i) for i in range(1, 11))
        hidden = ",".join(str(128 * i) for i in range(1, max(2, variants // 10 + 1)))
        for jobs in (1, 2):
            r.run("whatif", f"rg_output_etth1 {10 * max(1, variants // 10)} variants", f"whatif --jobs {jobs}",
                  [*paramscope_cmd(), "whatif", "rg_output_etth1", "--rank", ranks, "--hidden", hidden,
                   "--format", "json", "--jobs", str(jobs)])


def _find(cells: list[Cell], group: str, label: str, tool: str) -> Cell | None:
    return next((c for c in cells if (c.group, c.label, c.tool) == (group, label, tool)), None)


def _x(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def render(cells: list[Cell], meta: dict[str, str]) -> str:
    lines = [MARK, "", "# Scale (issue 13)", "",
             f"Generated by `python benchmarks/run_scale.py {meta['argv']}` on {meta['when']}; {meta['machine']}; "
             f"one fresh process per cell; load average (1/5/15 min) {meta['load']} at start, {meta['load_end']} at the "
             "end; `load` = the 1-minute load average as each cell started. Other engineers share the cores: CPU "
             "time (user+system of the child, from wait4) is the figure to read, and ratios measured in the same run.",
             "", "| group | model | tool | wall s | CPU s | peak RSS MB | MACs | CPU ÷ twin | load |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for c in cells:
        twin = _find(cells, c.group, c.label, "bare FlopCounterMode") if c.tool == "paramscope" else None
        ratio = _x(c.child.cpu_s, twin.child.cpu_s) if twin and twin.ok and c.ok else ""
        macs = f"{c.macs:,}" if c.macs is not None else ("FAIL" if not c.ok else "")
        lines.append(f"| {c.group} | {c.label} | {c.tool} | {c.child.wall_s:.2f} | {c.child.cpu_s:.2f} "
                     f"| {c.child.rss_mb:.0f} | {macs} | {ratio} | {c.load:.1f} |")
    lines += ["", "Targets:", ""] + [f"* {t}" for t in targets(cells)] + [""]
    fails = [f"* {c.group} / {c.label} / {c.tool}: {(c.child.stderr.strip().splitlines() or ['?'])[-1][:200]}"
             for c in cells if not c.ok]
    return "\n".join(lines + (["Failures:", "", *fails, ""] if fails else []))


def _verdict(text: str, met: bool | None) -> str:
    return f"{text}: **{'met' if met else 'NOT met'}**" if met is not None else f"{text}: not measured"


def targets(cells: list[Cell]) -> list[str]:
    """Each issue-13 target with the figure measured in this run and whether it is met."""
    out = []
    seq = [c for c in cells if c.group == "seq" and c.tool == "paramscope" and c.ok]
    s12 = next((c for c in seq if c.label.startswith("Sequential 12,001")), None)
    bare12 = s12 and _find(cells, "seq", s12.label, "bare FlopCounterMode")
    if s12 and bare12 and bare12.ok:
        r = s12.child.cpu_s / bare12.child.cpu_s
        out.append(_verdict(f"12,001-module Sequential <= 1.3x bare FlopCounterMode (CPU): {r:.2f}x", r <= 1.3))
    for small, big in zip(seq, seq[1:], strict=False):
        r = big.child.cpu_s / small.child.cpu_s
        out.append(_verdict(f"time(4x modules) / time(1x) <= 4.4: {big.label} / {small.label} = {r:.2f}x "
                            "(CPU, whole process)", r <= 4.4))
    torch_only, params = _find(cells, "params", "-", "import torch"), _find(cells, "params", "gru_router_spectra",
                                                                           "paramscope --flops none")
    if torch_only and params:
        r = params.child.cpu_s / torch_only.child.cpu_s
        out.append(_verdict(f"params-only gru_router_spectra <= 1.2x `import torch` (CPU): {r:.2f}x "
                            f"({params.child.cpu_s:.2f} s / {torch_only.child.cpu_s:.2f} s)", params.ok and r <= 1.2))
    for label, limit_s, limit_mb in (("Llama-2-70B shape", 15, 1024), ("DeepSeek-V3 shape", 60, 2048)):
        c = next((c for c in cells if c.label.startswith(label) and "layers" not in c.label  # the whole model
                  and c.tool == "paramscope"), None)
        if c:
            out.append(_verdict(f"{label}: < {limit_s} s and < {limit_mb} MB: {c.child.cpu_s:.1f} s CPU "
                                f"({c.child.wall_s:.1f} s wall), {c.child.rss_mb:.0f} MB" + ("" if c.ok else " (FAILED)"),
                                c.ok and c.child.cpu_s < limit_s and c.child.rss_mb < limit_mb))
    out.extend(_whatif_targets(cells))
    return out


def _whatif_targets(cells: list[Cell]) -> list[str]:
    one = _find(cells, "whatif", "rg_output_etth1", "breakdown (one)")
    j1 = next((c for c in cells if c.group == "whatif" and c.tool == "whatif --jobs 1"), None)
    j2 = next((c for c in cells if c.group == "whatif" and c.tool == "whatif --jobs 2"), None)
    torch_only = _find(cells, "params", "-", "import torch")
    out = []
    if one and j1:
        n = int(j1.label.split()[1])
        r = j1.child.cpu_s / one.child.cpu_s
        out.append(_verdict(f"{n}-variant whatif --jobs 1 <= 12x one breakdown (CPU): {r:.2f}x", j1.ok and r <= 12))
        per = (j1.child.cpu_s - one.child.cpu_s) / (n - 1)
        work = one.child.cpu_s - (torch_only.child.cpu_s if torch_only else 0.0)
        out.append(_verdict(f"per extra variant well under one breakdown: {per:.3f} s CPU per variant beyond the "
                            f"first = {per / one.child.cpu_s:.3f}x one breakdown process"
                            + (f", {per / work:.2f}x its work beyond `import torch` (target: <= 0.5x)" if torch_only else ""),
                            j1.ok and per <= 0.5 * work))
    if j1 and j2:
        r = j1.child.wall_s / j2.child.wall_s
        out.append(_verdict(f"--jobs 2 >= 1.6x faster than --jobs 1 (wall): {r:.2f}x; same output: "
                            f"{j1.child.stdout == j2.child.stdout}", j2.ok and r >= 1.6))
    return out


def _machine() -> str:
    """CPU model, cores and memory, from /proc (Linux)."""
    model, mem_kb = platform.processor() or platform.machine(), 0
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name"))
        mem_kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                          if ln.startswith("MemTotal:")))
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()} CPUs ({model}), {mem_kb / 2**20:.0f} GB RAM, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller curves (no 48k-module or 256-layer cells)")
    ap.add_argument("--variants", type=int, default=100, help="whatif grid size (10 ranks x variants/10 widths)")
    ap.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    ap.add_argument("--out", type=Path, default=HERE / "results.md",
                    help="markdown file; the part after the run_scale marker is replaced, the rest kept")
    ap.add_argument("--threads", default=os.environ.get("OMP_NUM_THREADS", "2"), help="OMP_NUM_THREADS for children")
    args = ap.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(env, Path(tmp))
        plan(runner, args.only, args.quick, args.variants)
    meta = {"argv": " ".join(sys.argv[1:] if argv is None else argv), "when": time.strftime("%Y-%m-%d %H:%M %Z"),
            "machine": f"{_machine()}, Python {platform.python_version()}, {_versions()}", "load": load,
            "load_end": "/".join(f"{x:.2f}" for x in os.getloadavg())}
    text = render(runner.cells, meta)
    print(text)
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    write_atomic(args.out, old.split(MARK)[0].rstrip("\n") + "\n\n" + text)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
