"""Parameter groups by name keyword (``profiler/groups.py``) and ``paramscope groups``."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.cli.parse import parse_group
from paramscope.model_zoo import registry
from paramscope.profiler.errors import ConfigError
from paramscope.profiler.groups import IGNORE, UNMATCHED, group_parameters
from paramscope.profiler.render.groups import groups_markdown, groups_to_dict, groups_table, warning_lines
from conftest import render_plain

runner = CliRunner()
_NOTE = registry.preset_note("titan_stream")  # titan_stream_fixes.zh.md, section 5: its keywords
NOTE_BACKBONE = "backbone=" + ",".join(_NOTE["groups"]["backbone"]["keywords"])
NOTE_HEAD = "head=" + ",".join(_NOTE["groups"]["head/memory"]["keywords"])
OLD_BACKBONE = "backbone=" + ",".join(_NOTE["old_backbone_keywords"])


class Toy(nn.Module):
    """embedding 10x4 = 40; encoder 4*4 + 4 = 20; head.bias 10 (head.weight is tied to the embedding)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.encoder = nn.Linear(4, 4)
        self.head = nn.Linear(4, 10)
        self.head.weight = self.embedding.weight


def toy() -> nn.Module:
    with torch.device("meta"):
        return Toy()


def test_first_matching_group_wins_and_shared_tensor_counts_once() -> None:
    r = group_parameters(toy(), {"backbone": ["embedding", "encoder"], "head": ["head", "bias"]})
    by = {g.name: g for g in r.groups}
    assert (r.total_tensors, r.total_elements) == (4, 70)  # 40 + 20 + 10; head.weight is the embedding
    assert by["backbone"].names == ("embedding.weight", "encoder.weight", "encoder.bias")
    assert by["backbone"].elements == 60  # 40 + 16 + 4
    assert by["backbone"].keyword_hits == (("embedding", 1), ("encoder", 2))
    assert (by["head"].names, by["head"].elements) == (("head.bias",), 10)
    assert by[UNMATCHED].tensors == 0 and r.clean
    # encoder.bias matches 'encoder' (backbone) and 'bias' (head): the first group wins, and it is said
    assert [(o.name, o.matches) for o in r.overlaps] == [("encoder.bias", (("backbone", "encoder"), ("head", "bias")))]


def test_empty_group_is_data_and_warned() -> None:
    r = group_parameters(toy(), {"backbone": ["core", "input_proj"], "head": ["head"]}, rest="head")
    assert [g.name for g in r.empty_groups] == ["backbone"] and not r.clean
    head = r.groups[1]
    assert (head.tensors, head.matched, head.elements) == (4, 1, 70)  # 1 by keyword + 3 as the rest
    assert warning_lines(r) == [
        ("warning: group 'backbone' matched no parameter (keywords: core, input_proj); "
         "parameter names look like: embedding.weight, encoder.weight, head.bias"),
    ]


@pytest.mark.parametrize(("rest", "groups", "ignored"), [
    (None, ["enc", UNMATCHED], ()),
    ("other", ["enc", "other"], ()),
    ("enc", ["enc"], ()),
    (IGNORE, ["enc"], ("embedding.weight", "head.bias")),
])
def test_rest_goes_where_asked(rest: str | None, groups: list[str], ignored: tuple[str, ...]) -> None:
    r = group_parameters(toy(), {"enc": ["encoder"]}, rest=rest)
    assert [g.name for g in r.groups] == groups and r.ignored == ignored
    assert r.unmatched == ("embedding.weight", "head.bias")
    assert r.clean is (rest is not None)
    assert sum(g.elements for g in r.groups) == (20 if rest == IGNORE else 70)  # ignored: 40 + 10 left out


@pytest.mark.parametrize(("item", "match"), [
    ("backbone", "expected NAME=keyword1,keyword2"),
    ("=core", "expected NAME=keyword1,keyword2"),
    ("backbone=", "empty keyword"),
    ("backbone=core,,gate", "empty keyword"),
])
def test_parse_group_errors(item: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_group(item)


def test_parse_group_and_reserved_names() -> None:
    assert parse_group(" backbone = core, input_proj ") == ("backbone", ("core", "input_proj"))
    with pytest.raises(ConfigError, match="reserved"):
        group_parameters(toy(), {IGNORE: ["head"]})
    with pytest.raises(ConfigError, match="^groups: no groups; give at least one group"):
        group_parameters(toy(), {})


def test_renderers_on_one_report() -> None:
    r = group_parameters(toy(), {"backbone": ["embedding", "encoder"]}, rest="head")
    text = render_plain(groups_table(r), width=160)
    assert "backbone" in text and "85.7%" in text  # 60 / 70
    assert groups_markdown(r).splitlines()[2] == (
        "| backbone | 3 | 60 | 85.7% | embedding (1), encoder (2) | embedding.weight, encoder.weight, encoder.bias |")
    doc = groups_to_dict(r)
    assert doc["groups"][1] == {"name": "head", "keywords": [], "tensors": 1, "elements": 10, "share": 10 / 70,
                                "matched": 0, "keyword_hits": {}, "names": ["head.bias"]}


# --- CLI ----------------------------------------------------------------------------------------


def groups_json(*args: str) -> tuple[dict, str]:
    res = runner.invoke(app, ["groups", "titan_stream", "--set", "head=mean", *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), res.stderr


def test_titan_stream_matches_the_note_with_fixed_keywords() -> None:
    doc, err = groups_json("--group", NOTE_BACKBONE, "--group", NOTE_HEAD)
    by = {g["name"]: g for g in doc["groups"]}
    # the note: "Backbone: 32 params (1.25M elements); Head/Memory: 9 params (287K elements)"
    assert (by["backbone"]["tensors"], by["backbone"]["elements"]) == (32, 1_253_632)
    assert (by["head"]["tensors"], by["head"]["elements"]) == (9, 286_884)  # 47,104 + 66,563 + 513 + 172,704
    assert by["unmatched"]["tensors"] == 0 and doc["empty_groups"] == [] and doc["clean"]
    assert doc["total_elements"] == 1_540_516 and err == ""


def test_old_keywords_warn_loudly_and_strict_exits_1() -> None:
    args = ["groups", "titan_stream", "--set", "head=mean", "--group", OLD_BACKBONE, "--group", NOTE_HEAD, "--rest", "head"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0
    assert res.stderr.splitlines() == [
        ("warning: group 'backbone' matched no parameter (keywords: backbone, encoder, embedding); "
         "parameter names look like: persistent, input_proj.weight, core.0.ln_1.weight, q_proj.weight, "
         "k_proj.weight, ..."),
    ]
    res = runner.invoke(app, [*args, "--strict", "--format", "json"])
    assert res.exit_code == 1 and "matched no parameter" in res.stderr
    by = {g["name"]: g for g in json.loads(res.stdout)["groups"]}
    assert by["backbone"]["tensors"] == 0 and by["head"]["tensors"] == 41  # the note's "Backbone Params: 0"


def test_strict_fails_on_unmatched_parameters_without_rest() -> None:
    res = runner.invoke(app, ["groups", "titan_stream", "--group", "backbone=core", "--strict"])
    assert res.exit_code == 1  # attention_pool head: 48 tensors, 24 of them in core (2 blocks x 12)
    assert res.stderr.startswith("warning: 24 parameters matched no keyword and went to group 'unmatched'")
    assert runner.invoke(app, ["groups", "titan_stream", "--group", "backbone=core", "--rest", "head", "--strict"]).exit_code == 0


@pytest.mark.parametrize(("group", "line"), [
    ("backbone", "error: --group backbone: expected NAME=keyword1,keyword2, e.g. --group backbone=encoder,embedding"),
    ("backbone=core,", "error: --group backbone=core,: empty keyword (it would match every parameter); list keywords separated by commas"),
])
def test_bad_group_syntax_is_one_line_exit_2(group: str, line: str) -> None:
    res = runner.invoke(app, ["groups", "titan_stream", "--group", group])
    assert res.exit_code == 2 and res.stderr.strip() == line


def test_group_given_twice_is_an_error() -> None:
    res = runner.invoke(app, ["groups", "titan_stream", "--group", "a=core", "--group", "a=head"])
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: --group a: given twice; put all its keywords in one --group"
