"""StreamClient (the component's stream-client export) as a library: argument checks before the
guest, the untagged result of start, the fast list<u8> lowering, fuel and trap recovery."""

from __future__ import annotations

import ctypes
import json

import pytest

from relay_autoconfig import (
    AutoconfigClient,
    InvalidOptions,
    JsonLinesHandler,
    Limits,
    Request,
    Runtime,
    Step,
    StreamClient,
    StreamOptions,
    Trap,
    parse_batch,
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
        self.batches: list[str] = []
        super().__init__(self.lines.append, lambda lv, m: self.logs.append((lv, m)))

    def batch(self, text: str) -> None:
        """The batch sink: the batch as received, and its lines as per-callback mode has them."""
        assert text.endswith("\n")
        self.batches.append(text)
        self.lines.extend(text[:-1].split("\n"))


def connected(runtime, batched: bool = False) -> tuple[StreamClient, Recorder]:
    rec = Recorder()
    client = StreamClient(runtime, rec, batch=rec.batch if batched else None)
    assert client.start(OPTIONS, T0) == Step(False, Request(URL, HEADERS), None, T0 + 300_000)
    assert client.on_response(200, "text/event-stream", None, T0 + 1) == Step(False, None, None, T0 + 300_001)
    return client, rec


def test_the_component_exports_both_clients(runtime):
    assert sorted(runtime.exports()) == [
        "relay:autoconfig/batch@0.2.0",
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


@pytest.mark.parametrize("batched", [False, True], ids=["callbacks", "batched"])
@pytest.mark.parametrize("name, args, error, message", BAD_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)])
def test_a_wrong_argument_raises_and_leaves_the_state_intact(runtime, name, args, error, message, batched):
    client, rec = connected(runtime, batched)
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


@pytest.mark.parametrize("body_text", [True, False], ids=["text", "bytes"])
def test_a_big_chunk_and_chunks_of_any_size_as_text_or_bytes(runtime, body_text):
    """A 1 MiB chunk, an empty one and a put cut in two: the same events whether the body goes in
    as text (on-body-text) or as bytes (on-body, the fast list<u8> lowering)."""
    rec = Recorder()
    client = StreamClient(runtime, rec, body_text=body_text)
    client.start(OPTIONS, T0)
    client.on_response(200, "text/event-stream", None, T0 + 1)
    big = b": " + b"x" * (1 << 20) + b"\n" + put_event({"b": 1})
    client.on_body(put_event({"a": 1}), T0 + 2)
    client.on_body(big, T0 + 3)
    client.on_body(b"", T0 + 4)
    client.on_body(put_event({"a": 2})[:7], T0 + 5)
    client.on_body(put_event({"a": 2})[7:], T0 + 6)
    assert ops(rec.lines) == [("add", "a", 1), ("ready", None), ("add", "b", 1), ("delete", "a"), ("ready", None),
                              ("add", "a", 2), ("delete", "b"), ("ready", None)]


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


# ---- the batched form ----


def test_batched_each_call_delivers_its_callbacks_as_one_text_before_it_returns(runtime):
    per_callback, want = connected(runtime)
    client, rec = connected(runtime, batched=True)
    assert rec.batches == []  # start and on_response made no callbacks: nothing is delivered
    body = put_event({"b": 1, "a": 2}) + b": heartbeat\n\n" + put_event({"a": 3})
    for c in (per_callback, client):
        assert c.on_body(body, T0 + 2) == Step(False, None, None, T0 + 300_002)
    # Every callback of the call in one text, in order, each line as JsonLinesHandler writes it.
    assert rec.batches == ["".join(line + "\n" for line in want.lines)]
    assert ops(rec.lines) == [("add", "a", 2), ("add", "b", 1), ("ready", None), ("update", "a", 3),
                              ("delete", "b"), ("ready", None)]
    assert [o["op"] for o in parse_batch(rec.batches[0])] == ["add", "add", "ready", "update", "delete", "ready"]
    assert parse_batch(rec.batches[0])[0]["env"]["envId"] == "a"
    # Logging is unchanged: still one log call per line.
    assert any(lv == "info" and m.startswith("Added environment a") for lv, m in rec.logs)
    assert client.on_body(b": heartbeat\n\n", T0 + 3).next_deadline == T0 + 300_003
    assert len(rec.batches) == 1  # a call with no callbacks delivers nothing


def test_batched_the_batch_comes_before_the_result(runtime):
    client, rec = connected(runtime, batched=True)
    seen = []
    client.batch = lambda text: seen.append(("batch", text.count("\n")))  # replaced for this test
    seen.append(("step", client.on_body(put_event({"a": 1}), T0 + 2).next_deadline))
    assert seen == [("batch", 2), ("step", T0 + 300_002)]


def test_batched_on_event_and_tick_deliver_their_callbacks(runtime):
    batches = []
    client = AutoconfigClient(runtime, Recorder(), batch=batches.append)
    data = json.dumps({"path": "/", "data": {"environments": {"a": {
        "envId": "a", "version": 1, "sdkKey": {"value": "new", "expiring": {"value": "old", "timestamp": T0 + 10}}}}}})
    assert client.on_event("put", data, T0).next_deadline == T0 + 10
    assert [o["op"] for o in parse_batch(batches.pop())] == ["add", "ready"]
    assert client.tick(T0 + 5) == T0 + 10 and batches == []
    assert client.tick(T0 + 10) is None
    assert batches == ['{"op":"key-expired","envId":"a","oldKey":"old"}\n']


def test_the_batch_sink_must_be_callable_and_the_handler_complete(runtime):
    with pytest.raises(TypeError, match="batch must be a function"):
        StreamClient(runtime, Recorder(), batch="stdout")

    class Logs:
        def log(self, level, message):
            pass

    StreamClient(runtime, Logs(), batch=lambda text: None)  # batched: log is all it needs
    with pytest.raises(TypeError, match=r"no add_environment, .*key_expired methods \(or give batch="):
        StreamClient(runtime, Logs())
    with pytest.raises(TypeError, match="the handler has no log method$"):
        AutoconfigClient(runtime, object(), batch=lambda text: None)


def test_a_log_that_raises_is_a_trap_in_both_forms(runtime):
    for batched in (False, True):
        client, rec = connected(runtime, batched)
        raised = []

        def log(level, message):
            if message.startswith("Added environment") and not raised:
                raised.append(message)
                raise RuntimeError("stderr is gone")
            rec.logs.append((level, message))

        rec._log = log
        with pytest.raises(Trap, match="stderr is gone"):
            client.on_body(put_event({"a": 1}), T0 + 2)
        assert rec.lines == ['{"op":"reset"}'] and rec.batches == []


def _starved_put(runtime: Runtime, fuel: int, batched: bool, n: int = 40):
    """A connected client whose next call (a put of ``n``) gets ``fuel``: (trapped, recorder)."""
    runtime.limits = Limits()
    client, rec = connected(runtime, batched)
    runtime.limits = Limits(fuel_per_call=fuel, fuel_per_byte=0)
    try:
        client.on_body(put_event({f"e{i:03}": 1 for i in range(n)}), T0 + 2)
        trapped = False
    except Trap:
        trapped = True
    finally:
        runtime.limits = Limits()
    return client, rec, trapped


def test_batched_a_trap_mid_put_delivers_nothing_of_that_call():
    """The fuel budget is searched (deterministically: fuel is exact) for the largest one at
    which the put still traps: the trap then comes after the component has added environments
    (their logs came out), yet not one line of that call is delivered; with one more unit the
    whole put is delivered."""
    runtime = Runtime(component_path())
    lo, hi = 10_000, 2_000_000_000  # lo traps, hi does not (checked below)
    assert _starved_put(runtime, lo, True)[2] and not _starved_put(runtime, hi, True)[2]
    for _ in range(40):  # bisection: bounded, ~31 steps
        if hi - lo <= 1:
            break
        mid = (lo + hi) // 2
        if _starved_put(runtime, mid, True)[2]:
            lo = mid
        else:
            hi = mid
    assert hi - lo == 1
    client, rec, trapped = _starved_put(runtime, lo, True)
    assert trapped
    assert sum(m.startswith("Added environment") for _, m in rec.logs) == 40  # it got that far
    assert rec.batches == [] and rec.lines == ['{"op":"reset"}']  # and told nothing but the reset
    assert any(lv == "error" and "trapped" in m for lv, m in rec.logs)
    # The fresh instance is batched too: after a restart it delivers a whole put as one text.
    client.start(OPTIONS, T0 + 3)
    client.on_response(200, "text/event-stream", None, T0 + 4)
    client.on_body(put_event({"a": 1}), T0 + 5)
    assert rec.batches == ["".join(line + "\n" for line in rec.lines[1:])]
    assert ops(rec.lines[1:]) == [("add", "a", 1), ("ready", None)]
    _, rec, trapped = _starved_put(runtime, hi, True)
    assert not trapped and len(rec.batches) == 1 and ops(rec.lines)[-1] == ("ready", None)
    assert len(rec.lines) == 41


def test_batched_an_exception_in_the_sink_is_a_trap_and_the_next_instance_is_batched_again(runtime):
    client, rec = connected(runtime, batched=True)
    client.on_body(put_event({"a": 1}), T0 + 2)
    fail = [True]

    def sink(text):
        if fail[0]:
            raise RuntimeError("the proxy failed")
        rec.batch(text)

    client.batch = sink
    with pytest.raises(Trap, match="the proxy failed"):
        client.on_body(put_event({"a": 1, "b": 1}), T0 + 3)
    assert rec.lines[-1] == '{"op":"reset"}'
    fail[0] = False
    rec.lines.clear()
    client.start(OPTIONS, T0 + 4)
    client.on_response(200, "text/event-stream", None, T0 + 5)
    client.on_body(put_event({"a": 1, "b": 1}), T0 + 6)  # the state was lost: both added again
    assert ops(rec.lines) == [("add", "a", 1), ("add", "b", 1), ("ready", None)]
