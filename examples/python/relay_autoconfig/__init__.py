"""Embedding the relay-autoconfig WebAssembly component in Python (PyPI ``wasmtime``)."""

from .component import (
    DEFAULT_MAX_MESSAGE_BYTES,
    AutoconfigClient,
    Directive,
    EnvironmentParams,
    ExpiringKey,
    IncompatibleComponent,
    InvalidOptions,
    JsonLinesHandler,
    Limits,
    Request,
    Runtime,
    Step,
    StreamClient,
    StreamOptions,
    Trap,
    component_path,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "AutoconfigClient",
    "Directive",
    "EnvironmentParams",
    "ExpiringKey",
    "IncompatibleComponent",
    "InvalidOptions",
    "JsonLinesHandler",
    "Limits",
    "Request",
    "Runtime",
    "Step",
    "StreamClient",
    "StreamOptions",
    "Trap",
    "component_path",
]
