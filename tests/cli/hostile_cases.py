"""The hostile-input corpus: malformed configs, option values, user code and environments.

Each case is (id, argv, files, env, needle): run in-process through Typer's CliRunner in a
fresh folder holding ``files`` (``{d}`` in argv is that folder), it must exit 2 with exactly
one ``error:`` line on stderr containing ``needle``, no traceback, and no file changed.
A file's content ``FIFO`` makes a named pipe; ``BIG`` a file over the config size limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    needle: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    code: int = 2


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['1'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


MODEL = '''
import sys, time
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, d=4):
        super().__init__()
        self.lin = nn.Linear(d, d)
        self.bn = nn.BatchNorm1d(d)

    def forward(self, x):
        return self.bn(self.lin(x))


class Raises(nn.Module):
    def __init__(self, exc):
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.exc = exc

    def forward(self, x):
        x = self.inner(x)
        raise self.exc


def make(d=4):
    return Net(d)


def key_error():
    return {}["missing_key"]


def zero_division():
    return 1 / 0


def module_not_found():
    import no_such_module_here  # noqa: F401


def memory_error():
    raise MemoryError("pretend out of memory")


def system_exit_0():
    sys.exit(0)


def system_exit_msg():
    sys.exit("bye")


def keyboard():
    raise KeyboardInterrupt


def returns_none():
    return None


def returns_int():
    return 3


def torchscript():
    return torch.jit.script(nn.Linear(4, 4))


def fwd_key_error():
    return Raises(KeyError("k"))


def fwd_memory_error():
    return Raises(MemoryError())


def fwd_system_exit():
    return Raises(SystemExit(0))


def shape_error():
    return nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 5))


def hang():
    time.sleep(600)


class BigBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("table", torch.zeros(100_000, 1_000_000))  # 400 GB

    def forward(self, x):
        return self.lin(x)


def make_layers(num_hidden_layers=2):
    return nn.Sequential(*[nn.Linear(4, 4) for _ in range(num_hidden_layers)])


def endless_modules():  # a billion layers under no recognisable name
    return nn.Sequential(*[nn.Linear(4, 4) for _ in range(10**9)])


def token_model():
    return nn.Sequential(nn.Embedding(50, 4), nn.Linear(4, 4))


def huge_linear():
    return nn.Linear(1_000_000_000, 3_000_000_000)


class NoSuper(nn.Module):
    def __init__(self):
        pass


def no_super():
    return NoSuper()


class Custom(BaseException):
    pass


def custom_base():
    raise Custom("boom")


def generator_exit():
    raise GeneratorExit()


def stop_iteration():
    raise StopIteration


class FwdGeneratorExit(nn.Module):
    def forward(self, x):
        raise GeneratorExit()


def fwd_generator_exit():
    return FwdGeneratorExit()


NOT_CALLABLE = 3
'''

_EXIT_AT_IMPORT = "import sys\nsys.exit(0)\n"
_RAISE_AT_IMPORT = "raise RuntimeError('boom at import')\n"
_SYNTAX = "def broken(:\n"


def _target(factory: str, inputs: str = "{x: [2, 4]}", extra: str = "") -> dict[str, str | bytes]:
    return {"model.py": MODEL, "c.yaml": f'target: "model:{factory}"\ninputs: {inputs}\n{extra}'}


def _cfg(text: str | bytes) -> dict[str, str | bytes]:
    return {"c.yaml": text}


# a width knob of every zoo family blown up (the weights alone are terabytes)
FIT_KNOBS = [("rg_output_etth1", "d_model", 100_000), ("gru_router_spectra", "router_dim", 1_000_000),
             ("titan_stream", "d_model", 1_000_000), ("selective_lm", "d_model", 1_000_000),
             ("spectra_layer_qat", "num_experts", 10_000)]
DEEP_HF = ('{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, '
           '"intermediate_size": 64, "num_hidden_layers": 1000000000, "num_attention_heads": 8, "vocab_size": 100}')
HUGE_HF = ('{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 1000000, '
           '"intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 8, "vocab_size": 100}')

C = "{d}/c.yaml"
BD = ("breakdown", C, "--flops", "none")
BDF = ("breakdown", C, "--flops", "torch")  # runs the forward
RG = "rg_output_etth1"
SMALL = "selective_lm"

CASES: list[Case] = [
    # ---- the YAML itself ------------------------------------------------------------------
    Case("alias-bomb", BD, "alias bomb", _cfg("model: rg_output\nargs: {}\n" + _bomb())),
    Case("alias-bomb-in-args", BD, "alias bomb", _cfg("model: rg_output\nargs:\n  x:\n" + "".join("    " + line + "\n" for line in _bomb().splitlines()))),
    Case("self-alias", BD, "self-referencing", _cfg("model: rg_output\nargs: &r {self: *r}\n")),
    Case("self-alias-list", BD, "self-referencing", _cfg("model: rg_output\npreset_of: &p [*p]\n")),
    Case("deep-brackets", BD, "nested more than", _cfg("model: rg_output\nargs: " + "[" * 500 + "]" * 500 + "\n")),
    Case("deep-braces", BD, "nested more than", _cfg("model: rg_output\nargs: " + "{a: " * 200 + "1" + "}" * 200 + "\n")),
    Case("int-overflow", BD, "does not fit in 64 bits", _cfg("model: rg_output\nargs: {pred_len: 1180591620717411303424}\n")),
    Case("int-overflow-negative", BD, "does not fit in 64 bits", _cfg("model: rg_output\nargs: {pred_len: -99999999999999999999}\n")),
    Case("int-overflow-hex", BD, "does not fit in 64 bits", _cfg("model: rg_output\nargs: {pred_len: 0xffffffffffffffffffff}\n")),
    Case("int-power-text", BD, "pred_len", _cfg("model: rg_output\nargs: {pred_len: 2**70}\n")),
    Case("preset-of-bytes", BD, "preset_of: expected text", _cfg("model: rg_output\npreset_of: !!binary aGVsbG8=\n")),
    Case("preset-of-mapping", BD, "preset_of: expected text", _cfg("model: rg_output\npreset_of: {a: 1}\n")),
    Case("preset-of-int", BD, "preset_of: expected text", _cfg("model: rg_output\npreset_of: 12\n")),
    Case("description-list", BD, "description: expected text", _cfg("model: rg_output\ndescription: [a, b]\n")),
    Case("empty", BD, "empty config", _cfg("")),
    Case("only-comments", BD, "empty config", _cfg("# nothing\n")),
    Case("top-list", BD, "expected a mapping", _cfg("- model: rg_output\n")),
    Case("top-scalar", BD, "expected a mapping", _cfg("rg_output\n")),
    Case("unclosed", BD, "malformed YAML", _cfg("model: rg_output\nargs: {pred_len: [96\n")),
    Case("tab-indent", BD, "malformed YAML", _cfg("model: rg_output\nargs:\n\tpred_len: 96\n")),
    Case("undefined-alias", BD, "malformed YAML", _cfg("model: rg_output\nargs: *nope\n")),
    Case("duplicate-anchor", BD, "malformed YAML", _cfg("a: &x 1\nb: &x 2\nmodel: rg_output\n")),
    Case("python-tag", BD, "malformed YAML", _cfg("model: !!python/object/apply:os.system [echo hi]\n")),
    Case("not-utf8", BD, "not UTF-8", _cfg(b"model: rg_output\npreset_of: \xff\xfe\n")),
    Case("nul-bytes", BD, "malformed YAML", _cfg(b"model: rg_output\x00\n")),
    Case("oversized", BD, "a config may be at most", _cfg("BIG")),
    Case("fifo", BD, "not a regular file", _cfg("FIFO")),
    Case("dev-zero", ("breakdown", "/dev/zero"), "not a regular file"),
    Case("dev-null-yaml", ("breakdown", "/dev/null"), "not a regular file"),
    Case("directory", ("breakdown", "{d}/"), "is a directory"),
    Case("missing-file", ("breakdown", "{d}/nope.yaml"), "no such file"),
    Case("unknown-name", ("breakdown", "no_such_preset"), "no such file, preset"),
    Case("unknown-top-key", BD, "unknown key", _cfg("model: rg_output\nargz: {}\n")),
    Case("model-and-target", BD, "exactly one", _cfg('model: rg_output\ntarget: "a:b"\n')),
    Case("neither", BD, "exactly one", _cfg("args: {}\n")),
    Case("unknown-family", BD, "unknown zoo family", _cfg("model: rg_outptu\n")),
    Case("family-mapping", BD, "unknown zoo family", _cfg("model: {a: 1}\n")),
    Case("target-no-colon", BD, "pkg.module:factory", _cfg('target: "model"\n')),
    Case("target-int", BD, "pkg.module:factory", _cfg("target: 3\n")),
    Case("args-list", BD, "args: expected a mapping", _cfg("model: rg_output\nargs: [1, 2]\n")),
    Case("inputs-text", BD, "inputs: expected a mapping", _cfg("model: rg_output\ninputs: big\n")),
    Case("unknown-arg", BD, "unknown key", _cfg("model: rg_output\nargs: {pred_lne: 96}\n")),
    Case("arg-text", BD, "expected int", _cfg("model: rg_output\nargs: {pred_len: abc}\n")),
    Case("arg-float", BD, "expected int", _cfg("model: rg_output\nargs: {pred_len: 1.5}\n")),
    Case("arg-bool", BD, "expected int", _cfg("model: rg_output\nargs: {pred_len: true}\n")),
    Case("arg-null-mapping", BD, "expected a mapping", _cfg("model: rg_output\nargs: {slot_fuse: 3}\n")),
    Case("arg-literal", BD, "slot_fuse.mode", _cfg("model: rg_output\nargs: {slot_fuse: {mode: nope}}\n")),
    # ---- user code: import, factory, forward -------------------------------------------------
    Case("factory-key-error", BD, "KeyError", _target("key_error")),
    Case("factory-zero-division", BD, "ZeroDivisionError", _target("zero_division")),
    Case("factory-module-not-found", BD, "ModuleNotFoundError", _target("module_not_found")),
    Case("factory-memory-error", BD, "MemoryError", _target("memory_error")),
    Case("factory-sys-exit-0", BD, "sys.exit(0)", _target("system_exit_0")),
    Case("factory-sys-exit-msg", BD, "sys.exit('bye')", _target("system_exit_msg")),
    Case("factory-ctrl-c", BD, "interrupted", _target("keyboard"), code=130),
    Case("factory-returns-none", BD, "not an nn.Module", _target("returns_none")),
    Case("factory-returns-int", BD, "not an nn.Module", _target("returns_int")),
    Case("torchscript", BD, "TorchScript", _target("torchscript")),
    Case("factory-missing", BD, "has no callable", _target("nope")),
    Case("factory-not-callable", BD, "has no callable", _target("NOT_CALLABLE")),
    Case("factory-unknown-arg", BD, "unknown key", _target("make", extra="args: {e: 3}\n")),
    Case("factory-bad-arg-type", BD, "building model:make failed", _target("make", extra="args: {d: abc}\n")),
    Case("factory-huge-arg", BD, "does not fit in 64 bits", _target("make", extra="args: {d: 99999999999999999999}\n")),
    Case("exit-at-import", BD, "sys.exit(0)", {"model.py": _EXIT_AT_IMPORT, "c.yaml": 'target: "model:make"\ninputs: {x: [1]}\n'}),
    Case("raise-at-import", BD, "RuntimeError", {"model.py": _RAISE_AT_IMPORT, "c.yaml": 'target: "model:make"\ninputs: {x: [1]}\n'}),
    Case("syntax-error", BD, "SyntaxError", {"model.py": _SYNTAX, "c.yaml": 'target: "model:make"\ninputs: {x: [1]}\n'}),
    Case("no-such-module", BD, "cannot import", _cfg('target: "not_a_module_xyz:make"\ninputs: {x: [1]}\n')),
    Case("forward-key-error", BDF, "KeyError", _target("fwd_key_error")),
    Case("forward-memory-error", BDF, "MemoryError", _target("fwd_memory_error")),
    Case("forward-names-top-level", BDF, "forward failed in the model's top-level forward: MemoryError",
         _target("fwd_memory_error")),
    Case("forward-system-exit", BDF, "sys.exit(0)", _target("fwd_system_exit")),
    Case("forward-shape", ("breakdown", C, "--flops", "torch"), "forward failed in module '1'", _target("shape_error")),
    Case("forward-shape-names-file", ("breakdown", C, "--flops", "torch"), "c.yaml: forward failed", _target("shape_error")),
    Case("forward-shape-type", ("breakdown", C, "--flops", "torch"), "same reduction dim", _target("shape_error")),
    Case("inputs-missing", BDF, "inputs: missing", _target("make", inputs="{}")),
    Case("inputs-high-text", BDF, "high: expected a positive int", _target("make", "{x: {shape: [2, 4], dtype: int64, high: abc}}")),
    Case("inputs-high-zero", BDF, "high: expected a positive int", _target("make", "{x: {shape: [2, 4], dtype: int64, high: 0}}")),
    Case("inputs-high-negative", BDF, "high: expected a positive int", _target("make", "{x: {shape: [2, 4], dtype: int64, high: -3}}")),
    Case("inputs-high-bool", BDF, "high: expected a positive int", _target("make", "{x: {shape: [2, 4], dtype: int64, high: true}}")),
    Case("inputs-shape-negative", BDF, "non-negative ints", _target("make", "{x: {shape: [2, -4]}}")),
    Case("inputs-shape-text", BDF, "non-negative ints", _target("make", "{x: {shape: abc}}")),
    Case("inputs-shape-huge", BDF, "does not fit in 64 bits", _target("make", "{x: {shape: [99999999999999999999]}}")),
    Case("inputs-dtype", BDF, "unknown dtype", _target("make", "{x: {shape: [2, 4], dtype: float128}}")),
    Case("inputs-unknown-key", BDF, "unknown key", _target("make", "{x: {shape: [2, 4], mean: 0}}")),
    Case("inputs-no-shape", BDF, "expected {shape", _target("make", "{x: {dtype: float32}}")),
    Case("inputs-scalar", BDF, "expected {shape", _target("make", "{x: 3}")),
    Case("timeout-factory", (*BD, "--timeout", "0.5"), "--timeout", _target("hang")),
    Case("timeout-zero", (*BD, "--timeout", "0"), "positive number", _target("make")),
    Case("timeout-negative", (*BD, "--timeout", "-1"), "positive number", _target("make")),
    Case("timeout-nan", (*BD, "--timeout", "nan"), "positive number", _target("make")),
    # ---- --set and breakdown options --------------------------------------------------------
    Case("set-no-equals", ("breakdown", RG, "--set", "pred_len"), "expected key=value"),
    Case("set-empty-key", ("breakdown", RG, "--set", "=5"), "expected key=value"),
    Case("set-huge-int", ("breakdown", RG, "--set", "pred_len=1180591620717411303424"), "does not fit in 64 bits"),
    Case("set-power-text", ("breakdown", RG, "--set", "pred_len=2**70"), "expected int"),
    Case("set-bomb-flow", ("breakdown", RG, "--set", "x=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
                           "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &e [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]"),
         "alias bomb"),
    Case("set-into-value", ("breakdown", RG, "--set", "pred_len.x=1"), "not a mapping"),
    Case("set-unknown", ("breakdown", RG, "--set", "nope=1"), "unknown key"),
    Case("set-negative-size", ("breakdown", RG, "--set", "d_model=-8"), "d_model"),
    Case("depth-zero", ("breakdown", RG, "--depth", "0"), "at least 1"),
    Case("top-zero", ("breakdown", RG, "--top", "0"), "at least 1"),
    Case("sort-bogus", ("breakdown", RG, "--sort", "size"), "'--sort': 'size' is not one of"),
    Case("device-tpu", ("breakdown", RG, "--device", "tpu"), "'tpu' is not one of 'meta', 'cpu', 'cuda'"),
    Case("device-empty", ("breakdown", RG, "--device", ""), "--device"),
    Case("device-cuda", ("breakdown", RG, "--device", "cuda"), "no CUDA device"),
    Case("device-cpu-too-big", ("breakdown", RG, "--device", "cpu", "--set", "d_model=100000"), "needs 326 GB on cpu"),
    Case("device-cpu-overflow", ("breakdown", RG, "--device", "cpu", "--set", "d_model=1000000000"), "rg_output"),
    # ---- --device cpu with what does not fit: refused before allocating (tests/profiler/test_fits.py)
    *(Case(f"fit-{preset}-{knob}", ("breakdown", preset, "--device", "cpu", "--set", f"{knob}={value}"),
           "for its weights alone; this machine has") for preset, knob, value in FIT_KNOBS),
    Case("fit-target-buffer", (*BD, "--device", "cpu"), "needs 400 GB on cpu for weights and buffers",
         _target("BigBuffer")),
    Case("fit-input-940gb", (*BDF, "--device", "cpu"), "needs 940 GB on cpu for weights, buffers and inputs",
         _target("make", "{x: {shape: [1000000, 235000]}}")),
    Case("fit-hf-hidden", ("breakdown", "hf:{d}/config.json", "--device", "cpu"), "use --device meta",
         {"config.json": HUGE_HF}),
    Case("fit-memory", ("memory", RG, "--device", "cpu", "--set", "d_model=100000"), "use --device meta"),
    Case("fit-audit", ("audit", RG, "--device", "cpu", "--set", "d_model=100000"), "use --device meta"),
    Case("fit-check", ("check", RG, "--device", "cpu", "--set", "d_model=100000", "-b", "params<=1G"),
         "use --device meta"),
    Case("fit-steps", ("steps", "titan_stream", "--device", "cpu", "--set", "d_model=1000000"), "use --device meta"),
    # ---- a billion layers or experts: refused before any formula or module (profiler/limits.py)
    Case("layers-zoo-set", ("breakdown", RG, "--set", "e_layers=1000000000"),
         "args.e_layers: 1,000,000,000 layers is more than any model has; paramscope builds at most 100,000"),
    Case("layers-zoo-cpu", ("breakdown", SMALL, "--device", "cpu", "--set", "n_layers=1000000000"), "n_layers: 1,000,000,000 layers"),
    Case("layers-zoo-yaml", BD, "c.yaml:2: args.n_layers: 1,000,000,000 layers",
         _cfg("model: selective_lm\nargs: {n_layers: 1000000000}\n")),
    Case("experts-zoo", ("breakdown", "spectra_layer_qat", "--set", "num_experts=1000000"), "1,000,000 experts"),
    Case("layers-memory", ("memory", "titan_stream", "--set", "n_layers=1000000"), "1,000,000 layers"),
    Case("layers-target-arg", BD, "c.yaml:3: args.num_hidden_layers: 1,000,000,000 layers",
         _target("make_layers", extra="args: {num_hidden_layers: 1000000000}\n")),
    Case("layers-hf-json", ("breakdown", "hf:{d}/config.json"), "num_hidden_layers: 1,000,000,000 layers",
         {"config.json": DEEP_HF}),
    Case("layers-hf-set", ("breakdown", "hf:{d}/config.json", "--set", "num_hidden_layers=1000000000"),
         "(--set num_hidden_layers=1000000000): args.num_hidden_layers: 1,000,000,000 layers", {"config.json": HUGE_HF}),
    # ---- a tensor whose bytes overflow int64: no device holds it, so meta is not advised
    Case("overflow-cpu", ("breakdown", RG, "--device", "cpu", "--set", "d_model=1000000000"),
         "needs 32,000,064,566 GB for its weights alone: more than any device can hold"),
    Case("overflow-meta", ("breakdown", RG, "--set", "d_model=1000000000"),
         "building rg_output failed in RGOutputForecaster > SharedPMA > MultiheadAttention: RuntimeError: one tensor of "
         "shape [3000000000, 1000000000] (3,000,000,000,000,000,000 elements) is more than any device can hold"),
    Case("overflow-target-cpu", (*BD, "--device", "cpu"), "failed in Linear: RuntimeError: one tensor of shape "
         "[3000000000, 1000000000]", _target("huge_linear")),
    # ---- token ids given as floats: say how to spell an integer input, not --device cpu
    Case("float-ids-meta", BDF, "input ids is float32; write --input ids=1x8:int64 (in YAML: dtype: int64 under inputs.ids)",
         _target("token_model", "{ids: [1, 8]}")),
    Case("float-ids-cpu", (*BDF, "--device", "cpu"), "forward failed in module '0'", _target("token_model", "{ids: [1, 8]}")),
    Case("float-ids-input-flag", ("breakdown", "hf:{d}/config.json", "--input", "input_ids=1x16", "--set",
                                  "num_hidden_layers=1", "--set", "hidden_size=64"),
         "indices must be an integer tensor: input input_ids is float32; write --input input_ids=1x16:int64", {"config.json": HUGE_HF}),
    # ---- found by hand, 2026-11-30 (third session)
    Case("factory-no-super", BD, "returned a NoSuper whose __init__ never called super().__init__()", _target("no_super")),
    Case("factory-base-exception", BD, "building model:custom_base failed: Custom: boom", _target("custom_base")),
    Case("factory-generator-exit", BD, "building model:generator_exit failed: GeneratorExit", _target("generator_exit")),
    Case("factory-stop-iteration", BD, "failed: StopIteration", _target("stop_iteration")),
    Case("forward-generator-exit", BDF, "c.yaml: GeneratorExit", _target("fwd_generator_exit")),
    Case("input-flag-huge-dim", (*BDF, "--input", "x=99999999999999999999x4"), "--input x=99999999999999999999x4: dimension: 99999999999999999999 does not fit in 64 bits",
         _target("make")),
    Case("input-flag-empty-dtype", ("breakdown", C, "--input", "x=2x4:"), "expected NAME=SHAPE[:DTYPE]", _target("make")),
    Case("input-flag-superscript", ("breakdown", C, "--input", "x=\u00b2x4"), "expected NAME=SHAPE[:DTYPE]", _target("make")),
    Case("input-overflows-bytes", BDF, "inputs.x.shape: [3000000000, 4000000000] is 48,000,000,000 GB, more than any device",
         _target("make", "{x: [3000000000, 4000000000]}")),
    Case("hf-negative-layers", ("breakdown", "hf:{d}/config.json", "--set", "num_hidden_layers=-1"),
         "num_hidden_layers: -1 layers: a count of layers cannot be negative", {"config.json": HUGE_HF}),
    Case("hf-bad-value-names-no-internals", ("breakdown", "hf:{d}/config.json", "--set", "num_hidden_layers=abc"),
         "building the model failed", {"config.json": HUGE_HF}),
    Case("seed-huge", ("breakdown", SMALL, "--flops", "none", "--seed", "99999999999999999999"),
         "--seed 99999999999999999999: expected a whole number that fits in 64 bits"),
    Case("repeats-zero", ("breakdown", SMALL, "--flops", "none", "--latency", "--device", "cpu", "--repeats", "0"),
         "--repeats 0: expected at least 1"),
    Case("warmup-negative", ("breakdown", SMALL, "--flops", "none", "--latency", "--device", "cpu", "--warmup", "-1"),
         "--warmup -1: expected at least 0"),
    Case("yaml-duplicate-key", BD, "c.yaml:2: model: given twice (first on line 1); keep one",
         _cfg("model: selective_lm\nmodel: rg_output\n")),
    Case("yaml-duplicate-nested", BD, "c.yaml:4: args.d_model: given twice (first on line 3)",
         _cfg("model: selective_lm\nargs:\n  d_model: 64\n  d_model: 128\n")),
    Case("set-duplicate-key", ("breakdown", SMALL, "--set", "x={a: 1, a: 2}"), "--set x: a: given twice; keep one"),
    Case("memory-steps-huge", ("memory", SMALL, "--train", "adam", "--steps", "100000"), "--steps 100000: expected 1 to 100"),
    Case("memory-modules-negative", ("memory", SMALL, "--modules", "-1"), "--modules -1: expected at least 1"),
    Case("flops-bogus", ("breakdown", RG, "--flops", "papi"), "'--flops': 'papi' is not one of"),
    Case("flops-empty", ("breakdown", RG, "--flops", ""), "'--flops': '' is not one of"),
    Case("elementwise-fvcore", ("breakdown", RG, "--flops", "fvcore", "--elementwise"), "--elementwise"),
    Case("latency-meta", ("breakdown", RG, "--latency"), "--latency needs real tensors"),
    Case("clock-bogus", ("breakdown", SMALL, "--latency", "--device", "cpu", "--clock", "sun", "--flops", "none"), "'--clock': 'sun' is not one of"),
    # ---- output files -----------------------------------------------------------------------
    Case("output-is-config", ("breakdown", C, "--flops", "none", "--output", C), "is also an input",
         _cfg("model: selective_lm\n")),
    Case("output-symlink-to-config", ("breakdown", C, "--flops", "none", "--output", "{d}/link.txt"), "is also an input",
         {**_cfg("model: selective_lm\n"), "link.txt": "SYMLINK:c.yaml"}),
    Case("output-dev-null", ("breakdown", RG, "--output", "/dev/null"), "not a regular file"),
    Case("output-fifo", ("breakdown", RG, "--output", "{d}/pipe"), "not a regular file", {"pipe": "FIFO"}),
    Case("output-directory", ("breakdown", RG, "--output", "{d}"), "is a directory"),
    Case("output-missing-folder", ("breakdown", RG, "--output", "{d}/no/such/out.txt"), "does not exist"),
    Case("output-is-plot", ("whatif", RG, "--rank", "192", "--output", "{d}/o.png", "--plot", "{d}/o.png"), "--plot"),
    # ---- whatif -----------------------------------------------------------------------------
    Case("whatif-no-knobs", ("whatif", RG), "at least one knob"),
    Case("whatif-too-many", ("whatif", RG, "--rank", ",".join(map(str, range(1, 51))), "--pred-len",
                             ",".join(map(str, range(1, 51)))), "2,500 variants"),
    Case("whatif-too-many-set", ("whatif", RG, "--set", "d_model=" + ",".join(map(str, range(1, 51))), "--rank", "1,2,3",
                                 "--max-variants", "100"), "the limit is 100"),
    Case("whatif-max-zero", ("whatif", RG, "--rank", "192", "--max-variants", "0"), "--max-variants 0"),
    Case("whatif-empty-values", ("whatif", RG, "--rank", ",,,"), "comma-separated"),
    Case("whatif-huge-value", ("whatif", RG, "--rank", "1180591620717411303424"), "does not fit in 64 bits"),
    Case("whatif-text-value", ("whatif", RG, "--rank", "abc"), "expected int"),
    Case("whatif-malformed-value", ("whatif", RG, "--rank", "[1"), "not a value"),
    Case("whatif-wrong-knob", ("whatif", RG, "--head", "mean"), "has no such knob"),
    Case("whatif-module-nope", ("whatif", RG, "--rank", "192", "--module", "nope", "--flops", "none"), "no such submodule"),
    Case("whatif-unknown-set-key", ("whatif", RG, "--set", "nope=1,2"), "not a config key"),
    # ---- check ------------------------------------------------------------------------------
    Case("check-no-op", ("check", RG, "-b", "params=12M"), "METRIC<=AMOUNT"),
    Case("check-bad-amount", ("check", RG, "-b", "params<=abc"), "expected a number"),
    Case("check-exponent", ("check", RG, "-b", "params<=1e400"), "expected a number"),
    Case("check-unknown-metric", ("check", RG, "-b", "weights<=1M"), "unknown metric"),
    Case("check-unknown-module", ("check", RG, "-b", "nope.params<=1M"), "no submodule 'nope'"),
    Case("check-empty", ("check", RG, "-b", ""), "METRIC<=AMOUNT"),
    # ---- memory, audit, diff, steps, groups ----------------------------------------------------
    Case("memory-dtype-empty", ("memory", RG, "--dtype", ""), "--dtype"),
    Case("memory-dtype-commas", ("memory", RG, "--dtype", ",,"), "--dtype"),
    Case("memory-dtype-bogus", ("memory", RG, "--dtype", "fp8"), "--dtype fp8"),
    Case("memory-train-bogus", ("memory", RG, "--train", "lion"), "--train lion"),
    Case("memory-keep-bad", ("memory", RG, "--keep", "load_balancer"), "PRECISION:PATH"),
    Case("audit-backends-empty", ("audit", RG, "--backends", ""), "--backends"),
    Case("audit-backends-commas", ("audit", RG, "--backends", " , "), "--backends"),
    Case("audit-backends-bogus", ("audit", RG, "--backends", "torch,papi"), "unknown FLOP backend"),
    Case("diff-module-nope", ("diff", RG, SMALL, "--module", "nope", "--flops", "none"), "no such submodule"),
    Case("diff-missing", ("diff", RG, "{d}/nope.yaml"), "no such file"),
    Case("steps-too-few", ("steps", "titan_stream", "--steps", "2"), "at least 3"),
    Case("steps-too-many", ("steps", "titan_stream", "--steps", "100000"), "at most 1,000"),
    Case("steps-no-carry", ("steps", RG), "--carry"),
    Case("groups-bad", ("groups", RG, "--group", "nokeywords"), "--group"),
    Case("groups-duplicate", ("groups", RG, "--group", "a=x", "--group", "a=y"), "given twice"),
]
