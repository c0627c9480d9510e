"""The relay-autoconfig component in Python, on PyPI ``wasmtime`` 50's native component API.

The very same ``.wasm`` the Rust host runs is loaded with ``wasmtime.component.Component``; the
two imports (``wasi:logging/logging`` and ``relay:autoconfig/handler``) are Python functions. The
component imports no WASI cli/io/clocks interfaces, so no ``add_wasip2()`` is needed.

Every call runs with a fuel budget (1e9 + 4,000 per byte of event data, as in the Rust host) and
the store has a memory limit (512 MiB), so a runaway guest traps instead of hanging the process.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Protocol

import wasmtime
from wasmtime.component import Component, Linker, Record

#: The default limit on event data (16 MiB), the same as the component's.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

#: The component built with the repository.
DEFAULT_COMPONENT = (
    Path(__file__).resolve().parents[3]
    / "target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm"
)

CLIENT = "relay:autoconfig/client@0.1.0"
HANDLER = "relay:autoconfig/handler@0.1.0"
LOGGING = "wasi:logging/logging@0.1.0-draft"

_PARSED_EVENTS = frozenset(("put", "patch", "delete"))


def component_path() -> Path:
    """``$AUTOCONFIG_COMPONENT`` or the component built with the repository."""
    return Path(os.environ.get("AUTOCONFIG_COMPONENT") or DEFAULT_COMPONENT)


@dataclass(frozen=True)
class Limits:
    """Resource limits of each instance (the Rust host's defaults)."""

    max_memory_bytes: int = 512 << 20
    fuel_per_call: int = 1_000_000_000
    fuel_per_byte: int = 4_000

    def fuel_for(self, data_len: int) -> int:
        return self.fuel_per_call + self.fuel_per_byte * data_len


class Runtime:
    """The engine and the compiled component: compile once, then create many clients."""

    def __init__(self, path: Optional[os.PathLike | str] = None, limits: Limits = Limits()):
        path = Path(path) if path is not None else component_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"component not found: {path} (build it with `cargo build -p autoconfig-host`, "
                "or set AUTOCONFIG_COMPONENT)"
            )
        config = wasmtime.Config()
        config.consume_fuel = True
        self.engine = wasmtime.Engine(config)
        self.component = Component.from_file(self.engine, str(path))
        self.limits = limits
        self.path = path

    def imports(self) -> list[str]:
        return list(self.component.type.imports(self.engine).keys())


class Handler(Protocol):
    """The proxy's side: called synchronously from inside ``on_event`` and ``tick``."""

    def add_environment(self, params: EnvironmentParams) -> None: ...
    def update_environment(self, params: EnvironmentParams) -> None: ...
    def delete_environment(self, env_id: str) -> None: ...
    def received_all_environments(self) -> None: ...
    def key_expired(self, env_id: str, old_key: str) -> None: ...
    def log(self, level: str, message: str) -> None: ...


@dataclass(frozen=True)
class ExpiringKey:
    key: str
    expires_at: Optional[int]


@dataclass(frozen=True)
class EnvironmentParams:
    env_id: str
    env_key: str
    env_name: str
    project_key: str
    project_name: str
    sdk_key: str
    mobile_key: str
    expiring_sdk_key: Optional[ExpiringKey]
    default_ttl_minutes: int
    secure_mode: bool
    version: int

    @staticmethod
    def from_record(r: Record) -> "EnvironmentParams":
        # Records arrive as wasmtime `Record` objects with the WIT (kebab-case) field names.
        x = getattr(r, "expiring-sdk-key")
        return EnvironmentParams(
            env_id=getattr(r, "env-id"),
            env_key=getattr(r, "env-key"),
            env_name=getattr(r, "env-name"),
            project_key=getattr(r, "project-key"),
            project_name=getattr(r, "project-name"),
            sdk_key=getattr(r, "sdk-key"),
            mobile_key=getattr(r, "mobile-key"),
            expiring_sdk_key=None
            if x is None
            else ExpiringKey(key=x.key, expires_at=getattr(x, "expires-at")),
            default_ttl_minutes=getattr(r, "default-ttl-minutes"),
            secure_mode=getattr(r, "secure-mode"),
            version=r.version,
        )


@dataclass(frozen=True)
class Directive:
    #: None, "reconnect-requested" or "malformed-data".
    restart: Optional[str]
    #: When ``tick`` is next needed (ms since the Unix epoch), or None.
    next_deadline: Optional[int]


class Trap(Exception):
    """The guest trapped (or a handler raised); the instance and its state are gone."""


def _settings_record(max_message_bytes: int, log_level: str) -> Record:
    r = Record()
    setattr(r, "max-message-bytes", max_message_bytes)
    setattr(r, "log-level", log_level)
    return r


class AutoconfigClient:
    """One running instance of the component and its handler: the Python counterpart of the Rust
    ``Driver``. Data over ``max_message_bytes`` for put/patch/delete is rejected without being
    copied into the guest. If the guest traps, the call raises ``Trap`` and the next call starts
    a fresh instance (same handler and settings) with empty state: restart the stream."""

    def __init__(
        self,
        runtime: Runtime,
        handler: Handler,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        log_level: str = "debug",
    ):
        self.runtime = runtime
        self.handler = handler
        self.max_message_bytes = max_message_bytes
        self.log_level = log_level
        self.next_deadline: Optional[int] = None
        self._linker = self._make_linker()
        self._store: Optional[wasmtime.Store] = None
        self._funcs = None
        self._ensure_instance()

    def _make_linker(self) -> Linker:
        h = self.handler
        linker = Linker(self.runtime.engine)
        with linker.root() as root:
            with root.add_instance(LOGGING) as logging:
                logging.add_func("log", lambda _s, level, _context, message: h.log(level, message))
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
        store.set_fuel(limits.fuel_for(0))
        try:
            instance = self._linker.instantiate(store, self.runtime.component)
            client = instance.get_export_index(store, CLIENT)

            def func(name: str):
                f = instance.get_func(store, instance.get_export_index(store, name, client))
                if f is None:
                    raise Trap(f"the component exports no {CLIENT}#{name}")
                return f

            funcs = (func("configure"), func("on-event"), func("tick"))
            funcs[0](store, _settings_record(self.max_message_bytes, self.log_level))
        except wasmtime.WasmtimeError as e:
            raise Trap(f"cannot instantiate the component: {e}") from e
        self._store = store
        self._funcs = funcs

    def _call(self, index: int, data_len: int, *args):
        self._ensure_instance()
        store = self._store
        assert store is not None and self._funcs is not None
        store.set_fuel(self.runtime.limits.fuel_for(data_len))
        try:
            return self._funcs[index](store, *args)
        except Exception as e:  # a trap, running out of fuel or memory, or a handler's exception
            self._funcs = None
            self._store = None
            self.next_deadline = None
            self.handler.log(
                "error", f"the autoconfig component trapped and was restarted with empty state: {e}"
            )
            raise Trap(str(e)) from e

    def configure(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, log_level: str = "debug") -> None:
        """Replaces the settings (kept across instance restarts). ``log_level`` ("debug",
        "info", "warn" or "error") is the least severe level the component sends to ``log``."""
        self.max_message_bytes = max_message_bytes
        self.log_level = log_level
        self._call(0, 0, _settings_record(max_message_bytes, log_level))

    def on_event(self, name: str, data: str, now: int) -> Directive:
        """Feeds one SSE event at ``now`` (ms since the Unix epoch)."""
        size = len(data.encode("utf-8"))
        if name in _PARSED_EVENTS and size > self.max_message_bytes:
            # Not even copied into the guest: reject it here, as the guest would.
            self.handler.log(
                "error",
                f'Received streaming "{name}" event with malformed JSON data ({size} bytes, '
                f"over the limit of {self.max_message_bytes}); will restart stream",
            )
            return Directive(restart="malformed-data", next_deadline=self.next_deadline)
        r = self._call(1, size, name, data, now)
        d = Directive(restart=r.restart, next_deadline=getattr(r, "next-deadline"))
        self.next_deadline = d.next_deadline
        return d

    def tick(self, now: int) -> Optional[int]:
        """Fires every timer due at ``now``; returns the next deadline or None."""
        self.next_deadline = self._call(2, 0, now)
        return self.next_deadline


# ---- The JSON-lines form of callbacks (the same bytes autoconfig-host prints) ----


def _s(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _n(value: Optional[int]) -> str:
    return "null" if value is None else str(value)


def env_json(p: EnvironmentParams) -> str:
    """The ENV object of an add/update line, keys in the documented order."""
    x = p.expiring_sdk_key
    return (
        f'{{"envId":{_s(p.env_id)},"envKey":{_s(p.env_key)},"envName":{_s(p.env_name)},'
        f'"projKey":{_s(p.project_key)},"projName":{_s(p.project_name)},"sdkKey":{_s(p.sdk_key)},'
        f'"mobKey":{_s(p.mobile_key)},"expiringSdkKey":{"null" if x is None else _s(x.key)},'
        f'"expiresAt":{"null" if x is None else _n(x.expires_at)},'
        f'"ttlMinutes":{p.default_ttl_minutes},"secureMode":{"true" if p.secure_mode else "false"},'
        f'"version":{p.version}}}'
    )


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

    def log(self, level: str, message: str) -> None:
        self._log(level, message)
