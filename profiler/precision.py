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

    @property
    def bits(self) -> int:
        """Bits per element (int4 = 4, i.e. half a byte)."""
        return _BITS[self]

    @property
    def is_float(self) -> bool:
        """True for fp32, bf16 and fp16; False for the integer (quantised) precisions."""
        return self in (Precision.FP32, Precision.BF16, Precision.FP16)


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
