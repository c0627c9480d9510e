"""Body chunks as text (stream-client.on-body-text) and batched log lines (batch.take-logs).

The body: the client cuts each chunk after its last whole UTF-8 character, holds back the
incomplete one for the next chunk (or sends it as bytes before on_closed), and sends chunks that
are not UTF-8 as bytes: the component must see exactly the bytes received, and the same events."""

from __future__ import annotations

import json

import pytest

from relay_autoconfig import JsonLinesHandler, Step, StreamClient, StreamOptions, Trap
from relay_autoconfig import component
from relay_autoconfig.component import parse_logs, split_utf8

T0 = 1_796_000_000_000
OPTIONS = StreamOptions("rel-key-0001", "http://stream.test", jitter_seed=1)

# 1-, 2-, 3- and 4-byte characters, a BOM, CRLF pairs.
TEXT = "\ufeff: h\u00e9\r\n\r\nid: \u20ac1\r\nevent: put\r\ndata: " + json.dumps(
    {"path": "/", "data": {"environments": {
        "\u00e9t\u00e9": {"envId": "\u00e9t\u00e9", "envName": "\U0001f600 caf\u00e9 \u4e2d", "version": 1},
        "b": {"envId": "b", "version": 1}}}}, ensure_ascii=False) + "\r\n\r\n"
BODY = TEXT.encode("utf-8")


# ---- the boundary logic alone ----


def test_split_utf8_at_every_cut_of_a_multibyte_text():
    assert len(BODY) > len(TEXT)  # multi-byte characters indeed
    for i in range(len(BODY) + 1):
        head, tail = split_utf8(BODY[:i])
        assert head is not None and len(tail) <= 3
        assert head.encode("utf-8") + tail == BODY[:i], i
        rest, tail2 = split_utf8(tail + BODY[i:])
        assert tail2 == b"" and head + rest == TEXT, i


@pytest.mark.parametrize("data", [b"\xff", b"ok\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x80b",
                                  b"\xe2\x82x", b"\xf5"])
def test_split_utf8_refuses_bytes_that_are_not_utf8(data):
    assert split_utf8(data) == (None, b"")


def test_split_utf8_holds_back_only_an_incomplete_last_character():
    assert split_utf8(b"") == ("", b"")
    assert split_utf8(b"a\xe2\x82") == ("a", b"\xe2\x82")
    assert split_utf8(b"\xf0\x9f\x98") == ("", b"\xf0\x9f\x98")
    assert split_utf8(b"\xf0\x9f\x98\x80") == ("\U0001f600", b"")


# ---- through the component ----


class Recorder(JsonLinesHandler):
    def __init__(self):
        self.lines: list[str] = []
        self.logs: list[tuple[str, str]] = []
        super().__init__(self.lines.append, lambda lv, m: self.logs.append((lv, m)))


def connect(client: StreamClient) -> None:
    """Starts `client` and opens its stream (200, text/event-stream) at T0 and T0 + 1."""
    client.start(OPTIONS, T0)
    client.on_response(200, "text/event-stream", None, T0 + 1)


def spied(runtime, **kw) -> tuple[StreamClient, Recorder, list[tuple[str, object]]]:
    """A connected client and the calls it makes into the component: (export, first argument)."""
    rec = Recorder()
    client = StreamClient(runtime, rec, **kw)
    seen: list[tuple[str, object]] = []
    real = client._call

    def call(name, data_len, *args, **kwargs):
        if name not in ("take", "take-logs"):
            seen.append((name, args[0] if args else None))
        return real(name, data_len, *args, **kwargs)

    client._call = call  # type: ignore[method-assign]
    connect(client)
    seen.clear()
    return client, rec, seen


def body_seen(seen) -> bytes:
    """The body bytes the component got, in order (text as its UTF-8)."""
    out = b""
    for name, arg in seen:
        if name == "on-body-text":
            assert isinstance(arg, str)
            out += arg.encode("utf-8")
        elif name == "on-body":
            out += bytes(arg)  # type: ignore[arg-type]
    return out


def test_every_cut_of_a_body_in_two_chunks_gives_the_same_bytes_and_events_as_text(runtime):
    whole, whole_rec, _ = spied(runtime, body_text=False)
    whole.on_body(BODY, T0 + 2)
    assert [json.loads(l)["op"] for l in whole_rec.lines] == ["add", "add", "ready"]
    for i in range(len(BODY) + 1):
        client, rec, seen = spied(runtime)
        s1 = client.on_body(BODY[:i], T0 + 2)
        s2 = client.on_body(BODY[i:], T0 + 3)
        assert [n for n, _ in seen] == ["on-body-text", "on-body-text"], i  # text only, never bytes
        assert body_seen(seen) == BODY, i
        assert rec.lines == whole_rec.lines, i
        assert (s1.last_event_id if s1.last_event_id is not None else s2.last_event_id) == "\u20ac1"


def test_byte_by_byte_every_character_goes_in_whole(runtime):
    client, rec, seen = spied(runtime)
    for i in range(len(BODY)):
        client.on_body(BODY[i : i + 1], T0 + 2)
    assert all(n == "on-body-text" for n, _ in seen)
    # Every character in one piece: one call per character, and one empty call per held byte.
    texts = [a for _, a in seen if a]
    assert "".join(texts) == TEXT and all(len(t) == 1 for t in texts)  # type: ignore[arg-type]
    assert len(seen) == len(BODY)  # a call per chunk all the same (the read timeout restarts)
    assert [json.loads(l)["op"] for l in rec.lines] == ["add", "add", "ready"]


def test_bytes_that_are_not_utf8_go_in_as_bytes_and_change_nothing_else(runtime):
    body = b"\xef\xbb\xbf: \xff\xfe junk\n: \xe2\x82\n" + BODY[3:]  # a bad comment (a heartbeat) first
    ref, ref_rec, _ = spied(runtime, body_text=False)
    ref.on_body(body, T0 + 2)
    client, rec, seen = spied(runtime)
    client.on_body(body[:9], T0 + 2)  # BOM ": \xff\xfe jun": not UTF-8 -> bytes
    client.on_body(body[9:15], T0 + 3)  # "k\n: \xe2\x82": text "k\n: ", the euro sign's start held
    client.on_body(body[15:], T0 + 4)  # "\n..." after the held bytes: not UTF-8 -> all bytes
    client.on_body(b"", T0 + 5)
    assert [n for n, _ in seen] == ["on-body", "on-body-text", "on-body", "on-body-text"]
    assert body_seen(seen) == body
    assert rec.lines == ref_rec.lines and len(rec.lines) == 3


def test_a_held_back_tail_goes_in_as_bytes_before_on_closed_and_never_into_the_next_connection(runtime):
    client, rec, seen = spied(runtime)
    client.on_body(b": ping\n\xe2\x82", T0 + 2)
    assert seen == [("on-body-text", ": ping\n")] and client._tail == b"\xe2\x82"
    step = client.on_closed(None, T0 + 3)
    assert seen[1:] == [("on-body", b"\xe2\x82"), ("on-closed", None)]
    assert client._tail == b"" and step.connect is None and step.next_deadline is not None
    # The next connection starts clean: its first bytes are not glued to the old tail.
    client.on_timeout(step.next_deadline)
    client.on_response(200, "text/event-stream", None, step.next_deadline + 1)
    seen.clear()
    client.on_body(b"\xac: x\n" + BODY[3:], step.next_deadline + 2)  # (the rest of the euro sign)
    assert seen[0][0] == "on-body"  # bytes: a lone continuation byte is not UTF-8
    assert body_seen(seen) == b"\xac: x\n" + BODY[3:]
    assert [json.loads(l)["op"] for l in rec.lines] == ["add", "add", "ready"]


def test_a_tail_is_flushed_before_a_restart_and_dropped_when_the_component_ends_the_connection(runtime):
    client, _, seen = spied(runtime)
    client.on_body(b": a\n\xf0\x9f", T0 + 2)
    client.start(OPTIONS, T0 + 3)
    assert [n for n, _ in seen] == ["on-body-text", "on-body", "start"] and seen[1][1] == b"\xf0\x9f"
    client.on_response(200, "text/event-stream", None, T0 + 4)
    seen.clear()
    # A reconnect event ends the connection: the component ignores the rest of that body, and
    # so is the held-back tail (a byte-by-byte host would have sent it after the end).
    step = client.on_body(b"event: reconnect\ndata: \n\n: rest \xe2", T0 + 5)
    assert step.disconnect and client._tail == b""
    client.on_closed(None, T0 + 6)
    assert [n for n, _ in seen] == ["on-body-text", "on-closed"]


def test_a_trap_drops_the_held_back_tail(runtime):
    client, rec, seen = spied(runtime)
    client.on_body(b": a\n\xe2", T0 + 2)
    fail = [True]

    def add(params):
        if fail[0]:
            raise RuntimeError("boom")

    rec.add_environment = add  # type: ignore[method-assign]
    with pytest.raises(Trap):
        client.on_body(b"\x82\xac\n" + BODY[3:], T0 + 3)
    assert client._tail == b""


def test_a_component_without_on_body_text_gets_bytes(runtime, monkeypatch):
    monkeypatch.setattr(StreamClient, "_OPTIONAL", ("on-body-text-of-the-future",))
    client, rec, seen = spied(runtime)
    client.on_body(BODY, T0 + 2)
    assert [n for n, _ in seen] == ["on-body"] and len(rec.lines) == 3


def test_body_text_must_be_a_bool(runtime):
    with pytest.raises(TypeError, match="body_text"):
        StreamClient(runtime, Recorder(), body_text="yes")  # type: ignore[arg-type]


# ---- batched logs ----


def put_body(n: int) -> bytes:
    envs = {f"e{i:03}": {"envId": f"e{i:03}", "version": 1} for i in range(n)}
    return f"event: put\ndata: {json.dumps({'path': '/', 'data': {'environments': envs}})}\n\n".encode()


def test_parse_logs():
    assert parse_logs("") == []
    assert parse_logs("info one\nwarn two\\nlines\nerror \n") == [("info", "one"), ("warn", "two\\nlines"), ("error", "")]
    with pytest.raises(ValueError, match="no level"):
        parse_logs("loud x\n")


@pytest.mark.parametrize("batched", [False, True], ids=["callbacks", "batched"])
def test_batched_logs_are_the_same_lines_after_the_call(runtime, batched):
    plain, plain_rec, _ = spied(runtime)
    plain_rec.logs.clear()
    plain.on_body(put_body(5), T0 + 2)
    during: list[int] = []
    rec = Recorder()
    rec.log = lambda lv, m: (during.append(len(rec.lines)), rec.logs.append((lv, m)))  # type: ignore[method-assign]
    client = StreamClient(runtime, rec, batch_logs=True, batch=(lambda t: rec.lines.extend(t.split("\n")[:-1]))
                          if batched else None)
    connect(client)
    rec.logs.clear(), during.clear()
    client.on_body(put_body(5), T0 + 2)
    assert rec.logs == plain_rec.logs and sum(m.startswith("Added environment") for _, m in rec.logs) == 5
    assert rec.lines == plain_rec.lines
    # The logs came after the call's callbacks (per-callback mode) or before its batch (batched).
    assert set(during) == ({0} if batched else {len(rec.lines)})


def test_a_log_sink_gets_one_text_per_call(runtime):
    texts: list[str] = []
    rec = Recorder()
    client = StreamClient(runtime, rec, batch_logs=texts.append, batch=lambda t: None)
    connect(client)
    texts.clear()
    client.on_body(put_body(3), T0 + 2)
    assert len(texts) == 1 and texts[0].endswith("\n")
    assert [l.split(" ", 1)[0] for l in texts[0].splitlines()].count("info") >= 3
    assert rec.logs == []  # nothing went through wasi:logging
    client.on_body(b": ping\n", T0 + 3)
    assert len(texts) in (1, 2)  # a heartbeat logs at debug (rate-limited) or nothing
    with pytest.raises(TypeError, match="batch_logs"):
        StreamClient(runtime, rec, batch_logs="stderr")  # type: ignore[arg-type]


def test_logs_come_before_the_batch_and_a_fresh_instance_batches_logs_again(runtime):
    texts: list[str] = []
    batches: list[str] = []
    fail = [True]

    def sink(text):
        if fail[0]:
            raise RuntimeError("sink")
        batches.append(text)

    rec = Recorder()
    client = StreamClient(runtime, rec, batch_logs=texts.append, batch=sink)
    connect(client)
    texts.clear()
    with pytest.raises(Trap, match="sink"):
        client.on_body(put_body(3), T0 + 2)
    # The logs are delivered before the batch: the sink's failure comes after them.
    assert len(texts) == 1 and any(lv == "error" and "trapped" in m for lv, m in rec.logs)
    fail[0] = False
    texts.clear()
    client.start(OPTIONS, T0 + 3)
    client.on_response(200, "text/event-stream", None, T0 + 4)
    client.on_body(put_body(3), T0 + 5)
    assert sum(m.startswith("Added environment") for _, m in parse_logs("".join(texts))) == 3
    assert len(batches) == 1 and len(rec.logs) == 1  # only the trap went to handler.log


def test_the_logs_of_a_call_that_traps_are_lost_with_it(runtime):
    """batch-logs: a call that traps in the guest (out of fuel here) leaves no log lines."""
    from relay_autoconfig import Limits, Runtime
    from relay_autoconfig.component import component_path

    rt = Runtime(component_path())
    texts: list[str] = []
    rec = Recorder()
    client = StreamClient(rt, rec, batch_logs=texts.append, batch=lambda t: None)
    connect(client)
    texts.clear()
    rt.limits = Limits(fuel_per_call=200_000, fuel_per_byte=0)
    with pytest.raises(Trap):
        client.on_body(put_body(200), T0 + 2)
    assert texts == [] and [lv for lv, _ in rec.logs][-1] == "error"


def test_a_step_is_a_step(runtime):
    client, _, _ = spied(runtime)
    assert isinstance(client.on_body(b"", T0 + 2), Step)


def test_a_component_without_take_logs_sends_its_lines_to_handler_log(runtime, monkeypatch):
    """An older build (no set-logs-batched / take-logs): batch_logs= falls back to live lines."""
    from wasmtime.component import Instance

    real = Instance.get_export_index

    def get_export_index(self, store, name, *rest):
        return None if name in ("take-logs", "on-body-text") else real(self, store, name, *rest)

    monkeypatch.setattr(Instance, "get_export_index", get_export_index)
    texts: list[str] = []
    rec = Recorder()
    client = StreamClient(runtime, rec, batch_logs=texts.append, batch=lambda t: None)
    connect(client)
    client.on_body(put_body(2), T0 + 2)
    assert texts == [] and sum(m.startswith("Added environment") for _, m in rec.logs) == 2
