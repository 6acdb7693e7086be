"""Every zoo family keeps the contract of ``paramscope.model_zoo.base``, and the CLI reads it.

The registry declares each family's knobs (alias, config key, type, choices), forward inputs,
output names and ``steps`` carry defaults; these tests hold each declaration against the family
module (its dataclasses, ``example_inputs`` and a real forward on meta), and check that every flag
``zoo show`` and the error messages advertise is one ``whatif`` parses.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

import pytest
import torch
import typer
from typer.testing import CliRunner

from paramscope.cli.app import app
from paramscope.model_zoo import registry
from paramscope.model_zoo.base import Family, FamilyInfo, Knob

runner = CliRunner()
FAMILIES = registry.FAMILIES
IDS = [f.name for f in FAMILIES]


def _field_type(family: Family, key: str) -> Any:
    section, _, rest = key.partition(".")
    tp: Any = {"args": family.config_class, "inputs": family.inputs_class}[section]
    for part in rest.split("."):
        assert dataclasses.is_dataclass(tp) and part in {f.name for f in dataclasses.fields(tp)}, key
        tp = typing.get_type_hints(tp)[part]
    return tp


@pytest.mark.parametrize("info", FAMILIES, ids=IDS)
def test_knobs_match_the_config_fields(info: FamilyInfo) -> None:
    family = registry.load_family(info.name)
    assert family.info is info and family.name == info.name
    aliases = [k.alias for k in info.knobs]
    assert len(aliases) == len(set(aliases)), f"{info.name}: an alias is declared twice"
    for knob in info.knobs:
        tp = _field_type(family, knob.key)
        if typing.get_origin(tp) is typing.Literal:
            assert knob.type is str and knob.choices == typing.get_args(tp), knob.alias
        else:
            assert knob.type is tp and not knob.choices, knob.alias
        for key, value in knob.implies:
            implied = _field_type(family, key)
            assert value in typing.get_args(implied) if typing.get_origin(implied) is typing.Literal else True


@pytest.mark.parametrize("info", FAMILIES, ids=IDS)
def test_inputs_outputs_and_carry_match_the_module(info: FamilyInfo) -> None:
    family = registry.load_family(info.name)
    cfg, inputs = family.config_class(), family.inputs_class()
    kwargs = dict(family.example_inputs(cfg, inputs, "meta"))
    required = set(kwargs)
    assert required <= set(info.input_names), f"{info.name}: forward inputs {sorted(required)} undeclared"
    optional = [i.split(":")[0] for i in info.inputs if i.endswith("optional")]
    assert set(info.input_names) == required | set(optional)
    for _, keyword in info.carry:
        assert keyword in optional, f"{info.name}: carry feeds {keyword}, not an optional forward input"
    if info.outputs:
        with torch.device("meta"):
            model = family.build(cfg)
        out = model(**kwargs)
        assert isinstance(out, tuple) and len(out) == len(info.outputs)
    assert info.carry == () or info.outputs, "carry paths by name need the output names"


def test_a_module_missing_part_of_the_contract_is_named() -> None:
    info = FamilyInfo("half", "nowhere", "a half-written family", "-")
    with pytest.raises(TypeError, match="half: nowhere does not define Inputs, build, example_inputs, param_formula"):
        Family.from_module(info, type("M", (), {"Config": object}))


def test_every_family_has_a_preset_and_the_presets_name_known_families() -> None:
    families = {registry.preset_doc(name).get("model") for name in registry.presets()}
    assert families == set(registry.family_names())


# ---- the CLI's flags come from the families -------------------------------------------------------

def _whatif() -> Any:
    """The click command Typer builds for ``whatif`` (its options as click parses them)."""
    return typer.main.get_command(app).commands["whatif"]  # type: ignore[attr-defined]


def _parses(args: list[str]) -> dict[str, Any]:
    with _whatif().make_context("whatif", ["rg_output", *args]) as ctx:
        return dict(ctx.params)


def test_every_knob_alias_is_a_whatif_flag_and_none_shadows_an_option() -> None:
    cmd = _whatif()
    knob_flags = {o for p in cmd.params if p.name and p.name.startswith("knob__") for o in p.opts}
    own = {o for p in cmd.params if p.name and not p.name.startswith("knob__") for o in p.opts}
    want = {k.flag for f in FAMILIES for k in f.knobs}
    assert knob_flags == want and not (own & want)
    assert _parses(["--rank", "192,384"])["knob__rank"] == "192,384"


@pytest.mark.parametrize("info", FAMILIES, ids=IDS)
def test_every_flag_zoo_show_advertises_parses(info: FamilyInfo) -> None:
    res = runner.invoke(app, ["zoo", "show", info.name], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    shown = set(re.findall(r"(--[a-z][a-z-]+)", res.stdout))
    assert shown >= {k.flag for k in info.knobs}
    for flag in shown:
        params = _parses([flag, "1"])
        assert "1" in params.values() or ["1"] in params.values(), flag


def test_an_error_lists_only_flags_that_exist() -> None:
    res = runner.invoke(app, ["whatif", "gru_router_spectra", "--hidden", "512"])
    assert res.exit_code == 2
    listed = re.search(r"its knobs: ([^;]+);", res.stderr)
    assert listed is not None
    for flag in listed.group(1).split(", "):
        _parses([flag, "1"])
    assert listed.group(1) == ", ".join(k.flag for k in registry.get_family("gru_router").knobs)


def test_knob_option_is_the_family_alias() -> None:
    def run(*args: str) -> str:
        res = runner.invoke(app, ["whatif", "rg_output_etth1", *args, "--format", "json", "--flops", "none"])
        assert res.exit_code == 0, res.output
        return res.stdout

    assert run("--knob", "rank=192,384") == run("--rank", "192,384")
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--knob", "router_dim=32"])
    assert res.exit_code == 2 and res.stderr.startswith("error: --knob router_dim: rg_output has no such knob (its knobs: --hidden,")
    res = runner.invoke(app, ["whatif", "rg_output_etth1", "--knob", "rank"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: --knob rank: expected NAME=V1,V2, e.g. --knob rank=192,384"


def test_string_knob_values_stay_strings() -> None:
    from paramscope.cli.knobs import parse_values

    # YAML would read "no" as False and "null" as None; a closed choice is a word
    assert parse_values("no,null", "--variant", str) == ["no", "null"]
    assert parse_values("192, 384", "--rank", int) == [192, 384]


def test_knob_declaration_defaults() -> None:
    knob = Knob("head", "args.head", "design", "forecast head", str, ("mean", "flatten_mlp"))
    assert knob.flag == "--head" and knob.meaning == "forecast head: mean | flatten_mlp"
    assert registry.get_family("titan_stream").knob("pred-len") is not None
