"""ModelSpec -> a real module on meta/cpu/cuda plus its example inputs."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramscope.model_zoo import registry
from paramscope.model_zoo.base import Family
from paramscope.profiler.choices import Device
from paramscope.profiler.deadline import Expired
from paramscope.profiler.config import coerce_dataclass
from paramscope.profiler.errors import ArgumentError, ConfigError, ParamscopeError, TooLarge, UnknownModel, gigabytes
from paramscope.profiler.fits import MAX_BYTES
from paramscope.profiler.limits import check_repeats, module_limit
from paramscope.profiler.paths import did_you_mean
from paramscope.profiler.spec import ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Built", "build", "resolve_family", "check_target_args", "float_inputs", "DEVICES"]

DEVICES = tuple(d.value for d in Device)

_DTYPES = {
    "float32": "float32", "float": "float32", "fp32": "float32",
    "float16": "float16", "half": "float16", "fp16": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float64": "float64", "double": "float64",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int32",
    "bool": "bool",
}


_PASS_THROUGH = (KeyboardInterrupt, Expired)
"""What user code may raise that is not its failure: Ctrl-C and a ``--timeout`` running out."""


@dataclass(frozen=True)
class Built:
    """A built model with the example inputs its forward is profiled on."""

    spec: ModelSpec
    model: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    device: str
    config: Any = None
    """The family's validated ``Config`` (None for target models)."""
    input_knobs: Any = None
    """The family's validated ``Inputs`` (None for target models)."""
    seed: int = 0
    """Seeds the build (cpu weights, example inputs) and the assumptions of a meta forward."""


def resolve_family(spec: ModelSpec) -> tuple[Family, Any, Any]:
    """Load the spec's zoo family and validate ``args``/``inputs`` against its dataclasses."""
    assert spec.family is not None
    family = registry.load_family(spec.family)
    cfg = coerce_dataclass(family.config_class, spec.args, "args", spec.where)
    inputs = coerce_dataclass(family.inputs_class, spec.inputs, "inputs", spec.where)
    return family, cfg, inputs


def _check_device(device: Device | str) -> None:
    import torch

    if device not in DEVICES:
        raise ArgumentError("device", device, f"expected one of {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ArgumentError("device", "cuda", "no CUDA device is available here; use cpu or meta")


def build(spec: ModelSpec, device: Device | str = Device.META, seed: int = 0, *, inputs: bool = True) -> Built:
    """Build ``spec`` on ``device``; ``seed`` makes cpu weights and example inputs reproducible.

    ``inputs=False`` skips the example inputs (``args``/``kwargs`` stay empty): counting
    parameters runs no forward, and the first tensor made on meta costs about a second of
    imports (torch's symbolic-shapes machinery).

    On meta, parameters allocate nothing and run no init kernels, while buffers (masks, index
    tables, position ids) keep their true values on cpu (``assumptions.params_on_meta``).
    The global random state is left as it was.
    """
    import torch

    _check_device(device)
    if not -(1 << 63) <= seed < 1 << 64:  # torch's generators take 64 bits
        raise ArgumentError("seed", seed, "expected a whole number that fits in 64 bits")
    device = Device(device).value  # the plain name from here on (labels, JSON)
    check_repeats(spec.args, "args", spec.where)  # a billion layers: before any formula or build
    if device == "cpu":
        from paramscope.profiler.fits import check_fits

        check_fits(spec, device, inputs=inputs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.family is None:
            return _build_target(spec, device, seed, inputs)
        family, cfg, knobs = resolve_family(spec)
        try:
            with _placement(device), module_limit(f"{spec.source}: "):
                model = family.build(cfg)
        except ParamscopeError:
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a size torch cannot allocate
            raise ConfigError(f"{spec.source}: building {spec.family} failed{_why(e)}") from None
        if not inputs:
            return Built(spec, model.eval(), (), {}, device, cfg, knobs, seed)
        try:
            kwargs = dict(family.example_inputs(cfg, knobs, device))
        except ValueError as e:  # zoo convention: "<inputs key>: what is wrong"
            key = str(e).split(":", 1)[0].strip()
            raise ConfigError(f"{spec.where('inputs.' + key)}inputs.{e}") from None
    return Built(spec, model.eval(), (), kwargs, device, cfg, knobs, seed)


def _why(e: BaseException) -> str:
    """``: KeyError: 'x'``; a cpu allocation torch refused as ``: RuntimeError: out of memory: ...``; a
    failure inside a module's ``__init__`` first names the modules being built (`` in Encoder > Linear: ...``)."""
    from paramscope.profiler.fits import allocation_failure

    text = allocation_failure(e) or str(e)
    return f"{_building_in(e)}: {type(e).__name__}" + (f": {text}" if text else "")


def _label(spec: ModelSpec) -> str:
    """How a build failure names a ``target:``: the user's factory, or "the model" for an ``hf:`` or
    ``torchvision:`` entry point (whose factory is paramscope's own)."""
    assert spec.target is not None
    return "the model" if spec.target.startswith("paramscope.profiler.sources:") else spec.target


def _building_in(e: BaseException) -> str:
    """`` in Outer > Inner > Linear``: the classes whose ``__init__`` was running when ``e`` was raised."""
    import torch

    chain: list[Any] = []
    tb = e.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        this = frame.f_locals.get("self") if frame.f_code.co_name == "__init__" else None
        if isinstance(this, torch.nn.Module) and not any(this is c for c in chain):
            chain.append(this)
        tb = tb.tb_next
    return f" in {' > '.join(type(m).__name__ for m in chain)}" if chain else ""


def _placement(device: str) -> contextlib.AbstractContextManager[Any]:
    """Where a model is built: on meta, parameters on meta and buffers real on cpu."""
    import torch

    if device == "meta":
        from paramscope.profiler.assumptions import params_on_meta

        return params_on_meta()
    return torch.device(device)


@contextlib.contextmanager
def _importable(folder: Path | None) -> Iterator[None]:
    """``folder`` importable for the duration, its modules isolated from other configs' folders.

    Two configs in different folders may both import ``model.py``: modules loaded from a config
    folder are dropped from ``sys.modules`` afterwards (the built model keeps its code alive),
    and a cached module of the same name from elsewhere is set aside while ``folder`` imports.
    """
    if folder is None:
        yield
        return
    root, inside = str(folder), _Inside(folder)
    before = set(sys.modules)
    provided = {top for top in {name.split(".")[0] for name in before} if _provides(folder, top)}
    shadowed = {name: mod for name, mod in list(sys.modules.items())
                if name.split(".")[0] in provided and not inside(mod)}
    for name in shadowed:
        del sys.modules[name]
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(root)
        libraries = [_Inside(r) for r in _installed_roots() if r.is_relative_to(inside.root)]
        for name in set(sys.modules) - before:
            mod = sys.modules.get(name)
            if inside(mod) and not any(lib(mod) for lib in libraries):
                sys.modules.pop(name, None)
        sys.modules.update(shadowed)


def _installed_roots() -> list[Path]:
    """Where installed packages live (site-packages, the standard library).

    The current folder of an ``hf:`` or ``pkg:factory`` entry often holds the virtualenv: a
    library it imports lazily during the build (transformers loads ``torch._dynamo``) lies inside
    the folder but is no module of it, and dropping it would import it twice.
    """
    import sysconfig

    keys = ("purelib", "platlib", "stdlib", "platstdlib")
    return [Path(p).resolve() for p in {sysconfig.get_paths().get(k) for k in keys} if p]


def _provides(folder: Path, top: str) -> bool:
    return (folder / f"{top}.py").is_file() or (folder / top).is_dir()


class _Inside:
    """Whether a module's file resolves into ``folder``; each directory resolved once (a factory
    importing transformers adds thousands of modules from a few hundred directories)."""

    def __init__(self, folder: Path) -> None:
        self.root = folder.resolve()
        self.dirs: dict[str, bool] = {}

    def __call__(self, module: Any) -> bool:
        file = getattr(module, "__file__", None)
        if not file:
            paths = list(getattr(getattr(module, "__spec__", None), "submodule_search_locations", None) or [])
            file = paths[0] if paths else None
        if file is None:
            return False
        if os.path.islink(file):  # the file itself leads elsewhere
            return Path(file).resolve().is_relative_to(self.root)
        folder = os.path.dirname(file)
        if folder not in self.dirs:
            self.dirs[folder] = Path(folder or ".").resolve().is_relative_to(self.root)
        return self.dirs[folder]


def _load_factory(spec: ModelSpec) -> Any:
    assert spec.target is not None
    mod_name, _, attr = spec.target.partition(":")
    where = spec.where("target")
    with _importable(spec.config_dir):
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            raise UnknownModel(f"{where}target: cannot import '{mod_name}': {e}") from None
        except SystemExit as e:  # a script-style module: sys.exit() at import
            raise UnknownModel(f"{where}target: importing '{mod_name}' called sys.exit({e.code!r})") from None
        except _PASS_THROUGH:
            raise
        except BaseException as e:  # noqa: BLE001 - any error while importing the user's module
            raise UnknownModel(f"{where}target: importing '{mod_name}' failed: {type(e).__name__}: {e}") from None
    factory = getattr(mod, attr, None)
    if factory is None or not callable(factory):
        names = [n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n))]
        hint = did_you_mean(attr, names, known=False)
        raise UnknownModel(f"{where}target: '{mod_name}' has no callable '{attr}'{hint}")
    return factory


def _check_factory_args(spec: ModelSpec, factory: Any) -> None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in spec.args:
        if key not in params:
            hint = did_you_mean(key, params, paren=True)
            raise ConfigError(f"{spec.where('args.' + key)}args.{key}: unknown key for {spec.target}{hint}")


def check_target_args(spec: ModelSpec) -> None:
    """For a ``target:`` spec: every ``args`` key is a parameter of the factory (imports it)."""
    _check_factory_args(spec, _load_factory(spec))


def _input_tensor(spec: ModelSpec, name: str, desc: Any, device: str, default: str = "float32") -> Any:
    """The tensor ``inputs.NAME`` describes; ``default`` is its dtype when the description names none."""
    import torch

    key = f"inputs.{name}"
    if isinstance(desc, list):
        desc = {"shape": desc}
    if not isinstance(desc, Mapping) or "shape" not in desc:
        raise ConfigError(f"{spec.where(key)}{key}: expected {{shape: [..], dtype: float32}} or a shape list")
    unknown = set(desc) - {"shape", "dtype", "high"}
    if unknown:
        raise ConfigError(f"{spec.where(key)}{key}.{sorted(unknown)[0]}: unknown key (known: shape, dtype, high)")
    shape = desc["shape"]
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ConfigError(f"{spec.where(key + '.shape')}{key}.shape: expected a list of non-negative ints, got {shape!r}")
    dtype_name = str(desc.get("dtype", default))
    if dtype_name not in _DTYPES:
        raise ConfigError(f"{spec.where(key + '.dtype')}{key}.dtype: unknown dtype '{dtype_name}' "
                          f"(known: {', '.join(sorted(set(_DTYPES)))})")
    dtype = getattr(torch, _DTYPES[dtype_name])
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_BYTES:
        raise TooLarge(f"{spec.where(key + '.shape')}{key}.shape: {shape} is {gigabytes(nbytes)}, more than any device "
                       "can hold (over 2^63 bytes, where torch's sizes overflow)")
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype, device=device)
    if dtype == torch.bool:
        return torch.zeros(shape, dtype=dtype, device=device)
    high = desc.get("high", 2)
    if isinstance(high, bool) or not isinstance(high, int) or high < 1:
        raise ConfigError(f"{spec.where(key + '.high')}{key}.high: expected a positive int (values are drawn from "
                          f"0..high-1), got {high!r}")
    return torch.randint(0, high, shape, dtype=dtype, device=device)


def float_inputs(spec: ModelSpec) -> dict[str, tuple[list[Any], str]]:
    """Name -> (shape, dtype) of the example inputs ``spec`` describes with a float dtype (the default)."""
    out: dict[str, tuple[list[Any], str]] = {}
    for name, desc in spec.inputs.items() if spec.family is None else ():
        desc = {"shape": desc} if isinstance(desc, list) else desc
        dtype = _DTYPES.get(str(desc.get("dtype", "float32")), "") if isinstance(desc, Mapping) else ""
        if dtype.startswith(("float", "bfloat")):
            out[str(name)] = (list(desc.get("shape") or []), dtype)
    return out


def _float_dtypes(example: Any) -> dict[str, str]:
    """Name -> dtype name of the floating tensors of a factory's example inputs given as a dict."""
    import torch

    if not isinstance(example, Mapping):
        return {}
    return {str(k): str(v.dtype).removeprefix("torch.") for k, v in example.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and str(v.dtype).removeprefix("torch.") in _DTYPES}


def _to_device(obj: Any, device: str) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple | list):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _split_inputs(obj: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(obj, dict):
        return (), dict(obj)
    if isinstance(obj, tuple | list):
        return tuple(obj), {}
    return (obj,), {}


def _accepts_keywords(model: nn.Module, kwargs: Mapping[str, Any]) -> bool:
    """True when ``model.forward`` takes every name in ``kwargs`` as a keyword."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return True
    return all(name in params and params[name].kind is not params[name].POSITIONAL_ONLY for name in kwargs)


def _unwrap(model: nn.Module) -> nn.Module:
    """The eager module inside ``torch.compile(...)``: counting runs in eager, op by op."""
    inner = getattr(model, "_orig_mod", None)
    return inner if inner is not None and type(model).__name__ == "OptimizedModule" else model


def _build_target(spec: ModelSpec, device: str, seed: int, inputs: bool = True) -> Built:
    import torch

    factory = _load_factory(spec)
    _check_factory_args(spec, factory)
    try:
        with _importable(spec.config_dir), _placement(device), module_limit(f"{spec.source}: "):
            result = factory(**spec.args)
    except (ParamscopeError, *_PASS_THROUGH):
        raise
    except SystemExit as e:
        raise ConfigError(f"{spec.where('args')}building {_label(spec)} failed: it called sys.exit({e.code!r})") from None
    except BaseException as e:  # noqa: BLE001 - whatever the user's factory raises (KeyError, MemoryError, GeneratorExit...)
        raise ConfigError(f"{spec.where('args')}building {_label(spec)} failed{_why(e)}") from None
    model, example = (result if isinstance(result, tuple) and len(result) == 2 else (result, None))
    model = _unwrap(model)
    if isinstance(model, torch.nn.Module) and "_modules" not in vars(model):
        raise ConfigError(f"{spec.where('target')}target: {spec.target} returned a {type(model).__name__} whose "
                          "__init__ never called super().__init__(): it has no submodules or parameters to count")
    if isinstance(model, torch.jit.ScriptModule):
        raise ConfigError(f"{spec.where('target')}target: {spec.target} returned a TorchScript module; "
                          "profiling needs module hooks, which TorchScript does not run: return the eager nn.Module")
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"{spec.where('target')}target: {spec.target} returned {type(model).__name__}, "
                          "not an nn.Module (or (module, example_inputs))")
    if example is not None and (not inputs or not spec.inputs):  # the factory made them: they cost nothing more
        args, kwargs = _split_inputs(_to_device(example, device))
    elif not inputs:
        args, kwargs = (), {}
    elif spec.inputs:
        floats = _float_dtypes(example)  # --input x=SHAPE keeps the dtype of the factory's own x (a bf16 model's)
        kwargs = {name: _input_tensor(spec, name, desc, device, floats.get(name, "float32"))
                  for name, desc in spec.inputs.items()}
        if isinstance(example, dict):  # the factory's defaults, each overridden by name
            kwargs = {**_to_device(example, device), **kwargs}
        args = ()
        if not _accepts_keywords(model, kwargs):  # e.g. nn.Sequential.forward(input): pass in YAML order
            args, kwargs = tuple(kwargs.values()), {}
    else:
        raise ConfigError(f"{spec.source}: inputs: missing; describe the forward's tensors, "
                          "e.g. inputs: {x: {shape: [1, 96, 7], dtype: float32}}, "
                          "or return (model, example_inputs) from the factory")
    return Built(spec, model.eval(), args, kwargs, device, seed=seed)
