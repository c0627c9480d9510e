"""The relay-autoconfig component in Python, on PyPI ``wasmtime`` 50's native component API.

The very same ``.wasm`` the Rust host runs is loaded with ``wasmtime.component.Component``; the
two imports (``wasi:logging/logging`` and ``relay:autoconfig/handler``) are Python functions. The
component imports no WASI cli/io/clocks interfaces, so no ``add_wasip2()`` is needed.

Two clients over one component, each on its own instance:

- ``StreamClient`` (the ``stream-client`` export): the whole auto-configuration client, sans-IO. The
  host opens the requests it asks for and reports statuses, body bytes, ends and timeouts.
- ``AutoconfigClient`` (the ``client`` export): for hosts with their own SSE stack, which feed
  every event to ``on_event``.

Callbacks come one of two ways. By default each is a call into a ``Handler`` method, with its
record lifted into a dataclass. With ``batch=`` (a function taking a ``str``) the component's
``batch`` export is switched on instead: a call's callbacks come back as one string of JSON lines
(exactly the lines ``autoconfig-host`` prints), passed to that function once per call, before the
call returns; the ``Handler`` then only gets ``log`` (and ``reset``). Much faster on wasmtime-py,
which builds Python objects for every record it lifts: see ``AutoconfigClient``. Log lines too
can come batched, once per call (``batch_logs=``), and ``StreamClient.on_body`` passes body
bytes as text where they are UTF-8.

The state can be kept across restarts: ``snapshot()`` gives it as bytes (the component's ``state``
export) and ``restore(data)`` brings it back into a fresh client, silently or announcing every
environment.

Every call runs with a fuel budget (1e9 + 4,000 per byte of event data, body or snapshot, as in
the Rust host; ``Limits(metering="off")`` turns metering off) and the store has a memory limit (512 MiB),
so a runaway guest traps instead of hanging the process. Arguments are checked in Python before
any call: a wrong type raises ``TypeError``, a value out of range ``ValueError``, and the
instance and its state are left as they were. (``Limits(metering=...)`` raises ``ValueError``
for anything but ``"fuel"`` or ``"off"``, whatever its type.)
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import ctypes
import dataclasses
import functools
import importlib.resources
import itertools
import json
import os
import reprlib
import secrets
import struct
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, TypeVar, Union

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime.component import Component, Linker, Record
from wasmtime.component._types import ListType
from wasmtime.component._types import OptionType as _OptionType
from wasmtime.component._types import String as _String
from wasmtime.component._types import U64 as _U64
from wasmtime.component import _enter
from wasmtime.component._enter import enter_wasm

#: The default limit on event data (16 MiB), the same as the component's.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

#: The component's file name inside the package: the wheel ships it there (pyproject.toml).
PACKAGED_COMPONENT = "relay_autoconfig.wasm"

CLIENT = "relay:autoconfig/client@0.2.0"
STREAM = "relay:autoconfig/stream-client@0.2.0"
HANDLER = "relay:autoconfig/handler@0.2.0"
BATCH = "relay:autoconfig/batch@0.2.0"
STATE = "relay:autoconfig/state@0.2.0"
LOGGING = "wasi:logging/logging@0.1.0-draft"

#: The `wasi:logging` levels, least severe first.
LEVELS = ("trace", "debug", "info", "warn", "error", "critical")

U16_MAX = (1 << 16) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1

#: The largest snapshot ``snapshot()`` can return on wasmtime-py 50 (2,796,202 bytes): wasmtime
#: lifts a ``list<u8>`` result into one 48-byte value per byte and lets a call lift 128 MiB of
#: values at most (its "hostcall fuel", which the C API cannot change). A larger one traps.
MAX_SNAPSHOT_BYTES = (128 << 20) // 48

#: The largest snapshot ``restore`` copies into the component (16 MiB, about 60,000
#: environments): wasmtime-py's C API takes a ``list<u8>`` argument as one 48-byte value per
#: byte, and wasmtime converts it again, about 77 bytes of host memory per snapshot byte (1.2 GB
#: at this limit, far more than the component itself needs). A larger one is refused with
#: ``RestoreError`` before anything is copied.
MAX_RESTORE_BYTES = 16 << 20

#: The first bytes of every snapshot (``types/src/snapshot.rs``), and its header's size.
_SNAPSHOT_MAGIC = b"RACSNAP\n"
_SNAPSHOT_HEADER = 24

_PARSED_EVENTS = frozenset(("put", "patch", "delete"))

BytesLike = Union[bytes, bytearray, memoryview]


_extracted = contextlib.ExitStack()  # a component extracted from a zipped package, kept until exit
atexit.register(_extracted.close)


def packaged_component() -> Optional[Path]:
    """The component inside the installed package (found with ``importlib.resources``), or
    None when the package has none (a source checkout)."""
    ref = importlib.resources.files(__package__ or "relay_autoconfig").joinpath(PACKAGED_COMPONENT)
    if not ref.is_file():
        return None
    if isinstance(ref, Path):
        return ref
    return _extracted.enter_context(importlib.resources.as_file(ref))  # not on the file system


def _checkout_component() -> Optional[Path]:
    """In a source checkout of the repository only (``pyproject.toml`` beside the package, as in
    ``examples/python``, never in an installed package): the component the repository built."""
    package = Path(__file__).resolve().parent
    if not (package.parent / "pyproject.toml").is_file():
        return None
    root = package.parents[2]
    for built in ("target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm", "dist/relay_autoconfig.wasm"):
        if (root / built).is_file():
            return root / built
    return None


def component_path() -> Path:
    """The component ``Runtime()`` loads: ``$AUTOCONFIG_COMPONENT`` if set, else the one inside the
    package (what a wheel installs), else, in a source checkout, the one the repository built
    (``cargo build -p autoconfig-host`` or ``make component``)."""
    env = os.environ.get("AUTOCONFIG_COMPONENT")
    if env:
        return Path(env)
    found = packaged_component() or _checkout_component()
    return found if found is not None else Path(__file__).resolve().parent / PACKAGED_COMPONENT


# ---- argument checks: wasmtime-py would wrap a negative u64 silently or fail mid-call ----


def _uint(value: Any, name: str, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be between 0 and {maximum}, got {value}")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{name} is not valid Unicode ({e.reason} at index {e.start})") from None
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _opt_str(value: Any, name: str) -> Optional[str]:
    return None if value is None else _str(value, name)


def _level(value: Any) -> str:
    level = _str(value, "log_level")
    if level not in LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level


def _bytes(value: Any, name: str) -> Union[bytes, bytearray]:
    if type(value) in (bytes, bytearray):
        return value  # type: ignore[no-any-return]
    if isinstance(value, (bytes, bytearray, memoryview)):
        # A subclass's own bytes, whatever it overrides (``__len__``...), or a view's.
        return memoryview(value).tobytes()
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


# ---- the engine and the compiled component ----


@dataclass(frozen=True)
class Limits:
    """Resource limits of each instance (the Rust host's defaults).

    ``metering`` is ``"fuel"`` (the default: every call gets a fuel budget and traps when it is
    spent) or ``"off"`` (the engine compiles code that does not count: faster, but then nothing
    but a watchdog of your own stops a call that never ends; the memory limit still applies and
    the ``fuel_*`` fields are ignored), like ``Metering`` in the Rust host. Read when the
    ``Runtime`` compiles the component."""

    max_memory_bytes: int = 512 << 20
    fuel_per_call: int = 1_000_000_000
    fuel_per_byte: int = 4_000
    metering: str = "fuel"

    def __post_init__(self) -> None:
        if self.metering not in ("fuel", "off"):
            shown = " ".join(reprlib.repr(self.metering).split())[:40]
            raise ValueError(f"Limits.metering must be 'fuel' or 'off', not {shown}")

    @property
    def metered(self) -> bool:
        """Whether calls run on a fuel budget."""
        return self.metering == "fuel"

    def fuel_for(self, data_len: int) -> int:
        return self.fuel_per_call + self.fuel_per_byte * data_len


class Runtime:
    """The engine and the compiled component: compile once, then create many clients."""

    def __init__(self, path: Optional[Union[os.PathLike[str], str]] = None, limits: Limits = Limits()) -> None:
        """Compiles the component at ``path``; by default ``component_path()``: the one
        inside the package, or ``$AUTOCONFIG_COMPONENT``."""
        path = Path(path) if path is not None else component_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"component not found: {path} (set AUTOCONFIG_COMPONENT to the .wasm file; in a "
                "source checkout, build it with `make component` or `cargo build -p autoconfig-host`)"
            )
        config = wasmtime.Config()
        config.consume_fuel = limits.metered
        self.engine = wasmtime.Engine(config)
        self.component = Component.from_file(self.engine, str(path))
        self._limits = limits
        self.path = path

    @property
    def limits(self) -> Limits:
        """The limits of every call from now on. Assigning new ones changes the budgets and
        the memory limit of later calls; their ``metering`` must be the one this runtime was
        compiled with (``ValueError`` otherwise, and the limits stay as they were)."""
        return self._limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        if not isinstance(limits, Limits):
            raise TypeError(f"Runtime.limits must be a Limits, not {type(limits).__name__:.40}")
        if limits.metering != self._limits.metering:
            raise ValueError(
                f"Runtime.limits: this runtime was compiled with metering={self._limits.metering!r}; "
                f"metering={limits.metering!r} needs a new Runtime"
            )
        self._limits = limits

    def imports(self) -> list[str]:
        return list(self.component.type.imports(self.engine).keys())

    def exports(self) -> list[str]:
        return list(self.component.type.exports(self.engine).keys())


# ---- the values that cross the boundary ----


class Handler(Protocol):
    """The proxy's side: called synchronously from inside the component's calls."""

    def add_environment(self, params: EnvironmentParams) -> None: ...
    def update_environment(self, params: EnvironmentParams) -> None: ...
    def delete_environment(self, env_id: str) -> None: ...
    def received_all_environments(self) -> None: ...
    def key_expired(self, env_id: str, old_key: str) -> None: ...
    def log(self, level: str, message: str) -> None: ...


#: The handler methods the component calls in per-callback mode.
_CALLBACKS = ("add_environment", "update_environment", "delete_environment", "received_all_environments", "key_expired")


class Logger(Protocol):
    """All a handler needs in batched mode: ``log`` (and, optionally, ``reset()``, called when a
    trap lost the state, as in per-callback mode)."""

    def log(self, level: str, message: str) -> None: ...


#: Receives one call's callbacks as JSON lines (see ``AutoconfigClient``): one non-empty string
#: per call that made callbacks, every line ending with ``"\n"``.
BatchSink = Callable[[str], None]


def parse_batch(text: str) -> list[dict[str, Any]]:
    """The callbacks of a batch as dicts, one per line, in order: ``{"op": "add", "env": {...}}``
    (the env with its camelCase JSON names, as in the line), ``{"op": "update", ...}``,
    ``{"op": "delete", "envId": ...}``, ``{"op": "ready"}``, ``{"op": "key-expired", "envId":
    ..., "oldKey": ...}``. Lines end with ``"\\n"`` only: a name may hold U+2028, U+0085 and other
    characters that ``str.splitlines`` would also cut at."""
    return [json.loads(line) for line in text.split("\n") if line]


#: Receives one call's log lines (see ``batch_logs=``): one non-empty string per call that
#: logged, every line ``LEVEL MESSAGE\n`` (LEVEL ``debug``, ``info``, ``warn`` or ``error``).
LogBatchSink = Callable[[str], None]

#: The levels a batched log line can start with.
LOG_LINE_LEVELS = ("debug", "info", "warn", "error")


def parse_logs(text: str) -> list[tuple[str, str]]:
    """The log lines of a batch (``batch.take-logs``: ``LEVEL MESSAGE`` per line) as (level,
    message) pairs, in order. A line break inside a message stays written as the two characters
    ``\\n`` (as the component wrote it). Raises ``ValueError`` on a line without a known level."""
    out = []
    for line in text.split("\n"):
        if not line:
            continue
        level, _, message = line.partition(" ")
        if level not in LOG_LINE_LEVELS:
            raise ValueError(f"a batched log line has no level: {line[:80]!r}")
        out.append((level, message))
    return out


_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


def split_utf8(data: bytes) -> tuple[Optional[str], bytes]:
    """``data`` (body bytes) cut after its last whole UTF-8 character: ``(text, tail)``, where
    ``text`` is every whole character and ``tail`` the incomplete character ``data`` ends with
    (at most 3 bytes, to be put in front of the next chunk), or ``(None, b"")`` when ``data``
    holds bytes that can never be UTF-8 (send them as bytes). A tail that could never become
    valid (say a surrogate's first two bytes) is still held back as a tail: it reaches the
    component unchanged with the next chunk or at the close, as bytes. The same strict UTF-8 as the
    component's (no surrogates, no overlong forms, nothing over U+10FFFF), so ``text`` encodes
    back to exactly ``data[:len(data) - len(tail)]``."""
    decoder = _Utf8Decoder("strict")
    try:
        text = decoder.decode(data, False)
    except UnicodeDecodeError:
        return None, b""
    return text, decoder.getstate()[0]


# The WIT records the handler gets, as dataclasses: the WIT fields in WIT order, their names in
# snake_case. Lifting (``_from_record``) and the JSON form (``_json_form``) go by these
# declarations alone, field by field: no other list of fields is kept.


@dataclass(frozen=True)
class ExpiringKey:
    """The WIT ``expiring-key``: an old SDK key that stays valid until ``expires_at``."""

    #: The old SDK key.
    key: str
    #: When it stops being valid (ms since the Unix epoch); None when the stream gave no expiry.
    expires_at: Optional[int]


@dataclass(frozen=True)
class EnvironmentParams:
    """The WIT ``environment-params``: everything the proxy needs to serve one environment."""

    env_id: str
    env_key: str
    env_name: str
    project_key: str
    project_name: str
    sdk_key: str
    mobile_key: str
    #: The previous SDK key while it is still valid, or None.
    expiring_sdk_key: Optional[ExpiringKey]
    default_ttl_minutes: int
    secure_mode: bool
    version: int

    @staticmethod
    def from_record(r: Record) -> "EnvironmentParams":
        """The dataclass of a wasmtime ``Record`` (attributes with the WIT kebab-case names)."""
        return _from_record(EnvironmentParams, r)


_D = TypeVar("_D")


@functools.cache
def _record_fields(cls: type) -> tuple[tuple[str, str, Optional[type]], ...]:
    """(snake_case name, WIT name, nested dataclass or None) of each field of a record dataclass."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        nested = next(
            (t for t in (hint, *typing.get_args(hint)) if isinstance(t, type) and dataclasses.is_dataclass(t)),
            None,
        )
        out.append((f.name, f.name.replace("_", "-"), nested))
    return tuple(out)


def _from_record(cls: type[_D], r: Any) -> _D:
    """Lifts a wasmtime ``Record`` into the dataclass ``cls``, field by field (WIT name: the
    field's name in kebab-case), nested records too. The record must have exactly those fields."""
    fields = _record_fields(typing.cast(type, cls))
    got = vars(r)
    if len(got) != len(fields) or any(wit not in got for _, wit, _ in fields):
        raise TypeError(
            f"the component's record has the fields {sorted(got)}, {cls.__name__} expects "
            f"{sorted(wit for _, wit, _ in fields)} (a component built from another WIT?)"
        )
    values = {}
    for name, wit, nested in fields:
        v = got[wit]
        values[name] = v if nested is None or v is None else _from_record(nested, v)
    return cls(**values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


@functools.cache
def _json_names(cls: type) -> tuple[tuple[str, str], ...]:
    """(attribute, JSON name: the attribute in camelCase) of each field of a record dataclass."""
    return tuple((f.name, _camel(f.name)) for f in dataclasses.fields(cls))


def _json_form(value: Any) -> Any:
    """A record dataclass as a dict with the camelCase names, in field order (nested records too);
    anything else as is (None is JSON null)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _json_form(getattr(value, attr)) for attr, key in _json_names(type(value))}
    return value


@dataclass(frozen=True)
class Directive:
    #: None, "reconnect-requested" or "malformed-data".
    restart: Optional[str]
    #: When ``tick`` is next needed (ms since the Unix epoch), or None.
    next_deadline: Optional[int]


@dataclass(frozen=True)
class StreamOptions:
    """How the stream client connects (the WIT ``stream-options``; ``start`` validates it)."""

    #: The auto-configuration key, sent raw in ``Authorization``.
    key: str
    #: The stream base URI; ``/relay_auto_config`` is appended.
    stream_uri: str = "https://stream.launchdarkly.com"
    #: The first reconnect delay (doubles to 30 s, each wait cut by a random 0-50 %).
    initial_retry_delay_ms: int = 1000
    #: Reconnect when no byte arrives for this long; 0 is refused.
    read_timeout_ms: int = 300_000
    #: Seeds the reconnect jitter: random by default, give a fixed one in tests.
    jitter_seed: int = field(default_factory=lambda: secrets.randbits(64))
    #: Resume from this event id (sent as ``Last-Event-ID``).
    last_event_id: Optional[str] = None
    #: Component replacements after a trap so far: more makes the first connection wait.
    prior_failures: int = 0

    def to_record(self) -> Record:
        """The checked WIT record (raises ``TypeError``/``ValueError`` on a bad field)."""
        r = Record()
        setattr(r, "key", _str(self.key, "options.key"))
        setattr(r, "stream-uri", _str(self.stream_uri, "options.stream_uri"))
        setattr(r, "initial-retry-delay-ms", _uint(self.initial_retry_delay_ms, "options.initial_retry_delay_ms", U64_MAX))
        setattr(r, "read-timeout-ms", _uint(self.read_timeout_ms, "options.read_timeout_ms", U64_MAX))
        setattr(r, "jitter-seed", _uint(self.jitter_seed, "options.jitter_seed", U64_MAX))
        setattr(r, "last-event-id", _opt_str(self.last_event_id, "options.last_event_id"))
        setattr(r, "prior-failures", _uint(self.prior_failures, "options.prior_failures", U32_MAX))
        return r


@dataclass(frozen=True)
class Request:
    """A request to open: ``GET url`` with exactly these headers, in this order."""

    url: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Step:
    """What the host must do after a stream call, in field order."""

    #: Close the current connection.
    disconnect: bool
    #: Open this request (after the disconnect, if any).
    connect: Optional[Request]
    #: None, or "invalid-key": stop for good.
    stop: Optional[str]
    #: When to call ``on_timeout`` next (ms since the Unix epoch), or None.
    next_deadline: Optional[int]
    #: The stream's last event id when this call changed it ("" when cleared), else None. Keep
    #: the latest: after a trap, pass it as ``StreamOptions.last_event_id`` to resume there.
    last_event_id: Optional[str] = None

    @staticmethod
    def from_record(r: Record) -> "Step":
        c = getattr(r, "connect")
        return Step(
            disconnect=getattr(r, "disconnect"),
            connect=None if c is None else Request(c.url, tuple((h[0], h[1]) for h in c.headers)),
            stop=getattr(r, "stop"),
            next_deadline=getattr(r, "next-deadline"),
            last_event_id=getattr(r, "last-event-id"),
        )


@dataclass(frozen=True)
class Restored:
    """The WIT ``restored``: what ``restore`` brought back."""

    #: Live environments.
    environments: int
    #: Remembered deletions (tombstones).
    tombstones: int
    #: Expiring keys whose ``key_expired`` is still to come.
    pending_expiries: int
    #: When ``tick`` / ``on_timeout`` is next needed (ms since the Unix epoch), or None.
    next_deadline: Optional[int]
    #: The snapshot's last event id, or None: a ``StreamClient`` restored before its first
    #: ``start`` resumes from it when the options give none (a started one keeps its own).
    last_event_id: Optional[str]


def _check_snapshot_header(data: Union[bytes, bytearray]) -> None:
    """Refuses, with the component's own words, what the component would refuse at its first
    bytes (``types/src/snapshot.rs``: not a snapshot, or not as long as its header says), and
    anything over ``MAX_RESTORE_BYTES``; the rest (version, checksum, content) is the
    component's to check."""
    if len(data) > MAX_RESTORE_BYTES:
        raise RestoreError(f"the snapshot is {len(data):,} bytes, over the limit of {MAX_RESTORE_BYTES:,}")
    if len(data) < _SNAPSHOT_HEADER:
        return  # small: the component says what is wrong with it
    if bytes(data[:8]) != _SNAPSHOT_MAGIC:
        raise RestoreError("not a relay-autoconfig snapshot (it does not start with the RACSNAP magic bytes)")
    (version, length) = struct.unpack_from("<IQ", data, 8)
    if version == 0:
        raise RestoreError("the snapshot is corrupt: format version 0")
    payload = len(data) - _SNAPSHOT_HEADER
    if payload < length:
        raise RestoreError(f"the snapshot is truncated: {len(data)} bytes of {_SNAPSHOT_HEADER + length}")
    if payload > length:
        raise RestoreError("the snapshot is corrupt: bytes follow the payload")


class Trap(Exception):
    """The guest trapped (or a handler raised); the instance and its state are gone."""


class IncompatibleComponent(Exception):
    """The component does not export what this client needs (an older or foreign build)."""


class InvalidOptions(ValueError):
    """``StreamClient.start`` refused the options; the message names the option."""


class SnapshotTooLarge(ValueError):
    """``snapshot`` refused to take a snapshot larger than ``MAX_SNAPSHOT_BYTES``, which
    wasmtime-py cannot return (it would lose the instance): nothing changed, the state and the
    instance are kept. The Rust host library and the Node.js package have no such limit."""


class RestoreError(ValueError):
    """``restore`` refused the snapshot (truncated, corrupted, foreign, of a newer format
    version, inconsistent, or larger than the memory limit); the message says which. The state
    is unchanged, no callback was made and the instance is kept."""


#: The default limit on remembered deletions, as in the component.
DEFAULT_MAX_TOMBSTONES = 100_000
#: The default limit on the estimated state size (192 MiB), as in the component.
DEFAULT_MAX_STATE_BYTES = 192 * 1024 * 1024


def _settings_record(
    max_message_bytes: int,
    log_level: str,
    max_tombstones: int = DEFAULT_MAX_TOMBSTONES,
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES,
) -> Record:
    r = Record()
    setattr(r, "max-message-bytes", max_message_bytes)
    setattr(r, "log-level", log_level)
    setattr(r, "max-tombstones", max_tombstones)
    setattr(r, "max-state-bytes", max_state_bytes)
    return r


# ---- a fast path for list<u8> arguments ----
# wasmtime-py lowers a list<u8> with Python calls per byte (about 0.75 s per MiB). The C API
# wants an array of `wasmtime_component_val_t`, each {kind: u8, of: union}: fill the fresh array
# with two strided slice assignments instead. The layout comes from wasmtime-py's own ctypes
# definitions; if it ever is not what this expects, the normal (slow) path is used. It is taken
# for `state.restore`'s snapshot, and for body bytes: these normally go in as text
# (`on-body-text`, a string is copied at C speed), so only bytes that are not UTF-8 and
# `StreamClient(body_text=False)` come this way, and a server sending such bytes cannot make the
# host spend 0.75 s per MiB outside the fuel budget.

_VAL: Any = ffi.wasmtime_component_val_t
_UNION: Any = ffi.wasmtime_component_valunion_t
_VAL_SIZE = ctypes.sizeof(_VAL)
_KIND_OFFSET = _VAL.kind.offset
_U8_OFFSET = _VAL.of.offset + _UNION.u8.offset
_U8_KIND = ffi.WASMTIME_COMPONENT_U8.value
_FAST_BYTES = (
    ctypes.sizeof(ffi.wasmtime_component_valkind_t) == 1
    and _UNION.u8.size == 1
    and _KIND_OFFSET + 1 <= _U8_OFFSET < _VAL_SIZE
)


def _array_view(items: Any) -> memoryview:
    """The C array of a ``wasmtime_component_vallist_t`` holding at least one value, as a
    writable byte view of exactly its ``size`` values."""
    size = items.size * _VAL_SIZE
    return memoryview((ctypes.c_char * size).from_address(ctypes.addressof(items.data.contents))).cast("B")


def _lower_bytes(data: BytesLike, out: Any) -> None:
    """Stores ``data`` as a component ``list<u8>`` value into ``out`` (a ``wasmtime_component_val_t``)."""
    n = len(data)
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, n)
    if n:
        ctypes.memset(raw.data, 0, n * _VAL_SIZE)
        view = _array_view(raw)
        view[_KIND_OFFSET::_VAL_SIZE] = bytes((_U8_KIND,)) * n
        view[_U8_OFFSET::_VAL_SIZE] = data
    out.kind = ffi.WASMTIME_COMPONENT_LIST
    out.of.list = raw


# ---- a fast path for results ----
# wasmtime-py lifts a result record after asking the C API for the type of each field (about
# 60 µs for a `step`, most of a call's fixed cost). The C values carry their own kinds, which
# is all it takes for the shapes below (records, options, enums, strings, integers, bools,
# lists and tuples of those): `_lift` builds the same Python values wasmtime-py would. It is
# used only for result types checked once per instance (`_is_step`: the `step` record, whose
# one list, the headers, is never a list<u8>; the `directive` record; `string`; `option<u64>`;
# `list<u8>`); anything else, or any value of another shape, goes to wasmtime-py.
# A list<u8> (`state.snapshot`) is read with one strided slice of its C array, as `_lower_bytes`
# writes one: wasmtime-py calls Python per byte (about 0.65 µs each: 1.8 s for 2.7 MB).

_K = {name: getattr(ffi, f"WASMTIME_COMPONENT_{name}").value for name in (
    "BOOL", "S8", "U8", "S16", "U16", "S32", "U32", "S64", "U64", "STRING", "LIST", "RECORD", "TUPLE", "ENUM", "OPTION")}
_INT_FIELDS = {_K[k]: k.lower() for k in ("S8", "S16", "U16", "S32", "U32", "S64", "U64")}
_STEP_FIELDS = ("disconnect", "connect", "stop", "next-deadline", "last-event-id")
_DIRECTIVE_FIELDS = ("restart", "next-deadline")


class _Unsupported(Exception):
    pass


def _lift(v: Any) -> Any:
    k = v.kind
    if k == _K["BOOL"]:
        return bool(v.of.boolean)
    if k in _INT_FIELDS:
        return getattr(v.of, _INT_FIELDS[k])
    if k == _K["STRING"]:
        return ffi.to_str(v.of.string)
    if k == _K["ENUM"]:
        return ffi.to_str(v.of.enumeration)
    if k == _K["OPTION"]:
        p = v.of.option
        if not p:
            return None
        if p.contents.kind == _K["OPTION"]:  # wasmtime-py wraps nested options
            raise _Unsupported()
        return _lift(p.contents)
    if k == _K["RECORD"]:
        r = Record()
        rec = v.of.record
        for i in range(rec.size):
            e = rec.data[i]
            setattr(r, ffi.to_str(e.name), _lift(e.val))
        return r
    if k == _K["TUPLE"]:
        t = v.of.tuple
        return tuple(_lift(t.data[i]) for i in range(t.size))
    if k == _K["LIST"]:
        items = v.of.list
        if items.size and items.data[0].kind == _K["U8"]:
            return _lift_bytes(items)  # (wasmtime-py gives bytes)
        return [_lift(items.data[i]) for i in range(items.size)]
    raise _Unsupported()


def _lift_bytes(items: Any) -> bytes:
    """The bytes of a ``list<u8>`` value's C array (``items``: a ``wasmtime_component_vallist_t``
    of at least one value): one strided slice of the array, after checking that every value is
    a u8. Reads only the ``size`` values the C API returned, before they are freed."""
    if not _FAST_BYTES:
        raise _Unsupported()
    view = _array_view(items)
    if view[_KIND_OFFSET::_VAL_SIZE].tobytes() != bytes((_U8_KIND,)) * items.size:
        raise _Unsupported()
    return view[_U8_OFFSET::_VAL_SIZE].tobytes()


def _is_step(ty: Any) -> bool:
    """Whether a result type is one ``_lift`` is used for (checked once per instance): the WIT
    ``step`` or ``directive`` record, a ``string`` (``batch.take``), an ``option<u64>``
    (``client.tick``) or a ``list<u8>`` (``state.snapshot``)."""
    if isinstance(ty, _String):
        return True
    if isinstance(ty, ListType):
        return ty._is_bytes()
    if isinstance(ty, _OptionType):
        return isinstance(ty.payload, _U64)
    try:
        return tuple(name for name, _ in ty.fields) in (_STEP_FIELDS, _DIRECTIVE_FIELDS)
    except Exception:
        return False


def _call_lifted(func: Any, store: wasmtime.Store, fty: Any, args: tuple[Any, ...]) -> Any:
    """``func(store, *args)``, its result lifted by ``_lift`` (``fty``: its type, whose result
    ``_is_step`` accepted); the arguments are lowered by wasmtime-py."""
    param_tys = fty.params
    if len(param_tys) != len(args):
        return func(store, *args)
    params = (_VAL * max(1, len(param_tys)))()
    n = 0
    try:
        for (_name, ty), val in zip(param_tys, args):
            ty.convert_to_c(store, val, ctypes.pointer(params[n]))
            n += 1
        result = _VAL()
        enter_wasm(
            lambda: ffi.wasmtime_component_func_call(
                ctypes.byref(func._func), store._context(), params, n, ctypes.byref(result), 1
            )
        )
        try:
            lifted = _lift(result)
        except _Unsupported:
            return fty.result.convert_from_c(result)  # (frees it)
        ffi.wasmtime_component_val_delete(ctypes.byref(result))
        return lifted
    finally:
        for i in range(n):
            ffi.wasmtime_component_val_delete(ctypes.byref(params[i]))


def _call_bytes_first(
    func: Any, store: wasmtime.Store, data: BytesLike, *rest: Any, fty: Any = None, step_result: bool = False,
) -> Any:
    """``func(store, bytes(data), *rest)`` with the fast ``list<u8>`` lowering; ``fty``: the
    function's type, if known; ``step_result``: its result type is the ``step`` record (lifted
    by ``_lift``)."""
    fty = func.type(store) if fty is None else fty
    param_tys = fty.params
    first = param_tys[0][1] if param_tys else None
    if not (_FAST_BYTES and isinstance(first, ListType) and first._is_bytes() and len(param_tys) == 1 + len(rest)):
        return func(store, bytes(data), *rest)
    params = (_VAL * len(param_tys))()
    n = 0
    try:
        _lower_bytes(data, params[0])
        n = 1
        for (_name, ty), val in zip(param_tys[1:], rest):
            ty.convert_to_c(store, val, ctypes.pointer(params[n]))
            n += 1
        result = _VAL()
        enter_wasm(
            lambda: ffi.wasmtime_component_func_call(
                ctypes.byref(func._func), store._context(), params, n, ctypes.byref(result), 1
            )
        )
        if step_result:
            try:
                lifted = _lift(result)
            except _Unsupported:
                pass
            else:
                ffi.wasmtime_component_val_delete(ctypes.byref(result))
                return lifted
        return fty.result.convert_from_c(result)  # (frees it)
    finally:
        for i in range(n):
            ffi.wasmtime_component_val_delete(ctypes.byref(params[i]))


# ---- a fast path for the wasi:logging import ----
# wasmtime-py lifts the arguments of every import call by asking the C API for the function's
# type and each parameter's type first (tens of microseconds a call). Without batched logs
# (``batch_logs=``) the component logs a line per environment at info, so a put of 10,000 makes
# 10,000 such calls. `log(level: enum, context: string, message: string)` has a fixed shape: this
# callback reads the three values straight from the C array the call passed in (one
# ``ctypes.string_at`` of the array, one of each string: bounded reads of what the C API handed
# over, during the call). Anything not of that shape (another component) goes through
# wasmtime-py's own generic callback instead. With batched logs only a panic message comes
# this way.

_ENUM_KIND = ffi.WASMTIME_COMPONENT_ENUM.value
_STRING_KIND = ffi.WASMTIME_COMPONENT_STRING.value
_LOGGERS: dict[int, Callable[[str, str], None]] = {}
_LOGGER_IDS = itertools.count(1)
# Where a value's kind and its string (or enum name), a {size, data pointer} pair, are.
_NAME_OFFSET = _VAL.of.offset + _UNION.string.offset
_PAIR = struct.Struct("=" + {4: "I", 8: "Q"}.get(ctypes.sizeof(ctypes.c_size_t), "Q") * 2)
_LOG_LAYOUT_OK = (
    ctypes.sizeof(ffi.wasmtime_component_valkind_t) == 1
    and _UNION.enumeration.offset == _UNION.string.offset
    and ffi.wasm_byte_vec_t.size.offset == 0
    and ffi.wasm_byte_vec_t.data.offset == ctypes.sizeof(ctypes.c_size_t) == ctypes.sizeof(ctypes.c_void_p)
    and _NAME_OFFSET + _PAIR.size <= _VAL_SIZE
)


def _c_str(size: int, ptr: int) -> str:
    return ctypes.string_at(ptr, size).decode("utf-8") if size else ""


def _fast_log_impl(idx: Optional[int], context: Any, ty_raw: Any, args: Optional[int], nargs: int,
                   results: Any, nresults: int) -> int:
    # Pointers arrive as plain ints (c_void_p): no ctypes object per argument.
    try:
        if nargs == 3 and nresults == 0 and args:
            vals = ctypes.string_at(args, 3 * _VAL_SIZE)
            m = 2 * _VAL_SIZE
            if vals[0] == _ENUM_KIND and vals[m] == _STRING_KIND:
                _LOGGERS[idx or 0](
                    _c_str(*_PAIR.unpack_from(vals, _NAME_OFFSET)),
                    _c_str(*_PAIR.unpack_from(vals, m + _NAME_OFFSET)),
                )
                return 0
        # Not the shape of wasi:logging's log: wasmtime-py's generic path (it raises on a mismatch).
        return int(_linker_mod.func_impl(
            idx, ctypes.cast(context, ctypes.POINTER(ffi.wasmtime_context_t)),
            ctypes.cast(ty_raw, ctypes.POINTER(ffi.wasmtime_component_func_type_t)),
            ctypes.cast(args, ctypes.POINTER(_VAL)), nargs, ctypes.cast(results, ctypes.POINTER(_VAL)), nresults,
        ) or 0)
    except Exception as e:  # the handler raised: a trap, reported as wasmtime-py reports it
        _enter.LAST_EXCEPTION = e
        return ctypes.cast(wasmtime.WasmtimeError("python exception")._consume(), ctypes.c_void_p).value or 0


def _fast_log_finalize(idx: Optional[int]) -> None:
    _LOGGERS.pop(idx or 0, None)


try:
    from wasmtime.component import _linker as _linker_mod

    _V = ctypes.c_void_p
    _FAST_LOG_FN: Any = ctypes.CFUNCTYPE(ctypes.c_size_t, _V, _V, _V, _V, ctypes.c_size_t, _V, ctypes.c_size_t)(
        _fast_log_impl
    )
    _FAST_LOG_CB: Any = ctypes.cast(_FAST_LOG_FN, ffi.wasmtime_component_func_callback_t)
    _FAST_LOG_FINALIZE: Any = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_fast_log_finalize)
    _FAST_LOG = (
        _LOG_LAYOUT_OK
        and callable(getattr(_linker_mod, "func_impl", None))
        and callable(getattr(ffi, "wasmtime_component_linker_instance_add_func", None))
    )
except (AttributeError, ImportError, TypeError):  # another wasmtime-py: the generic path
    _FAST_LOG = False


def _add_log_func(instance: Any, log: Callable[[str, str], None]) -> None:
    """Links ``log(level, message)`` as ``wasi:logging``'s ``log`` into the linker ``instance``."""
    if not _FAST_LOG:
        instance.add_func("log", lambda _s, level, _context, message: log(level, message))
        return
    instance._assert_not_locked()
    name = b"log"
    idx = next(_LOGGER_IDS)
    _LOGGERS[idx] = log
    err = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(name), len(name), _FAST_LOG_CB, idx, _FAST_LOG_FINALIZE
    )
    if err:
        _LOGGERS.pop(idx, None)
        raise wasmtime.WasmtimeError._from_ptr(err)


# ---- one instance of the component ----


class _Instance:
    """An instance of the component with its handler, settings, fuel and memory limits. After a
    trap the instance is dropped; the next call starts a fresh one (same handler and settings)
    with empty state."""

    #: (interface, function names) this client needs, besides ``client.configure``.
    _EXPORTS: tuple[str, tuple[str, ...]] = (CLIENT, ())
    #: Functions of that interface it uses when the component has them.
    _OPTIONAL: tuple[str, ...] = ()
    #: The ``state`` functions: ``snapshot`` and ``restore`` raise ``IncompatibleComponent``
    #: without them (an older build); nothing else needs them.
    _STATE = ("snapshot", "restore", "snapshot-size")

    def __init__(
        self,
        runtime: Runtime,
        handler: Union[Handler, Logger],
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        log_level: str = "debug",
        *,
        batch: Optional[BatchSink] = None,
        batch_logs: Union[bool, LogBatchSink] = False,
    ):
        self.runtime = runtime
        self.handler = handler
        if batch is not None and not callable(batch):
            raise TypeError(f"batch must be a function taking a str, not {type(batch).__name__}")
        if not isinstance(batch_logs, bool) and not callable(batch_logs):
            raise TypeError(f"batch_logs must be a bool or a function taking a str, not {type(batch_logs).__name__}")
        needed = ("log",) if batch is not None else _CALLBACKS + ("log",)
        missing = [m for m in needed if not callable(getattr(handler, m, None))]
        if missing:
            hint = "" if batch is not None else " (or give batch= to get the callbacks as JSON lines)"
            raise TypeError(f"the handler has no {', '.join(missing)} method{'s' if len(missing) > 1 else ''}{hint}")
        #: The batch sink, or None (per-callback mode). Fixed for the client's life.
        self.batch: Optional[BatchSink] = batch
        #: Where the batched log lines of a call go (None: logs are not batched, each line is
        #: a ``handler.log`` call made during the call). Fixed for the client's life.
        self.log_batch: Optional[LogBatchSink] = (
            (self._log_lines if batch_logs else None) if isinstance(batch_logs, bool) else batch_logs
        )
        self.max_message_bytes = _uint(max_message_bytes, "max_message_bytes", U64_MAX)
        self.log_level = _level(log_level)
        self.max_tombstones = DEFAULT_MAX_TOMBSTONES
        self.max_state_bytes = DEFAULT_MAX_STATE_BYTES
        self._linker = self._make_linker()
        self._store: Optional[wasmtime.Store] = None
        self._funcs: Optional[dict[str, Any]] = None
        self._ensure_instance()

    def _make_linker(self) -> Linker:
        h: Any = self.handler  # in batched mode only its log is ever called
        linker = Linker(self.runtime.engine)
        with linker.root() as root:
            with root.add_instance(LOGGING) as logging:
                _add_log_func(logging, h.log)
            with root.add_instance(HANDLER) as i:
                i.add_func(
                    "add-environment",
                    lambda _s, p: h.add_environment(EnvironmentParams.from_record(p)),
                )
                i.add_func(
                    "update-environment",
                    lambda _s, p: h.update_environment(EnvironmentParams.from_record(p)),
                )
                i.add_func("delete-environment", lambda _s, env_id: h.delete_environment(env_id))
                i.add_func("received-all-environments", lambda _s: h.received_all_environments())
                i.add_func("key-expired", lambda _s, env_id, key: h.key_expired(env_id, key))
        return linker

    def _ensure_instance(self) -> None:
        if self._funcs is not None:
            return
        limits = self.runtime.limits
        store = wasmtime.Store(self.runtime.engine)
        store.set_limits(memory_size=limits.max_memory_bytes, instances=4, tables=8, memories=2)
        if limits.metered:
            store.set_fuel(limits.fuel_for(0))
        try:
            instance = self._linker.instantiate(store, self.runtime.component)
        except wasmtime.WasmtimeError as e:
            raise IncompatibleComponent(f"cannot instantiate the component {self.runtime.path}: {e}") from e
        funcs: dict[str, Any] = {}
        wanted = [(CLIENT, "configure"), *((self._EXPORTS[0], n) for n in self._EXPORTS[1])]
        if self.batch is not None:
            wanted += [(BATCH, "set-enabled"), (BATCH, "take")]
        optional = {(self._EXPORTS[0], n) for n in self._OPTIONAL} | {(STATE, n) for n in self._STATE}
        if self.log_batch is not None:
            # (A component built before take-logs: its lines come through wasi:logging instead.)
            optional |= {(BATCH, "set-logs-batched"), (BATCH, "take-logs")}
        for interface, name in [*wanted, *sorted(optional)]:
            index = instance.get_export_index(store, interface)
            func_index = None if index is None else instance.get_export_index(store, name, index)
            f = None if func_index is None else instance.get_func(store, func_index)
            if f is None and (interface, name) in optional:
                continue  # an older build: the client does without it
            if f is None:
                raise self._missing(interface, name)
            funcs[name] = f
        try:
            funcs["configure"](
                store,
                _settings_record(
                    self.max_message_bytes, self.log_level, self.max_tombstones, self.max_state_bytes
                ),
            )
            if self.batch is not None:
                funcs["set-enabled"](store, True)
            if self.log_batch is not None and "take-logs" in funcs and "set-logs-batched" in funcs:
                funcs["set-logs-batched"](store, True)
            else:
                funcs.pop("take-logs", None)
        except Exception as e:
            raise Trap(f"the component trapped in configure: {e}") from e
        self._store = store
        self._funcs = funcs
        self._ftys: dict[str, tuple[Any, bool]] = {}

    def _call(self, name: str, data_len: int, *args: Any, bytes_first: bool = False, callbacks: bool = True) -> Any:
        """Calls an export; arguments must have been checked. Any failure inside is a trap. In
        batched mode, a call that may make callbacks (``callbacks``) is followed by ``take`` on
        the same instance; with batched logs, every call is followed by ``take-logs``. The log
        lines go to the log sink, then the callbacks to the batch sink, before the result is
        returned; after a trap (in the call, in a take or in a sink) the instance is dropped with
        whatever it had buffered, so nothing of the trapped call is delivered (but the panic
        message, which the component still sends to ``wasi:logging``, hence ``handler.log``)."""
        self._ensure_instance()
        store, funcs = self._store, self._funcs
        assert store is not None and funcs is not None
        fuel = self.runtime.limits.fuel_for(data_len)
        metered = self.runtime.limits.metered
        if metered:
            store.set_fuel(fuel)
        try:
            if bytes_first:
                fty, step_result = self._types(name)
                result = _call_bytes_first(funcs[name], store, *args, fty=fty, step_result=step_result)
            else:
                fty, lifted = self._types(name)
                result = _call_lifted(funcs[name], store, fty, args) if lifted else funcs[name](store, *args)
            logs = text = ""
            if self.log_batch is not None and "take-logs" in funcs:
                if metered:
                    store.set_fuel(fuel)
                logs = self._take("take-logs")
            if callbacks and self.batch is not None:
                if metered:
                    store.set_fuel(fuel)
                text = self._take("take")
            if logs:
                self.log_batch(logs)  # type: ignore[misc]
            if text:
                self.batch(text)  # type: ignore[misc]
            return result
        except Exception as e:  # a trap, running out of fuel or memory, or a handler's exception
            self._funcs = None
            self._store = None
            self._on_trap()
            # The state is gone: say so (reconcile at the next received_all_environments).
            reset = getattr(self.handler, "reset", None)
            if callable(reset):
                reset()
            self.handler.log(
                "error", f"the autoconfig component trapped and was restarted with empty state: {e}"
            )
            raise Trap(str(e)) from e

    def _take(self, name: str) -> str:
        """``batch.take`` or ``batch.take-logs`` on the current instance."""
        text = _call_lifted(self._funcs[name], self._store, self._types(name)[0], ())  # type: ignore[index, arg-type]
        if not isinstance(text, str):
            raise TypeError(f"batch.{name} returned {type(text).__name__}, not a str")
        return text

    def _log_lines(self, text: str) -> None:
        """``batch_logs=True``: each batched log line to ``handler.log``, in order."""
        log = self.handler.log
        for level, message in parse_logs(text):
            log(level, message)

    def _types(self, name: str) -> tuple[Any, bool]:
        """The type of the current instance's export ``name``, and whether ``_lift`` lifts its
        result (asked once per instance)."""
        got = self._ftys.get(name)
        if got is None:
            fty = self._funcs[name].type(self._store)  # type: ignore[index]
            got = self._ftys[name] = (fty, _is_step(fty.result))
        return got

    def _on_trap(self) -> None:
        pass

    def _missing(self, interface: str, name: str) -> IncompatibleComponent:
        return IncompatibleComponent(
            f"the component {self.runtime.path} exports no {interface}#{name} (an older build? rebuild it)"
        )

    def snapshot(self) -> bytes:
        """The whole state as bytes (the component's ``state.snapshot``): every live environment
        with all its fields (SDK and mobile keys included: keep it as secret as they are), the
        remembered deletions, the pending expiries and the stream's last event id, in a
        versioned format (``types/src/snapshot.rs``: a 24-byte header, then JSON). Give it to
        ``restore`` of a new client, even in another process or with a newer component.
        About 23 ms per 1,000 environments here (mostly wasmtime converting the bytes): call it
        after changes, not after every event of a large state.

        wasmtime-py returns at most ``MAX_SNAPSHOT_BYTES`` (2.8 MB, about 9,000 environments
        of 300 bytes): the size is asked first (``state.snapshot-size``), and a larger snapshot
        raises ``SnapshotTooLarge`` with nothing changed. (With a component built before
        ``snapshot-size`` a larger snapshot traps instead: ``Trap``, and wasmtime leaves the
        instance unusable, so the state is lost as after any trap.) Each of the two calls gets
        the budget of a call carrying ``MAX_SNAPSHOT_BYTES`` bytes, enough to serialise about
        200 MB of state (the default ``max_state_bytes`` is 192 MiB). ``IncompatibleComponent`` when the
        component has no ``state`` export."""
        self._require("snapshot")
        if "snapshot-size" in self._funcs:  # type: ignore[operator]
            size = self._call("snapshot-size", MAX_SNAPSHOT_BYTES, callbacks=False)
            if not isinstance(size, int):
                raise TypeError(f"state.snapshot-size returned {type(size).__name__}, not an int")
            if size > MAX_SNAPSHOT_BYTES:
                raise SnapshotTooLarge(
                    f"the snapshot would be {size:,} bytes, more than the {MAX_SNAPSHOT_BYTES:,} bytes "
                    "wasmtime-py can return from a call; nothing changed"
                )
        try:
            # bytes(): an empty list<u8> comes lifted as [] (the component never returns one).
            return bytes(self._call("snapshot", MAX_SNAPSHOT_BYTES, callbacks=False))
        except Trap as e:
            if "fuel allocated for hostcalls has been exhausted" not in str(e):
                raise
            raise Trap(
                f"the snapshot is larger than the {MAX_SNAPSHOT_BYTES:,} bytes wasmtime-py can return "
                f"from a call, and the instance was lost with it ({e})"
            ) from e

    def restore(self, data: BytesLike, announce: bool = False) -> Restored:
        """Replaces the whole state with a ``snapshot``'s (the component's ``state.restore``;
        the settings are kept) and says what it brought back. Everything is checked first: a
        snapshot that is truncated, corrupted, foreign, of a newer format version or
        inconsistent raises ``RestoreError`` with the component's message, and then the state
        is unchanged and no callback was made (the instance is kept). So is one larger than
        ``MAX_RESTORE_BYTES`` or whose header says it is not a snapshot or not this long, refused
        here before it is copied (a garbage file costs nothing).

        Silent by default: the proxy is expected to have these environments already (say it
        kept them too). ``announce=True``: ``add_environment`` for every live environment, by
        ascending env id, then ``received_all_environments`` (in batched mode, their lines in
        one batch), as a first ``put`` would. Either way the next ``put`` is diffed against the
        restored environments, and pending expiries fire at their time. With ``StreamClient``,
        restore before ``start``: a ``start`` whose options have no ``last_event_id`` then resumes
        from the snapshot's (a client already started keeps its own stream's event id).
        ``IncompatibleComponent`` when the component has no ``state`` export."""
        data = _bytes(data, "data")
        _bool(announce, "announce")
        self._require("restore")
        _check_snapshot_header(data)
        r = self._call("restore", len(data), data, announce, bytes_first=True, callbacks=announce)
        # wasmtime-py returns a result untagged: the ok record or the bare error string.
        if isinstance(r, str):
            raise RestoreError(r)
        restored = _from_record(Restored, r)
        self._on_restore(restored)
        return restored

    def _require(self, name: str) -> None:
        """Raises ``IncompatibleComponent`` when the current instance has no ``state`` function
        ``name``."""
        self._ensure_instance()
        if name not in self._funcs:  # type: ignore[operator]
            raise self._missing(STATE, name)

    def _on_restore(self, restored: Restored) -> None:
        pass

    def configure(
        self,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        log_level: str = "debug",
        max_tombstones: int = DEFAULT_MAX_TOMBSTONES,
        max_state_bytes: int = DEFAULT_MAX_STATE_BYTES,
    ) -> None:
        """Replaces the settings (kept across instance restarts). ``log_level`` (a
        ``wasi:logging`` level: "debug", "info", "warn", "error"...) is the least severe level
        the component sends to ``log``; ``max_tombstones`` and ``max_state_bytes`` bound the
        state (see the WIT ``settings``)."""
        max_message_bytes = _uint(max_message_bytes, "max_message_bytes", U64_MAX)
        log_level = _level(log_level)
        max_tombstones = _uint(max_tombstones, "max_tombstones", 0xFFFF_FFFF)
        max_state_bytes = _uint(max_state_bytes, "max_state_bytes", U64_MAX)
        self._call(
            "configure",
            0,
            _settings_record(max_message_bytes, log_level, max_tombstones, max_state_bytes),
            callbacks=False,
        )
        self.max_message_bytes = max_message_bytes
        self.log_level = log_level
        self.max_tombstones = max_tombstones
        self.max_state_bytes = max_state_bytes


class AutoconfigClient(_Instance):
    """One running instance of the component and its handler, driven event by event (the
    ``client`` export): the Python counterpart of the Rust ``Driver``. Data over
    ``max_message_bytes`` for put/patch/delete is rejected without being copied into the guest.
    If the guest traps, the call raises ``Trap`` and the next call starts a fresh instance (same
    handler and settings) with empty state: restart the stream.

    Batched mode (``batch=``, a function taking a ``str``; the same for ``StreamClient``): the
    component's ``batch`` export is switched on in every instance (a fresh one after a trap too),
    so ``handler`` gets no ``add_environment`` ... ``key_expired`` calls (only ``log`` and
    ``reset``). Instead, after every call that may make callbacks (``on_event``, ``tick``, every
    ``StreamClient`` call), ``batch`` is called once with all of that call's callbacks as JSON
    lines, in the same order, each ending with ``"\n"``: exactly what ``autoconfig-host`` prints
    (``JsonLinesHandler``'s lines), before the call returns its result; not at all when it made
    none. Write the text out as is, or ``parse_batch`` it into dicts. A batch is all or nothing:
    when the call traps, nothing of it is passed on (the instance and its buffer are dropped, and
    ``Trap`` is raised as usual). An exception raised by ``batch`` is a trap too, as for a
    handler's exception in per-callback mode (the state that was not delivered is dropped). It
    costs one string per call instead of one lifted record per environment: about 10x less time
    on a large ``put``. Needs a component with the ``batch`` export (``IncompatibleComponent``
    otherwise).

    Batched logs (``batch_logs=``, independent of ``batch=``; the same for ``StreamClient``): the
    component's log lines are not sent one ``wasi:logging`` call each during the call; after the
    call they are taken (``batch.take-logs``) and delivered, before the callbacks' batch and the
    result: with ``batch_logs=True`` each line to ``handler.log(level, message)``, in order;
    with a function (``LogBatchSink``), the whole text once per call that logged, one line per
    entry, ``LEVEL MESSAGE\\n`` (LEVEL ``debug``, ``info``, ``warn`` or ``error``; a line break
    inside a message is written as the two characters ``\\n``; ``parse_logs`` splits it). The
    lines of a call that traps are lost with it (the panic message still comes through
    ``handler.log`` as it happens, and so does the client's own "trapped" line). With a
    component built before ``take-logs``, the lines come through ``handler.log`` as they happen.
    A put of 10,000 environments logs 10,001 lines at info: 11,003 import calls became one."""

    _EXPORTS = (CLIENT, ("on-event", "tick"))

    def __init__(
        self,
        runtime: Runtime,
        handler: Union[Handler, Logger],
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        log_level: str = "debug",
        *,
        batch: Optional[BatchSink] = None,
        batch_logs: Union[bool, LogBatchSink] = False,
    ):
        self.next_deadline: Optional[int] = None
        super().__init__(runtime, handler, max_message_bytes, log_level, batch=batch, batch_logs=batch_logs)

    def _on_trap(self) -> None:
        self.next_deadline = None

    def _on_restore(self, restored: Restored) -> None:
        self.next_deadline = restored.next_deadline

    def on_event(self, name: str, data: str, now: int) -> Directive:
        """Feeds one SSE event at ``now`` (ms since the Unix epoch)."""
        _str(name, "name")
        _uint(now, "now", U64_MAX)
        size = len(_str(data, "data").encode("utf-8"))
        if name in _PARSED_EVENTS and size > self.max_message_bytes:
            # Not even copied into the guest: reject it here, as the guest would.
            self.handler.log(
                "error",
                f'Received streaming "{name}" event with malformed JSON data ({size} bytes, '
                f"over the limit of {self.max_message_bytes}); will restart stream",
            )
            return Directive(restart="malformed-data", next_deadline=self.next_deadline)
        r = self._call("on-event", size, name, data, now)
        d = Directive(restart=r.restart, next_deadline=getattr(r, "next-deadline"))
        self.next_deadline = d.next_deadline
        return d

    def tick(self, now: int) -> Optional[int]:
        """Fires every timer due at ``now``; returns the next deadline or None."""
        _uint(now, "now", U64_MAX)
        self.next_deadline = self._call("tick", 0, now)
        return self.next_deadline


class StreamClient(_Instance):
    """The whole auto-configuration client, sans-IO (the ``stream-client`` export). Call ``start``,
    then report what happens to each request it asks for: ``on_response``, ``on_body`` for each
    chunk as it arrives, ``on_closed``; call ``on_timeout`` when ``next_deadline`` passes. Each
    returns a ``Step``. Handler callbacks and logs arrive during these calls.

    If the guest traps, the call raises ``Trap`` and the instance and its state are gone (close
    the connection): call ``start`` again, with ``prior_failures`` raised so that a payload that
    crashes the component cannot cause a hot loop, and ``last_event_id`` set to the latest
    ``Step.last_event_id`` so that the stream resumes where it was.

    ``batch=``: the callbacks as JSON lines, one string per call; ``batch_logs=``: the log lines
    too (see ``AutoconfigClient``). ``body_text`` (default True): ``on_body`` passes UTF-8
    chunks to the component as text (``on-body-text``), which wasmtime-py copies at C speed,
    instead of a ``list<u8>`` it converts value by value; the component sees the same bytes
    (see ``on_body``)."""

    _EXPORTS = (STREAM, ("start", "on-response", "on-body", "on-closed", "on-timeout"))
    _OPTIONAL = ("on-body-text",)

    def __init__(
        self,
        runtime: Runtime,
        handler: Union[Handler, Logger],
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        log_level: str = "debug",
        *,
        batch: Optional[BatchSink] = None,
        batch_logs: Union[bool, LogBatchSink] = False,
        body_text: bool = True,
    ):
        _bool(body_text, "body_text")
        #: Body chunks go in as text (``on-body-text``) when they are UTF-8 and the component has
        #: it; False: always as bytes (``on-body``). The component sees the same bytes either way.
        self.body_text = body_text
        self._tail = b""  # the incomplete UTF-8 character the last chunk ended with, held back
        self._body_bytes = 0
        super().__init__(runtime, handler, max_message_bytes, log_level, batch=batch, batch_logs=batch_logs)

    def _on_trap(self) -> None:
        self._tail = b""

    def _after(self, step: Step) -> Step:
        if step.disconnect or step.stop is not None:
            # The component ended the connection and ignores the rest of its body: so are the
            # held-back bytes (in a byte-by-byte host they came after what ended it).
            self._tail = b""
        return step

    def _flush_tail(self, now: int) -> Optional[Step]:
        """Sends the held-back bytes of the open body (with ``on-body``: they are not UTF-8 on
        their own) before a call that ends or replaces the connection, so that the component
        sees exactly the bytes received. They hold no line end (only bytes 0x80-0xFF and one
        lead byte), so they complete no event, id or retry: the only step they can cause is the
        one that call gets anyway."""
        if not self._tail:
            return None
        tail, self._tail = self._tail, b""
        earlier = min(self._body_bytes, self.max_message_bytes)
        self._body_bytes += len(tail)
        return Step.from_record(self._call("on-body", len(tail) + earlier, tail, now, bytes_first=True))

    @staticmethod
    def _merge(first: Optional[Step], step: Step) -> Step:
        """``step``, keeping a last event id only ``first`` (the flush before it) reported."""
        if first is not None and step.last_event_id is None and first.last_event_id is not None:
            return dataclasses.replace(step, last_event_id=first.last_event_id)
        return step

    def start(self, options: StreamOptions, now: int) -> Step:
        """Starts (or restarts) with ``options``; raises ``InvalidOptions`` when the component
        refuses them (nothing changes then)."""
        if not isinstance(options, StreamOptions):
            raise TypeError(f"options must be a StreamOptions, not {type(options).__name__}")
        record = options.to_record()
        _uint(now, "now", U64_MAX)
        first = self._flush_tail(now)
        r = self._call("start", 0, record, now)
        # wasmtime-py returns a result untagged: the ok record or the bare error string.
        if isinstance(r, str):
            raise InvalidOptions(r)
        return self._after(self._merge(first, Step.from_record(r)))

    def on_response(self, status: int, content_type: Optional[str], location: Optional[str], now: int) -> Step:
        """The open request got its response: HTTP ``status``, ``Content-Type`` and ``Location``
        header values (None when absent). Do not follow redirects yourself."""
        _uint(status, "status", U16_MAX)
        _opt_str(content_type, "content_type")
        _opt_str(location, "location")
        _uint(now, "now", U64_MAX)
        first = self._flush_tail(now)  # (only when on_closed was skipped)
        self._body_bytes = 0
        step = Step.from_record(self._call("on-response", 0, status, content_type, location, now))
        return self._after(self._merge(first, step))

    def on_body(self, chunk: BytesLike, now: int) -> Step:
        """The next bytes of the open body (any size, split anywhere), as soon as they arrive.

        With ``body_text`` (the default), the chunk goes in as a string (``on-body-text``: about
        20x cheaper than a ``list<u8>`` on wasmtime-py) cut after its last whole UTF-8
        character; the incomplete character it may end with (at most 3 bytes) is held back and
        put in front of the next chunk, or sent as bytes before ``on_closed`` (or ``start``,
        ``on_response``), so the component sees exactly the bytes received. A chunk with bytes
        that are not UTF-8 goes in as bytes (``on-body``)."""
        chunk = _bytes(chunk, "chunk")
        _uint(now, "now", U64_MAX)
        data = self._tail + chunk if self._tail else chunk
        self._ensure_instance()
        text: Optional[str] = None
        if self.body_text and "on-body-text" in self._funcs:  # type: ignore[operator]
            text, tail = split_utf8(data)
            if text is not None:
                self._tail = tail
                data = data[: len(data) - len(tail)] if tail else data
            else:
                self._tail = b""
        else:
            self._tail = b""
        # The chunk may complete an event whose earlier bytes came in earlier chunks (up to
        # max-message-bytes of them): the fuel covers those too, as in the Rust driver.
        earlier = min(self._body_bytes, self.max_message_bytes)
        self._body_bytes += len(data)
        if text is not None:
            r = self._call("on-body-text", len(data) + earlier, text, now)
        else:
            r = self._call("on-body", len(data) + earlier, data, now, bytes_first=True)
        return self._after(Step.from_record(r))

    def on_closed(self, error: Optional[str], now: int) -> Step:
        """The open request ended: ``error`` is None for a clean end, or what failed. Bytes held
        back from the last chunk go in first (as bytes)."""
        _opt_str(error, "error")
        _uint(now, "now", U64_MAX)
        first = self._flush_tail(now)
        return self._after(self._merge(first, Step.from_record(self._call("on-closed", 0, error, now))))

    def on_timeout(self, now: int) -> Step:
        """The last step's ``next_deadline`` passed (calling early or late is harmless)."""
        _uint(now, "now", U64_MAX)
        return self._after(Step.from_record(self._call("on-timeout", 0, now)))


# ---- The JSON-lines form of callbacks (the same bytes autoconfig-host prints) ----


def _s(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def env_json(p: EnvironmentParams) -> str:
    """The ENV object of an add/update line: the WIT ``environment-params`` record with its field
    names in camelCase, in WIT order (``expiringSdkKey`` a ``{"key","expiresAt"}`` object or
    null), derived from the dataclass field by field."""
    return json.dumps(_json_form(p), ensure_ascii=False, separators=(",", ":"))


def add_line(p: EnvironmentParams) -> str:
    return f'{{"op":"add","env":{env_json(p)}}}'


def update_line(p: EnvironmentParams) -> str:
    return f'{{"op":"update","env":{env_json(p)}}}'


def delete_line(env_id: str) -> str:
    return f'{{"op":"delete","envId":{_s(env_id)}}}'


def ready_line() -> str:
    return '{"op":"ready"}'


def key_expired_line(env_id: str, old_key: str) -> str:
    return f'{{"op":"key-expired","envId":{_s(env_id)},"oldKey":{_s(old_key)}}}'


class JsonLinesHandler:
    """A handler that turns every callback into its JSON line and passes it to ``emit``."""

    def __init__(self, emit: Callable[[str], None], log: Callable[[str, str], None] = lambda l, m: None):
        self.emit = emit
        self._log = log

    def add_environment(self, params: EnvironmentParams) -> None:
        self.emit(add_line(params))

    def update_environment(self, params: EnvironmentParams) -> None:
        self.emit(update_line(params))

    def delete_environment(self, env_id: str) -> None:
        self.emit(delete_line(env_id))

    def received_all_environments(self) -> None:
        self.emit(ready_line())

    def key_expired(self, env_id: str, old_key: str) -> None:
        self.emit(key_expired_line(env_id, old_key))

    def reset(self) -> None:
        """The component's state was lost (it trapped): ``{"op":"reset"}``."""
        self.emit('{"op":"reset"}')

    def log(self, level: str, message: str) -> None:
        self._log(level, message)
