"""Smoke tests of the thin host on real sockets: an HTTP server on 127.0.0.1 (http.server in a
thread), ``python -m relay_autoconfig.host`` as a child process, its stdout checked line by line.
The stream policy itself is tested on the component (tests/streams); these check the I/O shell.
Every wait is bounded; every process is killed at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

HERE = Path(__file__).resolve().parent.parent
KEY = "rel-test-key-9876"
WAIT = 20.0  # generous bound for any single wait


def env(i: str, version: int) -> dict:
    return {"envId": i, "envKey": f"key-{i}", "envName": f"Name {i}", "projKey": "proj", "projName": "Project",
            "sdkKey": {"value": f"sdk-{i}"}, "mobKey": f"mob-{i}", "defaultTtl": 0, "secureMode": False,
            "version": version}


def line(op: str, i: str, version: int) -> str:
    e = {"envId": i, "envKey": f"key-{i}", "envName": f"Name {i}", "projectKey": "proj", "projectName": "Project",
         "sdkKey": f"sdk-{i}", "mobileKey": f"mob-{i}", "expiringSdkKey": None, "defaultTtlMinutes": 0,
         "secureMode": False, "version": version}
    return json.dumps({"op": op, "env": e}, separators=(",", ":"))


def put(*ids: str) -> str:
    data = {"path": "/", "data": {"environments": {i: env(i, 1) for i in ids}}}
    return f"event: put\ndata: {json.dumps(data)}\n\n"


class Server:
    """An HTTP server; ``script(n, handler)`` answers the n-th request (from 1)."""

    def __init__(self, script: Callable[[int, "BaseHTTPRequestHandler"], None]):
        self.requests: list[dict] = []
        self.stop = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                script(len(outer.requests), self)

            def sse(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()

            def status(self, code: int, **headers: str):
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def send(self, text: str):
                self.wfile.write(text.encode())
                self.wfile.flush()

            def hold(self):
                """Keeps the stream open (quiet) until the test ends."""
                outer.stop.wait(WAIT)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Host:
    def __init__(self, *args: str, key: str = KEY):
        self.out: list[str] = []
        self.err: list[str] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay_autoconfig.host", "--initial-retry-delay", "100ms",
             "--log-level", "debug", *args],
            cwd=HERE, env={**os.environ, "AUTO_CONFIG_KEY": key},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self._readers = [threading.Thread(target=self._read, args=(s, l), daemon=True)
                         for s, l in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._readers:
            t.start()

    def _read(self, stream, into: list[str]):
        for l in stream:
            with self.cond:
                into.append(l.rstrip("\n"))
                self.cond.notify_all()

    @property
    def stderr(self) -> str:
        with self.cond:
            return "\n".join(self.err)

    def wait_for(self, what: str, cond: Callable[[], bool]):
        with self.cond:
            if not self.cond.wait_for(cond, WAIT):
                raise AssertionError(f"timed out waiting for {what}; stdout: {self.out}\nstderr:\n" + "\n".join(self.err))

    def wait_lines(self, n: int):
        self.wait_for(f"{n} lines", lambda: len(self.out) >= n)

    def wait_exit(self) -> int:
        code = self.proc.wait(WAIT)
        for t in self._readers:
            t.join(WAIT)
        return code

    def signal(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.wait_exit()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)


@pytest.fixture
def harness():
    made: list = []

    def make(script, *args: str, **kw):
        srv = Server(script)
        host = Host("--stream-uri", srv.uri + "/", *args, **kw)
        made.append((srv, host))
        return srv, host

    yield make
    for srv, host in made:
        host.kill()
        srv.close()


def test_a_put_on_an_open_stream_is_delivered_at_once_and_sigterm_exits_0(harness):
    def script(n, h):
        h.sse()
        h.send(": hello\n\n")
        h.send(put("b", "a"))
        h.hold()  # the connection stays open: the lines must come without waiting for its end

    srv, host = harness(script)
    host.wait_lines(3)
    assert host.out == [line("add", "a", 1), line("add", "b", 1), '{"op":"ready"}']
    assert host.signal(signal.SIGTERM) == 0
    assert len(srv.requests) == 1
    r = srv.requests[0]
    assert r["path"] == "/relay_auto_config"
    assert r["headers"]["Authorization"] == KEY
    assert r["headers"]["Accept"] == "text/event-stream"
    assert r["headers"]["Cache-Control"] == "no-cache"
    assert r["headers"]["User-Agent"].startswith("relay-autoconfig-python/")
    assert "Last-Event-ID" not in r["headers"]
    assert KEY not in host.stderr
    assert "signal received" in host.stderr


def test_a_body_cut_inside_utf8_characters_and_a_stream_ending_inside_one(harness):
    """The body arrives in pieces cut inside multi-byte characters (the host sends whole
    characters as text and holds the rest back), then the stream ends in the middle of a
    character (the held-back bytes go in before on-closed; they must not reach the next
    connection). The component's log lines come out on stderr, one stamped line each."""
    data = {"path": "/", "data": {"environments": {"\u00e9": {**env("\u00e9", 1), "envName": "caf\u00e9 \u20ac \U0001f600"}}}}
    body = f"id: e-1\nevent: put\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
    cuts = [i for i in range(1, len(body)) if body[i] & 0xC0 == 0x80]  # inside a character
    assert len(cuts) >= 8

    def script(n, h):
        h.sse()
        if n == 1:
            last = 0
            for i in cuts:
                h.wfile.write(body[last:i])
                h.wfile.flush()
                last = i
            h.wfile.write(body[last:] + b": bye \xe2\x82")  # ends inside a euro sign
            h.wfile.flush()
            return
        h.wfile.write(b"\xac: a lone continuation byte first\n")  # bytes, not UTF-8
        h.send(put("b"))
        h.hold()

    srv, host = harness(script)
    host.wait_lines(5)
    first = json.loads(host.out[0])
    assert first["op"] == "add" and first["env"]["envName"] == "caf\u00e9 \u20ac \U0001f600"
    assert host.out[1:] == ['{"op":"ready"}', line("add", "b", 1), '{"op":"delete","envId":"\u00e9"}', '{"op":"ready"}']
    assert srv.requests[1]["headers"]["Last-Event-ID"] == "e-1"
    assert host.signal(signal.SIGTERM) == 0
    added = [l for l in host.err if "INFO  autoconfig: Added environment" in l]
    assert len(added) == 2 and all(l[:4].isdigit() and l[23] == "Z" for l in added), host.stderr


def test_401_at_the_first_connection_exits_1(harness):
    srv, host = harness(lambda n, h: h.status(401))
    assert host.wait_exit() == 1
    assert len(srv.requests) == 1
    assert host.out == []
    assert "Invalid auto-configuration key" in host.stderr


def test_a_same_origin_redirect_is_followed_with_the_key(harness):
    def script(n, h):
        if n == 1:
            h.status(307, Location="/moved?x=1")
        else:
            h.sse()
            h.send(put("a"))
            h.hold()

    srv, host = harness(script)
    host.wait_lines(2)
    assert host.out == [line("add", "a", 1), '{"op":"ready"}']
    assert [r["path"] for r in srv.requests] == ["/relay_auto_config", "/moved?x=1"]
    assert all(r["headers"]["Authorization"] == KEY for r in srv.requests)
    assert host.signal(signal.SIGINT) == 0


def test_a_cross_origin_redirect_is_not_followed(harness):
    other = Server(lambda n, h: h.status(500))
    try:
        def script(n, h):
            if n == 1:
                h.status(302, Location=other.uri + "/steal")
            else:
                h.sse()
                h.send(put())
                h.hold()

        srv, host = harness(script)
        host.wait_lines(1)  # the component backed off and reconnected to the first server
        assert host.out == ['{"op":"ready"}']
        assert other.requests == []
        assert [r["path"] for r in srv.requests] == ["/relay_auto_config", "/relay_auto_config"]
        assert host.signal(signal.SIGTERM) == 0
    finally:
        other.close()


def test_a_closed_stream_reconnects_with_last_event_id(harness):
    def script(n, h):
        h.sse()
        if n == 1:
            h.send("id: evt-1\n" + put("a"))  # then the connection ends
        else:
            h.send(put("a", "c"))
            h.hold()

    srv, host = harness(script)
    host.wait_lines(4)
    assert host.out == [line("add", "a", 1), '{"op":"ready"}', line("add", "c", 1), '{"op":"ready"}']
    assert srv.requests[1]["headers"]["Last-Event-ID"] == "evt-1"
    assert host.signal(signal.SIGTERM) == 0


def test_an_expiry_timer_fires_from_the_hosts_own_deadline(harness):
    def script(n, h):
        soon = int(time.time() * 1000) + 500  # the old key expires half a second after the put
        e = env("a", 1)
        e["sdkKey"] = {"value": "sdk-a", "expiring": {"value": "old-a", "timestamp": soon}}
        h.sse()
        h.send(f"event: put\ndata: {json.dumps({'path': '/', 'data': {'environments': {'a': e}}})}\n\n")
        h.hold()  # quiet: only the host's sleep until next_deadline and on_timeout can fire it

    srv, host = harness(script)
    host.wait_lines(3)
    expiring = json.loads(host.out[0])["env"]["expiringSdkKey"]
    assert expiring["key"] == "old-a" and isinstance(expiring["expiresAt"], int)
    assert host.out[1:] == ['{"op":"ready"}', '{"op":"key-expired","envId":"a","oldKey":"old-a"}']
    assert len(srv.requests) == 1
    assert host.signal(signal.SIGTERM) == 0


def test_after_a_trap_the_host_starts_a_fresh_component_that_resumes(runtime, capsys):
    """In process: writing out the second connection's batch raises (a trap for the component,
    as a raising callback would be); the host must close it and start a fresh component with
    prior_failures 1 and the last event id it was told, which then gets the environments back
    from a new put. Nothing of the failed batch is written."""
    from relay_autoconfig.component import StreamOptions
    from relay_autoconfig.host import Host as ShellHost

    def script(n, h):
        h.sse()
        if n == 1:
            h.send("id: evt-1\n" + put("a"))  # then this connection ends
        else:
            h.send(put("a", "c"))
            h.hold()

    srv = Server(script)
    lines: list[str] = []
    raised = []

    writes: list[str] = []

    def write(text: str):
        assert text.endswith("\n")
        if line("add", "c", 1) in text.split("\n") and not raised:
            raised.append(text)
            raise RuntimeError("the proxy failed")
        writes.append(text)
        lines.extend(text[:-1].split("\n"))
        if len(lines) == 6:
            os.kill(os.getpid(), signal.SIGTERM)  # deferred by the host until the call returns

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    watchdog = threading.Timer(WAIT, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        shell = ShellHost(runtime, StreamOptions(KEY, srv.uri, initial_retry_delay_ms=100, jitter_seed=7), "debug")
        shell.write = write  # what the host writes to stdout, one write per batch
        watchdog.start()
        assert shell.run() == 0
    finally:
        watchdog.cancel()
        for s, h in old.items():
            signal.signal(s, h)
        srv.close()
    assert raised == [line("add", "c", 1) + '\n{"op":"ready"}\n']
    # One write per batch: each put's lines together; the reset on its own.
    assert writes == [
        line("add", "a", 1) + '\n{"op":"ready"}\n',
        '{"op":"reset"}\n',
        line("add", "a", 1) + "\n" + line("add", "c", 1) + '\n{"op":"ready"}\n',
    ]
    # The state is lost and the proxy told so; the fresh component starts empty: a is added again.
    assert lines == [
        line("add", "a", 1),
        '{"op":"ready"}',
        '{"op":"reset"}',
        line("add", "a", 1),
        line("add", "c", 1),
        '{"op":"ready"}',
    ]
    assert shell.failures == 1
    assert len(srv.requests) == 3
    assert [r["headers"].get("Last-Event-ID") for r in srv.requests] == [None, "evt-1", "evt-1"]
    # prior_failures 1: the fresh component waits before connecting.
    err = capsys.readouterr().err
    assert "restarting the stream client on a fresh component (failure 1)" in err
    assert "autoconfig: Reconnecting in" in err.split("(failure 1)")[1]


@pytest.mark.parametrize("args, message", [
    (["--stream-uri", "ftp://example.test"], "stream-uri"),
    (["--read-timeout", "0s", "--stream-uri", "http://127.0.0.1:9"], "read-timeout"),
    (["--read-timeout", "soon"], "use a duration like 500ms"),
    (["--component", "/nonexistent/x.wasm"], "component not found"),
])
def test_bad_usage_exits_2_with_a_clear_message(args, message):
    host = Host(*args)
    try:
        assert host.wait_exit() == 2
        assert message in host.stderr
        assert host.out == []
    finally:
        host.kill()


def test_no_key_exits_2():
    host = Host("--stream-uri", "http://127.0.0.1:9", key="")
    try:
        assert host.wait_exit() == 2
        assert "no key" in host.stderr
    finally:
        host.kill()


def test_a_closed_stdout_is_exit_3_with_one_line_and_no_traceback():
    def script(n, h):
        h.sse()
        h.send(put("a", "b"))
        h.hold()

    srv = Server(script)
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay_autoconfig.host", "--stream-uri", srv.uri + "/"],
        cwd=HERE, env={**os.environ, "AUTO_CONFIG_KEY": KEY},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        proc.stdout.close()  # the reader went away before the first line
        _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 3, err
        assert "cannot write to stdout" in err
        assert "Traceback" not in err and "trapped" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        srv.close()
