"""paramscope on transformers models nobody here wrote: ~40 architectures from small configs (hf_corpus.py).

Every model goes in as a user would give it, a ``config.json`` through ``hf:`` with ``--input``, and
each figure is checked against an independent count of the same class on cpu:

- params: ``sum(p.numel())`` over unique parameters (a tied weight once), and every row adds up:
  its direct parameters (those ``named_parameters()`` first names there) plus its children's rows;
- MACs: a bare ``FlopCounterMode`` forward on cpu with eager attention (and the eager experts
  loop for mixture-of-experts models, whose total does not depend on the routing); meta must
  give the same figure, nothing may be uncounted, and every row's MACs include its children's;
- the CLI's breakdown, memory (inference) and a 2-value what-if on a config knob run (one model
  of each kind here, every model in the ``wide`` part).

The default part counts 31 of the 40 ``CASES`` and runs the CLI on 5 (about 45 s on 2 cores); the
rest of ``CASES`` (``SLOW``: layer types another case covers), ``WIDER`` (another 44: more decoders,
MoE, state-space, vision, audio) and the CLI on every model are marked ``wide``: ``make test-wide``
(``make test`` leaves them out to stay near 10 minutes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hf_corpus import CASES, SLOW, WIDER, Case, reference_macs, unique_params, write_config
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.profiler import Profile, build, load_spec, measure

pytest.importorskip("transformers")

runner = CliRunner()
SURFACES = ("mixtral", "t5", "swin", "wav2vec2", "mamba")
"""One model of each kind whose CLI surfaces run in the default part."""


def _params(cases: tuple[Case, ...], slow: bool = False) -> list[Any]:
    return [pytest.param(c, id=c.name, marks=[pytest.mark.wide] if slow or c.name in SLOW else []) for c in cases]


def _sets(case: Case) -> list[tuple[str, Any]]:
    return [(f"inputs.{name}", desc) for name, desc in case.inputs.items()]


def _cli_inputs(case: Case) -> list[str]:
    out = []
    for name, desc in case.inputs.items():
        dtype = ":int64" if desc.get("dtype") == "int64" else ""
        out += ["--input", f"{name}={'x'.join(map(str, desc['shape']))}{dtype}"]
    return out


def _check_rows_add_up(prof: Profile, model: Any) -> None:
    """Every row's params: its direct parameters (first named there) plus its children's rows."""
    first_owner: dict[str, int] = {}
    for name, p in model.named_parameters():  # unique tensors, at their first name
        owner = name.rpartition(".")[0]
        first_owner[owner] = first_owner.get(owner, 0) + p.numel()
    rows = {m.path: m for m in prof.modules if not m.is_param}
    children: dict[str, list[str]] = {}
    for path, mod in model.named_modules():
        children[path] = [f"{path}.{n}" if path else n for n, _ in mod.named_children()]
    for path, kids in children.items():
        row_params = prof.total.params if path == "" else rows[path].params
        assert row_params == first_owner.get(path, 0) + sum(rows[k].params for k in kids), path
        row_macs = prof.total.macs if path == "" else rows[path].macs
        kid_macs = sum(rows[k].macs or 0 for k in kids)
        assert (row_macs or 0) >= kid_macs, path


def _check_counts(case: Case, tmp_path: Path) -> None:
    path = write_config(case, tmp_path)
    spec = load_spec(f"hf:{path}", _sets(case))
    prof = measure(spec, flops="torch")  # on meta, the default
    eager = [("attn_implementation", "eager"), *([("experts_implementation", "eager")] if case.moe else [])]
    cpu = build(load_spec(f"hf:{path}", [*_sets(case), *eager]), "cpu", seed=0)
    assert prof.model_class == case.model
    assert prof.total.params == unique_params(cpu.model)
    assert prof.uncounted == ()
    assert prof.total.macs == reference_macs(cpu.model, cpu.kwargs)
    _check_rows_add_up(prof, cpu.model)


@pytest.mark.parametrize("case", _params(CASES))
def test_params_and_macs_match_an_independent_count(case: Case, tmp_path: Path) -> None:
    _check_counts(case, tmp_path)


@pytest.mark.parametrize("case", _params(WIDER, slow=True))
def test_wider_corpus_matches_an_independent_count(case: Case, tmp_path: Path) -> None:
    _check_counts(case, tmp_path)


def _check_surfaces(case: Case, tmp_path: Path) -> None:
    config = f"hf:{write_config(case, tmp_path)}"
    inputs = _cli_inputs(case)
    res = runner.invoke(app, ["breakdown", config, *inputs, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["inputs"] == {n: d["shape"] for n, d in case.inputs.items()}
    res = runner.invoke(app, ["memory", config, *inputs, "--dtype", "fp32", "--format", "json"])
    assert res.exit_code == 0, res.output
    (plan,) = json.loads(res.stdout)["plans"]
    assert plan["live_at_peak"]["weights_bytes"] >= 4 * doc["total"]["params"]  # fp32 weights are live throughout
    knob, low, high = case.knob
    res = runner.invoke(app, ["whatif", config, *inputs, "--set", f"{knob}={low},{high}", "--format", "json"])
    assert res.exit_code == 0, res.output
    variants = json.loads(res.stdout)["variants"]
    assert [v["status"] for v in variants] == ["ok", "ok"], variants
    assert variants[0]["params"] < variants[1]["params"] or variants[0]["macs"] < variants[1]["macs"]


@pytest.mark.parametrize("case", _params(tuple(c for c in CASES if c.name in SURFACES)))
def test_cli_breakdown_memory_and_whatif_run(case: Case, tmp_path: Path) -> None:
    _check_surfaces(case, tmp_path)


@pytest.mark.parametrize("case", _params(tuple(c for c in CASES + WIDER if c.name not in SURFACES), slow=True))
def test_cli_surfaces_on_every_model(case: Case, tmp_path: Path) -> None:
    _check_surfaces(case, tmp_path)
