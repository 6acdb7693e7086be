"""Errors a user can cause. The CLI prints ``error: <message>`` and exits with code 2."""

from __future__ import annotations

__all__ = [
    "ParamscopeError",
    "ConfigError",
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
