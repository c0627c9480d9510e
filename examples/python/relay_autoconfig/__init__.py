"""Embedding the relay-autoconfig WebAssembly component in Python (PyPI ``wasmtime``)."""

from .component import (
    DEFAULT_MAX_MESSAGE_BYTES,
    AutoconfigClient,
    Directive,
    EnvironmentParams,
    ExpiringKey,
    JsonLinesHandler,
    Limits,
    Runtime,
    Trap,
    component_path,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "AutoconfigClient",
    "Directive",
    "EnvironmentParams",
    "ExpiringKey",
    "JsonLinesHandler",
    "Limits",
    "Runtime",
    "Trap",
    "component_path",
]
