"""Hostile and careless input: every case of the corpus is one error line, exit 2, nothing changed.

The corpus (tests/cli/hostile_cases.py) runs in-process through CliRunner; what needs a real
process (a closed or full stdout, a reader that leaves, Ctrl-C) runs as a subprocess below.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch  # noqa: F401 - imported before any --timeout case: an alarm inside torch's first import breaks the process
from hostile_cases import CASES, MODEL, Case
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.profiler.yamlsafe import MAX_CONFIG_BYTES

runner = CliRunner()


def _materialise(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        if content == "FIFO":
            os.mkfifo(path)
        elif content == "BIG":
            path.write_text("model: rg_output\n" + "#" * MAX_CONFIG_BYTES, encoding="utf-8")
        elif isinstance(content, str) and content.startswith("SYMLINK:"):
            path.symlink_to(folder / content.removeprefix("SYMLINK:"))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes | None]]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        st = path.lstat()
        regular = path.is_file() and not path.is_symlink()
        out[str(path.relative_to(folder))] = (st.st_mode, st.st_mtime_ns, path.read_bytes() if regular else None)
    return out


def assert_one_error_line(stderr: str, needle: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_one_line_and_changes_nothing(case: Case, tmp_path: Path, capped_address_space: None) -> None:
    _materialise(tmp_path, case.files)
    before = _snapshot(tmp_path)
    argv = [a.replace("{d}", str(tmp_path)) for a in case.argv]
    res = runner.invoke(app, argv, env=case.env)
    assert res.exit_code == case.code, (res.exit_code, res.output)
    assert_one_error_line(res.stderr, case.needle)
    assert res.stdout == ""
    assert _snapshot(tmp_path) == before


def test_the_corpus_has_at_least_100_cases() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "model:key_error"\ninputs: {x: [2, 4]}\n', encoding="utf-8")
    res = runner.invoke(app, ["breakdown", str(tmp_path / "c.yaml"), "--debug"])
    assert res.exit_code == 2
    assert "Traceback" in res.stderr and res.stderr.rstrip().splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("columns", ["abc", "0", "-5", "7", "99999999999999999999", "80x"])
def test_a_bad_columns_value_is_one_error_line(columns: str) -> None:
    res = runner.invoke(app, ["breakdown", "rg_output_etth1", "--flops", "none", "--depth", "1"], env={"COLUMNS": columns})
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr == f"error: COLUMNS={columns[:20]}: not a terminal width (a whole number from 20 to 100000); " \
                         "unset it to let paramscope ask the terminal\n"


def test_an_empty_columns_is_unset() -> None:
    res = runner.invoke(app, ["breakdown", "rg_output_etth1", "--flops", "none", "--depth", "1"], env={"COLUMNS": ""})
    assert res.exit_code == 0 and "10,371,074" in res.stdout


def test_user_print_goes_to_stderr_and_json_stays_clean(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import torch\nprint('at import')\n"
        "class M(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.l = torch.nn.Linear(4, 4)\n"
        "    def forward(self, x):\n        print('in forward')\n        return self.l(x)\n"
        "def make():\n    print('in factory')\n    return M()\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "m:make"\ninputs: {x: [2, 4]}\n', encoding="utf-8")
    res = runner.invoke(app, ["breakdown", str(tmp_path / "c.yaml"), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["total"]["params"] == 20  # 4*4 + 4
    for text in ("at import", "in factory", "in forward"):
        assert text in res.stderr


def test_two_configs_importing_same_named_modules_stay_apart(tmp_path: Path) -> None:
    for folder, width in (("dA", 8), ("dB", 1000)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "net.py").write_text(f"import torch\ndef make():\n    return torch.nn.Linear(8, {width})\n")
        (tmp_path / folder / "c.yaml").write_text('target: "net:make"\ninputs: {x: [1, 8]}\n')
    path_before, modules_before = list(sys.path), set(sys.modules)
    res = runner.invoke(app, ["diff", str(tmp_path / "dA/c.yaml"), str(tmp_path / "dB/c.yaml"), "--format", "json",
                              "--flops", "none"])
    assert res.exit_code == 1, res.output  # diff(1): the two models differ
    doc = json.loads(res.stdout)
    assert doc["base"]["params"] == 8 * 8 + 8 and doc["other"]["params"] == 8 * 1000 + 1000
    assert sys.path == path_before and "net" not in set(sys.modules) - modules_before


def test_a_variant_raising_anything_is_a_failed_row(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import torch\ndef make(d=4):\n    if d == 5:\n        return {}['boom']\n"
        "    if d == 6:\n        raise ZeroDivisionError('six')\n    return torch.nn.Linear(d, d)\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "m:make"\nargs: {d: 4}\ninputs: {x: [1, 4]}\n', encoding="utf-8")
    res = runner.invoke(app, ["whatif", str(tmp_path / "c.yaml"), "--set", "d=4,5,6", "--format", "json", "--flops", "none"])
    assert res.exit_code == 0, res.output
    rows = {v["knobs"]["d"]: v for v in json.loads(res.stdout)["variants"]}
    assert rows[4]["status"] == "ok" and rows[4]["params"] == 20
    assert rows[5]["status"] == "failed" and "KeyError" in rows[5]["reason"]
    assert rows[6]["status"] == "failed" and "ZeroDivisionError" in rows[6]["reason"]


def test_progress_lines_when_stderr_is_not_a_terminal() -> None:
    res = runner.invoke(app, ["whatif", "selective_lm", "--set", "d_model=" + ",".join(str(8 * i) for i in range(1, 11)),
                              "--flops", "none", "--format", "json"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("what if:")]
    assert [line.split()[2] for line in lines] == [f"{p}%" for p in range(10, 101, 10)]


def test_output_keeps_permissions_and_follows_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    res = runner.invoke(app, ["breakdown", "rg_output_etth1", "--flops", "none", "--format", "csv", "--output", str(link)])
    assert res.exit_code == 0, res.output
    assert link.is_symlink() and "enc_embedding" in target.read_text()
    assert (target.stat().st_mode & 0o777) == 0o640
    fresh = tmp_path / "new.csv"
    old = os.umask(0o022)
    try:
        res = runner.invoke(app, ["breakdown", "rg_output_etth1", "--flops", "none", "--format", "csv", "--output", str(fresh)])
    finally:
        os.umask(old)
    assert res.exit_code == 0 and (fresh.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "new.csv", "real.txt"]  # no temp file left


def test_ctrl_c_while_writing_removes_the_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paramscope.cli import common

    real_replace = os.replace

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(common.os, "replace", interrupted)
    res = runner.invoke(app, ["breakdown", "rg_output_etth1", "--flops", "none", "--output", str(tmp_path / "o.txt")])
    monkeypatch.setattr(common.os, "replace", real_replace)
    assert res.exit_code == 130
    assert_one_error_line(res.stderr, "interrupted")
    assert list(tmp_path.iterdir()) == []


# ---- what needs a real process ----------------------------------------------------------------

def _cli(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paramscope.cli.app", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def test_closed_stdout_is_one_line() -> None:
    res = subprocess.run(f"'{sys.executable}' -m paramscope.cli.app breakdown rg_output_etth1 --flops none >&-",
                         shell=True, capture_output=False, stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 2
    assert_one_error_line(res.stderr, "stdout is closed")


def test_full_stdout_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "paramscope.cli.app", "breakdown", "rg_output_etth1", "--flops", "none"],
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 2
    assert_one_error_line(res.stderr, "No space left on device")


@pytest.mark.parametrize(("budget", "code"), [("params<=20M", 0), ("params<=2M", 1)])
def test_a_reader_that_leaves_does_not_change_checks_verdict(budget: str, code: int) -> None:
    res = subprocess.run(f"'{sys.executable}' -m paramscope.cli.app check rg_output_etth1 -b '{budget}' | true; "
                         "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == code, res.stderr
    assert res.stderr == ""


def test_ctrl_c_is_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "in-factory"
    (tmp_path / "slow.py").write_text(f"import pathlib, time\ndef make():\n    pathlib.Path({str(marker)!r}).touch()\n"
                                      "    time.sleep(600)\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "slow:make"\ninputs: {x: [2, 4]}\n', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "paramscope.cli.app", "breakdown", str(tmp_path / "c.yaml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert_one_error_line(err, "interrupted")


def test_a_library_installed_inside_the_config_folder_stays_imported(tmp_path: Path, monkeypatch: Any) -> None:
    """A virtualenv in the current folder (``cd project; .venv/bin/paramscope memory hf:...``): what the
    build imports from its site-packages (transformers loads torch._dynamo lazily) is a library, not
    the folder's own module; dropping it made the next forward import it twice and fail."""
    build_mod = importlib.import_module("paramscope.profiler.build")  # the package exports a function "build"

    site = tmp_path / "venv" / "site-packages"
    site.mkdir(parents=True)
    (site / "vendored_lib.py").write_text("WIDTH = 6\n")
    (tmp_path / "own_mod.py").write_text("import vendored_lib\nimport torch\n"
                                         "def make():\n    return torch.nn.Linear(2, vendored_lib.WIDTH)\n")
    (tmp_path / "c.yaml").write_text('target: "own_mod:make"\ninputs: {x: [1, 2]}\n')
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(build_mod, "_installed_roots", lambda: [site.resolve()])
    modules_before = set(sys.modules)
    try:
        res = runner.invoke(app, ["breakdown", str(tmp_path / "c.yaml"), "--format", "json", "--flops", "none"])
        assert res.exit_code == 0, res.output
        added = set(sys.modules) - modules_before
        assert "vendored_lib" in added and "own_mod" not in added
    finally:
        sys.modules.pop("vendored_lib", None)


def test_a_build_making_too_many_modules_stops_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capped_address_space: None) -> None:
    """A factory looping a billion times under no recognisable count: the module ceiling (1,000,000,
    lowered here so the test takes a second) stops it, and torch's Module.__init__ is put back."""

    from paramscope.profiler import limits

    monkeypatch.setattr(limits, "MAX_MODULES", 500)
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "model:endless_modules"\ninputs: {x: [1, 4]}\n', encoding="utf-8")
    init = torch.nn.Module.__init__
    res = runner.invoke(app, ["breakdown", str(tmp_path / "c.yaml"), "--flops", "none"])
    assert res.exit_code == 2 and res.stdout == ""
    assert_one_error_line(res.stderr, "c.yaml: the build made more than 500 modules, more than paramscope builds")
    assert torch.nn.Module.__init__ is init


def test_float_token_ids_do_not_suggest_cpu(tmp_path: Path) -> None:
    """On meta the embedding's dtype error is not a meta limitation: the advice is the input's dtype."""
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "model:token_model"\ninputs: {ids: [1, 8]}\n', encoding="utf-8")
    res = runner.invoke(app, ["breakdown", str(tmp_path / "c.yaml")])
    assert res.exit_code == 2 and "--device cpu" not in res.stderr
    fixed = runner.invoke(app, ["breakdown", str(tmp_path / "c.yaml"), "--input", "ids=1x8:int64", "--format", "json"])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["total"]["params"] == 50 * 4 + 4 * 4 + 4  # Embedding(50, 4) + Linear(4, 4)


_SLOW_FIVE = "import time\nimport torch\ndef make(d=4):\n    if d == 5:\n        time.sleep(600)\n    return torch.nn.Linear(d, d)\n"


def test_whatif_timeout_bounds_each_variant(tmp_path: Path) -> None:
    """--timeout in whatif is per configuration: the hanging variant is a failed row, the rest are measured."""
    (tmp_path / "m.py").write_text(_SLOW_FIVE, encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "m:make"\nargs: {d: 4}\ninputs: {x: [1, 4]}\n', encoding="utf-8")
    res = runner.invoke(app, ["whatif", str(tmp_path / "c.yaml"), "--set", "d=4,5,6", "--flops", "none",
                              "--timeout", "5", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {v["knobs"]["d"]: v for v in json.loads(res.stdout)["variants"]}
    assert rows[5]["status"] == "failed" and rows[5]["reason"] == "timed out after 5 s"
    assert rows[6]["status"] == "ok" and rows[6]["params"] == 6 * 6 + 6


def test_whatif_base_design_timing_out_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(_SLOW_FIVE, encoding="utf-8")
    (tmp_path / "c.yaml").write_text('target: "m:make"\nargs: {d: 5}\ninputs: {x: [1, 5]}\n', encoding="utf-8")
    res = runner.invoke(app, ["whatif", str(tmp_path / "c.yaml"), "--set", "d=4,5", "--flops", "none", "--timeout", "1"])
    assert res.exit_code == 2 and res.stdout == ""
    assert_one_error_line(res.stderr, "c.yaml: the base design timed out after 1 s (--timeout)")
