"""The Python host end to end: a real SSE server on 127.0.0.1 (http.server in a thread), the host
as a child process, its stdout checked line by line."""

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

import pytest

HERE = Path(__file__).resolve().parent.parent
KEY = "rel-test-key-9876"


def env(i, version, **extra):
    e = {"envId": i, "envKey": f"key-{i}", "envName": f"Name {i}", "projKey": "proj", "projName": "Project",
         "sdkKey": {"value": f"sdk-{i}"}, "mobKey": f"mob-{i}", "defaultTtl": 0, "secureMode": False,
         "version": version}
    e.update(extra)
    return e


def line(op, i, version, **extra):
    e = {"envId": i, "envKey": f"key-{i}", "envName": f"Name {i}", "projKey": "proj", "projName": "Project",
         "sdkKey": f"sdk-{i}", "mobKey": f"mob-{i}", "expiringSdkKey": None, "expiresAt": None,
         "ttlMinutes": 0, "secureMode": False, "version": version}
    e.update(extra)
    return json.dumps({"op": op, "env": e}, separators=(",", ":"))


class Server:
    """An SSE server; ``script(n, handler)`` answers the n-th request (from 1)."""

    def __init__(self, script):
        self.requests = []
        self.stop = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                script(len(outer.requests), self, outer)

            def sse(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()

            def send(self, text: str):
                self.wfile.write(text.encode())
                self.wfile.flush()

            def hold(self):
                """Keeps the stream open (quiet) until the test ends."""
                outer.stop.wait(30)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Host:
    def __init__(self, uri: str):
        self.out: list[str] = []
        self.stderr = ""
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay_autoconfig.host", "--stream-uri", uri + "/",
             "--initial-retry-delay", "50ms", "--log-level", "debug"],
            cwd=HERE, env={**os.environ, "AUTO_CONFIG_KEY": KEY},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for l in self.proc.stdout:
            with self.cond:
                self.out.append(l.rstrip("\n"))
                self.cond.notify_all()

    def _read_err(self):
        for l in self.proc.stderr:
            self.stderr += l

    def wait_lines(self, n: int, timeout: float = 10.0):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.out) >= n, timeout):
                raise AssertionError(f"timed out waiting for {n} lines; got {self.out}\nstderr:\n{self.stderr}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        finally:
            self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def harness():
    made = []

    def make(script):
        srv = Server(script)
        host = Host(srv.uri)
        made.append((srv, host))
        return srv, host

    yield make
    for srv, host in made:
        host.kill()
        srv.close()


def test_put_patch_reconnect_fresh_put(harness):
    put1 = {"path": "/", "data": {"environments": {"a": env("a", 1), "b": env("b", 1)}}}
    patch = {"path": "/environments/a", "data": env("a", 2, envName="Renamed")}
    put2 = {"path": "/", "data": {"environments": {"a": env("a", 2, envName="Renamed"), "c": env("c", 1)}}}

    def script(n, h, srv):
        h.sse()
        if n == 1:
            # A BOM, a comment, CRLF line ends, an id, a multi-line data field split mid-line-end.
            h.send("\ufeff: hello\r\n\r\n")
            data = "".join(f"data: {l}\r\n" for l in json.dumps(put1, indent=1).split("\n"))
            block = f"event: put\r\nid: evt-1\r\n{data}\r\n"
            cut = block.index("\r\n", 40) + 1
            h.send(block[:cut])
            time.sleep(0.02)
            h.send(block[cut:])
            time.sleep(0.1)
            h.send(f"event: patch\ndata: {json.dumps(patch)}\n\n")
            h.send("event: reconnect\ndata: \n\n")
            h.hold()
        elif n == 2:
            h.send(f"event: put\rdata: {json.dumps(put2)}\r\r")
            h.hold()

    srv, host = harness(script)
    host.wait_lines(7)
    time.sleep(0.2)
    assert host.stop() == 0
    assert host.out == [
        line("add", "a", 1),
        line("add", "b", 1),
        '{"op":"ready"}',
        line("update", "a", 2, envName="Renamed"),
        line("add", "c", 1),
        '{"op":"delete","envId":"b"}',
        '{"op":"ready"}',
    ], host.stderr
    assert len(srv.requests) == 2
    for r in srv.requests:
        assert r["path"] == "/relay_auto_config"
        assert r["headers"]["Authorization"] == KEY
        assert r["headers"]["Accept"] == "text/event-stream"
        assert r["headers"]["Cache-Control"] == "no-cache"
        assert r["headers"]["User-Agent"].startswith("relay-autoconfig-python/")
    assert "Last-Event-ID" not in srv.requests[0]["headers"]
    assert srv.requests[1]["headers"]["Last-Event-ID"] == "evt-1"
    assert KEY not in host.stderr


def test_401_at_first_connection_exits_1(harness):
    def script(n, h, srv):
        h.send_response(401)
        h.send_header("Content-Length", "0")
        h.end_headers()

    srv, host = harness(script)
    assert host.proc.wait(10) == 1
    assert len(srv.requests) == 1
    assert host.out == []
    assert "invalid auto-configuration key" in host.stderr


def test_malformed_data_503_and_expiry_timer(harness):
    sent = {}

    def script(n, h, srv):
        if n == 1:
            h.sse()
            h.send('event: put\ndata: {"path": "/", "data": [not json\n\n')
            h.hold()
        elif n == 2:
            h.send_response(503)
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            # The old key expires 700 ms after the put is sent.
            sent["soon"] = soon = int(time.time() * 1000) + 700
            put = {"path": "/", "data": {"environments": {
                "a": env("a", 1, sdkKey={"value": "sdk-a", "expiring": {"value": "old-a", "timestamp": soon}})}}}
            h.sse()
            h.send(f"event: put\ndata: {json.dumps(put)}\n\n")
            h.hold()  # quiet: the expiry must come from the host's own timer

    srv, host = harness(script)
    host.wait_lines(3)
    assert host.stop() == 0
    assert len(srv.requests) == 3
    assert host.out == [
        line("add", "a", 1, expiringSdkKey="old-a", expiresAt=sent["soon"]),
        '{"op":"ready"}',
        '{"op":"key-expired","envId":"a","oldKey":"old-a"}',
    ]
    assert time.time() * 1000 >= sent["soon"]


def test_200_that_is_not_an_event_stream_is_retried(harness):
    def script(n, h, srv):
        if n == 1:
            body = b'event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n'
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        else:
            h.sse()
            h.send('event: put\ndata: {"path":"/","data":{"environments":{}}}\n\n')
            h.hold()

    srv, host = harness(script)
    host.wait_lines(1)
    assert host.out == ['{"op":"ready"}'], "only the event-stream response was read"
    assert len(srv.requests) == 2
    deadline = time.monotonic() + 5  # stderr is read by its own thread
    while "is not text/event-stream" not in host.stderr and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "is not text/event-stream" in host.stderr
    assert host.stop() == 0
