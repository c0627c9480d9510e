"""StreamClient (the component's stream-client export) as a library: argument checks before the
guest, the untagged result of start, the fast list<u8> lowering, fuel and trap recovery."""

from __future__ import annotations

import ctypes
import json

import pytest

from relay_autoconfig import (
    InvalidOptions,
    JsonLinesHandler,
    Limits,
    Request,
    Runtime,
    Step,
    StreamClient,
    StreamOptions,
    Trap,
)
from relay_autoconfig import component
from relay_autoconfig.component import component_path

T0 = 1_796_000_000_000
URL = "http://stream.test/relay_auto_config"
HEADERS = (("Authorization", "rel-key-0001"), ("Accept", "text/event-stream"), ("Cache-Control", "no-cache"))
OPTIONS = StreamOptions("rel-key-0001", "http://stream.test", jitter_seed=1)


def put_event(envs: dict[str, int]) -> bytes:
    data = {"path": "/", "data": {"environments": {i: {"envId": i, "version": v} for i, v in envs.items()}}}
    return f"event: put\ndata: {json.dumps(data)}\n\n".encode()


def ops(lines: list[str]) -> list[tuple]:
    out = []
    for l in lines:
        o = json.loads(l)
        out.append((o["op"], o["env"]["envId"], o["env"]["version"]) if "env" in o else (o["op"], o.get("envId")))
    return out


class Recorder(JsonLinesHandler):
    def __init__(self):
        self.lines: list[str] = []
        self.logs: list[tuple[str, str]] = []
        super().__init__(self.lines.append, lambda lv, m: self.logs.append((lv, m)))


def connected(runtime) -> tuple[StreamClient, Recorder]:
    rec = Recorder()
    client = StreamClient(runtime, rec)
    assert client.start(OPTIONS, T0) == Step(False, Request(URL, HEADERS), None, T0 + 300_000)
    assert client.on_response(200, "text/event-stream", None, T0 + 1) == Step(False, None, None, T0 + 300_001)
    return client, rec


def test_the_component_exports_both_clients(runtime):
    assert sorted(runtime.exports()) == [
        "relay:autoconfig/client@0.2.0",
        "relay:autoconfig/state@0.2.0",
        "relay:autoconfig/stream-client@0.2.0",
    ]


def test_start_returns_the_ok_record_or_raises_on_the_error_string(runtime):
    client = StreamClient(runtime, Recorder())
    with pytest.raises(InvalidOptions, match="key"):
        client.start(StreamOptions("", "http://stream.test", jitter_seed=1), T0)
    with pytest.raises(InvalidOptions, match="stream-uri"):
        client.start(StreamOptions("k", "ftp://stream.test", jitter_seed=1), T0)
    with pytest.raises(InvalidOptions, match="read-timeout"):
        client.start(StreamOptions("k", "http://stream.test", read_timeout_ms=0, jitter_seed=1), T0)
    assert client.start(OPTIONS, T0).connect == Request(URL, HEADERS)


def test_a_refused_start_changes_nothing(runtime):
    client, rec = connected(runtime)
    client.on_body(put_event({"a": 1, "b": 1}), T0 + 2)
    with pytest.raises(InvalidOptions):
        client.start(StreamOptions("", "http://stream.test", jitter_seed=1), T0 + 3)
    # The stream is still open, and the environments are still there.
    rec.lines.clear()
    client.on_body(put_event({"a": 2, "b": 1}), T0 + 4)
    assert ops(rec.lines) == [("update", "a", 2), ("ready", None)]


def test_the_default_jitter_seed_is_random():
    seeds = {StreamOptions("k").jitter_seed for _ in range(8)}
    assert len(seeds) > 1
    assert all(0 <= s < 1 << 64 for s in seeds)


BAD_CALLS = [
    ("on_body", (b"", 1.0), TypeError, "now must be an int"),
    ("on_body", (b"", "1796000000000"), TypeError, "now must be an int"),
    ("on_body", (b"", True), TypeError, "now must be an int"),
    ("on_body", (b"", -1), ValueError, "now must be between"),
    ("on_body", (b"", 1 << 64), ValueError, "now must be between"),
    ("on_body", ("event: put\n", T0), TypeError, "chunk must be bytes"),
    ("on_body", ([1, 2], T0), TypeError, "chunk must be bytes"),
    ("on_response", ("200", None, None, T0), TypeError, "status must be an int"),
    ("on_response", (200.0, None, None, T0), TypeError, "status must be an int"),
    ("on_response", (70000, None, None, T0), ValueError, "status must be between 0 and 65535"),
    ("on_response", (200, b"text/event-stream", None, T0), TypeError, "content_type must be a str"),
    ("on_response", (307, None, "/\udc80", T0), ValueError, "location is not valid Unicode"),
    ("on_closed", (5, T0), TypeError, "error must be a str"),
    ("on_timeout", (float(T0),), TypeError, "now must be an int"),
    ("start", ({"key": "k"}, T0), TypeError, "options must be a StreamOptions"),
    ("start", (StreamOptions("k", jitter_seed=-1), T0), ValueError, "options.jitter_seed"),
    ("start", (StreamOptions("k", jitter_seed=1, prior_failures=1 << 32), T0), ValueError, "options.prior_failures"),
    ("start", (StreamOptions(None, jitter_seed=1), T0), TypeError, "options.key must be a str"),
    ("start", (OPTIONS, 0.5), TypeError, "now must be an int"),
    ("configure", (-5,), ValueError, "max_message_bytes"),
    ("configure", (1024, "verbose"), ValueError, "log_level must be one of"),
]


@pytest.mark.parametrize("name, args, error, message", BAD_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)])
def test_a_wrong_argument_raises_and_leaves_the_state_intact(runtime, name, args, error, message):
    client, rec = connected(runtime)
    client.on_body(put_event({"a": 1, "b": 1}), T0 + 2)
    rec.lines.clear()
    with pytest.raises(error, match=message):
        getattr(client, name)(*args)
    assert not any(lv == "error" for lv, _ in rec.logs), rec.logs  # no trap was logged
    # Same instance, same open stream, same environments: only the real differences come out.
    step = client.on_body(put_event({"a": 1, "b": 2, "c": 1}), T0 + 5)
    assert ops(rec.lines) == [("update", "b", 2), ("add", "c", 1), ("ready", None)]
    assert step == Step(False, None, None, T0 + 300_005)


def test_steps_report_a_changed_last_event_id(runtime):
    client, _ = connected(runtime)
    assert client.on_body(b"id: e-1\n\n", T0 + 2).last_event_id == "e-1"
    assert client.on_body(b": heartbeat\n\n", T0 + 3).last_event_id is None  # unchanged
    assert client.on_body(b"id\n\n", T0 + 4).last_event_id == ""  # cleared


def test_bytes_bytearray_and_memoryview_are_the_same_chunk(runtime):
    body = put_event({"a": 1})
    for chunk in (bytearray(body), memoryview(body)):
        client, rec = connected(runtime)
        client.on_body(chunk, T0 + 2)
        assert ops(rec.lines) == [("add", "a", 1), ("ready", None)]


def test_the_fast_list_u8_lowering_matches_wasmtime_py(runtime):
    client = StreamClient(runtime, Recorder())
    list_type = client._funcs["on-body"].type(client._store).params[0][1]
    data = bytes(range(256)) * 3
    fast, slow = component._VAL(), component._VAL()
    component._lower_bytes(data, fast)
    list_type.convert_to_c(client._store, data, ctypes.pointer(slow))
    try:
        assert component._FAST_BYTES
        assert (fast.kind, fast.of.list.size) == (slow.kind, slow.of.list.size) == (slow.kind, len(data))
        for i in range(len(data)):
            f, s = fast.of.list.data[i], slow.of.list.data[i]
            assert (f.kind, f.of.u8) == (s.kind, s.of.u8) == (component._U8_KIND, data[i]), i
        assert list_type.convert_from_c(fast) == data  # and wasmtime-py reads it back (and frees it)
    finally:
        from wasmtime import _ffi as ffi
        ffi.wasmtime_component_val_delete(ctypes.byref(slow))


def test_body_split_anywhere_gives_the_same_events(runtime):
    body = b"\xef\xbb\xbf: hi\r\n\r\n" + put_event({"\u00e9t\u00e9": 1, "b": 1}).replace(b"\n", b"\r\n")
    whole, whole_rec = connected(runtime)
    client, rec = connected(runtime)
    whole.on_body(body, T0 + 2)
    for i in range(len(body)):
        client.on_body(body[i : i + 1], T0 + 2)
    assert rec.lines == whole_rec.lines
    assert ops(rec.lines) == [("add", "b", 1), ("add", "\u00e9t\u00e9", 1), ("ready", None)]


def test_a_trap_loses_the_instance_and_start_with_prior_failures_waits():
    fail = [True]

    class H(Recorder):
        def add_environment(self, params):
            if fail[0]:
                raise RuntimeError("boom")
            super().add_environment(params)

    rec = H()
    client = StreamClient(Runtime(component_path()), rec)
    client.start(OPTIONS, T0)
    client.on_response(200, "text/event-stream", None, T0 + 1)
    with pytest.raises(Trap, match="boom"):
        client.on_body(put_event({"a": 1}), T0 + 2)
    assert any(lv == "error" and "trapped" in m for lv, m in rec.logs)
    fail[0] = False
    # The fresh instance knows no request: a body is ignored, not applied.
    assert client.on_body(put_event({"a": 1}), T0 + 3) == Step(False, None, None, None)
    assert rec.lines == ['{"op":"reset"}'], "the lost state is reported, nothing else"

    step = client.start(StreamOptions("rel-key-0001", "http://stream.test", jitter_seed=1, prior_failures=1), T0 + 4)
    assert step.connect is None and step.next_deadline is not None and step.next_deadline > T0 + 4
    step = client.on_timeout(step.next_deadline)
    assert step.connect == Request(URL, HEADERS)


def test_running_out_of_fuel_traps_instead_of_hanging():
    starved = Runtime(component_path(), Limits(fuel_per_call=300_000, fuel_per_byte=0))
    rec = Recorder()
    client = StreamClient(starved, rec)
    client.start(OPTIONS, T0)
    client.on_response(200, "text/event-stream", None, T0 + 1)
    with pytest.raises(Trap, match="all fuel consumed"):
        client.on_body(put_event({f"e{i}": 1 for i in range(200)}), T0 + 2)
    assert '{"op":"ready"}' not in rec.lines
