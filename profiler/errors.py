"""Errors a user can cause. The CLI prints ``error: <message>`` and exits with code 2."""

from __future__ import annotations

__all__ = [
    "ParamscopeError",
    "ConfigError",
    "ArgumentError",
    "UnknownModel",
    "BackendUnavailable",
    "ForwardFailed",
    "MetaUnsupported",
    "IndexDtype",
    "OutputError",
    "DoesNotFit",
    "TooLarge",
    "TimedOut",
    "gigabytes",
]


class ParamscopeError(Exception):
    """Base class of every error caused by the user's input (exit code 2)."""


class ConfigError(ParamscopeError):
    """A config file, key, value or override is wrong."""


class ArgumentError(ConfigError):
    """A bad value of a library function's argument, named by the parameter (``carry``, ``steps``).

    ``str(e)`` reads ``carry 1.x=memory: <problem>``; the CLI words the same error with its flag
    (``--carry 1.x=memory: <problem>``) through ``worded``.
    """

    def __init__(self, argument: str, value: object, problem: str) -> None:
        self.argument, self.value, self.problem = argument, value, problem
        super().__init__(self.worded(argument))

    def worded(self, name: str) -> str:
        """The message with the argument called ``name`` (e.g. a command-line flag)."""
        return f"{name}: {self.problem}" if self.value is None else f"{name} {self.value}: {self.problem}"


class UnknownModel(ParamscopeError):
    """No zoo family, preset or importable target of that name."""


class BackendUnavailable(ParamscopeError):
    """A counting backend is not installed or cannot run here."""


class ForwardFailed(ParamscopeError):
    """The model's forward pass raised; the message names the submodule."""


class MetaUnsupported(ForwardFailed):
    """An op of the forward cannot run on the meta device (the message names the op and module)."""


class IndexDtype(ForwardFailed):
    """An op that takes integer indices (an embedding, ``gather``, ``x[idx]``) got a float tensor: on
    every device alike, so usually an example input of token ids given without an integer dtype."""


class OutputError(ParamscopeError):
    """The output file cannot be written."""


class DoesNotFit(ConfigError):
    """A model or its inputs need more memory than the device has: refused before allocating.

    ``str(e)`` reads ``c.yaml: needs 336 GB on cpu for weights, buffers and inputs; this machine
    has 25 GB (24 GB available); build it on the meta device``; the CLI words the advice with its
    flag through ``worded``. ``needs`` is in bytes (a lower bound when ``at_least``).
    """

    def __init__(self, where: str, what: str, needs: int, device: str, total: int, available: int,
                 *, at_least: bool = False) -> None:
        self.where, self.what, self.needs, self.device = where, what, needs, device
        self.total, self.available, self.at_least = total, available, at_least
        super().__init__(self.worded("build it on the meta device"))

    def worded(self, advice: str) -> str:
        """The message ending with ``advice`` (e.g. ``use --device meta``)."""
        needs = ("at least " if self.at_least else "") + gigabytes(self.needs)
        return (f"{self.where}needs {needs} on {self.device} for {self.what}; this machine has {gigabytes(self.total)} "
                f"({gigabytes(self.available)} available); {advice}")


class TooLarge(ConfigError):
    """A tensor or a model's weights no device can hold, meta included: their bytes overflow int64."""


class TimedOut(ParamscopeError):
    """Building and measuring one configuration took longer than its limit (``seconds``)."""

    def __init__(self, seconds: float, message: str) -> None:
        self.seconds = seconds
        super().__init__(message)


def gigabytes(n: int) -> str:
    """Bytes as messages word them: ``336 GB``, ``2.5 GB``, ``2.6 MB``."""
    if n < 1e8:
        return f"{n / 1e6:,.1f} MB"
    return f"{n / 1e9:,.0f} GB" if n >= 10e9 else f"{n / 1e9:,.1f} GB"
