"""Plan precisions and optimizers: closed choices shared by the memory plans."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Precision", "Optimizer", "tensor_bytes"]


class Precision(StrEnum):
    """Storage precision of a plan."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    INT8 = "int8"
    INT4 = "int4"

    @classmethod
    def _missing_(cls, value: object) -> Precision | None:
        """torch's dtype names are accepted too: ``float32``, ``bfloat16``, ``torch.float16``, ``half``."""
        if isinstance(value, str):
            name = value.strip().lower().removeprefix("torch.")
            alias = _ALIASES.get(name, name)
            for member in cls:
                if member.value == alias:
                    return member
        return None

    @property
    def bits(self) -> int:
        """Bits per element (int4 = 4, i.e. half a byte)."""
        return _BITS[self]

    @property
    def is_float(self) -> bool:
        """True for fp32, bf16 and fp16; False for the integer (quantised) precisions."""
        return self in (Precision.FP32, Precision.BF16, Precision.FP16)


_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
            "qint8": "int8", "quint4x2": "int4"}

_BITS: dict[Precision, int] = {
    Precision.FP32: 32, Precision.BF16: 16, Precision.FP16: 16, Precision.INT8: 8, Precision.INT4: 4,
}


class Optimizer(StrEnum):
    """Optimizer of a simulated training step (torch.optim defaults; SGD with momentum 0.9)."""

    SGD = "sgd"
    ADAM = "adam"
    ADAMW = "adamw"


def tensor_bytes(numel: int, precision: Precision) -> int:
    """Bytes of one tensor of ``numel`` elements at ``precision``: ``ceil(numel * bits / 8)``."""
    return (numel * precision.bits + 7) // 8
