"""snapshot() and restore() (the component's state export) on both clients: a round trip restores
everything silently, announce reports it, a refused snapshot raises RestoreError and changes
nothing, wrong arguments raise TypeError, fuel budgets follow the size, and the limits of
wasmtime-py are met with clear errors."""

from __future__ import annotations

import json
import random
import struct
import zlib
from typing import Any, Callable, Optional

import pytest

from relay_autoconfig import (
    MAX_RESTORE_BYTES,
    MAX_SNAPSHOT_BYTES,
    AutoconfigClient,
    IncompatibleComponent,
    JsonLinesHandler,
    Limits,
    Restored,
    RestoreError,
    Runtime,
    SnapshotTooLarge,
    StreamClient,
    StreamOptions,
    Trap,
    parse_batch,
)
from relay_autoconfig import component
from relay_autoconfig.component import STATE, component_path

T0 = 1_796_000_000_000
EXPIRY = T0 + 60_000
MODES = pytest.mark.parametrize("batched", [False, True], ids=["callbacks", "batched"])


def env(env_id: str, version: int = 1, expiring: Optional[str] = None) -> dict[str, Any]:
    sdk: dict[str, Any] = {"value": f"sdk-{env_id}"}
    if expiring is not None:
        sdk["expiring"] = {"value": expiring, "timestamp": EXPIRY}
    return {"envId": env_id, "envKey": f"{env_id}-key", "envName": f"{env_id} name", "mobKey": f"mob-{env_id}",
            "projKey": "proj", "projName": "Project", "sdkKey": sdk, "defaultTtl": 2, "secureMode": True,
            "version": version}


def put(*envs: dict[str, Any]) -> str:
    return json.dumps({"path": "/", "data": {"environments": {e["envId"]: e for e in envs}}})


def patch(e: dict[str, Any]) -> str:
    return json.dumps({"path": f"/environments/{e['envId']}", "data": e})


def delete(env_id: str, version: int) -> str:
    return json.dumps({"path": f"/environments/{env_id}", "version": version})


def summary(line: str) -> str:
    o = json.loads(line)
    if o["op"] == "key-expired":
        return f"key-expired {o['envId']} {o['oldKey']}"
    env_id = o["env"]["envId"] if "env" in o else o.get("envId")
    return o["op"] if env_id is None else f"{o['op']} {env_id}"


class Recorder(JsonLinesHandler):
    """Every callback as its JSON line (batched or not), the logs, the resets, the batches."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.logs: list[tuple[str, str]] = []
        self.batches: list[str] = []
        self.resets = 0
        super().__init__(self.lines.append, lambda lv, m: self.logs.append((lv, m)))

    def batch(self, text: str) -> None:
        self.batches.append(text)
        self.lines.extend(line for line in text.split("\n") if line)

    def reset(self) -> None:
        self.resets += 1

    def ops(self) -> list[str]:
        return [summary(line) for line in self.lines]


def client(runtime: Runtime, batched: bool = False) -> tuple[AutoconfigClient, Recorder]:
    rec = Recorder()
    return AutoconfigClient(runtime, rec, batch=rec.batch if batched else None), rec


def filled(runtime: Runtime, batched: bool = False) -> tuple[AutoconfigClient, Recorder]:
    """A client with two live environments (b patched to version 2, c with an expiring key), a
    tombstone (a, deleted at version 2) and a pending expiry (c's old key, at EXPIRY)."""
    c, rec = client(runtime, batched)
    c.on_event("put", put(env("a"), env("b"), env("c", expiring="old-c")), T0)
    c.on_event("patch", patch(env("b", 2)), T0 + 1)
    c.on_event("delete", delete("a", 2), T0 + 2)
    assert rec.ops() == ["add a", "add b", "add c", "ready", "update b", "delete a"]
    rec.lines.clear()
    rec.batches.clear()
    return c, rec


# ---- the round trip ----


@MODES
def test_a_silent_restore_brings_back_every_environment_tombstone_and_expiry(runtime: Runtime, batched: bool) -> None:
    old, old_rec = filled(runtime, batched)
    data = old.snapshot()
    assert isinstance(data, bytes) and data.startswith(b"RACSNAP\n")

    new, rec = client(runtime, batched)
    restored = new.restore(data)
    assert restored == Restored(environments=2, tombstones=1, pending_expiries=1, next_deadline=EXPIRY,
                                last_event_id=None)
    assert rec.lines == [] and rec.batches == [] and rec.resets == 0  # silent
    assert new.next_deadline == EXPIRY
    assert new.snapshot() == data

    # The same events on both: the same callbacks, those of a client that never lost its state.
    def follow(c: AutoconfigClient, r: Recorder) -> list[list[str]]:
        out = []
        for event, data_, now in [
            ("put", put(env("a", 2), env("b", 2), env("c", expiring="old-c")), T0 + 3),  # nothing new
            ("patch", patch(env("a", 2)), T0 + 4),  # not above a's tombstone
            ("tick", None, EXPIRY),  # c's old key expires
            ("put", put(env("b", 2)), EXPIRY + 1),  # c is dropped, a's tombstone forgotten
            ("patch", patch(env("a", 1)), EXPIRY + 2),
        ]:
            r.lines.clear()
            if event == "tick":
                assert c.tick(now) is None
            else:
                assert c.on_event(event, data_, now).restart is None  # type: ignore[arg-type]
            out.append(r.ops())
        return out

    want = [["ready"], [], ["key-expired c old-c"], ["delete c", "ready"], ["add a"]]
    assert follow(new, rec) == want
    assert follow(old, old_rec) == want
    assert rec.resets == 0


def test_restore_replaces_the_state_it_had(runtime: Runtime) -> None:
    source, _ = filled(runtime)
    target, rec = client(runtime)
    target.on_event("put", put(env("x"), env("y")), T0)
    target.restore(source.snapshot())
    rec.lines.clear()
    target.on_event("put", put(env("b", 2), env("c", expiring="old-c"), env("x")), T0 + 5)
    assert rec.ops() == ["add x", "ready"]  # x and y were replaced; b and c were restored


@MODES
def test_announce_adds_every_environment_by_ascending_id_then_ready(runtime: Runtime, batched: bool) -> None:
    source, source_rec = client(runtime)
    envs = [env("c", expiring="old-c"), env("a"), env("b", 4)]
    source.on_event("put", put(*envs), T0)
    adds = sorted(line for line in source_rec.lines if '"op":"add"' in line)
    new, rec = client(runtime, batched)
    assert new.restore(source.snapshot(), announce=True).environments == 3
    # The very lines of the adds the put made (every field, the expiring key too), by env id.
    assert rec.lines == [*adds, '{"op":"ready"}']
    assert rec.ops() == ["add a", "add b", "add c", "ready"]
    if batched:
        assert rec.batches == ["".join(line + "\n" for line in rec.lines)]  # one batch for the call
        assert [c["op"] for c in parse_batch(rec.batches[0])] == ["add", "add", "add", "ready"]
    rec.lines.clear()
    new.on_event("put", put(*envs), T0 + 1)
    assert rec.ops() == ["ready"]


def test_restoring_an_empty_state(runtime: Runtime) -> None:
    empty, _ = client(runtime)
    new, rec = filled(runtime)
    assert new.restore(empty.snapshot(), announce=True) == Restored(0, 0, 0, None, None)
    assert rec.ops() == ["ready"] and new.next_deadline is None
    assert new.snapshot() == empty.snapshot()


def test_the_snapshot_is_lifted_as_wasmtime_py_would(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast list<u8> lifting (component._lift_bytes) gives the bytes wasmtime-py gives."""
    c, _ = filled(runtime)
    fast = c.snapshot()
    monkeypatch.setattr(component, "_is_step", lambda ty: False)
    slow_client, _ = filled(runtime)
    assert slow_client.snapshot() == fast


# ---- refused snapshots ----


def _with_header(payload: bytes, version: int = 1) -> bytes:
    return b"RACSNAP\n" + struct.pack("<IQI", version, len(payload), zlib.crc32(payload)) + payload


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes((data[i] ^ 0x01,)) + data[i + 1 :]


def _duplicate_env(data: bytes) -> bytes:
    state = json.loads(data[24:])
    state["environments"].append(state["environments"][0])
    return _with_header(json.dumps(state).encode())


CORRUPT = [
    ("empty", lambda d: b"", "truncated: 0 bytes of 24"),
    ("header-cut", lambda d: d[:20], "truncated: 20 bytes of 24"),
    ("truncated", lambda d: d[:-1], "truncated"),
    ("trailing-byte", lambda d: d + b"\n", "corrupt: bytes follow the payload"),
    ("flipped-payload-byte", lambda d: _flip(d, len(d) // 2), "corrupt: the checksum does not match"),
    ("flipped-checksum-byte", lambda d: _flip(d, 21), "corrupt: the checksum does not match"),
    ("random-bytes", lambda d: random.Random(7).randbytes(len(d)), "not a relay-autoconfig snapshot"),
    ("newer-version", lambda d: d[:8] + struct.pack("<I", 2) + d[12:],
     "format version 2; this component reads versions 1 to 1"),
    ("version-0", lambda d: d[:8] + struct.pack("<I", 0) + d[12:], "corrupt: format version 0"),
    ("not-json", lambda d: _with_header(b"{not json"), "invalid"),
    ("unknown-field", lambda d: _with_header(json.dumps({**json.loads(d[24:]), "x": 1}).encode()), "invalid"),
    ("duplicate-environment", _duplicate_env, "appears twice"),
]


@MODES
@pytest.mark.parametrize("make, message", [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_a_refused_snapshot_raises_restore_error_and_changes_nothing(
    runtime: Runtime, batched: bool, make: Callable[[bytes], bytes], message: str
) -> None:
    c, rec = filled(runtime, batched)
    before = c.snapshot()
    bad = make(before)
    assert bad != before
    with pytest.raises(RestoreError, match=message) as e:
        c.restore(bad, announce=True)
    assert not isinstance(e.value, Trap) and isinstance(e.value, ValueError)
    assert rec.lines == [] and rec.batches == []  # no callback
    assert rec.resets == 0 and not any("trapped" in m for _, m in rec.logs)  # the instance was kept
    assert c.next_deadline == EXPIRY
    # The same instance, the same state: the same snapshot, and the same put changes nothing.
    assert c.snapshot() == before
    c.on_event("put", put(env("b", 2), env("c", expiring="old-c")), T0 + 3)
    assert rec.ops() == ["ready"]


def test_a_refused_snapshot_on_the_stream_client_keeps_the_connection(runtime: Runtime) -> None:
    rec = Recorder()
    stream = StreamClient(runtime, rec)
    stream.start(StreamOptions("rel-key-0001", "http://stream.test", jitter_seed=1), T0)
    stream.on_response(200, "text/event-stream", None, T0 + 1)
    with pytest.raises(RestoreError, match="truncated"):
        stream.restore(b"RACSNAP\n")
    # Still connected: an event on the open stream is applied.
    stream.on_body(f"event: put\ndata: {put(env('a'))}\n\n".encode(), T0 + 2)
    assert rec.ops() == ["add a", "ready"] and rec.resets == 0


@pytest.mark.parametrize(
    "data, message",
    [
        (b"RACSNAP\n" + bytes(MAX_RESTORE_BYTES - 7), r"16,777,217 bytes, over the limit of 16,777,216"),
        (b"RACSNAP\n" + bytes(10 << 20), r"the snapshot is corrupt: format version 0"),
        (b"NOTSNAP\n" + bytes(10 << 20), r"not a relay-autoconfig snapshot"),
        (_with_header(b"{}")[:-1] + bytes(10 << 20), r"corrupt: bytes follow the payload"),
        (_with_header(b"{" * 100)[:60], r"the snapshot is truncated: 60 bytes of 124"),
    ],
    ids=["over the limit", "version 0", "foreign", "trailing bytes", "truncated"],
)
def test_what_the_header_refuses_is_refused_before_it_is_copied(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, data: bytes, message: str
) -> None:
    """wasmtime-py needs about 77 bytes of host memory per byte of a list<u8> argument: a
    garbage or oversized file must not get that far. The copy is made to fail here: a refusal
    that came from the component would be a Trap."""
    c, rec = client(runtime)
    c.on_event("put", put(env("a")), T0)

    def no_copy(*_: Any) -> None:
        raise AssertionError("copied into the component")

    monkeypatch.setattr(component, "_lower_bytes", no_copy)
    with pytest.raises(RestoreError, match=message):
        c.restore(data)
    assert rec.resets == 0
    monkeypatch.undo()
    rec.lines.clear()
    c.on_event("put", put(env("a")), T0 + 1)
    assert rec.ops() == ["ready"], "the state is unchanged"


def test_a_bytes_subclass_is_read_for_its_bytes() -> None:
    """A subclass that lies about its length must not reach the copy (where it would fail
    inside the call, a trap, and drop the state)."""
    rt = Runtime(component_path())
    source, _ = client(rt)
    source.on_event("put", put(env("a"), env("b")), T0)
    good = source.snapshot()

    class Lying(bytes):
        def __len__(self) -> int:
            return 5

    c, rec = client(rt)
    assert c.restore(Lying(good)).environments == 2
    assert rec.resets == 0


# ---- argument checks ----

BAD_ARGS = [
    (("RACSNAP\n",), {}, "data must be bytes, not str"),
    ((None,), {}, "data must be bytes, not NoneType"),
    (([82, 65],), {}, "data must be bytes, not list"),
    ((b"",), {"announce": 1}, "announce must be a bool, not int"),
    ((b"",), {"announce": "yes"}, "announce must be a bool, not str"),
    ((b"",), {"announce": None}, "announce must be a bool, not NoneType"),
]


@MODES
@pytest.mark.parametrize("args, kwargs, message", BAD_ARGS, ids=[str(i) for i in range(len(BAD_ARGS))])
def test_a_wrong_argument_raises_type_error_and_the_client_still_works(
    runtime: Runtime, batched: bool, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    c, rec = filled(runtime, batched)
    before = c.snapshot()
    with pytest.raises(TypeError) as e:
        c.restore(*args, **kwargs)
    assert str(e.value) == message
    assert rec.lines == [] and rec.resets == 0 and c.snapshot() == before
    c.on_event("put", put(env("b", 2)), T0 + 3)
    assert rec.ops() == ["delete c", "ready"]


def test_bytes_bytearray_and_memoryview_restore_the_same(runtime: Runtime) -> None:
    source, _ = filled(runtime)
    data = source.snapshot()
    for form in (data, bytearray(data), memoryview(data)):
        c, rec = client(runtime)
        assert c.restore(form).environments == 2
        assert c.snapshot() == data and rec.lines == []


# ---- the stream client ----


@MODES
def test_a_stream_clients_round_trip_keeps_the_last_event_id(runtime: Runtime, batched: bool) -> None:
    options = StreamOptions("rel-key-0001", "http://stream.test", jitter_seed=1)
    rec = Recorder()
    stream = StreamClient(runtime, rec, batch=rec.batch if batched else None)
    stream.start(options, T0)
    stream.on_response(200, "text/event-stream", None, T0 + 1)
    body = f"id: ev-7\nevent: put\ndata: {put(env('b'), env('a', expiring='old-a'))}\n\n".encode()
    assert stream.on_body(body, T0 + 2).last_event_id == "ev-7"
    data = stream.snapshot()

    rec2 = Recorder()
    new = StreamClient(runtime, rec2, batch=rec2.batch if batched else None)
    assert new.restore(data, announce=True) == Restored(2, 0, 1, EXPIRY, "ev-7")
    assert rec2.ops() == ["add a", "add b", "ready"]
    assert new.snapshot() == data
    # The next start without an id of its own resumes from the snapshot's.
    step = new.start(options, T0 + 3)
    assert step.connect is not None and ("Last-Event-ID", "ev-7") in step.connect.headers
    new.on_response(200, "text/event-stream", None, T0 + 4)
    rec2.lines.clear()
    new.on_body(body, T0 + 5)
    assert rec2.ops() == ["ready"]
    assert new.on_timeout(EXPIRY).next_deadline is not None
    assert rec2.ops() == ["ready", "key-expired a old-a"]


# ---- fuel, traps, limits ----


def test_restore_gets_fuel_by_the_size_of_the_snapshot_and_snapshot_by_the_largest_it_returns() -> None:
    envs = [env(f"e{i:04d}") for i in range(1000)]
    rt = Runtime(component_path(), Limits(fuel_per_call=5_000_000))
    source, _ = client(rt)
    source.on_event("put", put(*envs), T0)
    data = source.snapshot()  # 5e6 + 4,000 per byte of MAX_SNAPSHOT_BYTES
    c, rec = client(rt)
    assert c.restore(data).environments == 1000  # 5e6 + 4,000 per byte of the snapshot

    rt.limits = Limits(fuel_per_call=5_000_000, fuel_per_byte=0)  # the same calls on 5e6 alone
    with pytest.raises(Trap, match="all fuel consumed"):
        c.snapshot()
    assert rec.resets == 1
    with pytest.raises(Trap, match="all fuel consumed"):
        c.restore(data)
    assert rec.resets == 2


@MODES
def test_a_trap_during_restore_drops_the_instance_like_any_other(runtime: Runtime, batched: bool) -> None:
    source, _ = filled(runtime)
    data = source.snapshot()
    fail = [True]

    class Failing(Recorder):
        def add_environment(self, params: Any) -> None:
            if fail[0]:
                raise RuntimeError("boom")
            super().add_environment(params)

        def batch(self, text: str) -> None:
            if fail[0]:
                raise RuntimeError("boom")
            super().batch(text)

    rec = Failing()
    c = AutoconfigClient(runtime, rec, batch=rec.batch if batched else None)
    with pytest.raises(Trap, match="boom"):
        c.restore(data, announce=True)
    assert rec.resets == 1 and rec.lines == []
    assert any(lv == "error" and "trapped" in m for lv, m in rec.logs)
    fail[0] = False
    empty, _ = client(runtime)
    assert c.snapshot() == empty.snapshot()  # a fresh instance, empty
    assert c.restore(data, announce=True).environments == 2
    assert rec.ops() == ["add b", "add c", "ready"]


def test_a_snapshot_over_what_wasmtime_py_returns_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    """wasmtime lifts a list<u8> result into 48-byte values, 128 MiB of them per call at most:
    one byte more than MAX_SNAPSHOT_BYTES and the call would fail, losing the instance. The
    size is asked first (state.snapshot-size): the snapshot is refused, the state kept."""
    c, rec = client(runtime)
    fits = c.restore(_one_env_snapshot(MAX_SNAPSHOT_BYTES))
    assert fits.environments == 1
    assert len(c.snapshot()) == MAX_SNAPSHOT_BYTES
    c.restore(_one_env_snapshot(MAX_SNAPSHOT_BYTES + 1))
    with pytest.raises(
        SnapshotTooLarge, match=r"would be 2,796,203 bytes, more than the 2,796,202 bytes wasmtime-py can return"
    ):
        c.snapshot()
    assert rec.resets == 0, "the instance was kept"
    # The state is all there: a put without its one environment deletes it.
    c.on_event("put", put(env("a")), T0)
    assert rec.ops() == ["add a", "delete e", "ready"]


def test_a_snapshot_too_large_for_a_component_without_snapshot_size_is_a_trap_with_a_clear_message(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A component built before state.snapshot-size: the size cannot be asked, and a snapshot
    over MAX_SNAPSHOT_BYTES traps as wasmtime-py makes it (the instance, and so the state, lost)."""
    from wasmtime.component import Instance

    real = Instance.get_export_index

    def get_export_index(self: Instance, store: Any, name: str, *rest: Any) -> Any:
        return None if name == "snapshot-size" else real(self, store, name, *rest)

    monkeypatch.setattr(Instance, "get_export_index", get_export_index)
    c, rec = client(runtime)
    c.restore(_one_env_snapshot(MAX_SNAPSHOT_BYTES + 1))
    with pytest.raises(Trap, match=r"larger than the 2,796,202 bytes wasmtime-py can return"):
        c.snapshot()
    assert rec.resets == 1
    c.on_event("put", put(env("a")), T0)  # a fresh instance
    assert rec.ops() == ["add a", "ready"]


def test_snapshot_size_is_the_length_of_the_snapshot(runtime: Runtime) -> None:
    c, _ = client(runtime)
    c.on_event("put", put(env("a"), env("b", expiring="old-b")), T0)
    c.on_event("delete", delete("c", 3), T0)
    size = c._call("snapshot-size", 0, callbacks=False)
    assert size == len(c.snapshot()) > 24


def _one_env_snapshot(size: int) -> bytes:
    """A snapshot of exactly ``size`` bytes: one environment whose name fills it."""
    e = {"envId": "e", "envKey": "k", "envName": "", "projKey": "p", "projName": "P", "sdkKey": "s",
         "mobKey": "m", "expiring": None, "defaultTtl": 0, "secureMode": False, "version": 1, "timerPending": False}

    def build(name: str) -> bytes:
        state = {"environments": [{**e, "envName": name}], "tombstones": [], "lastEventId": None}
        return _with_header(json.dumps(state, separators=(",", ":")).encode())

    return build("x" * (size - len(build(""))))


def test_10000_environments_round_trip_on_the_metered_runtime(runtime: Runtime) -> None:
    """The default (fuel-metered) runtime and limits: 10,000 environments of about 250 bytes
    each (a 2.5 MB snapshot, under MAX_SNAPSHOT_BYTES) go out and back, and are announced."""
    assert runtime.limits == Limits()
    envs = []
    for i in range(10_000):
        e = env(f"env{i:05d}", expiring=f"old-{i:05d}" if i % 10 == 0 else None)
        e["sdkKey"]["value"] = f"sdk-00000000-0000-{i:012d}"
        envs.append(e)
    data = put(*envs)
    source, _ = client(runtime, batched=True)
    source.on_event("put", data, T0)
    snapshot = source.snapshot()
    assert 2_000_000 < len(snapshot) < MAX_SNAPSHOT_BYTES
    new, rec = client(runtime, batched=True)
    assert new.restore(snapshot, announce=True) == Restored(10_000, 0, 1_000, EXPIRY, None)
    assert len(rec.batches) == 1 and len(rec.lines) == 10_001 and rec.lines[-1] == '{"op":"ready"}'
    assert new.snapshot() == snapshot
    rec.lines.clear()
    new.on_event("put", data, T0 + 1)
    assert rec.ops() == ["ready"]


# ---- an older component ----


def test_a_component_without_the_state_export_raises_incompatible_component(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wasmtime.component import Instance

    real = Instance.get_export_index

    def get_export_index(self: Instance, store: Any, name: str, *rest: Any) -> Any:
        return None if name == STATE else real(self, store, name, *rest)

    monkeypatch.setattr(Instance, "get_export_index", get_export_index)
    c, rec = client(runtime)
    c.on_event("put", put(env("a")), T0)  # the client works without it
    assert rec.ops() == ["add a", "ready"]
    with pytest.raises(IncompatibleComponent, match="exports no relay:autoconfig/state@0.2.0#snapshot"):
        c.snapshot()
    with pytest.raises(IncompatibleComponent, match="exports no relay:autoconfig/state@0.2.0#restore"):
        c.restore(b"")
    stream = StreamClient(runtime, Recorder())
    with pytest.raises(IncompatibleComponent, match="state@0.2.0#snapshot"):
        stream.snapshot()
