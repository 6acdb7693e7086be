#!/usr/bin/env python
"""paramscope against the `import torch` floor and its peers (FlopCounterMode, fvcore, thop), in one run.

    python benchmarks/run_peers.py [--repeats 3] [--quick] [--models NAME ...] [--tools NAME ...]
                                   [--out benchmarks/results.md]

For every zoo preset and every tool, each run is a fresh child process started by this script:
the parent times it with ``time.perf_counter`` (start of the process to its exit, so interpreter
start, ``import torch``, the tool's import, the model build and the count are all in it) and
reads the child's peak RSS from the kernel (``os.wait4``, the child's own ``ru_maxrss``). The
Python children also print their own ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` as JSON; the
script checks that the two agree. The table gives the median over ``--repeats`` runs.

Tools (see benchmarks/README.md):

* ``import_torch`` bare ``python -c "import torch"``, for reference
* ``floor``       ``import torch`` + one meta op: the unavoidable cost of any meta-device tool
  (both are model-independent: run once per repeat, shown once, and every row's ratio uses them)
* ``paramscope``  ``paramscope breakdown PRESET --format json`` (meta device, default backend)
* ``flopcounter`` ``torch.utils.flop_counter.FlopCounterMode`` on the preset built on meta
* ``fvcore``      ``fvcore.nn.FlopCountAnalysis(...).total()`` on a cpu build
* ``thop``        ``thop.profile`` on a cpu build

Headline numbers are MACs: FlopCounterMode FLOPs / 2; fvcore's "flops" are MACs (one per
fused multiply-add); thop and paramscope report MACs. Peer tools' wrong numbers (fvcore nn.GRU = 0,
thop MultiheadAttention = 0, ...) are reported as they are, not fixed.

No timing is asserted anywhere: the numbers are ratios for a human to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("rg_output_etth1", "gru_router_spectra", "titan_stream", "selective_lm",
          "mask_buffer", "mixtral_small", "mixtral_small_eager", "mixtral_8x7b")
# models whose forward looks at data (issue 8): configs/NAME.yaml, built from configs/datadep_models.py
CONFIGS = HERE / "configs"
# tools that cannot run a model: a cpu build of Mixtral-8x7B needs 187 GB of weights
SKIP = {("mixtral_8x7b", "fvcore"), ("mixtral_8x7b", "thop")}
TOOLS = ("import_torch", "floor", "paramscope", "flopcounter", "fvcore", "thop")
FLOORS = ("import_torch", "floor")  # model-independent: run once per repeat, not once per model
ANY = "(any)"
CHILD_TIMEOUT_S = 480
SCALE_MARK = "<!-- run_scale.py: everything below is generated -->"

# --- child programs (run with `python -c`, argv[1] = preset name) --------------------------------

_EPILOGUE = """
import json as _json, resource as _resource
print("@@RESULT@@" + _json.dumps({"macs": _macs,
      "rss_kb": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss}), flush=True)
"""

# zoo models take keyword inputs; fvcore and thop want a positional tuple
_POSITIONAL = """
import inspect
_bound = inspect.signature(b.model.forward).bind(*b.args, **b.kwargs)
_inputs = tuple(_bound.arguments.values())
"""

CHILD_CODE = {
    "import_torch": """
import torch
_macs = None
""",
    "floor": """
import torch
torch.zeros(2, 3, device="meta").mean()
_macs = None
""",
    "flopcounter": """
import sys, torch
from torch.utils.flop_counter import FlopCounterMode
from paramscope.profiler import load_spec, build
b = build(load_spec(sys.argv[1]), "meta")
mode = FlopCounterMode(display=False)
with torch.no_grad(), mode:
    b.model(*b.args, **b.kwargs)
_macs = mode.get_total_flops() // 2
""",
    "fvcore": """
import sys, logging, torch
logging.disable(logging.WARNING)   # one warning per unsupported op type; not part of the count
from fvcore.nn import FlopCountAnalysis
from paramscope.profiler import load_spec, build
b = build(load_spec(sys.argv[1]), "cpu")
""" + _POSITIONAL + """
with torch.no_grad():
    _macs = int(FlopCountAnalysis(b.model, _inputs).total())
""",
    "thop": """
import sys, io, contextlib, torch
import thop
from paramscope.profiler import load_spec, build
b = build(load_spec(sys.argv[1]), "cpu")
""" + _POSITIONAL + """
with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):   # thop's [WARN]/[INFO] lines
    _m, _p = thop.profile(b.model, inputs=_inputs, verbose=False)
_macs = int(_m)
""",
}


def paramscope_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("paramscope")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("paramscope")
    return [found] if found else [sys.executable, "-m", "paramscope.cli.app"]


def command(tool: str, model: str) -> list[str]:
    if (CONFIGS / f"{model}.yaml").exists():
        model = str(CONFIGS / f"{model}.yaml")
    if tool == "paramscope":
        return [*paramscope_cmd(), "breakdown", model, "--format", "json"]
    return [sys.executable, "-c", CHILD_CODE[tool] + _EPILOGUE, model]


# --- running ------------------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    rss_mb: float
    macs: int | None
    child_rss_mb: float | None
    error: str | None = None


@dataclass
class Cell:
    model: str
    tool: str
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> list[Run]:
        return [r for r in self.runs if r.error is None]

    @property
    def wall(self) -> float | None:
        return statistics.median(r.wall_s for r in self.ok) if self.ok else None

    @property
    def rss(self) -> float | None:
        return statistics.median(r.rss_mb for r in self.ok) if self.ok else None

    @property
    def macs(self) -> int | None:
        values = {r.macs for r in self.ok}
        return values.pop() if len(values) == 1 else None

    @property
    def error(self) -> str | None:
        errs = [r.error for r in self.runs if r.error]
        return errs[0] if errs else None


@dataclass
class Child:
    """One finished child process, as the parent saw it."""

    wall_s: float
    cpu_s: float
    """user + system CPU time of the child (``wait4``'s rusage)."""
    rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def spawn(cmd: list[str], env: dict[str, str], timeout_s: float = CHILD_TIMEOUT_S) -> Child:
    """Run ``cmd``; wall from the parent's perf_counter, CPU and peak RSS from the kernel (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        deadline = t0 + timeout_s
        while True:  # os.wait4 has no timeout: poll with WNOHANG
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by us; keep Popen quiet
        out.seek(0)
        err.seek(0)
        return Child(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,  # Linux: KiB
                     proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def run_once(tool: str, model: str, env: dict[str, str]) -> Run:
    """One fresh child of ``tool`` on ``model``."""
    child = spawn(command(tool, model), env)
    wall, rss_mb, stdout, stderr = child.wall_s, child.rss_mb, child.stdout, child.stderr
    if child.returncode != 0:
        tail = (stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return Run(wall, rss_mb, None, None, f"exit {child.returncode}: {tail[:160]}")
    try:
        if tool == "paramscope":
            return Run(wall, rss_mb, int(json.loads(stdout)["total"]["macs"]), None)
        line = next(ln for ln in stdout.splitlines() if ln.startswith("@@RESULT@@"))
        data = json.loads(line[len("@@RESULT@@"):])
        return Run(wall, rss_mb, data["macs"], data["rss_kb"] / 1024)
    except (StopIteration, ValueError, KeyError, TypeError) as e:
        return Run(wall, rss_mb, None, None, f"unreadable output ({type(e).__name__}: {e})")


# --- report -------------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "—"


def _match(macs: int | None, ref: int | None, tool: str) -> str:
    if tool in ("import_torch", "floor", "paramscope"):
        return "—"
    if macs is None or ref is None:
        return "n/a"
    if macs == ref:
        return "yes (exact)"
    r = macs / ref if ref else float("inf")
    if abs(r - 1) <= 0.01:
        return f"~ ({r:.4f})"
    return f"**NO** ({r:.4f})"


def render(cells: dict[tuple[str, str], Cell], models: list[str], tools: list[str], meta: dict) -> str:
    floor = cells.get((ANY, "floor"))
    lines = [
        "# paramscope vs the floor and its peers",
        "",
        f"Generated by `python benchmarks/run_peers.py {meta['argv']}` on {meta['when']}.",
        f"{meta['machine']}; median of {meta['repeats']} fresh process(es) per cell; "
        f"`OMP_NUM_THREADS={meta['threads']}`; total run time {meta['elapsed']:.0f} s; "
        f"load average at start {meta['load']}.",
        "",
        "Wall = the whole process (interpreter, `import torch`, tool import, build, count), timed by",
        "the parent. Peak RSS = the child's `ru_maxrss`. `floor` = `import torch` + one meta op",
        "(the meta tax: the first Python-written meta kernel imports `torch._dynamo`);",
        "`import_torch` = bare `python -c \"import torch\"`, for reference. Ratios are against `floor`.",
        "paramscope, flopcounter: meta build. fvcore, thop: cpu build (real weights and init).",
        "Headline = MACs (FlopCounterMode FLOPs ÷ 2; fvcore's \"flops\" are MACs).",
        "",
        "| model | tool | median wall s | ÷ floor | ÷ paramscope | peak RSS MB | ÷ floor | ÷ paramscope "
        "| headline MACs | matches paramscope? |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    rows = [(ANY, t) for t in tools if t in FLOORS] + [(m, t) for m in models for t in tools
                                                       if t not in FLOORS and (m, t) not in SKIP]
    for m, t in rows:
        ps = cells.get((m, "paramscope"))
        c = cells[(m, t)]
        macs = c.macs
        shown = f"{macs:,}" if macs is not None else ("—" if t in ("import_torch", "floor") and c.ok else "FAIL")
        wall = f"{c.wall:.2f}" if c.wall is not None else "FAIL"
        rss = f"{c.rss:.0f}" if c.rss is not None else "FAIL"
        lines.append(
            f"| {m} | {t} | {wall} | {_ratio(c.wall, floor and floor.wall)} "
            f"| {_ratio(c.wall, ps and ps.wall)} | {rss} | {_ratio(c.rss, floor and floor.rss)} "
            f"| {_ratio(c.rss, ps and ps.rss)} | {shown} "
            f"| {_match(macs, ps and ps.macs, t)} |"
        )
        if c.error:
            notes.append(f"* {m} / {t}: {len(c.runs) - len(c.ok)} of {len(c.runs)} runs failed: {c.error}")
        if c.ok and len({r.macs for r in c.ok}) > 1:
            notes.append(f"* {m} / {t}: MACs differ between runs: {sorted({r.macs for r in c.ok})}")
        if c.ok and len(c.ok) > 1:
            walls = [r.wall_s for r in c.ok]
            if max(walls) - min(walls) > 0.5:
                notes.append(f"* {m} / {t}: wall spread {min(walls):.2f}–{max(walls):.2f} s")
    lines.append("")
    # how far the parent's wait4 RSS and the child's own RUSAGE_SELF figure are apart
    diffs = [abs(r.rss_mb - r.child_rss_mb) for c in cells.values() for r in c.ok if r.child_rss_mb is not None]
    if diffs:
        lines.append(f"Peak RSS cross-check: wait4 vs the child's own `getrusage(RUSAGE_SELF)`, "
                     f"largest difference {max(diffs):.1f} MB over {len(diffs)} runs.")
        lines.append("")
    if notes:
        lines += ["Notes:", "", *notes, ""]
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per (model, tool); median reported")
    ap.add_argument("--quick", action="store_true", help="one repeat (same as --repeats 1)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), metavar="PRESET")
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS, metavar="TOOL")
    ap.add_argument("--out", type=Path, default=HERE / "results.md", help="markdown output (atomic write)")
    ap.add_argument("--threads", default=os.environ.get("OMP_NUM_THREADS", "2"), help="OMP_NUM_THREADS for children")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    if repeats < 1:
        ap.error("--repeats must be >= 1")
    tools = [t for t in TOOLS if t in args.tools]  # floor and paramscope first: the ratios need them

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONWARNINGS="ignore")
    plan = [(ANY, t) for t in tools if t in FLOORS] + [
        (m, t) for m in args.models for t in tools if t not in FLOORS and (m, t) not in SKIP]
    cells: dict[tuple[str, str], Cell] = {(m, t): Cell(m, t) for m, t in plan}
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    start = time.perf_counter()
    # repeat-major order: a slow drift of the machine spreads over all tools instead of one
    for rep in range(repeats):
        for m, t in plan:
            r = run_once(t, "" if m == ANY else m, env)
            cells[(m, t)].runs.append(r)
            status = f"{r.macs:,} MACs" if r.macs is not None else (r.error or "ok")
            print(f"[{rep + 1}/{repeats}] {m:<20} {t:<12} {r.wall_s:6.2f} s {r.rss_mb:7.0f} MB  {status}",
                  file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start

    shown_argv = " ".join(sys.argv[1:] if argv is None else argv)
    meta = {
        "argv": shown_argv,
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"{_versions()}",
        "repeats": repeats,
        "threads": args.threads,
        "elapsed": elapsed,
        "load": load,
    }
    text = render(cells, args.models, tools, meta)
    print(text)
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    scale = old[old.index(SCALE_MARK):] if SCALE_MARK in old else ""  # run_scale.py's part stays
    write_atomic(args.out, text + ("\n" + scale if scale else ""))
    print(f"written to {args.out}", file=sys.stderr)
    return 0


def _versions() -> str:
    from importlib import metadata

    parts = []
    for dist in ("torch", "paramscope", "fvcore", "thop"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
