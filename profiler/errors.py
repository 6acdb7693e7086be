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
    "OutputError",
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


class OutputError(ParamscopeError):
    """The output file cannot be written."""
