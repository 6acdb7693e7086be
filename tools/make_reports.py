"""``make reports``: write reports/*.md, each seed note's figures beside paramscope's measurements.

Usage: ``python tools/make_reports.py [OUTDIR]`` (default ``reports``). The figures each report
compares with come from the ``note:`` block of the zoo preset (model_zoo/configs/*.yaml), where the
tests read them too. The text is deterministic (no timestamps, paths or timings), so
tests/test_reports.py regenerates it and fails when a committed report is stale. This is a tool of
the repository, not part of the paramscope library.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its siblings are importable

from note_reports import REPORTS  # noqa: E402
from report_kit import HEADER, Measurements, ReportError  # noqa: E402

from paramscope.profiler.errors import ParamscopeError  # noqa: E402

__all__ = ["HEADER", "build_reports", "write_reports", "main"]


def build_reports() -> dict[str, str]:
    """Measure and render every report (each distinct config measured once per call).

    Returns:
        File name (``rg_output.md``, ...) -> markdown text, deterministic for a given paramscope.
    """
    measurements = Measurements()
    return {name: make(measurements).rstrip("\n") + "\n" for name, make in REPORTS.items()}


def write_reports(outdir: Path, reports: dict[str, str]) -> list[Path]:
    """Write each report atomically (a temporary file in ``outdir``, then ``os.replace``)."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in reports.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=outdir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            os.replace(tmp, outdir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(outdir / name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reports into OUTDIR; exit 2 with one ``error:`` line when that fails."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        sys.stderr.write("usage: python tools/make_reports.py [OUTDIR]\n")
        return 2
    outdir = Path(args[0] if args else "reports")
    try:
        reports = build_reports()  # everything is measured before anything is written
        for path in write_reports(outdir, reports):
            sys.stderr.write(f"wrote {path}\n")
    except (ParamscopeError, ReportError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
