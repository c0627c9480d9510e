"""Embedding the relay-autoconfig WebAssembly component in Python (PyPI ``wasmtime``).

The component ships inside this package: ``Runtime()`` loads it (``$AUTOCONFIG_COMPONENT``, if
set, points to another ``.wasm`` file).
"""

__version__ = "0.2.0"

from .component import (
    DEFAULT_MAX_MESSAGE_BYTES,
    MAX_SNAPSHOT_BYTES,
    AutoconfigClient,
    BatchSink,
    LogBatchSink,
    Directive,
    EnvironmentParams,
    ExpiringKey,
    Handler,
    IncompatibleComponent,
    InvalidOptions,
    JsonLinesHandler,
    Limits,
    Logger,
    Request,
    Restored,
    RestoreError,
    SnapshotTooLarge,
    Runtime,
    Step,
    StreamClient,
    StreamOptions,
    Trap,
    component_path,
    parse_batch,
    parse_logs,
    split_utf8,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAX_SNAPSHOT_BYTES",
    "AutoconfigClient",
    "BatchSink",
    "LogBatchSink",
    "Directive",
    "EnvironmentParams",
    "ExpiringKey",
    "Handler",
    "IncompatibleComponent",
    "InvalidOptions",
    "JsonLinesHandler",
    "Limits",
    "Logger",
    "Request",
    "Restored",
    "RestoreError",
    "SnapshotTooLarge",
    "Runtime",
    "Step",
    "StreamClient",
    "StreamOptions",
    "Trap",
    "__version__",
    "component_path",
    "parse_batch",
    "parse_logs",
    "split_utf8",
]
