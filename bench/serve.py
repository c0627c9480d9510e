#!/usr/bin/env python3
"""A loopback SSE server for the host benchmarks (bench/run.py), stdlib only.

    python3 bench/serve.py [--port 0] [--patch-delay 0.5] [--hold 900]

Give a client `--stream-uri http://127.0.0.1:PORT/KIND/N/RUN`; it then asks for
`/KIND/N/RUN/relay_auto_config` and gets `200 text/event-stream` (chunked), then:

- KIND `put`: one `put` event of N realistic environments (the format of
  `test-support/src/events.rs` `put_of(n)`: every field set, every tenth with an expiring SDK key);
- KIND `patches`: a `put` of 1 environment (`env000000`), then, once this server reads the line
  `go RUN` on its stdin (or `--patch-delay` seconds after the put when stdin is not a pipe or
  never says), N `patch` events, each adding a new environment (`env000001` ... `envN`, in the same
  format), in one burst;

and then keeps the connection open (at most `--hold` seconds, or until the client closes it, or
`close RUN` on stdin). RUN is any token naming the run.

It prints `{"port": P}` first, then one JSON line per fact the harness needs, with
`time.monotonic_ns()` timestamps (CLOCK_MONOTONIC, comparable across processes on Linux):
`{"run": RUN, "ev": "request"|"put-first-byte"|"put-sent"|"patch-first-byte"|"patch-sent"|"closed",
"t": NS}`. The data of each size is built once and cached. Only 127.0.0.1 is served.
"""

from __future__ import annotations

import argparse
import json
import select
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_out_lock = threading.Lock()


def emit(obj: dict) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def env_json(i: int) -> str:
    """Environment `i` in the wire format of `put_of` (test-support/src/events.rs)."""
    expiring = f',"expiring":{{"value":"sdk-old-{i:08}-aaaa","timestamp":1900000000000}}' if i % 10 == 0 else ""
    p = i // 20
    return (
        f'{{"envId":"env{i:06}","envKey":"key-{i}","envName":"Environment {i}","mobKey":"mob-{i:08}-bbbb",'
        f'"projKey":"proj-{p}","projName":"Project {p}","sdkKey":{{"value":"sdk-{i:08}-cccc"{expiring}}},'
        f'"defaultTtl":5,"secureMode":true,"version":{i % 7 + 1}}}'
    )


def put_of(n: int) -> str:
    """The data of a put of `n` environments, byte for byte `put_of(n)` of events.rs."""
    entries = ",".join(f'"env{i:06}":{env_json(i)}' for i in range(n))
    return f'{{"path":"/","data":{{"environments":{{{entries}}}}}}}'


def sse(name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n"


def check_stream() -> list[bytes]:
    """KIND `check`: a short scripted stream for comparing the baselines with the hosts (bench/run.py
    --check): a BOM, comments, CRLF / CR / LF line ends, multi-line data, non-ASCII names, puts that
    update, skip, forget and mismatch, patches and deletes around versions and tombstones, unknown
    events and paths; cut into chunks at awkward places (inside CRLF pairs and UTF-8 characters)."""

    def env(i: str, v: int, **extra) -> dict:
        e = {"envId": i, "envKey": f"{i}-key", "envName": f"{i} \u00e9t\u00e9 \U0001f600", "mobKey": f"mob-{i}",
             "projKey": "p", "projName": "Proj\u00e9", "sdkKey": {"value": f"sdk-{i}-{v}"}, "defaultTtl": 3,
             "secureMode": v % 2 == 0, "version": v}
        e.update(extra)
        return e

    def dumps(o: object) -> str:
        return json.dumps(o, ensure_ascii=False)

    never = {"value": "sdk-old-a", "timestamp": 0}
    past = {"value": "sdk-old-b", "timestamp": 1000}
    future = {"value": "sdk-old-c", "timestamp": 4102444800000}
    put1 = {"path": "/", "data": {"environments": {
        "b": env("b", 1, sdkKey={"value": "sdk-b", "expiring": past}),
        "a": env("a", 1, sdkKey={"value": "sdk-a", "expiring": never}),
        "c": env("c", 1, sdkKey={"value": "sdk-c", "expiring": future}),
        "d": env("d", 1, sdkKey={"value": "sdk-d", "expiring": {"value": "sdk-d", "timestamp": 4102444800000}}),
    }}}
    put2 = {"path": "/", "data": {"environments": {
        "a": env("a", 2),  # as patched: skipped
        "c": env("c", 3, sdkKey={"value": "sdk-c", "expiring": future}),  # update
        "e": env("e", 1),  # add
        "m": env("n", 1),  # mismatch: skipped
        "d": env("d", 1, sdkKey={"value": "sdk-d", "expiring": {"value": "sdk-d", "timestamp": 4102444800000}}),
    }}}

    def patch(i: str, v: int, path: str | None = None) -> str:
        return dumps({"path": path or f"/environments/{i}", "data": env(i, v)})

    def delete(i: str, v: int) -> str:
        return dumps({"path": f"/environments/{i}", "version": v})

    pretty = json.dumps(put1, ensure_ascii=False, indent=1).split("\n")  # multi-line data
    body = "\ufeff: hello\r\n\r\n"
    body += "event: put\r\n" + "".join(f"data: {l}\r\n" for l in pretty) + "\r\n"
    body += f"event: patch\rdata: {patch('a', 2)}\r\r"  # CR only: update
    body += f"event: patch\ndata:{patch('a', 1)}\n\n"  # out of order; no space after the colon
    body += f": heartbeat\nevent: delete\ndata: {delete('b', 5)}\n\n"  # delete
    body += f"event: patch\ndata: {patch('b', 4)}\n\n"  # below the tombstone
    body += f"event: patch\ndata: {patch('b', 6)}\n\n"  # above it: add
    body += f"event: delete\ndata: {delete('zz', 3)}\n\n"  # unknown: tombstone only
    body += f"event: patch\ndata: {patch('zz', 2)}\n\n"  # below it
    body += f"event: patch\ndata: {patch('zz', 4)}\n\n"  # add
    body += f"event: delete\ndata: {delete('zz', 4)}\n\n"  # not above: ignored
    body += f"event: patch\ndata: {patch('x', 1, '/other/x')}\n\n"  # unknown path
    body += f"event: patch\ndata: {patch('x', 1, '/environments/y')}\n\n"  # id mismatch
    body += "event: foo\ndata: {}\n\n"  # unknown event
    body += "data: no event name\n\n"
    body += "event: put\nid: 7\nretry: 5000\ndata: " + dumps(put2) + "\r\n\r\n"  # forgets b and zz
    body += f"event: delete\r\ndata: {delete('a', 9)}\r\n\r\n"
    body += "event: put\ndata: " + dumps(put2) + "\n\n"  # brings a back
    raw = body.encode()
    cuts = sorted({1, 2, 5, 17, 18, 19} | {i + 1 for i in range(len(raw)) if raw[i:i + 1] == b"\r"}
                  | {i + 1 for i in range(len(raw)) if raw[i] >= 0xC0} | set(range(0, len(raw), 97)))
    return [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)]) if a < b]


_cache: dict[tuple[str, int], bytes] = {}
_cache_lock = threading.Lock()


def payload(what: str, n: int) -> bytes:
    with _cache_lock:
        key = (what, n)
        if key not in _cache:
            if what == "put":
                _cache[key] = sse("put", put_of(n)).encode()
            else:  # "patches": N patches adding env000001 .. env{N}
                _cache[key] = "".join(
                    sse("patch", f'{{"path":"/environments/env{i:06}","data":{env_json(i)}}}') for i in range(1, n + 1)
                ).encode()
        return _cache[key]


class Runs:
    """The per-run signals read from stdin: `go RUN` and `close RUN`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[tuple[str, str], threading.Event] = {}
        self.stdin_open = False

    def event(self, what: str, run: str) -> threading.Event:
        with self.lock:
            return self.events.setdefault((what, run), threading.Event())

    def read_stdin(self) -> None:
        for line in sys.stdin:
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("go", "close"):
                self.event(parts[0], parts[1]).set()
        self.stdin_open = False

    def wait_go(self, run: str, delay: float, timeout: float) -> None:
        """Until `go RUN`: at most `timeout` s while stdin is open, else `delay` s."""
        go = self.event("go", run)
        end = time.monotonic() + timeout
        while not go.is_set() and time.monotonic() < end:
            if not self.stdin_open:
                go.wait(delay)
                return
            go.wait(0.05)


RUNS = Runs()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bench-sse"

    def log_message(self, *args) -> None:
        pass

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        t = time.monotonic_ns()
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 4 or parts[0] not in ("put", "patches", "check") or parts[3] != "relay_auto_config" or not parts[1].isdigit():
            self.send_error(404)
            return
        kind, n, run = parts[0], int(parts[1]), parts[2]
        emit({"run": run, "ev": "request", "t": t, "auth": bool(self.headers.get("Authorization"))})
        if kind == "check":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for piece in check_stream():
                    self.chunk(piece)
                    time.sleep(0.002)  # separate reads, most of the time
                emit({"run": run, "ev": "check-sent", "t": time.monotonic_ns()})
                self.hold(run)
            except OSError:
                pass
            self.close_connection = True
            return
        first = payload("put", n if kind == "put" else 1)
        rest = payload("patches", n) if kind == "patches" else b""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            emit({"run": run, "ev": "put-first-byte", "t": time.monotonic_ns()})
            self.chunk(first)
            emit({"run": run, "ev": "put-sent", "t": time.monotonic_ns()})
            if kind == "patches":
                RUNS.wait_go(run, self.server.patch_delay, self.server.go_timeout)
                emit({"run": run, "ev": "patch-first-byte", "t": time.monotonic_ns()})
                self.chunk(rest)
                emit({"run": run, "ev": "patch-sent", "t": time.monotonic_ns()})
            self.hold(run)
        except OSError:
            pass
        emit({"run": run, "ev": "closed", "t": time.monotonic_ns()})
        self.close_connection = True

    def hold(self, run: str) -> None:
        """Keeps the connection open until the client closes it, `close RUN`, or --hold."""
        closing = RUNS.event("close", run)
        end = time.monotonic() + self.server.hold
        sock = self.connection
        while not closing.is_set() and time.monotonic() < end:
            ready, _, _ = select.select([sock], [], [], 0.5)
            if ready:
                try:
                    if not sock.recv(65536):
                        return  # the client closed
                except OSError:
                    return


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--patch-delay", type=float, default=0.5, help="seconds between the put and the patches without `go`")
    p.add_argument("--go-timeout", type=float, default=60.0, help="longest wait for `go RUN` on a piped stdin")
    p.add_argument("--hold", type=float, default=900.0, help="longest time a connection is kept open")
    args = p.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    httpd.patch_delay = args.patch_delay
    httpd.go_timeout = args.go_timeout
    httpd.hold = args.hold
    if sys.stdin is not None and not sys.stdin.isatty():
        RUNS.stdin_open = True
        threading.Thread(target=RUNS.read_stdin, daemon=True).start()
    emit({"port": httpd.server_address[1]})
    try:
        httpd.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
