"""Per-step autograd graph growth (``profiler/steps.py``) and ``paramscope steps``."""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.cli.parse import parse_carry
from paramscope.profiler.errors import ConfigError
from paramscope.profiler.render.steps import steps_to_dict, verdict_line
from paramscope.profiler.steps import Verdict, count_graph_nodes, trace_steps

runner = CliRunner()


class Stateful(nn.Module):
    """h = lin(x) (+ state); returns (h.sum(), {"state": tanh(h)}): the state depends on the weights.

    Graph of step 1: SumBackward0, TanhBackward0, AddmmBackward0, TBackward0 and the two
    AccumulateGrad of weight and bias = 6 nodes. A later step adds AddBackward0 (h + state) = 7.
    Carried as is, the state keeps the previous step's Tanh, Add(mm) and T nodes reachable: +4 a step.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        h = self.lin(x)  # (2, 3)
        if state is not None:
            h = h + state
        return h.sum(), {"state": torch.tanh(h)}


class Out(NamedTuple):
    y: torch.Tensor
    state: torch.Tensor


class NamedOut(Stateful):
    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> Out:  # type: ignore[override]
        y, stats = super().forward(x, state)
        return Out(y, stats["state"])


def make(cls: type[nn.Module] = Stateful, device: str = "meta") -> tuple[nn.Module, torch.Tensor]:
    with torch.device(device):
        return cls().eval(), torch.randn(2, 3)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_undetached_state_grows_the_graph_linearly(device: str) -> None:
    model, x = make(device=device)
    r = trace_steps(model, (x,), {}, {"1.state": "state"}, 5)
    assert [row.graph_nodes for row in r.rows] == [6, 10, 14, 18, 22]  # 6 + 4 * (step - 1)
    assert [row.growth_nodes for row in r.rows] == [None, 4, 4, 4, 4]
    # saved: x (2*3*4 = 24 bytes, the same storage every step) + one tanh output per step kept (24 each)
    assert [row.saved_bytes for row in r.rows] == [48, 72, 96, 120, 144]
    assert r.verdict is Verdict.GROWS and r.grows and r.carry[0].carries_graph
    assert verdict_line(r) == ("graph grows by 4 nodes per step: a carried tensor is not detached "
                               "(carry: 1.state -> state); feed back .detach()-ed values (see --detach)")
    assert not model.training  # the mode is restored


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_detached_state_keeps_the_graph_constant(device: str) -> None:
    model, x = make(device=device)
    r = trace_steps(model, (x,), {}, {"1.state": "state"}, 5, detach=True)
    assert [row.graph_nodes for row in r.rows] == [6, 7, 7, 7, 7]  # step 2 on: + AddBackward0
    assert [row.saved_bytes for row in r.rows] == [48] * 5  # previous graphs are freed
    assert r.steady_growth == (0, 0, 0) and r.verdict is Verdict.CONSTANT and not r.grows
    assert verdict_line(r) == "constant per step: 7 graph nodes (carried tensors detached)"
    assert steps_to_dict(r)["steps"][1] == {"step": 2, "graph_nodes": 7, "growth_nodes": 1, "saved_bytes": 48}


def test_paths_by_index_field_and_output_name() -> None:
    model, x = make(NamedOut)
    assert trace_steps(model, (x,), {}, {"state": "state"}, 3).rows[-1].graph_nodes == 14  # namedtuple field
    assert trace_steps(model, (x,), {}, {"-1": "state"}, 3).rows[-1].graph_nodes == 14
    model, x = make()
    named = trace_steps(model, (x,), {}, {"stats.state": "state"}, 3, output_names=("y", "stats"))
    assert named.rows[-1].graph_nodes == 14 and named.carry[0].output == "stats.state"


@pytest.mark.parametrize(("carry", "match"), [
    ({"1.stat": "state"}, r"^carry 1.stat=state: output 1 has no 'stat': it is a dict with keys: state"),
    ({"stats.state": "state"}, r"the output has no 'stats': it is a tuple of 2 \(items 0..1\)"),
    ({"1.state": "hidden"}, r"forward\(\) has no keyword 'hidden' \(it takes: x, state\)"),
])
def test_bad_carry_paths_say_what_is_there(carry: dict[str, str], match: str) -> None:
    model, x = make()
    with pytest.raises(ConfigError, match=match):
        trace_steps(model, (x,), {}, carry, 3)


def test_too_few_steps_and_parse_carry() -> None:
    model, x = make()
    with pytest.raises(ConfigError, match="use at least 3"):
        trace_steps(model, (x,), {}, {"1.state": "state"}, 2)
    assert parse_carry(["a.b=m, c=n", "1.x=o"]) == {"a.b": "m", "c": "n", "1.x": "o"}
    for bad in ("a.b", "=m", "a..b=m", "a=m,b=m"):
        with pytest.raises(ConfigError, match="--carry"):
            parse_carry([bad])


def test_count_graph_nodes_dedupes_shared_nodes() -> None:
    w = torch.ones(2, requires_grad=True)
    y = w * 2
    assert count_graph_nodes((y, y + 1, {"z": y.sum()})) == 4  # Mul, Add, Sum, AccumulateGrad(w)
    assert count_graph_nodes(torch.ones(2)) == 0


# --- CLI on the zoo's Titan-Stream ----------------------------------------------------------------


def test_titan_stream_graph_grows_unless_detached() -> None:
    res = runner.invoke(app, ["steps", "titan_stream", "--steps", "4", "--detach", "--format", "json"])
    assert res.exit_code == 0, res.output
    raw, fixed = json.loads(res.stdout)["runs"]
    assert raw["verdict"] == "grows" and fixed["verdict"] == "constant"
    # each step keeps the memory update of the previous one reachable (same growth every step)
    assert len(set(raw["steady_growth_nodes"])) == 1 and raw["steady_growth_nodes"][0] > 0
    assert [c["output"] for c in raw["carry"]] == ["stats.updated_memory", "stats.updated_momentum"]
    assert raw["verdict_line"].startswith(f"graph grows by {raw['steady_growth_nodes'][0]} nodes per step: "
                                          "a carried tensor is not detached (carry: stats.updated_memory -> memory")
    assert fixed["steady_growth_nodes"] == [0, 0]
    assert raw["steps"][-1]["saved_bytes"] > fixed["steps"][-1]["saved_bytes"]


def test_titan_strict_exits_1_and_table_says_it() -> None:
    res = runner.invoke(app, ["steps", "titan_stream", "--steps", "3", "--strict"])
    assert res.exit_code == 1
    assert "graph grows by" in res.stdout and "stats.updated_memory -> memory" in res.stdout
    momentum_only = runner.invoke(app, ["steps", "titan_stream", "--steps", "3", "--strict",
                                        "--carry", "stats.updated_momentum=momentum"])
    assert momentum_only.exit_code == 1  # the momentum alone also carries the graph (it depends on k, v, coef_proj)


@pytest.mark.parametrize(("args", "line"), [
    (["titan_stream", "--carry", "1.updated_memroy=memory"],
     "error: --carry 1.updated_memroy=memory: output 1 has no 'updated_memroy': it is a dict with keys: updated_memory, updated_momentum"),
    (["titan_stream", "--carry", "2.updated_memory=memory"],
     "error: --carry 2.updated_memory=memory: the output has no '2': it is a tuple of 2 (items 0..1); the items are named forecast, stats"),
    (["titan_stream", "--carry", "stats.updated_memory"],
     "error: --carry stats.updated_memory: expected OUTPUT_PATH=KEYWORD, e.g. --carry 1.updated_memory=memory"),
    (["rg_output_etth1"],
     "error: --carry: missing for rg_output_etth1; name the outputs fed back to the next step, e.g. --carry 1.state=state (defaults exist for: titan_stream, spectra_layer)"),
])
def test_carry_errors_are_one_line_exit_2(args: list[str], line: str) -> None:
    res = runner.invoke(app, ["steps", *args, "--steps", "3"])
    assert res.exit_code == 2 and res.stderr.strip() == line
