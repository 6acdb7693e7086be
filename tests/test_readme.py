"""The README's example outputs are real: re-run them and compare."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from paramscope.cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    start = README.index("```text\n", README.index(marker)) + len("```text\n")
    return README[start:README.index("\n```", start)]


def _run(*args: str) -> str:
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "118"})
    assert res.exit_code == 0, res.output
    return res.stdout


def _same(a: str, b: str) -> None:
    strip = lambda s: [line.rstrip() for line in s.strip("\n").splitlines()]  # noqa: E731
    assert strip(a) == strip(b)


def test_demo_output_is_current() -> None:
    _same(_block_after("`make demo` prints"), _run("breakdown", "rg_output_etth1"))


def test_whatif_output_is_current() -> None:
    block = _block_after("A what-if over the GRU router")
    command = block.splitlines()[0]
    assert command == "$ paramscope whatif gru_router_spectra --router-dim 32,64,128"
    _same("\n".join(block.splitlines()[1:]), _run(*command.split()[2:]))


def test_budget_examples_are_quoted_for_the_shell() -> None:
    # unquoted, `-b params<=12M` makes the shell read `<` as a redirection
    assert not re.search(r"-b [^'\s]*[<>]", README)


def test_memory_output_is_current() -> None:
    block = _block_after("Memory for training the GRU router")
    command = block.splitlines()[0]
    assert command == "$ paramscope memory gru_router_spectra --dtype fp32,int8 --train adam"
    _same("\n".join(block.splitlines()[1:]), _run(*command.split()[2:]))


def test_readme_names_the_two_commands() -> None:
    assert re.search(r"^make demo ", README, re.M) and re.search(r"^make test ", README, re.M)


def test_no_yaml_example_is_current(monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # examples/ is relative to the repo
    block = _block_after("## No YAML needed")
    command = block.splitlines()[0]
    assert command == "$ paramscope breakdown hf:examples/gpt2/config.json --depth 1"
    _same("\n".join(block.splitlines()[1:]), _run(*command.split()[2:]))


def test_python_api_example_runs_and_prints_what_the_readme_shows(monkeypatch, capsys) -> None:
    section = README[README.index("## Python API"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("\n```", start)]
    monkeypatch.setenv("COLUMNS", "100")
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own example
    _same(_block_after("## Python API"), capsys.readouterr().out)


def _wide(*args: str) -> str:
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "140"})
    assert res.exit_code == 0, res.output
    return res.stdout


def test_roofline_examples_are_current() -> None:
    for marker in ("$ paramscope breakdown gru_router_spectra --hardware", "$ paramscope whatif selective_lm --hardware"):
        at = README.index(marker)
        block = README[at:README.index("\n```", at)]
        command = block.splitlines()[0]
        _same("\n".join(block.splitlines()[1:]), _wide(*command.split()[2:]))
